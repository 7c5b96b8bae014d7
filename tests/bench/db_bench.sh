#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Database profiles of examples/httparena-server (SPEC-HEAD.md 6, 7):
# async-db, crud (in-process cache and Redis) and the api-4 mix, against a
# PostgreSQL cluster and a redis-server this script starts itself.
#
#   db_bench.sh BUILD_DIR [--quick] [--duration S] [--warmup S] [--reps N]
#               [--profiles "async-db crud-memory crud-redis api-4"]
#               [--conns N] [--max-conn N] [--server PATH] [--datagen PATH] [--no-docs]
#
# PostgreSQL (tests/httparena/pgcluster.py: initdb in a temporary
# directory as an unprivileged user, a free port, bench/bench/benchmark,
# seeded as SPEC-HEAD 6.9 says by pgseed.py), redis-server and the load
# generator (zerg-load, one thread) run on CPU 0; httparena-server
# (--threads 1, DATABASE_URL, DATABASE_MAX_CONN, REDIS_URL for
# crud-redis) on CPU 1, a fresh process per run. Each repetition runs
# every profile, the order rotating between repetitions; crud-memory and
# crud-redis of one repetition make a pair. Per run: requests/s (2xx),
# the server's CPU per request, PostgreSQL's (postmaster + backends) and
# Redis's, the generator's, peak RSS. The request files are the
# benchmark's (../shared/httparena/requests-head) when present, else the
# same bytes from db_conformance.py --write-templates; the crud files'
# {RAND}/{SEQ} placeholders are substituted by zerg-load as gcannon does.
#
# Prints the table; unless --no-docs, writes it into the "DB" section of
# docs/benchmarks.md. Exits 77 when httparena-server, zerg-load,
# PostgreSQL or redis-server is missing, 1 when a run failed or gave
# non-2xx answers; timings are never pass/fail.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '8,10p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -ge 1 ] || usage
build=$(cd "$1" && pwd)
shift
args_line="$*"
duration=8 warmup=2 reps=3 write_docs=1 server="" datagen="" conns=256 max_conn=64
profiles="async-db crud-memory crud-redis api-4"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) duration=2 warmup=1 reps=1 ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--reps) reps=$2; shift ;;
	--profiles) profiles=$2; shift ;;
	--conns) conns=$2; shift ;;
	--max-conn) max_conn=$2; shift ;;
	--server) server=$2; shift ;;
	--datagen) datagen=$2; shift ;;
	--no-docs) write_docs=0 ;;
	*) usage ;;
	esac
	shift
done

server_cpu=1 load_cpu=0
[ "$(nproc)" -ge 2 ] || server_cpu=0
docs=$here/../../docs
arena=$here/../httparena
shared=$here/../../../shared/httparena

hdir=$build/examples/httparena-server
[ -n "$server" ] || server=$hdir/httparena-server
[ -n "$datagen" ] || datagen=$hdir/httparena-datagen
zl_bin=$build/examples/load/zerg-load
if [ ! -x "$server" ] || [ ! -x "$datagen" ]; then
	echo "SKIP: httparena-server / httparena-datagen not found in $hdir"
	exit 77
fi
[ -x "$zl_bin" ] || { echo "SKIP: zerg-load not built ($zl_bin)"; exit 77; }

bench_init
t_start=$(date +%s)
data=$BENCH_TMP/data
"$datagen" "$data" >"$BENCH_TMP/datagen.log" 2>&1 || { cat "$BENCH_TMP/datagen.log" >&2; bench_die "datagen failed"; }
dataset=$shared/data/dataset-int.json
[ -f "$dataset" ] || dataset=$data/dataset-int.json

# ---- request files ----------------------------------------------------------
raw=$BENCH_TMP/raw
/usr/bin/python3 "$arena/db_conformance.py" --write-templates "$raw"
if [ -d "$shared/requests-head" ]; then
	for f in "$shared"/requests-head/async-db-*.raw "$shared"/requests-head/crud-*.raw "$shared"/requests-head/json-get.raw; do
		cp "$f" "$raw/"
	done
	[ -f "$shared/requests/get.raw" ] && cp "$shared/requests/get.raw" "$raw/"
	tmpl_src="../shared/httparena/requests-head"
