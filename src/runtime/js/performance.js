/*
 * performance.js - performance and navigator as Workers has them.
 *
 * QuickJS-ng ships its own performance.now() on a live clock, which would
 * let a tenant time its own code (and measure side channels). As in
 * Workers, time only moves between I/O events: performance.now() is
 * Date.now(), which the host freezes while JS runs, and timeOrigin is 0.
 */
class Performance {
  get timeOrigin() {
    return 0;
  }
  now() {
    return Date.now();
  }
  toJSON() {
    return { timeOrigin: 0 };
  }
  get [Symbol.toStringTag]() {
    return "Performance";
  }
}

class Navigator {
  get userAgent() {
    return "Isolde";
  }
  get hardwareConcurrency() {
    return 1;
  }
  get [Symbol.toStringTag]() {
    return "Navigator";
  }
}

for (const [name, value] of [
  ["performance", new Performance()],
  ["Performance", Performance],
  ["navigator", new Navigator()],
  ["Navigator", Navigator],
]) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
