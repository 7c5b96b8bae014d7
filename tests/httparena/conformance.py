#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Conformance test of examples/httparena-server against the HttpArena rules.

Starts the built server on an ephemeral port with freshly generated data
and checks every rule of the benchmark's spec over raw sockets: bodies,
statuses and exact headers of each endpoint, no caching, chunked bodies,
gzip, pipelining, requests split at every byte, noise, resets, uploads,
/db, limits, Connection: close, 405 + Allow, Expect: 100-continue.

python3 stdlib only. Bounded: every socket has a timeout, the whole run
is well under a minute, and the server is always stopped.

usage: conformance.py --server PATH --datagen PATH [--verbose]
"""

import argparse
import gzip
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# The benchmark's noise-binary.raw (256 bytes): garbage that must get a
# prompt 400 and a close.
NOISE_BINARY = bytes.fromhex(
    "40a5162f86f21cf1b641ddfc081d6c8a5e1db1f4301a804a607a4421a57d416c"
    "01c01ebaf0274bda0eb926abd339683636431831e827309474049b2ba6f06249"
    "e0830de6c950b72a6a3a99b6ac937ac0958dd4b00c932c4c18cafba30e79f57c"
    "b777c607d5d495f345adf371df7eb390d088b0e08e55f5d64e9e321ab39d28a1"
    "fba0881e3f74fa96b0f60b438c06c2d98ba5ceae898d11575a4418bc510833ad"
    "049eff9d1b23640a3930bddd329c70cafb16b0fdc8414a3363a613cda4fd29d4"
    "f61d4ac2e3dfba8e4359dfaf51a54d474cf9a2c71ba33efeda8edb34f15935d6"
    "2c62a6349cfb8f2427e044c40cb4207267a637eb4d96da6bf97004619816b1be")
# The other request files of the benchmark, verbatim.
GET_RAW = b"GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
POST_CL_RAW = (b"POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n"
               b"Content-Length: 2\r\n\r\n20")
POST_CHUNKED_RAW = (b"POST /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost:8080\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n2\r\n20\r\n0\r\n\r\n")
PIPELINE_RAW = b"GET /pipeline HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
JSON_RAW = b"GET /json HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
JSON_GZIP_RAW = (b"GET /compression HTTP/1.1\r\nHost: localhost:8080\r\n"
                 b"Accept-Encoding: gzip\r\n\r\n")
DB_RAW = b"GET /db?min=10&max=50 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
BADPATH_RAW = b"GET /this/path/does/not/exist HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"
BADCL_RAW = b"POST /baseline11 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 999\r\n\r\n"

REQUEST_TIMEOUT_MS = 300
IO_TIMEOUT = 5.0
DATE_RE = re.compile(rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                     rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                     rb"\d\d:\d\d:\d\d GMT$")

PORT = 0
SERVER_PID = 0
DATA = ""
VERBOSE = False


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


class Response:
    def __init__(self, status, head, headers, body, interim):
        self.status = status
        self.head = head          # raw bytes through the blank line
        self.headers = headers    # [(name bytes, value bytes)] in order
        self.body = body
        self.interim = interim    # 1xx heads seen before this one

    def all(self, name):
        n = name.lower().encode()
        return [v for k, v in self.headers if k.lower() == n]

    def get(self, name):
        v = self.all(name)
        check(len(v) <= 1, "more than one %s header" % name)
        return v[0].decode() if v else None

    def names(self):
        return [k.decode() for k, _ in self.headers]


def check_head(head):
    """Rules for every response head: the load generator parses heads in
    a 1024-byte buffer with at most 16 header lines; headers are
    'Name: value' with one space."""
    check(len(head) < 1024, "response head of %d bytes" % len(head))
    lines = head[:-4].split(b"\r\n")
    check(len(lines) - 1 < 16, "%d header lines" % (len(lines) - 1))
    for line in lines[1:]:
        check(re.match(rb"^[A-Za-z-]+: [^ \t]", line) is not None,
              "malformed header line %r" % line)


class Conn:
    """A raw client connection with its own receive buffer, so pipelined
    responses can be read one by one."""

    def __init__(self, timeout=IO_TIMEOUT, nodelay=True):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
        if nodelay:
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()

    def reset(self):
        # SO_LINGER 0: close() sends an RST, like the benchmark's -r.
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("connection closed by server")
        self.buf += d

    def _head(self):
        while b"\r\n\r\n" not in self.buf:
            check(len(self.buf) < 65536, "no end of response head")
            self._fill()
        i = self.buf.index(b"\r\n\r\n") + 4
        head, self.buf = self.buf[:i], self.buf[i:]
        return head

    def response(self, head_only=False):
        interim = []
        while True:
            head = self._head()
            check_head(head)
            lines = head[:-4].split(b"\r\n")
            m = re.match(rb"^HTTP/1\.1 (\d{3}) [^\r\n]*$", lines[0])
            check(m is not None, "bad status line %r" % lines[0])
            status = int(m.group(1))
            headers = [tuple(l.split(b": ", 1)) for l in lines[1:]]
            if 100 <= status < 200:
                interim.append(head)
                continue
            break
        r = Response(status, head, headers, b"", interim)
        cl = r.all("Content-Length")
        eq(len(cl), 1, "Content-Length headers")
        check(re.match(rb"^\d+$", cl[0]) is not None, "bad Content-Length %r" % cl[0])
        check(not r.all("Transfer-Encoding"), "unexpected Transfer-Encoding")
        check(r.get("Server") is not None, "no Server header")
        date = r.all("Date")
        eq(len(date), 1, "Date headers")
        check(DATE_RE.match(date[0]) is not None, "bad Date %r" % date[0])
        n = 0 if head_only else int(cl[0])
        while len(self.buf) < n:
            self._fill()
        r.body, self.buf = self.buf[:n], self.buf[n:]
        return r

    def closed_by_peer(self, within=2.0):
        """True if the server closes (FIN or RST) within `within` s with
        no more bytes than what is buffered."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not d:
                return True
            self.buf += d

    def request(self, raw, head_only=False):
        self.send(raw)
        return self.response(head_only)


