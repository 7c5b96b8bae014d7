#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# echo-ws (../shared/httparena/SPEC-HEAD.md 9): httparena-server's /ws
# driven the way gcannon --ws drives it (SPEC-HEAD 9.2): every connection
# sends the fixed upgrade request, then one text frame "hello" masked with
# 12 34 56 78, and the next each time an echo comes back (-p 1). The
# generator is zerg-load --ws (examples/load), one thread on CPU 0; the
# server runs with one reactor on CPU 1. There is no reference server:
# nginx does not echo WebSocket frames, so the numbers are absolute.
#
#   ws_bench.sh BUILD_DIR [--reps N] [--secs S] [--warmup S] [--conns "512 4096"] [--no-docs]
#
# Per run: frames/s in the measured window, server CPU per frame (utime +
# stime over the generator's whole run / the frames of that run), the
# server core's busy time per frame (softirq included), the generator's
# CPU per frame. Medians of the runs; unless --no-docs, the table goes
# into the WS section of docs/benchmarks.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { sed -n '13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
args_line="$*"
reps=3 secs=8 warmup=2 docs=1 conns_list="512 4096"
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--secs) secs=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--conns) conns_list=$2; shift 2 ;;
	--no-docs) docs=0; shift ;;
	*) bench_die "unknown option $1" ;;
	esac
done
server="$build/examples/httparena-server/httparena-server"
datagen="$build/examples/httparena-server/httparena-datagen"
zl="$build/examples/load/zerg-load"
bench_need_bins "$server" "$datagen" "$zl"
"$zl" --help | grep -q -- '--ws ' || bench_die "$zl has no --ws"
bench_need_pkgs python3
bench_init
server_cpu=1 load_cpu=0
data=$BENCH_TMP/data
"$datagen" "$data" >/dev/null
port_base=$(bench_free_port 19700)

# measure CONNS: one run with a fresh server; sets LINE
measure() {
	local conns=$1 port c0 c1 k0 k1 a0 a1 l0 l1 rc load
	LINE=""
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	bench_spawn "$server_cpu" "$BENCH_TMP/zerg.log" "$server" --threads 1 --host 127.0.0.1 \
		--port "$port" --data "$data"
	SPID=$BENCH_LAST_PID
	bench_wait_listen "$SPID" "$port" 30 || { cat "$BENCH_TMP/zerg.log" >&2; return 1; }
	load=("$zl" "http://127.0.0.1:$port/ws" --ws -t 1 -c "$conns" -p 1 --json)
	[ "$warmup" != 0 ] && { taskset -c "$load_cpu" "${load[@]}" -d "$warmup" >/dev/null 2>&1 || true; }
	bench_wait_quiet 20 || true
	c0=$(bench_cpu_s "$SPID")
	k0=$(bench_core_busy_s "$server_cpu")
	a0=$(bench_all_cpu_s)
	bench_children_cpu_s
	l0=$BENCH_CHILD_CPU
	rc=0
	taskset -c "$load_cpu" "${load[@]}" -d "$secs" >"$BENCH_TMP/run.json" 2>"$BENCH_TMP/run.err" || rc=$?
	bench_children_cpu_s
	l1=$BENCH_CHILD_CPU
	a1=$(bench_all_cpu_s)
	k1=$(bench_core_busy_s "$server_cpu")
	c1=$(bench_cpu_s "$SPID")
	kill -0 "$SPID" 2>/dev/null || { bench_log "httparena-server died"; rc=1; }
	bench_stop "$SPID"
	[ $rc -eq 0 ] || { cat "$BENCH_TMP/run.err" >&2; return 1; }
	LINE=$(python3 - "$BENCH_TMP/run.json" "$conns" "$c0" "$c1" "$k0" "$k1" "$a0" "$a1" "$l0" "$l1" "$secs" <<'EOF'
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
conns = sys.argv[2]
c0, c1, k0, k1, a0, a1, l0, l1, secs = map(float, sys.argv[3:12])
t, e = d["totals"], d["errors"]
n = t["responses"]
foreign = max(0.0, (a1 - a0) - (c1 - c0) - (l1 - l0))
errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["parse"] + e["body"] + t["ws_upgrades_refused"]
print("conns=%s fps=%.0f cpu_us=%.3f busy_us=%.3f load_cpu_us=%.3f frames=%d upgrades=%d errors=%d "
      "p50_us=%.0f p99_us=%.0f foreign_cpu_pct=%.1f" % (
      conns, d["ok"] / d["duration_s"], 1e6 * (c1 - c0) / n if n else 0, 1e6 * (k1 - k0) / n if n else 0,
      1e6 * (l1 - l0) / n if n else 0, n, t["ws_upgrades"], errs, d["latency_us"]["p50"],
      d["latency_us"]["p99"], 100 * foreign / secs))
EOF
)
}

