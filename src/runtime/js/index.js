/*
 * index.js - the in-isolate half of Isolde's Workers API, bundled by
 * esbuild into one script that runs once per worker before its code and is
 * captured in the worker's snapshot. Order matters: each module may use the
 * globals installed by the ones above it.
 */
import host from "./host.js";
import entry from "./entry.js";
import "./domexception.js";
import "./encoding.js";
import "./events.js";
import "./timers.js";
import "./console.js";
import "./structured_clone.js";
import "./crypto.js";
import "./url.js";
import "./blob.js";
import "./formdata.js";
import "./headers.js";
import "./streams.js";
import "./body.js";
import "./request.js";
import "./response.js";
import "./cache.js";

Object.defineProperty(globalThis, "__isolde", { value: entry, configurable: true, writable: false, enumerable: false });
void host;
import "./performance.js";
import "./fetch.js";
import "./dispatch.js";
