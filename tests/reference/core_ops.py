#!/usr/bin/python3
"""Reference values of graft's core ops, computed with PyTorch (Debian's python3-torch 1.13).

Run with Debian's interpreter (not the pyenv python3 on PATH):
    /usr/bin/python3 tests/reference/core_ops.py
It writes tests/reference/core_ops.json: for each case the op and its arguments, the inputs, the outputs,
a fixed random upstream gradient for every floating output and the resulting input gradients, all in
float64. tests/ops/torch_reference_test.cpp replays every case through graft and compares (rtol 1e-6).
The cases are the core ops whose semantics are easy to get subtly wrong: matmul's broadcasting and 1-D
promotion, var/std corrections, logsumexp with infinities, max/min/amax ties, pow at a zero base, clamp
at its bounds, maximum ties, sum_to/expand, gather/scatter_add/index_select/index_add, split/cat, and
gradients accumulating over several uses of one tensor.
"""
import json
import math
import os

import torch

torch.manual_seed(0)
F64 = torch.float64
NAN, INF = float("nan"), float("inf")


def encode(t):
    """A tensor as {shape, dtype, values}; non-finite floats become strings (JSON has no NaN/inf)."""
    if t is None:
        return None
    t = t.detach()
    vals = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        vals = [v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")) for v in vals]
        dtype = "float64"
    elif t.dtype == torch.bool:
        dtype = "bool"
    else:
        dtype = "int64"
    return {"shape": list(t.shape), "dtype": dtype, "values": vals}


def rnd(*shape, lo=-2.0, hi=2.0):
    return torch.rand(*shape, dtype=F64) * (hi - lo) + lo


def t(values, shape=None):
    x = torch.tensor(values, dtype=F64)
    return x.reshape(shape) if shape is not None else x


def idx(values, shape=None):
    x = torch.tensor(values, dtype=torch.int64)
    return x.reshape(shape) if shape is not None else x


CASES = []


def case(name, op, inputs, fn, **args):
    """Runs fn(*inputs) in PyTorch and records the case. Floating inputs require grad."""
    ins = [x.clone().requires_grad_(x.dtype.is_floating_point) for x in inputs]
    outs = fn(*ins)
    if isinstance(outs, torch.Tensor):
        outs = [outs]
    outs = list(outs)
    roots = [o for o in outs if o.dtype.is_floating_point and o.requires_grad]
    grad_outputs = [torch.randn(o.shape, dtype=F64) for o in roots]
    wrt = [x for x in ins if x.requires_grad]
    grads = []
    if roots and wrt:
        g = torch.autograd.grad(roots, wrt, grad_outputs, allow_unused=True)
        g = list(g)
        grads = [g.pop(0) if x.requires_grad else None for x in ins]
    else:
        grads = [None for _ in ins]
    it = iter(grad_outputs)
    CASES.append({
        "name": name,
        "op": op,
        "args": args,
        "inputs": [encode(x) for x in ins],
        "outputs": [encode(o) for o in outs],
        "grad_outputs": [encode(next(it)) if (o.dtype.is_floating_point and o.requires_grad) else None for o in outs],
        "grads": [encode(g) for g in grads],
    })


# ---- matmul: 1-D promotion, folding, broadcast batch dims ----
mm_shapes = [((4,), (4,)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)),
             ((2, 3, 4), (4, 2)), ((2, 3), (2, 3, 4)), ((2, 1, 3, 4), (3, 4, 2)), ((2, 2, 3), (2, 3, 2)),
             ((1, 3, 2), (4, 2, 5)), ((6, 40), (40, 30))]
for sa, sb in mm_shapes:
    case(f"matmul {list(sa)} @ {list(sb)}", "matmul", [rnd(*sa), rnd(*sb)], torch.matmul)
case("matmul of transposed operands", "matmul_tt", [rnd(3, 2), rnd(4, 3)], lambda a, b: torch.matmul(a.t(), b.t()))
case("mm", "mm", [rnd(2, 3), rnd(3, 4)], torch.mm)
case("bmm", "bmm", [rnd(2, 2, 3), rnd(2, 3, 4)], torch.bmm)
case("dot", "dot", [rnd(5), rnd(5)], torch.dot)

# ---- var / std ----
x = rnd(3, 4)
for unbiased in (True, False):
    case(f"var all, unbiased={unbiased}", "var", [x], lambda a, u=unbiased: torch.var(a, unbiased=u), dims=None, unbiased=unbiased, keepdim=False)
    case(f"std all, unbiased={unbiased}", "std", [x], lambda a, u=unbiased: torch.std(a, unbiased=u), dims=None, unbiased=unbiased, keepdim=False)
