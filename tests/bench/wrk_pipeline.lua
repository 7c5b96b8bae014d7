-- SPDX-License-Identifier: MIT
-- HttpArena "pipelined" profile: 16 x GET /pipeline joined into one write;
-- wrk counts every response and writes the next 16 once all came back.
package.path = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") .. "?.lua;" .. package.path
require "wrk_report"

local depth = tonumber(os.getenv("BENCH_PIPELINE_DEPTH") or "16")
local batch

init = function(args)
   local one = "GET /pipeline HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
   batch = string.rep(one, depth)
end

request = function()
   return batch
end

done = bench_done
