#!/usr/bin/env python3
"""A/B timing of two (or more) builds of the face pipeline on the same images: each build's
bench binary stays up (`bench face --serve`) and the builds take turns over stretches of 10
images (who goes first alternates), so a slow spell of the machine falls on all of them.
Prints each build's median per-image times (ms) and their ratios to the first build, then
the end-to-end ratio of each round.

    cargo build --release -p facestyle --bin bench && cp target/release/bench /tmp/bench_a
    # ... change the code, build again ...
    python3 tools/bench_face_ab.py --images ../shared/data/lfw/images_deepfunneled \\
        /tmp/bench_a target/release/bench

A build may carry environment variables: `FACESTYLE_TEAM=0:/tmp/bench_a` (comma-separated
`NAME=VALUE` pairs before the colon). An A/A run (the same binary twice) shows the noise.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_serve import start, stop, timings  # noqa: E402

KEYS = ("detect", "align", "embed", "full")


def launch(spec, images, limit, threads):
    """`ENV=VALUE,...:binary` (or a plain binary) started with `bench face --serve`."""
    envs, binary = spec.split(":", 1) if ":" in spec else ("", spec)
    extra = dict(pair.split("=", 1) for pair in filter(None, envs.split(",")))
    proc, ready = start(binary, images, limit, threads, extra)
    return proc, ready["images"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("builds", nargs="+", help="bench binaries, optionally ENV=VALUE,...:binary")
    args = ap.parse_args()
    procs = [launch(b, args.images, args.limit, args.threads) for b in args.builds]
    count = min(n for _, n in procs)
    total = [{k: [] for k in KEYS} for _ in procs]
    per_round = []
    for r in range(args.rounds):
        this = [{k: [] for k in KEYS} for _ in procs]
        for k, start_at in enumerate(range(0, count, args.chunk)):
            order = list(range(len(procs)))
            if (r + k) % 2:
                order.reverse()
            for i in order:
                times = timings(procs[i][0], start_at, min(start_at + args.chunk, count))
                for key in KEYS:
                    this[i][key] += times[key]
                    total[i][key] += times[key]
        base = statistics.median(this[0]["full"])
        per_round.append([round(statistics.median(t["full"]) / base, 3) for t in this[1:]])
    for proc, _ in procs:
        stop(proc)
    for spec, t in zip(args.builds, total):
        med = {k: round(statistics.median(v), 3) for k, v in t.items()}
        ratio = {k: round(statistics.median(v) / statistics.median(total[0][k]), 3) for k, v in t.items()}
        print(json.dumps({"build": spec, "median_ms": med, "vs_first": ratio}))
    print(json.dumps({"end_to_end_vs_first_per_round": per_round}))


if __name__ == "__main__":
    main()
