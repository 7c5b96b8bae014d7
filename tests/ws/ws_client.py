#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of zerg_ws (examples/ws) over loopback: starts
tests/ws/ws_server.c (a libzerg server that upgrades GET /ws with the
module) and talks to it as a WebSocket client, stdlib only.

- the benchmark's exact bytes (SPEC-HEAD.md 9.2): gcannon's upgrade
  request, then 81 85 12 34 56 78 7a 51 3a 14 7d -> 81 05 68 65 6c 6c 6f;
- the validation steps of 9.3 (validate-ws.py's sequence);
- the handshake rules of 9.5 (token lists, 400, 426 with the version);
- echo of every length form, fragmented messages with control frames
  between, Ping/Pong, Close codes;
- every invalid-frame case of 9.5 with the close code expected, and the
  TCP close after it;
- frames split at every byte (two sends, a pause between), and whole
  sequences sent a byte at a time.

Every server frame is checked: FIN, RSV 0, unmasked, shortest length.
Usage: ws_client.py --server PATH [--callback]   (exit 0: all passed)
"""
import argparse
import base64
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LIMIT = 1 << 20  # the server's message limit (--limit)
PAUSE = 0.002    # between the pieces of a split frame: separate recvs

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(op, payload=b"", fin=True, mask=True, key=None, rsv=0, form=None):
    """A client frame: form forces the length encoding (7, 16 or 64)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    if form is None:
        form = 7 if n < 126 else 16 if n <= 0xFFFF else 64
    mbit = 0x80 if mask else 0
    if form == 7:
        head = struct.pack("!BB", b0, mbit | n)
    elif form == 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + body


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError
        self.buf += d

    def recv_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def http_response(self):
        """(status, {lowercase name: value}, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = self.recv_exact(int(headers.get("content-length", "0")))
        return status, headers, body

    def upgrade(self, key=None, headers=None):
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        h = headers if headers is not None else {
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        req = "GET /ws HTTP/1.1\r\nHost: localhost\r\n" + "".join(
            "%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.send(req.encode())
        return self.http_response() + (key,)

    def recv_frame(self):
        """(opcode, payload) of one server frame, checked."""
        b0, b1 = self.recv_exact(2)
        check(b0 & 0x80, "server frame has FIN")
        check(not (b0 & 0x70), "server frame has RSV 0")
        check(not (b1 & 0x80), "server frame is unmasked")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.recv_exact(2))
            check(n >= 126, "16-bit length only from 126")
        elif n == 127:
            (n,) = struct.unpack("!Q", self.recv_exact(8))
            check(n > 0xFFFF, "64-bit length only past 65535")
        return b0 & 0x0F, self.recv_exact(n)

    def expect_eof(self, what):
        """The server closes TCP after its Close."""
        try:
            self.s.settimeout(5)
            while True:
                d = self.s.recv(65536)
                if not d:
                    check(not self.buf, what + ": nothing after the Close")
                    return
                self.buf += d
        except (ConnectionResetError, socket.timeout) as e:
            check(False, "%s: TCP close after the Close (%r)" % (what, e))

    def expect_close(self, code, what):
        try:
            op, p = self.recv_frame()
        except (EOFError, ConnectionResetError, socket.timeout) as e:
            check(False, "%s: a Close %s, got %r" % (what, code, e))
            return
        want = b"" if code is None else struct.pack("!H", code)
        if check(op == 0x8, "%s: a Close, got opcode %d %r" % (what, op, p[:20])):
            check(p == want, "%s: close payload %r, want %r" % (what, p, want))
        self.expect_eof(what)

    def close(self):
        self.s.close()


def ws(port):
    c = Conn(port)
    status, headers, _, key = c.upgrade()
    check(status == 101, "upgrade: status %d" % status)
    check(headers.get("sec-websocket-accept") == accept_of(key), "upgrade: accept key")
    return c


def echo_ok(c, op, payload, what):
    c.send(frame(op, payload))
    got = c.recv_frame()
    check(got == (op, payload), "%s: echo (%d, %d bytes), got (%d, %d bytes)" %
          (what, op, len(payload), got[0], len(got[1])))


# ---- tests -------------------------------------------------------------

def t_benchmark_bytes(port):
    c = Conn(port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
    status, headers, body = c.http_response()
    check(status == 101, "gcannon upgrade: 101")
    check(headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
          "gcannon upgrade: the RFC's accept key")
    check(headers.get("upgrade", "").lower() == "websocket", "101 has Upgrade: websocket")
    check("upgrade" in headers.get("connection", "").lower(), "101 has Connection: Upgrade")
    for i in range(200):  # -p 1: one in flight
        c.send(bytes.fromhex("8185123456787a513a147d"))
        got = c.recv_exact(7)
        if not check(got == bytes.fromhex("810568656c6c6f"), "benchmark echo %d: %s" % (i, got.hex())):
            break
    c.close()


def t_validation(port):
    # 1-5
    c = ws(port)
    text = "HttpArena-validate-" + os.urandom(8).hex()
    echo_ok(c, 1, text.encode(), "validate text")
    echo_ok(c, 2, os.urandom(256), "validate binary")
    msgs = [("msg-%d-" % i).encode() + os.urandom(4).hex().encode() for i in range(5)]
    c.send(b"".join(frame(1, m) for m in msgs))
    for m in msgs:
        check(c.recv_frame() == (1, m), "validate: five back to back, in order")
    c.send(frame(8, close_payload(1000, b"validate done")))
    c.expect_close(1000, "validate close")
    c.close()
    # 6: no upgrade headers: a 4xx with a response
    c = Conn(port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n\r\n")
    status, headers, body = c.http_response()
    check(status in (400, 426), "plain GET /ws: 400 or 426, got %d" % status)
    check(len(body) > 0, "plain GET /ws: a body")
    c.close()
    # 7
    c = ws(port)
    echo_ok(c, 1, b"health", "health")
    c.send(frame(8, close_payload(1000)))
    c.expect_close(1000, "health close")
    c.close()


def t_handshake(port):
    key = base64.b64encode(os.urandom(16)).decode()

    def try_headers(h, want, what):
        c = Conn(port)
        status, headers, body, _ = c.upgrade(headers=h)
        check(status == want, "%s: %d, want %d" % (what, status, want))
        c.close()
        return status, headers, body

    base = {"Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    _, h, _ = try_headers(dict(base, Connection="keep-alive, Upgrade", Upgrade="WebSocket"),
                          101, "token lists, case")
    check(h.get("sec-websocket-accept") == accept_of(key), "token lists: accept key")
    try_headers(dict(base, Connection="upgrade,keep-alive", Upgrade="h2c, websocket"), 101,
                "token lists, other order")
    nokey = dict(base)
    del nokey["Sec-WebSocket-Key"]
    try_headers(nokey, 400, "no key")
    try_headers(dict(base, **{"Sec-WebSocket-Key": base64.b64encode(os.urandom(15)).decode()}),
                400, "a 15-byte key")
    try_headers(dict(base, **{"Sec-WebSocket-Key": base64.b64encode(os.urandom(17)).decode()}),
                400, "a 17-byte key")
    try_headers(dict(base, **{"Sec-WebSocket-Key": "not base64 at all!!!!!=="}), 400, "a bad key")
    for v in ("8", "12", "14", ""):
        _, h, body = try_headers(dict(base, **{"Sec-WebSocket-Version": v}), 426, "version %r" % v)
        check(h.get("sec-websocket-version") == "13", "426 says Sec-WebSocket-Version: 13")
        check(body, "426 has a body")
    nov = dict(base)
    del nov["Sec-WebSocket-Version"]
    try_headers(nov, 426, "no version")
    try_headers(dict(base, Connection="keep-alive"), 426, "no upgrade in Connection")
    try_headers(dict(base, Upgrade="h2c"), 426, "no websocket in Upgrade")
    # a refused upgrade keeps the connection; the next request upgrades
    c = Conn(port)
    st, _, _, _ = c.upgrade(headers=dict(base, **{"Sec-WebSocket-Version": "8"}))
    check(st == 426, "refused first")
    st, h, _, k = c.upgrade()
    check(st == 101 and h.get("sec-websocket-accept") == accept_of(k),
          "then upgraded on the same connection")
    echo_ok(c, 1, b"after a 426", "echo after a refusal")
    c.close()
    # the upgrade request and the first frame in one packet
    c = Conn(port)
    k = base64.b64encode(os.urandom(16)).decode()
    c.send(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % k).encode() +
           frame(1, b"eager") + frame(9, b"p"))
    st, h, _ = c.http_response()
    check(st == 101, "upgrade with a frame behind it")
    check(c.recv_frame() == (1, b"eager"), "the frame behind the upgrade is echoed")
    check(c.recv_frame() == (0xA, b"p"), "and the Ping behind it answered")
    c.close()


def t_lengths(port):
    c = ws(port)
    for n in (0, 1, 125, 126, 127, 1000, 65535, 65536, 100000, LIMIT):
        echo_ok(c, 2, os.urandom(n), "binary %d" % n)
        echo_ok(c, 1, (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n], "text %d" % n)
    # longer length forms than needed are accepted
    for form in (16, 64):
        c.send(frame(1, b"short", form=form))
        check(c.recv_frame() == (1, b"short"), "a 5-byte payload in %d-bit form" % form)
    c.close()


def t_fragments(port):
    c = ws(port)
    c.send(frame(1, b"frag", fin=False) + frame(9, b"in between") +
           frame(0, b"men", fin=False) + frame(0xA, b"unsolicited") + frame(0, b"ted"))
    check(c.recv_frame() == (0xA, b"in between"), "Pong between fragments")
    check(c.recv_frame() == (1, b"fragmented"), "fragmented text echoed as one message")
    big = os.urandom(300000)
    c.send(frame(2, big[:100000], fin=False) + frame(0, big[100000:200000], fin=False) +
           frame(0, big[200000:]))
    check(c.recv_frame() == (2, big), "300 KB binary in three fragments")
    c.send(frame(2, b"", fin=False) + frame(0, b"", fin=False) + frame(0, b""))
    check(c.recv_frame() == (2, b""), "empty fragments")
    # a character cut by fragments
    c.send(frame(1, b"\xe2", fin=False) + frame(0, b"\x82", fin=False) + frame(0, b"\xac"))
    check(c.recv_frame() == (1, "\u20ac".encode()), "U+20AC over three fragments")
    c.close()


def t_control(port):
    c = ws(port)
    for p in (b"", b"x", os.urandom(125)):
        c.send(frame(9, p))
        check(c.recv_frame() == (0xA, p), "Pong with the Ping's %d bytes" % len(p))
    c.send(frame(0xA, b"unsolicited") + frame(1, b"after"))
    check(c.recv_frame() == (1, b"after"), "unsolicited Pong ignored")
    c.close()
    for code, reason in ((None, b""), (1000, b""), (1000, b"bye"), (1001, b""),
                         (3000, b"x"), (4999, "\u00e9".encode())):
        c = ws(port)
        c.send(frame(8, b"" if code is None else close_payload(code, reason)) + frame(1, b"late"))
        c.expect_close(code, "Close %s %r" % (code, reason))
        c.close()


# (what, bytes after the upgrade, the close code expected). Echoes of
# good frames before the bad one are checked too.
INVALID = [
    ("unmasked text", frame(1, b"hello", mask=False), 1002),
    ("unmasked ping", frame(9, b"", mask=False), 1002),
    ("unmasked close", frame(8, close_payload(1000), mask=False), 1002),
    ("RSV1", frame(1, b"x", rsv=4), 1002),
    ("RSV2", frame(2, b"x", rsv=2), 1002),
    ("RSV3", frame(9, b"", rsv=1), 1002),
    ("RSV all", frame(1, b"x", rsv=7), 1002),
] + [("opcode %d" % op, frame(op, b"x"), 1002) for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)] + [
    ("ping of 126 bytes", frame(9, b"p" * 126), 1002),
    ("close of 126 bytes", frame(8, close_payload(1000, b"r" * 124)), 1002),
    ("pong of 126 bytes, 64-bit form", frame(0xA, b"p" * 126, form=64), 1002),
    ("fragmented ping", frame(9, b"x", fin=False), 1002),
    ("fragmented close", frame(8, close_payload(1000), fin=False), 1002),
    ("continuation first", frame(0, b"x"), 1002),
    ("continuation after a message", frame(1, b"a") + frame(0, b"b"), 1002),
    ("text inside a fragmented message", frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
    ("binary inside a fragmented message",
     frame(2, b"a", fin=False) + frame(9, b"") + frame(2, b"b"), 1002),
    ("close with 1 byte", frame(8, b"\x03"), 1002),
    ("64-bit length, top bit", bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5]) + b"\0" * 9, 1002),
    ("text not UTF-8", frame(1, b"\xff\xfe"), 1007),
    ("overlong", frame(1, b"\xc0\xaf"), 1007),
    ("overlong 3-byte", frame(1, b"\xe0\x80\xaf"), 1007),
    ("surrogate", frame(1, b"a\xed\xa0\x80b"), 1007),
    ("past U+10FFFF", frame(1, b"\xf4\x90\x80\x80"), 1007),
    ("truncated at the end", frame(1, b"abc\xe2\x82"), 1007),
    ("truncated across fragments", frame(1, b"abc\xf0\x90", fin=False) + frame(0, b"\x8d"), 1007),
    ("bad in the first fragment", frame(1, b"\xff", fin=False) + frame(0, b"ok"), 1007),
    ("close reason not UTF-8", frame(8, close_payload(1000, b"\xff")), 1007),
    ("too big: one frame", frame(2, b"\0" * (LIMIT + 1)), 1009),
    ("too big: header only", bytes([0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0]) + b"abcd", 1009),
    ("too big: fragments",
     frame(2, b"\0" * (LIMIT // 2), fin=False) + frame(0, b"\0" * (LIMIT // 2 + 1)), 1009),
] + [("close code %d" % code, frame(8, close_payload(code)), 1002)
     for code in (0, 999, 1004, 1005, 1006, 1012, 1016, 1100, 2000, 2999, 5000, 65535)]


def echoes_before(data):
    """The echoes the good frames at the start of data get (a message
    whose frames all come before the bad one)."""
    out, i, frag = [], 0, []
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        h = 2
        if n == 126:
            n, h = struct.unpack("!H", data[i + 2:i + 4])[0], 4
        elif n == 127:
            n, h = struct.unpack("!Q", data[i + 2:i + 10])[0], 10
        if not b1 & 0x80 or b0 & 0x70 or n > len(data):
            break
        key = data[i + h:i + h + 4]
        p = bytes(b ^ key[k & 3] for k, b in enumerate(data[i + h + 4:i + h + 4 + n]))
        op = b0 & 0x0F
        nxt = i + h + 4 + n
        if nxt >= len(data):
            break  # the last frame is the bad one
        if op == 9:
            out.append((0xA, p))
        elif op in (1, 2) and b0 & 0x80 and not frag:
            out.append((op, p))
        elif op in (1, 2):
            frag = [op, p]
        else:
            break
        i = nxt
    return out


def t_invalid(port):
    for what, data, code in INVALID:
        c = ws(port)
        c.send(data)
        for want in echoes_before(data):
            check(c.recv_frame() == want, "%s: the frames before it answered" % what)
        c.expect_close(code, what)
        c.close()


def t_invalid_split(port):
    """Every short invalid case, cut at every byte (a connection each)."""
    for what, data, code in INVALID:
        if len(data) > 40:
            continue
        for k in range(1, len(data)):
            c = ws(port)
            c.send(data[:k])
            time.sleep(PAUSE)
            try:
                c.send(data[k:])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may fail the connection on the first part
            for want in echoes_before(data):
                check(c.recv_frame() == want, "%s cut at %d: frames before it" % (what, k))
            c.expect_close(code, "%s cut at %d" % (what, k))
            c.close()


def t_splits(port):
    """Good frames cut at every byte, then sequences a byte at a time."""
    c = ws(port)
    cases = [
        (frame(1, b"hello", key=b"\x12\x34\x56\x78"), [(1, b"hello")]),
        (frame(2, bytes(range(200))), [(2, bytes(range(200)))]),
        (frame(9, b"ping"), [(0xA, b"ping")]),
        (frame(1, "\u00e9\u20ac\U00010348".encode(), fin=False) + frame(9, b"") +
         frame(0, b"!"), [(0xA, b""), (1, "\u00e9\u20ac\U00010348!".encode())]),
        (frame(2, b"", form=64), [(2, b"")]),
    ]
    big = os.urandom(70000)
    cases.append((frame(2, big), [(2, big)]))
    for data, want in cases:
        cut_at = range(1, len(data)) if len(data) < 300 else list(range(1, 40)) + [len(data) - 1]
        for k in cut_at:
            c.send(data[:k])
            time.sleep(PAUSE)
            c.send(data[k:])
            for w in want:
                got = c.recv_frame()
                if not check(got == w, "cut at %d of %d: %r" % (k, len(data), got[:1])):
                    return
    seq = b"".join(d for d, _ in cases[:5])
    for i in range(len(seq)):
        c.send(seq[i:i + 1])
        time.sleep(0.0005)
    for _, want in cases[:5]:
        for w in want:
            check(c.recv_frame() == w, "byte at a time")
    c.send(frame(8, close_payload(1000)))
    c.expect_close(1000, "splits close")
    c.close()


def t_not_ws(port):
    c = Conn(port)
    c.send(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _, _ = c.http_response()
    check(st == 404, "another path: 404")
    c.send(b"POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
    st, _, _ = c.http_response()
    check(st == 405, "POST /ws: 405")
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--callback", action="store_true")
    ap.add_argument("--datagen", help="--server is httparena-server: its /ws, with data made by this")
    args = ap.parse_args()
    tmp = None
    if args.datagen:  # httparena-server's own /ws (1 MiB messages, as LIMIT)
        import tempfile
        tmp = tempfile.mkdtemp(prefix="zg-ws-arena-")
        subprocess.run([args.datagen, tmp + "/data"], check=True, capture_output=True, timeout=60)
        cmd = [args.server, "--port", "0", "--host", "127.0.0.1", "--threads", "1",
               "--data", tmp + "/data"]
    else:
        cmd = [args.server, "--port", "0", "--threads", "1", "--limit", str(LIMIT)]
    if args.callback:
        cmd.append("--callback")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if "port" not in line:
            print("server did not start:", line)
            return 1
        port = int(line.split("port")[1].split()[0].rstrip(","))
        for t in (t_benchmark_bytes, t_validation, t_handshake, t_lengths, t_fragments,
                  t_control, t_invalid, t_invalid_split, t_splits, t_not_ws):
            t0 = time.monotonic()
            n0 = len(failures)
            try:
                t(port)
            except Exception as e:  # a test that dies is a failure, the rest still run
                check(False, "%s raised %r" % (t.__name__, e))
            print("%-18s %s (%.1f s)" % (t.__name__, "ok" if len(failures) == n0 else "FAILED",
                                        time.monotonic() - t0), flush=True)
        check(p.poll() is None, "the server is still running")
    finally:
        p.terminate()
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
    check(rc == 0, "the server stopped cleanly (exit %s)" % rc)
    if tmp:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d checks, %d failed" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
