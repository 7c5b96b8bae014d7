#!/usr/bin/env python3
# Writes the hand-made seeds of tests/fuzz/corpus/ (the httparena-* files
# there are copies of HttpArena's request files, not made here). Run from
# anywhere: python3 tests/fuzz/seeds.py. Rewrites only its own files.
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')


def write(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('latin-1')
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


H = 'Host: a\r\n'

# ---- http_parse: requests, one or more per file ----------------------
parse = {
    'get': 'GET / HTTP/1.1\r\n' + H + '\r\n',
    'get-query': 'GET /baseline11?a=1&b=2 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n',
    'http10': 'GET / HTTP/1.0\r\n\r\n',
    'http10-keepalive': 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    'http10-keepalive-close': 'GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n',
    'conn-close': 'GET / HTTP/1.1\r\n' + H + 'Connection: Upgrade, close\r\n\r\n',
    'leading-crlf': '\r\n\r\nGET / HTTP/1.1\r\n' + H + '\r\n',
    'post-cl': 'POST /upload HTTP/1.1\r\n' + H + 'Content-Length: 5\r\n\r\nhello',
    'post-cl-repeat': 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    'post-chunked': 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n'
                    '5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n',
    'expect': 'PUT /x HTTP/1.1\r\n' + H + 'Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok',
    'pipelined': ('GET /a HTTP/1.1\r\n' + H + '\r\n') + ('POST /b HTTP/1.1\r\n' + H +
                  'Content-Length: 2\r\n\r\nhi') + ('POST /c HTTP/1.1\r\n' + H +
                  'Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n') + 'HEAD /d HTTP/1.1\r\n' + H + '\r\n',
    'methods': ''.join(m + ' / HTTP/1.1\r\n' + H + '\r\n' for m in
                       ['DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'BREW', 'get']),
    'accept-encoding': 'GET /json HTTP/1.1\r\n' + H + 'Accept-Encoding: br;q=1.0, gzip;q=0, deflate\r\n\r\n',
    'value-ows': 'GET / HTTP/1.1\r\nHost: \t a \t\r\nX-Empty:\r\nX-Obs: caf\xe9\r\n\r\n',
    'http19': 'GET / HTTP/1.9\r\n' + H + '\r\n',
    'incomplete': 'GET /partial HTTP/1.1\r\nHost: a\r\nX-Long: aaaa',
    # request-target forms (RFC 9112 3.2) and Host shapes
    'absolute-form': 'GET http://example.com:8080/json?x=%41 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n'
                     'GET HTTPS://a HTTP/1.1\r\n' + H + '\r\nGET http://a?q HTTP/1.1\r\n' + H + '\r\n',
    'authority-form': 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    'asterisk-form': 'OPTIONS * HTTP/1.1\r\n' + H + '\r\n',
    'host-ip-literal': 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\nGET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
                       'GET / HTTP/1.1\r\nHost: xn--caf%C3%A9.example\r\n\r\n',
    # bad inputs
    'bad-space-before-colon': 'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'bad-obs-fold': 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n b\r\n\r\n',
    'bad-bare-lf': 'GET / HTTP/1.1\n' + H + '\r\n',
    'bad-no-host': 'GET / HTTP/1.1\r\n\r\n',
    'bad-two-hosts': 'GET / HTTP/1.1\r\n' + H + H + '\r\n',
    'bad-cl-te': 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'bad-cl-differs': 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'bad-cl-overflow': 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 99999999999999999999\r\n\r\n',
    'bad-cl-sign': 'POST / HTTP/1.1\r\n' + H + 'Content-Length: +1\r\n\r\n',
    'bad-te-gzip': 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: gzip, chunked\r\n\r\n',
    'bad-te-twice': 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'bad-te-empty': 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: ,\r\n\r\n',
    'bad-te-http10': 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
    'bad-version': 'GET / HTTP/2.0\r\n' + H + '\r\n',
    'bad-version-long': 'GET / HTTP/1.10\r\n' + H + '\r\n',
    'bad-empty-target': 'GET  HTTP/1.1\r\n' + H + '\r\n',
    'bad-ctl-in-target': 'GET /a\x01b HTTP/1.1\r\n' + H + '\r\n',
    'bad-del-in-value': 'GET / HTTP/1.1\r\n' + H + 'X: a\x7fb\r\n\r\n',
    'bad-nul-in-value': 'GET / HTTP/1.1\r\n' + H + 'X: a\x00b\r\n\r\n',
    'bad-method-char': 'G(T / HTTP/1.1\r\n' + H + '\r\n',
    'bad-long-method': 'A' * 33 + ' / HTTP/1.1\r\n' + H + '\r\n',
    'bad-too-many-crlf': '\r\n' * 17 + 'GET / HTTP/1.1\r\n' + H + '\r\n',
    'bad-too-many-fields': 'GET / HTTP/1.1\r\n' + H + ''.join('X-%d: v\r\n' % i for i in range(64)) + '\r\n',
    'bad-tls-hello': '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
    'bad-h2-preface': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'bad-absolute-userinfo': 'GET http://u@a/ HTTP/1.1\r\n' + H + '\r\n',
    'bad-absolute-scheme': 'GET ftp://a/ HTTP/1.1\r\n' + H + '\r\n',
    'bad-absolute-no-host': 'GET http:///x HTTP/1.1\r\n' + H + '\r\n',
    'bad-connect-no-port': 'CONNECT example.com HTTP/1.1\r\n' + H + '\r\n',
    'bad-asterisk-get': 'GET * HTTP/1.1\r\n' + H + '\r\n',
    'bad-fragment': 'GET /a#b HTTP/1.1\r\n' + H + '\r\n',
    'bad-pct': 'GET /a%4 HTTP/1.1\r\n' + H + '\r\n',
    'bad-host-list': 'GET / HTTP/1.1\r\nHost: a, b\r\n\r\n',
    'bad-host-userinfo': 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n',
    'bad-host-empty': 'GET / HTTP/1.1\r\nHost:\r\n\r\n',
}
for name, data in parse.items():
    write('http_parse', name, data)

# At the limits: the longest request line, one byte more (414), a header
# section at its limit and past it (431).
line = 'GET /' + 'a' * (8192 - len('GET / HTTP/1.1'))  # 8192 bytes with the version
write('http_parse', 'limit-line', line + ' HTTP/1.1\r\n' + H + '\r\n')
write('http_parse', 'limit-line-414', line + 'a HTTP/1.1\r\n' + H + '\r\n')
write('http_parse', 'limit-fields', 'GET / HTTP/1.1\r\n' + H + 'X: ' + 'v' * (16384 - len(H) - 5) + '\r\n\r\n')
write('http_parse', 'limit-fields-431', 'GET / HTTP/1.1\r\n' + H +
      ''.join('X-%02d: %s\r\n' % (i, 'v' * 1000) for i in range(17)) + '\r\n')

# ---- chunked: bodies as they follow a head ------------------------------
chunked = {
    'simple': '5\r\nhello\r\n0\r\n\r\n',
    'empty': '0\r\n\r\n',
    'multi': '1\r\na\r\n10\r\n0123456789abcdef\r\nA\r\n0123456789\r\n0\r\n\r\n',
    'upper-hex-leading-zeros': '000F\r\n0123456789ABCDE\r\n00\r\n\r\n',
    'extensions': '5;name=value;q="quoted ; str"\r\nhello\r\n0;last\r\n\r\n',
    'bws-ext': '5 \t;a=b\r\nhello\r\n0\r\n\r\n',
    'trailers': '3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: two words\r\n\r\n',
    'then-next-request': '2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'binary-data': '4\r\n\r\n\x00\xff\r\n0\r\n\r\n',
    'incomplete': '10\r\nonly some',
    'bad-no-crlf-after-data': '3\r\nabcX\r\n0\r\n\r\n',
    'bad-not-hex': 'g\r\nx\r\n0\r\n\r\n',
    'bad-overflow': '10000000000000000\r\n',
    'bad-lf-only': '3\nabc\n0\n\n',
    'bad-space-no-ext': '5 \r\nhello\r\n0\r\n\r\n',
    'bad-trailer-fold': '0\r\nX: a\r\n b\r\n\r\n',
    'bad-trailer-no-colon': '0\r\nX\r\n\r\n',
    'bad-ctl-in-ext': '1;a\x01\r\nx\r\n0\r\n\r\n',
}
for name, data in chunked.items():
    write('chunked', name, data)
write('chunked', 'limit-ext-line', '1;' + 'e' * 4100 + '\r\nx\r\n0\r\n\r\n')
write('chunked', 'limit-trailers', '0\r\n' + ''.join('T%03d: %s\r\n' % (i, 'v' * 200) for i in range(80)) + '\r\n')


# ---- http_head: status(2) length(8) time(5) flags(1) 3 x (len, bytes) --
def head(status, length, t, flags, type_=b'', enc=b'', allow=b''):
    out = struct.pack('>H', status) + struct.pack('>Q', length) + struct.pack('>Q', t)[3:]
    out += bytes([flags])
    for v in (type_, enc, allow):
        # values are mapped to 0x20 + b % 95 by the harness
        out += bytes([len(v)]) + bytes((c - 0x20) % 95 for c in v)
    return out


KNOWN = 0x8000  # status drawn from the list of known ones, by index
write('http_head', 'ok-text', head(KNOWN | 1, 13, 1700000000, 4, b'text/plain'))
write('http_head', 'ok-gzip-close', head(KNOWN | 1, 12345, 1700000000, 1 | 4 | 8, b'application/json', b'gzip'))
write('http_head', 'keepalive-http10', head(KNOWN | 1, 0, 0, 2 | 4, b'text/html; charset=utf-8'))
write('http_head', 'method-not-allowed', head(KNOWN | 4, 0, 951782400, 16, allow=b'GET, HEAD, POST'))
write('http_head', 'max-length', head(KNOWN | 9, 2 ** 64 - 1, 253402300799, 31, b'x' * 100, b'y' * 100, b'z' * 100))
write('http_head', 'odd-status', head(799, 10, 86399, 3))
write('http_head', 'long-values', head(KNOWN | 10, 99, 4102444800, 28, b'a b' * 50, b'c' * 150, b'd' * 150))

# ---- pipe_reader: a config byte, then operations ------------------------
# config: bit 0 64 buffers (else 16), bit 1 256-byte buffers (else 64),
# bits 2-3 compact_segs 1/2/4/16, bits 4-5 max_input 1/2/4/16 buffers,
# bit 6 incremental buffers.
# op % 8: 0 deliver(a, b): b -> 1 + b % size bytes, literal from the
# input if a & 1; 2 run(plan, arg0, arg1), on_data plan % 5: 0 take all,
# 1 advance(pick(arg0, arg1)), 2 keep, 3 examine part, 4 contig+take;
# 3 advance(a, b); 4 contig(x); 5 find(x, y); 6 end of stream; 7 pause
# or resume.


def cfg(bufs64=False, size256=False, compact=0, mult=0, inc=False):
    return bytes([bufs64 | size256 << 1 | compact << 2 | mult << 4 | inc << 6])


def deliver(n, literal=None):
    if literal is not None:
        return bytes([0, 1, len(literal) - 1]) + literal
    return bytes([0, 0, n - 1])


def run(plan, a0=0, a1=0):
    return bytes([2, plan, a0, a1])


ADV = lambda a, b: bytes([3, a, b])
CONTIG = lambda x: bytes([4, x])
FIND = lambda x, y: bytes([5, x, y])
EOF = bytes([6])
PAUSE = bytes([7])

write('pipe_reader', 'take-all', cfg() + deliver(10) + run(0) + deliver(64) + run(0))
write('pipe_reader', 'http-split-head', cfg(size256=True, compact=3, mult=3) +
      deliver(0, b'GET / HTTP/1.1\r\nHo') + run(2) + deliver(0, b'st: a\r\n\r\nGET /2') +
      run(4, 27) + FIND(0, 3) + deliver(0, b' HTTP/1.1\r\nHost: a\r\n\r\n') + run(0))
write('pipe_reader', 'compact-kept', cfg(compact=0, mult=3) + deliver(5) + run(2) + deliver(5) +
      run(2) + deliver(5) + run(3, 7) + run(1, 3, 9) + CONTIG(3) + ADV(4, 9) + run(0))
write('pipe_reader', 'eof-after-data', cfg(mult=2) + deliver(20) + run(2) + EOF + run(2) +
      run(1, 5, 1) + ADV(50, 200) + run(0))
write('pipe_reader', 'eof-empty', cfg() + EOF + run(0) + run(0))
write('pipe_reader', 'full-nothing-taken', cfg(mult=0) + deliver(64) + run(2) + run(2))
write('pipe_reader', 'full-examined-part', cfg(mult=1) + deliver(64) + deliver(64) + run(3, 20) +
      run(3, 100) + ADV(10, 41) + run(0))
write('pipe_reader', 'incremental', cfg(size256=True, mult=2, inc=True) + deliver(10) + deliver(10) +
      run(2) + deliver(200) + run(1, 7, 30) + deliver(100) + CONTIG(60) + run(4, 90) + run(0))
write('pipe_reader', 'pause-resume', cfg(bufs64=True, mult=2) + deliver(10) + PAUSE + run(3, 4) +
      deliver(10) + PAUSE + run(2) + EOF + PAUSE + PAUSE + run(0))
write('pipe_reader', 'ring-low', cfg(compact=3, mult=3) + (deliver(3) + run(2)) * 14 + CONTIG(10) +
      FIND(1, 2) + run(0))
write('pipe_reader', 'refused-calls', cfg(mult=1) + deliver(8) + ADV(9, 8) + ADV(3, 4) + ADV(200, 0) +
      CONTIG(200) + CONTIG(1) + FIND(255, 0) + run(1, 250, 0) + run(0))