def one(raw, head_only=False):
    c = Conn()
    try:
        return c.request(raw, head_only)
    finally:
        c.close()


def req(method, target, headers=(), body=None, version="1.1"):
    lines = ["%s %s HTTP/%s" % (method, target, version), "Host: localhost:%d" % PORT]
    lines += list(headers)
    if body is not None and not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return raw + (body or b"")


def head_cl(method, target, n, headers=()):
    """A request head announcing n body bytes (the body is sent apart)."""
    return req(method, target, list(headers) + ["Content-Length: %d" % n])


def chunked(body, sizes):
    """body framed as chunks of the given sizes (cycled), with a last
    chunk and no trailers."""
    out, i, k = b"", 0, 0
    while i < len(body):
        piece = body[i:i + sizes[k % len(sizes)]]
        k += 1
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        i += len(piece)
    return out + b"0\r\n\r\n"


def expect_ok(r, ctype, body=None, extra=()):
    """200 with exactly the headers we promise (in any order)."""
    eq(r.status, 200, "status")
    eq(r.get("Content-Type"), ctype, "Content-Type")
    eq(len(r.all("Content-Type")), 1, "Content-Type headers")
    want = sorted(["Server", "Date", "Content-Type", "Content-Length"] + list(extra))
    eq(sorted(r.names()), want, "header names")
    if body is not None:
        eq(r.body, body, "body")


# ---------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------

def t_baseline():
    expect_ok(one(GET_RAW), "text/plain", b"55")
    expect_ok(one(POST_CL_RAW), "text/plain", b"75")
    expect_ok(one(POST_CHUNKED_RAW), "text/plain", b"75")
    # Randomized, twice per connection: answers must come from the request.
    c = Conn()
    for _ in range(20):
        a, b, body = random.randint(-999, 9999), random.randint(0, 9999), random.randint(0, 99999)
        expect_ok(c.request(req("GET", "/baseline11?a=%d&b=%d" % (a, b))), "text/plain",
                  str(a + b).encode())
        expect_ok(c.request(req("POST", "/baseline11?a=%d&b=%d" % (a, b), body=str(body).encode())),
                  "text/plain", str(a + b + body).encode())
        ch = req("POST", "/baseline11?a=%d&b=%d" % (a, b), ["Transfer-Encoding: chunked"], body=b"")
        expect_ok(c.request(ch + chunked(str(body).encode(), [1, 2])), "text/plain",
                  str(a + b + body).encode())
    # Three values, a key without a value, an empty query.
    expect_ok(c.request(req("GET", "/baseline11?a=1&b=2&c=3&d")), "text/plain", b"6")
    expect_ok(c.request(req("GET", "/baseline11")), "text/plain", b"0")
    c.close()


def t_chunked_forms():
    c = Conn()
    head = req("POST", "/baseline11?a=1&b=1", ["Transfer-Encoding: chunked"], body=b"")
    for body in [b"1\r\n4\r\n1\r\n0\r\n0\r\n\r\n",                       # "40"
                 b"2;ext=1;q=\"a b\"\r\n40\r\n0\r\n\r\n",               # extensions
                 b"02\r\n40\r\n0\r\nX-Trailer: yes\r\nY: z\r\n\r\n",    # trailers
                 b"2 ;e\r\n40\r\n00\r\n\r\n",
                 b"2 ; a = \"x\\\"y;\" ;b\t;c=d\r\n40\r\n0;z=\"\"\r\n\r\n"]:
        expect_ok(c.request(head + body), "text/plain", b"42")
    c.close()


def t_pipeline_endpoint():
    expect_ok(one(PIPELINE_RAW), "text/plain", b"ok")


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def check_items(items, source, total):
    eq(len(items), len(source), "item count")
    for got, src in zip(items, source):
        for k in ("id", "name", "category", "price", "quantity", "active", "tags", "rating"):
            eq(got.get(k), src[k], "item %s field %s" % (src["id"], k))
        check(isinstance(got["active"], bool), "active is not a bool")
        eq(got["total"], total(src), "item %s total" % src["id"])
        eq(set(got), set(src) | {"total"}, "item %s keys" % src["id"])


def t_json():
    r = one(JSON_RAW)
    expect_ok(r, "application/json")
    doc = json.loads(r.body)
    eq(sorted(doc), ["count", "items"], "document keys")
    eq(doc["count"], 50, "count")
    check_items(doc["items"], load("dataset.json"),
                lambda s: round(s["price"] * s["quantity"], 2))


def t_json_count():
    src = load("dataset-int.json")
    c = Conn()
    for count, m in [(12, 3), (22, 7), (31, 2), (50, 5), (1, 1), (7, random.randint(2, 99))]:
        r = c.request(req("GET", "/json/%d?m=%d" % (count, m)))
        # the body is chosen by Accept-Encoding (json-comp), so it varies
        expect_ok(r, "application/json", extra=["Vary"])
        eq(r.get("Vary"), "Accept-Encoding", "Vary")
        doc = json.loads(r.body)
        eq(doc["count"], count, "count")
        check_items(doc["items"], src[:count], lambda s: s["price"] * s["quantity"] * m)
    # m defaults to 1.
    doc = json.loads(c.request(req("GET", "/json/5")).body)
    check_items(doc["items"], src[:5], lambda s: s["price"] * s["quantity"])
    eq(c.request(req("GET", "/json/abc")).status, 404, "/json/abc")
    c.close()


