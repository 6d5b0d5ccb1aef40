// report.mjs - turn one bench/run's samples into results, charts and docs.
//
//   node bench/lib/report.mjs RUN_DIR DATE
//
// Reads RUN_DIR/samples.jsonl (one object per sample), notes.jsonl and
// meta.json; writes bench/results/DATE.json (every sample plus the
// summary), bench/results/latest.json (medians), three PNG charts
// (bench/results/*.png, gnuplot), docs/benchmarks.md, and prints the
// summary table: min / median per runtime and Isolde's ratio to workerd
// and to Node (median over median).
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";

const [runDir, date] = process.argv.slice(2);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const readLines = (f) =>
  fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
const samples = readLines(path.join(runDir, "samples.jsonl"));
const notes = readLines(path.join(runDir, "notes.jsonl"));
const meta = JSON.parse(fs.readFileSync(path.join(runDir, "meta.json"), "utf8"));
const RT = ["isolde", "workerd", "node"];

// [latest.json path, scenario, field, unit, what, better]
const METRICS = [
  ["hello.rps", "hello", "rps", "req/s", "hello world: throughput", "higher"],
  ["hello.p50_ms", "hello", "p50_ms", "ms", "hello world: latency p50 (wrk, CO-corrected)", "lower"],
  ["hello.p99_ms", "hello", "p99_ms", "ms", "hello world: latency p99 (wrk, CO-corrected)", "lower"],
  ["hello.max_ms", "hello", "max_ms", "ms", "hello world: latency max (raw)", "lower"],
  ["hello.rss_idle_mb", "hello", "rss_idle_mb", "MB", "hello world: RSS idle", "lower"],
  ["hello.rss_mb", "hello", "rss_load_mb", "MB", "hello world: peak RSS under load", "lower"],
  ["json.rps", "json", "rps", "req/s", "JSON worker: throughput", "higher"],
  ["json.p50_ms", "json", "p50_ms", "ms", "JSON worker: latency p50 (CO-corrected)", "lower"],
  ["json.p99_ms", "json", "p99_ms", "ms", "JSON worker: latency p99 (CO-corrected)", "lower"],
  ["json.max_ms", "json", "max_ms", "ms", "JSON worker: latency max (raw)", "lower"],
  ["json.rss_idle_mb", "json", "rss_idle_mb", "MB", "JSON worker: RSS idle", "lower"],
  ["json.rss_mb", "json", "rss_load_mb", "MB", "JSON worker: peak RSS under load", "lower"],
  ["proxy.rps", "proxy", "rps", "req/s", "proxy worker: throughput", "higher"],
  ["proxy.p50_ms", "proxy", "p50_ms", "ms", "proxy worker: latency p50 (CO-corrected)", "lower"],
  ["proxy.p99_ms", "proxy", "p99_ms", "ms", "proxy worker: latency p99 (CO-corrected)", "lower"],
  ["proxy.max_ms", "proxy", "max_ms", "ms", "proxy worker: latency max (raw)", "lower"],
  ["proxy.rss_mb", "proxy", "rss_load_mb", "MB", "proxy worker: peak RSS under load", "lower"],
  ["pass.rps", "pass", "rps", "req/s", "pass-through (return fetch(request)): throughput", "higher"],
  ["pass.p50_ms", "pass", "p50_ms", "ms", "pass-through: latency p50 (CO-corrected)", "lower"],
  ["pass.p99_ms", "pass", "p99_ms", "ms", "pass-through: latency p99 (CO-corrected)", "lower"],
  ["pass.max_ms", "pass", "max_ms", "ms", "pass-through: latency max (raw)", "lower"],
  ["pass.rss_mb", "pass", "rss_load_mb", "MB", "pass-through: peak RSS under load", "lower"],
  ["startup_ms", "startup", "startup_ms", "ms", "launch to first 200", "lower"],
  ["startup_busy_ms", "startbusy", "startup_ms", "ms", "launch to first 200, 4 busy processes beside it", "lower"],
  ["startup_busy_failed", "startbusy_failed", "failed_starts", "launches", "failed launches, 4 busy processes beside them", "lower"],
  ["run_cpu_ms", "runcpu", "cpu_ms", "ms", "CPU to run a one-line script (isolde run, node)", "lower"],
  ["tenants_1.ready_s", "tenants_1", "ready_s", "s", "1 tenant: launch until it served", "lower"],
  ["tenants_1.rss_mb", "tenants_1", "rss_mb", "MB", "1 tenant: RSS", "lower"],
  ["tenants_100.ready_s", "tenants_100", "ready_s", "s", "100 tenants: launch until all served", "lower"],
  ["tenants_100.rss_mb", "tenants_100", "rss_mb", "MB", "100 tenants: RSS", "lower"],
  ["tenants_100.per_tenant_kb", "tenants_100", "per_tenant_kb", "KB", "100 tenants: RSS per tenant", "lower"],
  ["tenants_1000.ready_s", "tenants_1000", "ready_s", "s", "1,000 tenants: launch until all served", "lower"],
  ["tenants_1000.rss_mb", "tenants_1000", "rss_mb", "MB", "1,000 tenants: RSS", "lower"],
  ["tenants_1000.per_tenant_kb", "tenants_1000", "per_tenant_kb", "KB", "1,000 tenants: RSS per tenant", "lower"],
  ["tenants_10000.ready_s", "tenants_10000", "ready_s", "s", "10,000 tenants: launch until all served", "lower"],
  ["tenants_10000.rss_mb", "tenants_10000", "rss_mb", "MB", "10,000 tenants: RSS", "lower"],
  ["tenants_10000.per_tenant_kb", "tenants_10000", "per_tenant_kb", "KB", "10,000 tenants: RSS per tenant", "lower"],
  ["cold_start_first_ms", "cold", "first_ms", "ms", "new tenant on a warm server: 1st request", "lower"],
  ["cold_start_second_ms", "cold", "second_ms", "ms", "new tenant on a warm server: 2nd request", "lower"],
  ["noisy_alone_p99_ms", "noisy", "p99_alone_ms", "ms", "quiet tenant p99 alone (CO-corrected)", "lower"],
  ["noisy_p99_ms", "noisy", "p99_noisy_ms", "ms", "quiet tenant p99 next to a noisy one (CO-corrected)", "lower"],
  ["noisy_max_ms", "noisy", "max_noisy_ms", "ms", "quiet tenant max next to a noisy one (raw)", "lower"],
  ["noisy_neighbour_rps", "noisy", "noisy_rps", "req/s", "noisy tenant's own throughput (fib(25) each)", "higher"],
  ["fib27_ms", "compute", "fib27_ms", "ms", "fib(27) in a request handler (round trip)", "lower"],
  ["jsonrt_ms", "compute", "jsonrt_ms", "ms", "JSON round trip x10 in a handler (round trip)", "lower"],
  ["baseline_rtt_ms", "compute", "baseline_ms", "ms", "trivial request round trip, one connection", "lower"],
  ["fib27_run_ms", "compute_run", "fib27_run_ms", "ms", "fib(27), script runner (isolde run / node)", "lower"],
  ["jsonrt_run_ms", "compute_run", "jsonrt_run_ms", "ms", "JSON round trip x10, script runner", "lower"],
];

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (v) => (v == null ? null : Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100);

