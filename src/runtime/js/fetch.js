/*
 * fetch.js - the global fetch(), on the host's HTTP client (src/fetch via
 * src/runtime/host_fetch.c).
 *
 * The request's body is read whole and handed to the host; the response
 * comes back as events on the entry object (fetchResponse, fetchChunk,
 * fetchDone) and its body is a ReadableStream fed chunk by chunk. When the
 * stream's queue holds more than QUEUE_HIGH bytes the host is asked to
 * pause the transfer and to resume when the reader pulls again, so a
 * response passed straight through to the client (return fetch(request))
 * never sits whole in memory. The AbortSignal of the request cancels the
 * subrequest at any point. Errors (DNS, refused connection, TLS, timeout,
 * a blocked address) reject with a TypeError saying what happened.
 */
import host from "./host.js";
import entry from "./entry.js";
import { defineGlobal } from "./domexception.js";
import { headersFromText, headersToText } from "./headers.js";
import { Request, requestParts } from "./request.js";
import { makeIncomingResponse } from "./response.js";
import { ByteLengthQueuingStrategy } from "web-streams-polyfill";
import { ReadableStream } from "./streams.js";

const QUEUE_HIGH = 1 << 20;
const REDIRECT = { follow: 0, manual: 1, error: 2 };
const inflight = new Map(); // subrequest id -> state

function finish(st) {
  inflight.delete(st.id);
  if (st.signal && st.onAbort) st.signal.removeEventListener("abort", st.onAbort);
}

/* Subrequests the host aborted because their request finished or was cut
 * (src/runtime/host_fetch.c): their promises never settle, as in Workers;
 * forget their state. */
function forgetDropped() {
  const ids = host.fetchesDropped();
  if (!ids) return;
  for (const d of ids.split(",")) {
    const st = inflight.get(Number(d));
    if (st) finish(st);
  }
}

export async function fetch(input, init = undefined) {
  const request = new Request(input, init);
  const { url, method, headers, redirect, signal } = requestParts(request);
  if (signal && signal.aborted) throw signal.reason;
  const body = request.body === null ? undefined : await request.arrayBuffer();
  if (signal && signal.aborted) throw signal.reason;
  return new Promise((resolve, reject) => {
    forgetDropped();
    // Throws (limits, load time) become this promise's rejection.
    const id = host.fetchStart(method, url, headersToText(headers), body, REDIRECT[redirect] ?? 0, 0);
    const st = { id, url, resolve, reject, controller: null, responded: false, paused: false, signal, onAbort: null };
    inflight.set(id, st);
    if (signal) {
      st.onAbort = () => {
        host.fetchAbort(id);
        finish(st);
        if (st.responded) {
          try {
            st.controller.error(signal.reason);
          } catch {
            // the body was already closed or cancelled
          }
        } else {
          reject(signal.reason);
        }
      };
      signal.addEventListener("abort", st.onAbort, { once: true });
    }
  });
}

entry.fetchResponse = (id, status, statusText, headerText, finalUrl) => {
  const st = inflight.get(id);
  if (!st) return;
  st.responded = true;
  const stream = new ReadableStream(
    {
      start(c) {
        st.controller = c;
      },
      pull() {
        if (st.paused) {
          st.paused = false;
          host.fetchPause(id, 0);
        }
      },
      cancel() {
        host.fetchAbort(id);
        finish(st);
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: QUEUE_HIGH }),
  );
  const redirected = finalUrl !== "" && finalUrl !== st.url;
  st.resolve(makeIncomingResponse(status, statusText, headersFromText(headerText), stream, finalUrl || st.url, redirected));
};

/* held: the host paused the transfer while this chunk waited for the
 * isolate (src/runtime/host_fetch.c); it goes on once the stream wants
 * more, as after a pause of ours. */
entry.fetchChunk = (id, ab, held) => {
  const st = inflight.get(id);
  if (!st || !st.controller) return;
  if (held) st.paused = true;
  try {
    st.controller.enqueue(new Uint8Array(ab));
  } catch {
    return; // the reader cancelled; the abort is on its way
  }
  if (st.controller.desiredSize <= 0) {
    if (!st.paused) {
      st.paused = true;
      host.fetchPause(id, 1);
    }
  } else if (st.paused) {
    st.paused = false;
    host.fetchPause(id, 0);
  }
};

entry.fetchDone = (id, err, message) => {
  const st = inflight.get(id);
  if (!st) return;
  finish(st);
  const error = err ? new TypeError(`fetch failed: ${message}`) : null;
  if (!st.responded) {
    st.reject(error || new TypeError("fetch failed: no response"));
    return;
  }
  try {
    if (error) st.controller.error(error);
    else st.controller.close();
  } catch {
    // the body was cancelled
  }
};

defineGlobal("fetch", fetch);