def t_compression():
    src = load("dataset-large.json")
    c = Conn()
    bodies = []
    for ae in ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8"]:
        r = c.request(req("GET", "/compression", ["Accept-Encoding: " + ae]))
        expect_ok(r, "application/json", extra=["Content-Encoding", "Vary"])
        eq(r.get("Vary"), "Accept-Encoding", "Vary")
        eq(r.get("Content-Encoding"), "gzip", "Content-Encoding")
        check(len(r.body) < 500000, "gzip body of %d bytes" % len(r.body))
        check(r.body[:2] == b"\x1f\x8b", "not gzip")
        doc = json.loads(gzip.decompress(r.body))
        eq(doc["count"], 6000, "count")
        bodies.append(doc)
    check_items(bodies[0]["items"], src, lambda s: round(s["price"] * s["quantity"], 2))
    # No Accept-Encoding (or gzip refused): identity, no Content-Encoding.
    for headers in [[], ["Accept-Encoding: identity"], ["Accept-Encoding: gzip;q=0"]]:
        r = c.request(req("GET", "/compression", headers))
        expect_ok(r, "application/json", extra=["Vary"])
        check(r.get("Content-Encoding") is None, "Content-Encoding without gzip")
        eq(json.loads(r.body), bodies[0], "identity document")
    # The benchmark's own request bytes.
    r = c.request(JSON_GZIP_RAW)
    eq(r.get("Content-Encoding"), "gzip", "Content-Encoding")
    # Accept-Encoding on two lines is one list (RFC 9110 5.3).
    r = c.request(req("GET", "/compression", ["Accept-Encoding: identity", "Accept-Encoding: gzip"]))
    eq(r.get("Content-Encoding"), "gzip", "Content-Encoding from the second Accept-Encoding line")
    eq(json.loads(gzip.decompress(r.body)), bodies[0], "gzip document")
    c.close()


def t_upload():
    c = Conn()
    for body in [b"Hello, HttpArena!", os.urandom(48), b"", os.urandom(500000)]:
        r = c.request(req("POST", "/upload", ["Content-Type: application/octet-stream"], body=body))
        expect_ok(r, "text/plain", str(len(body)).encode())
    body = os.urandom(100000)
    r = c.request(req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
                  chunked(body, [1000, 7, 65536]))
    expect_ok(r, "text/plain", b"100000")
    c.close()


def t_upload_20m_keepalive():
    n = 20 * 1024 * 1024
    c = Conn(timeout=20)
    c.send(head_cl("POST", "/upload", n))
    block = os.urandom(1 << 20)
    for _ in range(20):
        c.send(block)
    expect_ok(c.response(), "text/plain", str(n).encode())
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def t_expect_continue():
    c = Conn()
    body = os.urandom(300000)
    # curl's way: head, wait for 100, then the body.
    c.send(head_cl("POST", "/upload", len(body), ["Expect: 100-continue"]))
    c.s.settimeout(2)
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    eq(c.buf, b"HTTP/1.1 100 Continue\r\n\r\n", "interim response")
    c.buf = b""
    c.s.settimeout(IO_TIMEOUT)
    c.send(body)
    r = c.response()
    expect_ok(r, "text/plain", str(len(body)).encode())
    # Chunked + Expect on the baseline route.
    c.send(req("POST", "/baseline11?a=1", ["Expect: 100-continue", "Transfer-Encoding: chunked"],
               body=b""))
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    eq(c.buf, b"HTTP/1.1 100 Continue\r\n\r\n", "interim response")
    c.buf = b""
    c.send(b"1\r\n9\r\n0\r\n\r\n")
    expect_ok(c.response(), "text/plain", b"10")
    # Body sent right away with the head: a 100 is optional, the answer not.
    r = c.request(req("POST", "/upload", ["Expect: 100-continue"], body=b"abc"))
    expect_ok(r, "text/plain", b"3")
    c.close()


def t_db():
    c = Conn()
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(DATA, "benchmark.db"), uri=True)
    for lo, hi in [(10, 50), (5, 80), (100.5, 400.25), (499, 500), (1, 500)]:
        r = c.request(req("GET", "/db?min=%s&max=%s" % (lo, hi)))
        expect_ok(r, "application/json")
        doc = json.loads(r.body)
        eq(sorted(doc), ["count", "items"], "document keys")
        rows = db.execute("SELECT id,name,category,price,quantity,active,tags,rating_score,"
                          "rating_count FROM items WHERE price BETWEEN ? AND ? LIMIT 50",
                          (lo, hi)).fetchall()
        eq(doc["count"], len(rows), "count")
        eq(len(doc["items"]), len(rows), "items")
        for it, row in zip(doc["items"], rows):
            eq(list(it), ["id", "name", "category", "price", "quantity", "active", "tags",
                          "rating"], "item keys")
            eq(it["id"], row[0], "id")
            eq(it["name"], row[1], "name")
            eq(it["category"], row[2], "category")
            eq(it["price"], row[3], "price")
            check(lo <= it["price"] <= hi, "price out of range")
            eq(it["quantity"], row[4], "quantity")
            eq(it["active"], bool(row[5]), "active")
            check(isinstance(it["active"], bool), "active is not a bool")
            eq(it["tags"], json.loads(row[6]), "tags")
            eq(it["rating"], {"score": row[7], "count": row[8]}, "rating")
    db.close()
    for target in ["/db?min=9999&max=9999", "/db?min=50&max=10"]:
        r = c.request(req("GET", target))
        expect_ok(r, "application/json", b'{"items":[],"count":0}')
    # Defaults are 10 and 50.
    eq(c.request(req("GET", "/db")).body, c.request(DB_RAW).body, "default range")
    c.close()


