#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""/async-db (SPEC-HEAD.md 6.2) and the PostgreSQL pool behind it
(examples/httparena-server/db.c), against a cluster this test starts.

The cluster: initdb and postgres as an unprivileged user (nobody when
run as root) in a directory under /dev/shm (else /tmp), on a free port of
127.0.0.1, password (scram-sha-256) over TCP as the benchmark's
bench:bench, a small `items` table seeded here (300 rows, names that need
JSON escaping). Stopped at the end, also on failure (the postmaster has
PR_SET_PDEATHSIG; the directory goes in a finally).

Checks: the shape and values of every item against the seed, counts
(limit, rows in range), defaults, limit clamped to 1..50, leading zeros,
garbage values taking the defaults, Content-Type, min=9999 -> count 0;
pipelined requests on one connection answered in order; concurrent
clients grow the pool to at most DATABASE_MAX_CONN connections in all;
clients resetting their connections with queries in flight;
PostgreSQL stopped mid-run: empty answers, no crash, and connect attempts
bounded (a listener on the port counts them) while it is down; started
again: answers recover; DATABASE_URL unset, or naming a port nobody
listens on: empty answers. The server runs 2 reactors.

Exits 77 when there is no PostgreSQL server (initdb, postgres).
usage: asyncdb_test.py --server PATH --datagen PATH"""
import argparse
import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PASSES, FAILS = [], []
SKIP = 77


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (PASSES if cond else FAILS).append(what)
    return cond


# ------------------------------------------------------------------
# The cluster
# ------------------------------------------------------------------

def pg_bindir():
    e = os.environ.get("ZG_PG_BINDIR")
    cands = [e] if e else sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                 key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in cands:
        if d and os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "postgres"), os.X_OK):
            return d
    for d in os.environ.get("PATH", "").split(":"):
        if d and os.access(os.path.join(d, "initdb"), os.X_OK) and \
                os.access(os.path.join(d, "postgres"), os.X_OK):
            return d
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


class Cluster:
    def __init__(self, bindir):
        self.bindir = bindir
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
        self.dir = tempfile.mkdtemp(prefix="zg-adb-pg-", dir=base)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.uid = self.gid = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(os.environ.get("ZG_PG_USER", "nobody"))
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        self.port = None
        self.proc = None

    def _pre(self):
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.chdir(self.dir)

    def _run(self, argv, **kw):
        with open(self.log, "ab") as log:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    preexec_fn=self._pre, env={"LC_ALL": "C", "TZ": "UTC",
                                                               "PATH": "/usr/bin:/bin"}, **kw)

    def initdb(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("postgres-secret\n")
        if self.uid is not None:
            os.chown(pwfile, self.uid, self.gid)
        p = self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                       "-E", "UTF8", "--locale=C", "--no-sync", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "--pwfile=" + pwfile])
        if p.wait(120) != 0:
            raise RuntimeError("initdb failed:\n" + self.log_text())

    def start(self, port=None):
        for _ in range(5):
            self.port = port or free_port()
            self.proc = self._run([os.path.join(self.bindir, "postgres"), "-D", self.data,
                                   "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                                   "-c", "unix_socket_directories=" + self.dir,
                                   "-c", "fsync=off", "-c", "full_page_writes=off",
                                   "-c", "max_connections=40", "-c", "shared_buffers=16MB",
                                   "-c", "autovacuum=off"])
            end = time.time() + 15
            while time.time() < end:
                if self.proc.poll() is not None:
                    break
                if self.psql("SELECT 1", check_rc=False) == "1":
                    return
                time.sleep(0.05)
            self.stop()
            if port:
                break
        raise RuntimeError("postgres did not start:\n" + self.log_text())

    def stop(self):
        """A fast shutdown (SIGINT): clients are disconnected."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def psql(self, sql, db="postgres", check_rc=True):
        r = subprocess.run([os.path.join(self.bindir, "psql") if os.path.exists(
            os.path.join(self.bindir, "psql")) else "psql", "-X", "-q", "-A", "-t",
            "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db,
            "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=30)
        if check_rc and r.returncode:
            raise RuntimeError("psql: %s\n%s" % (sql[:200], r.stderr))
        return r.stdout.strip() if r.returncode == 0 else None

    def log_text(self):
        try:
            return open(self.log, errors="replace").read()[-4000:]
        except OSError:
            return ""

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------
# The seed
# ------------------------------------------------------------------

TAGPOOL = ["compact", "eco", "fast", "heavy-duty", "limited", "new", "popular", "premium"]
CATS = ["electronics", "books", "home", "toys"]
NROWS = 300


def seed_rows():
    rows = {}
    for i in range(1, NROWS + 1):
        name = "Item %d" % i
        if i % 50 == 0:
            name = 'Quote "%d" back\\slash caf\u00e9 \x01' % i  # escapes
        tags = [TAGPOOL[(i + k) % len(TAGPOOL)] for k in range(i % 4 + 1)]
        rows[i] = {"id": i, "name": name, "category": CATS[i % len(CATS)],
                   "price": (i * 37) % 500 + 1, "quantity": (i * 11) % 1000 + 1,
                   "active": i % 3 == 0, "tags": tags,
                   "rating": {"score": i % 50 + 1, "count": (i * 7) % 500}}
    return rows


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def seed(cl, rows):
    cl.psql("CREATE USER bench PASSWORD 'bench'")
    cl.psql("CREATE DATABASE benchmark OWNER bench")
    values = ",".join("(%d,%s,%s,%d,%d,%s,%s::jsonb,%d,%d)" % (
        r["id"], sql_str(r["name"]), sql_str(r["category"]), r["price"], r["quantity"],
        "true" if r["active"] else "false", sql_str(json.dumps(r["tags"])),
        r["rating"]["score"], r["rating"]["count"]) for r in rows.values())
    cl.psql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "category TEXT NOT NULL, price INTEGER NOT NULL, quantity INTEGER NOT NULL, "
            "active BOOLEAN NOT NULL, tags JSONB NOT NULL, rating_score INTEGER NOT NULL, "
            "rating_count INTEGER NOT NULL); ALTER TABLE items OWNER TO bench; "
            "INSERT INTO items VALUES " + values, db="benchmark")


# ------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------

def read_response(f):
    """(status, headers {lower name: [values]}, body) from a file of a socket."""
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode("latin-1").split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    n = int(headers.get("content-length", ["0"])[0])
    body = f.read(n)
    return status, headers, body


def request(port, target):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target.encode())
        return read_response(s.makefile("rb"))


