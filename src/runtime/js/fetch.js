/*
 * fetch.js - the global fetch(), on the host's HTTP client (src/fetch via
 * src/runtime/host_fetch.c).
 *
 * The request's body is read whole and handed to the host, unless it is a
 * host stream nobody has read, which the host sends as it comes; the response
 * comes back as an event on the entry object (fetchResponse, or fetchDone
 * when it failed before its head) and its body is a host stream
 * (streams.js hostStream): its bytes stay in the host, which pauses the
 * transfer while they wait, until the worker reads them, or the host pipes
 * them to the client itself (return fetch(request)). The AbortSignal of
 * the request cancels the subrequest at any point. Errors (DNS, refused connection, TLS, timeout,
 * a blocked address) reject with a TypeError saying what happened.
 */
import host from "./host.js";
import entry from "./entry.js";
import { defineGlobal } from "./domexception.js";
import { headersToText } from "./headers.js";
import { urlHref } from "./url.js";
import { Request, requestParts } from "./request.js";
import { makeIncomingResponse } from "./response.js";
import { hostStreamFail, takeHostBody } from "./streams.js";
import { bodyState, hostBody } from "./body.js";

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

/* fetch(url) with a string and no init, the common case: a GET with no
 * headers, no body and no signal needs no Request object. */
export function fetch(input, init = undefined) {
  if (typeof input !== "string" || init !== undefined) return fetchRequest(input, init);
  let url;
  try {
    url = urlHref(input);
  } catch (e) {
    return Promise.reject(e);
  }
  return start(url, "GET", "", undefined, "follow", null);
}

async function fetchRequest(input, init) {
  // fetch(request) with no init: the request as it is (its body is
  // consumed either way, as the Request a new one would take it from).
  const request = init === undefined && input instanceof Request ? input : new Request(input, init);
  const { url, method, headers, redirect, signal } = requestParts(request);
  if (signal && signal.aborted) throw signal.reason;
  // A host body nobody read (a client's upload, another response's body)
  // streams from the host as it arrives; any other body is read whole.
  const bs = bodyState(request);
  let upload = null;
  if (bs.kind === "host" && !bs.used) {
    upload = bs.id;
    bs.used = true;
  } else if (bs.kind === "stream" && !bs.used) {
    upload = takeHostBody(bs.stream);
  }
  const body = upload !== null ? upload : request.body === null ? undefined : await request.arrayBuffer();
  if (signal && signal.aborted) throw signal.reason;
  return start(url, method, headersToText(headers), body, redirect, signal);
}

/* Starts the subrequest: a promise of its Response. */
function start(url, method, headerText, body, redirect, signal) {
  return new Promise((resolve, reject) => {
    forgetDropped();
    // Throws (limits, load time) become this promise's rejection.
    const id = host.fetchStart(method, url, headerText, body, REDIRECT[redirect] ?? 0, 0);
    const st = { id, url, resolve, reject, body: null, responded: false, signal, onAbort: null };
    inflight.set(id, st);
    if (signal) {
      st.onAbort = () => {
        host.fetchAbort(id);
        finish(st);
        if (st.responded) {
          // (a body still in the host fails there: its read rejects)
          if (st.body.stream) hostStreamFail(st.body.stream, signal.reason);
        } else {
          reject(signal.reason);
        }
      };
      signal.addEventListener("abort", st.onAbort, { once: true });
    }
  });
}

entry.fetchResponse = (id, status, statusText, headerText, finalUrl, bodyId, length) => {
  const st = inflight.get(id);
  if (!st) return;
  // From here on the host tells the body, not us, how the transfer ends.
  inflight.delete(id);
  st.responded = true;
  st.body = hostBody(bodyId, length); // a stream only if someone touches .body
  const redirected = finalUrl !== "" && finalUrl !== st.url;
  // The headers stay the host's text until the worker reads them.
  st.resolve(makeIncomingResponse(status, statusText, headerText, st.body, finalUrl || st.url, redirected));
};

entry.fetchDone = (id, err, message) => {
  const st = inflight.get(id);
  if (!st) return;
  finish(st);
  st.reject(err ? new TypeError(`fetch failed: ${message}`) : new TypeError("fetch failed: no response"));
};

defineGlobal("fetch", fetch);
