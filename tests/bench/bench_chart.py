#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draw docs/benchmarks.png from http_bench.sh's summary.

usage: bench_chart.py CHART_TSV OUT_PNG
CHART_TSV rows: profile, zerg req/s, nginx req/s, zerg CPU us/req, nginx CPU us/req,
req/s ratio, CPU/req ratio (medians of per-pair ratios, as in the table)
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 7:
                rows.append((p[0], *map(float, p[1:])))
    if not rows:
        sys.exit("no data")
    names = [r[0] for r in rows]
    x = range(len(rows))
    w = 0.38
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, zi, gi, ri, title in ((a1, 1, 2, 5, "requests/s (higher is better)"),
                                  (a2, 3, 4, 6, "server CPU µs per request (lower is better)")):
        z = [r[zi] for r in rows]
        g = [r[gi] for r in rows]
        bz = ax.bar([i - w / 2 for i in x], z, w, label="httparena-server (libzerg)", color="#2b6cb0")
        bg = ax.bar([i + w / 2 for i in x], g, w, label="nginx", color="#999999")
        ax.set_yscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names)
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
        for i, (zv, gv, rv) in enumerate(zip(z, g, [r[ri] for r in rows])):
            if gv > 0 and zv > 0:
                ax.annotate(f"{rv:.2f}×", (i, max(zv, gv)), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=8)
    fig.suptitle("httparena-server vs nginx, one core each (ratios: libzerg / nginx)")
    fig.legend(handles=[bz, bg], loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
