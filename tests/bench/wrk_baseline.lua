-- SPDX-License-Identifier: MIT
-- HttpArena "baseline" profile: the three requests of requests/get.raw,
-- post_cl.raw and post_chunked.raw, in turn on every connection, one
-- request in flight per connection (no pipelining).
package.path = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") .. "?.lua;" .. package.path
require "wrk_report"

local reqs = {
   "GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
   "POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n20",
   "POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n20\r\n0\r\n\r\n",
}
local i = 0

request = function()
   i = i % 3 + 1
   return reqs[i]
end

done = bench_done
