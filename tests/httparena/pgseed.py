#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The PostgreSQL seed of HttpArena's async-db and crud profiles
(SPEC-HEAD.md 6.9): the `items` table, 100 000 rows drawn from
MT19937 seeded like CPython's random.Random(42), as a psql script
(CREATE TABLE, then COPY ... FROM STDIN).

The draws are written out here exactly as 6.9 defines them (below(),
randint, choice, sample in terms of below()); the 32-bit outputs come
from the MT19937 below. Python's own random module is the same
generator: `--self-test` checks that both agree, and that the first
outputs are the ones 6.9 lists.

usage:
  pgseed.py DATASET.json OUT.sql     write the seed (DATASET: the 50
                                     items whose names/categories/tags
                                     the rows draw from)
  pgseed.py --self-test [DATASET]    the generator's first outputs;
                                     with the benchmark's dataset-int.json
                                     the 6.9 fingerprint (size, sha256,
                                     rows 1/2/42/100000, category counts);
                                     exit 77 if DATASET is absent

python3 stdlib only.
"""

import hashlib
import io
import json
import os
import random
import sys

ROWS = 100_000

HEADER = """CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    tags JSONB NOT NULL,
    rating_score INTEGER NOT NULL,
    rating_count INTEGER NOT NULL
);
-- NO index on price \u2014 forces sequential scan

COPY items (id, name, category, price, quantity, active, tags, rating_score, rating_count) FROM STDIN;
"""


class MT19937:
    """MT19937, 32-bit outputs, seeded with init_by_array (what CPython's
    random.seed(int) does: the integer's 32-bit words, low first)."""

    N, M = 624, 397

    def __init__(self, key):
        mt = [0] * self.N
        mt[0] = 19650218
        for i in range(1, self.N):
            mt[i] = (1812433253 * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i) & 0xFFFFFFFF
        i, j = 1, 0
        for _ in range(max(self.N, len(key))):
            mt[i] = ((mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525)) + key[j] + j) & 0xFFFFFFFF
            i += 1
            j += 1
            if i >= self.N:
                mt[0] = mt[self.N - 1]
                i = 1
            if j >= len(key):
                j = 0
        for _ in range(self.N - 1):
            mt[i] = ((mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941)) - i) & 0xFFFFFFFF
            i += 1
            if i >= self.N:
                mt[0] = mt[self.N - 1]
                i = 1
        mt[0] = 0x80000000
        self.mt = mt
        self.i = self.N

    def _twist(self):
        mt, n, m = self.mt, self.N, self.M
        for k in range(n):
            y = (mt[k] & 0x80000000) | (mt[(k + 1) % n] & 0x7FFFFFFF)
            mt[k] = mt[(k + m) % n] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        self.i = 0

    def uint32(self):
        if self.i >= self.N:
            self._twist()
        y = self.mt[self.i]
        self.i += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y


class Draws:
    """6.9's derived draws over a source of 32-bit outputs."""

    def __init__(self, uint32):
        self.u32 = uint32

    def below(self, n):
        k = n.bit_length()
        while True:
            r = self.u32() >> (32 - k)
            if r < n:
                return r

    def randint(self, a, b):
        return a + self.below(b - a + 1)

    def choice(self, s):
        return s[self.below(len(s))]

    def sample(self, pool, k):
        pool = list(pool)
        n = len(pool)
        out = []
        for i in range(k):
            j = self.below(n - i)
            out.append(pool[j])
            pool[j] = pool[n - i - 1]
        return out


def fast_source():
    """CPython's Random(42) as the 32-bit source: the same generator as
    MT19937([42]) (checked by --self-test), in C."""
    r = random.Random(42)
    return lambda: r.getrandbits(32)


def load_dataset(path):
    with open(path, "rb") as f:
        items = json.load(f)
    names = [d["name"] for d in items]
    cats = [d["category"] for d in items]
    tags = sorted({t for d in items for t in d["tags"]})
    return names, cats, tags


def rows(dataset, uint32=None):
    """Yield (id, name, category, price, quantity, active, tags,
    rating_score, rating_count) for the seed, in id order."""
    names, cats, tagpool = load_dataset(dataset)
    d = Draws(uint32 or fast_source())
    for i in range(1, ROWS + 1):
        price = d.randint(1, 500)
        quantity = d.randint(1, 1000)
        active = d.choice([0, 1]) == 1
        ntags = d.randint(1, 4)
        tags = d.sample(tagpool, min(ntags, len(tagpool)))
        name = "%s %d" % (d.choice(names), i)
        category = d.choice(cats)
        rating_score = d.randint(1, 50)
        rating_count = d.randint(1, 500)
        yield (i, name, category, price, quantity, active, tags, rating_score, rating_count)


def copy_escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def sql_text(dataset):
    """The whole seed file as bytes."""
    out = io.StringIO()
    out.write(HEADER)
    for (i, name, cat, price, qty, active, tags, rs, rc) in rows(dataset):
        out.write("%d\t%s\t%s\t%d\t%d\t%s\t%s\t%d\t%d\n" % (
            i, copy_escape(name), copy_escape(cat), price, qty, "t" if active else "f",
            json.dumps(tags), rs, rc))
    out.write("\\.\n")
    out.write("\n-- Verify: SELECT COUNT(*) FROM items; -- should return %d\n" % ROWS)
    return out.getvalue().encode()


