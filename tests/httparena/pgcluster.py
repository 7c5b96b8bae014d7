# SPDX-License-Identifier: MIT
"""Real components for the database tests and benchmarks: a PostgreSQL
cluster and a redis-server, each started by the caller in a temporary
directory as an unprivileged user on a free 127.0.0.1 port, and always
stopped.

PostgreSQL: initdb (Debian's binaries in /usr/lib/postgresql/<v>/bin,
the newest; or ZG_PG_BINDIR) in /dev/shm when it is a tmpfs with room,
else /tmp; as `nobody` (or ZG_PG_USER) when run as root; superuser
`postgres` over the Unix socket in that directory (trust), TCP on
127.0.0.1 with scram-sha-256; role bench / password bench, database
benchmark, as the benchmark's sidecar (SPEC-HEAD.md 6.1), seeded with
COPY from pgseed.py's script.

Stopping, whatever happens: stop() from atexit and from SIGTERM / SIGINT
/ SIGHUP (turned into SystemExit); every server has PR_SET_PDEATHSIG
(SIGKILL when this process dies); and a reaper process in its own
session kills the recorded servers and removes the directories if this
process dies without saying it has cleaned up.

A missing component raises Missing (the caller skips that group and
says why).

python3 stdlib only.
"""

import atexit
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PR_SET_PDEATHSIG = 1


class Missing(Exception):
    """A component is not installed or cannot run here."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tmp_base():
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= 512 << 20 and os.access("/dev/shm", os.W_OK | os.X_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None  # tempfile's default


def _run_user():
    """(uid, gid, name) to run servers as, or None when not root."""
    if os.geteuid() != 0:
        return None
    for n in (os.environ.get("ZG_PG_USER"), "zgtest", "nobody"):
        if not n:
            continue
        try:
            pw = pwd.getpwnam(n)
        except KeyError:
            continue
        if pw.pw_uid != 0:
            return (pw.pw_uid, pw.pw_gid, pw.pw_name)
    raise Missing("running as root and no unprivileged user (nobody) to run servers as")


_libc = ctypes.CDLL(None, use_errno=True)


def _preexec(user):
    def fn():
        os.setsid()  # a signal to the test's process group spares it
        if user:
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return fn


class _Reaper:
    """`pid N` / `dir D` lines record what to clean up; `done` ends it
    quietly; EOF without `done` (this process died) kills the pids and
    removes the directories."""

    CODE = r"""
import os, shutil, signal, sys, time
pids, dirs = [], []
for line in sys.stdin:
    w = line.split(" ", 1)
    if w[0] == "done\n" or w[0] == "done":
        sys.exit(0)
    if w[0] == "pid":
        pids.append(int(w[1]))
    elif w[0] == "dir":
        dirs.append(w[1].rstrip("\n"))
for p in pids:
    try:
        os.kill(p, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.5)
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", self.CODE], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True, text=True)

    def say(self, line):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except (OSError, ValueError):
            pass

    def done(self):
        self.say("done")
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()


_reaper = None
_live = []


def _cleanup():
    for c in list(_live):
        c.destroy()
    global _reaper
    if _reaper:
        _reaper.done()
        _reaper = None


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


def _register(c):
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
        atexit.register(_cleanup)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(s, _on_signal)
    _live.append(c)
    return _reaper


def _mkdir(prefix, user):
    d = os.path.realpath(tempfile.mkdtemp(prefix=prefix, dir=tmp_base()))
    if user:
        os.chown(d, user[0], user[1])
    return d


def _wait_port(port, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ---------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------

def pg_bindir():
    e = os.environ.get("ZG_PG_BINDIR")
    cands = [e] if e else sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                 key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                                 reverse=True)
    for d in cands:
        if d and os.access(os.path.join(d, "initdb"), os.X_OK) and \
           os.access(os.path.join(d, "postgres"), os.X_OK):
            return d
    raise Missing("no PostgreSQL server binaries (initdb, postgres in /usr/lib/postgresql/*/bin; "
                  "Debian package postgresql, scripts/install-deps.sh)")


