# SPDX-License-Identifier: MIT
# Helpers shared by echo_bench.sh and http_bench.sh (sourced, not run).
#
# Every process started through bench_spawn is remembered and killed (by
# its pid) on exit, so a benchmark never leaves a server behind.

BENCH_PIDS=()
BENCH_TMP=""

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 2; }

# Install Debian packages that are missing (the scripts must run on a
# fresh machine). Usage: bench_need_pkgs pkg...
# The programs a benchmark runs: a skip (77) when one is not built.
bench_need_bins() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
	done
}

bench_need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	bench_log "installing missing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		bench_die "need root to apt-get install ${missing[*]} (or install them by hand)"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
		bench_die "apt-get install ${missing[*]} failed"
}

bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	sleep 0.2
	for pid in "${BENCH_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ -z "${BENCH_KEEP_TMP:-}" ]; then
		rm -rf "$BENCH_TMP"
	fi
}

bench_init() {
	BENCH_TMP=$(mktemp -d /tmp/zerg-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	# the load generator and the servers each need a descriptor per connection
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	[ "$(nproc)" -ge 2 ] || bench_log "warning: fewer than 2 CPUs; server and load will share one"
}

# Is something listening on TCP port $1 (IPv4 or IPv6, any address)?
bench_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A port nobody listens on, from $1 upwards.
bench_free_port() {
	local p=$1
	while bench_listening "$p"; do p=$((p + 1)); done
	echo "$p"
}

# bench_spawn CPU LOGFILE cmd args... : start a command pinned to CPU in the
# background; sets BENCH_LAST_PID.
bench_spawn() {
	local cpu=$1 log=$2
	shift 2
	taskset -c "$cpu" "$@" >"$log" 2>&1 &
	BENCH_LAST_PID=$!
	BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_wait_listen PID PORT [TIMEOUT_S]: wait until PORT listens; fails
# if PID died first or the timeout passed.
bench_wait_listen() {
	local pid=$1 port=$2 t=${3:-20} i
	for ((i = 0; i < t * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		bench_listening "$port" && return 0
		sleep 0.05
	done
	return 1
}

# bench_stop PID: SIGTERM, then SIGKILL after 3 s; reaps it.
bench_stop() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Total CPU seconds (utime + stime) of a set of pids, from /proc/PID/stat.
bench_cpu_s() {
	local tck pid total=0 v
	tck=$(getconf CLK_TCK)
	for pid in "$@"; do
		v=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' \
			"/proc/$pid/stat" 2>/dev/null) || v=0
		total=$((total + ${v:-0}))
	done
	awk -v t="$total" -v h="$tck" 'BEGIN { printf "%.3f\n", t / h }'
}

# Sum of a /proc/PID/status field (kB) over pids: bench_status_kb VmHWM pid...
bench_status_kb() {
	local key=$1 pid total=0 v
	shift
	for pid in "$@"; do
		v=$(awk -v k="$key:" '$1 == k { print $2 }' "/proc/$pid/status" 2>/dev/null) || v=0
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

# Machine description for the docs.
bench_machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	printf '%s, %s CPUs, Linux %s' "${cpu:-unknown CPU}" "$(nproc)" "$(uname -r)"
}

# bench_docs_section DOC NAME FILE: replace the text between
# <!-- BEGIN NAME --> and <!-- END NAME --> in DOC by FILE's content.
bench_docs_section() {
	local doc=$1 name=$2 file=$3
	[ -f "$doc" ] || bench_die "$doc missing"
	awk -v name="$name" -v file="$file" '
		$0 == "<!-- BEGIN " name " -->" { print; while ((getline l < file) > 0) print l; skip = 1; found = 1; next }
		$0 == "<!-- END " name " -->" { skip = 0 }
		!skip { print }
		END { if (!found) exit 3 }' "$doc" >"$doc.tmp" ||
		{ rm -f "$doc.tmp"; bench_die "no <!-- BEGIN $name --> marker in $doc"; }
	mv "$doc.tmp" "$doc"
}

# Wait (up to $1 seconds, default 30) until the machine is quiet: less than
# 15% of all CPUs busy over half a second, so another job's load does not
# land in a measurement. Returns 1 (after the wait) if it never got quiet.
bench_wait_quiet() {
	local limit=${1:-30} start busy
	start=$(date +%s)
	while :; do
		busy=$(
			{ head -1 /proc/stat; sleep 0.5; head -1 /proc/stat; } |
				awk '{ b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6 }
				NR == 1 { b0 = b; t0 = t } NR == 2 { printf "%d", (t > t0) ? 100 * (b - b0) / (t - t0) : 0 }'
		)
		[ "$busy" -lt 15 ] && return 0
		if [ $(($(date +%s) - start)) -ge "$limit" ]; then
			bench_log "warning: machine still ${busy}% busy after ${limit}s; measuring anyway (expect noise)"
			return 1
		fi
		sleep 1
	done
}

# user + nice + system seconds over all CPUs (first line of /proc/stat).
bench_all_cpu_s() {
	awk -v h="$(getconf CLK_TCK)" '/^cpu / { printf "%.3f\n", ($2 + $3 + $4) / h; exit }' /proc/stat
}

# Sets BENCH_CHILD_CPU to the CPU seconds (user + sys) of this shell's
# reaped children so far. Call it directly, not in $(...): `times` must run
# in this shell, a subshell has its own (empty) children account.
bench_children_cpu_s() {
	local f=${BENCH_TMP:-/tmp}/times.$$
	times >"$f"
	BENCH_CHILD_CPU=$(awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] }
		printf "%.3f\n", t }' "$f")
	rm -f "$f"
}

# Busy seconds of one CPU (user + nice + system + irq + softirq, from
# /proc/stat): unlike a process's utime + stime it includes softirq work
# the kernel charges to no process.
bench_core_busy_s() {
	awk -v c="cpu$1" -v h="$(getconf CLK_TCK)" '$1 == c { printf "%.3f\n", ($2 + $3 + $4 + $7 + $8) / h; exit }' /proc/stat
}

# bench_quietest CMD ARGS...: run CMD (a function that sets LINE or
# fails) again, up to three times, while other processes took more than
# 10% of a core during its window (LINE's foreign_cpu_pct=); leaves the
# quietest LINE and counts a still-noisy result in BENCH_NOISY. Returns 1
# when CMD failed.
bench_quietest() {
	local try best="" best_f=999999 f
	for try in 1 2 3; do
		"$@" || return 1
		f=$(echo "$LINE" | sed -n 's/.*foreign_cpu_pct=\([0-9.]*\).*/\1/p')
		if awk -v a="${f:-0}" -v b="$best_f" 'BEGIN { exit !(a < b) }'; then
			best=$LINE best_f=${f:-0}
		fi
		awk -v a="${f:-0}" 'BEGIN { exit !(a <= 10) }' && break
		bench_log "$1 ${*:2}: other processes took ${f}% of a core meanwhile; measuring again"
	done
	awk -v a="$best_f" 'BEGIN { exit !(a > 10) }' && BENCH_NOISY=$((${BENCH_NOISY:-0} + 1))
	LINE=$best
}

# awk functions of both summaries, prepended to their programs: kv()
# splits a "key=value key=value" line into V[]; median() of a list
# "v1 v2 ...".
BENCH_AWK_FUNCS='
function kv(s,   i, n, a, b) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) { split(a[i], b, "="); V[b[1]] = b[2] }
}
# insertion sort: mawk has no asort
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	if (n == 0) return 0
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'
