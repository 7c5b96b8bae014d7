#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The json-tls profile (SPEC-HEAD.md section 8) of httparena-server:
HTTP/1.1 over TLS on its TLS port, with a self-signed pair made here.

Checks the benchmark's validation (curl --http1.1 reports 1.1; /json/7,
/json/23, /json/50 give exactly the bytes the plain port gives, which the
conformance test checks against the dataset; a content-type with
application/json), and the project's own rules: TLS 1.2 and 1.3, ALPN
selects http/1.1 when h2 is offered first, a client without ALPN (wrk)
is served, many requests per TLS connection (keep-alive, pipelined).
Skips (77) without openssl(1) or a TLS build.

usage: json_tls.py --server PATH --datagen PATH"""
import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

SKIP = 77
PASSES, FAILS = [], []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (PASSES if cond else FAILS).append(what)


def start(server, data, cert, key):
    p = subprocess.Popen([server, "--port", "0", "--host", "127.0.0.1", "--threads", "2",
                          "--data", data, "--tls-port", "0", "--tls-cert", cert,
                          "--tls-key", key], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "tls-port" not in line:
        p.kill()
        err = p.stderr.read()
        if "without TLS" in err:
            print("SKIP: " + err.strip())
            sys.exit(SKIP)
        raise SystemExit("no TLS port in the start line: %r %r" % (line, err))
    port = int(line.split("port ")[1].split(",")[0])
    tls_port = int(line.split("tls-port ")[1].split()[0])
    return p, port, tls_port


def read_response(f):
    status = f.readline()
    headers = {}
    while True:
        ln = f.readline()
        if ln in (b"\r\n", b""):
            break
        k, v = ln.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def get(sock, path, n=1):
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode() * n
    sock.sendall(req)
    f = sock.makefile("rb")
    return [read_response(f) for _ in range(n)]


def tls_sock(port, version=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--datagen", required=True)
    a = ap.parse_args()
    if not shutil.which("openssl"):
        print("SKIP: openssl(1) not found")
        return SKIP
    d = tempfile.mkdtemp(prefix="zg-json-tls-")
    cert, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    # like the benchmark's pair: RSA-2048, CN=localhost, no SAN
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-days", "1", "-subj", "/CN=localhost", "-keyout", key,
                        "-out", cert], capture_output=True)
    if r.returncode:
        print("SKIP: openssl req failed: " + r.stderr.decode()[-200:])
        return SKIP
    data = os.path.join(d, "data")
    subprocess.run([a.datagen, data], check=True, timeout=60, capture_output=True)
    p, port, tls_port = start(a.server, data, cert, key)
    try:
        plain = socket.create_connection(("127.0.0.1", port), timeout=10)
        for path in ("/json/7?m=2", "/json/23?m=11", "/json/50?m=1", "/json/1?m=1"):
            want = get(plain, path)[0]
            for version, name in ((ssl.TLSVersion.TLSv1_3, "1.3"), (ssl.TLSVersion.TLSv1_2, "1.2")):
                s = tls_sock(tls_port, version)
                got = get(s, path)[0]
                check(got[0].startswith(b"HTTP/1.1 200") and got[2] == want[2],
                      "TLS %s %s: the same 200 and body as the plain port" % (name, path))
                check("application/json" in got[1].get("content-type", ""),
                      "TLS %s %s: content-type application/json" % (name, path))
                s.close()
        plain.close()
        s = tls_sock(tls_port, alpn=["h2", "http/1.1"])
        check(s.selected_alpn_protocol() == "http/1.1", "ALPN h2,http/1.1 selects http/1.1 (%s)"
              % s.selected_alpn_protocol())
        s.close()
        s = tls_sock(tls_port, alpn=["h2"])
        check(s.selected_alpn_protocol() is None, "ALPN h2 alone: no protocol selected")
        s.close()
        s = tls_sock(tls_port)  # no ALPN, as wrk
        rs = [get(s, "/json/%d?m=%d" % (c, m))[0] for c, m in
              ((1, 3), (5, 7), (10, 2), (15, 5), (25, 4), (40, 8), (50, 6))] * 20
        check(all(x[0].startswith(b"HTTP/1.1 200") for x in rs),
              "140 requests on one TLS connection without ALPN, all 200")
        rs = get(s, "/json/10?m=2", 16)
        check(len(rs) == 16 and all(x[0].startswith(b"HTTP/1.1 200") for x in rs),
              "16 pipelined requests on a TLS connection")
        s.close()
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-sk", "--http1.1", "-o", "/dev/null", "-w",
                                  "%{http_version}", "https://localhost:%d/json/1?m=1" % tls_port],
                                 capture_output=True, text=True, timeout=20).stdout
            check(out == "1.1", "curl --http1.1 reports HTTP/1.1 (%r)" % out)
            out = subprocess.run(["curl", "-sk", "-D-", "-o", "/dev/null",
                                  "https://localhost:%d/json/1?m=1" % tls_port],
                                 capture_output=True, text=True, timeout=20).stdout.lower()
            check("content-type: application/json" in out, "curl sees content-type: application/json")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    check(p.returncode == 0, "the server exited cleanly (%s)" % p.returncode)
    print("%d passed, %d failed" % (len(PASSES), len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
