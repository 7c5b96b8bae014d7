#!/bin/bash
# Server CPU per 20 MiB upload in each receive-buffer mode of libzerg:
# plain (one buffer per recv), bundles (the default), incremental buffers.
# httparena-server runs with one thread on CPU 1, tests/bench/http_upload
# (64 connections) on CPU 0, only against 127.0.0.1; every process stops.
# Usage: tests/bench/recv_modes.sh BUILD_DIR [SECONDS] [ROUNDS]
set -eu
build=${1:?usage: $0 BUILD_DIR [SECONDS] [ROUNDS]}
secs=${2:-4}
rounds=${3:-3}
server=$build/examples/httparena-server/httparena-server
upload=$build/tests/bench/http_upload
[ -x "$server" ] && [ -x "$upload" ] || { echo "build $build first"; exit 77; }
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# one measurement: prints "requests ms_per_request peak_rss_kib"
measure() {
	local port=$((20000 + RANDOM % 20000))
	taskset -c 1 "$server" --port "$port" --threads 1 "$@" >"$tmp/srv.out" 2>&1 &
	spid=$!
	for _ in $(seq 50); do grep -q port "$tmp/srv.out" && break; sleep 0.1; done
	local t0 t1 req hwm
	t0=$(cpu_ticks "$spid")
	taskset -c 0 "$upload" --port "$port" --conns 64 --size $((20 << 20)) \
		--duration "$secs" --check-count >"$tmp/load.out" 2>&1
	t1=$(cpu_ticks "$spid")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
	kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
	req=$(grep -o 'requests=[0-9]*' "$tmp/load.out" | head -1 | cut -d= -f2)
	[ -n "$req" ] && [ "$req" -gt 0 ] || { echo "no uploads completed" >&2; cat "$tmp/load.out" >&2; exit 1; }
	local hz; hz=$(getconf CLK_TCK)
	echo "$req $(echo "scale=2; ($t1 - $t0) * 1000 / $hz / $req" | bc) $hwm"
}

echo "| mode | server flags | uploads | server CPU ms/upload | peak RSS MiB |"
echo "|:---|:---|---:|---:|---:|"
for r in $(seq "$rounds"); do
	for mode in "plain:--no-bundle" "bundle:" "incremental:--no-bundle --inc"; do
		name=${mode%%:*}; flags=${mode#*:}
		# shellcheck disable=SC2086
		read -r req ms hwm < <(measure $flags)
		echo "| $name (round $r) | ${flags:-(default)} | $req | $ms | $((hwm / 1024)) |"
	done
done
