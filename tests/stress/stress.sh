#!/bin/bash
# SPDX-License-Identifier: MIT
# The concurrent differential stress test (issue 7): for each receive
# mode and ring size, start httparena-server on 127.0.0.1 with an
# ephemeral port, run tests/stress/stress against it (many connections
# replaying seeded request streams, every answer checked), then stop the
# server and require a clean exit (a crash or a sanitizer report fails).
#
#   stress.sh [--build DIR | --server P --datagen P --client P]
#             [--modes plain,bundle,inc] [--rings default,tiny]
#             [--preset quick|long] [--seed S] [--seeds N] [--threads T]
#             [--scale K] [-- stress options...]
#
# quick (the default, what `meson test` runs): about a second or two
# per mode and ring in a release build. long: minutes, 400 connections
# at once and bigger uploads; `--seeds N` repeats with N seeds. A failure
# prints the seed; `--seed S` replays the same streams.
#
# Exit: 0 passed, 1 failed, 2 usage, 77 every requested receive mode is
# missing on this kernel (a missing mode among others is reported and
# skipped).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build='' server='' datagen='' client=''
modes=plain,bundle,inc rings=default,tiny preset=quick
seed=${STRESS_SEED:-} seeds=1 threads='' scale=1
extra=()

die() { echo "stress.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--server) server=$2; shift ;;
	--datagen) datagen=$2; shift ;;
	--client) client=$2; shift ;;
	--modes) modes=$2; shift ;;
	--rings) rings=$2; shift ;;
	--preset) preset=$2; shift ;;
	--seed) seed=$2; shift ;;
	--seeds) seeds=$2; shift ;;
	--threads) threads=$2; shift ;;
	--scale) scale=$2; shift ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '3,22p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done

if [ -z "$server$datagen$client" ]; then
	[ -n "$build" ] || build=$here/../../build
	server=$build/examples/httparena-server/httparena-server
	datagen=$build/examples/httparena-server/httparena-datagen
	client=$build/tests/stress/stress
fi
for f in "$server" "$datagen" "$client"; do
	[ -x "$f" ] || die "$f is not built"
done
# A seed per run unless given: each run explores other streams, and a
# failure prints the seed that replays it.
[ -n "$seed" ] || seed=$(( ($(date +%s) ^ $$ ^ RANDOM) & 0x7fffffff ))

# Load per run. conns/rounds/reqs/upload-max/timeout; scale divides the
# number of connections per slot (for slow sanitizer builds).
case $preset in
quick) conns=160 rounds=6 reqs=12 upload_default=262144 upload_tiny=32768 timeout=15
       : "${threads:=1}" ;;
long)  conns=400 rounds=20 reqs=20 upload_default=1048576 upload_tiny=262144 timeout=600
       : "${threads:=2}" ;;
*) die "--preset quick|long" ;;
esac
rounds=$(( rounds / scale > 0 ? rounds / scale : 1 ))

tmp=$(mktemp -d /tmp/zerg-stress.XXXXXX)
spid=
cleanup() {
	if [ -n "$spid" ]; then
		kill -KILL "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$datagen" "$tmp/data" >/dev/null || die "datagen failed"

mode_flags() {
	case $1 in
	plain) echo "--no-bundle" ;;
	bundle) echo "" ;;
	inc) echo "--inc" ;;
	*) die "unknown mode $1 (plain, bundle, inc)" ;;
	esac
}

# tiny: 16 buffers of 100 bytes (the library's minimum is 64), so every
# head straddles buffers and the ring runs dry all the time.
ring_flags() {
	case $1 in
	default) echo "" ;;
	tiny) echo "--bufs 16 --buf-size 100" ;;
	*) die "unknown ring $1 (default, tiny)" ;;
	esac
}

# Start the server; sets spid and port. The start line is the only
# thing it prints: "httparena-server: port P, threads T, ...".
start_server() {
	local line
	# Empty files first: the shell truncates them only in the child, and
	# the loop below must not read the previous server's port.
	: >"$tmp/server.out"
	: >"$tmp/server.err"
	# shellcheck disable=SC2086
	"$server" --port 0 --host 127.0.0.1 --threads "$threads" --data "$tmp/data" $1 \
		>>"$tmp/server.out" 2>>"$tmp/server.err" &
	spid=$!
	for _ in $(seq 150); do
		line=$(head -n 1 "$tmp/server.out")
		if [[ $line =~ ^httparena-server:\ port\ ([0-9]+), ]]; then
			port=${BASH_REMATCH[1]}
			return 0
		fi
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: the server did not start ($server $1):"
	cat "$tmp/server.err"
	return 1
}

# Stop it with SIGTERM (a graceful stop) and require exit 0 and a quiet
# stderr: a crash, a sanitizer report or a leak fails the run.
stop_server() {
	local rc=0
	if ! kill -0 "$spid" 2>/dev/null; then
		wait "$spid"; rc=$?
		echo "FAIL: the server died during the run (exit $rc):"
		cat "$tmp/server.err"
		spid=
		return 1
	fi
	kill -TERM "$spid"
	for _ in $(seq 100); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$spid" 2>/dev/null && echo "FAIL: the server did not stop within 10 s"
	wait "$spid"; rc=$?
	spid=
	if [ "$rc" -ne 0 ] || [ -s "$tmp/server.err" ]; then
		echo "FAIL: the server exited with $rc:"
		cat "$tmp/server.err"
		return 1
	fi
}

# One run: mode, ring, seed. Prints the client's summary (and failures).
run_one() {
	local mode=$1 ring=$2 s=$3 upload rc
	[ "$ring" = tiny ] && upload=$upload_tiny || upload=$upload_default
	echo "== mode $mode, ring $ring, seed $s: server $(mode_flags "$mode") $(ring_flags "$ring")"
	start_server "$(mode_flags "$mode") $(ring_flags "$ring")" || return 1
	"$client" --port "$port" --seed "$s" --conns "$conns" --rounds "$rounds" \
		--reqs "$reqs" --upload-max "$upload" --timeout "$timeout" "${extra[@]}"
	rc=$?
	stop_server || rc=1
	[ "$rc" -eq 0 ] || echo "FAIL: mode $mode, ring $ring: replay with: $0 --modes $mode --rings $ring --preset $preset --seed $s --threads $threads"
	return "$rc"
}

failed=0 ran=0 t0=$(date +%s)
IFS=, read -r -a mode_list <<<"$modes"
IFS=, read -r -a ring_list <<<"$rings"
for ring in "${ring_list[@]}"; do ring_flags "$ring" >/dev/null; done
for mode in "${mode_list[@]}"; do
	mode_flags "$mode" >/dev/null
	why=$("$client" --probe "$mode")
	case $? in
	0) ;;
	77) echo "SKIP mode $mode: $why"; continue ;;
	*) echo "FAIL: probe of mode $mode: $why"; failed=1; continue ;;
	esac
	for ring in "${ring_list[@]}"; do
		for k in $(seq 0 $((seeds - 1))); do
			ran=$((ran + 1))
			run_one "$mode" "$ring" $((seed + k)) || failed=1
		done
	done
done
echo "stress.sh: $ran runs in $(( $(date +%s) - t0 )) s, $([ $failed -eq 0 ] && echo passed || echo FAILED)"
[ "$failed" -ne 0 ] && exit 1
[ "$ran" -eq 0 ] && exit 77
exit 0