const summary = {};
for (const [key, sc, field, unit, what, better] of METRICS) {
  const row = { scenario: sc, field, unit, what, better, runtimes: {} };
  for (const rt of RT) {
    const v = samples.filter((s) => s.scenario === sc && s.runtime === rt && typeof s[field] === "number").map((s) => s[field]);
    if (v.length) row.runtimes[rt] = { n: v.length, min: Math.min(...v), median: median(v), max: Math.max(...v) };
  }
  if (Object.keys(row.runtimes).length) summary[key] = row;
}
const ratio = (row, other) => {
  const a = row.runtimes.isolde?.median, b = row.runtimes[other]?.median;
  return a != null && b ? a / b : null;
};

// latest.json: medians, nested by the dotted key.
const scenarios = {};
for (const [key, row] of Object.entries(summary)) {
  const parts = key.split(".");
  let o = scenarios;
  for (const p of parts.slice(0, -1)) o = o[p] ??= {};
  o[parts.at(-1)] = Object.fromEntries(Object.entries(row.runtimes).map(([rt, s]) => [rt, round(s.median)]));
}
const allNotes = [
  ...notes.map((n) => `${n.scenario} / ${n.runtime}: ${n.note}`),
  // Scenarios where a runtime produced nothing and no note says why.
  ...[...new Set(METRICS.map((m) => m[1]))].flatMap((sc) =>
    RT.filter(
      (rt) =>
        samples.some((s) => s.scenario === sc) &&
        !samples.some((s) => s.scenario === sc && s.runtime === rt) &&
        !notes.some((n) => n.scenario === sc && n.runtime === rt),
    ).map((rt) => `${sc} / ${rt}: no samples (see the run's logs)`),
  ),
];
const latest = { date, quick: meta.quick, meta, scenarios, notes: allNotes };
const resDir = path.join(root, "bench/results");
fs.mkdirSync(resDir, { recursive: true });
fs.writeFileSync(path.join(resDir, `${date}.json`), JSON.stringify({ date, meta, summary, notes: allNotes, samples }, null, 1) + "\n");
fs.writeFileSync(path.join(resDir, "latest.json"), JSON.stringify(latest, null, 2) + "\n");

