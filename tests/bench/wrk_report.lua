-- SPDX-License-Identifier: MIT
-- Shared done() for the wrk scripts of http_bench.sh: one machine-readable
-- line. Only 2xx responses count as served requests: status_errors are the
-- non-2xx/3xx responses wrk saw (http_bench.sh subtracts them).
function bench_done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