y = rnd(2, 3, 4)
for dims, unbiased, keepdim in (([1], True, False), ([0, 2], False, True), ([-1], True, True), ([0, 1, 2], False, False)):
    for name, f in (("var", torch.var), ("std", torch.std)):
        case(f"{name} dims={dims} unbiased={unbiased} keepdim={keepdim}", name, [y],
             lambda a, f=f, d=dims, u=unbiased, k=keepdim: f(a, d, unbiased=u, keepdim=k), dims=dims, unbiased=unbiased, keepdim=keepdim)
case("std of a constant row (zero gradient there)", "std", [t([1.0, 1.0, 1.0, 0.5, 2.0, 3.5], (2, 3))],
     lambda a: torch.std(a, [1]), dims=[1], unbiased=True, keepdim=False)
case("var of one element, biased", "var", [t([[2.5]])], lambda a: torch.var(a, [1], unbiased=False), dims=[1], unbiased=False, keepdim=False)

# ---- logsumexp ----
case("logsumexp dim 1", "logsumexp", [rnd(3, 4)], lambda a: torch.logsumexp(a, [1]), dims=[1], keepdim=False)
case("logsumexp dims (0, 2) keepdim", "logsumexp", [rnd(2, 3, 4)], lambda a: torch.logsumexp(a, [0, 2], keepdim=True), dims=[0, 2], keepdim=True)
case("logsumexp with a row of -inf and a +inf", "logsumexp", [t([-INF, -INF, 1.0, 2.0, INF, 0.5, -INF, 3.0], (4, 2))],
     lambda a: torch.logsumexp(a, [1]), dims=[1], keepdim=False)
case("logsumexp of large values", "logsumexp", [rnd(2, 3, lo=800, hi=805)], lambda a: torch.logsumexp(a, [-1]), dims=[-1], keepdim=False)

# ---- max / min / amax / amin ----
ties = t([1.0, 3.0, 3.0, 2.0, 2.0, 0.0, 5.0, 5.0, 5.0], (3, 3))
case("max(dim) with ties", "max_dim", [ties], lambda a: torch.max(a, 1), dim=1, keepdim=False)
case("min(dim) with ties, keepdim", "min_dim", [ties], lambda a: torch.min(a, 0, keepdim=True), dim=0, keepdim=True)
case("max(dim) negative dim", "max_dim", [rnd(2, 3, 4)], lambda a: torch.max(a, -2), dim=-2, keepdim=False)
case("max() with ties", "max", [ties], torch.max)
case("min() with ties", "min", [ties], torch.min)
case("max() with NaNs", "max", [t([1.0, NAN, 3.0, NAN])], torch.max)
case("amax with ties", "amax", [ties], lambda a: torch.amax(a, [1]), dims=[1], keepdim=False)
case("amin over two dims with ties, keepdim", "amin", [t([2.0, 1.0, 1.0, 4.0, 1.0, 3.0, 2.0, 6.0], (2, 2, 2))],
     lambda a: torch.amin(a, [0, 2], keepdim=True), dims=[0, 2], keepdim=True)
case("amax all dims", "amax", [ties], lambda a: torch.amax(a, []), dims=[], keepdim=False)
case("argmax flattened with ties", "argmax", [ties], lambda a: torch.argmax(a), dim=None, keepdim=False)
case("argmin dim 1 keepdim", "argmin", [ties], lambda a: torch.argmin(a, 1, keepdim=True), dim=1, keepdim=True)

# ---- sum / mean / sum_to / expand ----
case("sum dims (0, 2)", "sum", [rnd(2, 3, 4)], lambda a: torch.sum(a, [0, 2]), dims=[0, 2], keepdim=False)
case("mean dim -1 keepdim", "mean", [rnd(2, 3, 4)], lambda a: torch.mean(a, [-1], keepdim=True), dims=[-1], keepdim=True)
case("sum_to [2, 3, 4] -> [3, 1]", "sum_to", [rnd(2, 3, 4)], lambda a: a.sum_to_size(3, 1), shape=[3, 1])
case("sum_to [2, 3] -> [1, 3]", "sum_to", [rnd(2, 3)], lambda a: a.sum_to_size(1, 3), shape=[1, 3])
case("expand [3, 1] -> [2, 3, 4]", "expand", [rnd(3, 1)], lambda a: a.expand(2, 3, 4), shape=[2, 3, 4])
case("expand with -1", "expand", [rnd(1, 3)], lambda a: a.expand(4, -1), shape=[4, -1])

