#!/usr/bin/python3
"""Reference values for tests/ops/activation_test.cpp, from PyTorch 1.13 (Debian's python3-torch).

Run with /usr/bin/python3 (not a pyenv python): writes activations.json next to this script.
Every case holds the input x, the upstream gradient v, the output y = f(x), the input gradient
g = d(sum(v * y))/dx, and for the twice-differentiable ones gg = d(sum(w * g))/dx.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
DT = torch.float64


def enc(t):
    def one(v):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return {"shape": list(t.shape), "data": [one(v) for v in t.detach().reshape(-1).tolist()]}


def case(fn, x, second=True):
    x = x.clone().to(DT).requires_grad_(True)
    y = fn(x)
    v = torch.randn(y.shape, dtype=DT)
    (g,) = torch.autograd.grad(y, x, v, create_graph=second)
    out = {"x": enc(x), "v": enc(v), "y": enc(y), "g": enc(g)}
    if second:
        w = torch.randn(g.shape, dtype=DT)
        (gg,) = torch.autograd.grad(g, x, w)
        out["w"] = enc(w)
        out["gg"] = enc(gg)
    return out


golden = torch.tensor([[-2.0, -1.0, 0.0, 1.0, 2.0]], dtype=DT)
# Away from 0 (the kinks), both signs, the tails, and values past softplus's threshold.
x = torch.tensor([[-25.0, -6.0, -2.5, -1.2, -0.4, -0.05, 0.05, 0.3, 0.9, 1.7, 3.0, 7.0, 19.5, 30.0]], dtype=DT)
matrix = torch.randn(3, 5, dtype=DT) * 2
NEG_INF = float("-inf")
masked = torch.tensor([[0.5, NEG_INF, 1.2, NEG_INF, -0.3],
                       [NEG_INF, NEG_INF, NEG_INF, NEG_INF, NEG_INF],
                       [1.0, 2.0, 3.0, 4.0, 5.0]], dtype=DT)

cases = {
    "relu": case(F.relu, x, second=False),
    "leaky_relu_0.2": case(lambda t: F.leaky_relu(t, 0.2), x, second=False),
    "elu_1.5": case(lambda t: F.elu(t, alpha=1.5), x),
    "gelu_none": case(lambda t: F.gelu(t), x),
    "gelu_tanh": case(lambda t: F.gelu(t, approximate="tanh"), x),
    "silu": case(F.silu, x),
    "softplus": case(F.softplus, x),
    # beta x on both sides of the threshold, and exactly on it (2.5 * 2 = 5 is not above 5: log1p branch)
    "softplus_beta2_threshold5": case(lambda t: F.softplus(t, beta=2, threshold=5),
                                      torch.tensor([[-30.0, -1.0, 2.4, 2.5, 2.6, 10.0]], dtype=DT)),
    "sigmoid": case(torch.sigmoid, x),
    "tanh": case(torch.tanh, x),
    "softmax_dim1": case(lambda t: F.softmax(t, dim=1), matrix),
    "softmax_dim0": case(lambda t: F.softmax(t, dim=0), matrix),
    "log_softmax_dim1": case(lambda t: F.log_softmax(t, dim=1), matrix),
    "log_softmax_dim0": case(lambda t: F.log_softmax(t, dim=0), matrix),
    "softmax_masked": case(lambda t: F.softmax(t, dim=1), masked, second=False),
    "log_softmax_masked": case(lambda t: F.log_softmax(t, dim=1), masked, second=False),
    # The golden values.
    "golden_sigmoid": case(torch.sigmoid, golden, second=False),
    "golden_tanh": case(torch.tanh, golden, second=False),
    "golden_elu": case(F.elu, golden, second=False),
    "golden_silu": case(F.silu, golden, second=False),
    "golden_softmax": case(lambda t: F.softmax(t, dim=1), golden, second=False),
    "golden_leaky_relu_0.2": case(lambda t: F.leaky_relu(t, 0.2), golden, second=False),
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "activations.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", path)
