#!/usr/bin/env python3
"""Measures graft's benchmarks against the anchors in one session and prints ratios.

The machine is shared and noisy, so each workload runs `--rounds` times, interleaved across
implementations (graft, LibTorch 1.13.1 via ../shared/anchors/libtorch/run.sh, raw oneDNN sgemm via
../shared/anchors/onednn/gemm_probe.cpp); the best figure of each and the spread (worst..best) are
reported, then graft's best as a ratio of each anchor's best.
  usage: bench/compare_anchors.py [--build build] [--rounds 3] [--anchors /work/shared/anchors]
                                  [--workloads gemm,tiny,gemm-vs-sgemm,block,mlp,mlp64,cnn,lstm,decode]
MLP_EPOCHS (default 2) and CNN_EPOCHS (default 1) are passed through to both implementations' mlp and cnn
workloads. graft runs each workload
with the thread setup it is documented to use (graft_bench's default), and block and mlp also under the
anchor's two setups: one thread ("graft-1-thread") and two threads with OMP_WAIT_POLICY=PASSIVE
("graft-passive"); the LibTorch anchor picks the better of those two setups itself (run.sh; its binary is run directly with the
same two setups when this CPU lacks AVX-512, because run.sh forces OpenBLAS's SkylakeX kernels, which die with
SIGILL there). "graft-fixed-threads" is graft's default with adaptive threads off (GRAFT_ADAPTIVE_THREADS=0).

--load busy runs everything while one CPU-bound process per core spins beside it (each stops after
--load-seconds at most, and all are stopped when the run ends); --load both measures idle, then busy. Rows
carry "load": "idle" or "busy".
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

LOWER_IS_BETTER = {"us_per_op_fwd_bwd", "ms_per_step", "train_s_per_epoch", "final_train_loss",
                   "cpu_ms_per_step", "train_cpu_s_per_epoch", "peak_memory_mb", "ms_per_token", "prefill_ms"}
# Reported but neither better nor worse: lm_decode's checksum of the generated ids (equal only for equal weights).
INFORMATIVE = {"tokens_sum"}
ALL_WORKLOADS = ["gemm", "tiny", "gemm-vs-sgemm", "block", "mlp", "mlp64", "cnn", "lstm", "decode"]


def json_lines(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


ANCHOR_SETUPS = [{"OMP_WAIT_POLICY": "PASSIVE", "BENCH_THREADS": "2"},
                 {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "BENCH_THREADS": "1"}]


def anchor_direct(binary, workload):
    """run.sh's best-of-two-setups, with OpenBLAS kernels this CPU can run."""
    best = {}
    for setup in ANCHOR_SETUPS:
        env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell", **setup}
        for row in json_lines([binary, workload], env):
            if row["workload"] == "config":
                continue
            key = (row["workload"], row["metric"])
            higher = row["metric"] in ("gflops", "test_accuracy")
            if key not in best or ((row["value"] > best[key]["value"]) if higher else (row["value"] < best[key]["value"])):
                best[key] = row
    return list(best.values())


