/*
 * bundle_prelude.mjs - bundles the in-isolate prelude (src/runtime/js) into
 * one script with esbuild's JS API, and tr46 into a chunk of its own that
 * the prelude loads only when a host needs it; the Makefile runs it as
 *
 *   node tools/bundle_prelude.mjs src/runtime/js/index.js build/gen/prelude.js \
 *        src/runtime/js/lazy_tr46.js build/gen/lazy_tr46.chunk
 *
 * The prelude is what the esbuild command line made (IIFE, es2022, no
 * legal comments) plus what the command line cannot do, in two plugins:
 *
 * - whatwg-url's own `require("./url-state-machine")` (from
 *   lib/URL-impl.js and index.js) goes to src/runtime/js/url_fast.js. That
 *   module wraps the state machine's basicURLParse with a fast path for
 *   common URLs, because the state machine is very slow under QuickJS (see
 *   url_fast.js). url_fast.js imports the original file by its package
 *   path, which the plugin leaves alone.
 * - the state machine's `require("tr46")` goes to src/runtime/js/
 *   url_idna.js, which lowercases plain ASCII hosts itself and loads tr46
 *   from the chunk for the rest. tr46 (its 140 KB mapping table and 72 KB
 *   of Unicode regexes) and punycode must then be absent from the
 *   prelude: the build checks that they are.
 *
 * The chunk bundles lazy_tr46.js (tr46's exports) with tr46's data files
 * replaced by the re-encoded modules of tools/tr46_compact.mjs, and is
 * written as code (a function of the data that returns those exports),
 * a marker line, and the data text, which never goes through the JS
 * parser: url_idna.js evaluates the code and calls it with the data.
 * Going through the resolver keeps node_modules untouched. A build where
 * a redirect or a replacement did not happen fails, since the result
 * would silently differ.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as esbuild from "../node_modules/esbuild/lib/main.js";
import { ChunkData, DATA, mappingTableModule, regexesModule } from "./tr46_compact.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [entry, outfile, chunkEntry, chunkOutfile] = process.argv.slice(2);
if (!entry || !outfile || !chunkEntry || !chunkOutfile) {
  console.error("usage: node tools/bundle_prelude.mjs ENTRY.js OUT.js TR46_ENTRY.js TR46_OUT.chunk");
  process.exit(2);
}

const nodeModules = path.join(root, "node_modules");
const whatwgURL = path.join(nodeModules, "whatwg-url");
const stateMachine = path.join(whatwgURL, "lib", "url-state-machine.js");
const urlFast = path.join(root, "src", "runtime", "js", "url_fast.js");
const urlIdna = path.join(root, "src", "runtime", "js", "url_idna.js");
const tr46Lib = path.join(nodeModules, "tr46", "lib");

function die(message) {
  console.error(`bundle_prelude: ${message}`);
  process.exit(1);
}

/* ---- the prelude ------------------------------------------------------------------- */

/* Only whatwg-url's relative imports of its state machine, and the state
 * machine's import of tr46, are redirected; everything else (including
 * url_fast.js's own import of the original) resolves as usual. */
const redirected = { urlFast: 0, idna: 0 };
const urlPlugin = {
  name: "isolde-url",
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/(lib\/)?url-state-machine(\.js)?$/ }, (args) => {
      if (!args.importer.startsWith(whatwgURL + path.sep)) return undefined;
      redirected.urlFast++;
      return { path: urlFast };
    });
    build.onResolve({ filter: /^tr46$/ }, (args) => {
      if (args.importer !== stateMachine) return undefined;
      redirected.idna++;
      return { path: urlIdna };
    });
  },
};

let result;
try {
  result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "iife",
    target: "es2022",
    legalComments: "none",
    logLevel: "warning",
    outfile,
    metafile: true,
    plugins: [urlPlugin],
  });
} catch {
  process.exit(1); // esbuild has printed the errors
}
if (redirected.urlFast === 0) die("whatwg-url's url-state-machine import was not redirected to url_fast.js");
if (redirected.idna === 0) die("whatwg-url's tr46 import was not redirected to url_idna.js");
for (const input of Object.keys(result.metafile.inputs)) {
  if (/(^|\/)node_modules\/(tr46|punycode)\//.test(input)) die(`${input} is in the prelude: it belongs in the tr46 chunk`);
}

/* ---- the tr46 chunk ---------------------------------------------------------------- */

/* The chunk's layout, which url_idna.js reads: code, then this marker,
 * then data text. The code is one expression, a function that takes the
 * data text and returns the exports; evaluating it defines no global. */
const DATA_MARKER = "\n//@isolde-chunk-data\n";

/* tr46's data files, as tools/tr46_compact.mjs re-encodes them (and checks
 * them against the originals), their strings in the chunk's data. */
const data = new ChunkData();
const require = createRequire(path.join(tr46Lib, "x.js"));
const replaced = new Map([
  [path.join(tr46Lib, "mappingTable.json"), () => mappingTableModule(require("./mappingTable.json"), data)],
  [path.join(tr46Lib, "regexes.js"), () => regexesModule(require("./regexes.js"), data)],
]);
const done = new Set();
const tr46DataPlugin = {
  name: "isolde-tr46-data",
  setup(build) {
    build.onLoad({ filter: /[\\/]tr46[\\/]lib[\\/](mappingTable\.json|regexes\.js)$/ }, (args) => {
      const make = replaced.get(args.path);
      if (!make) return undefined;
      done.add(args.path);
      return { contents: make(), loader: "js" };
    });
  },
};

let chunk;
try {
  chunk = await esbuild.build({
    entryPoints: [chunkEntry],
    bundle: true,
    format: "cjs",
    target: "es2022",
    legalComments: "none",
    logLevel: "warning",
    minify: true,
    write: false,
    plugins: [tr46DataPlugin],
  });
} catch (e) {
  if (!e.errors) console.error(e); // a failed check in tr46_compact.mjs
  process.exit(1);
}
if (done.size !== replaced.size) die("tr46's mappingTable.json or regexes.js was not replaced in the chunk");
/* "0, function" rather than parentheses: QuickJS would lex the whole body
 * once more to see whether a parenthesis starts an arrow function. */
const code = `0, function (${DATA}) {
var module = { exports: {} };
${chunk.outputFiles[0].text}return module.exports;
}`;
const dataText = data.text();
if (code.includes(DATA_MARKER)) die("the tr46 chunk's code holds the data marker");
fs.writeFileSync(chunkOutfile, code + DATA_MARKER + dataText);
