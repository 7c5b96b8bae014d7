#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Load generators compared: zerg-load (examples/load) against wrk, both
# loading the same httparena-server process in the same run, on the same
# requests, with the same connections and threads.
#
#   load_bench.sh BUILD_DIR [--quick] [--duration S] [--reps N] [--threads N]
#                 [--profiles "baseline pipelined json"] [--no-docs]
#
# Per profile: one httparena-server (--threads 1, pinned to CPU 1), then
# REPS pairs of runs, wrk and zerg-load in turn (the order alternating),
# each generator pinned to CPU 0 and loading for DURATION seconds. Per run:
# the generator's CPU time (utime + stime of the process and its threads,
# from the shell's children account) divided by the responses it
# completed over the same lifetime, and its requests/s. The ratio is the
# median of the per-pair ratios. The issue's target: zerg-load at most 0.8x
# wrk's CPU per request.
#
# Prints the table; unless --no-docs, writes it into the "load" section
# of docs/benchmarks.md. Exits 77 when zerg-load or httparena-server is
# not built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=$here/../bench
# shellcheck source=../bench/lib.sh
. "$bench/lib.sh"

usage() {
	sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd)
shift
args_line="$*"
duration=8 reps=5 threads=1 write_docs=1
profiles="baseline pipelined json"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) duration=2 reps=1 ;;
	--duration) duration=$2; shift ;;
	--reps) reps=$2; shift ;;
	--threads) threads=$2; shift ;;
	--profiles) profiles=$2; shift ;;
	--no-docs) write_docs=0 ;;
	*) usage ;;
	esac
	shift
done

server_cpu=1 load_cpu=0
[ "$(nproc)" -ge 2 ] || server_cpu=0
docs=$here/../../docs
zl=$build/examples/load/zerg-load
server=$build/examples/httparena-server/httparena-server
datagen=$build/examples/httparena-server/httparena-datagen
for b in "$zl" "$server" "$datagen"; do
	[ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
done
bench_need_pkgs wrk
bench_init
t_start=$(date +%s)
"$datagen" "$BENCH_TMP/data" >"$BENCH_TMP/datagen.log" 2>&1 || bench_die "datagen failed"

# The HttpArena request files (requests/*.raw), for zerg-load; the wrk
# scripts of tests/bench send the same bytes.
raw=$BENCH_TMP/raw
mkdir -p "$raw"
printf 'GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/get.raw"
printf 'POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n20' >"$raw/post_cl.raw"
printf 'POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n20\r\n0\r\n\r\n' >"$raw/post_chunked.raw"
printf 'GET /pipeline HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/pipeline.raw"
printf 'GET /json HTTP/1.1\r\nHost: localhost:8080\r\n\r\n' >"$raw/json-get.raw"

# profile -> "connections|wrk arguments|zerg-load arguments|what"
profile_def() {
	case $1 in
	baseline) echo "512|-s $bench/wrk_baseline.lua|--raw $raw/get.raw,$raw/post_cl.raw,$raw/post_chunked.raw --rotate-requests|GET, POST Content-Length, POST chunked /baseline11 in turn; wrk: a Lua request() per request" ;;
	pipelined) echo "512|-s $bench/wrk_pipeline.lua|--raw $raw/pipeline.raw -p 16 --batch|16 GET /pipeline per write, the next 16 once all 16 are answered (both)" ;;
	json) echo "512|-s $bench/wrk_get.lua|--raw $raw/json-get.raw|GET /json (8.6 KB answers); wrk: a static request, no Lua per request" ;;
	*) return 1 ;;
	esac
}

results=$BENCH_TMP/results.txt
: >"$results"
failed=0
port_base=19500

