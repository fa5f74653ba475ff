#!/usr/bin/env python3
"""Reads a measurement build's warp marks (backend/cuda/warp_timeline.cuh) and prints, per product
of the step, how long it ran from its inputs being ready to its last warp's end, how its warps'
ends spread (the tail), and the gap from its last warp to the next product's inputs being ready.

usage: warp_timeline.py [--layer] warp_timeline.bin [warp_timeline.bin.attention ...]
(one file per instrumented source file; the decode attention shows as n_head x 0). --layer prints
instead the launches of one stretch of the step in order, each with when its blocks started, when its
warps' waits returned and when its warps ended, in us after the end of the launch before the stretch.
"""
import statistics
import struct
import sys
from collections import defaultdict

MARK = struct.Struct("<QQQIIIHH")  # start, waited, end, n_out, vecs, block, warp, sm


def read_marks(path):
    data = open(path, "rb").read()
    return [MARK.unpack_from(data, i) for i in range(0, len(data) - MARK.size + 1, MARK.size)]


def launches(marks):
    """Marks grouped into launches: same shape, starts within 30 us of the previous one's."""
    by_shape = defaultdict(list)
    for m in marks:
        by_shape[(m[3], m[4])].append(m)
    out = []
    for shape, ms in by_shape.items():
        ms.sort(key=lambda m: m[0])
        group = [ms[0]]
        for m in ms[1:]:
            if m[0] - group[-1][0] > 30_000:
                out.append((shape, group))
                group = []
            group.append(m)
        out.append((shape, group))
    # A launch cut by the ring's start or a step's end has fewer warps than its shape's others.
    full = defaultdict(int)
    for shape, g in out:
        full[shape] = max(full[shape], len(g))
    return sorted([(s, g) for s, g in out if len(g) == full[s]], key=lambda sg: min(m[1] for m in sg[1]))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def print_layer(marks):
    """Eight launches from the middle of the marks the plain products kept (the attention file keeps
    many more steps: only its launches inside the products' span are taken)."""
    products = [m for m in marks if m[4] != 0]
    lo, hi = min(m[0] for m in products), max(m[2] for m in products)
    ls = launches([m for m in marks if lo <= m[0] and m[2] <= hi])
    mid = len(ls) // 2
    base = max(m[2] for m in ls[mid - 1][1])
    us = lambda t: (t - base) / 1e3
    for shape, g in ls[mid - 1:mid + 8]:
        ends = sorted(m[2] for m in g)
        print(f"{shape[0]:>6} x {shape[1]:<4} warps {len(g):5d}  start {us(min(m[0] for m in g)):8.2f}.."
              f"{us(max(m[0] for m in g)):8.2f}  ready {us(min(m[1] for m in g)):8.2f}..{us(max(m[1] for m in g)):8.2f}"
              f"  end p50 {us(ends[len(ends) // 2]):8.2f} last {us(ends[-1]):8.2f}")


def main():
    args = [a for a in sys.argv[1:] if a != "--layer"]
    marks = [m for path in args for m in read_marks(path)]
    if "--layer" in sys.argv:
        return print_layer(marks)
    ls = launches(marks)
    print(f"{len(marks)} marks, {len(ls)} whole launches")
    rows = defaultdict(lambda: defaultdict(list))
    sm_late = defaultdict(lambda: defaultdict(list))
    for i, (shape, g) in enumerate(ls):
        ready = min(m[1] for m in g)
        ends = [m[2] - ready for m in g]
        last = max(ends)
        r = rows[shape]
        r["warps"].append(len(g))
        r["run"].append(last / 1e3)
        r["start_spread"].append((max(m[0] for m in g) - min(m[0] for m in g)) / 1e3)
        for p in (10, 50, 90, 99):
            r[f"end_p{p}"].append(pct(ends, p) / 1e3)
        # Warp durations from the warp's own inputs-ready (or start, when it began later) to its end.
        durs = [(m[2] - max(m[0], m[1])) / 1e3 for m in g]
        r["dur_p10"].append(pct(durs, 10))
        r["dur_p90"].append(pct(durs, 90))
        if i + 1 < len(ls):
            nxt = ls[i + 1][1]
            r["gap_to_next"].append((min(m[1] for m in nxt) - (ready + last)) / 1e3)
            r["next_first_start"].append((min(m[0] for m in nxt) - (ready + last)) / 1e3)
        per_sm = defaultdict(int)
        for m in g:
            per_sm[m[7]] = max(per_sm[m[7]], m[2] - ready)
        p50 = pct(list(per_sm.values()), 50)
        for sm, e in per_sm.items():
            sm_late[shape][sm].append((e - p50) / 1e3)
    med = statistics.median
    cols = ["launches", "warps", "MB", "run us", "GB/s", "ends p10/p50/p90/p99 us", "warp us p10/p90",
            "blocks start spread us", "gap to next ready us", "next's first start us"]
    print("| rows x vecs | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for shape, r in sorted(rows.items(), key=lambda kv: -med(kv[1]["run"])):
        mb = shape[0] * shape[1] * 16 / 1e6
        run = med(r["run"])
        ends = "/".join(f"{med(r[f'end_p{p}']):.1f}" for p in (10, 50, 90, 99))
        gap = f"{med(r['gap_to_next']):.2f}" if r["gap_to_next"] else "-"
        nfs = f"{med(r['next_first_start']):.2f}" if r["next_first_start"] else "-"
        print(f"| {shape[0]} x {shape[1]} | {len(r['run'])} | {med(r['warps']):.0f} | {mb:.1f} | {run:.2f} | "
              f"{mb * 1e3 / run:.0f} | {ends} | {med(r['dur_p10']):.1f}/{med(r['dur_p90']):.1f} | "
              f"{med(r['start_spread']):.2f} | {gap} | {nfs} |")
    print("\nmultiprocessors whose last warp ends latest, median over launches (us after the median SM's):")
    for shape, sms in sm_late.items():
        late = sorted(((med(v), sm) for sm, v in sms.items()), reverse=True)
        print(f"  {shape[0]} x {shape[1]}: " + ", ".join(f"sm{sm} {d:+.2f}" for d, sm in late[:6]) +
              f" ... earliest sm{late[-1][1]} {late[-1][0]:+.2f}")


if __name__ == "__main__":
    main()
