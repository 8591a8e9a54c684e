#!/usr/bin/python3
"""Reference values for graft's pre-norm transformer block with grouped-query attention and RoPE, and for
multi-head latent attention (tests/nn/llm_reference_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/llm_block.py
It writes tests/reference/llm_block.json.

torch 1.13 has none of these modules (no RMSNorm, RoPE, GQA or MLA), so they are written here with explicit
ops, the way transformers' LlamaDecoderLayer and DeepseekV2Attention compute them:
- RMSNorm: x * rsqrt(mean(x^2) + eps) * weight
- RoPE: rotate-half convention, angles p * base^(-2i/D) computed in float64
- GQA: key/value heads repeated with repeat_interleave (graft never repeats them), causal softmax
- SwiGLU: w2(silu(w1(x)) * w3(x)) (LLaMA's names: w1 gate, w3 up, w2 down; nn::FeedForward's)
- MLA: the uncached DeepSeek-V2 computation (latent c_kv, per-head up-projections, decoupled RoPE key)
Weights, inputs and an output gradient are drawn here (float64) and stored under graft's state-dict names;
the outputs and the gradients of the input and of every parameter are stored beside them.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(2024)
DT = torch.float64


def enc(t):
    return {"shape": list(t.shape), "values": t.detach().reshape(-1).tolist()}


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_cos_sin(dim, T, base=10000.0):
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos().to(DT), emb.sin().to(DT)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def apply_rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def causal_attention(q, k, v, scale):
    T, S = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) * scale
    mask = torch.ones(T, S, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def param(*shape, scale=0.3):
    return (torch.randn(*shape, dtype=DT) * scale).requires_grad_()


def run(params, inputs, forward):
    x = inputs.clone().requires_grad_()
    out = forward(params, x)
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x] + list(params.values()), grad_out)
    return {
        "state_dict": {n: enc(p) for n, p in params.items()},
        "x": enc(x),
        "out": enc(out),
        "grad_out": enc(grad_out),
        "grad_x": enc(grads[0]),
        "grads": {n: enc(g) for n, g in zip(params.keys(), grads[1:])},
    }


# ---- GQA + RoPE pre-norm block ----
B, T, D, H, HKV, FFN, EPS = 2, 5, 16, 4, 2, 24, 1e-6
HD = D // H
block = {
    "norm1.weight": (1 + 0.1 * torch.randn(D, dtype=DT)).requires_grad_(),
    "attn.q_proj.weight": param(H * HD, D), "attn.q_proj.bias": param(H * HD),
    "attn.k_proj.weight": param(HKV * HD, D), "attn.k_proj.bias": param(HKV * HD),
    "attn.v_proj.weight": param(HKV * HD, D), "attn.v_proj.bias": param(HKV * HD),
    "attn.o_proj.weight": param(D, H * HD), "attn.o_proj.bias": param(D),
    "norm2.weight": (1 + 0.1 * torch.randn(D, dtype=DT)).requires_grad_(),
    # drawn in the order gate (w1), up (w3), down (w2)
    "ffn.w1.weight": param(FFN, D), "ffn.w3.weight": param(FFN, D), "ffn.w2.weight": param(D, FFN),
}


def block_forward(p, x):
    n = rms_norm(x, p["norm1.weight"], EPS)
    q = F.linear(n, p["attn.q_proj.weight"], p["attn.q_proj.bias"]).view(B, T, H, HD).transpose(1, 2)
    k = F.linear(n, p["attn.k_proj.weight"], p["attn.k_proj.bias"]).view(B, T, HKV, HD).transpose(1, 2)
    v = F.linear(n, p["attn.v_proj.weight"], p["attn.v_proj.bias"]).view(B, T, HKV, HD).transpose(1, 2)
    cos, sin = rope_cos_sin(HD, T)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    k, v = k.repeat_interleave(H // HKV, 1), v.repeat_interleave(H // HKV, 1)
    a = causal_attention(q, k, v, 1 / math.sqrt(HD)).transpose(1, 2).reshape(B, T, H * HD)
    h = x + F.linear(a, p["attn.o_proj.weight"], p["attn.o_proj.bias"])
    n2 = rms_norm(h, p["norm2.weight"], EPS)
    ffn = F.linear(F.silu(F.linear(n2, p["ffn.w1.weight"])) * F.linear(n2, p["ffn.w3.weight"]), p["ffn.w2.weight"])
    return h + ffn


gqa_case = run(block, torch.randn(B, T, D, dtype=DT), block_forward)
gqa_case["config"] = {"d_model": D, "num_heads": H, "num_kv_heads": HKV, "ffn_hidden": FFN, "norm_eps": EPS}

# ---- multi-head latent attention (DeepSeek-V2), with query compression ----
MD, MH, DC, DQ, DN, DR, DV = 16, 2, 6, 5, 4, 2, 3
mla = {
    "q_a_proj.weight": param(DQ, MD),
    "q_a_layernorm.weight": (1 + 0.1 * torch.randn(DQ, dtype=DT)).requires_grad_(),
    "q_b_proj.weight": param(MH * (DN + DR), DQ),
    "kv_a_proj_with_mqa.weight": param(DC + DR, MD),
    "kv_a_layernorm.weight": (1 + 0.1 * torch.randn(DC, dtype=DT)).requires_grad_(),
    "kv_b_proj.weight": param(MH * (DN + DV), DC),
    "o_proj.weight": param(MD, MH * DV),
}


def mla_forward(p, x):
    q = F.linear(rms_norm(F.linear(x, p["q_a_proj.weight"]), p["q_a_layernorm.weight"], EPS), p["q_b_proj.weight"])
    q = q.view(B, T, MH, DN + DR).transpose(1, 2)
    q_nope, q_pe = torch.split(q, [DN, DR], dim=-1)
    compressed_kv = F.linear(x, p["kv_a_proj_with_mqa.weight"])
    compressed_kv, k_pe = torch.split(compressed_kv, [DC, DR], dim=-1)
    k_pe = k_pe.view(B, T, 1, DR).transpose(1, 2)
    kv = F.linear(rms_norm(compressed_kv, p["kv_a_layernorm.weight"], EPS), p["kv_b_proj.weight"])
    kv = kv.view(B, T, MH, DN + DV).transpose(1, 2)
    k_nope, value = torch.split(kv, [DN, DV], dim=-1)
    cos, sin = rope_cos_sin(DR, T)
    q_pe, k_pe = apply_rope(q_pe, cos, sin), apply_rope(k_pe, cos, sin)
    query = torch.cat([q_nope, q_pe], -1)
    key = torch.cat([k_nope, k_pe.expand(B, MH, T, DR)], -1)
    a = causal_attention(query, key, value, (DN + DR) ** -0.5).transpose(1, 2).reshape(B, T, MH * DV)
    return F.linear(a, p["o_proj.weight"])


mla_case = run(mla, torch.randn(B, T, MD, dtype=DT), mla_forward)
mla_case["config"] = {"d_model": MD, "num_heads": MH, "kv_lora_rank": DC, "q_lora_rank": DQ, "qk_nope_head_dim": DN,
                      "qk_rope_head_dim": DR, "v_head_dim": DV, "norm_eps": EPS}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llm_block.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/llm_block.py", "torch": torch.__version__, "gqa_rope_block": gqa_case,
               "mla": mla_case}, f, allow_nan=False)
print(f"wrote {path}")
