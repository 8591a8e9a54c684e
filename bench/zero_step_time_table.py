#!/usr/bin/env python3
"""Turns the JSON lines of `make bench-zero-model` (bench/zero_step_time) into the README's validation table.

  make bench-zero-model > run.jsonl
  bench/zero_step_time_table.py run.jsonl

One row per model, transport and world size; one column per ZeRO stage with "measured / predicted" ms per step,
a mark where the prediction is off by more than 25 %, and a count of the cells within 25 % per model.
Lines that are not JSON (make's and mpirun's echoes) are skipped.
"""
import json
import sys

MODELS = [("gpt", "tiny_gpt"), ("mlp", "MLP")]


def cell(measured, predicted):
    digits = 1 if measured >= 10 else 2
    mark = "" if 0.75 <= predicted / measured <= 1.25 else " ✗"
    return f"{measured:.{digits}f} / {predicted:.{digits}f}{mark}"


def main(path):
    rows = {}
    with open(path) as lines:
        for line in lines:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("workload") == "zero_step_time" and "stage" in j:
                rows[(j["model"], j["transport"], j["world_size"], j["stage"])] = (j["measured_ms"], j["predicted_ms"])
    print("| model, transport, W | stage 0 | stage 1 | stage 2 | stage 3 |")
    print("|---|---|---|---|---|")
    summary = []
    for model, name in MODELS:
        keys = sorted({k[1:3] for k in rows if k[0] == model})
        within = total = 0
        for transport, world in keys:
            cells = []
            for stage in range(4):
                value = rows.get((model, transport, world, stage))
                if value is None:
                    cells.append("–")
                    continue
                total += 1
                within += 0.75 <= value[1] / value[0] <= 1.25
                cells.append(cell(*value))
            print(f"| {name}, {transport}, {world} | " + " | ".join(cells) + " |")
        if total:
            summary.append(f"{name}: {within} of {total} cells within ±25 %")
    print()
    print("; ".join(summary))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