// The table.
const fmt = (v) => (v == null ? "-" : v >= 1000 ? Math.round(v).toLocaleString("en-US") : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fr = (r) => (r == null ? "-" : r.toFixed(2) + "x");
const cell = (row, rt) => (row.runtimes[rt] ? `${fmt(row.runtimes[rt].min)} / ${fmt(row.runtimes[rt].median)}` : "-");
const verdict = (row) => {
  const ws = ["workerd", "node"].filter((o) => ratio(row, o) != null);
  const loses = ws.filter((o) => (row.better === "higher" ? ratio(row, o) < 0.95 : ratio(row, o) > 1.05));
  return loses.length ? "loses to " + loses.join(", ") : ws.length ? "" : "";
};
const header = ["what", "unit", "isolde min / med", "workerd min / med", "node min / med", "isolde/workerd", "isolde/node", ""];
const rows = Object.values(summary).map((row) => [
  row.what, row.unit, cell(row, "isolde"), cell(row, "workerd"), cell(row, "node"), fr(ratio(row, "workerd")), fr(ratio(row, "node")), verdict(row),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log("\n" + line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
if (allNotes.length) console.log("\nnotes:\n" + allNotes.map((n) => "  - " + n).join("\n"));
console.log(`\nwrote bench/results/${date}.json, bench/results/latest.json, docs/benchmarks.md`);

// Charts (gnuplot): throughput, p99, memory per tenant.
const charts = [];
function chart(file, title, ylabel, keys, labels, logscale = false) {
  const have = keys.filter((k) => summary[k]);
  if (!have.length) return;
  const dat = path.join(runDir, file + ".dat");
  fs.writeFileSync(
    dat,
    "label " + RT.join(" ") + "\n" +
      have.map((k) => `"${labels[keys.indexOf(k)]}" ` + RT.map((rt) => summary[k].runtimes[rt]?.median ?? "NaN").join(" ")).join("\n") + "\n",
  );
  const png = path.join(resDir, file + ".png");
  const script = [
    "set terminal pngcairo size 800,420 font 'sans,10'",
    `set output '${png}'`,
    `set title '${title}'`,
    `set ylabel '${ylabel}'`,
    "set style data histograms",
    "set style histogram clustered gap 1",
    "set style fill solid 0.8 border -1",
    "set key top left",
    "set grid ytics",
    "set yrange [0:*]",
    logscale ? "set logscale y; set yrange [*:*]" : "",
    `plot '${dat}' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4)`,
  ].join("\n");
  try {
    execFileSync("gnuplot", { input: script });
    charts.push([file + ".png", title]);
  } catch (e) {
    console.error("gnuplot failed for " + file + ": " + e.message);
  }
}
chart("throughput", "Throughput, median (req/s, higher is better)", "requests/s", ["hello.rps", "json.rps", "proxy.rps", "pass.rps"], ["hello", "json", "proxy", "pass"]);
chart(
  "p99",
  "Latency p99, median (ms, wrk CO-corrected; log scale, lower is better)",
  "ms",
  ["hello.p99_ms", "json.p99_ms", "proxy.p99_ms", "pass.p99_ms", "noisy_alone_p99_ms", "noisy_p99_ms"],
  ["hello", "json", "proxy", "pass", "quiet alone", "quiet + noisy"],
  true,
);
chart(
  "memory_per_tenant",
  "RSS per tenant (KB, lower is better)",
  "KB per tenant",
  ["tenants_100.per_tenant_kb", "tenants_1000.per_tenant_kb", "tenants_10000.per_tenant_kb"],
  ["100 tenants", "1,000 tenants", "10,000 tenants"],
);

// docs/benchmarks.md
const mdRows = Object.values(summary)
  .map((row) => `| ${row.what} | ${row.unit} | ${cell(row, "isolde")} | ${cell(row, "workerd")} | ${cell(row, "node")} | ${fr(ratio(row, "workerd"))} | ${fr(ratio(row, "node"))} | ${verdict(row)} |`)
  .join("\n");
const losses = Object.values(summary).filter((r) => verdict(r));
const md = `# Benchmarks: Isolde, workerd and Node.js

Generated by \`bench/run\` from \`bench/results/latest.json\` (do not edit by
hand; run \`bench/run\` or \`bench/run --quick\` to regenerate).

**This run:** ${date}${meta.quick ? ", a `--quick` run (short samples, few repetitions: orders of magnitude, not final figures)" : ", a full run"};
Isolde ${meta.isolde_commit}, ${meta.workerd} (npm \`workerd\` pinned in
\`bench/lib/workerd/package-lock.json\`), Node ${meta.node}, wrk ${meta.wrk},
Linux ${meta.kernel}, ${meta.cpus} CPUs; ${meta.reps} repetitions per runtime,
interleaved (isolde, workerd, node, isolde, ...); wrk \`-t1 -c${meta.connections}\`,
${meta.warmup_s} s warm-up then ${meta.duration_s} s measured, on loopback.

## Summary

Each cell is **min / median** over the samples; the ratios are Isolde's
median over the other runtime's median (for req/s above 1 is better, for
everything else below 1 is better). The last column says where Isolde
loses (by more than 5 %).

| what | unit | isolde | workerd | node | isolde/workerd | isolde/node | |
|---|---|---|---|---|---|---|---|
${mdRows}

${charts.map(([f, t]) => `![${t}](../bench/results/${f})`).join("\n\n")}

## Where Isolde loses

${losses.length ? losses.map((r) => `- ${r.what}: ${verdict(r)} (isolde ${fmt(r.runtimes.isolde?.median)} ${r.unit}; workerd ${fmt(r.runtimes.workerd?.median)}; node ${fmt(r.runtimes.node?.median)})`).join("\n") : "- nowhere in this run (by more than 5 %)"}

## Notes from this run

${allNotes.length ? allNotes.map((n) => "- " + n).join("\n") : "- none"}

## How it is measured

- **Same code everywhere.** Every runtime runs the files in
  \`bench/workers/\` (ES modules, \`export default { fetch }\`). Isolde
  serves them with \`isolde serve --config\` (one worker per tenant, routed by
  Host \`t<i>.localhost\`), workerd with a generated Cap'n Proto config (one
  service and **one socket per service**: workerd has no Host routing
  without a router worker, which would add a hop), Node with
  \`bench/lib/node_host.mjs\` (node:http; N tenants are N module instances
  in one process, routed by Host). Each runtime runs with its defaults:
  Isolde starts one HTTP loop thread per CPU (2 here), workerd and Node
  serve from one JS thread. wrk uses one thread, so the server and the
  client share the 2 CPUs.
- **Latency figures.** wrk 4 applies its coordinated-omission correction
  to the percentiles it reports (also those its Lua \`done()\` hook sees), so
  every p50/p99 here is **CO-corrected**; the max is raw. A raw
  (uncorrected) percentile is not recorded.
- **RSS.** \`VmRSS\` of the server process idle (after start), and \`VmHWM\`
  (peak RSS) after the load for "under load". Isolde's RSS includes the
  shared memfd pages of worker snapshots.
- **Start-up** is launch to the first 200 for \`/\` (polled every ms by
  \`bench/lib/probe.c\`; Node is started with \`NODE_EXTRA_CA_CERTS\` unset).
- **Many tenants** is launch until every tenant has answered one request,
  then RSS; per tenant = (RSS at N - RSS at 1) / (N - 1). 10,000 tenants
  are run for Isolde only (full run, and only if memory allows). Isolde's
  config sets \`memory_budget_mb\` high so no instance is evicted.
- **Cold start** starts a server with ${meta.quick ? "11" : "51"} tenants, warms tenant 0 with
  wrk, then for every other tenant sends two requests on one new connection
  (first = the tenant's first request ever, second = the next one). In all
  three runtimes the worker's script was already loaded at start-up
  (workerd and Node load every worker before listening; Isolde snapshots
  every worker at load), so this is the cost of a first request, not of a
  script load.
- **Noisy neighbour**: tenant t0 (hello) under wrk \`-c10\`, alone and then
  while tenant t1 answers every request with fib(25) under \`-c4\`. The
  noisy work is a fixed amount of computation, so a faster engine makes
  less noise; its own req/s is reported too.
- **Compute**: \`bench/workers/compute.js\` (\`/fib\` = fib(27), \`/jsonrt\` =
  stringify and parse a 1,000-record array 10 times) timed by the client
  as the round trip of one request on a keep-alive connection after 3
  warm-up requests, and \`/\` as the baseline. The handlers cannot time
  themselves in workerd (like Workers it does not advance the clock while
  JS runs). \`isolde run\` and \`node\` also run
  \`bench/workers/compute_run.js\`, which times itself.
- Benchmarks are not tests: nothing here runs in \`scripts/test.sh\`.

## Not measured cleanly

- **Raw percentiles.** wrk 4 only hands out CO-corrected percentiles;
  workerd's corrected p99 (~100+ ms) reflects its periodic full-GC pauses
  under load, which the correction multiplies. Only the max is raw.
- **10,000 tenants.** The full run starts them only if 1.5 x (Isolde's
  RSS per tenant at 1,000) x 10,000 fits in MemAvailable; at ~2.2 MB a
  tenant that is ~33 GB, more than this 24 GB machine has, so it is
  skipped with a note here.
- **Noisy neighbour** work is fixed (fib(25)), not fixed CPU time: it costs
  Isolde's interpreter ~4 ms and a JIT well under 1 ms, so the noise each
  runtime suffers differs. Isolde runs 2 loop threads, the others one.
- **Start-up and tenants** include each runtime's own loading strategy:
  all three load every worker before serving; Isolde maps its base
  snapshot (the JS prelude, evaluated at build time) and snapshots each
  worker as a layer over it; no request runs at load. "4 busy processes"
  are shell busy loops started for the scenario; a failed launch is one
  that did not answer 200 within 60 s. The one-line script's CPU is user
  plus system time of the whole process (wait4), 10 runs a repetition.
- Client and server share 2 CPUs; a loaded loopback on a shared VM is
  noisy, so compare ratios, not absolute figures.
`;
fs.writeFileSync(path.join(root, "docs/benchmarks.md"), md);
