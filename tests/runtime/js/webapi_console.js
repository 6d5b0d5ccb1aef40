/*
 * webapi_console.js - console formatting. It checks nothing itself:
 * tests/runtime/test_webapi.c compares what it prints, line for line,
 * with the output Node's util.format/util.inspect give for the same
 * calls (stack traces aside), stdout for log/info/debug and stderr for
 * warn/error.
 */
class Point {
  constructor() {
    this.x = 1;
    this.y = 2;
  }
}
const circular = { name: "loop" };
circular.self = circular;

console.log("plain", "strings", 42, -0, 10n, true, null, undefined);
console.log("%s is %d years and %i days, %f%%", "Bob", 42.5, 7.9, "1.5");
console.log("%o and %O", [1], { a: { b: 1 } });
console.log("%j", { json: [1, "two"] });
console.log("%s", "only", "extra", { k: 1 });
console.log("%c styled", "color: red");
console.log("100%", "literal %x");
console.log({ str: "it's", n: 1, nested: { deep: { deeper: { deepest: 1 } } }, arr: [1, "a", [2, [3, [4]]]] });
console.log([1, 2, 3], [], {}, [, 1, , ,], new Array(3));
console.log(new Map([["k", { v: 1 }]]), new Set([1, "x"]), new Map(), new Set());
console.log(new Point(), Object.create(null), Symbol("sym"), [Symbol.iterator]);
console.log(function named() {}, () => {}, class Klass {}, async function af() {});
console.log(new Uint8Array([1, 2, 3]), new ArrayBuffer(2), new Date(0), /re+/gi);
console.log(new Number(3), new String("boxed"), new Boolean(false));
console.log(circular);
console.log(Array.from({ length: 26 }, (_, i) => i * 3));
console.log(Array.from({ length: 120 }, () => 0).length, Array.from({ length: 101 }, (_, i) => i % 10).slice(95));
console.log({ "needs-quotes": 1, valid_id: 2, [Symbol("s")]: 3, get g() { return 1; } });
console.log(["a\nb", 'q"uote', "both'\""]);
console.log(new Headers({ b: "2", a: "1" }));
console.log(new URLSearchParams("a=1&b=2"));
console.log(new DOMException("m", "AbortError").name, String(new TypeError("t")));
console.log(new Blob(["ab"]), [AbortSignal.abort()]);
console.info("info line");
console.debug("debug line");
console.warn("warn line", { w: 1 });
console.error("error line");
console.assert(true, "not printed");
console.assert(false, "assert %s", "printed");
console.assert(false);
console.count();
console.count("c");
console.count();
console.countReset();
console.count();
console.countReset("missing");
console.group("group");
console.log("indented\nboth lines");
console.group();
console.log("twice");
console.groupEnd();
console.groupEnd();
console.log("back");
console.dir({ dir: [1, { deep: { deeper: { x: 1 } } }] }, { depth: 0 });
console.table([{ a: 1, b: "x" }, { a: 2 }]);
console.time("t");
console.timeEnd("t");
console.timeEnd("t");
const log = console.log;
log("detached console.log works");
console.log(Object.prototype.toString.call(console), typeof console.log);
