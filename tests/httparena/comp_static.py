#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""json-comp and static (SPEC-HEAD.md sections 3 and 4) end to end on
httparena-server, with a static directory made here (text files with
.gz and .br siblings, binary ones without).

json-comp: no Content-Encoding without Accept-Encoding; gzip decodes to
the identity body; gzip chosen on a tie (ENC_JSON_PREFER), br with a
higher q; q=0 refuses a coding; Content-Length is the coded length.
static: every file byte-exact with its Content-Type; the .br / .gz
sibling's exact bytes when accepted; binary files never coded;
traversal, escapes, a trailing slash, a sibling named directly, unknown
names: 404. Both: Accept-Encoding on several lines is one list (RFC 9110
5.3); every answer whose body depends on Accept-Encoding says
"Vary: Accept-Encoding" (once), the others do not; heads stay inside
gcannon's 1024 bytes and 16 fields.

usage: comp_static.py --server PATH --datagen PATH"""
import argparse
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

PASSES, FAILS = [], []
BROTLI = shutil.which("brotli")  # Debian's brotli: makes the .br siblings


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (PASSES if cond else FAILS).append(what)


FILES = {  # name: (type, compressible)
    "reset.css": ("text/css", True),
    "app.js": ("application/javascript", True),
    "manifest.json": ("application/json", True),
    "index.html": ("text/html", True),
    "logo.svg": ("image/svg+xml", True),
    "font.woff2": ("font/woff2", False),
    "photo.webp": ("image/webp", False),
}


def make_static(d):
    os.makedirs(d)
    content = {}
    for i, (name, (_, text)) in enumerate(sorted(FILES.items())):
        body = (("/* %s */\n" % name) * (200 + 37 * i)).encode() if text else os.urandom(3000 + i)
        open(os.path.join(d, name), "wb").write(body)
        content[name] = body
        if text:
            open(os.path.join(d, name + ".gz"), "wb").write(gzip.compress(body, 9))
            if BROTLI:  # the store checks that a sibling decodes to its file
                subprocess.run([BROTLI, "-q", "11", "-f", "-o", os.path.join(d, name + ".br"),
                                os.path.join(d, name)], check=True)
    return content


HEADS = []  # every response head seen: (path, raw bytes)


def get(port, path, ae=None, method="GET"):
    """ae: None (no field), a value, or a list of values (one line each)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    for v in ([] if ae is None else [ae] if isinstance(ae, str) else ae):
        req += "Accept-Encoding: %s\r\n" % v
    s.sendall((req + "Connection: close\r\n\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    HEADS.append((path, head))
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        k = k.strip().lower()
        hdr[k] = hdr[k] + "\n" + v.strip() if k in hdr else v.strip()  # as check_header joins
    return status, hdr, body


def varies(h):
    return h.get("vary") == "Accept-Encoding"


def t_json_comp(port):
    path = "/json/25?m=3"
    st, h, plain = get(port, path)
    check(st == 200 and "content-encoding" not in h, "json: no Accept-Encoding, no Content-Encoding")
    st, h, body = get(port, path, "gzip")
    check(h.get("content-encoding") == "gzip" and gzip.decompress(body) == plain,
          "json: gzip decodes to the identity body")
    check(int(h.get("content-length", -1)) == len(body), "json: Content-Length is the coded length")
    check(varies(h), "json: identity answer has Vary: Accept-Encoding")
    st, h, body = get(port, path, "gzip, br")
    check(h.get("content-encoding") == "gzip" and 0 < len(body) < len(plain),
          "json: gzip, br (a tie) -> gzip (ENC_JSON_PREFER), smaller than identity")
    check(varies(h), "json: coded answer has Vary: Accept-Encoding, once")
    st, h, body = get(port, path, "br")
    check(h.get("content-encoding") == "br" and 0 < len(body) < len(plain),
          "json: br -> br, smaller than identity")
    # one list over several lines (RFC 9110 5.3): the first line alone
    # would give identity or the wrong coding
    st, h, body = get(port, path, ["identity;q=0.1", "gzip;q=0.5"])
    check(h.get("content-encoding") == "gzip" and gzip.decompress(body) == plain,
          "json: Accept-Encoding on two lines (identity;q=0.1 / gzip;q=0.5) -> gzip")
    st, h, _ = get(port, path, ["gzip;q=0.2", "br;q=0.9"])
    check(h.get("content-encoding") == "br", "json: two lines (gzip;q=0.2 / br;q=0.9) -> br")
    st, h, _ = get(port, path, ["", "br"])
    check(h.get("content-encoding") == "br", "json: an empty line, then br -> br")
    st, h, _ = get(port, path, ["gzip;q=0", "gzip"])
    check("content-encoding" not in h, "json: gzip;q=0 then gzip: the first entry counts -> identity")
    st, h, _ = get(port, path, "br;q=0, gzip")
    check(h.get("content-encoding") == "gzip", "json: br;q=0, gzip -> gzip")
    st, h, _ = get(port, path, "gzip;q=0.5, br;q=0.9")
    check(h.get("content-encoding") == "br", "json: higher q wins (br)")
    st, h, _ = get(port, path, "br;q=0.2, gzip;q=0.9")
    check(h.get("content-encoding") == "gzip", "json: higher q wins (gzip)")
    for ae in ("identity", "gzip;q=0, br;q=0", "deflate", ""):
        st, h, body = get(port, path, ae)
        check(st == 200 and "content-encoding" not in h and body == plain,
              "json: Accept-Encoding %r -> identity" % ae)
    for count, m in ((7, 2), (40, 7), (50, 2), (1, 1)):
        st, h, plain = get(port, "/json/%d?m=%d" % (count, m))
        st, h, body = get(port, "/json/%d?m=%d" % (count, m), "gzip")
        check(gzip.decompress(body) == plain, "json: /json/%d?m=%d gzip round trip" % (count, m))


def t_static(port, content, d):
    for name, (ctype, text) in FILES.items():
        st, h, body = get(port, "/static/" + name)
        check(st == 200 and body == content[name] and h.get("content-type", "").startswith(ctype)
              and "content-encoding" not in h, "static %s: identity, %s" % (name, ctype))
        check(varies(h) if text else "vary" not in h,
              "static %s: %s" % (name, "Vary: Accept-Encoding (it has siblings)" if text
                                 else "no Vary (one representation)"))
        st, h, body = get(port, "/static/" + name, "br;q=1, gzip;q=0.8")
        check(varies(h) if text else "vary" not in h, "static %s: Vary as above, coded" % name)
        if text and BROTLI:
            check(h.get("content-encoding") == "br" and
                  body == open(os.path.join(d, name + ".br"), "rb").read(),
                  "static %s: the .br sibling for br" % name)
        elif text:
            print("skip static %s .br: no brotli(1) to make the sibling" % name)
        if text:
            st, h, body = get(port, "/static/" + name, "gzip")
            check(h.get("content-encoding") == "gzip" and gzip.decompress(body) == content[name],
                  "static %s: the .gz sibling for gzip" % name)
            st, h, body = get(port, "/static/" + name, ["deflate", "gzip;q=0.8"])
            check(h.get("content-encoding") == "gzip" and gzip.decompress(body) == content[name],
                  "static %s: deflate / gzip;q=0.8 on two lines -> the .gz sibling" % name)
        else:
            check("content-encoding" not in h and body == content[name],
                  "static %s: never coded" % name)
    st, h, body = get(port, "/static/reset.css", method="HEAD")
    check(st == 200 and body == b"" and int(h["content-length"]) == len(content["reset.css"]),
          "static: HEAD has the length, no body")
    for bad in ("/static/../etc/passwd", "/static/%2e%2e/x", "/static/reset.css/",
                "/static/reset.css.gz", "/static/reset.css.br", "/static/nope.css",
                "/static/", "/static//reset.css", "/static/sub/../reset.css",
                "/static/reset%2ecss"):
        st, _, _ = get(port, bad)
        check(st in (404, 400), "static: %s -> %d" % (bad, st))
    st, h, _ = get(port, "/static/reset.css", method="POST")
    check(st == 405, "static: POST -> 405")
    st, h, _ = get(port, "/static/nope.css", "gzip")
    check(st == 404 and "vary" not in h, "static: a 404 has no Vary")


def t_heads():
    # gcannon parses heads in 1024 bytes with 16 header slots (SPEC-HEAD 1.4)
    big = max(HEADS, key=lambda ph: len(ph[1]))
    most = max(HEADS, key=lambda ph: ph[1].count(b"\r\n"))
    check(len(big[1]) + 4 <= 1024, "heads: the largest (%s) is %d bytes" % (big[0], len(big[1]) + 4))
    check(most[1].count(b"\r\n") <= 16, "heads: at most 16 fields (%s: %d)"
          % (most[0], most[1].count(b"\r\n")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zg-comp-static-")
    data = os.path.join(tmp, "data")
    subprocess.run([a.datagen, data], check=True, capture_output=True, timeout=60)
    content = make_static(os.path.join(data, "static"))
    p = subprocess.Popen([a.server, "--port", "0", "--host", "127.0.0.1", "--threads", "1",
                          "--data", data], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        port = int(line.split("port ")[1].split(",")[0])
        t_json_comp(port)
        t_static(port, content, os.path.join(data, "static"))
        t_heads()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    check(p.returncode == 0, "the server exited cleanly (%s)" % p.returncode)
    print("%d passed, %d failed" % (len(PASSES), len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
