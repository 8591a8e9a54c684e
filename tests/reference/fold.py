#!/usr/bin/python3
"""Reference values for graft's F::unfold and F::fold (tests/ops/fold_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/fold.py   (writes tests/reference/fold.json)

Each case: the op, its arguments, the input x, a random grad_output v, the output y and the gradient of
sum(v * y) in x; float64.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(11)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.12g}") for v in t.detach().reshape(-1).tolist()]}


cases = []


def case(name, op, shape, **kwargs):
    x = torch.randn(shape, dtype=DT, requires_grad=True)
    y = getattr(F, op)(x, **kwargs)
    v = torch.randn(y.shape, dtype=DT)
    (gx,) = torch.autograd.grad(y, [x], v)
    cases.append({"name": name, "op": op, "args": kwargs, "x": enc(x), "v": enc(v), "y": enc(y), "gx": enc(gx)})


case("unfold 2x2", "unfold", (2, 3, 4, 4), kernel_size=2)
case("unfold 3x2 dilation (1, 2) padding 1 stride 2", "unfold", (1, 2, 5, 6), kernel_size=(3, 2), dilation=(1, 2),
     padding=1, stride=2)
case("unfold unbatched", "unfold", (2, 3, 3), kernel_size=2, stride=1)
case("fold 2x2 overlapping", "fold", (2, 3 * 4, 9), output_size=(4, 4), kernel_size=2)
case("fold stride 2 padding 1", "fold", (1, 2 * 6, 9), output_size=(5, 4), kernel_size=(3, 2), padding=1, stride=2)
case("fold unbatched dilation 2", "fold", (4, 4), output_size=(4, 4), kernel_size=2, dilation=2)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fold.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/fold.py", "torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {path}")
