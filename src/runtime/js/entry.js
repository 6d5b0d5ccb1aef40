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
 *   dispatch(reqId, method, url, headerText, hasBody)
 *   bodyChunk(reqId, data: ArrayBuffer), bodyEnd(reqId), abort(reqId)
 */
const entry = Object.create(null);
export default entry;
