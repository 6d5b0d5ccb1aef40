/*
 * webapi_timers.js - setTimeout, setInterval, their clear functions and
 * queueMicrotask on the host's real libuv timers. Run by
 * tests/runtime/test_webapi.c through `isolde run`: one line per check and
 * per group, "ok N" last; the first failing check throws. Two callbacks
 * throw on purpose: the C test expects them reported on stderr, and the run
 * to carry on and exit 0.
 */
import { check, eq, throws, group, done } from "./lib/assert.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await group("setTimeout", async () => {
  const order = [];
  const id1 = setTimeout(() => order.push("30"), 30);
  setTimeout(() => order.push("10"), 10);
  setTimeout(() => order.push("0"));
  setTimeout(() => order.push("neg"), -5);
  setTimeout((a, b) => order.push(`args:${a}:${b}`), 20, "x", 2);
  const cancelled = setTimeout(() => order.push("cancelled"), 15);
  check(typeof id1 === "number" && id1 > 0, "ids are positive numbers");
  check(cancelled !== id1, "ids differ");
  clearTimeout(cancelled);
  clearTimeout(123456); // unknown id: nothing happens
  clearTimeout(); // no id: nothing happens
  setTimeout(() => {
    throw new Error("timer boom (expected in this test)");
  }, 5);
  Promise.resolve().then(() => order.push("microtask"));
  order.push("sync");
  await sleep(60);
  eq(order.join(","), "sync,microtask,0,neg,10,args:x:2,30", "order, arguments and clearTimeout");
  throws(() => setTimeout("order.push(1)", 1), TypeError, "a string callback");
  let thisValue = null;
  setTimeout(function () {
    thisValue = this;
  }, 0);
  await sleep(5);
  eq(thisValue, globalThis, "callbacks run with globalThis as this");
  let t0 = Date.now();
  await sleep(25);
  check(Date.now() - t0 >= 20, "a 25 ms timer waits about 25 ms");
  const ids = [setTimeout(() => {}, 1), setInterval(() => {}, 1)];
  clearInterval(ids[0]);
  clearTimeout(ids[1]); // the two clear functions share one id space
  t0 = Date.now();
  await sleep(5);
  check(Date.now() >= t0, "clearing both kinds leaves nothing running");
});

/* The intervals below say when they have cleared themselves, rather than
 * being given a fixed time for their ticks: on a busy machine a loop can
 * stall for longer than a few 5 ms ticks take. A late tick, one that
 * should not come, still has four ticks' time (20 ms) to show up. */
await group("setInterval", async () => {
  let ticks = 0;
  let cleared;
  const stopped = new Promise((r) => (cleared = r));
  const id = setInterval((step) => {
    ticks += step;
    if (ticks === 3) {
      clearInterval(id);
      cleared();
    }
  }, 5, 1);
  await stopped;
  await sleep(20);
  eq(ticks, 3, "interval stops when it clears itself");
  let failing = 0;
  let clearedBad;
  const stoppedBad = new Promise((r) => (clearedBad = r));
  const bad = setInterval(() => {
    failing++;
    if (failing === 2) {
      clearInterval(bad);
      clearedBad();
    }
    if (failing === 1) throw new Error("interval boom (expected in this test)");
  }, 5);
  await stoppedBad;
  await sleep(20);
  eq(failing, 2, "an interval that throws keeps running");
});

await group("queueMicrotask", async () => {
  const order = [];
  queueMicrotask(() => order.push("m1"));
  Promise.resolve().then(() => order.push("p"));
  queueMicrotask(() => order.push("m2"));
  queueMicrotask(() => {
    throw new Error("microtask boom (expected in this test)");
  });
  queueMicrotask(() => order.push("m3"));
  setTimeout(() => order.push("t"), 0);
  order.push("sync");
  await sleep(5);
  eq(order.join(","), "sync,m1,p,m2,m3,t", "microtasks run before timers, in order, past one that throws");
  throws(() => queueMicrotask(1), TypeError, "a non-function");
});

done();
