#!/usr/bin/env python3
"""Measures graft's benchmarks against the anchors in one session and prints ratios.

The machine is shared and noisy, so each workload runs `--rounds` times, interleaved across
implementations (graft, LibTorch 1.13.1 via ../shared/anchors/libtorch/run.sh, raw oneDNN sgemm via
../shared/anchors/onednn/gemm_probe.cpp); the best figure of each and the spread (worst..best) are
reported, then graft's best as a ratio of each anchor's best.
  usage: bench/compare_anchors.py [--build build] [--rounds 3] [--anchors /work/shared/anchors]
                                  [--workloads gemm,tiny,gemm-vs-sgemm,block,mlp,lstm]
MLP_EPOCHS (default 2) is passed through to both implementations' mlp workload. graft runs each workload
with the thread setup it is documented to use (graft_bench's default), and block and mlp also under the
anchor's two setups: one thread ("graft-1-thread") and two threads with OMP_WAIT_POLICY=PASSIVE
("graft-passive"); the LibTorch anchor picks the better of those two setups itself (run.sh).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

LOWER_IS_BETTER = {"us_per_op_fwd_bwd", "ms_per_step", "train_s_per_epoch", "final_train_loss",
                   "cpu_ms_per_step", "train_cpu_s_per_epoch"}
ALL_WORKLOADS = ["gemm", "tiny", "gemm-vs-sgemm", "block", "mlp", "lstm"]


def json_lines(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--anchors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/anchors"))
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma-separated subset of " + ",".join(ALL_WORKLOADS))
    args = ap.parse_args()
    wanted = args.workloads.split(",")
    unknown = [w for w in wanted if w not in ALL_WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads {unknown}; choose from {ALL_WORKLOADS}")
    anchors = os.path.abspath(args.anchors)
    bench = os.path.join(os.path.abspath(args.build), "bench", "graft_bench")

    probe = os.path.join(tempfile.gettempdir(), f"graft-gemm-probe-{os.getuid()}")
    src = os.path.join(anchors, "onednn", "gemm_probe.cpp")
    if "gemm" in wanted and (not os.path.exists(probe) or os.path.getmtime(src) > os.path.getmtime(probe)):
        subprocess.run(["g++", "-O2", src, "-ldnnl", "-fopenmp", "-o", probe], check=True)

    runs = {
        ("graft", "gemm"): [bench, "gemm"],
        ("onednn-sgemm", "gemm"): [probe],
        ("libtorch-1.13.1", "gemm"): [os.path.join(anchors, "libtorch", "run.sh"), "gemm"],
        ("graft", "tiny"): [bench, "tiny"],
        ("libtorch-1.13.1", "tiny"): [os.path.join(anchors, "libtorch", "run.sh"), "tiny"],
        ("graft", "gemm-vs-sgemm"): [bench, "gemm-vs-sgemm"],  # graft::matmul vs dnnl_sgemm in one process
        ("graft", "block"): [bench, "block"],
        ("libtorch-1.13.1", "block"): [os.path.join(anchors, "libtorch", "run.sh"), "block"],
        ("graft", "mlp"): [bench, "mlp"],
        ("libtorch-1.13.1", "mlp"): [os.path.join(anchors, "libtorch", "run.sh"), "mlp"],
        ("graft", "lstm"): [bench, "lstm"],
        ("libtorch-1.13.1", "lstm"): [os.path.join(anchors, "libtorch", "run.sh"), "lstm"],
        ("graft-1-thread", "lstm"): [bench, "lstm", "--threads", "1"],
        ("graft-passive", "lstm"): ([bench, "lstm"], {"OMP_WAIT_POLICY": "PASSIVE"}),
        # The anchor reports the better of its two thread setups; graft's one-thread run sits beside its
        # default, so a loaded machine (where two spinning threads wait for a core) shows in both.
        ("graft-1-thread", "block"): [bench, "block", "--threads", "1"],
        ("graft-1-thread", "mlp"): [bench, "mlp", "--threads", "1"],
        # The anchor's own two-thread setup: threads that wait for work sleep instead of spinning.
        ("graft-passive", "block"): ([bench, "block"], {"OMP_WAIT_POLICY": "PASSIVE"}),
        ("graft-passive", "mlp"): ([bench, "mlp"], {"OMP_WAIT_POLICY": "PASSIVE"}),
    }
    runs = {key: cmd for key, cmd in runs.items() if key[1] in wanted}
    seen = {}  # (workload, metric) -> impl -> [values]
    for r in range(args.rounds):
        for (impl, _), cmd in runs.items():
            cmd, extra_env = cmd if isinstance(cmd, tuple) else (cmd, {})
            for row in json_lines(cmd, {**os.environ, **extra_env}):
                if row["workload"] == "config" or (impl == "onednn-sgemm" and row["workload"] != "matmul_1024"):
                    continue
                seen.setdefault((row["workload"], row["metric"]), {}).setdefault(impl, []).append(row["value"])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    for (workload, metric), impls in seen.items():
        lower = metric in LOWER_IS_BETTER
        best = {impl: (min(v) if lower else max(v)) for impl, v in impls.items()}
        for impl, values in impls.items():
            worst = max(values) if lower else min(values)
            print(json.dumps({"workload": workload, "metric": metric, "impl": impl, "best": round(best[impl], 4),
                              "worst": round(worst, 4), "values": [round(v, 4) for v in values]}))
        for ours in [i for i in best if i.startswith("graft")]:
            for impl in best:
                if impl.startswith("graft"):
                    continue
                # Ratio > 1 means graft is better (faster / more gflops).
                ratio = best[impl] / best[ours] if lower else best[ours] / best[impl]
                print(json.dumps({"workload": workload, "metric": metric, "ratio": f"{ours} vs {impl}",
                                  "value": round(ratio, 3), "higher_is_better_for_graft": True}))


if __name__ == "__main__":
    main()