def t_not_found():
    c = Conn()
    r = c.request(BADPATH_RAW)
    eq(r.status, 404, "status")
    check(r.get("Connection") is None, "404 should keep the connection")
    r = c.request(req("POST", "/nope", body=b"12345"))
    eq(r.status, 404, "status")
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def t_method_not_allowed():
    c = Conn()
    for raw, allow in [(b"GETT /baseline11 HTTP/1.1\r\nHost: x\r\n\r\n", "GET, HEAD, POST"),
                       (req("DELETE", "/json"), "GET, HEAD"),
                       (req("PUT", "/pipeline", body=b"x"), "GET, HEAD"),
                       (req("GET", "/upload"), "POST"),
                       (req("POST", "/db", body=b"1"), "GET, HEAD")]:
        r = c.request(raw)
        eq(r.status, 405, "status of %r" % raw[:20])
        eq(r.get("Allow"), allow, "Allow")
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def expect_400_close(c, raw, what, status=400, within=1.0):
    t0 = time.monotonic()
    c.send(raw)
    r = c.response()
    eq(r.status, status, what)
    eq(r.get("Connection"), "close", what + " Connection")
    check(c.closed_by_peer(), what + ": server did not close")
    check(time.monotonic() - t0 < within, what + ": not prompt")


def t_noise():
    expect_400_close(Conn(), NOISE_BINARY, "noise-binary")
    # Promptly: the first bytes alone (no CRLF anywhere) are enough.
    expect_400_close(Conn(), NOISE_BINARY[:8], "noise-binary prefix")
    expect_400_close(Conn(), b"\x16\x03\x01\x00\xa5\x01\x00\x00", "TLS hello")
    expect_400_close(Conn(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2 preface")
    # A valid request followed by garbage: the first is answered.
    c = Conn()
    c.send(GET_RAW + NOISE_BINARY)
    expect_ok(c.response(), "text/plain", b"55")
    eq(c.response().status, 400, "garbage after a request")
    check(c.closed_by_peer(), "no close after garbage")


def t_bad_framing():
    cases = [
        ("CL+TE", req("POST", "/baseline11", ["Content-Length: 2", "Transfer-Encoding: chunked"],
                      body=b"") + b"2\r\n20\r\n0\r\n\r\n"),
        ("TE gzip", req("POST", "/upload", ["Transfer-Encoding: gzip"], body=b"")),
        ("TE gzip, chunked", req("POST", "/upload", ["Transfer-Encoding: gzip, chunked"], body=b"")),
        ("differing CL", req("POST", "/upload", ["Content-Length: 1", "Content-Length: 2"], body=b"")),
        ("CL not digits", req("POST", "/upload", ["Content-Length: 1e3"], body=b"")),
        ("CL overflow", req("POST", "/upload", ["Content-Length: 184467440737095516160"], body=b"")),
        ("bad chunk size", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
         b"zz\r\n"),
        ("chunk size overflow", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
         b"fffffffffffffffff\r\n"),
        ("chunk without CRLF", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
         b"2\r\nabX"),
        # Chunk extensions: BWS ";" BWS token [BWS "=" BWS (token / quoted-string)].
        ("bare ; extension", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
         b"5;\r\nhello\r\n0\r\n\r\n"),
        ("bad extension name", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
         b"5;bad[=x\r\nhello\r\n0\r\n\r\n"),
        ("extension without value", req("POST", "/upload", ["Transfer-Encoding: chunked"],
                                        body=b"") + b"5;a=\r\nhello\r\n0\r\n\r\n"),
        ("unterminated quoted extension", req("POST", "/upload", ["Transfer-Encoding: chunked"],
                                              body=b"") + b"5;a=\"x\r\nhello\r\n0\r\n\r\n"),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n"),
        ("no Host", b"GET /pipeline HTTP/1.1\r\n\r\n"),
        ("HTTP/2.0 line", b"GET /pipeline HTTP/2.0\r\nHost: x\r\n\r\n"),
        ("space in target", b"GET /pipe line HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]
    for what, raw in cases:
        expect_400_close(Conn(), raw, what)


def t_host():
    # RFC 9110 7.2 / 9112 3.2: one Host, uri-host [":" port], else 400 + close.
    for value in ["", "a/b", "user@a", "a, b", "a,b", ":80", "[::1", "a:8x", "a b"]:
        raw = ("GET /pipeline HTTP/1.1\r\nHost: %s\r\n\r\n" % value).encode()
        expect_400_close(Conn(), raw, "Host %r" % value)
    expect_400_close(Conn(), b"GET /pipeline HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
                     "two Hosts")
    # Missing on HTTP/1.1: 400 (RFC 9112 3.2); HTTP/1.0 needs none.
    expect_400_close(Conn(), b"GET /pipeline HTTP/1.1\r\n\r\n", "no Host")
    r = one(b"GET /pipeline HTTP/1.0\r\n\r\n")
    eq(r.body, b"ok", "HTTP/1.0 without Host")
    c = Conn()
    for value in ["localhost", "127.0.0.1:8080", "[::1]:8080", "example.com:"]:
        r = c.request(("GET /pipeline HTTP/1.1\r\nHost: %s\r\n\r\n" % value).encode())
        expect_ok(r, "text/plain", b"ok")
    c.close()


def t_target_forms():
    # RFC 9112 3.2: asterisk-form only with OPTIONS, authority-form only
    # with CONNECT, absolute-form with any method; no fragment.
    for what, raw in [("GET *", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("POST *", req("POST", "*", body=b"1")),
                      ("fragment", b"GET /pipeline#top HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("CONNECT /", b"CONNECT /pipeline HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("ftp scheme", b"GET ftp://x/pipeline HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("userinfo", b"GET http://u@x/pipeline HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("bad pct", b"GET /pipeline%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("authority-form GET", b"GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n")]:
        expect_400_close(Conn(), raw, what)
    # CONNECT: a tunnel we never open. Refused and closed, never a 404.
    c = Conn()
    c.send(b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n")
    r = c.response()
    check(r.status in (400, 405), "CONNECT status %d" % r.status)
    if r.status == 405:
        check(r.get("Allow") is not None, "405 without Allow")
    eq(r.get("Connection"), "close", "CONNECT Connection")
    check(c.closed_by_peer(), "CONNECT: no close")
    # OPTIONS *: 200, Allow, no content; the connection stays.
    c = Conn()
    r = c.request(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(r.status, 200, "OPTIONS * status")
    eq(r.get("Content-Length"), "0", "OPTIONS * Content-Length")
    check(r.get("Allow") is not None and "GET" in r.get("Allow"), "OPTIONS * Allow")
    eq(sorted(r.names()), ["Allow", "Content-Length", "Date", "Server"], "OPTIONS * headers")
    # absolute-form: routed by its path, for any method.
    r = c.request(b"GET http://localhost:8080/baseline11?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_ok(r, "text/plain", b"3")
    r = c.request(b"POST HTTPS://[::1]/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    expect_ok(r, "text/plain", b"3")
    r = c.request(b"DELETE http://x/json HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(r.status, 405, "absolute-form DELETE /json")
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def t_diagnostic_routes():
    # "/": GET, HEAD and OPTIONS say OK; POST echoes its body, whole.
    c = Conn()
    expect_ok(c.request(req("GET", "/")), "text/plain", b"OK")
    expect_ok(c.request(req("GET", "/?x=1")), "text/plain", b"OK")
    h = c.request(req("HEAD", "/"), head_only=True)
    eq((h.status, h.get("Content-Length")), (200, "2"), "HEAD /")
    r = c.request(req("OPTIONS", "/"))
    expect_ok(r, "text/plain", b"OK", extra=["Allow"])
    check("POST" in r.get("Allow"), "OPTIONS / Allow")
    expect_ok(c.request(b"GET http://localhost HTTP/1.1\r\nHost: x\r\n\r\n"), "text/plain", b"OK")
    for body in [b"hello", b"", os.urandom(30000)]:
        expect_ok(c.request(req("POST", "/", body=body)), "application/octet-stream", body)
        ch = req("POST", "/", ["Transfer-Encoding: chunked"], body=b"")
        expect_ok(c.request(ch + chunked(body, [1, 3, 4096])), "application/octet-stream", body)
    r = c.request(req("PUT", "/", body=b"x"))
    eq(r.status, 405, "PUT /")
    check("GET" in r.get("Allow"), "405 Allow")
    # "/echo": any method, the request's header lines one per line.
    raw = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n"
           b"x-b:  two  words \t\r\nX-Empty:\r\n\r\n")
    want = b"Host: localhost\nX-A: 1\nx-b: two  words\nX-Empty: \n"
    expect_ok(c.request(raw), "text/plain", want)
    h = c.request(b"HEAD" + raw[3:], head_only=True)
    eq(h.get("Content-Length"), str(len(want)), "HEAD /echo Content-Length")
    for method in ["POST", "PATCH", "DELETE", "FOO"]:
        r = c.request(req(method, "/echo", ["X-M: " + method], body=b"abc"))
        expect_ok(r, "text/plain", ("Host: localhost:%d\nX-M: %s\nContent-Length: 3\n" %
                                    (PORT, method)).encode())
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()
    # POST / reads the whole body before answering: a bad chunk is still a
    # 400, and more than the server keeps is a 413.
    expect_400_close(Conn(), req("POST", "/", ["Transfer-Encoding: chunked"], body=b"") +
                     b"5\r\nhello\r\n5;bad[=x\r\nhello\r\n0\r\n\r\n", "bad chunk to /")
    expect_400_close(Conn(), req("POST", "/", body=b"x" * 70000), "big body to /", 413)
    expect_400_close(Conn(), req("POST", "/", ["Transfer-Encoding: chunked"], body=b"") +
                     chunked(b"x" * 70000, [8192]), "big chunked body to /", 413)


def t_limits():
    expect_400_close(Conn(), b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     "long request line", 414)
    many = "".join("X-%d: v\r\n" % i for i in range(70)).encode()
    expect_400_close(Conn(), b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
                     "too many headers", 431)
    expect_400_close(Conn(), b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 17000 + b"\r\n\r\n",
                     "header section too big", 431)
    # Just under the limits is fine.
    r = one(b"GET /baseline11?a=" + b"1" * 10 + b"&x=" + b"a" * 7000 +
            b" HTTP/1.1\r\nHost: x\r\n" + "".join("X-%d: v\r\n" % i for i in range(60)).encode() +
            b"\r\n")
    expect_ok(r, "text/plain", b"1111111111")


def t_pipelining():
    # 16 requests in one write (one segment), answered in order.
    c = Conn()
    batch = b"".join(req("GET", "/baseline11?a=%d&b=0" % i) for i in range(16))
    c.send(batch)
    for i in range(16):
        expect_ok(c.response(), "text/plain", str(i).encode())
    # The benchmark's form: 16 x GET /pipeline.
    c.send(PIPELINE_RAW * 16)
    for _ in range(16):
        expect_ok(c.response(), "text/plain", b"ok")
    # Mixed methods and bodies in one write.
    mix = [GET_RAW, POST_CL_RAW, POST_CHUNKED_RAW, JSON_RAW, BADPATH_RAW, PIPELINE_RAW]
    c.send(b"".join(mix * 3))
    for _ in range(3):
        for raw in mix:
            r = c.response()
            if raw is BADPATH_RAW:
                eq(r.status, 404, "pipelined 404")
            elif raw is JSON_RAW:
                eq(json.loads(r.body)["count"], 50, "pipelined json")
            else:
                eq(r.body, {GET_RAW: b"55", POST_CL_RAW: b"75", POST_CHUNKED_RAW: b"75",
                            PIPELINE_RAW: b"ok"}[raw], "pipelined body")
    # Heads of odd sizes back to back, so that the server's 4 KiB input
    # buffers split heads (and chunk-size lines) at every kind of place.
    batch, want = b"", []
    for i in range(60):
        pad = "x" * (97 * i % 1500)
        if i % 3 == 2:
            batch += req("POST", "/baseline11?a=%d" % i, ["X-Pad: " + pad,
                         "Transfer-Encoding: chunked"], body=b"") + chunked(b"1000", [1, 3])
            want.append(str(i + 1000).encode())
        else:
            batch += req("GET", "/baseline11?a=%d&b=1" % i, ["X-Pad: " + pad])
            want.append(str(i + 1).encode())
    c.send(batch)
    for w in want:
        expect_ok(c.response(), "text/plain", w)
    # 64 in one write, with Connection: close on the last.
    c.send(PIPELINE_RAW * 63 + req("GET", "/pipeline", ["Connection: close"]))
    for i in range(64):
        r = c.response()
        eq(r.body, b"ok", "body")
    eq(r.get("Connection"), "close", "last response")
    check(c.closed_by_peer(), "no close after Connection: close")


def t_output_backlog():
    # Far more pipelined output (70 MB) than the server queues for one
    # connection (about 2 MiB): it must pause and resume as we read, many
    # times over, not fail.
    c = Conn(timeout=20)
    c.send(req("GET", "/compression") * 64)
    time.sleep(0.5)
    first = None
    for i in range(64):
        r = c.response()
        eq(r.status, 200, "status of response %d" % i)
        first = first or r.body
        eq(r.body, first, "body of response %d" % i)
    eq(json.loads(first)["count"], 6000, "count")
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def server_rss():
    """The server's resident set, in bytes (VmRSS)."""
    with open("/proc/%d/status" % SERVER_PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise Fail("no VmRSS")


def server_has_asan():
    """Is the server built with AddressSanitizer (libasan mapped)?"""
    with open("/proc/%d/maps" % SERVER_PID) as f:
        return any("libasan" in line for line in f)


def settled_rss(limit=10.0):
    """Sample VmRSS until it has not grown for a second (the server has
    done what it will) or `limit` s pass; returns the largest sample."""
    top, since = server_rss(), time.monotonic()
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end and time.monotonic() - since < 1.0:
        time.sleep(0.1)
        rss = server_rss()
        if rss > top + (1 << 20):
            since = time.monotonic()
        top = max(top, rss)
    return top


def t_output_budget():
    # 64 clients pipeline 16 /compression requests each (18 MB of answers
    # apiece) and never read. Each connection's queue stops at a small
    # mark and each reactor's total is capped (past it connections are
    # shed), so the server's memory stays flat, and fresh requests are
    # answered meanwhile.
    compression = req("GET", "/compression")
    base = server_rss()
    flood = []
    for _ in range(64):
        c = Conn(timeout=IO_TIMEOUT)
        c.send(compression * 16)
        flood.append(c)
    for _ in range(3):
        t0 = time.monotonic()
        expect_ok(one(GET_RAW), "text/plain", b"55")
        check(time.monotonic() - t0 < 5, "a fresh GET waited %.1f s" % (time.monotonic() - t0))
    grown = settled_rss() - base
    # ASan keeps up to 256 MiB of freed memory (its quarantine) resident.
    bound = (200 + (256 if server_has_asan() else 0)) << 20
    check(grown < bound, "VmRSS grew by %d MiB" % (grown >> 20))
    expect_ok(one(GET_RAW), "text/plain", b"55")
    # A flooder that reads now gets its answers, complete and in order,
    # unless it was shed: then it sees the connection end.
    shed, first = 0, None
    for k, c in enumerate(flood):
        c.s.settimeout(20)
        try:
            for i in range(16 if k < 2 else 1):
                r = c.response()
                first = first or r.body
                eq((r.status, r.body), (200, first), "flood answer %d" % i)
        except (EOFError, ConnectionResetError):
            shed += 1
    if VERBOSE:
        print("# output budget: VmRSS grew by %d MiB, %d of 64 shed" % (grown >> 20, shed))
    for c in flood:
        c.reset()
    expect_ok(one(GET_RAW), "text/plain", b"55")


def send_split(c, raw, cuts, pause):
    last = 0
    for k in list(cuts) + [len(raw)]:
        c.send(raw[last:k])
        last = k
        if k < len(raw):
            time.sleep(pause)


def t_split_everywhere():
    # The validator's splits, with its 30 ms pauses.
    c = Conn()
    send_split(c, b"GET /baseline11?a=13&b=42 HTTP/1.1\r\nHost: localhost\r\n\r\n",
               [len("GET /baseli"), len("GET /baseline11?a=13&b=42 HTTP/1.1\r\n")], 0.03)
    expect_ok(c.response(), "text/plain", b"55")
    # Every byte boundary, each a separate segment (TCP_NODELAY + pause).
    for raw, want in [(GET_RAW, b"55"), (POST_CL_RAW, b"75"), (POST_CHUNKED_RAW, b"75")]:
        for k in range(1, len(raw)):
            send_split(c, raw, [k], 0.002)
            expect_ok(c.response(), "text/plain", want)
    # Byte by byte, all the way.
    for raw, want in [(POST_CHUNKED_RAW, b"75"),
                      (req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") +
                       b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n", b"3")]:
        send_split(c, raw, range(1, len(raw)), 0.001)
        expect_ok(c.response(), "text/plain", want)
    c.close()


def t_connection_close():
    c = Conn()
    r = c.request(req("GET", "/pipeline", ["Connection: close"]))
    expect_ok(r, "text/plain", b"ok", extra=["Connection"])
    eq(r.get("Connection"), "close", "Connection")
    check(c.closed_by_peer(), "no close after Connection: close")
    # HTTP/1.0: close by default, keep-alive when asked.
    c = Conn()
    r = c.request(req("GET", "/pipeline", version="1.0"))
    eq(r.get("Connection"), "close", "HTTP/1.0 Connection")
    check(c.closed_by_peer(), "HTTP/1.0 not closed")
    c = Conn()
    r = c.request(req("GET", "/pipeline", ["Connection: keep-alive"], version="1.0"))
    eq(r.get("Connection"), "keep-alive", "HTTP/1.0 keep-alive")
    r = c.request(req("GET", "/baseline11?a=2", ["Connection: keep-alive"], version="1.0"))
    eq(r.body, b"2", "second HTTP/1.0 request")
    c.close()
    # Half-close after the request: the answer still comes.
    c = Conn()
    c.send(GET_RAW)
    c.s.shutdown(socket.SHUT_WR)
    expect_ok(c.response(), "text/plain", b"55")
    check(c.closed_by_peer(), "no close after client FIN")


def t_head():
    c = Conn()
    g = c.request(JSON_RAW)
    h = c.request(req("HEAD", "/json"), head_only=True)
    eq(h.status, 200, "HEAD status")
    eq(h.get("Content-Length"), g.get("Content-Length"), "HEAD Content-Length")
    expect_ok(c.request(GET_RAW), "text/plain", b"55")
    c.close()


def t_date():
    # The Date header is a cached string, refreshed every second.
    c = Conn()
    d1 = c.request(GET_RAW).get("Date")
    time.sleep(1.2)
    d2 = c.request(GET_RAW).get("Date")
    check(d1 != d2, "Date not refreshed: %s" % d1)
    now = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    check(abs(time.mktime(time.strptime(d2, "%a, %d %b %Y %H:%M:%S GMT")) -
              time.mktime(time.strptime(now, "%a, %d %b %Y %H:%M:%S GMT"))) <= 2,
          "Date %s is not now (%s)" % (d2, now))
    c.close()


def t_timeouts():
    # A body that never comes holds only its own connection, then times out.
    slow = Conn()
    slow.send(BADCL_RAW)
    t0 = time.monotonic()
    expect_ok(one(GET_RAW), "text/plain", b"55")
    check(slow.closed_by_peer(within=REQUEST_TIMEOUT_MS / 1000 + 3), "badcl never timed out")
    check(time.monotonic() - t0 >= REQUEST_TIMEOUT_MS / 1000 * 0.8, "badcl closed too early")
    eq(slow.buf, b"", "badcl got bytes")
    # A head that stops half-way too.
    slow = Conn()
    slow.send(b"GET /basel")
    check(slow.closed_by_peer(within=REQUEST_TIMEOUT_MS / 1000 + 3), "half head never timed out")
    # A head trickled a byte at a time (slowloris) is cut at the request
    # timeout although every byte is progress.
    slow = Conn()
    t0 = time.monotonic()
    cut = False
    for b in b"GET /baseline11?a=1&b=2 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200:
        try:
            slow.s.send(bytes([b]))
        except OSError:
            cut = True
            break
        if slow.closed_by_peer(within=REQUEST_TIMEOUT_MS / 1000 / 4):
            cut = True
            break
    check(cut, "trickled head never timed out")
    check(time.monotonic() - t0 <= REQUEST_TIMEOUT_MS / 1000 + 3, "trickled head outlived the timeout")
    # A chunked body that stops inside a size line.
    slow = Conn()
    slow.send(req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b"") + b"1")
    check(slow.closed_by_peer(within=REQUEST_TIMEOUT_MS / 1000 + 3), "half chunk never timed out")
    # An idle keep-alive connection is not cut at the request timeout.
    idle = Conn()
    expect_ok(idle.request(GET_RAW), "text/plain", b"55")
    time.sleep(REQUEST_TIMEOUT_MS / 1000 * 2)
    expect_ok(idle.request(GET_RAW), "text/plain", b"55")
    idle.close()


def trickle(c, data, every, limit):
    """Send data a byte at a time, one per `every` s, until the server
    closes the connection or `limit` s pass. Returns the seconds it
    took the server to close, or None if it never did."""
    t0 = time.monotonic()
    for b in data:
        try:
            c.s.send(bytes([b]))
        except OSError:
            return time.monotonic() - t0
        if c.closed_by_peer(within=every):
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            return None
    return time.monotonic() - t0 if c.closed_by_peer(within=limit) else None


def t_body_trickle():
    # Each byte is progress, so only a body deadline stops these (the
    # idle timeout alone never fires): Content-Length and chunked bodies
    # sent a byte every third of the request timeout.
    limit = REQUEST_TIMEOUT_MS / 1000 + 3
    every = REQUEST_TIMEOUT_MS / 1000 / 3
    for what, head, body in [
            ("Content-Length body", head_cl("POST", "/upload", 1000), b"x" * 1000),
            ("chunked body", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b""),
             b"3e8\r\n" + b"x" * 1000),
            ("chunk size lines", req("POST", "/upload", ["Transfer-Encoding: chunked"], body=b""),
             b"1\r\nx\r\n" * 200)]:
        c = Conn()
        c.send(head)
        took = trickle(c, body, every, limit)
        check(took is not None, "trickled %s never timed out" % what)
        eq(c.buf, b"", "trickled %s got bytes" % what)
        c.close()
    # A body that keeps a sane rate is not cut, however long it takes in
    # all: 1.25 MiB in 32 KiB writes over about three request timeouts
    # (the minimum rate is 64 KiB per request timeout).
    c = Conn()
    n, piece = 40 * 32768, os.urandom(32768)
    c.send(head_cl("POST", "/upload", n))
    gap = REQUEST_TIMEOUT_MS / 1000 * 3 / 40
    for _ in range(40):
        c.send(piece)
        time.sleep(gap)
    expect_ok(c.response(), "text/plain", str(n).encode())
    c.close()


def t_resets():
    # limited-conn: 10 requests then RST; mixed: 5 then RST; some mid-request.
    raws = [GET_RAW, POST_CL_RAW, POST_CHUNKED_RAW, JSON_RAW, DB_RAW, JSON_GZIP_RAW]
    for i in range(60):
        c = Conn()
        for k in range(10 if i % 2 else 5):
            c.request(raws[(i + k) % len(raws)])
        if i % 3 == 0:
            c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        if i % 5 == 0:
            c.send(JSON_GZIP_RAW * 4)   # responses in flight when the RST lands
        c.reset()
    time.sleep(0.1)
    expect_ok(one(GET_RAW), "text/plain", b"55")


def t_many_connections():
    conns = [Conn() for _ in range(200)]
    for c in conns:
        c.send(PIPELINE_RAW)
    for c in conns:
        expect_ok(c.response(), "text/plain", b"ok")
        c.close()


CHECKS = [
    t_baseline, t_chunked_forms, t_pipeline_endpoint, t_json, t_json_count, t_compression,
    t_upload, t_upload_20m_keepalive, t_expect_continue, t_db, t_not_found,
    t_method_not_allowed, t_noise, t_bad_framing, t_host, t_target_forms,
    t_diagnostic_routes, t_limits, t_pipelining, t_output_backlog, t_output_budget,
    t_split_everywhere,
    t_connection_close, t_head, t_date, t_timeouts, t_body_trickle, t_resets, t_many_connections,
]


# ---------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------

def start_server(server, data, stderr_file):
    p = subprocess.Popen([server, "--port", "0", "--host", "127.0.0.1", "--threads", "2",
                          "--data", data, "--request-timeout-ms", str(REQUEST_TIMEOUT_MS)],
                         stdout=subprocess.PIPE, stderr=stderr_file)
    ready, _, _ = select.select([p.stdout], [], [], 15)
    line = p.stdout.readline().decode() if ready else ""
    if not line:
        p.kill()
        p.wait()
        raise Fail("server printed no start line")
    return p, line


def check_start_line(line, data):
    m = re.match(r"^httparena-server: port (\d+), threads (\d+), data (\S+), features (.+)$",
                 line.rstrip("\n"))
    check(m is not None, "start line %r" % line)
    eq(int(m.group(2)), 2, "threads in start line")
    eq(m.group(3), data, "data dir in start line")
    check("io_uring" in m.group(4), "features in start line")
    return int(m.group(1))


def main():
    global PORT, SERVER_PID, DATA, VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--only", help="comma-separated check names")
    args = ap.parse_args()
    VERBOSE = args.verbose
    random.seed(os.getpid() ^ int(time.time()))

    tmp = tempfile.mkdtemp(prefix="httparena-conformance.")
    DATA = os.path.join(tmp, "data")
    p = None
    failures = []
    t_start = time.monotonic()
    try:
        subprocess.run([args.datagen, DATA], check=True, timeout=60)
        stderr_path = os.path.join(tmp, "stderr")
        with open(stderr_path, "wb") as err:
            p, line = start_server(args.server, DATA, err)
        SERVER_PID = p.pid
        try:
            PORT = check_start_line(line, DATA)
        except Fail as e:
            failures.append(("start line", str(e)))
            PORT = int(re.search(r"port (\d+)", line).group(1))
        print("# " + line.rstrip())
        only = set(args.only.split(",")) if args.only else None
        for fn in CHECKS:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
                status = "ok"
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                status = "FAIL: %s: %s" % (type(e).__name__, e)
                failures.append((fn.__name__, status))
                if VERBOSE:
                    traceback.print_exc()
            print("%-28s %6.2fs  %s" % (fn.__name__, time.monotonic() - t0, status))
            sys.stdout.flush()
            if p.poll() is not None:
                failures.append(("server", "exited with %s" % p.returncode))
                break
        # Stop: SIGTERM must end it promptly and cleanly.
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=10)
                if rc != 0:
                    failures.append(("shutdown", "exit code %d" % rc))
            except subprocess.TimeoutExpired:
                failures.append(("shutdown", "no exit within 10 s of SIGTERM"))
        with open(stderr_path, "rb") as f:
            noise = f.read()
        if noise:
            failures.append(("stderr", "server wrote %r" % noise[:300]))
    except Exception as e:  # noqa: BLE001
        failures.append(("setup", "%s: %s" % (type(e).__name__, e)))
        traceback.print_exc()
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %.1f s" % (time.monotonic() - t_start))
    for name, msg in failures:
        print("FAILED %s: %s" % (name, msg))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
