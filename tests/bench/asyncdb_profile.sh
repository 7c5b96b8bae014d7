#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# async-db's pool under load (docs/async-db.md): requests/s and CPU per
# request for several pool sizes, and where the server's CPU goes (perf:
# what share is libpq's, what share the kernel's, ...).
#
#   asyncdb_profile.sh BUILD_DIR [--duration S] [--warmup S] [--conns N]
#                      [--max-conn "4 16 64 256"] [--reps N] [--perf]
#
# PostgreSQL (tests/httparena/pgcluster.py hold: its own cluster seeded
# as SPEC-HEAD 6.9 says) and zerg-load (one thread) on CPU 0,
# httparena-server --threads 1 on CPU 1, DATABASE_MAX_CONN from the list
# (one reactor: the whole budget is its share), a fresh server per run;
# the load is SPEC-HEAD 6.4's: async-db-{5,10,20,35,50}.raw, -r 25. Each
# repetition runs every pool size, the order rotating. --perf adds a run
# per pool size under `perf record` (its numbers are not in the table:
# perf costs CPU), then the share of the server's samples per DSO and
# its top symbols. Run it under flock /tmp/zg-bench.lock on a quiet
# machine. Prints the results; writes nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { sed -n '8,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
duration=8 warmup=2 conns=256 sizes="4 16 64 256" reps=3 perf=0
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--conns) conns=$2; shift ;;
	--max-conn) sizes=$2; shift ;;
	--reps) reps=$2; shift ;;
	--perf) perf=1 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
server=$build/examples/httparena-server/httparena-server
datagen=$build/examples/httparena-server/httparena-datagen
zl=$build/examples/load/zerg-load
arena=$here/../httparena
shared=$here/../../../shared/httparena
bench_need_bins "$server" "$datagen" "$zl"
[ -d "$shared/requests-head" ] || { echo "SKIP: no $shared/requests-head"; exit 77; }
server_cpu=1 load_cpu=0

bench_init
data=$BENCH_TMP/data
"$datagen" "$data" >/dev/null
files=$(for l in 5 10 20 35 50; do printf '%s,' "$shared/requests-head/async-db-$l.raw"; done)
files=${files%,}

# PostgreSQL on the load's CPU, held until this script exits
mkfifo "$BENCH_TMP/hold.in"
exec 7<>"$BENCH_TMP/hold.in" # held open (read-write: no blocking open)
# (not bench_spawn: a background command's stdin would be /dev/null)
taskset -c "$load_cpu" /usr/bin/python3 "$arena/pgcluster.py" hold "$shared/data/dataset-int.json" \
	--max-connections 300 <"$BENCH_TMP/hold.in" >"$BENCH_TMP/hold.out" 2>&1 &
hold_pid=$!
BENCH_PIDS+=("$hold_pid")
for ((i = 0; i < 1200; i++)); do
	grep -q '^READY$' "$BENCH_TMP/hold.out" 2>/dev/null && break
	kill -0 "$hold_pid" 2>/dev/null || { cat "$BENCH_TMP/hold.out"; grep -q '^SKIP' "$BENCH_TMP/hold.out" && exit 77; exit 1; }
	sleep 0.1
done
kv() { sed -n "s/^$1=//p" "$BENCH_TMP/hold.out"; }
db_url=$(kv DATABASE_URL) pg_pid=$(kv PG_PID)
[ -n "$db_url" ] || bench_die "PostgreSQL not ready"
bench_log "PostgreSQL pid $pg_pid on CPU $load_cpu; server on CPU $server_cpu; $conns connections, ${duration} s"

pg_pids() { echo "$pg_pid"; cat /proc/"$pg_pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }
# Summed utime + stime ticks of pids.
ticks() {
	local t=0 p v
	for p in "$@"; do
		v=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + v))
	done
	echo "$t"
}

