/*
 * events.js - Event, EventTarget, CustomEvent, AbortController and
 * AbortSignal (DOM Standard), as Workers has them: targets form no tree,
 * so dispatch only ever reaches the target itself and `capture` is just
 * part of a listener's identity.
 *
 * A listener that throws does not stop the others: the exception is
 * reported to the tenant's log (reportError in console.js), as the spec's
 * "report the exception" asks.
 *
 * Exported for fetch and streams: createAbortSignal(), signalAbort() and
 * addAbortAlgorithm(), the spec's internal hooks on signals.
 */
import { DOMException, exposeInterface } from "./domexception.js";
import { customInspect, reportError } from "./console.js";
import { setTimeout } from "./timers.js";

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

let setDispatchState; // (event, target, phase) => void
let isDispatching;
let stopImmediate;
let setInPassive;

export class Event {
  #type;
  #bubbles;
  #cancelable;
  #composed;
  #target = null;
  #currentTarget = null;
  #phase = NONE;
  #canceled = false;
  #stop = false;
  #stopImmediate = false;
  #inPassive = false;
  #dispatching = false;
  // Workers' time origin is 0 (performance.now() is Date.now()); an origin
  // taken here would be the snapshot's time, not the request's.
  #timeStamp = Date.now();

  static {
    setDispatchState = (event, target, phase) => {
      event.#dispatching = phase !== NONE;
      if (target !== undefined) event.#target = target;
      event.#currentTarget = phase === NONE ? null : event.#target;
      event.#phase = phase;
      if (phase === NONE) event.#stop = event.#stopImmediate = false;
    };
    isDispatching = (event) => event.#dispatching;
    stopImmediate = (event) => event.#stopImmediate;
    setInPassive = (event, value) => {
      event.#inPassive = value;
    };
  }

  constructor(type, init = undefined) {
    if (arguments.length < 1) throw new TypeError("Event: 1 argument required");
    if (init !== undefined && init !== null && typeof init !== "object") {
      throw new TypeError("Event: the init argument must be an object");
    }
    this.#type = String(type);
    this.#bubbles = Boolean(init?.bubbles);
    this.#cancelable = Boolean(init?.cancelable);
    this.#composed = Boolean(init?.composed);
  }

  get type() {
    return this.#type;
  }
  get target() {
    return this.#target;
  }
  get srcElement() {
    return this.#target;
  }
  get currentTarget() {
    return this.#currentTarget;
  }
  get eventPhase() {
    return this.#phase;
  }
  get bubbles() {
    return this.#bubbles;
  }
  get cancelable() {
    return this.#cancelable;
  }
  get composed() {
    return this.#composed;
  }
  get defaultPrevented() {
    return this.#canceled;
  }
  get returnValue() {
    return !this.#canceled;
  }
  set returnValue(value) {
    if (!value) this.preventDefault();
  }
  get cancelBubble() {
    return this.#stop;
  }
  set cancelBubble(value) {
    if (value) this.#stop = true;
  }
  get isTrusted() {
    return false;
  }
  get timeStamp() {
    return this.#timeStamp;
  }

  composedPath() {
    return this.#dispatching && this.#currentTarget ? [this.#currentTarget] : [];
  }

  stopPropagation() {
    this.#stop = true;
  }

  stopImmediatePropagation() {
    this.#stop = this.#stopImmediate = true;
  }

  preventDefault() {
    if (this.#cancelable && !this.#inPassive) this.#canceled = true;
  }

  /* console.log shows the main attributes, as Node does. */
  [customInspect](depth, options, inspect) {
    const fields = { type: this.#type, defaultPrevented: this.#canceled, cancelable: this.#cancelable, timeStamp: this.#timeStamp };
    const name = this instanceof CustomEvent ? "CustomEvent" : "Event";
    return `${name} ${inspect(fields, options)}`;
  }
}

for (const [name, value] of Object.entries({ NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE })) {
  const desc = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(Event, name, desc);
  Object.defineProperty(Event.prototype, name, desc);
}

export class CustomEvent extends Event {
  #detail;

  constructor(type, init = undefined) {
    if (arguments.length < 1) throw new TypeError("CustomEvent: 1 argument required");
    super(type, init);
    this.#detail = init?.detail === undefined ? null : init.detail;
  }

  get detail() {
    return this.#detail;
  }
}

/* ---- EventTarget ---------------------------------------------------------------------- */

function flattenOptions(options) {
  if (typeof options === "boolean" || options === undefined || options === null) {
    return { capture: Boolean(options), once: false, passive: false, signal: null };
  }
  if (typeof options !== "object") return { capture: Boolean(options), once: false, passive: false, signal: null };
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("addEventListener: the signal option must be an AbortSignal");
  }
  return {
    capture: Boolean(options.capture),
    once: Boolean(options.once),
    passive: Boolean(options.passive),
    signal: signal ?? null,
  };
}

export class EventTarget {
  /* type -> array of { callback, capture, once, passive, removed } */
  #listeners = new Map();

