#!/bin/sh
# SPDX-License-Identifier: MIT
# Install test: build libzerg from a fresh tree into a temporary prefix,
# then use it the way an outside project would, through pkg-config:
#   - the installed header compiles on its own as strict C11 and as C++;
#   - a small echo server (below) compiles and links against the shared
#     library, runs on an ephemeral port and echoes (checked with python3);
#   - the shared library exports only zg_ symbols, has a versioned SONAME;
#   - every global symbol of the static library starts with zg_ too, and
#     the same program links statically (pkg-config --static) without
#     needing libzerg.so, and works.
# Usage: install_test.sh <libzerg source root>        (exit 77: skipped)
set -eu

src=${1:?usage: install_test.sh <source root>}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zg-install.XXXXXX")
server_pid=

cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

for tool in meson ninja pkg-config nm readelf python3 "$CC"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found"; exit 77; }
done

echo "== build and install into $tmp/prefix"
# Only the library: examples and tests are not installed anyway.
if ! meson setup "$tmp/build" "$src" --prefix="$tmp/prefix" --libdir=lib \
	--buildtype=release -Dexamples=false -Dtests=false >"$tmp/setup.log" 2>&1; then
	cat "$tmp/setup.log"
	fail "meson setup"
fi
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "ninja"; }
meson install -C "$tmp/build" --quiet >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }

prefix=$tmp/prefix
libdir=$prefix/lib
[ -f "$prefix/include/zerg.h" ] || fail "zerg.h not installed in $prefix/include"
[ -f "$libdir/pkgconfig/libzerg.pc" ] || fail "libzerg.pc not installed in $libdir/pkgconfig"
[ -f "$libdir/libzerg.a" ] || fail "libzerg.a not installed"
so=$(ls "$libdir"/libzerg.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$so" ] || fail "no versioned libzerg.so.X.Y.Z in $libdir"
[ -L "$libdir/libzerg.so" ] || fail "no libzerg.so development symlink"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists libzerg || fail "pkg-config does not find libzerg"
cflags=$(pkg-config --cflags libzerg)
libs=$(pkg-config --libs libzerg)
static_libs=$(pkg-config --static --libs libzerg)
echo "cflags: $cflags"
echo "libs: $libs"
echo "static libs: $static_libs"

echo "== the header alone, strict C11 and C++"
printf '#include <zerg.h>\nint main(void) { return zg_strerror(0) == 0; }\n' >"$tmp/hdr.c"
# shellcheck disable=SC2086
$CC -std=c11 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only $cflags "$tmp/hdr.c" ||
	fail "zerg.h is not clean C11"
if command -v c++ >/dev/null 2>&1; then
	cp "$tmp/hdr.c" "$tmp/hdr.cc"
	# shellcheck disable=SC2086
	c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only $cflags "$tmp/hdr.cc" ||
		fail "zerg.h does not compile as C++"
fi

echo "== exported symbols"
bad=$(nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | grep -v '^zg_' || true)
[ -z "$bad" ] || fail "libzerg.so exports non-zg_ symbols: $(echo $bad)"
nexp=$(nm -D --defined-only "$so" | awk '$2 == "T"' | wc -l)
[ "$nexp" -gt 50 ] || fail "only $nexp functions exported"
readelf -d "$so" | grep -q 'SONAME.*\[libzerg\.so\.0\]' || fail "SONAME is not libzerg.so.0"
bad=$(nm -g --defined-only "$libdir/libzerg.a" | awk 'NF == 3 { print $3 }' | grep -v '^zg_' || true)
[ -z "$bad" ] || fail "libzerg.a defines global non-zg_ symbols: $(echo $bad)"

cat >"$tmp/echo.c" <<'EOF'
/* An outside program: the smallest echo server, port 0, prints its port. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <zerg.h>

static struct zg_server *server;

static void on_data(struct zg_conn *c)
{
	struct zg_read_view v;

	zg_conn_read(c, &v);
	for (unsigned i = 0; i < v.nsegs; i++)
		if (zg_conn_write(c, v.segs[i].iov_base, v.segs[i].iov_len)) {
			zg_conn_close(c, ZG_CLOSE_ABORT);
			return;
		}
	zg_conn_advance(c, v.len, v.len);
}

static void on_signal(int sig)
{
	(void)sig;
	zg_server_stop(server, 1000);
}

int main(void)
{
	struct zg_server_config cfg;
	struct zg_handler h = { .on_data = on_data };
	int ret;

	zg_server_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.threads = 2;
	ret = zg_server_new(&cfg, &h, NULL, &server);
	if (!ret)
		ret = zg_server_start(server);
	if (ret) {
		fprintf(stderr, "echo: %s\n", zg_strerror(ret));
		return ret == -38 /* ENOSYS */ ? 77 : 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	alarm(60); /* never outlive the test */
	printf("%u\n", zg_server_port(server));
	fflush(stdout);
	ret = zg_server_wait(server);
	zg_server_free(server);
	return ret ? 1 : 0;
}
EOF

cat >"$tmp/check.py" <<'EOF'
import os, socket, sys
port = int(sys.argv[1])
for size in (1, 1000, 100000, 3 << 20):
    data = os.urandom(size)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
    if bytes(got) != data:
        sys.exit("echo of %d bytes: got %d bytes back, %s" % (size, len(got),
                 "same" if got == data[:len(got)] else "different"))
print("echo ok on port %d" % port)
EOF

# Start $1, read its port, check the echo, stop it with SIGTERM.
run_and_check() {
	exe=$1
	rm -f "$tmp/port" # not the previous run's: the shell may not have truncated it yet
	"$exe" >"$tmp/port" 2>"$tmp/server.err" &
	server_pid=$!
	i=0
	while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			rc=0
			wait "$server_pid" || rc=$?
			server_pid=
			[ $rc -eq 77 ] && { echo "SKIP: $(cat "$tmp/server.err")"; exit 77; }
			cat "$tmp/server.err"
			fail "$exe exited with $rc before printing its port"
		fi
		sleep 0.1 # waiting for a process's output file: no other signal
		i=$((i + 1))
	done
	port=$(head -n 1 "$tmp/port")
	[ -n "$port" ] || fail "$exe printed no port"
	python3 "$tmp/check.py" "$port" || fail "echo through $exe"
	kill -TERM "$server_pid"
	rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	[ $rc -eq 0 ] || { cat "$tmp/server.err"; fail "$exe exited with $rc after SIGTERM"; }
}

echo "== shared: compile, link, run"
# shellcheck disable=SC2086
$CC -std=gnu11 -Wall -Wextra -Werror -o "$tmp/echo" "$tmp/echo.c" $cflags $libs \
	-Wl,-rpath,"$libdir" || fail "compiling against the shared library"
readelf -d "$tmp/echo" | grep -q 'NEEDED.*libzerg\.so\.0' || fail "echo does not use libzerg.so.0"
run_and_check "$tmp/echo"

echo "== static: compile, link, run"
# shellcheck disable=SC2086
$CC -std=gnu11 -Wall -Wextra -Werror -o "$tmp/echo_static" "$tmp/echo.c" $cflags \
	-Wl,-Bstatic $static_libs -Wl,-Bdynamic || fail "linking the static library"
if readelf -d "$tmp/echo_static" | grep -q 'NEEDED.*libzerg'; then
	fail "the static link still needs libzerg.so"
fi
run_and_check "$tmp/echo_static"

echo "install test passed"
