#!/usr/bin/python3
"""Reference values for tests/ops/normalization_test.cpp, from PyTorch 1.13 (Debian's python3-torch).

Run with /usr/bin/python3: writes normalization.json next to this script. Gradients are of sum(v * y)
for a fixed random v. PyTorch 1.13 has no rms_norm: its references are computed from torch 2.x's
documented formula y = x / sqrt(mean(x^2) + eps) * weight, eps defaulting to torch.finfo(dtype).eps.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def grads(y, inputs):
    v = torch.randn(y.shape, dtype=DT)
    gs = torch.autograd.grad(y, [t for t in inputs if t is not None], v)
    return v, gs


def layer_norm_case(shape, normalized_shape, affine, eps=1e-5):
    x = (torch.randn(shape, dtype=DT) * 3 + 1).requires_grad_(True)
    w = (torch.randn(normalized_shape, dtype=DT)).requires_grad_(True) if affine else None
    b = (torch.randn(normalized_shape, dtype=DT)).requires_grad_(True) if affine else None
    y = F.layer_norm(x, normalized_shape, w, b, eps)
    v, gs = grads(y, [x, w, b])
    out = {"x": enc(x), "normalized_shape": list(normalized_shape), "eps": eps, "y": enc(y), "v": enc(v), "gx": enc(gs[0])}
    if affine:
        out.update({"w": enc(w), "b": enc(b), "gw": enc(gs[1]), "gb": enc(gs[2])})
    return out


def rms_norm_reference(x, normalized_shape, w, eps):
    dims = tuple(range(-len(normalized_shape), 0))
    y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
    return y * w if w is not None else y


def rms_norm_case(x, normalized_shape, affine, eps):
    x = x.clone().requires_grad_(True)
    w = (torch.randn(normalized_shape, dtype=DT)).requires_grad_(True) if affine else None
    y = rms_norm_reference(x, normalized_shape, w, eps)
    v, gs = grads(y, [x, w])
    out = {"x": enc(x), "normalized_shape": list(normalized_shape), "eps": eps, "y": enc(y), "v": enc(v), "gx": enc(gs[0])}
    if affine:
        out.update({"w": enc(w), "gw": enc(gs[1])})
    return out


def batch_norm_case(shape, momentum, steps=3, eps=1e-5):
    """Several training steps (outputs and running statistics after each), then eval, with gradients."""
    c = shape[1]
    running_mean = torch.randn(c, dtype=DT) * 0.1
    running_var = torch.rand(c, dtype=DT) + 0.5
    w = torch.randn(c, dtype=DT).requires_grad_(True)
    b = torch.randn(c, dtype=DT).requires_grad_(True)
    out = {"momentum": momentum, "eps": eps, "running_mean0": enc(running_mean), "running_var0": enc(running_var),
           "w": enc(w), "b": enc(b), "train": []}
    for step in range(steps):
        x = (torch.randn(shape, dtype=DT) * (step + 1) + step).requires_grad_(True)
        y = F.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=momentum, eps=eps)
        v, (gx, gw, gb) = grads(y, [x, w, b])
        out["train"].append({"x": enc(x), "y": enc(y), "v": enc(v), "gx": enc(gx), "gw": enc(gw), "gb": enc(gb),
                             "running_mean": enc(running_mean), "running_var": enc(running_var)})
    x = (torch.randn(shape, dtype=DT) * 2).requires_grad_(True)
    y = F.batch_norm(x, running_mean, running_var, w, b, training=False, momentum=momentum, eps=eps)
    v, (gx, gw, gb) = grads(y, [x, w, b])
    out["eval"] = {"x": enc(x), "y": enc(y), "v": enc(v), "gx": enc(gx), "gw": enc(gw), "gb": enc(gb)}
    return out


small = torch.randn(3, 4, dtype=DT) * 1e-4  # mean(x^2) ~ 1e-8: float32's eps (1.2e-7) dominates it
cases = {
    "layer_norm_last_dim": layer_norm_case((2, 3, 4), [4], affine=True),
    "layer_norm_two_dims": layer_norm_case((2, 3, 4), [3, 4], affine=True),
    "layer_norm_no_affine": layer_norm_case((5, 6), [6], affine=False, eps=1e-3),
    "rms_norm_last_dim": rms_norm_case(torch.randn(2, 3, 4, dtype=DT) * 2, [4], affine=True, eps=1e-6),
    "rms_norm_two_dims_no_weight": rms_norm_case(torch.randn(2, 3, 4, dtype=DT), [3, 4], affine=False, eps=1e-5),
    "rms_norm_small_default_eps_float32": rms_norm_case(small, [4], affine=False, eps=torch.finfo(torch.float32).eps),
    "rms_norm_small_default_eps_float64": rms_norm_case(small, [4], affine=False, eps=torch.finfo(torch.float64).eps),
    "batch_norm_2d": batch_norm_case((6, 3), momentum=0.1),
    "batch_norm_3d": batch_norm_case((4, 3, 5), momentum=0.3),
    "batch_norm_4d": batch_norm_case((3, 2, 3, 4), momentum=0.2),
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "normalization.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
print("wrote", path)
