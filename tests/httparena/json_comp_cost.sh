#!/bin/bash
# json_comp_cost.sh BUILD [SECONDS] [CONNS] [ACCEPT-ENCODING]:
# httparena-server's CPU per request on json-comp's three templates
# (SPEC-HEAD.md 3.3: /json/25?m=4, /json/40?m=8, /json/50?m=6, 25 requests
# per connection, then an RST and a new connection) with
# "Accept-Encoding: ACCEPT-ENCODING" (default "gzip, br", the benchmark's;
# "-" for none: identity), and the bytes per response. Without
# Accept-Encoding it is the "fixed" per-request cost of
# tests/httparena/json_comp_bench.c (everything but the compression);
# with one it checks the bench's model end to end. HTTPARENA_BROTLI=Q:W
# in the environment sets the server's brotli setting.
# docs/json-comp-choice.md.
#
# The server runs with one reactor on CPU 1, zerg-load with one thread
# on CPU 0; both under flock /tmp/zg-bench.lock, so no other benchmark
# runs at the same time. CPU = the server's utime + stime
# (/proc/PID/stat) over a whole zerg-load run / the responses of that run.
set -euo pipefail
build=${1:?usage: json_comp_cost.sh BUILD [SECONDS] [CONNS] [ACCEPT-ENCODING]}
secs=${2:-8}
conns=${3:-256}
ae=${4:-gzip, br}
srv=$build/examples/httparena-server/httparena-server
gen=$build/examples/httparena-server/httparena-datagen
zl=$build/examples/load/zerg-load
for b in "$srv" "$gen" "$zl"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

tmp=$(mktemp -d /tmp/json_comp_cost.XXXXXX)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$gen" "$tmp/data" >/dev/null
for t in 25:4 40:8 50:6; do
	if [ "$ae" = - ]; then aeh=; else aeh="Accept-Encoding: $ae\r\n"; fi
	printf "GET /json/%s?m=%s HTTP/1.1\r\nHost: localhost:8080\r\n$aeh\r\n" \
		"${t%:*}" "${t#*:}" >"$tmp/json-gzip-${t%:*}.raw"
done
raws=$tmp/json-gzip-25.raw,$tmp/json-gzip-40.raw,$tmp/json-gzip-50.raw
port=$((20000 + RANDOM % 20000))

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

exec 9>/tmp/zg-bench.lock
flock 9
taskset -c 1 "$srv" --port "$port" --threads 1 --data "$tmp/data" >"$tmp/srv.log" 2>&1 &
spid=$!
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$port/baseline11?a=1&b=1" && break
	sleep 0.1
done
if [ "$ae" = - ]; then
	head=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/json/25?m=4" | wc -c)
else
	head=$(curl -s -D - -o /dev/null -H "Accept-Encoding: $ae" "http://127.0.0.1:$port/json/25?m=4" | wc -c)
fi
load=(taskset -c 0 "$zl" "http://127.0.0.1:$port" -c "$conns" -t 1 -r 25 --raw "$raws" --json)
"${load[@]}" -d 2 >/dev/null
hz=$(getconf CLK_TCK)
c0=$(cpu_ticks "$spid")
"${load[@]}" -d "$secs" >"$tmp/run.json"
c1=$(cpu_ticks "$spid")
python3 - "$tmp/run.json" "$c0" "$c1" "$hz" "$head" "$conns" "$secs" "$ae" "${HTTPARENA_BROTLI:-default}" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
c0, c1, hz, head = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print("accept_encoding='%s' brotli=%s" % (sys.argv[8], sys.argv[9]), end=" ")
t = d["totals"]
n = t["responses"]
cpu = (c1 - c0) / hz
print("conns=%s secs=%s responses=%d window_rps=%.0f ok=%d status_errors=%d reconnects=%d "
      "server_cpu_s=%.2f server_cpu_us_per_req=%.2f bytes_per_resp=%.0f head_bytes=%d" % (
      sys.argv[6], sys.argv[7], n, d["rps"], d["ok"], d["status_errors"], t["reconnects"], cpu,
      1e6 * cpu / n if n else 0, d["bytes"] / d["requests"] if d["requests"] else 0, head))
EOF
