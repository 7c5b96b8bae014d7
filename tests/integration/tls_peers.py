#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zerg-echo --tls against peers that are not libzerg: Python's ssl module
and openssl s_client, with a certificate pair made here by openssl req.

Checks: TLS 1.2 and 1.3 handshakes and echo of 1 B .. 16 MiB, ALPN
(h2 / http/1.1 / none), SNI, TLS 1.3 session tickets (a resumed
session), close_notify both ways, a TLS 1.3 key update and a refused
TLS 1.2 renegotiation (openssl s_client), and that the server is still
healthy afterwards. Skips (77) without openssl(1) or a TLS build.

Usage: tls_peers.py --echo PATH/zerg-echo"""
import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SKIP = 77
FAILS = []
PASSES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (PASSES if cond else FAILS).append(what)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,DNS:example.test",
                        "-keyout", key, "-out", cert], capture_output=True)
    return (cert, key) if r.returncode == 0 else (None, None)


def start_echo(exe, cert, key):
    p = subprocess.Popen([exe, "--port", "0", "--threads", "1", "--tls", cert, key,
                          "--alpn", "h2,http/1.1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "listening on port" not in line:
        err = p.stderr.read() if p.poll() is not None else ""
        p.kill()
        if "without TLS" in err:
            print("SKIP: " + err.strip())
            sys.exit(SKIP)
        raise SystemExit("zerg-echo did not start: %r %r" % (line, err))
    return p, int(line.split("port")[1].split()[0])


def context(cert, version=None, alpn=None):
    ctx = ssl.create_default_context(cafile=cert)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def connect(port, ctx, name="localhost", session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=name, session=session)


def echo(s, n):
    data = os.urandom(n)
    got = bytearray()
    sent = 0
    s.setblocking(True)
    while len(got) < n:
        if sent < n:
            sent += s.send(data[sent:sent + 65536])
        while len(got) < sent:
            chunk = s.recv(min(1 << 20, sent - len(got)))
            if not chunk:
                return False
            got += chunk
    return bytes(got) == data


def t_versions_and_sizes(port, cert):
    for version, name in ((ssl.TLSVersion.TLSv1_3, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        s = connect(port, context(cert, version))
        check(s.version() == name, "%s negotiated (%s)" % (name, s.version()))
        for n in (1, 1000, 16384, 16385, 1 << 20, 16 << 20):
            check(echo(s, n), "%s echo of %d bytes" % (name, n))
        s.close()


def t_alpn_and_sni(port, cert):
    cases = ((["http/1.1", "h2"], "h2"), (["http/1.1"], "http/1.1"), (None, None),
             (["spdy/3"], None))
    for offer, want in cases:
        s = connect(port, context(cert, alpn=offer))
        check(s.selected_alpn_protocol() == want, "ALPN offer %s -> %s (got %s)" %
              (offer, want, s.selected_alpn_protocol()))
        check(echo(s, 10), "echo after ALPN %s" % offer)
        s.close()
    s = connect(port, context(cert), name="example.test")
    check(echo(s, 100), "SNI example.test: handshake and echo")
    s.close()


def t_session_ticket(port, cert):
    ctx = context(cert, ssl.TLSVersion.TLSv1_3)
    s = connect(port, ctx)
    echo(s, 10)  # tickets come after the handshake, with data
    sess = s.session
    s.close()
    s = connect(port, ctx, session=sess)
    check(s.session_reused, "TLS 1.3 session resumed from a ticket")
    check(echo(s, 10), "echo on the resumed session")
    s.close()


def t_close_notify(port, cert):
    s = connect(port, context(cert))
    check(echo(s, 100), "echo before close_notify")
    try:
        raw = s.unwrap()  # our close_notify, then the server's
        check(raw.recv(1) == b"", "server answers close_notify with its own, then FIN")
        raw.close()
    except (ssl.SSLError, OSError) as e:
        check(False, "close_notify exchange: %s" % e)


def s_client(port, version, lines):
    """Feed s_client its input a line at a time (it acts on each line as
    it reads it, and quits at the end of its input)."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, version,
                          "-servername", "localhost"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for ln in lines:
            time.sleep(0.4)
            p.stdin.write(ln)
            p.stdin.flush()
        time.sleep(0.6)
        p.stdin.close()
    except BrokenPipeError:
        pass  # s_client quit: the server ended the connection
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
    return p.stdout.read()


def t_key_update_and_renegotiation(port):
    # "k" asks for a key update (TLS 1.3), "R" for a renegotiation
    # (TLS 1.2); each line goes out as its own record.
    out = s_client(port, "-tls1_3", ["before\n", "k\n", "after\n"])
    tail = out.split("KEYUPDATE", 1)[-1]
    check("KEYUPDATE" in out and "\nbefore\n" in out and "\nafter\n" in tail,
          "TLS 1.3 key update: echo goes on after it")
    out = s_client(port, "-tls1_2", ["before\n", "R\n", "after\n"])
    tail = out.split("RENEGOTIATING", 1)[-1]
    check("RENEGOTIATING" in out, "TLS 1.2 renegotiation asked for")
    check("\nafter\n" not in tail, "TLS 1.2 renegotiation refused: nothing goes on after it")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    a = ap.parse_args()
    if not shutil.which("openssl"):
        print("SKIP: openssl(1) not found")
        return SKIP
    d = tempfile.mkdtemp(prefix="zg-tls-peers-")
    cert, key = make_cert(d)
    if not cert:
        print("SKIP: openssl req could not make a certificate")
        return SKIP
    p, port = start_echo(a.echo, cert, key)
    try:
        t_versions_and_sizes(port, cert)
        t_alpn_and_sni(port, cert)
        t_session_ticket(port, cert)
        t_close_notify(port, cert)
        t_key_update_and_renegotiation(port)
        s = connect(port, context(cert))
        check(echo(s, 1000), "the server still serves after all of the above")
        s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    check(p.returncode == 0, "zerg-echo exited cleanly (%s)" % p.returncode)
    print("%d passed, %d failed" % (len(PASSES), len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