port_base=19700
# run SIZE WHAT [perf]: one measured run; prints a result line
run() {
	local size=$1 what=$2 port log spid s0 s1 p0 p1 line pgn
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	log=$BENCH_TMP/server-$size.log
	bench_spawn "$server_cpu" "$log" env DATABASE_URL="$db_url" DATABASE_MAX_CONN="$size" \
		"$server" --port "$port" --threads 1 --data "$data"
	spid=$BENCH_LAST_PID
	bench_wait_listen "$spid" "$port" 30 || { cat "$log" >&2; return 1; }
	local load=("$zl" "http://127.0.0.1:$port" -t 1 -c "$conns" -r 25 --raw "$files" --json)
	taskset -c "$load_cpu" "${load[@]}" -d "$warmup" >/dev/null 2>&1 || true
	bench_wait_quiet 10 || true
	s0=$(ticks "$spid")
	# shellcheck disable=SC2046
	p0=$(ticks $(pg_pids))
	if [ "$what" = perf ]; then
		# the whole of the server's CPU (its threads: -p sees only
		# some), its process picked out in the report
		perf record -q -F 1999 -g -a -C "$server_cpu" -o "$BENCH_TMP/perf-$size.data" \
			-- sleep "$duration" >/dev/null 2>&1 &
		local perf_pid=$!
	fi
	taskset -c "$load_cpu" "${load[@]}" -d "$duration" >"$BENCH_TMP/load.out" 2>&1 || true
	[ "$what" = perf ] && wait "$perf_pid"
	s1=$(ticks "$spid")
	# shellcheck disable=SC2046
	p1=$(ticks $(pg_pids))
	pgn=$(($(pg_pids | wc -l) - 1))
	bench_stop "$spid"
	line=$(/usr/bin/python3 -c '
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
tck = float(sys.argv[2]); s = (int(sys.argv[4]) - int(sys.argv[3])) / tck
p = (int(sys.argv[6]) - int(sys.argv[5])) / tck
ok = d["status_classes"]["2xx"]; e = d["errors"]
print("max_conn=%s rps=%.0f server_us=%.1f pg_us=%.1f load_us=%.1f p50_us=%.0f p99_us=%.0f non2xx=%d errors=%d pg_procs=%s" % (
    sys.argv[7], ok / d["duration_s"], 1e6 * s / ok if ok else 0, 1e6 * p / ok if ok else 0,
    d["cpu_us_per_req"], d["latency_us"]["p50"], d["latency_us"]["p99"], d["requests"] - ok,
    e["connect"] + e["read"] + e["write"] + e["timeout"] + e["parse"] + e["body"], sys.argv[8]))
' "$BENCH_TMP/load.out" "$(getconf CLK_TCK)" "$s0" "$s1" "$p0" "$p1" "$size" "$pgn")
	echo "$line"
}

probe_port=$(bench_free_port 19690)
bench_spawn "$server_cpu" "$BENCH_TMP/probe.log" env DATABASE_URL="$db_url" "$server" --port "$probe_port" --threads 1 --data "$data"
probe_pid=$BENCH_LAST_PID
bench_wait_listen "$probe_pid" "$probe_port" 30
bench_log "probe: $(curl -sS "http://127.0.0.1:$probe_port/async-db?min=10&max=50&limit=2")"
bench_stop "$probe_pid"

read -r -a sz <<<"$sizes"
n=${#sz[@]}
for ((rep = 0; rep < reps; rep++)); do
	for ((k = 0; k < n; k++)); do
		s=${sz[$(((k + rep) % n))]}
		echo "rep=$((rep + 1)) $(run "$s" plain)"
	done
done
if [ "$perf" = 1 ]; then
	for s in "${sz[@]}"; do
		echo "perf: $(run "$s" perf)"
		echo "---- perf, DATABASE_MAX_CONN=$s: the server's samples by DSO (self), % of its own"
		perf report -q -i "$BENCH_TMP/perf-$s.data" --no-children --sort comm,dso -g none --stdio \
			2>/dev/null | awk '$2 == "httparena-serve" { v[$3] = $1 + 0; t += $1 }
			END { for (d in v) printf "%6.1f%%  %s\n", 100 * v[d] / t, d }' | sort -rn || true
		echo "---- top symbols (self, % of all samples on CPU $server_cpu)"
		perf report -q -i "$BENCH_TMP/perf-$s.data" --comm httparena-serve --no-children --sort dso,sym \
			-g none --stdio 2>/dev/null | grep '%' | sed -n '1,40p' || true
		echo "---- libpq's entry points and the kernel's, with what they call (children, % of the server's)"
		perf report -q -i "$BENCH_TMP/perf-$s.data" --comm httparena-serve --children --sort sym -g none \
			--percentage relative --stdio 2>/dev/null | grep -E ' PQ[a-zA-Z]+| __x64_sys_| __do_sys_' |
			sed -n '1,30p' || true
	done
fi