else
	tmpl_src="db_conformance.py --write-templates (the benchmark's bytes)"
fi
list() { local out="" f; for f in "$@"; do out="$out${out:+,}$raw/$f"; done; echo "$out"; }
async_files=$(list async-db-5.raw async-db-10.raw async-db-20.raw async-db-35.raw async-db-50.raw)
# the order `ls | sort` gives in the C locale (SPEC-HEAD 6.6)
crud_files=$(cd "$raw" && LC_ALL=C ls crud-*.raw | LC_ALL=C sort | sed "s|^|$raw/|" | paste -sd,)
api_files=$(list get.raw get.raw get.raw json-get.raw json-get.raw json-get.raw async-db-get.raw async-db-get.raw)

# profile -> "requests per connection|files|what"
profile_def() {
	case $1 in
	async-db) echo "25|$async_files|GET /async-db?min=10&max=50&limit={5,10,20,35,50} (6.4)" ;;
	crud-memory) echo "200|$crud_files|the 20 crud files (6.6), in-process cache" ;;
	crud-redis) echo "200|$crud_files|the 20 crud files (6.6), Redis cache (REDIS_URL)" ;;
	api-4) echo "5|$api_files|3 x baseline11, 3 x /json/50, 2 x /async-db (7)" ;;
	*) return 1 ;;
	esac
}

# ---- PostgreSQL and Redis on the load's CPU --------------------------------------
# The holder stops both when this script's process is gone (or on
# bench_cleanup's SIGTERM).
bench_spawn "$load_cpu" "$BENCH_TMP/hold.out" /usr/bin/python3 "$arena/pgcluster.py" hold "$dataset" --redis \
	--max-connections $((max_conn + 20)) --watch-pid $$
hold_pid=$BENCH_LAST_PID
for ((i = 0; i < 1200; i++)); do
	grep -q '^READY$' "$BENCH_TMP/hold.out" 2>/dev/null && break
	if ! kill -0 "$hold_pid" 2>/dev/null; then
		cat "$BENCH_TMP/hold.out" >&2
		grep -q '^SKIP' "$BENCH_TMP/hold.out" && exit 77
		bench_die "PostgreSQL / Redis did not start"
	fi
	sleep 0.1
done
grep -q '^READY$' "$BENCH_TMP/hold.out" || bench_die "PostgreSQL / Redis not ready after 120 s"
kv() { sed -n "s/^$1=//p" "$BENCH_TMP/hold.out"; }
db_url=$(kv DATABASE_URL) pg_pid=$(kv PG_PID) redis_url=$(kv REDIS_URL) redis_pid=$(kv REDIS_PID)
pg_version=$(sed -n 's/^PG_VERSION=//p' "$BENCH_TMP/hold.out")
redis_version=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
bench_log "PostgreSQL $pg_version (pid $pg_pid) and Redis $redis_version (pid $redis_pid) on CPU $load_cpu, seeded from $dataset"

# CPU seconds of each process of a tree, "pid cpu" lines.
tree_pids() { echo "$1"; cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }
cpu_snapshot() {
	local tck pid v
	tck=$(getconf CLK_TCK)
	for pid in "$@"; do
		v=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$pid/stat" 2>/dev/null) || continue
		echo "$pid $v $tck"
	done
}
# CPU seconds between two snapshots (processes new in the second count whole).
cpu_delta() {
	awk 'NR == FNR { a[$1] = $2; next } { d += $2 - ($1 in a ? a[$1] : 0); t = $3 } END { printf "%.3f\n", t ? d / t : 0 }' "$1" "$2"
}

port_base=19600
results=$BENCH_TMP/results.txt
: >"$results"
failed=0

