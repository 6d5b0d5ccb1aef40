/*
 * timers.js - setTimeout, setInterval, their clear functions,
 * queueMicrotask and scheduler.wait (HTML timers, Workers' scheduler).
 *
 * Each timer is an entry in a map keyed by its numeric id; the host keeps
 * one libuv timer per id (host.timerStart/timerStop) and calls
 * entry.timer(id) when it is due. Intervals re-arm after their callback
 * unless it cleared them. A callback that throws is reported to the
 * tenant log and the loop goes on.
 *
 * A timer belongs to the request whose code set it and ends with it
 * (src/runtime/host_timers.c): the host drops a timer set when no live
 * request owns it (timerStart's bit 1 is clear) and cancels a finished
 * request's timers; it tells us their ids (bit 2, then timersDropped) so
 * that their entries, and the callbacks they hold, do not stay here.
 */
import host from "./host.js";
import entry from "./entry.js";
import { reportError } from "./console.js";
import { addAbortAlgorithm } from "./events.js";
import { defineGlobal, exposeInterface } from "./domexception.js";

const MAX_DELAY = 2147483647;

/* id -> { fn, args, ms, repeat } */
const timers = new Map();
let nextId = 1;

function delay(ms) {
  const n = Math.trunc(Number(ms));
  if (!(n > 0)) return 0;
  return n > MAX_DELAY ? MAX_DELAY : n;
}

function start(what, handler, ms, args, repeat) {
  if (typeof handler !== "function") {
    throw new TypeError(`${what}: the callback must be a function (strings are not evaluated)`);
  }
  const id = nextId++;
  const timer = { fn: handler, args, ms: delay(ms), repeat };
  timers.set(id, timer);
  arm(id, timer.ms);
  return id;
}

function arm(id, ms) {
  const r = host.timerStart(id, ms);
  if (!(r & 1)) timers.delete(id);
  if (r & 2) for (const d of host.timersDropped().split(",")) timers.delete(Number(d));
}

function clear(id) {
  const key = Number(id);
  if (timers.delete(key)) host.timerStop(key);
}

export function setTimeout(handler, ms = 0, ...args) {
  return start("setTimeout", handler, ms, args, false);
}

export function setInterval(handler, ms = 0, ...args) {
  return start("setInterval", handler, ms, args, true);
}

export function clearTimeout(id = undefined) {
  clear(id);
}

export function clearInterval(id = undefined) {
  clear(id);
}

entry.timer = (id) => {
  const timer = timers.get(id);
  if (!timer) return;
  if (!timer.repeat) timers.delete(id);
  try {
    timer.fn.apply(globalThis, timer.args);
  } catch (err) {
    reportError(err);
  }
  if (timer.repeat && timers.get(id) === timer) arm(id, timer.ms);
};

export function queueMicrotask(callback) {
  if (typeof callback !== "function") throw new TypeError("queueMicrotask: the callback must be a function");
  Promise.resolve().then(() => {
    try {
      callback();
    } catch (err) {
      reportError(err);
    }
  });
}

/* Workers' scheduler.wait(ms, { signal }): a promise for a delay. */
class Scheduler {
  wait(ms, options = undefined) {
    const signal = options?.signal;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const id = setTimeout(resolve, ms);
      if (signal) {
        addAbortAlgorithm(signal, (reason) => {
          clearTimeout(id);
          reject(reason);
        });
      }
    });
  }
}
exposeInterface("Scheduler", Scheduler, false);

const scheduler = new Scheduler();

for (const [name, value] of Object.entries({
  setTimeout,
  setInterval,
  clearTimeout,
  clearInterval,
  queueMicrotask,
  scheduler,
})) {
  defineGlobal(name, value);
}
