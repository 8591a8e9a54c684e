#!/usr/bin/python3
"""Reference values for graft's conv1d, conv2d, conv_transpose1d and conv_transpose2d (tests/ops/conv_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/conv.py   (writes tests/reference/conv.json)

Each case holds the arguments, the input x, weight w, optional bias b, a random grad_output v, the output y and
the gradients of sum(v * y) in x, w and b; float64 throughout.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.12g}") for v in t.detach().reshape(-1).tolist()]}


OPS = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv_transpose1d": F.conv_transpose1d,
       "conv_transpose2d": F.conv_transpose2d}
cases = []


def case(name, op, x_shape, w_shape, bias=True, **kwargs):
    x = torch.randn(x_shape, dtype=DT, requires_grad=True)
    w = torch.randn(w_shape, dtype=DT, requires_grad=True)
    out_channels = w_shape[0] if op.startswith("conv1") or op.startswith("conv2") else w_shape[1] * kwargs.get("groups", 1)
    b = torch.randn(out_channels, dtype=DT, requires_grad=True) if bias else None
    y = OPS[op](x, w, b, **kwargs)
    v = torch.randn(y.shape, dtype=DT)
    grads = torch.autograd.grad(y, [x, w] + ([b] if bias else []), v)
    entry = {"name": name, "op": op, "args": kwargs, "x": enc(x), "w": enc(w), "v": enc(v), "y": enc(y),
             "gx": enc(grads[0]), "gw": enc(grads[1])}
    if bias:
        entry["b"] = enc(b)
        entry["gb"] = enc(grads[2])
    cases.append(entry)


case("conv2d 3x3 padding 1", "conv2d", (2, 3, 5, 5), (4, 3, 3, 3), padding=1)
case("conv2d stride 2, dilation (1, 2), no bias", "conv2d", (2, 2, 7, 8), (3, 2, 3, 2), bias=False, stride=2,
     dilation=(1, 2))
case("conv2d groups 2, rectangular padding", "conv2d", (1, 4, 6, 5), (6, 2, 2, 3), padding=(1, 2), groups=2)
case("conv2d depthwise", "conv2d", (2, 3, 5, 4), (6, 1, 3, 3), groups=3, stride=(2, 1))
case("conv2d padding same, even kernel", "conv2d", (1, 2, 5, 6), (3, 2, 4, 2), padding="same", dilation=(1, 2))
case("conv2d padding valid", "conv2d", (1, 2, 5, 5), (2, 2, 3, 3), padding="valid")
case("conv1d padding 2 stride 3", "conv1d", (2, 3, 11), (4, 3, 3), padding=2, stride=3)
case("conv1d groups 3 dilation 2", "conv1d", (1, 6, 9), (3, 2, 2), groups=3, dilation=2)
case("conv1d same", "conv1d", (2, 2, 7), (2, 2, 4), padding="same")
case("conv_transpose2d stride 2 output_padding 1", "conv_transpose2d", (2, 3, 3, 4), (3, 2, 3, 3), stride=2,
     padding=1, output_padding=1)
case("conv_transpose2d groups 2 dilation 2", "conv_transpose2d", (1, 4, 3, 3), (4, 3, 2, 3), bias=False, groups=2,
     dilation=2, padding=(0, 1))
case("conv_transpose2d output_padding below dilation", "conv_transpose2d", (1, 2, 3, 3), (2, 2, 3, 3), dilation=2,
     output_padding=1)
case("conv_transpose1d stride 3", "conv_transpose1d", (2, 3, 4), (3, 2, 3), stride=3, padding=1, output_padding=2)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/conv.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