# measure PROFILE REP: one run with a fresh server; sets LINE or returns 1.
measure() {
	local prof=$1 rep=$2 def rpc files port log env_args load rc line s0 s1 p0 p1 r0 r1 a0 a1 l0 l1 hwm
	LINE=""
	def=$(profile_def "$prof")
	rpc=${def%%|*}
	def=${def#*|}
	files=${def%%|*}
	port=$(bench_free_port "$port_base")
	port_base=$((port + 1))
	log=$BENCH_TMP/$prof-$rep.log
	env_args=(env -u REDIS_URL DATABASE_URL="$db_url" DATABASE_MAX_CONN="$max_conn")
	[ "$prof" = crud-redis ] && env_args+=(REDIS_URL="$redis_url")
	bench_spawn "$server_cpu" "$log" "${env_args[@]}" "$server" --port "$port" --threads 1 --data "$data"
	SPID=$BENCH_LAST_PID
	if ! bench_wait_listen "$SPID" "$port" 30; then
		cat "$log" >&2
		bench_stop "$SPID"
		return 1
	fi
	load=("$zl_bin" "http://127.0.0.1:$port" -t 1 -c "$conns" -r "$rpc" --raw "$files" --json)
	[ "$warmup" != 0 ] && { taskset -c "$load_cpu" "${load[@]}" -d "$warmup" >"$BENCH_TMP/warm.out" 2>&1 || true; }
	bench_wait_quiet 10 || true
	# shellcheck disable=SC2046
	cpu_snapshot "$SPID" >"$BENCH_TMP/s0"
	# shellcheck disable=SC2046
	cpu_snapshot $(tree_pids "$pg_pid") >"$BENCH_TMP/p0"
	cpu_snapshot "$redis_pid" >"$BENCH_TMP/r0"
	a0=$(bench_all_cpu_s)
	bench_children_cpu_s
	l0=$BENCH_CHILD_CPU
	rc=0
	taskset -c "$load_cpu" "${load[@]}" -d "$duration" >"$BENCH_TMP/load.out" 2>&1 || rc=$?
	bench_children_cpu_s
	l1=$BENCH_CHILD_CPU
	a1=$(bench_all_cpu_s)
	cpu_snapshot "$SPID" >"$BENCH_TMP/s1"
	# shellcheck disable=SC2046
	cpu_snapshot $(tree_pids "$pg_pid") >"$BENCH_TMP/p1"
	cpu_snapshot "$redis_pid" >"$BENCH_TMP/r1"
	hwm=$(bench_status_kb VmHWM "$SPID")
	kill -0 "$SPID" 2>/dev/null || { bench_log "the server died during $prof"; rc=1; }
	bench_stop "$SPID"
	line=$(/usr/bin/python3 -c '
import json, sys
d = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
e, t, k = d["errors"], d["totals"], d["template_ok"]
score = 0.15 * sum(k[0:3]) + sum(k[3:6]) + 10 * sum(k[6:8]) if len(k) == 8 else 0
print("requests=%d ok=%d run_s=%.6f window_rps=%.1f errors=%d status_errors=%d non2xx=%d p50_us=%.0f p99_us=%.0f api_score=%.1f status=%s" % (
    t["responses"], d["status_classes"]["2xx"], d["duration_s"], d["rps"],
    e["connect"] + e["read"] + e["write"] + e["timeout"] + e["parse"], t["status_errors"],
    d["requests"] - d["status_classes"]["2xx"], d["latency_us"]["p50"], d["latency_us"]["p99"],
    score / d["duration_s"], ",".join("%s:%d" % kv for kv in sorted(d["status"].items()))))' "$BENCH_TMP/load.out" 2>/dev/null || true)
	if [ -z "$line" ] || [ $rc -ne 0 ]; then
		bench_log "$prof: load generator failed (rc=$rc):"
		cat "$BENCH_TMP/load.out" "$log" >&2
		return 1
	fi
	s1=$(cpu_delta "$BENCH_TMP/s0" "$BENCH_TMP/s1")
	p1=$(cpu_delta "$BENCH_TMP/p0" "$BENCH_TMP/p1")
	r1=$(cpu_delta "$BENCH_TMP/r0" "$BENCH_TMP/r1")
	LINE=$(awk -v s="$s1" -v p="$p1" -v r="$r1" -v a0="$a0" -v a1="$a1" -v l0="$l0" -v l1="$l1" -v d="$duration" \
		'BEGIN { f = (a1 - a0) - s - p - r - (l1 - l0); if (f < 0) f = 0
		printf "cpu_s=%.3f pg_cpu_s=%.3f redis_cpu_s=%.3f load_cpu_s=%.3f foreign_cpu_pct=%.1f", s, p, r, l1 - l0, 100 * f / d }')
	LINE="profile=$prof rep=$rep conns=$conns rpc=$rpc $LINE hwm_kb=$hwm $line"
}

run_one() {
	if ! bench_quietest measure "$@"; then
		failed=1
		return
	fi
	echo "$LINE" >>"$results"
	bench_log "$LINE"
}

# a check of the answers before measuring (the test is tests/httparena/db_conformance.py)
port=$(bench_free_port "$port_base")
port_base=$((port + 1))
bench_spawn "$server_cpu" "$BENCH_TMP/probe.log" env DATABASE_URL="$db_url" DATABASE_MAX_CONN="$max_conn" \
	"$server" --port "$port" --threads 1 --data "$data"
SPID=$BENCH_LAST_PID
bench_wait_listen "$SPID" "$port" 30 || { cat "$BENCH_TMP/probe.log" >&2; bench_die "httparena-server did not start"; }
probe=$(curl -sS "http://127.0.0.1:$port/async-db?min=10&max=50&limit=5" || true)
probe_crud=$(curl -sS -D- "http://127.0.0.1:$port/crud/items/42" | tr -d '\r' | grep -i '^x-cache' || true)
bench_stop "$SPID"
bench_log "probe: /async-db?limit=5 -> ${probe:0:120}...; /crud/items/42 -> $probe_crud"
case $probe in *'"count":5}'*) ;; *) bench_die "/async-db did not answer 5 items: no database? (nothing measured)" ;; esac

