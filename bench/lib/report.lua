-- report.lua - wrk's done() hook: one JSON line with throughput, errors
-- and latency percentiles in ms. wrk applies its coordinated-omission
-- correction to these percentiles before done() runs; max is raw.
done = function(summary, latency, requests)
  local us = function(p) return latency:percentile(p) / 1000 end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"errors":%d,"non2xx":%d,'
      .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), errors,
    summary.errors.status, us(50), us(90), us(99), latency.max / 1000, latency.mean / 1000))
end
