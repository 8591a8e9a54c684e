#!/usr/bin/python3
"""Reference values for graft's rope_cos_sin / apply_rotary_emb (tests/ops/rope_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/rope.py
It writes tests/reference/rope.json.

The reference is written here in the style of Hugging Face transformers' LlamaRotaryEmbedding, rotate_half
and apply_rotary_pos_emb (rotate-half convention), in float64 throughout (graft computes the angles in
float64 and rounds them to the requested dtype).
"""
import json
import os

import torch

torch.manual_seed(4321)
DT = torch.float64


def rope_cos_sin(head_dim, positions, base=10000.0):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=DT) / head_dim))
    freqs = positions.to(DT)[..., None] * inv_freq  # outer product
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_emb(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def encode(t):
    t = t.detach()
    return {"shape": list(t.shape), "values": [float(v) for v in t.reshape(-1).tolist()]}


cases = []


def case(name, x_shape, head_dim, positions, base=10000.0):
    cos, sin = rope_cos_sin(head_dim, positions, base)
    x = torch.randn(x_shape, dtype=DT, requires_grad=True)
    out = apply_rotary_emb(x, cos, sin)
    grad_out = torch.randn_like(out)
    (grad_x,) = torch.autograd.grad(out, [x], grad_out)
    # The backward is a rotation by -theta.
    assert torch.allclose(grad_x, apply_rotary_emb(grad_out, cos, -sin), atol=1e-12)
    cases.append({"name": name, "head_dim": head_dim, "positions": positions.tolist(), "base": base,
                  "cos": encode(cos), "sin": encode(sin), "x": encode(x), "grad_out": encode(grad_out),
                  "out": encode(out), "grad_x": encode(grad_x)})


case("positions 0..5, (B, H, T, D)", (2, 3, 6, 8), 8, torch.arange(6))
case("scattered positions, base 500", (2, 4, 16), 16, torch.tensor([3, 7, 100, 2047]), base=500.0)
case("long positions, head_dim 4", (5, 4), 4, torch.tensor([0, 1, 4095, 4096, 65535]))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rope.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/rope.py", "torch": torch.__version__, "cases": cases}, f, allow_nan=False)
print(f"wrote {len(cases)} cases to {path}")
