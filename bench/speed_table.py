#!/usr/bin/env python3
"""Turns the JSON lines of bench/compare_anchors.py into the README's speed table (Markdown).

  bench/compare_anchors.py --rounds 1 --load both > run.jsonl
  bench/speed_table.py run.jsonl

One row per workload, metric and load: graft's best, graft with fixed threads (where measured), LibTorch's
best, graft / LibTorch (a throughput ratio for GFLOP/s: above 1 is faster), and, with more than one round, the
spread of graft's rounds (worst / best). Only the headline metric of each
workload is shown (time or throughput); checksums and secondary figures stay in the JSON.
"""
import json
import sys

# (workload, metric, unit shown in the table), in the table's order
HEADLINE = [
    ("tiny_ops", "us_per_op_fwd_bwd", "µs per op"),
    ("matmul_1024", "gflops", "GFLOP/s"),
    ("gqa_block", "ms_per_step", "ms per step"),
    ("mlp_fmnist", "train_s_per_epoch", "s per epoch"),
    ("mlp_fmnist_f64", "train_s_per_epoch", "s per epoch"),
    ("cnn_fmnist", "train_s_per_epoch", "s per epoch"),
    ("lstm_seq", "ms_per_step", "ms per step"),
    ("lm_decode", "ms_per_token", "ms per token"),
    ("lm_decode", "prefill_ms", "prefill ms"),
]
REFERENCE = "libtorch-1.13.1"


def fmt(v):
    if v is None:
        return "–"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def main(path):
    best = {}  # (workload, metric, load) -> impl -> (best, spread)
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "best" not in r:
            continue
        spread = r.get("spread") if len(r.get("values", [])) > 1 else None
        best.setdefault((r["workload"], r["metric"], r["load"]), {})[r["impl"]] = (r["best"], spread)
    rounds = any(s is not None for impls in best.values() for _, s in impls.values())
    print("| workload | load | graft | graft, fixed threads | LibTorch 1.13.1 | graft / LibTorch |" +
          (" spread of graft's rounds |" if rounds else ""))
    print("|---|---|---|---|---|---|" + ("---|" if rounds else ""))
    for workload, metric, unit in HEADLINE:
        for load in ("idle", "busy"):
            impls = best.get((workload, metric, load))
            if not impls or "graft" not in impls:
                continue
            g, spread = impls["graft"]
            fixed = impls.get("graft-fixed-threads", (None, None))[0]
            ref = impls.get(REFERENCE, (None, None))[0]
            ratio = f"{g / ref:.2f}×" if ref else "–"
            print(f"| `{workload}`, {unit} | {load} | {fmt(g)} | {fmt(fixed)} | {fmt(ref)} | {ratio} |" +
                  (f" {fmt(spread)} |" if rounds else ""))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
