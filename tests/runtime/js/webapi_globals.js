/*
 * webapi_globals.js - the Web API globals exist with web platforms'
 * property attributes, class names and toStringTags, and the host's
 * functions stay out of reach. Run by tests/runtime/test_webapi.c through
 * `isolde run`: one line per check and per group, "ok N" last; the first
 * failing check throws.
 */
import { check, group, done } from "./lib/assert.js";

const INTERFACES = [
  "DOMException",
  "TextEncoder",
  "TextDecoder",
  "Event",
  "EventTarget",
  "CustomEvent",
  "AbortController",
  "AbortSignal",
  "Crypto",
  "CryptoKey",
  "SubtleCrypto",
  "URL",
  "URLSearchParams",
  "Blob",
  "File",
  "FormData",
  "Headers",
];
const FUNCTIONS = ["atob", "btoa", "setTimeout", "setInterval", "clearTimeout", "clearInterval", "queueMicrotask", "structuredClone"];
const OBJECTS = ["console", "crypto", "scheduler"];

await group("installed like web platforms", () => {
  for (const name of [...INTERFACES, ...FUNCTIONS, ...OBJECTS]) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    check(d !== undefined, `${name} is a global`);
    check(d.writable && d.configurable && !d.enumerable, `${name} is writable, configurable, not enumerable`);
  }
  check(!Object.keys(globalThis).some((k) => INTERFACES.includes(k)), "no interface shows up in Object.keys(globalThis)");
});

await group("class names and toStringTag", () => {
  for (const name of INTERFACES) {
    const C = globalThis[name];
    check(typeof C === "function" && C.name === name, `${name}.name`);
    const tag = Object.getOwnPropertyDescriptor(C.prototype, Symbol.toStringTag);
    check(tag && tag.value === name && !tag.writable && tag.configurable, `${name}.prototype[Symbol.toStringTag]`);
  }
  for (const name of FUNCTIONS) check(typeof globalThis[name] === "function", `${name} is a function`);
  check(Object.prototype.toString.call(new Headers()) === "[object Headers]", "toString of a Headers object");
});

await group("host kept private", () => {
  check(typeof globalThis.__isolde_host === "undefined", "__isolde_host is gone");
  check(!Object.getOwnPropertyNames(globalThis).includes("__isolde_host"), "no __isolde_host property");
  for (const name of ["TextEncoder", "URL", "Headers", "setTimeout", "console"]) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    globalThis[name] = 1;
    check(globalThis[name] === 1, `${name} can be overwritten by the tenant`);
    Object.defineProperty(globalThis, name, d);
  }
  check(typeof new URL("http://a/").searchParams === "object", "globals restored");
});

done();