np=0
for prof in $profiles; do profile_def "$prof" >/dev/null || bench_die "unknown profile $prof"; np=$((np + 1)); done
read -r -a plist <<<"$profiles"
bench_log "DB benchmark: server on CPU $server_cpu, PostgreSQL + Redis + zerg-load on CPU $load_cpu, ${duration}s x $reps, $conns connections, DATABASE_MAX_CONN=$max_conn; profiles: $profiles"
for ((rep = 1; rep <= reps; rep++)); do
	for ((k = 0; k < np; k++)); do
		run_one "${plist[$(((k + rep - 1) % np))]}" "$rep"
	done
done
elapsed=$(($(date +%s) - t_start))

# ---- summarise ---------------------------------------------------------------
table=$BENCH_TMP/table.md
awk -v reps="$reps" -v profiles="$profiles" "$BENCH_AWK_FUNCS"'
{
	delete V; kv($0)
	p = V["profile"]; ok = V["ok"]; d = V["run_s"]
	N[p]++; R[p] = R[p] " " ok / d
	S[p] = S[p] " " (ok ? 1e6 * V["cpu_s"] / ok : 0)
	P[p] = P[p] " " (ok ? 1e6 * V["pg_cpu_s"] / ok : 0)
	Q[p] = Q[p] " " (ok ? 1e6 * V["redis_cpu_s"] / ok : 0)
	L[p] = L[p] " " (ok ? 1e6 * V["load_cpu_s"] / ok : 0)
	A[p] = A[p] " " V["api_score"]
	RR[p, V["rep"]] = ok / d; CC[p, V["rep"]] = ok ? V["cpu_s"] / ok : 0
	if (V["hwm_kb"] > H[p]) H[p] = V["hwm_kb"]
	E[p] += V["errors"] + V["non2xx"]
	C[p] = V["conns"]; RP[p] = V["rpc"]
	lo = ok / d; if (!(p in MIN) || lo < MIN[p]) MIN[p] = lo; if (lo > MAX[p]) MAX[p] = lo
}
END {
	print "| profile | conns | -r | req/s (2xx), median (min-max) | server CPU µs/req | PostgreSQL CPU µs/req | Redis CPU µs/req | zerg-load CPU µs/req | server peak RSS MiB | non-2xx + errors | runs |"
	print "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	n = split(profiles, ps, " ")
	for (i = 1; i <= n; i++) {
		p = ps[i]
		if (!N[p]) { printf "| %s | | | failed | | | | | | | 0 |\n", p; continue }
		printf "| %s | %d | %d | %.0f (%.0f-%.0f) | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d |\n", p, C[p], RP[p], median(R[p]), MIN[p], MAX[p], median(S[p]), median(P[p]), median(Q[p]), median(L[p]), H[p] / 1024, E[p], N[p]
	}
	if (N["api-4"]) printf "\napi-4 weighted score (SPEC-HEAD 7: 0.15 x baseline + 1 x json + 10 x async-db 2xx, per second): median %.0f\n", median(A["api-4"])
	if (N["crud-memory"] && N["crud-redis"]) {
		qr = ""; qc = ""; m = 0
		for (r = 1; r <= reps; r++) {
			if (!(("crud-memory", r) in RR) || !(("crud-redis", r) in RR) || RR["crud-redis", r] <= 0 || CC["crud-redis", r] <= 0) continue
			m++; qr = qr " " RR["crud-memory", r] / RR["crud-redis", r]; qc = qc " " CC["crud-memory", r] / CC["crud-redis", r]
		}
		if (m) printf "\ncrud, in-process cache against Redis, per pair (same repetition), median of %d: %.2fx the req/s at %.2fx the server CPU per request\n", m, median(qr), median(qc)
	}
}' "$results" >"$table"

