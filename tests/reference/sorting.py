#!/usr/bin/python3
"""Reference values for graft's sort, argsort and topk (tests/ops/sorting_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/sorting.py
It writes tests/reference/sorting.json: a list of cases, each with the op, its input, its other arguments, the
outputs (values and indices) and, for floating inputs, the gradient of sum(values * grad_output).

sort cases use stable=True (graft always sorts stably) and include ties, NaN and infinities; topk cases use
distinct values, since PyTorch leaves the order of tied elements unspecified there.
"""
import json
import math
import os

import torch

torch.manual_seed(7)
DT = torch.float64
NAN, INF = float("nan"), float("inf")


def number(v):
    # JSON has no NaN or infinity: they are written as the strings "nan", "inf" and "-inf".
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def enc(t):
    t = t.detach()
    dtype = "int64" if t.dtype == torch.int64 else "float64"
    return {"shape": list(t.shape), "dtype": dtype, "data": [number(v) for v in t.reshape(-1).tolist()]}


cases = []


def case(name, op, x, **args):
    differentiable = x.dtype == DT
    xi = x.clone().requires_grad_(differentiable)
    if op == "sort":
        values, indices = torch.sort(xi, dim=args["dim"], descending=args["descending"], stable=True)
    elif op == "argsort":
        values, indices = None, torch.argsort(xi, dim=args["dim"], descending=args["descending"], stable=True)
    elif op == "topk":
        values, indices = torch.topk(xi, args["k"], dim=args["dim"], largest=args["largest"], sorted=True)
    c = {"name": name, "op": op, "input": enc(x), "args": args}
    if values is not None:
        c["values"] = enc(values)
    if indices is not None:
        c["indices"] = enc(indices)
    if differentiable and values is not None:
        go = torch.randn(values.shape, dtype=DT)
        (g,) = torch.autograd.grad((values * go).sum(), xi)
        c["grad_output"], c["grad_input"] = enc(go), enc(g)
    cases.append(c)


ties = torch.tensor([3.0, 1.0, NAN, 1.0, 3.0, -INF, 2.0, 1.0, INF, 0.0], dtype=DT)
for desc in (False, True):
    case(f"sort ties nan inf desc={desc}", "sort", ties, dim=-1, descending=desc)
    case(f"argsort ties nan inf desc={desc}", "argsort", ties, dim=0, descending=desc)
    m = torch.randint(0, 4, (4, 5)).to(DT)
    for dim in (0, 1, -1):
        case(f"sort 2-d ties dim={dim} desc={desc}", "sort", m, dim=dim, descending=desc)
    case(f"sort 3-d dim=1 desc={desc}", "sort", torch.randn(2, 5, 3, dtype=DT), dim=1, descending=desc)
    case(f"sort int64 desc={desc}", "sort", torch.randint(-5, 5, (3, 6)), dim=1, descending=desc)
    case(f"argsort 2-d dim=0 desc={desc}", "argsort", torch.randn(5, 3, dtype=DT), dim=0, descending=desc)

for largest in (True, False):
    x = torch.randperm(24).to(DT).reshape(2, 3, 4) / 3 - 4
    for dim, k in ((-1, 2), (1, 3), (0, 1), (2, 4), (1, 0)):
        case(f"topk dim={dim} k={k} largest={largest}", "topk", x, k=k, dim=dim, largest=largest)
    case(f"topk nan inf largest={largest}", "topk", torch.tensor([0.5, NAN, -INF, 2.0, INF, -1.0], dtype=DT),
         k=3, dim=0, largest=largest)
    case(f"topk int64 largest={largest}", "topk", torch.randperm(9).reshape(3, 3), k=2, dim=1, largest=largest)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sorting.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {out}")