class Load:
    """One CPU-bound process per core, each bounded by `seconds`, stopped on exit."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.procs = []

    def __enter__(self):
        spin = f"import time\nend = time.time() + {self.seconds}\nwhile time.time() < end: pass\n"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--anchors", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/anchors"))
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma-separated subset of " + ",".join(ALL_WORKLOADS))
    ap.add_argument("--load", default="idle", choices=["idle", "busy", "both"],
                    help="busy: one CPU-bound process per core runs beside the measurements")
    ap.add_argument("--load-seconds", type=int, default=3600, help="upper bound on each load process's life")
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

    run_sh = os.path.join(anchors, "libtorch", "run.sh")
    anchor_binary = os.path.join(os.environ.get("ANCHOR_BUILD", "/tmp/graft-anchor-build"), "anchor_bench")
    direct = not cpu_has("avx512f")
    if direct:
        subprocess.run([run_sh, "build-only"], check=True)  # builds the anchor, runs no workload

    def anchor(workload):
        return ("anchor", workload) if direct else [run_sh, workload]

    fixed = {"GRAFT_ADAPTIVE_THREADS": "0"}
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    runs = {
        ("graft", "gemm"): [bench, "gemm"],
        ("onednn-sgemm", "gemm"): [probe],
        ("libtorch-1.13.1", "gemm"): anchor("gemm"),
        ("graft", "tiny"): [bench, "tiny"],
        ("libtorch-1.13.1", "tiny"): anchor("tiny"),
        ("graft", "gemm-vs-sgemm"): [bench, "gemm-vs-sgemm"],  # graft::matmul vs dnnl_sgemm in one process
    }
    # The anchor reports the better of its two thread setups. Beside graft's default: its one-thread run, the
    # anchor's own two-thread setup (threads that wait for work sleep instead of spinning), and the default
    # with adaptive threads off, so a loaded machine (where two spinning threads wait for a core) shows in each.
    for w in ("block", "mlp", "mlp64", "cnn", "lstm", "decode"):
        runs[("graft", w)] = [bench, w]
        runs[("libtorch-1.13.1", w)] = anchor(w)
        runs[("graft-1-thread", w)] = [bench, w, "--threads", "1"]
        runs[("graft-passive", w)] = ([bench, w], passive)
        runs[("graft-fixed-threads", w)] = ([bench, w], fixed)
    runs = {key: cmd for key, cmd in runs.items() if key[1] in wanted}

    def rows_of(impl, cmd):
        if isinstance(cmd, tuple) and cmd[0] == "anchor":
            return anchor_direct(anchor_binary, cmd[1])
        cmd, extra_env = cmd if isinstance(cmd, tuple) else (cmd, {})
        return json_lines(cmd, {**os.environ, **extra_env})

    loads = ["idle", "busy"] if args.load == "both" else [args.load]
    for load in loads:
        seen = {}  # (workload, metric) -> impl -> [values]
        with (Load(args.load_seconds) if load == "busy" else contextlib.nullcontext()):
            for r in range(args.rounds):
                for (impl, _), cmd in runs.items():
                    for row in rows_of(impl, cmd):
                        if row["workload"] == "config" or (impl == "onednn-sgemm" and row["workload"] != "matmul_1024"):
                            continue
                        seen.setdefault((row["workload"], row["metric"]), {}).setdefault(impl, []).append(row["value"])
                print(f"{load}: round {r + 1}/{args.rounds} done", file=sys.stderr)
        report(seen, load)


def report(seen, load):
    for (workload, metric), impls in seen.items():
        if metric in INFORMATIVE:
            print(json.dumps({"workload": workload, "metric": metric, "load": load, "informative": True,
                              "values": {impl: values for impl, values in impls.items()}}))
            continue
        lower = metric in LOWER_IS_BETTER
        best = {impl: (min(v) if lower else max(v)) for impl, v in impls.items()}
        for impl, values in impls.items():
            worst = max(values) if lower else min(values)
            spread = (worst / best[impl] if lower else best[impl] / worst) if best[impl] and worst else None
            print(json.dumps({"workload": workload, "metric": metric, "impl": impl, "load": load,
                              "best": round(best[impl], 4), "worst": round(worst, 4),
                              "spread": round(spread, 3) if spread else None, "values": [round(v, 4) for v in values]}))
        for ours in [i for i in best if i.startswith("graft")]:
            for impl in best:
                if impl.startswith("graft"):
                    continue
                # Ratio < 1 means graft takes less time (or, for gflops, does less work per second).
                ratio = best[ours] / best[impl]
                print(json.dumps({"workload": workload, "metric": metric, "ratio": f"{ours} / {impl}", "load": load,
                                  "value": round(ratio, 3), "lower_is_better": lower}))

if __name__ == "__main__":
    main()
