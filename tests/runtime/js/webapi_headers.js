/*
 * webapi_headers.js - Headers (Fetch Standard, as Workers has it). Run by
 * tests/runtime/test_webapi.c through `isolde run`: one line per check and
 * per group, "ok N" last; the first failing check throws.
 */
import { check, eq, throws, group, done } from "./lib/assert.js";

const pairs = (h) => JSON.stringify([...h]);

await group("basics", () => {
  const h = new Headers();
  h.append("Content-Type", "text/plain");
  eq(h.get("content-type"), "text/plain", "case-insensitive get");
  eq(h.has("CONTENT-TYPE"), true, "case-insensitive has");
  eq(h.get("missing"), null, "missing is null");
  h.append("X-Multi", "a");
  h.append("x-multi", "b");
  eq(h.get("X-MULTI"), "a, b", "values combined with a comma and space");
  h.set("x-multi", "c");
  eq(h.get("x-multi"), "c", "set replaces every value");
  h.delete("X-Multi");
  eq(h.has("x-multi"), false, "delete");
  h.append("x-ws", " \t padded \r\n");
  eq(h.get("x-ws"), "padded", "leading and trailing HTTP whitespace stripped");
  h.append("x-empty", "");
  eq(h.get("x-empty"), "", "an empty value");
  h.set("x-inner", "a  b");
  eq(h.get("x-inner"), "a  b", "inner whitespace kept");
  eq(Object.prototype.toString.call(h), "[object Headers]", "toStringTag");
  eq(Headers.name, "Headers", "class name");
});

await group("iteration", () => {
  const h = new Headers([
    ["b", "2"],
    ["Set-Cookie", "s=1"],
    ["A", "1"],
    ["set-cookie", "t=2"],
    ["a", "3"],
  ]);
  eq(pairs(h), '[["a","1, 3"],["b","2"],["set-cookie","s=1"],["set-cookie","t=2"]]', "sorted, lower-cased, combined, Set-Cookie apart");
  eq([...h.keys()].join(), "a,b,set-cookie,set-cookie", "keys");
  eq([...h.values()].join("|"), "1, 3|2|s=1|t=2", "values");
  eq(JSON.stringify([...h.entries()]), pairs(h), "entries equals the default iterator");
  eq(h.get("set-cookie"), "s=1, t=2", "get joins Set-Cookie");
  eq(h.getSetCookie().join("|"), "s=1|t=2", "getSetCookie");
  eq(new Headers().getSetCookie().length, 0, "getSetCookie of nothing");
  const seen = [];
  h.forEach(function (value, name, obj) {
    seen.push(`${name}=${value}:${obj === h}:${this.tag}`);
  }, { tag: "T" });
  eq(seen.join(";"), "a=1, 3:true:T;b=2:true:T;set-cookie=s=1:true:T;set-cookie=t=2:true:T", "forEach with thisArg");
  const it = h.keys();
  eq(it.next().value, "a", "iterator first key");
  h.append("0first", "x");
  eq(it.next().value, "a", "iterator sees changes made while iterating (index based)");
  eq(Object.prototype.toString.call(it), "[object Headers Iterator]", "iterator toStringTag");
  check(typeof it[Symbol.iterator] === "function", "iterator is iterable");
});

await group("constructor", () => {
  eq(pairs(new Headers({ "X-A": "1", b: 2 })), '[["b","2"],["x-a","1"]]', "from a record");
  const src = new Headers({ a: "1" });
  src.append("set-cookie", "x=1");
  src.append("set-cookie", "y=2");
  const copy = new Headers(src);
  eq(copy.getSetCookie().length, 2, "from Headers keeps each Set-Cookie");
  copy.set("a", "2");
  eq(src.get("a"), "1", "the copy is independent");
  eq(pairs(new Headers(new Map([["m", "v"]]))), '[["m","v"]]', "from an iterable of pairs");
  throws(() => new Headers([["only-name"]]), TypeError, "a pair with one item");
  throws(() => new Headers([["a", "b", "c"]]), TypeError, "a pair with three items");
  throws(() => new Headers("a: b"), TypeError, "a string");
  throws(() => new Headers(null), TypeError, "null");
  eq(pairs(new Headers(undefined)), "[]", "undefined is empty");
});

await group("validation", () => {
  const h = new Headers();
  throws(() => h.append("bad name", "v"), TypeError, "a space in a name");
  throws(() => h.append("", "v"), TypeError, "an empty name");
  throws(() => h.append("x:y", "v"), TypeError, "a colon in a name");
  throws(() => h.append("é", "v"), TypeError, "a non-token name");
  throws(() => h.append("x", "a\nb"), TypeError, "a newline inside a value");
  throws(() => h.append("x", "a\0b"), TypeError, "a NUL in a value");
  throws(() => h.set("x", "€"), TypeError, "a value above U+00FF");
  throws(() => h.get("bad name"), TypeError, "get with an invalid name");
  throws(() => h.has("(x)"), TypeError, "has with an invalid name");
  throws(() => h.delete("a b"), TypeError, "delete with an invalid name");
  h.append("x-latin1", "café");
  eq(h.get("x-latin1"), "café", "Latin-1 values are fine");
  throws(() => h.append("x"), TypeError, "append with one argument");
});

await group("immutable guard", () => {
  const r = Response.error();
  throws(() => r.headers.set("a", "b"), TypeError, "set on Response.error() headers");
  throws(() => r.headers.append("a", "b"), TypeError, "append on immutable headers");
  throws(() => r.headers.delete("a"), TypeError, "delete on immutable headers");
  const redirect = Response.redirect("https://example.com/", 302);
  eq(redirect.headers.get("location"), "https://example.com/", "immutable headers can be read");
  const copy = new Headers(redirect.headers);
  copy.set("x", "y");
  eq(copy.get("x"), "y", "a copy of immutable headers is mutable");
  const req = new Request("https://example.com/", { headers: { a: "1" } });
  req.headers.set("b", "2");
  eq(req.headers.get("b"), "2", "a new Request's headers are mutable");
});

done();
