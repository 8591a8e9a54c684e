#!/usr/bin/python3
"""Reference values for graft's F::pad (tests/ops/padding_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/padding.py   (writes tests/reference/padding.json)

Each case: the input x, the pad list, mode and value, a random grad_output v, the output y and the gradient of
sum(v * y) in x; float64.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(7)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.12g}") for v in t.detach().reshape(-1).tolist()]}


cases = []


def case(name, shape, pad, mode="constant", value=None):
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    y = F.pad(x, pad, mode=mode, value=value) if mode == "constant" else F.pad(x, pad, mode=mode)
    v = torch.randn(y.shape, dtype=DT)
    (gx,) = torch.autograd.grad(y, [x], v)
    cases.append({"name": name, "pad": list(pad), "mode": mode, "value": value or 0.0, "x": enc(x), "v": enc(v),
                  "y": enc(y), "gx": enc(gx)})


case("constant last dim", (2, 3, 4), (1, 2))
case("constant two dims, value 1.5", (2, 3, 4), (0, 1, 2, 1), value=1.5)
case("constant crops with negative sizes", (2, 5, 4), (-1, 2, 1, -2))
case("constant three dims of a 3-D tensor", (2, 2, 3), (1, 0, 0, 1, 1, 1))
case("reflect 1-D batched", (2, 3, 5), (2, 3), "reflect")
case("reflect 2-D", (1, 2, 4, 5), (1, 2, 3, 1), "reflect")
case("reflect 2-D unbatched, negative", (2, 4, 5), (-1, 2, 2, 0), "reflect")
case("replicate 1-D unbatched", (3, 4), (3, 1), "replicate")
case("replicate 2-D", (2, 1, 3, 3), (2, 0, 1, 4), "replicate")
case("replicate 3-D", (1, 1, 2, 3, 2), (1, 1, 0, 2, 1, 0), "replicate")
case("circular 1-D", (2, 2, 4), (3, 2), "circular")
case("circular 2-D", (1, 2, 3, 4), (4, 1, 2, 3), "circular")

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "padding.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/padding.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