  addEventListener(type, callback, options = undefined) {
    if (arguments.length < 2) throw new TypeError("addEventListener: 2 arguments required");
    type = String(type);
    const { capture, once, passive, signal } = flattenOptions(options);
    if (callback === null || callback === undefined) return;
    if (typeof callback !== "function" && typeof callback !== "object") {
      throw new TypeError("addEventListener: the listener must be a function or an object");
    }
    if (signal?.aborted) return;
    let list = this.#listeners.get(type);
    if (!list) this.#listeners.set(type, (list = []));
    if (list.some((l) => l.callback === callback && l.capture === capture)) return;
    const listener = { callback, capture, once, passive, removed: false };
    list.push(listener);
    if (signal) addAbortAlgorithm(signal, () => this.#remove(type, listener));
  }

  removeEventListener(type, callback, options = undefined) {
    if (arguments.length < 2) throw new TypeError("removeEventListener: 2 arguments required");
    type = String(type);
    const capture = typeof options === "object" && options !== null ? Boolean(options.capture) : Boolean(options);
    const list = this.#listeners.get(type);
    const listener = list?.find((l) => l.callback === callback && l.capture === capture);
    if (listener) this.#remove(type, listener);
  }

  #remove(type, listener) {
    listener.removed = true;
    const list = this.#listeners.get(type);
    if (!list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#listeners.delete(type);
  }

  dispatchEvent(event) {
    if (!(event instanceof Event)) throw new TypeError("dispatchEvent: the argument must be an Event");
    if (isDispatching(event)) throw new DOMException("The event is already being dispatched", "InvalidStateError");
    setDispatchState(event, this, AT_TARGET);
    try {
      const list = this.#listeners.get(event.type);
      if (list) {
        for (const listener of list.slice()) {
          if (listener.removed) continue;
          if (listener.once) this.#remove(event.type, listener);
          invokeListener(this, listener, event);
          if (stopImmediate(event)) break;
        }
      }
    } finally {
      setDispatchState(event, undefined, NONE);
    }
    return !event.defaultPrevented;
  }
}

function invokeListener(target, listener, event) {
  const { callback } = listener;
  if (listener.passive) setInPassive(event, true);
  try {
    if (typeof callback === "function") {
      callback.call(target, event);
    } else {
      const handleEvent = callback.handleEvent;
      if (typeof handleEvent !== "function") throw new TypeError("the listener has no handleEvent method");
      handleEvent.call(callback, event);
    }
  } catch (err) {
    reportError(err);
  } finally {
    setInPassive(event, false);
  }
}

/* An `on<type>` event handler attribute on a class's prototype: the handler
 * takes its listener's place when first set, and is looked up when called. */
export function defineEventHandler(proto, type) {
  const handlers = new WeakMap(); // target -> { value }
  Object.defineProperty(proto, `on${type}`, {
    get() {
      return handlers.get(this)?.value ?? null;
    },
    set(value) {
      const fn = typeof value === "function" || (typeof value === "object" && value !== null) ? value : null;
      let slot = handlers.get(this);
      if (!slot) {
        if (fn === null) return;
        slot = { value: fn };
        slot.listener = (event) => {
          const f = slot.value;
          if (typeof f !== "function") return;
          const r = f.call(this, event);
          if (r === false) event.preventDefault();
        };
        handlers.set(this, slot);
        this.addEventListener(type, slot.listener);
      } else if (fn === null) {
        this.removeEventListener(type, slot.listener);
        handlers.delete(this);
      } else {
        slot.value = fn;
      }
    },
    enumerable: true,
    configurable: true,
  });
}

/* ---- AbortSignal / AbortController ---------------------------------------------------------- */

const ILLEGAL = Symbol("illegal constructor");
let signalInternals;

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = new Set();
  #dependents = []; // AbortSignal.any() results that follow this signal
  #sources = null; // for an AbortSignal.any() result: the signals it follows

