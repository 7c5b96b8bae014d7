#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""crud's routes (examples/httparena-server/crud.c) against a PostgreSQL
cluster seeded as SPEC-HEAD.md 6.9 says and a redis-server, both started
here (pgcluster.py: a temporary directory, an unprivileged user, free
ports, always stopped), once per cache back end (--cache memory and
--cache redis):

- SPEC-HEAD 6.7's validation sequence, byte-level: exactly one
  "X-Cache: " line per single-item GET, the HIT body equal to the MISS
  body, Content-Type application/json on every JSON answer;
- leading zeros, the list's defaults and clamps, total, HEAD, 404 / 405 /
  400 answers (and the connection staying after a 400);
- the absolute 200 ms TTL (gets do not extend it) and MISS -> HIT across
  connections (several pairs, so on both reactor threads);
- POST and PUT drop the id's entry; requests pipelined behind deferred
  ones are answered in order;
- PostgreSQL stopped: 503 with X-Cache: MISS, an empty page for the
  list, 503 for writes; cached items still HIT; started again: answers
  come back; Redis killed under requests (redis run): misses, no errors,
  and hits again once it is back.

Exit 77 (with the reason) when PostgreSQL or redis-server is missing.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402
import pgseed  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
checks = 0
BENCH_SEED = False  # seeded from the benchmark's dataset: its values are known


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def json(self):
        return json.loads(self.body)