# gen_measure GEN PROFILE REP PORT: one generator run; sets LINE or fails.
gen_measure() {
	local gen=$1 prof=$2 rep=$3 port=$4 def conns wargs zargs l0 l1 a0 a1 s0 s1 rc=0 out line
	def=$(profile_def "$prof")
	conns=${def%%|*}
	def=${def#*|}
	wargs=${def%%|*}
	def=${def#*|}
	zargs=${def%%|*}
	export BENCH_PATH=/json BENCH_GZIP=0
	out=$BENCH_TMP/$gen-$prof-$rep.out
	bench_wait_quiet 20 || true
	s0=$(bench_cpu_s "$SPID")
	a0=$(bench_all_cpu_s)
	bench_children_cpu_s
	l0=$BENCH_CHILD_CPU
	if [ "$gen" = wrk ]; then
		# shellcheck disable=SC2086
		taskset -c "$load_cpu" wrk -t "$threads" -c "$conns" -d "${duration}s" $wargs "http://127.0.0.1:$port/" >"$out" 2>&1 || rc=$?
	else
		# shellcheck disable=SC2086
		taskset -c "$load_cpu" "$zl" "http://127.0.0.1:$port" -t "$threads" -c "$conns" -d "$duration" $zargs --json >"$out" 2>&1 || rc=$?
	fi
	bench_children_cpu_s
	l1=$BENCH_CHILD_CPU
	a1=$(bench_all_cpu_s)
	s1=$(bench_cpu_s "$SPID")
	if [ "$gen" = wrk ]; then
		line=$(sed -n 's/^WRK //p' "$out")
		# wrk's requests are every response completed in its run
		line=$(echo "$line" | awk '{ delete V; n = split($0, a, " "); for (i = 1; i <= n; i++) { split(a[i], b, "="); V[b[1]] = b[2] }
			printf "responses=%d window_requests=%d window_s=%.6f status_errors=%d errors=%d",
				V["requests"], V["requests"], V["duration_us"] / 1e6, V["status_errors"],
				V["connect_errors"] + V["read_errors"] + V["write_errors"] + V["timeouts"] }')
	else
		line=$(/usr/bin/python3 -c '
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
e = d["errors"]
print("responses=%d window_requests=%d window_s=%.6f status_errors=%d errors=%d" % (
    d["totals"]["responses"], d["requests"], d["duration_s"], d["status_errors"],
    e["connect"] + e["read"] + e["write"] + e["timeout"] + e["parse"] + d["totals"]["unanswered"]))' "$out" 2>/dev/null || true)
	fi
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		bench_log "$gen $prof: failed (rc=$rc):"
		cat "$out" >&2
		return 1
	fi
	LINE="gen=$gen profile=$prof rep=$rep conns=$conns threads=$threads $line $(awk -v l0="$l0" -v l1="$l1" -v a0="$a0" -v a1="$a1" -v s0="$s0" -v s1="$s1" -v d="$duration" \
		'BEGIN { f = (a1 - a0) - (l1 - l0) - (s1 - s0); if (f < 0) f = 0
		printf "gen_cpu_s=%.3f server_cpu_s=%.3f foreign_cpu_pct=%.1f", l1 - l0, s1 - s0, 100 * f / d }')"
}

# gen_run GEN PROFILE REP PORT: the quietest of up to three runs (other
# processes took more than 10% of a core meanwhile: again); appends it.
gen_run() {
	if ! bench_quietest gen_measure "$@"; then
		failed=1
		return 1
	fi
	echo "$LINE" >>"$results"
	bench_log "$LINE"
}

bench_log "zerg-load vs wrk: httparena-server on CPU $server_cpu, generators ($threads thread(s)) on CPU $load_cpu, ${duration}s x $reps pairs per profile; profiles: $profiles"
pi=0
for prof in $profiles; do
	profile_def "$prof" >/dev/null || bench_die "unknown profile $prof"
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	bench_spawn "$server_cpu" "$BENCH_TMP/server-$prof.log" "$server" --port "$port" --host 127.0.0.1 --threads 1 --data "$BENCH_TMP/data"
	SPID=$BENCH_LAST_PID
	bench_wait_listen "$SPID" "$port" 30 || bench_die "httparena-server did not start: $(cat "$BENCH_TMP/server-$prof.log")"
	# a short warm-up of the server (its caches, the allocator)
	taskset -c "$load_cpu" "$zl" "http://127.0.0.1:$port/baseline11?a=1" -c 64 -d 1 >/dev/null 2>&1 || true
	for ((rep = 1; rep <= reps; rep++)); do
		if (((pi + rep) % 2)); then
			gen_run wrk "$prof" "$rep" "$port" || true
			gen_run zl "$prof" "$rep" "$port" || true
		else
			gen_run zl "$prof" "$rep" "$port" || true
			gen_run wrk "$prof" "$rep" "$port" || true
		fi
	done
	kill -0 "$SPID" 2>/dev/null || { bench_log "httparena-server died during $prof"; failed=1; }
	bench_stop "$SPID"
	pi=$((pi + 1))
done
elapsed=$(($(date +%s) - t_start))

table=$BENCH_TMP/table.md
awk -v reps="$reps" -v profiles="$profiles" "$BENCH_AWK_FUNCS"'
{
	delete V; kv($0)
	k = V["profile"] SUBSEP V["gen"]
	cpr = V["responses"] ? 1e6 * V["gen_cpu_s"] / V["responses"] : 0
	rps = V["window_s"] ? V["window_requests"] / V["window_s"] : 0
	spr = V["responses"] ? 1e6 * V["server_cpu_s"] / V["responses"] : 0
	CP[k] = CP[k] " " cpr; R[k] = R[k] " " rps; SP[k] = SP[k] " " spr
	CC[k, V["rep"]] = cpr; RR[k, V["rep"]] = rps
	E[k] += V["errors"] + V["status_errors"]; C[V["profile"]] = V["conns"]
}
END {
	print "| profile | conns | wrk req/s | zerg-load req/s | wrk CPU µs/req | zerg-load CPU µs/req | CPU/req zerg-load/wrk | pairs zerg-load used less CPU/req | server CPU µs/req under wrk / zerg-load | errors wrk / zerg-load | target ≤ 0.8x |"
	print "|:---|---:|---:|---:|---:|---:|---:|:---:|---:|:---:|:---|"
	np = split(profiles, ps, " ")
	for (i = 1; i <= np; i++) {
		p = ps[i]; w = p SUBSEP "wrk"; z = p SUBSEP "zl"
		if (CP[w] == "" || CP[z] == "") { printf "| %s | %s | (a run failed) |||||||||\n", p, C[p]; continue }
		q = ""; won = 0; n = 0
		for (r = 1; r <= reps; r++) {
			if (!((w, r) in CC) || !((z, r) in CC) || CC[w, r] <= 0) continue
			n++; q = q " " CC[z, r] / CC[w, r]
			if (CC[z, r] < CC[w, r]) won++
		}
		ratio = median(q)
		printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %d/%d | %.2f / %.2f | %d / %d | %s |\n", p, C[p], median(R[w]), median(R[z]), median(CP[w]), median(CP[z]), ratio, won, n, median(SP[w]), median(SP[z]), E[w], E[z], (ratio <= 0.8 ? "met" : "MISSED")
	}
}' "$results" >"$table"

cmd_line="tests/load/load_bench.sh BUILD${args_line:+ $args_line}   # or: meson test -C BUILD --benchmark load"
echo
echo "zerg-load vs wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'), $threads thread(s) each on CPU $load_cpu, httparena-server (1 thread) on CPU $server_cpu, ${duration} s per run, $reps pairs, medians:"
echo
cat "$table"
echo
echo "raw results:"
cat "$results"
echo "elapsed: ${elapsed}s"

if [ "$write_docs" = 1 ] && [ -f "$docs/benchmarks.md" ]; then
	sec=$BENCH_TMP/section.md
	{
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(bench_machine)."
		echo "wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }') and zerg-load, each with \`-t $threads\` pinned to CPU $load_cpu, load one httparena-server (\`--threads 1\`, CPU $server_cpu) per profile, in turn:"
		echo "$reps pairs of ${duration} s runs per profile, the order alternating. CPU µs/req = the generator's utime + stime over its whole run / the responses it completed in that run;"
		echo "the ratio is the median of the per-pair ratios. Both send the same bytes (HttpArena's request files; zerg-load with \`--raw\`)."
		[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} run(s) other processes kept taking more than 10% of a core (foreign_cpu_pct in the raw results)."
		echo
		echo "Command: \`$cmd_line\`"
		echo
		echo "Source: \`$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)\`."
		echo
		cat "$table"
		echo
		echo "<details><summary>raw results</summary>"
		echo
		echo '```'
		cat "$results"
		echo '```'
		echo
		echo "</details>"
	} >"$sec"
	bench_docs_section "$docs/benchmarks.md" load "$sec"
	bench_log "wrote the load section of docs/benchmarks.md"
fi
exit "$failed"