def pipelined(port, targets):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t.encode()
                           for t in targets))
        f = s.makefile("rb")
        return [read_response(f) for _ in targets]


EMPTY = b'{"items":[],"count":0}'


def in_range(rows, lo, hi):
    return {i for i, r in rows.items() if lo <= r["price"] <= hi}


def check_answer(rows, resp, lo, hi, limit, what):
    """The body is limit (or fewer: all) distinct rows of the range, each
    exactly as seeded; no ORDER BY, so in any order."""
    status, headers, body = resp
    ok = status == 200 and headers.get("content-type") == ["application/json"]
    try:
        doc = json.loads(body)
    except ValueError:
        return check(False, "%s: JSON (%r)" % (what, body[:80]))
    want = min(limit, len(in_range(rows, lo, hi)))
    items = doc.get("items")
    ok = ok and list(doc) == ["items", "count"] and isinstance(items, list) and \
        doc["count"] == len(items) == want
    ids = set()
    for it in items or []:
        r = rows.get(it.get("id"))
        ok = ok and r is not None and it == r and list(it) == list(r) and \
            lo <= it["price"] <= hi and it["id"] not in ids and \
            isinstance(it["active"], bool)
        ids.add(it.get("id"))
    if want == 0:
        ok = ok and body == EMPTY
    return check(ok, "%s: %d items of the range, as seeded" % (what, want))


def q(lo=None, hi=None, limit=None):
    parts = []
    for k, v in (("min", lo), ("max", hi), ("limit", limit)):
        if v is not None:
            parts.append("%s=%s" % (k, v))
    return "/async-db" + ("?" + "&".join(parts) if parts else "")


