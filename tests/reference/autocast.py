#!/usr/bin/python3
"""Reference dtypes for graft's autocast (tests/ops/autocast_test.cpp), from PyTorch 1.13's CPU autocast:
the dtype each op returns inside `torch.autocast(device_type="cpu", dtype=torch.bfloat16)` for float32 and
for bfloat16 inputs. graft follows these except where its op lists deliberately differ (softmax, log_softmax,
layer_norm and the reductions run in float32 in graft, as in PyTorch's CUDA autocast); the test names those.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/autocast.py
"""
import json
import os

import torch
import torch.nn.functional as F

NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float64: "float64", torch.int64: "int64"}


def ops(x, w, b, t, y):
    """x: (4, 3) input; w: (5, 3) weight; b: (5,) bias; t: (4, 5) regression target; y: (4,) classes."""
    h = F.linear(x, w, b)
    return {
        "matmul": torch.matmul(x, w.t()),
        "mm": torch.mm(x, w.t()),
        "bmm": torch.bmm(x.unsqueeze(0), w.t().unsqueeze(0)),
        "linear": h,
        "relu": F.relu(h),
        "add": h + t,
        "mul_scalar": h * 2,
        "softmax": F.softmax(h, -1),
        "log_softmax": F.log_softmax(h, -1),
        "layer_norm": F.layer_norm(h, (5,)),
        "sum": h.sum(),
        "mean": h.mean(),
        "mse_loss": F.mse_loss(h, t),
        "l1_loss": F.l1_loss(h, t),
        "smooth_l1_loss": F.smooth_l1_loss(h, t),
        "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits(h, torch.sigmoid(t)),
        "nll_loss": F.nll_loss(F.log_softmax(h.float(), -1).to(h.dtype), y),
        "cross_entropy": F.cross_entropy(h, y),
        "float64 matmul": torch.matmul(x.double(), w.double().t()),
    }


def conv_ops(img, k, kb):
    """img: (2, 3, 6, 6) images; k: (4, 3, 3, 3) kernels; kb: (4,) bias."""
    c = F.conv2d(img, k, kb)
    return {
        "conv2d": c,
        "conv1d": F.conv1d(img[:, :, 0], k[:, :, 0], kb),
        "conv_transpose2d": F.conv_transpose2d(c, k),
        "max_pool2d": F.max_pool2d(c, 2),
        "avg_pool2d": F.avg_pool2d(c, 2),
    }


torch.manual_seed(0)
x, w, b, t = torch.randn(4, 3), torch.randn(5, 3), torch.randn(5), torch.randn(4, 5)
img, k, kb = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3), torch.randn(4)
y = torch.tensor([0, 2, 4, 1])
cases = {}
for inputs in ("float32", "bfloat16"):
    dt = torch.float32 if inputs == "float32" else torch.bfloat16
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        outs = ops(x.to(dt), w.to(dt), b.to(dt), t.to(dt), y)
        outs.update(conv_ops(img.to(dt), k.to(dt), kb.to(dt)))
    cases[inputs] = {name: NAMES[o.dtype] for name, o in outs.items()}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "autocast.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "autocast_bfloat16": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {path}")
