/*
 * webapi_url_idna.js - URL hosts and the lazily loaded tr46
 * (src/runtime/js/url_idna.js): plain ASCII hosts are lowercased without
 * tr46, every other host loads tr46's chunk on first use, and the results
 * are those whatwg-url gave with tr46 in the prelude (the expected values
 * below were taken from that build, and agree with Node's URL). Run by
 * tests/runtime/test_webapi.c through `isolde run`, in a fresh isolate:
 * one line per check, "ok N" last; the first failing check throws.
 *
 * Each kind of host runs first with tr46 not loaded (the first kind in a
 * fresh clone of the base snapshot, the others after the test hook made
 * the isolate forget tr46), then again, then once more after all kinds
 * have run. The shortcut is also compared with tr46 itself on generated
 * ASCII domains.
 */
import { check, eq, group, done } from "./lib/assert.js";

const hookKey = Object.getOwnPropertySymbols(globalThis).find((s) => s.description === "isolde.idna");
if (!hookKey) throw new Error("FAIL: no isolde.idna hook on globalThis (is url_idna.js in the prelude?)");
const hook = globalThis[hookKey];

/* Taken before anything here can have parsed a host. */
const loadedAtStart = hook.loaded();

/* Every input is parsed against a base, which absolute URLs ignore: that
 * keeps url_fast.js's cache (of inputs parsed without a base) out of the
 * way, so that every run reaches the host parser. */
const BASE = "http://base.example/";
const parse = (input) => new URL(input, BASE);
const errorName = (fn) => {
  try {
    fn();
    return "no error";
  } catch (e) {
    return e.name;
  }
};
const host = (input) => {
  try {
    return parse(input).host;
  } catch (e) {
    return e.name;
  }
};

/* Each kind: what it runs, what it must give, and whether it needs tr46. */
const KINDS = {
  "uppercase ASCII hosts": {
    loads: false,
    run: () => [
      host("http://EXAMPLE.COM/"), // the fast path
      host("http://User@EXAMPLE.COM:8080/p"), // the state machine (userinfo)
      host("http://ex%41mple.COM./"), // percent-decoded, empty last label
      parse("HTTPS://WWW.Example.ORG").hostname,
      host("http://A-B.C_D/"),
      URL.canParse("http://Upper.Case/", BASE),
      (() => {
        const u = new URL("http://a/");
        u.host = "SUB.EXAMPLE.NET"; // the host setter
        return u.host;
      })(),
      host("http://XNA--B.com/"), // not an "xn--" label
    ],
    want: ["example.com", "example.com:8080", "example.com.", "www.example.org", "a-b.c_d", true, "sub.example.net", "xna--b.com"],
  },
  "non-ASCII hosts": {
    loads: true,
    run: () => [
      host("http://BÜcher.de/"),
      host("http://例子.测试/"),
      host("http://Ünïcode.example/x"),
      host("https://straße.de/"),
      host("http://ＥＸＡＭＰＬＥ．com/"), // full-width letters and dot map to ASCII
      host("http://a.b\u3002c/"), // an ideographic full stop separates labels
      (() => {
        const u = new URL("http://a/");
        u.hostname = "Bücher.de";
        return u.host;
      })(),
    ],
    want: ["xn--bcher-kva.de", "xn--fsqu00a.xn--0zwm56d", "xn--ncode-cta3g.example", "xn--strae-oqa.de", "example.com", "a.b.c", "xn--bcher-kva.de"],
  },
  "xn-- hosts": {
    loads: true,
    run: () => [
      host("http://xn--bcher-kva.de/"),
      host("http://XN--BCHER-KVA.DE/"),
      host("http://www.xn--fsqu00a.xn--0zwm56d/"),
      host("http://Xn--Nxasmq6b.COM/"),
      host("http://xn--ls8h.la/"),
    ],
    want: ["xn--bcher-kva.de", "xn--bcher-kva.de", "www.xn--fsqu00a.xn--0zwm56d", "xn--nxasmq6b.com", "xn--ls8h.la"],
  },
  "invalid IDNA hosts": {
    loads: true,
    run: () => [
      errorName(() => parse("http://xn--a.com/")), // bad punycode
      errorName(() => parse("http://a\u200Db/")), // a joiner out of context
      errorName(() => parse("http://\u0301a.com/")), // a label starting with a combining mark
      errorName(() => parse("http://a.xn--/")),
      errorName(() => parse("http://xn--zz/")),
      URL.canParse("http://xn--bcher-kva.xn--/", BASE),
    ],
    want: ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError", false],
  },
  "right-to-left hosts": {
    loads: true,
    run: () => [host("http://مثال.إختبار/"), host("http://שלום.עולם.org/"), host("http://\u05D0a.com/")],
    want: ["xn--mgbh0fb.xn--kgbechtv", "xn--9dbne9b.xn--9dbodr.org", "TypeError"],
  },
};