class Conn:
    """One keep-alive connection; raw bytes out, parsed answers in."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, method, path, body=None, head_only=False):
        req = "%s %s HTTP/1.1\r\nHost: localhost:8080\r\n" % (method, path)
        if body is not None:
            b = body if isinstance(body, bytes) else body.encode()
            req += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(b)
            self.s.sendall(req.encode() + b"\r\n" + b)
        else:
            self.s.sendall(req.encode() + b"\r\n")

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("server closed")
        self.buf += d

    def recv(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers.append((k, v[1:] if v.startswith(" ") else v))
        n = 0 if head_only else int(dict((k.lower(), v) for k, v in headers)["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Resp(status, headers, body)

    def req(self, method, path, body=None):
        self.send(method, path, body)
        return self.recv(head_only=method == "HEAD")


def one(port, method, path, body=None):
    c = Conn(port)
    try:
        return c.req(method, path, body)
    finally:
        c.close()


def xcache(r, path):
    v = r.all("X-Cache")
    ok(len(v) == 1 and v[0] in ("HIT", "MISS"), "%s: one X-Cache, HIT or MISS: %r" % (path, v))
    return v[0]


def is_json(r, what):
    ok(r.get("Content-Type") == "application/json", "%s: Content-Type %r" % (what, r.get("Content-Type")))


ITEM_KEYS = ["id", "name", "category", "price", "quantity", "active", "tags", "rating"]


def check_item(d, what):
    ok(list(d.keys()) == ITEM_KEYS, "%s: keys %r" % (what, list(d.keys())))
    ok(set(d["rating"].keys()) == {"score", "count"}, what + ": rating")
    ok(isinstance(d["tags"], list) and isinstance(d["active"], bool), what + ": tags/active")


# ---------------------------------------------------------------------

def validation(port):
    """SPEC-HEAD 6.7, in order."""
    r = one(port, "GET", "/crud/items?category=electronics&page=1&limit=5")
    ok(r.status == 200, "list: %d" % r.status)
    is_json(r, "list")
    d = r.json()
    ok(len(d["items"]) == 5 and d["total"] == 5 and d["page"] == 1 and d["limit"] == 5,
       "list: %r" % {k: d[k] for k in ("total", "page", "limit")})
    if BENCH_SEED:
        ok([i["id"] for i in d["items"]] == [8, 29, 43, 50, 82], "list: the first electronics ids")
    for i in d["items"]:
        check_item(i, "list item")
        ok(i["category"] == "electronics", "list: category")
    r = one(port, "GET", "/crud/items/1")
    ok(r.status == 200 and r.json()["id"] == 1, "GET /crud/items/1")
    if BENCH_SEED:
        ok(r.json()["name"] == "Prime Gear 1" and r.json()["price"] == 328, "item 1 is the seed's")
    # 42 twice, on two connections: MISS then HIT, same bytes
    a = one(port, "GET", "/crud/items/42")
    b = one(port, "GET", "/crud/items/42")
    ok(xcache(a, "42") == "MISS" and xcache(b, "42") == "HIT", "42: MISS then HIT")
    ok(a.body == b.body, "42: the HIT body is the MISS body")
    is_json(a, "item MISS")
    is_json(b, "item HIT")
    check_item(b.json(), "item")
    r = one(port, "GET", "/crud/items/999999")
    ok(r.status == 404, "999999: %d" % r.status)
    xcache(r, "404")
    r = one(port, "POST", "/crud/items",
            '{"id":200001,"name":"ValidateItem","category":"test","price":42,"quantity":7}')
    ok(r.status == 201, "POST: %d" % r.status)
    is_json(r, "POST")
    ok(r.json() == {"id": 200001, "name": "ValidateItem", "category": "test", "price": 42,
                    "quantity": 7}, "POST body %r" % r.body)
    r = one(port, "GET", "/crud/items/200001")
    ok(r.status == 200 and r.json()["id"] == 200001, "GET 200001")
    ok(r.json()["tags"] == ["bench"] and r.json()["active"] is True, "upserted defaults")
    one(port, "GET", "/crud/items/200001")  # warm
    r = one(port, "PUT", "/crud/items/200001",
            '{"name":"UpdatedItem","category":"test","price":99,"quantity":1}')
    ok(r.status == 200, "PUT: %d" % r.status)
    is_json(r, "PUT")
    ok(r.json() == {"id": 200001, "name": "UpdatedItem", "price": 99, "quantity": 1},
       "PUT body %r" % r.body)
    r = one(port, "GET", "/crud/items/200001")
    ok(xcache(r, "after PUT") == "MISS", "PUT invalidates")
    ok(r.json()["name"] == "UpdatedItem" and r.json()["price"] == 99, "the update is read back")


def details(port):
    c = Conn(port)
    # leading zeros (gcannon's padding)
    r = c.req("GET", "/crud/items/00043")
    ok(r.status == 200 and r.json()["id"] == 43, "00043 is 43")
    r = c.req("GET", "/crud/items?category=office&page=07&limit=010")
    d = r.json()
    ok(d["page"] == 7 and d["limit"] == 10 and d["total"] == 10, "page=07 limit=010: %r" % d["page"])
    ids = [i["id"] for i in d["items"]]
    ok(ids == sorted(ids) and all(i["category"] == "office" for i in d["items"]), "office page 7")
    first = c.req("GET", "/crud/items?category=office&page=1&limit=50").json()["items"]
    r2 = c.req("GET", "/crud/items?category=office&page=2&limit=25").json()["items"]
    ok([i["id"] for i in r2] == [i["id"] for i in first[25:50]], "offset (P-1)*L")
    # defaults and clamps
    d = c.req("GET", "/crud/items").json()
    ok(d["page"] == 1 and d["limit"] == 10 and d["total"] == 10 and
       all(i["category"] == "electronics" for i in d["items"]), "defaults")
    for q, page, limit in (("page=0&limit=0", 1, 10), ("page=-3&limit=51", 1, 10),
                           ("page=x&limit=y", 1, 10), ("limit=50", 1, 50), ("limit=1", 1, 1)):
        d = c.req("GET", "/crud/items?" + q).json()
        ok(d["page"] == page and d["limit"] == limit and len(d["items"]) == limit,
           "%s: page %r limit %r" % (q, d["page"], d["limit"]))
    d = c.req("GET", "/crud/items?category=none-such").json()
    ok(d == {"items": [], "total": 0, "page": 1, "limit": 10}, "an empty category")
    d = c.req("GET", "/crud/items?category=office&page=100000").json()
    ok(d["items"] == [] and d["total"] == 0 and d["page"] == 100000, "past the end")
    d = c.req("GET", "/crud/items?category=%6Fffice&limit=2").json()
    ok(len(d["items"]) == 2 and d["items"][0]["category"] == "office", "%-decoded category")
    r = c.req("GET", "/crud/items?category=" + "x" * 300)
    ok(r.status == 400, "a 300-byte category: %d" % r.status)
    c.close()
    c = Conn(port)
    # HEAD
    r = c.req("HEAD", "/crud/items/43")
    ok(r.status == 200 and len(r.all("X-Cache")) == 1 and int(r.get("Content-Length")) > 0, "HEAD")
    # 404s and 405s
    for p in ("/crud/items/abc", "/crud/items/-1", "/crud/items/2147483648",
              "/crud/items/1/2", "/crud/items/", "/crud/itemsx"):
        r = c.req("GET", p)
        ok(r.status == 404, "%s: %d" % (p, r.status))
    r = c.req("DELETE", "/crud/items/1")
    ok(r.status == 405 and r.get("Allow") == "GET, HEAD, PUT", "DELETE: %d %r" % (r.status, r.get("Allow")))
    r = c.req("PUT", "/crud/items", "{}")
    ok(r.status == 405 and r.get("Allow") == "GET, HEAD, POST", "PUT list: %d" % r.status)
    r = c.req("PUT", "/crud/items/99999999", '{"name":"n","price":1,"quantity":1}')
    ok(r.status == 404, "PUT of no row: %d" % r.status)
    # bad bodies: 400, and the connection stays
    bad_post = ['', 'garbage', '[]', '{"id":1}', '{"id":"1","name":"a","category":"b","price":1,"quantity":1}',
                '{"id":1,"name":2,"category":"b","price":1,"quantity":1}',
                '{"id":1,"name":"a","category":"b","price":1.5,"quantity":1}',
                '{"id":-1,"name":"a","category":"b","price":1,"quantity":1}',
                '{"id":1,"name":"a","category":"b","price":4294967296,"quantity":1}',
                '{"id":1,"name":"a\\u0000b","category":"b","price":1,"quantity":1}',
                '{"id":1,"name":"a","category":"b","price":1,"quantity":1',
                '\xff\xfe']
    for b in bad_post:
        r = c.req("POST", "/crud/items", b)
        ok(r.status == 400, "POST %r: %d" % (b, r.status))
    for b in ('{"price":1,"quantity":1}', '{"name":"a","price":"1","quantity":1}', 'null'):
        r = c.req("PUT", "/crud/items/5", b)
        ok(r.status == 400, "PUT %r: %d" % (b, r.status))
    r = c.req("GET", "/crud/items/5")
    ok(r.status == 200 and r.json()["id"] == 5, "the connection stays after 400s")
    # names that need escaping come back as sent
    name = 'Quote " backslash \\ tab \t unicode \u00e9\u4e2d'
    body = json.dumps({"id": 300001, "name": name, "category": "t\"c", "price": -5, "quantity": 0})
    r = c.req("POST", "/crud/items", body)
    ok(r.status == 201 and r.json()["name"] == name and r.json()["category"] == 't"c', "escaped POST")
    r = c.req("GET", "/crud/items/300001")
    ok(r.json()["name"] == name and r.json()["price"] == -5, "escaped name read back")
    c.close()


def ttl_and_threads(port):
    # Across connections (the kernel spreads them over the reactors).
    for i in range(20):
        a = one(port, "GET", "/crud/items/%d" % (1000 + i))
        b = one(port, "GET", "/crud/items/%d" % (1000 + i))
        ok(xcache(a, "pair") == "MISS" and xcache(b, "pair") == "HIT" and a.body == b.body,
           "id %d: MISS then HIT on another connection" % (1000 + i))
    # Absolute TTL: the MISS stored the item before its answer reached us
    # (t_miss); hits do not extend it, so a GET sent 200 ms after t_miss
    # must miss.
    c = Conn(port)
    r = c.req("GET", "/crud/items/2000")
    ok(xcache(r, "ttl") == "MISS", "ttl: first MISS")
    t_miss = time.monotonic()
    while True:
        t_sent = time.monotonic()
        r = c.req("GET", "/crud/items/2000")
        x = xcache(r, "ttl")
        if t_sent - t_miss >= 0.205:
            ok(x == "MISS", "ttl: still a HIT %.0f ms after the store" % ((t_sent - t_miss) * 1000))
            break
        if x == "MISS":
            # Possible only when the MISS's answer took long to reach us
            # (a loaded machine): that MISS stored a new lifetime.
            t_miss = time.monotonic()
        time.sleep(0.03)
    c.close()
    # POST drops the entry: cached 44, upsert 44, then a MISS with the new name
    one(port, "GET", "/crud/items/44")
    r = one(port, "GET", "/crud/items/44")
    ok(xcache(r, "44") == "HIT", "44 cached")
    old = r.json()
    r = one(port, "POST", "/crud/items", json.dumps(
        {"id": 44, "name": "Renamed 44", "category": "ignored", "price": 7, "quantity": 8}))
    ok(r.status == 201, "upsert of an existing id: %d" % r.status)
    r = one(port, "GET", "/crud/items/44")
    ok(xcache(r, "44 after POST") == "MISS" and r.json()["name"] == "Renamed 44" and
       r.json()["category"] == old["category"], "upsert: entry dropped, category kept")


def pipelined(port):
    c = Conn(port)
    c.send("GET", "/crud/items/60")
    c.send("GET", "/crud/items/60")
    c.send("PUT", "/crud/items/60", '{"name":"Piped","price":1,"quantity":2}')
    c.send("GET", "/crud/items/60")
    c.send("GET", "/crud/items?category=books&limit=3")
    c.send("GET", "/baseline11?a=1&b=2")
    rs = [c.recv() for _ in range(6)]
    ok([r.status for r in rs] == [200, 200, 200, 200, 200, 200], "pipelined: %r" % [r.status for r in rs])
    ok(xcache(rs[0], "p0") == "MISS" and xcache(rs[1], "p1") == "HIT", "pipelined: MISS HIT")
    ok(xcache(rs[3], "p3") == "MISS" and rs[3].json()["name"] == "Piped", "pipelined: PUT then MISS")
    ok(len(rs[4].json()["items"]) == 3 and rs[5].body == b"3", "pipelined: in order")
    c.close()


def pg_outage(port, pg):
    r = one(port, "GET", "/crud/items/70")
    r = one(port, "GET", "/crud/items/70")
    ok(xcache(r, "70") == "HIT", "70 cached before the outage")
    pg.stop()
    r = one(port, "GET", "/crud/items/71")
    ok(r.status == 503 and xcache(r, "503") == "MISS", "PostgreSQL down: 503: %d" % r.status)
    r = one(port, "GET", "/crud/items?category=books")
    ok(r.status == 200 and r.json() == {"items": [], "total": 0, "page": 1, "limit": 10},
       "PostgreSQL down: an empty page")
    is_json(r, "empty page")
    r = one(port, "POST", "/crud/items",
            '{"id":400001,"name":"a","category":"b","price":1,"quantity":1}')
    ok(r.status == 503, "PostgreSQL down: POST 503: %d" % r.status)
    r = one(port, "PUT", "/crud/items/70", '{"name":"a","price":1,"quantity":1}')
    ok(r.status == 503, "PostgreSQL down: PUT 503: %d" % r.status)
    r = one(port, "GET", "/crud/items/70")
    ok(r.status == 200 or r.status == 503, "70 after a failed PUT: %d" % r.status)
    pg.start()
    end = time.monotonic() + 15
    while True:
        r = one(port, "GET", "/crud/items/71")
        if r.status == 200:
            break
        ok(r.status == 503, "while reconnecting: %d" % r.status)
        if time.monotonic() > end:
            fail("PostgreSQL back, crud still %d" % r.status)
        time.sleep(0.2)
    ok(r.json()["id"] == 71, "back: 71")


def redis_outage(port, rd):
    one(port, "GET", "/crud/items/80")
    r = one(port, "GET", "/crud/items/80")
    ok(xcache(r, "80") == "HIT", "80 cached in Redis")
    ok(rd.cmd("EXISTS", "crud:80") == 1, "crud:80 is in Redis")
    pttl = rd.cmd("PTTL", "crud:80")
    ok(0 < pttl <= 200, "PX 200: %r" % pttl)
    rd.stop()
    for i in range(10):
        r = one(port, "GET", "/crud/items/80")
        ok(r.status == 200 and xcache(r, "redis down") == "MISS", "Redis down: a miss, %d" % r.status)
    rd.start()  # the same port
    end = time.monotonic() + 10
    while True:
        one(port, "GET", "/crud/items/81")
        r = one(port, "GET", "/crud/items/81")
        if r.status == 200 and xcache(r, "redis back") == "HIT":
            break
        if time.monotonic() > end:
            fail("Redis back, still no HIT")
        time.sleep(0.1)


def run_server(exe, datagen_dir, env, cache):
    p = subprocess.Popen([exe, "--port", "0", "--threads", "2", "--data", datagen_dir,
                          "--cache", cache], stdout=subprocess.PIPE, env=env)
    line = p.stdout.readline().decode()
    m = re.search(r"port (\d+).*cache=(\w+)", line)
    if not m:
        p.kill()
        fail("server start line: %r" % line)
    ok(m.group(2) == cache, "start line says cache=%s" % cache)
    return p, int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    a = ap.parse_args()
    global BENCH_SEED
    try:
        pg = pgcluster.Postgres()
        rd = pgcluster.Redis()
    except pgcluster.Missing as e:
        print("SKIP: %s" % e)
        return 77
    import tempfile
    data = tempfile.mkdtemp(prefix="zg-crud-data-")
    subprocess.run([a.datagen, data], check=True, stdout=subprocess.DEVNULL)
    pg.start()
    seed = os.path.join(pg.dir, "seed.sql")
    ds = pgseed.shared_dataset()
    BENCH_SEED = os.path.exists(ds)
    if not BENCH_SEED:
        print("note: no ../shared/httparena: seeded from httparena-datagen's dataset; "
              "the seed's own values are not checked")
        ds = os.path.join(data, "dataset-int.json")
    pgseed.write_sql(ds, seed)
    pg.setup_bench(seed)
    os.unlink(seed)
    rd.start()
    for cache in ("memory", "redis"):
        env = dict(os.environ, DATABASE_URL=pg.url(), REDIS_URL=rd.url())
        srv, port = run_server(a.server, data, env, cache)
        try:
            validation(port)
            details(port)
            ttl_and_threads(port)
            pipelined(port)
            pg_outage(port, pg)
            if cache == "redis":
                redis_outage(port, rd)
            ok(srv.poll() is None, "the server is still running")
        finally:
            srv.terminate()
            srv.wait(timeout=10)
        ok(srv.returncode == 0, "%s: exit %r" % (cache, srv.returncode))
        print("crud with --cache %s: passed" % cache, flush=True)
        # the next run creates its items afresh
        pg.psql("DELETE FROM items WHERE id > 100000", user="bench")
    print("crud: %d checks passed" % checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
