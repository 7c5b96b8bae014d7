#!/bin/sh
# Install what is missing, build, and run the whole test suite twice:
# once in a release build, once under AddressSanitizer + UBSan.
# Usage: scripts/test.sh   (build dirs: build-test/, build-asan/)
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh

run_suite() {
	dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	else
		meson setup --reconfigure "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs
}

echo "== release build =="
run_suite build-test --buildtype=release -Dwerror=true

echo "== AddressSanitizer + UBSan build =="
# detect_leaks stays on: every test frees what it allocates.
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan --buildtype=debug -Db_sanitize=address,undefined -Dbufring_checks=true \
		-Db_lundef=false
