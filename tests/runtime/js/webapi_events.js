/*
 * webapi_events.js - Event, EventTarget, CustomEvent, AbortController and
 * AbortSignal, including AbortSignal.timeout (real timers) and any(). Run
 * by tests/runtime/test_webapi.c through `isolde run` (an ES module with
 * top-level await): one line per check and per group, "ok N" last, and the
 * first failing check throws.
 */
import { check, eq, throws, group, done } from "./lib/assert.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await group("Event", () => {
  const e = new Event("ping", { cancelable: true, bubbles: true });
  eq(e.type, "ping", "type");
  eq(e.bubbles, true, "bubbles");
  eq(e.cancelable, true, "cancelable");
  eq(e.composed, false, "composed");
  eq(e.defaultPrevented, false, "not prevented yet");
  e.preventDefault();
  eq(e.defaultPrevented, true, "preventDefault on a cancelable event");
  eq(e.returnValue, false, "returnValue follows");
  const f = new Event("x");
  f.preventDefault();
  eq(f.defaultPrevented, false, "preventDefault on a non-cancelable event");
  eq(f.eventPhase, Event.NONE, "phase before dispatch");
  eq(f.target, null, "no target before dispatch");
  eq(f.isTrusted, false, "isTrusted");
  eq(typeof f.timeStamp, "number", "timeStamp");
  eq(Event.AT_TARGET, 2, "AT_TARGET");
  throws(() => new Event(), TypeError, null, "Event without a type");
  const c = new CustomEvent("c", { detail: { k: 1 } });
  eq(c.detail.k, 1, "CustomEvent detail");
  eq(new CustomEvent("c").detail, null, "CustomEvent default detail");
  check(c instanceof Event, "CustomEvent is an Event");
  eq(Object.prototype.toString.call(c), "[object CustomEvent]", "toStringTag");
});

await group("EventTarget", () => {
  const t = new EventTarget();
  const seen = [];
  function a(e) {
    seen.push(`a:${e.eventPhase}:${e.currentTarget === t}:${this === t}`);
  }
  t.addEventListener("x", a);
  t.addEventListener("x", a); // duplicate ignored
  t.addEventListener("x", a, { capture: true }); // distinct listener
  t.addEventListener("x", { handleEvent: (e) => seen.push(`h:${e.target === t}`) });
  t.addEventListener("x", () => seen.push("once"), { once: true });
  const ev = new Event("x");
  eq(t.dispatchEvent(ev), true, "dispatchEvent result");
  eq(seen.join(","), "a:2:true:true,a:2:true:true,h:true,once", "listeners in order, this and phase");
  eq(ev.eventPhase, 0, "phase after dispatch");
  eq(ev.currentTarget, null, "currentTarget after dispatch");
  eq(ev.target, t, "target stays");
  seen.length = 0;
  t.removeEventListener("x", a);
  t.dispatchEvent(new Event("x"));
  eq(seen.join(","), "a:2:true:true,h:true", "once listener gone, non-capture a removed");
  t.removeEventListener("x", a, true);
  seen.length = 0;
  t.dispatchEvent(new Event("x"));
  eq(seen.join(","), "h:true", "capture listener removed with capture: true");

  const u = new EventTarget();
  const order = [];
  u.addEventListener("y", (e) => {
    order.push(1);
    e.stopImmediatePropagation();
  });
  u.addEventListener("y", () => order.push(2));
  u.dispatchEvent(new Event("y"));
  eq(order.join(), "1", "stopImmediatePropagation");

  const v = new EventTarget();
  v.addEventListener("z", (e) => e.preventDefault());
  eq(v.dispatchEvent(new Event("z", { cancelable: true })), false, "dispatchEvent false when canceled");
  v.addEventListener("p", (e) => e.preventDefault(), { passive: true });
  eq(v.dispatchEvent(new Event("p", { cancelable: true })), true, "passive listener cannot cancel");

  const w = new EventTarget();
  const got = [];
  w.addEventListener("t", () => {
    throw new Error("listener error (expected in this test)");
  });
  w.addEventListener("t", () => got.push("after"));
  w.dispatchEvent(new Event("t"));
  eq(got.join(), "after", "a throwing listener does not stop the next");

  const re = new EventTarget();
  let inner = null;
  re.addEventListener("r", (e) => {
    try {
      re.dispatchEvent(e);
    } catch (err) {
      inner = err;
    }
  });
  re.dispatchEvent(new Event("r"));
  check(inner instanceof DOMException && inner.name === "InvalidStateError", "re-dispatching an event being dispatched");
  throws(() => re.dispatchEvent({ type: "r" }), TypeError, null, "dispatchEvent of a non-Event");
  throws(() => re.addEventListener("x"), TypeError, null, "addEventListener with one argument");
  re.addEventListener("x", null); // allowed, ignored
  class MyTarget extends EventTarget {}
  const m = new MyTarget();
  let hit = 0;
  m.addEventListener("q", () => hit++);
  m.dispatchEvent(new Event("q"));
  eq(hit, 1, "subclass of EventTarget");
});

