#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Echo benchmark: libzerg's echo example against a classic edge-triggered
# epoll echo server (tests/bench/epoll_echo.c), side by side in one run.
#
#   echo_bench.sh BUILD_DIR [--quick] [--duration S] [--warmup S] [--reps N]
#                 [--zerg PATH] [--no-docs]
#
# For every cell (256 and 4096 connections x pipeline depth 1 and 16,
# 64-byte messages) each server runs in turn pinned to CPU 1 while
# echo_load runs pinned to CPU 0; the order of the servers alternates
# between repetitions. echo_load reports messages/s and the server's CPU
# time (utime + stime, /proc/PID/stat) over the measured window only.
#
# Prints a table, and (unless --no-docs) writes it into the "echo"
# section of docs/benchmarks.md. Exits 77 (skipped) when the libzerg echo
# example is not built, 1 when a run failed or an echo was wrong; losing
# a cell is reported, not a failure (timings are never pass/fail).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--quick] [--duration S] [--warmup S] [--reps N] [--zerg PATH] [--no-docs]" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
duration=3 warmup=1 reps=7 write_docs=1 zerg="" quick=0
args_line="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 duration=2 warmup=1 reps=1 ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--reps) reps=$2; shift ;;
	--zerg) zerg=$2; shift ;;
	--no-docs) write_docs=0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

server_cpu=1 load_cpu=0
[ "$(nproc)" -ge 2 ] || server_cpu=0

epoll_bin=$build/tests/bench/epoll_echo
load_bin=$build/tests/bench/echo_load
if [ -z "$zerg" ]; then
	for c in "$build/examples/echo/zerg-echo" "$build/examples/echo/echo"; do
		[ -x "$c" ] && { zerg=$c; break; }
	done
fi
[ -x "$epoll_bin" ] && [ -x "$load_bin" ] || bench_die "build $build first (missing epoll_echo/echo_load)"
if [ -z "$zerg" ] || [ ! -x "$zerg" ]; then
	echo "SKIP: libzerg echo example not found in $build/examples/echo (pass --zerg PATH)"
	exit 77
fi

bench_init
results=$BENCH_TMP/results.txt
: >"$results"
port_base=19100
failed=0

# measure NAME CMD CONNS DEPTH REP: one measurement with a fresh server;
# sets LINE (echo_load's RESULT line without the prefix), or returns 1.
measure() {
	local name=$1 cmd=$2 conns=$3 depth=$4 rep=$5 port pid rc log
	LINE=""
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	log=$BENCH_TMP/$name-$conns-$depth-$rep.log
	bench_spawn "$server_cpu" "$log" "$cmd" --port "$port" --threads 1
	pid=$BENCH_LAST_PID
	if ! bench_wait_listen "$pid" "$port" 20; then
		bench_log "$name did not start listening on $port:"
		cat "$log" >&2 || true
		bench_stop "$pid"
		return 1
	fi
	bench_wait_quiet 20 || true
	rc=0
	LINE=$(taskset -c "$load_cpu" "$load_bin" --port "$port" --conns "$conns" --depth "$depth" \
		--size 64 --duration "$duration" --warmup "$warmup" \
		--server-pid "$pid" --server-cpu "$server_cpu" 2>"$BENCH_TMP/load.err" | grep '^RESULT') || rc=$?
	kill -0 "$pid" 2>/dev/null || { bench_log "$name died during the run"; rc=1; }
	bench_stop "$pid"
	if [ $rc -ne 0 ] || [ -z "$LINE" ]; then
		bench_log "$name conns=$conns depth=$depth: load generator failed (rc=$rc):"
		cat "$BENCH_TMP/load.err" >&2 || true
		[ -n "$LINE" ] && echo "$LINE" >&2
		LINE=""
		return 1
	fi
	LINE=${LINE#RESULT }
}

# run_one NAME CMD CONNS DEPTH REP: the quietest of up to three measurements.
run_one() {
	if ! bench_quietest measure "$@"; then
		failed=1
		return
	fi
	echo "server=$1 rep=$5 $LINE" >>"$results"
	bench_log "$1 conns=$3 depth=$4 rep=$5: $LINE"
}

t_start=$(date +%s)
bench_log "echo benchmark: server on CPU $server_cpu, load on CPU $load_cpu, ${duration}s x $reps reps per server and cell"
cell=0
for conns in 256 4096; do
	for depth in 1 16; do
		for ((rep = 1; rep <= reps; rep++)); do
			if (((cell + rep) % 2)); then
				run_one epoll "$epoll_bin" "$conns" "$depth" "$rep"
				run_one zerg "$zerg" "$conns" "$depth" "$rep"
			else
				run_one zerg "$zerg" "$conns" "$depth" "$rep"
				run_one epoll "$epoll_bin" "$conns" "$depth" "$rep"
			fi
		done
		cell=$((cell + 1))
	done
done
elapsed=$(($(date +%s) - t_start))

# ---- summarise ----------------------------------------------------------
table=$BENCH_TMP/table.md
awk -v reps="$reps" "$BENCH_AWK_FUNCS"'
{
	delete V; kv($0)
	k = V["conns"] SUBSEP V["depth"] SUBSEP V["server"]
	N[k]++; R[k] = R[k] " " V["msgs_per_s"]; C[k] = C[k] " " V["server_cpu_us_per_msg"]
	P[k] = P[k] " " V["server_cpu_pct"]; L[k] = L[k] " " V["load_cpu_pct"]
	B[k] = B[k] " " V["core_us_per_msg"]; F[k] = F[k] " " V["foreign_cpu_pct"]
	if (V["server_hwm_kb"] > H[k]) H[k] = V["server_hwm_kb"]
	RR[k, V["rep"]] = V["msgs_per_s"]; CC[k, V["rep"]] = V["server_cpu_us_per_msg"]; BB[k, V["rep"]] = V["core_us_per_msg"]
}
END {
	print "| connections | depth | epoll msgs/s | libzerg msgs/s | msgs/s libzerg/epoll | epoll CPU µs/msg | libzerg CPU µs/msg | CPU/msg libzerg/epoll | server-core busy/msg libzerg/epoll | pairs libzerg won: msgs/s, CPU/msg | libzerg wins both? |"
	print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|:---|"
	split("256 4096", cs, " "); split("1 16", ds, " ")
	for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
		e = cs[i] SUBSEP ds[j] SUBSEP "epoll"; z = cs[i] SUBSEP ds[j] SUBSEP "zerg"
		if (!N[e] || !N[z]) { printf "| %s | %s | (failed) | | | | | | | | |\n", cs[i], ds[j]; continue }
		er = median(R[e]); zr = median(R[z]); ec = median(C[e]); zc = median(C[z])
		wr = 0; wc = 0; np = 0; qr = ""; qc = ""; qb = ""
		for (r = 1; r <= reps; r++) {
			if (!((e, r) in RR) || !((z, r) in RR) || RR[e, r] <= 0 || CC[e, r] <= 0) continue
			np++
			if (RR[z, r] > RR[e, r]) wr++
			if (CC[z, r] < CC[e, r]) wc++
			qr = qr " " RR[z, r] / RR[e, r]; qc = qc " " CC[z, r] / CC[e, r]
			if (BB[e, r] > 0) qb = qb " " BB[z, r] / BB[e, r]
		}
		rr = median(qr); rc = median(qc); rb = median(qb)
		win = (rr > 1 && rc < 1) ? "yes" : ((rr > 1) ? "no: more CPU/msg" : ((rc < 1) ? "no: fewer msgs/s" : "no: loses both"))
		printf "| %s | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f | %.2f | %d/%d, %d/%d | %s |\n", cs[i], ds[j], er, zr, rr, ec, zc, rc, rb, wr, np, wc, np, win
	}
	print ""
	print "Per server and cell (medians of " reps " runs): server process CPU as % of one core; busy time of the server\x27s whole CPU per message (also counts softirq work that the kernel may not charge to the process); load generator CPU %; CPU other processes took meanwhile (% of one core; above 10 after three tries means a noisy measurement); server peak RSS (VmHWM, highest run):"
	print ""
	print "| connections | depth | server | msgs/s | server CPU % | server-CPU busy µs/msg | load CPU % | others CPU % | peak RSS MiB |"
	print "|---:|---:|:---|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
		split("epoll zerg", ss, " ")
		for (s = 1; s <= 2; s++) {
			k = cs[i] SUBSEP ds[j] SUBSEP ss[s]
			if (!N[k]) continue
			printf "| %s | %s | %s | %.0f | %.1f | %.3f | %.1f | %.1f | %.1f |\n", cs[i], ds[j], (ss[s] == "zerg" ? "libzerg" : "epoll"), median(R[k]), median(P[k]), median(B[k]), median(L[k]), median(F[k]), H[k] / 1024
		}
	}
}' "$results" >"$table"

