#!/usr/bin/python3
"""Reference values for graft's scaled_dot_product_attention (tests/ops/attention_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/attention.py
It writes tests/reference/attention.json.

torch 1.13 has no public F.scaled_dot_product_attention (it arrived in 2.0; `scale` in 2.1, `enable_gqa` in
2.5), so `sdpa` below is the "equivalent to" code of the torch 2.5+ documentation, written with torch 1.13
ops, with the softmax of torch 2.5's math path (_safe_softmax: a row where every score is -inf gives zeros,
and its gradient is _softmax_backward_data(grad, result), zero on such rows). Grouped-query attention is
computed as the documentation does, by repeat_interleave of key and value. Where torch 1.13's private
F._scaled_dot_product_attention applies (bool masks, is_causal, default scale), the script checks that
`sdpa` agrees with it.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
DT = torch.float64


class SafeSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = torch.softmax(x, -1)
        masked_rows = torch.isneginf(x).all(-1, keepdim=True)
        out = torch.where(masked_rows, torch.zeros_like(out), out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(-1, keepdim=True))


def sdpa(query, key, value, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
    L, S = query.size(-2), key.size(-2)
    scale_factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(L, S, dtype=query.dtype)
    if is_causal:
        assert attn_mask is None
        temp_mask = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        attn_bias = attn_bias.masked_fill(temp_mask.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn_bias = attn_mask + attn_bias
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    attn_weight = attn_weight + attn_bias
    attn_weight = SafeSoftmax.apply(attn_weight)
    return attn_weight @ value


def encode(t):
    """A tensor as {shape, dtype, values}; JSON has no infinities, so -inf is written as null."""
    if t is None:
        return None
    t = t.detach()
    if t.dtype == torch.bool:
        values = [bool(x) for x in t.reshape(-1).tolist()]
    else:
        assert not torch.isnan(t).any() and not torch.isposinf(t).any()
        values = [None if x == float("-inf") else float(x) for x in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "values": values}


cases = []


def case(name, q_shape, k_shape, v_shape, mask=None, is_causal=False, scale=None, enable_gqa=False,
         check_builtin=False):
    q = torch.randn(q_shape, dtype=DT, requires_grad=True)
    k = torch.randn(k_shape, dtype=DT, requires_grad=True)
    v = torch.randn(v_shape, dtype=DT, requires_grad=True)
    wrt = [q, k, v]
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.clone().requires_grad_(True)
        wrt.append(mask)
    out = sdpa(q, k, v, mask, is_causal, scale, enable_gqa)
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, wrt, grad_out)
    if check_builtin:
        builtin, _ = F._scaled_dot_product_attention(q, k, v, mask, 0.0, False, is_causal)
        assert torch.allclose(builtin, out, atol=1e-12), name
    cases.append({
        "name": name, "query": encode(q), "key": encode(k), "value": encode(v), "attn_mask": encode(mask),
        "is_causal": is_causal, "scale": scale, "enable_gqa": enable_gqa, "grad_out": encode(grad_out),
        "out": encode(out), "grad_query": encode(grads[0]), "grad_key": encode(grads[1]),
        "grad_value": encode(grads[2]), "grad_attn_mask": encode(grads[3]) if len(grads) > 3 else None,
    })


B, H, T, S, E, Ev = 2, 2, 4, 6, 3, 4
case("plain", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), check_builtin=True)
case("no heads dim (3-D)", (B, T, E), (B, S, E), (B, S, Ev), check_builtin=True)
case("2-D", (T, E), (S, E), (S, Ev))
padding = torch.ones(B, 1, 1, S, dtype=torch.bool)
padding[0, ..., 4:] = False
padding[1, ..., 2:] = False
case("bool padding mask (B, 1, 1, S)", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=padding, check_builtin=True)
ts = torch.rand(T, S) < 0.6
ts[:, 0] = True
case("bool mask (T, S)", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=ts, check_builtin=True)
additive = torch.randn(B, 1, T, S, dtype=DT)
additive[0, 0, 1, 3] = float("-inf")
additive[1, 0, 2, :2] = float("-inf")
case("float mask (B, 1, T, S) with -inf entries", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=additive)
case("float mask (T, S)", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=torch.randn(T, S, dtype=DT))
case("causal T < S", (B, H, 4, E), (B, H, 6, E), (B, H, 6, Ev), is_causal=True, check_builtin=True)
case("causal T > S", (B, H, 6, E), (B, H, 4, E), (B, H, 4, Ev), is_causal=True, check_builtin=True)
case("causal T = S", (B, H, 5, E), (B, H, 5, E), (B, H, 5, Ev), is_causal=True, check_builtin=True)
case("scale 0.3", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), scale=0.3)
case("scale with bool mask", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=ts, scale=1.7)
case("gqa 4 query heads, 2 kv heads", (B, 4, T, E), (B, 2, S, E), (B, 2, S, Ev), enable_gqa=True)
case("mqa 6 query heads, 1 kv head", (B, 6, T, E), (B, 1, S, E), (B, 1, S, Ev), enable_gqa=True)
case("gqa 4 query heads, 2 key heads, 1 value head", (B, 4, T, E), (B, 2, S, E), (B, 1, S, Ev), enable_gqa=True)
case("gqa with causal", (B, 4, 5, E), (B, 2, 5, E), (B, 2, 5, Ev), is_causal=True, enable_gqa=True)
gqa_mask = torch.randn(B, 4, T, S, dtype=DT)
case("gqa with per-head float mask", (B, 4, T, E), (B, 2, S, E), (B, 2, S, Ev), mask=gqa_mask, enable_gqa=True)
case("heads broadcast without gqa (key/value with 1 head)", (B, H, T, E), (B, 1, S, E), (B, 1, S, Ev))
fully = torch.ones(T, S, dtype=torch.bool)
fully[2] = False
case("bool mask with a fully masked row", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=fully)
fully_f = torch.zeros(B, 1, T, S, dtype=DT)
fully_f[1, 0, 0] = float("-inf")
case("float mask with a fully -inf row", (B, H, T, E), (B, H, S, E), (B, H, S, Ev), mask=fully_f)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/attention.py", "torch": torch.__version__, "cases": cases}, f, allow_nan=False)
print(f"wrote {len(cases)} cases to {path}")
