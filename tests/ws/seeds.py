#!/usr/bin/env python3
# Writes the seed corpus of the ws_parse fuzz harness (tests/ws/fuzz_ws.c)
# into tests/ws/corpus/: a first byte choosing the message limit (0: the
# default), then client frames. Run from anywhere: python3 tests/ws/seeds.py.
# Rewrites only its own (named) files; the files named by a SHA-1 are
# inputs a libFuzzer run found new edges with (fuzz_ws -merge=1).
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
KEY = b'\x12\x34\x56\x78'


def frame(op, p=b'', fin=True, mask=True, rsv=0, form=None):
    n = len(p)
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    m = 0x80 if mask else 0
    head = (struct.pack('!BB', b0, m | n) if form == 7 else
            struct.pack('!BBH', b0, m | 126, n) if form == 16 else
            struct.pack('!BBQ', b0, m | 127, n))
    if not mask:
        return head + p
    return head + KEY + bytes(b ^ KEY[i & 3] for i, b in enumerate(p))


def close(code, reason=b''):
    return frame(8, struct.pack('!H', code) + reason)


seeds = {
    'gcannon-hello': frame(1, b'hello'),
    'binary-256': frame(2, bytes(range(256))),
    'text-126': frame(1, b'a' * 126),
    'binary-65536': frame(2, b'\x01' * 65536),
    'long-forms': frame(1, b'x', form=16) + frame(1, b'y', form=64),
    'fragments-ping': frame(1, b'he', fin=False) + frame(9, b'p') + frame(0, b'll', fin=False)
                      + frame(10, b'') + frame(0, b'o'),
    'empty-fragments': frame(2, b'', fin=False) + frame(0, b'', fin=False) + frame(0, b''),
    'utf8-cut': frame(1, b'\xe2', fin=False) + frame(0, b'\x82', fin=False) + frame(0, b'\xac'),
    'utf8-4byte': frame(1, '\U00010348\u00e9'.encode()),
    'utf8-bad': frame(1, b'\xed\xa0\x80'),
    'utf8-overlong': frame(1, b'\xc0\xaf'),
    'utf8-truncated': frame(1, b'abc\xf0\x90', fin=False) + frame(0, b'\x8d'),
    'close-empty': frame(8),
    'close-1000': close(1000, b'validate done'),
    'close-1byte': frame(8, b'\x03'),
    'close-bad-code': close(1005),
    'close-bad-reason': close(1000, b'\xff'),
    'after-close': close(1001) + frame(1, b'late'),
    'unmasked': frame(1, b'hello', mask=False),
    'rsv1': frame(1, b'x', rsv=4),
    'opcode-3': frame(3, b'x'),
    'opcode-11': frame(11),
    'ping-126': frame(9, b'p' * 126),
    'ping-nofin': frame(9, b'', fin=False),
    'cont-first': frame(0, b'x'),
    'text-in-fragments': frame(1, b'a', fin=False) + frame(1, b'b'),
    'len64-top-bit': bytes([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5]) + KEY + b'abcde',
    'pipeline': b''.join(frame(1, b'msg %d' % i) for i in range(20)),
}

os.makedirs(HERE, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(b'\0' + data)
# the same frames under small limits
for name, limit in (('limit-64', 6), ('limit-1k', 10)):
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(bytes([limit]) + frame(2, b'z' * 100) + frame(2, b'q' * 40, fin=False)
                + frame(0, b'r' * 40))
