/*
 * domexception.js - DOMException (WebIDL), the error type most Web APIs
 * throw. It is a real Error subclass, as in Workers and browsers, so
 * `instanceof Error` holds and engines give it a stack; name, message and
 * code are prototype getters over private fields, as WebIDL specifies.
 *
 * It also exports the two WebIDL helpers every module installs its
 * interfaces with, since this module is evaluated first.
 */

/* Installs a global as web platforms do: writable, configurable, not enumerable. */
export function defineGlobal(name, value) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

/* Names an interface class (esbuild may rename classes in the bundle, e.g.
 * to _AbortSignal), sets its Symbol.toStringTag and installs it globally
 * unless global is false. */
export function exposeInterface(name, C, global = true) {
  Object.defineProperty(C, "name", { value: name, configurable: true });
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
  if (global) defineGlobal(name, C);
}

/* The legacy code of each name; names not listed have code 0. */
const CODES = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

const CONSTANTS = {
  INDEX_SIZE_ERR: 1,
  DOMSTRING_SIZE_ERR: 2,
  HIERARCHY_REQUEST_ERR: 3,
  WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5,
  NO_DATA_ALLOWED_ERR: 6,
  NO_MODIFICATION_ALLOWED_ERR: 7,
  NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9,
  INUSE_ATTRIBUTE_ERR: 10,
  INVALID_STATE_ERR: 11,
  SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13,
  NAMESPACE_ERR: 14,
  INVALID_ACCESS_ERR: 15,
  VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17,
  SECURITY_ERR: 18,
  NETWORK_ERR: 19,
  ABORT_ERR: 20,
  URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22,
  TIMEOUT_ERR: 23,
  INVALID_NODE_TYPE_ERR: 24,
  DATA_CLONE_ERR: 25,
};

export class DOMException extends Error {
  #name;
  #message;

  /* new DOMException(message = "", name = "Error"), or the newer
   * new DOMException(message, { name, cause }). */
  constructor(message = undefined, options = undefined) {
    super();
    this.#message = message === undefined ? "" : String(message);
    if (options !== null && typeof options === "object") {
      this.#name = options.name === undefined ? "Error" : String(options.name);
      if ("cause" in options) {
        Object.defineProperty(this, "cause", { value: options.cause, writable: true, configurable: true, enumerable: false });
      }
    } else {
      this.#name = options === undefined ? "Error" : String(options);
    }
  }

  get name() {
    return this.#name;
  }

  get message() {
    return this.#message;
  }

  get code() {
    // Reading the field first makes a foreign `this` throw a TypeError.
    const name = this.#name;
    return Object.hasOwn(CODES, name) ? CODES[name] : 0;
  }
}

for (const [key, value] of Object.entries(CONSTANTS)) {
  const desc = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, key, desc);
  Object.defineProperty(DOMException.prototype, key, desc);
}
for (const key of ["name", "message", "code"]) {
  const desc = Object.getOwnPropertyDescriptor(DOMException.prototype, key);
  desc.enumerable = true;
  Object.defineProperty(DOMException.prototype, key, desc);
}
exposeInterface("DOMException", DOMException);
