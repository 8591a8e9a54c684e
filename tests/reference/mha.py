#!/usr/bin/python3
"""Reference values for graft's nn::MultiheadAttention (tests/nn/multihead_attention_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/mha.py
It writes tests/reference/mha.json: for each configuration, the module's constructor arguments, its state
dict, the inputs and masks, the forward arguments, and what torch.nn.MultiheadAttention computes in float64:
the output, the attention weights, and the gradients of the inputs and of every parameter for the loss
sum(out * grad_out) + sum(weights * grad_weights) (grad_out and grad_weights are stored too).

torch 1.13's MultiheadAttention.forward has no `is_causal` (it arrived in 2.0, as a hint that attn_mask is
causal); cases marked "is_causal" give torch the causal bool mask triu(ones(L, S), 1) and graft is called
with is_causal=true and no attn_mask. Every row keeps at least one key: torch 1.13 gives NaN for a fully
masked row, graft gives zeros (tested separately).
"""
import json
import os

import torch

torch.manual_seed(20240601)
DT = torch.float64


def encode(t):
    """{shape, data}; bool tensors as 0/1 with "dtype": "bool"; infinities spelled as strings."""
    t = t.detach()
    out = {"shape": list(t.shape)}
    if t.dtype == torch.bool:
        out["dtype"] = "bool"
        out["data"] = [int(x) for x in t.reshape(-1).tolist()]
        return out
    assert not torch.isnan(t).any(), "NaN in a reference value"
    out["data"] = [("-inf" if x < 0 else "inf") if x in (float("inf"), float("-inf")) else float(x)
                   for x in t.reshape(-1).tolist()]
    return out


def rand(*shape):
    return torch.rand(*shape, dtype=DT) * 2 - 1


def bool_mask(*shape, p=0.35):
    """True (masked out) with probability p, but never a whole row (last dim)."""
    m = torch.rand(*shape) < p
    m[..., 0] = False
    return m


def float_mask(*shape):
    """Additive mask: small values and some -inf entries, never a whole row of -inf."""
    m = rand(*shape)
    m = m.masked_fill(bool_mask(*shape, p=0.25), float("-inf"))
    return m


cases = []


def case(name, E=8, H=2, N=2, L=3, S=5, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None,
         batch_first=False, dropout=0.0, training=True, mode="cross", batched=True, key_padding_mask=None,
         attn_mask=None, need_weights=True, average_attn_weights=True, is_causal=False):
    """mode: "self" (query is key is value), "kv" (key is value) or "cross" (three tensors)."""
    mha = torch.nn.MultiheadAttention(E, H, dropout=dropout, bias=bias, add_bias_kv=add_bias_kv,
                                      add_zero_attn=add_zero_attn, kdim=kdim, vdim=vdim, batch_first=batch_first,
                                      dtype=DT)
    with torch.no_grad():
        for p in mha.parameters():  # random biases too, so that every parameter matters
            p.copy_(rand(*p.shape) * 0.7)
    mha.train(training)
    kd, vd = kdim or E, vdim or E
    if mode == "self":
        S = L
    if batched:
        shape = (lambda n, d: (N, n, d)) if batch_first else (lambda n, d: (n, N, d))
    else:
        shape = lambda n, d: (n, d)
    query = rand(*shape(L, E)).requires_grad_()
    if mode == "self":
        key = value = query
    elif mode == "kv":
        assert kd == vd
        key = value = rand(*shape(S, kd)).requires_grad_()
    else:
        key = rand(*shape(S, kd)).requires_grad_()
        value = rand(*shape(S, vd)).requires_grad_()

    masks = {}
    if key_padding_mask == "bool":
        masks["key_padding_mask"] = bool_mask(*((N, S) if batched else (S,)), p=0.4)
    elif key_padding_mask == "float":
        masks["key_padding_mask"] = float_mask(*((N, S) if batched else (S,)))
    n_heads_batch = N * H if batched else H
    if attn_mask == "bool2d":
        masks["attn_mask"] = bool_mask(L, S)
    elif attn_mask == "float2d":
        masks["attn_mask"] = float_mask(L, S)
    elif attn_mask == "bool3d":
        masks["attn_mask"] = bool_mask(n_heads_batch, L, S)
    elif attn_mask == "float3d":
        masks["attn_mask"] = float_mask(n_heads_batch, L, S)
    torch_attn_mask = masks.get("attn_mask")
    if is_causal:
        assert attn_mask is None and L <= S
        torch_attn_mask = torch.ones(L, S, dtype=torch.bool).triu(1)

    state = {k: encode(v) for k, v in mha.state_dict().items()}
    out, weights = mha(query, key, value, key_padding_mask=masks.get("key_padding_mask"), need_weights=need_weights,
                       attn_mask=torch_attn_mask, average_attn_weights=average_attn_weights)
    grad_out = rand(*out.shape)
    loss = (out * grad_out).sum()
    entry = {}
    if need_weights:
        grad_weights = rand(*weights.shape)
        loss = loss + (weights * grad_weights).sum()
        entry["weights"] = encode(weights)
        entry["grad_weights"] = encode(grad_weights)
    else:
        assert weights is None
    inputs = {"query": query} if mode == "self" else {"query": query, "key": key} if mode == "kv" else \
        {"query": query, "key": key, "value": value}
    grads = torch.autograd.grad(loss, list(inputs.values()) + list(mha.parameters()))
    entry.update({
        "name": name,
        "config": {"embed_dim": E, "num_heads": H, "dropout": dropout, "bias": bias, "add_bias_kv": add_bias_kv,
                   "add_zero_attn": add_zero_attn, "kdim": kd, "vdim": vd, "batch_first": batch_first,
                   "training": training},
        "call": {"mode": mode, "need_weights": need_weights, "average_attn_weights": average_attn_weights,
                 "is_causal": is_causal},
        "state_dict": state,
        "state_order": list(mha.state_dict().keys()),
        "inputs": {k: encode(v) for k, v in inputs.items()},
        "masks": {k: encode(v) for k, v in masks.items()},
        "out": encode(out),
        "grad_out": encode(grad_out),
        "input_grads": {k: encode(g) for k, g in zip(inputs.keys(), grads)},
        "param_grads": {n: encode(g) for (n, _), g in zip(mha.named_parameters(), grads[len(inputs):])},
    })
    cases.append(entry)


