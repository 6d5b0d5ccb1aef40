/*
 * webapi_url.js - URL and URLSearchParams as tenants use them (the WPT
 * conformance data is wpt_url.js). Run by tests/runtime/test_webapi.c
 * through `isolde run`: one line per check and per group, "ok N" last; the
 * first failing check throws.
 */
import { eq, throws, group, done } from "./lib/assert.js";

await group("URL", () => {
  const u = new URL("HTTPS://user:pa ss@EXAMPLE.com:443/a/./b/../c?q=1#frag");
  eq(u.href, "https://user:pa%20ss@example.com/a/c?q=1#frag", "href normalized");
  eq(u.origin, "https://example.com", "origin");
  eq(u.protocol, "https:", "protocol");
  eq(u.host, "example.com", "default port dropped");
  eq(u.pathname, "/a/c", "dot segments");
  eq(u.search, "?q=1", "search");
  eq(u.hash, "#frag", "hash");
  eq(new URL("../x?y", "http://h/a/b/c").href, "http://h/a/x?y", "relative against a base");
  eq(new URL("//other/p", "https://h/").href, "https://other/p", "scheme-relative");
  eq(new URL("http://xn--nxasmq6b.com/").hostname, "xn--nxasmq6b.com", "punycode host");
  eq(new URL("http://ÉXAMPLE.com/").hostname, "xn--xample-9ua.com", "IDNA to ASCII");
  eq(new URL("http://0x7f.1/").hostname, "127.0.0.1", "IPv4 number forms");
  eq(new URL("http://[::1]:8080/").host, "[::1]:8080", "IPv6");
  throws(() => new URL("no scheme"), TypeError, "an invalid URL");
  throws(() => new URL("/relative"), TypeError, "a relative URL without a base");
  throws(() => new URL("http://a b/"), TypeError, "a space in the host");
  eq(URL.canParse("https://a/"), true, "canParse true");
  eq(URL.canParse("x", "https://a/"), true, "canParse with a base");
  eq(URL.canParse("x"), false, "canParse false");
  eq(URL.parse("x"), null, "URL.parse gives null on failure");
  eq(URL.parse("/p", "http://h").href, "http://h/p", "URL.parse");
  eq(JSON.stringify({ u: new URL("http://h/") }), '{"u":"http://h/"}', "toJSON");
  eq(String(new URL("http://h/")), "http://h/", "toString");
  u.pathname = "/new path";
  eq(u.pathname, "/new%20path", "pathname setter encodes");
  u.port = "8443";
  eq(u.host, "example.com:8443", "port setter");
  u.protocol = "http";
  eq(u.protocol, "http:", "protocol setter");
  u.hash = "";
  eq(u.href.includes("#"), false, "empty hash removes the fragment");
  eq(Object.prototype.toString.call(u), "[object URL]", "toStringTag");
  eq(URL.name, "URL", "class name");
});

await group("searchParams", () => {
  const u = new URL("https://h/p?a=1&b=2&a=3");
  const sp = u.searchParams;
  eq(sp, u.searchParams, "the same object every time");
  eq(sp.get("a"), "1", "get first");
  eq(sp.getAll("a").join(), "1,3", "getAll");
  sp.append("c", "x y&z");
  eq(u.search, "?a=1&b=2&a=3&c=x+y%26z", "live: append updates the URL");
  sp.delete("a");
  eq(u.href, "https://h/p?b=2&c=x+y%26z", "live: delete");
  u.search = "?z=9";
  eq(sp.get("z"), "9", "live: the URL updates its params");
  eq(sp.has("b"), false, "old params gone");
  sp.set("z", "1");
  sp.append("y", "2");
  sp.sort();
  eq(u.search, "?y=2&z=1", "sort");
  eq(sp.size, 2, "size");
  eq(sp.has("z", "1"), true, "has with a value");
  sp.delete("z", "0");
  eq(sp.size, 2, "delete with a non-matching value keeps the entry");
});

await group("URLSearchParams", () => {
  eq(new URLSearchParams("?a=1&b=%20+x").get("b"), "  x", "parse from a string with a leading ?");
  eq(new URLSearchParams({ k: "v", n: 1 }).toString(), "k=v&n=1", "from a record");
  eq(new URLSearchParams([["a", "1"], ["a", "2"]]).getAll("a").join(), "1,2", "from pairs");
  eq(new URLSearchParams("é=ü").toString(), "%C3%A9=%C3%BC", "UTF-8 percent-encoding");
  eq(new URLSearchParams("a=%zz%41").get("a"), "%zzA", "bad escapes kept");
  eq(new URLSearchParams("a=b=c").get("a"), "b=c", "only the first = splits");
  eq([...new URLSearchParams("x=1&y=2").keys()].join(), "x,y", "keys");
  eq(new URLSearchParams("s= !'()~*").toString(), "s=+%21%27%28%29%7E*", "form encoding set");
  throws(() => new URLSearchParams([["a"]]), TypeError, "a pair with one item");
  eq(Object.prototype.toString.call(new URLSearchParams()), "[object URLSearchParams]", "toStringTag");
});

done();
