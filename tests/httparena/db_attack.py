#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Attacks on httparena-server's database routes from outside (async-db,
crud) against a PostgreSQL cluster of its own (asyncdb_test.py's Cluster
and seed); 77 without PostgreSQL.

- A graceful stop (SIGTERM) with crud writes still waiting in PostgreSQL
  past the stop's deadline (the table locked): the reactor stops with the
  queries in flight, the pool fails them, and the server exits cleanly
  (the write's callback dropped its item from a cache freed before the
  pool: a use-after-free, ASan's report and exit 1).
- PostgreSQL stopped (SIGSTOP) under clients that send an async-db query
  and reset, again and again: the pool's queries in flight are bounded,
  so past the bound a request is answered at once (an empty result)
  instead of joining a queue that grew with every client that left.
"""
import json
import os
import struct
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import asyncdb_test as adb  # noqa: E402

check = adb.check


def t_stop_writes_in_flight(a, data, url, cl):
    locked = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation " \
             "WHERE c.relname = 'items' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    holder = threading.Thread(target=cl.psql, args=(
        "BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;",
        "benchmark"))
    p, port = adb.start_server(a, data, {"DATABASE_URL": url, "DATABASE_MAX_CONN": "4",
                                         "REDIS_URL": ""})  # the in-process cache
    socks = []
    try:
        st, _, _ = adb.request(port, "/crud/items/1")
        check(st == 200, "stop: warm-up GET /crud/items/1 (%d)" % st)
        holder.start()
        end = time.time() + 10
        while cl.psql(locked, "benchmark") != "1" and time.time() < end:
            time.sleep(0.01)
        body = b'{"name":"x","price":1,"quantity":2}'
        for i in range(8):
            s = socket.create_connection(("127.0.0.1", port), timeout=15)
            s.sendall(b"PUT /crud/items/%d HTTP/1.1\r\nHost: l\r\nContent-Length: %d\r\n\r\n"
                      % (i + 1, len(body)) + body)
            socks.append(s)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            pass
        err = p.stderr.read() if p.stderr else ""
        check(p.returncode == 0, "stop with 8 PUTs waiting past the deadline: the server "
              "exited cleanly (%s)%s" % (p.returncode, ("\n" + err[-3000:]) if err else ""))
    finally:
        for s in socks:
            s.close()
        holder.join(15)
        if p.poll() is None:
            p.kill()
            p.wait()


def pg_pids(cl):
    kids = subprocess.run(["pgrep", "-P", str(cl.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    return [cl.proc.pid] + [int(k) for k in kids]


def t_resets_while_stopped(a, data, url, cl):
    p, port = adb.start_server(a, data, {"DATABASE_URL": url, "DATABASE_MAX_CONN": "2",
                                         "REDIS_URL": ""})
    pids = []
    try:
        for _ in range(40):  # both reactors' connections open
            adb.request(port, "/async-db?limit=1")
        pids = pg_pids(cl)
        for x in pids:
            os.kill(x, signal.SIGSTOP)
        req = b"GET /async-db?min=10&max=50&limit=50 HTTP/1.1\r\nHost: l\r\n\r\n"
        linger = struct.pack("ii", 1, 0)
        for _ in range(30000):  # > 2 reactors x QUERY_MAX (4096)
            s = socket.create_connection(("127.0.0.1", port), timeout=15)
            s.sendall(req)
            time.sleep(0) if _ % 64 else time.sleep(0.001)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()
        time.sleep(0.5)
        got = []
        for _ in range(4):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(req)
                    got.append(adb.read_response(s.makefile("rb"))[:3:2])
            except (OSError, EOFError) as e:
                got.append(repr(e))
        check(got == [(200, adb.EMPTY)] * 4, "PostgreSQL stopped, 30 000 clients reset with "
              "a query each: new requests answered at once, empty (%r)" % got[:2])
    finally:
        for x in pids:
            try:
                os.kill(x, signal.SIGCONT)
            except OSError:
                pass
    time.sleep(1)
    r = adb.request(port, "/async-db?min=10&max=50&limit=2")
    check(r[0] == 200 and len(json.loads(r[2])["items"]) == 2,
          "PostgreSQL resumed: rows again (%d)" % r[0])
    adb.stop_server(p, "after the resets")


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    a = ap.parse_args()
    bindir = adb.pg_bindir()
    if not bindir:
        print("SKIP: no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin "
              "or PATH; scripts/install-deps.sh installs postgresql")
        return adb.SKIP
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("150 s")))
    signal.alarm(150)
    tmp = tempfile.mkdtemp(prefix="zg-dba-")
    cl = adb.Cluster(bindir)
    try:
        data = os.path.join(tmp, "data")
        subprocess.run([a.datagen, data], check=True, capture_output=True, timeout=60)
        cl.initdb()
        cl.start()
        adb.seed(cl, adb.seed_rows())
        url = "postgres://bench:bench@127.0.0.1:%d/benchmark" % cl.port
        t_stop_writes_in_flight(a, data, url, cl)
        t_resets_while_stopped(a, data, url, cl)
    except Exception as e:  # noqa: BLE001 - a failure, with the cluster's log
        check(False, "exception: %r" % e)
        print(cl.log_text())
    finally:
        cl.stop()
        cl.remove()
        subprocess.run(["rm", "-rf", tmp])
    print("%d passed, %d failed" % (len(adb.PASSES), len(adb.FAILS)))
    return 1 if adb.FAILS or not adb.PASSES else 0


if __name__ == "__main__":
    sys.exit(main())
