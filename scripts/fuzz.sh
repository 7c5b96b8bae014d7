#!/bin/sh
# Long libFuzzer runs of the harnesses in tests/fuzz (docs/fuzzing.md).
# Usage: scripts/fuzz.sh [-t SECONDS] [-m] [HARNESS...]
#   -t SECONDS  how long each harness runs (default 60)
#   -m          then merge the inputs that add coverage into
#               tests/fuzz/corpus/<harness>/ (libFuzzer -merge=1)
#   HARNESS     http_parse chunked http_head pipe_reader (default: all)
# Build dir build-fuzz/ (clang, -Dfuzz=true, ASan + UBSan). A harness's
# working corpus stays in build-fuzz/corpus/<harness>/ from run to run;
# crash inputs go to build-fuzz/crashes/, logs to build-fuzz/logs/. Runs
# at nice 19, one process at a time: it is meant to share the machine.
# Exit status 1 if any harness crashed.
set -eu
cd "$(dirname "$0")/.."

secs=60
merge=0
while getopts t:m o; do
	case $o in
	t) secs=$OPTARG ;;
	m) merge=1 ;;
	*) echo "usage: $0 [-t seconds] [-m] [harness...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
harnesses=${*:-http_parse chunked http_head pipe_reader}
for h in $harnesses; do
	case $h in
	http_parse | chunked | http_head | pipe_reader) ;;
	*) echo "$0: no harness $h" >&2; exit 2 ;;
	esac
done

scripts/install-deps.sh --fuzz

dir=build-fuzz
if [ ! -f $dir/build.ninja ]; then
	CC=clang-14 meson setup $dir --buildtype=debugoptimized -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false -Dexamples=false
fi
targets=""
for h in $harnesses; do
	targets="$targets tests/fuzz/fuzz_$h"
done
# shellcheck disable=SC2086
nice -n 19 ninja -C $dir -j2 $targets

# Inputs long enough to reach every limit of the code under test.
max_len() {
	case $1 in
	http_parse) echo 32768 ;; # HTTP_MAX_HEAD is 24672
	chunked) echo 20480 ;;    # trailers up to 16384 bytes
	http_head) echo 1024 ;;
	*) echo 4096 ;;
	esac
}

# The last value of "key: N" in a libFuzzer log.
stat() {
	sed -n "s/.*$2 *\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1
}

count() {
	find "$1" -maxdepth 1 -type f -name "$2" | wc -l
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p $dir/logs $dir/crashes
summary=$dir/logs/summary.txt
status=0
printf '%-12s %6s %10s %7s %6s %7s %7s %7s\n' harness secs execs exec/s cov ft corpus crashes |
	tee $summary
for h in $harnesses; do
	work=$dir/corpus/$h
	log=$dir/logs/$h.log
	mkdir -p "$work"
	before=$(count $dir/crashes "$h-*")
	rc=0
	nice -n 19 $dir/tests/fuzz/fuzz_"$h" -max_total_time="$secs" -max_len="$(max_len "$h")" \
		-timeout=10 -print_final_stats=1 -artifact_prefix="$dir/crashes/$h-" \
		"$work" "tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
	crashes=$(($(count $dir/crashes "$h-*") - before))
	printf '%-12s %6s %10s %7s %6s %7s %7s %7s\n' "$h" "$secs" \
		"$(stat "$log" stat::number_of_executed_units:)" \
		"$(stat "$log" stat::average_exec_per_sec:)" \
		"$(stat "$log" cov:)" "$(stat "$log" ft:)" "$(count "$work" '*')" \
		"$crashes" | tee -a $summary
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		status=1
		grep -E 'check failed|ERROR:|SUMMARY:|runtime error' "$log" | head -n 5 >&2 || true
		echo "  $h: exit $rc, log $log; reproduce: $dir/tests/fuzz/fuzz_$h $dir/crashes/$h-..." >&2
	fi
	if [ $merge -eq 1 ]; then
		n0=$(count "tests/fuzz/corpus/$h" '*')
		nice -n 19 $dir/tests/fuzz/fuzz_"$h" -merge=1 -max_len="$(max_len "$h")" \
			"tests/fuzz/corpus/$h" "$work" >"$dir/logs/$h.merge.log" 2>&1
		echo "  $h: merged $(($(count "tests/fuzz/corpus/$h" '*') - n0)) inputs into tests/fuzz/corpus/$h" |
			tee -a $summary
	fi
done
exit $status