cmd_line="flock /tmp/zg-bench.lock tests/bench/db_bench.sh BUILD${args_line:+ $args_line}"
echo
echo "DB benchmark: httparena-server (--threads 1) on CPU $server_cpu; PostgreSQL $pg_version, Redis $redis_version and zerg-load (1 thread) on CPU $load_cpu; ${duration} s per run after ${warmup} s warm-up, $reps repetition(s), medians:"
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
		echo "httparena-server with \`--threads 1\`, \`DATABASE_MAX_CONN=$max_conn\` (the benchmark's 256 is sized for 64 cores), pinned to CPU $server_cpu, a fresh process per run;"
		echo "PostgreSQL $pg_version (a cluster the script makes: fsync off, shared_buffers 64 MB, seeded as SPEC-HEAD 6.9 says), Redis $redis_version (crud-redis only) and zerg-load (\`-t 1\`) share CPU $load_cpu."
		echo "${duration} s measured after ${warmup} s of warm-up, $reps repetition(s), the order of the profiles rotating; request files from $tmpl_src (crud's {RAND}/{SEQ} substituted by zerg-load as gcannon does)."
		echo "req/s counts 2xx answers; CPU µs/req = the process's (PostgreSQL: postmaster + backends) utime+stime during the measured run / 2xx answers. With the database on the other core, req/s is bounded by PostgreSQL's core as much as by the server's: compare the server's CPU per request."
		[ "${BENCH_NOISY:-0}" -gt 0 ] && echo "Warning: in ${BENCH_NOISY} measurement(s) other processes kept taking more than 10% of a core after three tries (foreign_cpu_pct in the raw results)."
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
	bench_docs_section "$docs/benchmarks.md" DB "$sec"
	bench_log "wrote the DB section of docs/benchmarks.md"
fi
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^non2xx=/ && $i != "non2xx=0") bad = 1 } END { exit bad }' "$results" || failed=1
exit "$failed"
