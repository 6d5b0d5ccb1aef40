/*
 * entry.js - the functions the C host calls into (src/runtime/instance.c).
 *
 * index.js installs this object as globalThis.__isolde; the host takes a
 * handle to it after the prelude has run and deletes the global, so tenant
 * code cannot call it. Each Web API module adds the entry points it owns:
 *
 *   timer(id)                          timers.js: timer `id` is due
 *   setEnv(json)                       dispatch.js: the worker's env bindings
 *   registerModule(namespace)          dispatch.js: after the main module ran
 *   dispatch(reqId, method, url, headerText, bodyId, length)   dispatch.js; bodyId 0: no body
 *   abort(reqId)                       dispatch.js: the client went away
 *   writable(reqId)                    dispatch.js: a write told to wait may go on
 *   bodyReady(bodyId)                  streams.js: host body bodyId has what a read waited for
 *   fetchResponse(id, status, statusText, headerText, finalUrl, bodyId, length), fetchDone(id, err, message)
 *                                      fetch.js
 */
const entry = Object.create(null);
export default entry;