def start_server(a, data, env_db):
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("DATABASE_MAX_CONN", None)
    env.update(env_db)
    p = subprocess.Popen([a.server, "--port", "0", "--host", "127.0.0.1", "--threads", "2",
                          "--data", data], stdout=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
    line = p.stdout.readline()
    return p, int(line.split("port ")[1].split(",")[0])


def stop_server(p, what):
    alive = p.poll() is None
    check(alive, "%s: the server is still running" % what)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    check(alive and p.returncode == 0, "%s: the server exited cleanly (%s)" % (what, p.returncode))


# ------------------------------------------------------------------
# The checks
# ------------------------------------------------------------------

def t_answers(port, rows):
    for lo, hi, limit in ((10, 50, 50), (5, 80, 7), (20, 150, 18), (100, 400, 33),
                          (1, 500, 50), (480, 500, 50), (250, 250, 50)):
        check_answer(rows, request(port, q(lo, hi, limit)), lo, hi, limit,
                     "min=%d&max=%d&limit=%d" % (lo, hi, limit))
    check_answer(rows, request(port, q()), 10, 50, 50, "no parameters: 10/50/50")
    check_answer(rows, request(port, q(100)), 100, 50, 50, "min only (max 50 default)")
    check_answer(rows, request(port, q(None, 300, None)), 10, 300, 50, "max only")
    for lim, want in (("0", 1), ("-3", 1), ("1", 1), ("500", 50), ("99999999999999999999", 50),
                      ("abc", 50), ("", 50), ("7.5", 50)):
        check_answer(rows, request(port, q(1, 500, lim)), 1, 500, want,
                     "limit=%s clamped/defaulted to %d" % (lim, want))
    check_answer(rows, request(port, q("0010", "00050", "005")), 10, 50, 5, "leading zeros")
    check_answer(rows, request(port, q("+10", "+050", "+05")), 10, 50, 5, "a plus sign")
    check_answer(rows, request(port, q("x", "y", None)), 10, 50, 50, "garbage: the defaults")
    check_answer(rows, request(port, "/async-db?limit=3&min=200&max=300&min=1"), 1, 300, 3,
                 "a repeated key: the last one")
    r = request(port, q(9999, 9999, 50))
    check(r[0] == 200 and r[2] == EMPTY and r[1].get("content-type") == ["application/json"],
          "min=9999&max=9999: {\"items\":[],\"count\":0}")
    r = request(port, q(-99999999999, 99999999999, 4))
    check_answer(rows, r, -2**31, 2**31 - 1, 4, "bounds past int32 (clamped)")
    r = request(port, q(60, 10, 50))
    check(r[2] == EMPTY, "min > max: no rows")
    s, h, _ = request(port, q(10, 50, 50).replace("GET", "GET"))
    check(h.get("content-type") == ["application/json"], "Content-Type: application/json")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as so:
        so.sendall(b"POST /async-db HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        check(read_response(so.makefile("rb"))[0] == 405, "POST /async-db: 405")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as so:
        so.sendall(b"HEAD /async-db?limit=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        f = so.makefile("rb")
        line = f.readline()
        hdr = b""
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            hdr += h
        so.sendall(b"GET /baseline11?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        nxt = read_response(f)
        check(line.startswith(b"HTTP/1.1 200") and b"Content-Length: " in hdr and
              nxt[2] == b"3", "HEAD /async-db: a head, no body, the connection goes on")


def t_pipelined(port, rows):
    lims = [1, 50, 2, 33, 7, 50, 3, 18, 1, 25, 9, 50, 4, 5, 6, 11]
    targets = [q(10, 300, l) if k % 4 else "/baseline11?a=%d&b=1" % k
               for k, l in enumerate(lims)]
    rs = pipelined(port, targets)
    ok = True
    for k, (t, r) in enumerate(zip(targets, rs)):
        if t.startswith("/baseline11"):
            ok = ok and r[2] == str(k + 1).encode()
        else:
            ok = ok and check_answer(rows, r, 10, 300, lims[k], "pipelined #%d" % k)
    check(ok, "16 pipelined requests (async-db between others) answered in order")


def app_conns(cl):
    return int(cl.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench'"))


def t_concurrent(port, rows, cl, max_conn):
    errors = []

    def client(k):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                f = s.makefile("rb")
                for j in range(15):
                    lim = (k + j) % 50 + 1
                    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % q(1, 500, lim).encode())
                    st, _, body = read_response(f)
                    doc = json.loads(body)
                    if st != 200 or doc["count"] != lim:
                        errors.append("client %d: %s %r" % (k, st, body[:60]))
        except Exception as e:  # noqa: BLE001 - reported as a failure
            errors.append("client %d: %s" % (k, e))

    ths = [threading.Thread(target=client, args=(k,)) for k in range(24)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    check(not errors, "24 concurrent keep-alive clients x 15 requests all answered (%s)"
          % (errors[:2] or "no error"))
    n = app_conns(cl)
    check(1 <= n <= max_conn, "the pool holds %d connections, at most DATABASE_MAX_CONN=%d"
          % (n, max_conn))
    return n


def t_resets(port, rows):
    """Clients that reset their connection while their query is in
    flight (gcannon's -r: an RST after N requests): the ticket outlives
    the connection; the server goes on (ASan: no use after free)."""
    import struct
    for k in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % q(1, 500, 50).encode()
                           for _ in range(1 + k % 3)))
        if k % 2:
            time.sleep(0.0005)
        s.close()
    check_answer(rows, request(port, q(5, 80, 7)), 5, 80, 7,
                 "200 connections reset with queries in flight, then an answer")


class Counter:
    """A listener on PostgreSQL's port while it is down: accepts and
    closes at once, counting the server's connect attempts."""

    def __init__(self, port):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.listen(128)
        self.s.settimeout(0.1)
        self.n = 0
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.s.accept()
                self.n += 1
                c.close()
            except socket.timeout:
                pass
            except OSError:
                break

    def close(self):
        self.stop = True
        self.t.join()
        self.s.close()


def t_outage(port, rows, cl):
    # A client keeps asking while the database goes away.
    stop = threading.Event()
    seen = {"rows": 0, "empty": 0, "bad": []}

    def loop():
        while not stop.is_set():
            try:
                st, h, body = request(port, q(1, 500, 10))
                doc = json.loads(body)
                if st != 200 or h.get("content-type") != ["application/json"]:
                    seen["bad"].append((st, body[:60]))
                elif doc["count"] == 10:
                    seen["rows"] += 1
                elif body == EMPTY:
                    seen["empty"] += 1
                else:
                    seen["bad"].append((st, body[:60]))
            except Exception as e:  # noqa: BLE001
                seen["bad"].append(str(e))

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.5)
    pgport = cl.port
    cl.stop()  # mid-run: fast shutdown, connections cut
    time.sleep(0.5)
    stop.set()
    t.join()
    check(not seen["bad"] and seen["rows"] > 0 and seen["empty"] > 0,
          "PostgreSQL stopped mid-run: every answer is 200 JSON, rows before (%d), "
          "{\"items\":[],\"count\":0} after (%d) %s" % (seen["rows"], seen["empty"],
                                                       seen["bad"][:2]))
    # Down: empty answers, and few connect attempts however many requests.
    counter = Counter(pgport)
    try:
        t0 = time.time()
        n, ok = 0, True
        while time.time() - t0 < 1.5:
            r = request(port, q(1, 500, 10))
            ok = ok and r[0] == 200 and r[2] == EMPTY
            n += 1
        el = time.time() - t0
    finally:
        counter.close()
    check(ok, "PostgreSQL down: %d requests, all {\"items\":[],\"count\":0}" % n)
    # Per reactor: one attempt, then one per backoff (100 ms doubling to
    # 2 s): 2 reactors over 1.5 s make at most ~2 x 5.
    check(counter.n <= 16 and n > 3 * counter.n,
          "no connect storm: %d connect attempts for %d requests in %.1f s" % (counter.n, n, el))
    # Back: answers recover (the next connect after the backoff).
    cl.start(pgport)
    t0 = time.time()
    back = False
    while time.time() - t0 < 15 and not back:
        back = request(port, q(1, 500, 10))[2] != EMPTY
        if not back:
            time.sleep(0.05)
    check(back, "PostgreSQL started again: answers recover (after %.2f s)" % (time.time() - t0))
    check_answer(rows, request(port, q(10, 50, 50)), 10, 50, 50, "after the recovery")
    t_pipelined(port, rows)


def t_stop_answers(a, data, url, rows, cl):
    """A graceful stop (SIGTERM) answers the requests whose queries are
    still in PostgreSQL: the table is locked, the requests sent, the stop
    begun, then the lock released; every client gets its rows."""
    locked = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation " \
             "WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    holder = threading.Thread(target=cl.psql, args=(
        "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0.7); COMMIT;",
        "benchmark"))
    p, port = start_server(a, data, {"DATABASE_URL": url, "DATABASE_MAX_CONN": "4"})
    try:
        check_answer(rows, request(port, q(10, 50, 5)), 10, 50, 5, "stop: warm-up")
        holder.start()
        end = time.time() + 10
        while cl.psql(locked, "benchmark") != "1" and time.time() < end:
            time.sleep(0.01)
        socks = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(16)]
        for s in socks:
            s.sendall(b"GET /async-db?min=10&max=50&limit=9 HTTP/1.1\r\nHost: l\r\n\r\n")
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        got = 0
        for s in socks:
            try:
                r = read_response(s.makefile("rb"))
                got += check_answer(rows, r, 10, 50, 9, "stop: an answer") is not False
            except (EOFError, OSError):
                pass
            s.close()
        check(got == len(socks), "stop: %d of %d queries in flight answered" % (got, len(socks)))
        p.wait(15)
        check(p.returncode == 0, "stop: the server exited cleanly (%s)" % p.returncode)
    finally:
        holder.join(15)
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    a = ap.parse_args()
    bindir = pg_bindir()
    if not bindir:
        print("SKIP: no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin "
              "or PATH; scripts/install-deps.sh installs postgresql")
        return SKIP
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("180 s")))
    signal.alarm(180)
    tmp = tempfile.mkdtemp(prefix="zg-adb-")
    cl = Cluster(bindir)
    servers = []
    try:
        data = os.path.join(tmp, "data")
        subprocess.run([a.datagen, data], check=True, capture_output=True, timeout=60)
        cl.initdb()
        cl.start()
        rows = seed_rows()
        seed(cl, rows)
        max_conn = 4
        url = "postgres://bench:bench@127.0.0.1:%d/benchmark" % cl.port
        p, port = start_server(a, data, {"DATABASE_URL": url,
                                         "DATABASE_MAX_CONN": str(max_conn)})
        servers.append(p)
        check(app_conns(cl) == 0, "no connection before the first query (lazy)")
        t_answers(port, rows)
        t_pipelined(port, rows)
        t_concurrent(port, rows, cl, max_conn)
        t_resets(port, rows)
        t_outage(port, rows, cl)
        stop_server(servers.pop(), "with PostgreSQL")
        t_stop_answers(a, data, url, rows, cl)

        # No DATABASE_URL, and one naming a port nobody listens on.
        for what, env in (("DATABASE_URL unset", {}),
                          ("DATABASE_URL to a closed port",
                           {"DATABASE_URL": "postgres://bench:bench@127.0.0.1:%d/benchmark"
                            % free_port()})):
            p, port = start_server(a, data, env)
            servers.append(p)
            rs = [request(port, q(10, 50, l)) for l in (50, 5)] + \
                pipelined(port, [q(), "/baseline11?a=1&b=1", q(1, 500, 3)])
            check(all(r[0] == 200 for r in rs) and
                  [r[2] for r in rs] == [EMPTY, EMPTY, EMPTY, b"2", EMPTY] and
                  all(r[1].get("content-type") == ["application/json"]
                      for k, r in enumerate(rs) if k != 3),
                  "%s: {\"items\":[],\"count\":0}, pipelined in order" % what)
            stop_server(servers.pop(), what)
    except Exception as e:  # noqa: BLE001 - a failure, with the server's log
        check(False, "exception: %r" % e)
        print(cl.log_text())
    finally:
        for p in servers:
            p.kill()
            p.wait()
        cl.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (len(PASSES), len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