await group("hosts before and after tr46 loads", () => {
  check(!loadedAtStart, "a fresh isolate has not loaded tr46 (it is not in the base snapshot)");
  const globalsBefore = Reflect.ownKeys(globalThis).map(String);
  /* A tenant's own eval must play no part in loading. */
  const tenantEval = globalThis.eval;
  let evalCalls = 0;
  globalThis.eval = () => {
    evalCalls++;
    throw new Error("the tenant's eval was called");
  };
  let first = true;
  for (const [name, kind] of Object.entries(KINDS)) {
    if (!first) hook.unload();
    first = false;
    eq(hook.loaded(), false, `${name}: tr46 not loaded yet`);
    eq(JSON.stringify(kind.run()), JSON.stringify(kind.want), `${name}, first`);
    eq(hook.loaded(), kind.loads, `${name} ${kind.loads ? "load" : "do not load"} tr46`);
    eq(JSON.stringify(kind.run()), JSON.stringify(kind.want), `${name}, again`);
  }
  for (const [name, kind] of Object.entries(KINDS)) {
    eq(JSON.stringify(kind.run()), JSON.stringify(kind.want), `${name}, with tr46 loaded`);
  }
  eq(evalCalls, 0, "the loader does not call the global eval");
  globalThis.eval = tenantEval;
  const added = Reflect.ownKeys(globalThis)
    .map(String)
    .filter((k) => !globalsBefore.includes(k));
  eq(added.join(), "", "loading tr46 defines no global");
});

await group("the ASCII shortcut agrees with tr46", () => {
  /* whatwg-url's options (beStrict false) */
  const options = {
    checkHyphens: false,
    checkBidi: true,
    checkJoiners: true,
    useSTD3ASCIIRules: false,
    transitionalProcessing: false,
    verifyDNSLength: false,
    ignoreInvalidPunycode: false,
  };
  const tr46 = hook.tr46();
  const pieces = ["a", "Z", "0", "9", "-", ".", ".", "_", "%", " ", "\t", "\x00", "\x7f", "~", "XN--", "xn--", "Xn-", "-", "bcher-kva", "ls8h", "ab", "QQ"];
  let seed = 7;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  let compared = 0;
  let shortcut = 0;
  const differ = [];
  for (let k = 0; k < 2000; k++) {
    let domain = "";
    for (let n = random(8); n > 0; n--) domain += pieces[random(pieces.length)];
    const got = hook.toASCII(domain, options);
    const want = tr46.toASCII(domain, options);
    compared++;
    if (!/(?:^|\.)xn--/i.test(domain)) shortcut++;
    if (got !== want) differ.push(`${JSON.stringify(domain)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
  }
  eq(differ.slice(0, 3).join("; "), "", `${compared} ASCII domains map as tr46 maps them`);
  check(shortcut > 1000 && shortcut < compared, `the shortcut took ${shortcut} of them, tr46 the others`);
  eq(hook.toASCII("A.B", { ...options, useSTD3ASCIIRules: true }), "a.b", "strict options go to tr46");
  eq(hook.toASCII("-a.b", { ...options, checkHyphens: true }), null, "strict options apply tr46's checks");
});

done();