results=$BENCH_TMP/results.txt
: >"$results"
failed=0
for conns in $conns_list; do
	for ((rep = 1; rep <= reps; rep++)); do
		if bench_quietest measure "$conns"; then
			echo "$LINE rep=$rep" >>"$results"
			bench_log "$LINE"
		else
			bench_log "$conns connections: the run failed"
			failed=1
		fi
	done
done

table=$BENCH_TMP/table.md
{
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(bench_machine), source \`$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)\`."
	echo "httparena-server \`--threads 1\` on CPU $server_cpu; zerg-load \`--ws -t 1 -p 1\` on CPU $load_cpu (gcannon's bytes: the fixed upgrade, then \`81 85 12 34 56 78 7a 51 3a 14 7d\`, the next frame when the echo \`81 05 hello\` is in; every echo checked)."
	echo "${secs} s measured after ${warmup} s of warm-up, a fresh server per run, $reps runs per row, medians. CPU µs/frame = the server's utime+stime over the generator's whole run / the frames echoed in it;"
	echo "server-core busy also counts CPU $server_cpu's softirq time. No reference server (nginx does not echo WebSocket frames)."
	[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} run(s) other processes took more than 10% of a core after three tries (foreign_cpu_pct in the raw results)."
	echo
	echo "Command: \`flock /tmp/zg-bench.lock tests/bench/ws_bench.sh BUILD${args_line:+ $args_line}\` (BUILD: \`meson setup BUILD --buildtype=release\`)."
	echo
	awk -v list="$conns_list" "$BENCH_AWK_FUNCS"'
	{ delete V; kv($0); k = V["conns"]
	  F[k] = F[k] " " V["fps"]; C[k] = C[k] " " V["cpu_us"]; B[k] = B[k] " " V["busy_us"]
	  L[k] = L[k] " " V["load_cpu_us"]; P5[k] = P5[k] " " V["p50_us"]; P9[k] = P9[k] " " V["p99_us"]
	  E[k] += V["errors"] }
	END {
		print "| connections | frames/s | server CPU µs/frame | server-core busy µs/frame | generator CPU µs/frame | latency p50 / p99 µs | errors |"
		print "|---:|---:|---:|---:|---:|---:|---:|"
		n = split(list, cs, " ")
		for (i = 1; i <= n; i++) {
			k = cs[i]
			if (!(k in F)) { printf "| %s | (failed) | | | | | |\n", k; continue }
			printf "| %s | %.0f | %.3f | %.3f | %.3f | %.0f / %.0f | %d |\n", k, median(F[k]), median(C[k]),
				median(B[k]), median(L[k]), median(P5[k]), median(P9[k]), E[k]
		}
	}' "$results"
	echo
	echo "<details><summary>raw results</summary>"
	echo
	echo '```'
	cat "$results"
	echo '```'
	echo
	echo "</details>"
} >"$table"
cat "$table"
[ "$docs" = 1 ] && bench_docs_section "$here/../../docs/benchmarks.md" WS "$table"
exit "$failed"
