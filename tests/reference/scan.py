#!/usr/bin/python3
"""Reference values for graft's cumsum (tests/ops/scan_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/scan.py
It writes tests/reference/scan.json: cases with the input, dim, output and, for floating inputs, the gradient
of sum(output * grad_output) and the second derivative seen through grad_grad: the gradient with respect to
grad_output of sum(grad_input * grad_grad).
"""
import json
import os

import torch

torch.manual_seed(11)
DT = torch.float64


def enc(t):
    t = t.detach()
    dtype = "int64" if t.dtype in (torch.int64, torch.bool) else "float64"
    return {"shape": list(t.shape), "dtype": dtype, "data": t.to(torch.int64 if dtype == "int64" else DT).reshape(-1).tolist()}


cases = []


def case(name, x, dim):
    c = {"name": name, "input": enc(x), "dim": dim}
    if x.dtype == DT:
        xi = x.clone().requires_grad_()
        out = torch.cumsum(xi, dim)
        go = torch.randn(out.shape, dtype=DT, requires_grad=True)
        (g,) = torch.autograd.grad((out * go).sum(), xi, create_graph=True)
        gg = torch.randn(g.shape, dtype=DT)
        (ggo,) = torch.autograd.grad((g * gg).sum(), go)
        c.update(output=enc(out), grad_output=enc(go), grad_input=enc(g), grad_grad=enc(gg), grad_grad_output=enc(ggo))
    else:
        c["output"] = enc(torch.cumsum(x, dim))
    cases.append(c)


for dim in (0, 1, -1):
    case(f"2-d dim={dim}", torch.randn(3, 4, dtype=DT), dim)
case("3-d dim=1", torch.randn(2, 3, 4, dtype=DT), 1)
case("1-d", torch.randn(7, dtype=DT), 0)
case("int64", torch.randint(-9, 9, (2, 5)), 1)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scan.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {out}")
