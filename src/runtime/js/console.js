/*
 * console.js - the console object, writing to the tenant's log through
 * host.log(level, text), and inspect(), a short-form port of Node's
 * util.inspect that formats what it prints.
 *
 * inspect follows Node's output so that logs read the same as in `wrangler
 * dev` and Node: strings quoted inside objects, depth 2, `[Circular *1]`
 * with a `<ref *1>` mark, Map/Set/typed-array prefixes, errors as their
 * stack, one line while it fits in 80 columns, and Node's grouping of
 * long arrays into columns. It does not do colors, showHidden, getters'
 * values, Proxy detection or Promise states (QuickJS exposes none of
 * these to JavaScript). An object may format itself through the
 * Symbol.for("nodejs.util.inspect.custom") method, as in Node.
 *
 * Time for time()/timeEnd() is Date.now(), which in Workers only advances
 * while I/O happens, exactly as it does there.
 */
import host from "./host.js";
import { defineGlobal } from "./domexception.js";

export const customInspect = Symbol.for("nodejs.util.inspect.custom");

const BREAK_LENGTH = 80;
const COMPACT = 3;
const MAX_ARRAY_LENGTH = 100;
const MAX_STRING_LENGTH = 10000;

const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag).get;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size").get;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size").get;
const regExpSource = Object.getOwnPropertyDescriptor(RegExp.prototype, "source").get;

function brand(getter, value) {
  try {
    getter.call(value);
    return true;
  } catch {
    return false;
  }
}

/* ---- primitives -------------------------------------------------------------------- */

