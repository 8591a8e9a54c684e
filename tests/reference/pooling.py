#!/usr/bin/python3
"""Reference values for graft's pooling ops (tests/ops/pooling_test.cpp): max_pool1d/2d (with indices),
avg_pool1d/2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/pooling.py   (writes tests/reference/pooling.json)

Each case holds the op, its arguments, the input x, a random grad_output v, the output y, the indices of the
maxima where the op has them, and the gradient of sum(v * y) in x; float64 throughout. Inputs are random
normal, so windows have no ties.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(99)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.12g}") for v in t.detach().reshape(-1).tolist()]}


OPS = {"max_pool1d": F.max_pool1d, "max_pool2d": F.max_pool2d, "avg_pool1d": F.avg_pool1d, "avg_pool2d": F.avg_pool2d,
       "adaptive_avg_pool2d": F.adaptive_avg_pool2d, "adaptive_max_pool2d": F.adaptive_max_pool2d}
cases = []


def case(name, op, x_shape, **kwargs):
    x = torch.randn(x_shape, dtype=DT, requires_grad=True)
    indices = None
    if op.startswith("max") or op.startswith("adaptive_max"):
        y, indices = OPS[op](x, return_indices=True, **kwargs)
    else:
        y = OPS[op](x, **kwargs)
    v = torch.randn(y.shape, dtype=DT)
    (gx,) = torch.autograd.grad(y, [x], v)
    entry = {"name": name, "op": op, "args": kwargs, "x": enc(x), "v": enc(v), "y": enc(y), "gx": enc(gx)}
    if indices is not None:
        entry["indices"] = enc(indices)
    cases.append(entry)


case("max_pool2d 2x2", "max_pool2d", (2, 3, 6, 6), kernel_size=2)
case("max_pool2d 3x3 stride 2 padding 1 ceil", "max_pool2d", (1, 2, 7, 6), kernel_size=3, stride=2, padding=1,
     ceil_mode=True)
case("max_pool2d dilation 2, rectangular", "max_pool2d", (2, 2, 7, 8), kernel_size=(2, 3), stride=(1, 2), dilation=2)
case("max_pool2d overlapping windows, unbatched", "max_pool2d", (2, 5, 5), kernel_size=3, stride=1)
case("max_pool1d 3 stride 2 padding 1", "max_pool1d", (2, 3, 9), kernel_size=3, stride=2, padding=1)
case("max_pool1d ceil, dilation 2", "max_pool1d", (1, 2, 10), kernel_size=2, stride=3, dilation=2, ceil_mode=True)
case("avg_pool2d 2x2", "avg_pool2d", (2, 3, 6, 4), kernel_size=2)
case("avg_pool2d 3x3 padding 1 ceil, count_include_pad", "avg_pool2d", (1, 2, 6, 7), kernel_size=3, stride=2,
     padding=1, ceil_mode=True)
case("avg_pool2d padding, without pad in the count", "avg_pool2d", (1, 2, 5, 5), kernel_size=3, stride=2, padding=1,
     ceil_mode=True, count_include_pad=False)
case("avg_pool2d divisor_override", "avg_pool2d", (2, 1, 4, 6), kernel_size=(2, 3), divisor_override=5)
case("avg_pool1d padding", "avg_pool1d", (2, 2, 7), kernel_size=3, stride=2, padding=1, count_include_pad=False)
case("avg_pool1d ceil", "avg_pool1d", (3, 5), kernel_size=2, ceil_mode=True)
case("adaptive_avg_pool2d 7x5 -> 3x2", "adaptive_avg_pool2d", (2, 3, 7, 5), output_size=(3, 2))
case("adaptive_avg_pool2d upsampling 2x3 -> 4x5", "adaptive_avg_pool2d", (1, 2, 2, 3), output_size=(4, 5))
case("adaptive_max_pool2d 7x6 -> 3", "adaptive_max_pool2d", (2, 2, 7, 6), output_size=3)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pooling.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/pooling.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