class Postgres:
    """A cluster; url() is the DATABASE_URL for bench/bench/benchmark."""

    def __init__(self, max_connections=300, log=None):
        self.bindir = pg_bindir()
        self.psql_bin = shutil.which("psql") or os.path.join(self.bindir, "psql")
        if not os.access(self.psql_bin, os.X_OK):
            raise Missing("no psql (Debian package postgresql-client)")
        self.user = _run_user()
        self.max_connections = max_connections
        self.proc = None
        self.port = 0
        self.reaper = _register(self)
        self.dir = _mkdir("zg-pg-", self.user)
        self.reaper.say("dir " + self.dir)
        self.data = os.path.join(self.dir, "data")
        self.logpath = log or os.path.join(self.dir, "postgres.log")
        self._initdb()

    def _spawn(self, argv):
        logf = open(self.logpath, "ab")
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    cwd=self.dir, preexec_fn=_preexec(self.user),
                                    env={"LC_ALL": "C", "LANG": "C", "TZ": "UTC",
                                         "PATH": "/usr/bin:/bin"})
        finally:
            logf.close()

    def log_tail(self, n=3000):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def _initdb(self):
        p = self._spawn([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                         "-E", "UTF8", "--locale=C", "--no-sync", "--auth-local=trust",
                         "--auth-host=scram-sha-256"])
        if p.wait(timeout=120) != 0:
            raise RuntimeError("initdb failed:\n" + self.log_tail())

    def start(self, timeout=20):
        """Start (again: on the same port after stop())."""
        for attempt in range(4):
            if not self.port or attempt:
                self.port = free_port()
            self.proc = self._spawn([
                os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + self.dir,
                "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                "-c", "max_connections=%d" % self.max_connections,
                "-c", "shared_buffers=64MB", "-c", "autovacuum=off",
                # in the data directory (not /dev/shm/PostgreSQL.*): it
                # goes with the directory, also after a SIGKILL
                "-c", "dynamic_shared_memory_type=mmap"])
            self.reaper.say("pid %d" % self.proc.pid)
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.proc.poll() is None:
                r = subprocess.run([self.psql_bin, "-h", self.dir, "-p", str(self.port), "-U",
                                    "postgres", "-d", "postgres", "-Atc", "SELECT 1"],
                                   capture_output=True, timeout=10)
                if r.returncode == 0:
                    return self
                time.sleep(0.1)
            if self.proc.poll() is not None and "could not" in self.log_tail(600) and attempt < 3:
                continue  # the port was taken meanwhile
            self.stop()
            raise RuntimeError("postgres did not start:\n" + self.log_tail())
        return self

    def stop(self, mode=signal.SIGINT):
        """Stop the server (SIGINT: fast shutdown; SIGQUIT: immediate),
        SIGKILL after 5 s. The cluster stays for start()."""
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.send_signal(mode)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def psql(self, sql, db="benchmark", user="postgres", input_file=None, timeout=60):
        """Run sql (or the file) over the Unix socket; rows as lists of
        text fields (tab-separated, unaligned)."""
        argv = [self.psql_bin, "-h", self.dir, "-p", str(self.port), "-U", user, "-d", db,
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t"]
        argv += ["-f", input_file] if input_file else ["-c", sql]
        r = subprocess.run(argv, capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql %s: %s" % (sql or input_file, r.stderr.decode(errors="replace")))
        out = r.stdout.decode()
        return [l.split("\t") for l in out.split("\n") if l != ""]

    def setup_bench(self, seed_sql):
        """bench/bench, database benchmark owned by bench, items seeded."""
        self.psql("CREATE ROLE bench LOGIN PASSWORD 'bench'", db="postgres")
        self.psql("CREATE DATABASE benchmark OWNER bench", db="postgres")
        self.psql(None, user="bench", input_file=seed_sql, timeout=300)
        self.psql("ANALYZE items", user="bench")

    def url(self):
        return "postgres://bench:bench@127.0.0.1:%d/benchmark" % self.port

    def backends(self):
        """Client backends of user bench now."""
        return int(self.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench' "
                             "AND pid <> pg_backend_pid()")[0][0])


# ---------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------

class Redis:
    def __init__(self):
        self.bin = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.bin, os.X_OK):
            raise Missing("no redis-server (Debian package redis-server, scripts/install-deps.sh)")
        self.user = _run_user()
        self.reaper = _register(self)
        self.dir = _mkdir("zg-redis-", self.user)
        self.reaper.say("dir " + self.dir)
        self.logpath = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.port = 0

    def start(self, timeout=10):
        for attempt in range(4):
            if not self.port or attempt:
                self.port = free_port()
            logf = open(self.logpath, "ab")
            self.proc = subprocess.Popen(
                [self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                 "--io-threads", "1", "--maxmemory", "512mb",
                 "--maxmemory-policy", "allkeys-lru"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd=self.dir,
                preexec_fn=_preexec(self.user))
            logf.close()
            self.reaper.say("pid %d" % self.proc.pid)
            if _wait_port(self.port, self.proc, timeout) and self.cmd("PING") == "PONG":
                return self
            self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def cmd(self, *args, timeout=5):
        """One command over RESP; the reply decoded (bulk string as str,
        nil as None, integer as int)."""
        req = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            req += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(req)
            f = s.makefile("rb")
            return _resp_read(f)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise EOFError("redis closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError("redis: " + rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        d = f.read(n + 2)
        return d[:-2].decode()
    if t == b"*":
        return [_resp_read(f) for _ in range(int(rest))]
    raise RuntimeError("redis: bad reply %r" % line)


def rss_kib(pid):
    """VmRSS and VmHWM of pid, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            k, _, v = l.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


# ---------------------------------------------------------------------
# For shell scripts (tests/bench/db_bench.sh)
# ---------------------------------------------------------------------

def _hold(argv):
    """pgcluster.py hold DATASET [--redis] [--max-connections N]
    [--watch-pid PID]: start PostgreSQL (seeded from DATASET) and, with
    --redis, redis-server; print KEY=VALUE lines (DATABASE_URL, PG_PID,
    PG_DIR, PG_PORT, REDIS_URL, REDIS_PID) and `READY`, then hold them
    until PID is gone (with --watch-pid; a shell's background job gets
    /dev/null as stdin) or else stdin ends, or a signal comes; stop both
    on the way out. Exit 77 when a component is missing."""
    import argparse
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pgseed
    ap = argparse.ArgumentParser(prog="pgcluster.py hold")
    ap.add_argument("dataset")
    ap.add_argument("--redis", action="store_true")
    ap.add_argument("--max-connections", type=int, default=300)
    ap.add_argument("--watch-pid", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        pg = Postgres(max_connections=a.max_connections)
        r = Redis() if a.redis else None
    except Missing as e:
        print("SKIP: %s" % e, flush=True)
        return 77
    pg.start()
    seed = os.path.join(pg.dir, "seed.sql")
    pgseed.write_sql(a.dataset, seed)
    pg.setup_bench(seed)
    os.unlink(seed)
    ver = subprocess.run([os.path.join(pg.bindir, "postgres"), "--version"], capture_output=True,
                         text=True).stdout.split()
    out = ["DATABASE_URL=" + pg.url(), "PG_PID=%d" % pg.proc.pid, "PG_DIR=" + pg.dir,
           "PG_PORT=%d" % pg.port, "PG_VERSION=" + (ver[2] if len(ver) > 2 else "?")]
    if r:
        r.start()
        out += ["REDIS_URL=" + r.url(), "REDIS_PID=%d" % r.proc.pid]
    print("\n".join(out + ["READY"]), flush=True)
    try:
        if a.watch_pid:
            while True:
                try:
                    os.kill(a.watch_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        else:
            while sys.stdin.read(4096):
                pass
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "hold":
        sys.exit(_hold(sys.argv[2:]))
    sys.stderr.write("usage: pgcluster.py hold DATASET [--redis] [--max-connections N]\n")
    sys.exit(2)
