-- SPDX-License-Identifier: MIT
-- One fixed request per connection at a time: GET $BENCH_PATH with the
-- headers of the HttpArena request files (json: requests/json-get.raw,
-- compression: requests/json-gzip.raw, with Accept-Encoding: gzip).
-- No request() function: wrk builds the request once (static).
package.path = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") .. "?.lua;" .. package.path
require "wrk_report"

wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/json"
wrk.headers["Host"] = "localhost:8080"
if os.getenv("BENCH_GZIP") == "1" then
   wrk.headers["Accept-Encoding"] = "gzip"
end

done = bench_done