  static {
    signalInternals = {
      abort(signal, reason) {
        if (signal.#aborted) return;
        if (reason === undefined) reason = new DOMException("This operation was aborted", "AbortError");
        // Mark this signal and every dependent aborted first, then run steps and fire events.
        const toFire = [signal];
        signal.#aborted = true;
        signal.#reason = reason;
        for (const ref of signal.#dependents) {
          const dep = ref.deref();
          if (dep && !dep.#aborted) {
            dep.#aborted = true;
            dep.#reason = reason;
            toFire.push(dep);
          }
        }
        signal.#dependents = [];
        for (const s of toFire) {
          const algorithms = [...s.#algorithms];
          s.#algorithms.clear();
          for (const algo of algorithms) {
            try {
              algo(reason);
            } catch (err) {
              reportError(err);
            }
          }
          s.dispatchEvent(new Event("abort"));
        }
      },
      add(signal, algo) {
        if (!signal.#aborted) signal.#algorithms.add(algo);
      },
      remove(signal, algo) {
        signal.#algorithms.delete(algo);
      },
      follow(result, sources) {
        // A dependent of another any() signal follows that signal's sources directly.
        const flat = new Set();
        for (const s of sources) {
          for (const src of s.#sources ?? [s]) flat.add(src);
        }
        result.#sources = [...flat];
        for (const src of flat) src.#dependents.push(new WeakRef(result));
      },
      brand(signal) {
        return signal.#aborted;
      },
    };
  }

  constructor(key = undefined) {
    if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    super();
  }

  get aborted() {
    return this.#aborted;
  }

  get reason() {
    return this.#reason;
  }

  throwIfAborted() {
    if (this.#aborted) throw this.#reason;
  }

  [customInspect](depth, options, inspect) {
    return `AbortSignal ${inspect({ aborted: this.#aborted }, options)}`;
  }

  static abort(reason = undefined) {
    const signal = new AbortSignal(ILLEGAL);
    signalInternals.abort(signal, reason);
    return signal;
  }

  static timeout(ms) {
    if (arguments.length < 1) throw new TypeError("AbortSignal.timeout: 1 argument required");
    const delay = Number(ms);
    if (!Number.isFinite(delay) || delay < 0 || delay > Number.MAX_SAFE_INTEGER) {
      throw new TypeError("AbortSignal.timeout: the delay must be a non-negative integer");
    }
    const signal = new AbortSignal(ILLEGAL);
    setTimeout(() => {
      signalInternals.abort(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    }, delay);
    return signal;
  }

  static any(signals) {
    const list = [...signals];
    for (const s of list) {
      if (!(s instanceof AbortSignal)) throw new TypeError("AbortSignal.any: expected a sequence of AbortSignals");
      signalInternals.brand(s);
    }
    const result = new AbortSignal(ILLEGAL);
    for (const s of list) {
      if (s.aborted) {
        signalInternals.abort(result, s.reason);
        return result;
      }
    }
    signalInternals.follow(result, list);
    return result;
  }
}
defineEventHandler(AbortSignal.prototype, "abort");

export class AbortController {
  #signal = new AbortSignal(ILLEGAL);

  get signal() {
    return this.#signal;
  }

  abort(reason = undefined) {
    signalInternals.abort(this.#signal, reason);
  }
}

/* A new, unaborted signal, for APIs that own one (Request.signal). */
export function createAbortSignal() {
  return new AbortSignal(ILLEGAL);
}

/* Aborts signal with reason (AbortError DOMException when undefined). */
export function signalAbort(signal, reason) {
  signalInternals.abort(signal, reason);
}

/* Runs algo(reason) when signal aborts (never if it already has). */
export function addAbortAlgorithm(signal, algo) {
  signalInternals.add(signal, algo);
}

export function removeAbortAlgorithm(signal, algo) {
  signalInternals.remove(signal, algo);
}

exposeInterface("Event", Event);
exposeInterface("CustomEvent", CustomEvent);
exposeInterface("EventTarget", EventTarget);
exposeInterface("AbortSignal", AbortSignal);
exposeInterface("AbortController", AbortController);