cmd_line="meson compile -C BUILD && tests/bench/echo_bench.sh BUILD${args_line:+ $args_line}   # or: meson test -C BUILD --benchmark echo"
echo
echo "Echo benchmark, 64-byte messages, server on CPU $server_cpu, load (echo_load) on CPU $load_cpu, ${duration} s measured after ${warmup} s warm-up, $reps run(s) per server and cell, servers alternating, medians:"
echo
cat "$table"
echo
echo "raw results:"
cat "$results"
echo "elapsed: ${elapsed}s"

if [ "$write_docs" = 1 ] && [ -f "$here/../../docs/benchmarks.md" ]; then
	sec=$BENCH_TMP/section.md
	{
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(bench_machine)."
		echo "Each server pinned to CPU $server_cpu, \`echo_load\` pinned to CPU $load_cpu; 64-byte messages;"
		echo "${duration} s measured after ${warmup} s of warm-up; $reps runs per server and cell, the order of the servers alternating;"
		echo "msgs/s and µs/msg are medians over the runs; the ratios are the medians of the per-pair ratios (each libzerg run against the epoll run right before or after it),"
		echo "because this machine drifts by up to ±20% within minutes (see the raw output) and a pair shares the same conditions; \"pairs libzerg won\" counts the pairs where libzerg was ahead."
		[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} measurement(s) other processes kept taking more than 10% of a core after three tries (see \"others CPU %\" in the raw output): those are noisier."
		echo "CPU µs/msg = server utime+stime over the measured window / messages echoed in it. A ratio below 1 in the CPU columns means libzerg spends less."
		echo "\"server-core busy/msg\" is the same ratio for all busy time of CPU $server_cpu (/proc/stat: user, system, irq and softirq): the kernel may charge softirq work"
		echo "(on loopback: TCP delivery of the server's own output) to no process, so this column shows what the per-process figure can miss."
		echo
		echo "Command: \`$cmd_line\`"
		echo
		echo "Source: \`$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)\` (the source tree the script ran from)."
		echo
		cat "$table"
		echo
		echo "<details><summary>raw echo_load output</summary>"
		echo
		echo '```'
		cat "$results"
		echo '```'
		echo
		echo "</details>"
	} >"$sec"
	bench_docs_section "$here/../../docs/benchmarks.md" echo "$sec"
	bench_log "wrote the echo section of docs/benchmarks.md"
fi

exit "$failed"
