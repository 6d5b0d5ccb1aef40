/*
 * bundle_prelude.mjs - bundles the in-isolate prelude (src/runtime/js) into
 * one script with esbuild's JS API; the Makefile runs it as
 *
 *   node tools/bundle_prelude.mjs src/runtime/js/index.js build/gen/prelude.js
 *
 * It does what the esbuild command line did (IIFE, es2022, no legal
 * comments) plus one thing the command line cannot: a plugin that points
 * whatwg-url's own `require("./url-state-machine")` (from lib/URL-impl.js
 * and index.js) at src/runtime/js/url_fast.js. That module wraps the
 * state machine's basicURLParse with a fast path for common URLs, because
 * the state machine is very slow under QuickJS (see url_fast.js). Going
 * through the resolver keeps node_modules untouched: url_fast.js imports
 * the original file by its package path, which the plugin leaves alone.
 */
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as esbuild from "../node_modules/esbuild/lib/main.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error("usage: node tools/bundle_prelude.mjs ENTRY.js OUT.js");
  process.exit(2);
}

const whatwgURL = path.join(root, "node_modules", "whatwg-url");
const urlFast = path.join(root, "src", "runtime", "js", "url_fast.js");

/* Only whatwg-url's relative imports of its state machine are redirected;
 * everything else (including url_fast.js's own import of the original)
 * resolves as usual. A build where the redirect never happened fails,
 * since the fast path would silently be missing. */
let redirected = 0;
const urlFastPlugin = {
  name: "isolde-url-fast",
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/(lib\/)?url-state-machine(\.js)?$/ }, (args) => {
      if (!args.importer.startsWith(whatwgURL + path.sep)) return undefined;
      redirected++;
      return { path: urlFast };
    });
  },
};

try {
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "iife",
    target: "es2022",
    legalComments: "none",
    logLevel: "warning",
    outfile,
    plugins: [urlFastPlugin],
  });
} catch {
  process.exit(1); // esbuild has printed the errors
}
if (redirected === 0) {
  console.error("bundle_prelude: whatwg-url's url-state-machine import was not redirected to url_fast.js");
  process.exit(1);
}
