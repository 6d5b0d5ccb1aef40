let n = 0;
export function bump() {
  n++;
}
export function counter() {
  return n;
}