const META = [];
for (let i = 0; i < 0x20; i++) META[i] = `\\x${i.toString(16).toUpperCase().padStart(2, "0")}`;
Object.assign(META, { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" });
META[0x7f] = "\\x7F";

/* A string quoted as Node quotes it: ' unless it holds one, then ", then `. */
function quote(str) {
  let q = "'";
  if (str.includes("'")) {
    if (!str.includes('"')) q = '"';
    else if (!str.includes("`") && !str.includes("${")) q = "`";
  }
  let out = "";
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) out += META[c];
    else if (c === 0x5c) out += "\\\\";
    else if (str[i] === q) out += `\\${q}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = str.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        out += str[i] + str[i + 1];
        i++;
      } else {
        out += `\\u${c.toString(16).toUpperCase()}`;
      }
    } else out += str[i];
  }
  return q + out + q;
}

function formatNumber(n) {
  return Object.is(n, -0) ? "-0" : `${n}`;
}

function formatPrimitive(value, ctx) {
  switch (typeof value) {
    case "string": {
      let trailer = "";
      if (value.length > MAX_STRING_LENGTH) {
        const remaining = value.length - MAX_STRING_LENGTH;
        value = value.slice(0, MAX_STRING_LENGTH);
        trailer = `... ${remaining} more character${remaining > 1 ? "s" : ""}`;
      }
      void ctx;
      return quote(value) + trailer;
    }
    case "number":
      return formatNumber(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    default:
      return String(value);
  }
}

/* ---- objects ----------------------------------------------------------------------- */

function constructorName(obj) {
  let o = obj;
  while (o !== null && o !== undefined) {
    const desc = Object.getOwnPropertyDescriptor(o, "constructor");
    if (desc && typeof desc.value === "function" && desc.value.name !== "") return desc.value.name;
    o = Object.getPrototypeOf(o);
  }
  return null;
}

function getPrefix(constructor, tag, fallback, size = "") {
  if (constructor === null) {
    if (tag !== "" && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
    return `[${fallback}${size}: null prototype] `;
  }
  if (tag !== "" && constructor !== tag) return `${constructor}${size} [${tag}] `;
  return `${constructor}${size} `;
}

const IDENT = /^[a-zA-Z_][a-zA-Z_0-9]*$/;

function formatKey(key) {
  if (typeof key === "symbol") return `[${key.toString()}]`;
  return IDENT.test(key) ? key : quote(key);
}

function formatProperty(ctx, obj, recurseTimes, key, isArrayItem) {
  const desc = Object.getOwnPropertyDescriptor(obj, key) ?? { value: obj[key], enumerable: true };
  let str;
  if (desc.value !== undefined || !("get" in desc || "set" in desc)) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, recurseTimes);
    ctx.indentationLvl -= 2;
  } else if (desc.get !== undefined) {
    str = desc.set !== undefined ? "[Getter/Setter]" : "[Getter]";
  } else {
    str = desc.set !== undefined ? "[Setter]" : "undefined";
  }
  if (isArrayItem) return str;
  return `${formatKey(key)}: ${str}`;
}

function functionBase(fn, constructor, tag) {
  let source = "";
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    // not a real function
  }
  if (source.startsWith("class") && /^class\b/.test(source)) {
    let base = `[class ${fn.name || "(anonymous)"}`;
    const superClass = Object.getPrototypeOf(fn);
    if (superClass && superClass.name) base += ` extends ${superClass.name}`;
    return base + "]";
  }
  let type = "Function";
  const t = fn[Symbol.toStringTag];
  if (t === "AsyncFunction" || t === "GeneratorFunction" || t === "AsyncGeneratorFunction") type = t;
  let base = `[${type}`;
  if (constructor === null) base += " (null prototype)";
  base += fn.name === "" ? " (anonymous)" : `: ${fn.name}`;
  base += "]";
  if (constructor !== type && constructor !== null && constructor !== "Function") base += ` ${constructor}`;
  if (tag !== "" && constructor !== tag && tag !== type) base += ` [${tag}]`;
  return base;
}

function errorName(err) {
  let name = "Error";
  let message = "";
  try {
    name = err.name === undefined ? "Error" : String(err.name);
    message = err.message === undefined ? "" : String(err.message);
  } catch {
    // a getter threw: keep the defaults
  }
  return message === "" ? name : `${name}: ${message}`;
}

function formatError(err, ctx) {
  const header = errorName(err);
  let stack = "";
  try {
    stack = typeof err.stack === "string" ? err.stack : "";
  } catch {
    stack = "";
  }
  stack = stack.replace(/\s+$/, "");
  let text;
  if (stack === "") text = `[${header}]`;
  else if (stack.startsWith(header) || /^\S/.test(stack)) text = stack; // V8-style stacks carry their own header
  else text = `${header}\n${stack}`;
  if (ctx.indentationLvl !== 0) {
    const indentation = " ".repeat(ctx.indentationLvl);
    text = text.replace(/\n/g, `\n${indentation}`);
  }
  return text;
}

function arrayBufferContents(buf) {
  const bytes = new Uint8Array(buf, 0, Math.min(50, buf.byteLength));
  let s = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  if (buf.byteLength > 50) s += ` ... ${buf.byteLength - 50} more byte${buf.byteLength - 50 > 1 ? "s" : ""}`;
  return `<${s}>`;
}

function formatArray(ctx, value, recurseTimes) {
  const len = value.length;
  const max = Math.min(MAX_ARRAY_LENGTH, len);
  const remaining = len - max;
  const output = [];
  for (let i = 0; i < max; i++) {
    if (!Object.hasOwn(value, i)) {
      let j = i;
      while (j < len && !Object.hasOwn(value, j)) j++;
      const holes = j - i;
      output.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
      i = j - 1;
      if (output.length >= max) break;
      continue;
    }
    output.push(formatProperty(ctx, value, recurseTimes, i, true));
  }
  if (remaining > 0) output.push(`... ${remaining} more item${remaining > 1 ? "s" : ""}`);
  return output;
}

function formatTypedArray(ctx, value, length) {
  const max = Math.min(MAX_ARRAY_LENGTH, length);
  const output = [];
  for (let i = 0; i < max; i++) {
    output.push(typeof value[i] === "bigint" ? `${value[i]}n` : formatNumber(value[i]));
  }
  if (length > max) output.push(`... ${length - max} more item${length - max > 1 ? "s" : ""}`);
  return output;
}

function formatSet(ctx, value, recurseTimes) {
  const output = [];
  ctx.indentationLvl += 2;
  for (const v of Set.prototype.values.call(value)) output.push(formatValue(ctx, v, recurseTimes));
  ctx.indentationLvl -= 2;
  return output;
}

function formatMap(ctx, value, recurseTimes) {
  const output = [];
  ctx.indentationLvl += 2;
  for (const [k, v] of Map.prototype.entries.call(value)) {
    output.push(`${formatValue(ctx, k, recurseTimes)} => ${formatValue(ctx, v, recurseTimes)}`);
  }
  ctx.indentationLvl -= 2;
  return output;
}

function boxedPrimitive(value) {
  const kinds = [
    [Number, "Number"],
    [String, "String"],
    [Boolean, "Boolean"],
    [BigInt, "BigInt"],
    [Symbol, "Symbol"],
  ];
  for (const [C, name] of kinds) {
    try {
      return [name, C.prototype.valueOf.call(value)];
    } catch {
      // not this kind
    }
  }
  return null;
}

function isError(value) {
  if (typeof Error.isError === "function") return Error.isError(value);
  return value instanceof Error;
}

function formatValue(ctx, value, recurseTimes, typedArray = false) {
  if (typeof value !== "object" && typeof value !== "function") return formatPrimitive(value, ctx);
  if (value === null) return "null";

  if (ctx.customInspect) {
    let fn;
    try {
      fn = value[customInspect];
    } catch {
      fn = undefined;
    }
    if (typeof fn === "function" && fn !== inspect) {
      const depth = ctx.depth === null ? null : ctx.depth - recurseTimes;
      const ret = fn.call(value, depth, { ...ctx.options, depth }, inspect);
      if (ret !== value) {
        if (typeof ret !== "string") return formatValue(ctx, ret, recurseTimes);
        return ret.replace(/\n/g, `\n${" ".repeat(ctx.indentationLvl)}`);
      }
    }
  }

  if (ctx.seen.includes(value)) {
    let index = 1;
    if (ctx.circular === undefined) {
      ctx.circular = new Map([[value, index]]);
    } else if (ctx.circular.has(value)) {
      index = ctx.circular.get(value);
    } else {
      index = ctx.circular.size + 1;
      ctx.circular.set(value, index);
    }
    return `[Circular *${index}]`;
  }
  return formatRaw(ctx, value, recurseTimes, typedArray);
}

function formatRaw(ctx, value, recurseTimes) {
  let keys = [];
  try {
    keys = Object.keys(value);
    for (const sym of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, sym)) keys.push(sym);
    }
  } catch {
    keys = [];
  }
  const constructor = constructorName(value);
  let tag = "";
  try {
    const t = value[Symbol.toStringTag];
    if (typeof t === "string" && t !== "") tag = t;
  } catch {
    tag = "";
  }
  if (tag !== "" && tag === constructor) tag = "";

  let base = "";
  let formatter = () => [];
  let braces;
  let isArrayLike = false;
  const noKeys = () => keys.length === 0;

  if (Array.isArray(value)) {
    const prefix = constructor !== "Array" || tag !== "" ? getPrefix(constructor, tag, "Array", `(${value.length})`) : "";
    keys = keys.filter((k) => typeof k === "symbol" || !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= 2 ** 32 - 1);
    braces = [`${prefix}[`, "]"];
    if (value.length === 0 && noKeys()) return `${braces[0]}]`;
    isArrayLike = true;
    formatter = formatArray;
  } else if (brand(setSize, value)) {
    const size = setSize.call(value);
    const prefix = getPrefix(constructor, tag, "Set", `(${size})`);
    formatter = formatSet;
    if (size === 0 && noKeys()) return `${prefix}{}`;
    braces = [`${prefix}{`, "}"];
  } else if (brand(mapSize, value)) {
    const size = mapSize.call(value);
    const prefix = getPrefix(constructor, tag, "Map", `(${size})`);
    formatter = formatMap;
    if (size === 0 && noKeys()) return `${prefix}{}`;
    braces = [`${prefix}{`, "}"];
  } else if (typedArrayTag.call(value) !== undefined) {
    const fallback = typedArrayTag.call(value);
    const length = value.length;
    keys = keys.filter((k) => typeof k === "symbol" || !/^(0|[1-9][0-9]*)$/.test(k));
    const prefix = getPrefix(constructor, tag === fallback ? "" : tag, fallback, `(${length})`);
    braces = [`${prefix}[`, "]"];
    if (length === 0 && noKeys()) return `${braces[0]}]`;
    isArrayLike = true;
    formatter = (c, v) => formatTypedArray(c, v, length);
  } else {
    braces = ["{", "}"];
    if (constructor === "Object" && typeof value !== "function" && !isError(value)) {
      if (tag !== "") braces[0] = `${getPrefix(constructor, tag, "Object")}{`;
      if (noKeys()) return `${braces[0]}}`;
    } else if (typeof value === "function") {
      base = functionBase(value, constructor, tag);
      keys = keys.filter((k) => k !== "prototype");
      if (noKeys()) return base;
    } else if (brand(regExpSource, value) && value !== RegExp.prototype) {
      base = RegExp.prototype.toString.call(value);
      const prefix = getPrefix(constructor, tag, "RegExp");
      if (prefix !== "RegExp ") base = `${prefix}${base}`;
      keys = keys.filter((k) => k !== "lastIndex");
      if (noKeys()) return base;
    } else if (brand(Date.prototype.getTime, value)) {
      const t = Date.prototype.getTime.call(value);
      base = Number.isNaN(t) ? "Invalid Date" : Date.prototype.toISOString.call(value);
      const prefix = getPrefix(constructor, tag, "Date");
      if (prefix !== "Date ") base = `${prefix}${base}`;
      if (noKeys()) return base;
    } else if (isError(value)) {
      base = formatError(value, ctx);
      keys = keys.filter((k) => k !== "stack" && k !== "message");
      if (noKeys()) return base;
    } else if (brand(arrayBufferByteLength, value)) {
      const prefix = getPrefix(constructor, tag, "ArrayBuffer");
      const contents = value.detached ? "(detached)" : arrayBufferContents(value);
      const inner = [`[Uint8Contents]: ${contents}`, `byteLength: ${value.byteLength}`];
      for (const k of keys) inner.push(formatProperty(ctx, value, recurseTimes + 1, k, false));
      return reduceToSingleString(ctx, inner, "", [`${prefix}{`, "}"], false, recurseTimes + 1, value);
    } else {
      const boxed = boxedPrimitive(value);
      if (boxed) {
        const [type, prim] = boxed;
        base = `[${type}`;
        if (type !== constructor) base += constructor === null ? " (null prototype)" : ` (${constructor})`;
        base += `: ${formatPrimitive(prim, ctx)}]`;
        if (tag !== "" && tag !== constructor) base += ` [${tag}]`;
        if (type === "String") keys = keys.filter((k) => typeof k === "symbol" || !/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= prim.length);
        if (noKeys()) return base;
      } else if (value instanceof Promise) {
        braces[0] = `${getPrefix(constructor, tag, "Promise")}{`;
        if (noKeys()) return `${braces[0]}}`;
      } else if (value instanceof WeakMap || value instanceof WeakSet) {
        const fallback = value instanceof WeakMap ? "WeakMap" : "WeakSet";
        return `${getPrefix(constructor, tag, fallback)}{ <items unknown> }`;
      } else {
        braces[0] = `${getPrefix(constructor, tag, "Object")}{`;
        if (noKeys()) return `${braces[0]}}`;
      }
    }
  }

  if (ctx.depth !== null && recurseTimes > ctx.depth) {
    let name = constructor ?? "Object";
    if (isArrayLike && Array.isArray(value)) name = "Array";
    else if (constructor === null) name = "Object: null prototype";
    return `[${name}]`;
  }
  recurseTimes += 1;
  ctx.seen.push(value);
  ctx.currentDepth = recurseTimes;
  let output;
  try {
    output = formatter(ctx, value, recurseTimes);
    for (const key of keys) output.push(formatProperty(ctx, value, recurseTimes, key, false));
  } finally {
    ctx.seen.pop();
  }
  if (ctx.circular !== undefined) {
    const index = ctx.circular.get(value);
    if (index !== undefined) {
      const reference = `<ref *${index}>`;
      base = base === "" ? reference : `${reference} ${base}`;
    }
  }
  return reduceToSingleString(ctx, output, base, braces, isArrayLike, recurseTimes, value);
}

/* Node's grouping of more than six short array items into aligned columns. */
function groupArrayElements(ctx, output, value) {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  if (output.length > 0 && /^\.\.\. \d+ more items?$/.test(output[output.length - 1])) outputLength--;
  const separatorSpace = 2;
  const dataLen = new Array(outputLength);
  for (let i = 0; i < outputLength; i++) {
    const len = output[i].length;
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < BREAK_LENGTH && (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = Math.sqrt(actualMax - totalLength / output.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(
      Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
      Math.floor((BREAK_LENGTH - ctx.indentationLvl) / actualMax),
      COMPACT * 4,
      15,
    );
    if (columns <= 1) return output;
    const tmp = [];
    const maxLineLength = [];
    for (let i = 0; i < columns; i++) {
      let lineLength = 0;
      for (let j = i; j < output.length; j += columns) {
        if (dataLen[j] > lineLength) lineLength = dataLen[j];
      }
      maxLineLength.push(lineLength + separatorSpace);
    }
    let padStart = true;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        if (typeof value[i] !== "number" && typeof value[i] !== "bigint") {
          padStart = false;
          break;
        }
      }
    }
    for (let i = 0; i < outputLength; i += columns) {
      const max = Math.min(i + columns, outputLength);
      let str = "";
      let j = i;
      for (; j < max - 1; j++) {
        const cell = `${output[j]}, `;
        str += padStart ? cell.padStart(maxLineLength[j - i]) : cell.padEnd(maxLineLength[j - i]);
      }
      str += padStart ? output[j].padStart(maxLineLength[j - i] - separatorSpace) : output[j];
      tmp.push(str);
    }
    if (outputLength < output.length) tmp.push(output[outputLength]);
    output = tmp;
  }
  return output;
}

function isBelowBreakLength(output, start, base) {
  let totalLength = output.length + start;
  if (totalLength + output.length > BREAK_LENGTH) return false;
  for (const entry of output) {
    totalLength += entry.length;
    if (totalLength > BREAK_LENGTH) return false;
  }
  return base === "" || !base.includes("\n");
}

function reduceToSingleString(ctx, output, base, braces, isArrayLike, recurseTimes, value) {
  const entries = output.length;
  if (isArrayLike && entries > 6) output = groupArrayElements(ctx, output, value);
  if (ctx.currentDepth - recurseTimes < COMPACT && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (isBelowBreakLength(output, start, base)) {
      const joined = output.join(", ");
      if (!joined.includes("\n")) return `${base ? `${base} ` : ""}${braces[0]} ${joined} ${braces[1]}`;
    }
  }
  const indentation = `\n${" ".repeat(ctx.indentationLvl)}`;
  return `${base ? `${base} ` : ""}${braces[0]}${indentation}  ${output.join(`,${indentation}  `)}${indentation}${braces[1]}`;
}

/* util.inspect(value, { depth = 2, customInspect = true }) in short form. */
export function inspect(value, options = undefined) {
  const ctx = {
    depth: 2,
    customInspect: true,
    seen: [],
    circular: undefined,
    indentationLvl: 0,
    currentDepth: 0,
    options: {},
  };
  if (options !== null && typeof options === "object") {
    if (options.depth !== undefined) ctx.depth = options.depth === Infinity ? null : options.depth;
    if (options.customInspect !== undefined) ctx.customInspect = Boolean(options.customInspect);
    ctx.options = { ...options };
  }
  return formatValue(ctx, value, 0);
}

/* ---- format ---------------------------------------------------------------------- */

function hasBuiltinToString(value) {
  let o = value;
  while (o !== null && o !== undefined) {
    const desc = Object.getOwnPropertyDescriptor(o, "toString");
    if (desc) {
      const fn = desc.value;
      return (
        fn === Object.prototype.toString ||
        fn === Error.prototype.toString ||
        fn === Array.prototype.toString ||
        fn === Date.prototype.toString ||
        fn === RegExp.prototype.toString ||
        fn === Function.prototype.toString ||
        fn === Number.prototype.toString ||
        fn === String.prototype.toString ||
        fn === Boolean.prototype.toString ||
        (typeof fn === "function" && /\[native code\]/.test(Function.prototype.toString.call(fn)))
      );
    }
    o = Object.getPrototypeOf(o);
  }
  return true;
}

function toNumberForFormat(v, parse) {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol") return "NaN";
  return formatNumber(parse(v));
}

/* Node's util.format: printf-like substitutions in a leading string, then
 * the remaining arguments, strings as they are and the rest inspected. */
export function format(...args) {
  const first = args[0];
  let out = "";
  let a = 0;
  if (typeof first === "string") {
    if (args.length === 1) return first;
    let lastPos = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (first.charCodeAt(i) !== 37) continue; // '%'
      const c = first[i + 1];
      if (c === "%") {
        out += first.slice(lastPos, i) + "%";
        lastPos = i + 2;
        i++;
        continue;
      }
      if (a + 1 >= args.length) continue;
      let s;
      switch (c) {
        case "s": {
          const v = args[++a];
          if (typeof v === "number") s = formatNumber(v);
          else if (typeof v === "bigint") s = `${v}n`;
          else if (typeof v !== "object" || v === null || !hasBuiltinToString(v)) s = String(v);
          else s = inspect(v, { depth: 0 });
          break;
        }
        case "j": {
          const v = args[++a];
          try {
            s = JSON.stringify(v);
          } catch (err) {
            if (err instanceof TypeError && /circular|cyclic/i.test(String(err.message))) s = "[Circular]";
            else throw err;
          }
          if (s === undefined) s = "undefined";
          break;
        }
        case "d": {
          const v = args[++a];
          s = typeof v === "object" && v !== null ? formatNumber(Number(v)) : toNumberForFormat(v, Number);
          break;
        }
        case "i":
          s = toNumberForFormat(args[++a], (v) => Number.parseInt(v));
          break;
        case "f":
          s = toNumberForFormat(args[++a], (v) => Number.parseFloat(v));
          if (typeof args[a] === "bigint") s = formatNumber(Number.parseFloat(args[a]));
          break;
        case "o":
          s = inspect(args[++a], { depth: 4 });
          break;
        case "O":
          s = inspect(args[++a]);
          break;
        case "c":
          a++;
          s = "";
          break;
        default:
          continue;
      }
      out += first.slice(lastPos, i) + s;
      lastPos = i + 2;
      i++;
    }
    if (lastPos !== 0) {
      a++;
      if (lastPos < first.length) out += first.slice(lastPos);
    }
  }
  for (; a < args.length; a++) {
    const v = args[a];
    out += (a > 0 ? " " : "") + (typeof v === "string" ? v : inspect(v));
  }
  return out;
}

/* ---- console ---------------------------------------------------------------------- */

let groupIndent = "";
const counts = new Map();
const timers = new Map();

function emit(level, text) {
  if (groupIndent !== "") text = groupIndent + text.replace(/\n/g, `\n${groupIndent}`);
  host.log(level, text);
}

/* Reports an exception nobody caught (a timer, a listener, a microtask). */
export function reportError(err) {
  try {
    emit("error", `Uncaught ${typeof err === "string" ? err : inspect(err)}`);
  } catch {
    host.log("error", "Uncaught exception (unprintable)");
  }
}

function formatTime(ms) {
  let hours = 0;
  let minutes = 0;
  let seconds = 0;
  if (ms >= 1000) {
    if (ms >= 60000) {
      if (ms >= 3600000) {
        hours = Math.floor(ms / 3600000);
        ms %= 3600000;
      }
      minutes = Math.floor(ms / 60000);
      ms %= 60000;
    }
    seconds = ms / 1000;
  }
  if (hours !== 0 || minutes !== 0) {
    const [s, frac] = seconds.toFixed(3).split(".");
    const res = hours !== 0 ? `${hours}:${String(minutes).padStart(2, "0")}` : minutes;
    return `${res}:${s.padStart(2, "0")}.${frac} (${hours !== 0 ? "h:m" : ""}m:ss.mmm)`;
  }
  if (seconds !== 0) return `${seconds.toFixed(3)}s`;
  return `${Number(ms.toFixed(3))}ms`;
}

function table(data, properties = undefined) {
  if (data === null || typeof data !== "object") return format(data);
  const rows = [];
  const columns = [];
  const addColumn = (c) => {
    if (!columns.includes(c)) columns.push(c);
  };
  let hasValues = false;
  const entries = brand(mapSize, data)
    ? [...Map.prototype.entries.call(data)]
    : brand(setSize, data)
      ? [...Set.prototype.values.call(data)].map((v, i) => [i, v])
      : Object.keys(data).map((k) => [k, data[k]]);
  const indexHeader = brand(mapSize, data) ? "(iteration index)" : "(index)";
  for (const [key, row] of entries) {
    const cells = {};
    if (row !== null && typeof row === "object") {
      for (const k of properties ?? Object.keys(row)) {
        addColumn(k);
        cells[k] = inspect(row[k], { depth: 0 });
      }
    } else {
      hasValues = true;
      cells["\0values"] = inspect(row, { depth: 0 });
    }
    rows.push([typeof key === "string" ? key : inspect(key, { depth: 0 }), cells]);
  }
  const header = [indexHeader, ...columns, ...(hasValues ? ["Values"] : [])];
  const body = rows.map(([k, cells]) => [
    k,
    ...columns.map((c) => cells[c] ?? ""),
    ...(hasValues ? [cells["\0values"] ?? ""] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)) + 2);
  const pad = (s, w) => ` ${s}${" ".repeat(w - s.length - 1)}`; // left-aligned, as Node 20
  const line = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
  const row = (cells) => "│" + cells.map((c, i) => pad(c, widths[i])).join("│") + "│";
  return [line("┌", "┬", "┐"), row(header), line("├", "┼", "┤"), ...body.map(row), line("└", "┴", "┘")].join("\n");
}

const console = {
  log: (...data) => emit("log", format(...data)),
  info: (...data) => emit("info", format(...data)),
  warn: (...data) => emit("warn", format(...data)),
  error: (...data) => emit("error", format(...data)),
  debug: (...data) => emit("debug", format(...data)),
  trace: (...data) => {
    const stack = (new Error().stack ?? "").replace(/\s+$/, "").split("\n").slice(1).join("\n");
    emit("log", `Trace${data.length ? `: ${format(...data)}` : ""}${stack ? `\n${stack}` : ""}`);
  },
  assert: (condition = undefined, ...data) => {
    if (condition) return;
    if (typeof data[0] === "string") data[0] = `Assertion failed: ${data[0]}`;
    else data.unshift("Assertion failed");
    emit("error", format(...data));
  },
  dir: (item = undefined, options = undefined) => emit("log", inspect(item, { customInspect: false, ...options })),
  dirxml: (...data) => emit("log", format(...data)),
  table: (data = undefined, properties = undefined) => {
    if (data === null || typeof data !== "object") emit("log", format(data));
    else emit("log", table(data, properties));
  },
  group: (...data) => {
    if (data.length) emit("log", format(...data));
    groupIndent += "  ";
  },
  groupCollapsed: (...data) => {
    if (data.length) emit("log", format(...data));
    groupIndent += "  ";
  },
  groupEnd: () => {
    groupIndent = groupIndent.slice(0, -2);
  },
  count: (label = "default") => {
    label = `${label}`;
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    emit("info", `${label}: ${n}`);
  },
  countReset: (label = "default") => {
    label = `${label}`;
    if (!counts.delete(label)) emit("warn", `Count for '${label}' does not exist`);
  },
  time: (label = "default") => {
    label = `${label}`;
    if (timers.has(label)) {
      emit("warn", `Label '${label}' already exists for console.time()`);
      return;
    }
    timers.set(label, Date.now());
  },
  timeLog: (label = "default", ...data) => {
    label = `${label}`;
    const t = timers.get(label);
    if (t === undefined) {
      emit("warn", `No such label '${label}' for console.timeLog()`);
      return;
    }
    emit("info", `${label}: ${formatTime(Date.now() - t)}${data.length ? ` ${format(...data)}` : ""}`);
  },
  timeEnd: (label = "default") => {
    label = `${label}`;
    const t = timers.get(label);
    if (t === undefined) {
      emit("warn", `No such label '${label}' for console.timeEnd()`);
      return;
    }
    timers.delete(label);
    emit("info", `${label}: ${formatTime(Date.now() - t)}`);
  },
};
for (const name of Object.keys(console)) {
  Object.defineProperty(console[name], "name", { value: name });
}
Object.defineProperty(console, Symbol.toStringTag, { value: "console", configurable: true });

defineGlobal("console", console);