# Layouts.
case("seq-first cross attention")
case("batch-first cross attention", batch_first=True)
case("self attention, seq-first", mode="self", L=4)
case("self attention, batch-first", mode="self", L=4, batch_first=True)
case("key is value", mode="kv", batch_first=True)
case("one head", H=1)
case("four heads", E=8, H=4, N=3, L=2, S=3)
case("no bias", bias=False, key_padding_mask="bool")
# Attention masks (True = masked out) and additive masks.
case("bool attn_mask (L, S)", attn_mask="bool2d")
case("float attn_mask (L, S) with -inf", attn_mask="float2d", batch_first=True)
case("bool attn_mask (N*H, L, S)", attn_mask="bool3d")
case("float attn_mask (N*H, L, S)", attn_mask="float3d", batch_first=True)
case("self attention, bool attn_mask (L, S)", mode="self", L=5, attn_mask="bool2d", batch_first=True)
# Key padding.
case("bool key_padding_mask", key_padding_mask="bool")
case("float key_padding_mask", key_padding_mask="float", batch_first=True)
case("bool key_padding_mask + bool attn_mask", key_padding_mask="bool", attn_mask="bool2d")
case("bool key_padding_mask + float attn_mask (N*H, L, S)", key_padding_mask="bool", attn_mask="float3d",
     batch_first=True)
case("bool key_padding_mask + bool attn_mask (N*H, L, S)", key_padding_mask="bool", attn_mask="bool3d",
     mode="self", L=5)
# What is returned.
case("need_weights=False", need_weights=False, attn_mask="bool2d", key_padding_mask="bool")
case("per-head weights", average_attn_weights=False, attn_mask="float2d")
case("per-head weights, self attention, key padding", average_attn_weights=False, mode="self", L=4,
     key_padding_mask="bool", batch_first=True)
# kdim / vdim: separate q/k/v projection weights.
case("kdim and vdim", kdim=6, vdim=4)
case("kdim and vdim, batch-first, masks", kdim=6, vdim=4, batch_first=True, key_padding_mask="bool",
     attn_mask="float3d", average_attn_weights=False)
case("kdim only, need_weights=False", kdim=5, need_weights=False, attn_mask="bool2d")
case("kdim and vdim, no bias", kdim=3, vdim=7, bias=False, attn_mask="bool3d")
# Unbatched (2-D) inputs.
case("unbatched", batched=False)
case("unbatched, key padding (S), attn_mask (H, L, S)", batched=False, key_padding_mask="bool", attn_mask="bool3d")
case("unbatched self attention, float mask (L, S), per head", batched=False, mode="self", L=4, attn_mask="float2d",
     average_attn_weights=False)
case("unbatched, kdim/vdim, need_weights=False", batched=False, kdim=6, vdim=4, need_weights=False,
     key_padding_mask="float")
case("unbatched ignores batch_first", batched=False, batch_first=True, attn_mask="bool2d")
# Modes and dropout.
case("eval mode", training=False, mode="self", L=4, batch_first=True)
case("eval mode with dropout=0.3 is deterministic", training=False, dropout=0.3, attn_mask="bool2d")
# is_causal (see the docstring).
case("is_causal, self attention", is_causal=True, mode="self", L=5, batch_first=True)
case("is_causal, L < S", is_causal=True, L=3, S=5)
case("is_causal + key padding", is_causal=True, mode="self", L=4, key_padding_mask="bool")
case("is_causal, need_weights=False", is_causal=True, mode="self", L=4, need_weights=False)
# Extra key/value rows.
case("add_bias_kv", add_bias_kv=True)
case("add_zero_attn", add_zero_attn=True, batch_first=True)
case("add_bias_kv + add_zero_attn with masks", add_bias_kv=True, add_zero_attn=True, key_padding_mask="bool",
     attn_mask="float3d")
case("add_bias_kv, unbatched, bool mask", add_bias_kv=True, batched=False, attn_mask="bool2d")
case("add_zero_attn, kdim/vdim, need_weights=False", add_zero_attn=True, kdim=6, vdim=4, need_weights=False,
     key_padding_mask="bool")

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mha.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {path}")