await group("AbortController", () => {
  const ac = new AbortController();
  const s = ac.signal;
  eq(s.aborted, false, "not aborted");
  eq(s.reason, undefined, "no reason");
  s.throwIfAborted();
  const log = [];
  s.onabort = (e) => log.push(`onabort:${e.type}`);
  s.addEventListener("abort", () => log.push("listener"));
  ac.abort();
  eq(s.aborted, true, "aborted");
  check(s.reason instanceof DOMException && s.reason.name === "AbortError", "default reason is an AbortError");
  eq(log.join(), "onabort:abort,listener", "abort event fires once to both");
  ac.abort("again");
  eq(log.length, 2, "second abort does nothing");
  check(s.reason.name === "AbortError", "reason unchanged by a second abort");
  throws(() => s.throwIfAborted(), DOMException, "AbortError", "throwIfAborted");
  const ac2 = new AbortController();
  ac2.abort("why");
  eq(ac2.signal.reason, "why", "custom reason");
  throws(() => new AbortSignal(), TypeError, null, "AbortSignal is not constructible");
  const pre = AbortSignal.abort(42);
  eq(pre.aborted, true, "AbortSignal.abort()");
  eq(pre.reason, 42, "AbortSignal.abort(reason)");
  check(AbortSignal.abort().reason.name === "AbortError", "AbortSignal.abort() default reason");
  const t = new EventTarget();
  const ac3 = new AbortController();
  let calls = 0;
  t.addEventListener("e", () => calls++, { signal: ac3.signal });
  t.dispatchEvent(new Event("e"));
  ac3.abort();
  t.dispatchEvent(new Event("e"));
  eq(calls, 1, "listener removed by its signal");
  t.addEventListener("e", () => calls++, { signal: ac3.signal });
  t.dispatchEvent(new Event("e"));
  eq(calls, 1, "listener with an aborted signal is never added");
  s.onabort = null;
  eq(s.onabort, null, "onabort cleared");
  eq(Object.prototype.toString.call(s), "[object AbortSignal]", "toStringTag");
  check(s instanceof EventTarget, "AbortSignal is an EventTarget");
});

await group("AbortSignal.any", () => {
  const a = new AbortController();
  const b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  const nested = AbortSignal.any([any]);
  let fired = 0;
  any.addEventListener("abort", () => fired++);
  eq(any.aborted, false, "not aborted while sources are not");
  b.abort("b");
  eq(any.aborted, true, "aborted with a source");
  eq(any.reason, "b", "the source's reason");
  eq(nested.reason, "b", "nested any() follows the original sources");
  a.abort("a");
  eq(any.reason, "b", "first reason wins");
  eq(fired, 1, "abort event once");
  eq(AbortSignal.any([AbortSignal.abort("pre")]).reason, "pre", "an already aborted source");
  eq(AbortSignal.any([]).aborted, false, "any of nothing");
  throws(() => AbortSignal.any([{}]), TypeError, null, "any of a non-signal");
});

await group("AbortSignal.timeout", async () => {
  const s = AbortSignal.timeout(10);
  eq(s.aborted, false, "not aborted at once");
  let event = null;
  s.onabort = (e) => (event = e);
  await sleep(30);
  eq(s.aborted, true, "aborted after the delay");
  check(s.reason instanceof DOMException && s.reason.name === "TimeoutError", "reason is a TimeoutError");
  eq(event?.type, "abort", "abort event");
  throws(() => AbortSignal.timeout(-1), TypeError, null, "negative timeout");
  const w = scheduler.wait(5);
  check(w instanceof Promise, "scheduler.wait returns a promise");
  await w;
  const ac = new AbortController();
  const waiting = scheduler.wait(1000, { signal: ac.signal });
  ac.abort("stop");
  let reason = null;
  await waiting.catch((r) => (reason = r));
  eq(reason, "stop", "scheduler.wait rejects when its signal aborts");
});

done();