def write_sql(dataset, path):
    data = sql_text(dataset)
    with open(path, "wb") as f:
        f.write(data)
    return data


# ---------------------------------------------------------------------
# --self-test
# ---------------------------------------------------------------------

FIRST_OUTPUTS = [2746317213, 478163327, 107420369]
FP_SIZE = 7_259_012
FP_SHA = "95223dfb377e0074"
FP_ROWS = {
    1: "1\tPrime Gear 1\thome\t328\t115\tf\t[\"heavy-duty\", \"wireless\", \"fast\"]\t44\t380",
    2: "2\tNano Gadget 2\tbooks\t457\t559\tf\t[\"compact\", \"wireless\", \"eco\", \"premium\"]\t39\t14",
    42: "42\tCore Relay 42\tbooks\t428\t379\tf\t[\"fast\", \"compact\", \"limited\", \"wireless\"]\t14\t350",
    100000: "100000\tSwift Switch 100000\telectronics\t29\t299\tf\t[\"wireless\", \"premium\"]\t20\t15",
}
FP_CATEGORIES = {"auto": 10148, "garden": 10129, "tools": 10045, "clothing": 10002,
                 "home": 9998, "electronics": 9986, "books": 9979, "sports": 9927,
                 "toys": 9896, "office": 9890}
FP_ACTIVE = 50084
FP_FIRST_ELECTRONICS = [8, 29, 43, 50, 82]
FP_TAGPOOL = ["compact", "eco", "fast", "heavy-duty", "limited", "new", "popular",
              "premium", "sale", "wireless"]
# SPEC-HEAD 6.3: rows with price in [min, max] in the seed
FP_IN_RANGE = {(5, 80): 15276, (20, 150): 26152, (100, 400): 60336, (10, 50): 8237}


def shared_dataset():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "httparena",
                                         "data", "dataset-int.json"))


def self_test(dataset):
    fails = []

    def check(cond, what):
        print("%-4s %s" % ("ok" if cond else "FAIL", what))
        if not cond:
            fails.append(what)

    mt = MT19937([42])
    ours = [mt.uint32() for _ in range(2000)]
    check(ours[:3] == FIRST_OUTPUTS, "MT19937([42]) first outputs %r" % ours[:3])
    src = fast_source()
    check([src() for _ in range(2000)] == ours,
          "random.Random(42).getrandbits(32) == MT19937([42]) for 2000 outputs")
    # the derived draws against CPython's own (same definitions there)
    a, b = Draws(MT19937([42]).uint32), random.Random(42)
    same = all(a.randint(1, 500) == b.randint(1, 500) and
               a.choice("abcdefg") == b.choice("abcdefg") and
               a.sample(FP_TAGPOOL, 3) == b.sample(FP_TAGPOOL, 3) for _ in range(500))
    check(same, "randint/choice/sample via below() equal CPython's for 500 rounds")

    if not dataset or not os.path.exists(dataset):
        print("SKIP: %s is absent: the 6.9 fingerprint needs the benchmark's "
              "dataset (../shared/httparena/data/dataset-int.json)" % dataset)
        return 1 if fails else 77

    names, cats, tags = load_dataset(dataset)
    check(tags == FP_TAGPOOL, "tag pool %r" % tags)
    data = sql_text(dataset)
    check(len(data) == FP_SIZE, "seed size %d (want %d)" % (len(data), FP_SIZE))
    sha = hashlib.sha256(data).hexdigest()
    check(sha.startswith(FP_SHA), "seed sha256 %s... (want %s...)" % (sha[:16], FP_SHA))
    lines = data.decode().split("\n")
    start = lines.index(HEADER.split("\n")[-2]) + 1
    body = lines[start:start + ROWS]
    for i, want in FP_ROWS.items():
        check(body[i - 1] == want, "row %d: %r" % (i, body[i - 1]))
    fields = [l.split("\t") for l in body]
    counts = {}
    for f in fields:
        counts[f[2]] = counts.get(f[2], 0) + 1
    check(counts == FP_CATEGORIES, "category counts %r" % counts)
    check(sum(f[5] == "t" for f in fields) == FP_ACTIVE, "active rows")
    check([int(f[0]) for f in fields if f[2] == "electronics"][:5] == FP_FIRST_ELECTRONICS,
          "first electronics ids")
    for (lo, hi), n in FP_IN_RANGE.items():
        got = sum(lo <= int(f[3]) <= hi for f in fields)
        check(got == n, "rows with %d <= price <= %d: %d" % (lo, hi, got))
    check(lines[start + ROWS] == "\\.", "end of COPY data")
    return 1 if fails else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "--self-test":
        return self_test(argv[2] if len(argv) > 2 else shared_dataset())
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    data = write_sql(argv[1], argv[2])
    print("%s: %d rows, %d bytes, sha256 %s" % (argv[2], ROWS, len(data),
                                                hashlib.sha256(data).hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