# ---- pow at a zero base, clamp at its bounds, maximum ties ----
zs = t([0.0, 0.0, 1.5, -2.0])
case("pow(x, 3) with zeros", "pow_scalar", [zs], lambda a: torch.pow(a, 3), exponent=3.0)
case("pow(x, 0) with zeros", "pow_scalar", [zs], lambda a: torch.pow(a, 0), exponent=0.0)
case("pow(x, 0.5) at zero", "pow_scalar", [t([0.0, 4.0])], lambda a: torch.pow(a, 0.5), exponent=0.5)
case("pow(x, -1) at zero", "pow_scalar", [t([0.0, 2.0])], lambda a: torch.pow(a, -1), exponent=-1.0)
case("pow(tensor, tensor) at zero bases", "pow_tensor", [t([0.0, 0.0, 0.0, 2.0, 1.5]), t([2.0, 0.0, 0.5, 3.0, -1.0])], torch.pow)
case("pow(scalar, tensor)", "pow_scalar_base", [t([0.0, 1.0, -1.5])], lambda e: torch.pow(2.0, e), base=2.0)
case("pow(0, tensor)", "pow_scalar_base", [t([0.0, 1.0, 2.5])], lambda e: torch.pow(0.0, e), base=0.0)
cl = t([-1.0, -0.5, 0.0, 0.5, 1.0, 0.25])
case("clamp at both bounds", "clamp", [cl], lambda a: torch.clamp(a, -0.5, 0.5), min=-0.5, max=0.5)
case("clamp min only, at the bound", "clamp", [cl], lambda a: torch.clamp(a, min=0.0), min=0.0, max=None)
case("clamp max only, at the bound", "clamp", [cl], lambda a: torch.clamp(a, max=0.5), min=None, max=0.5)
case("clamp with min > max", "clamp", [cl], lambda a: torch.clamp(a, 0.5, -0.5), min=0.5, max=-0.5)
case("maximum with ties, broadcast", "maximum", [t([1.0, 2.0, 3.0, 0.0, 2.0, 5.0], (2, 3)), t([1.0, 2.0, 4.0])], torch.maximum)
case("minimum with ties", "minimum", [t([1.0, 2.0, 3.0]), t([1.0, 0.0, 3.0])], torch.minimum)

# ---- indexing ----
case("gather dim 1 with repeats", "gather", [rnd(3, 4), idx([0, 3, 3, 1, 2, 2], (3, 2))], lambda a, i: torch.gather(a, 1, i), dim=1)
case("gather dim 0, index smaller", "gather", [rnd(3, 4), idx([2, 0, 1], (1, 3))], lambda a, i: torch.gather(a, 0, i), dim=0)
case("scatter_add dim 1 with duplicates", "scatter_add", [rnd(3, 4), idx([0, 3, 3, 1, 2, 2], (3, 2)), rnd(3, 2)],
     lambda a, i, s: torch.scatter_add(a, 1, i, s), dim=1)
case("scatter_add dim 0", "scatter_add", [rnd(3, 2), idx([2, 0, 2, 2], (2, 2)), rnd(2, 2)], lambda a, i, s: torch.scatter_add(a, 0, i, s), dim=0)
case("index_select with repeats", "index_select", [rnd(4, 3), idx([3, 0, 3])], lambda a, i: torch.index_select(a, 0, i), dim=0)
case("index_select dim -1", "index_select", [rnd(2, 5), idx([4, 1])], lambda a, i: torch.index_select(a, -1, i), dim=-1)
case("index_add with duplicates", "index_add", [rnd(4, 3), idx([1, 3, 1]), rnd(3, 3)], lambda a, i, s: torch.index_add(a, 0, i, s), dim=0)
case("tril -1 of a batch", "tril", [rnd(2, 3, 4)], lambda a: torch.tril(a, -1), diagonal=-1)
case("triu 1", "triu", [rnd(3, 5)], lambda a: torch.triu(a, 1), diagonal=1)

# ---- shape ops and gradients that meet ----
case("split 3 along dim 1, two pieces used", "split_use", [rnd(2, 7)], lambda a: [p * (k + 1) for k, p in enumerate(torch.split(a, 3, 1)) if k != 1],
     split_size=3, dim=1)
case("cat with a transposed view", "cat_t", [rnd(3, 2), rnd(2, 4)], lambda a, b: torch.cat([a.t(), b], 1))
case("stack dim -1", "stack", [rnd(2, 3), rnd(2, 3)], lambda a, b: torch.stack([a, b], -1), dim=-1)
case("one tensor used many times (gradients accumulate)", "reuse", [rnd(3, 3)],
     lambda a: torch.sum(a * a, 1) + torch.matmul(a, a.t()).mean(0) + torch.amax(a.t(), [0]) + torch.logsumexp(a, [1]))
case("permute, reshape of a non-contiguous view", "permute_reshape", [rnd(2, 3, 4)], lambda a: a.permute(2, 0, 1).reshape(4, 6) * 2.0)

out = {"generator": "tests/reference/core_ops.py", "torch": torch.__version__, "cases": CASES}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core_ops.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(CASES)} cases to {path}")
