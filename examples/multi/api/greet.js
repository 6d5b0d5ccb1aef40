export function greet(greeting) {
  return `${greeting ?? "hello"} from a module`;
}
