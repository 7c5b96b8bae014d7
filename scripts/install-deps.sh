#!/bin/sh
# Install the Debian packages libzerg, its examples and its tests need.
# Installs only what is missing; safe to run again. Debian 12 or newer.
# Usage: scripts/install-deps.sh [--fuzz]
#   --fuzz  also clang and its libFuzzer runtime (scripts/fuzz.sh); the
#           normal build and tests never need them
set -eu

PKGS="gcc pkg-config meson ninja-build liburing-dev libcmocka-dev
      libsqlite3-dev libjansson-dev libisal-dev zlib1g-dev libdeflate-dev
      python3 curl libssl-dev openssl brotli"
# examples/httparena-server: brotli for json-comp and the static store
PKGS="$PKGS libbrotli-dev"
# tests/integration/test_libpq.c: libpq, and the server binaries it
# starts its own cluster with (it never uses the package's service)
PKGS="$PKGS postgresql libpq-dev"
# tests/httparena/test_redis.c: crud's cache on Redis; the test starts
# its own redis-server on a free port (never the package's service)
PKGS="$PKGS redis-server"
if [ "${1:-}" = "--fuzz" ]; then
	PKGS="$PKGS clang-14 libclang-rt-14-dev"
fi

missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
