#!/usr/bin/python3
"""Reference values for graft's tensor basics (tests/graph/*_test.cpp), from PyTorch 1.13:
dtype promotion, the layout (shape, strides, offset, contiguity, shared storage) of view chains, and
the values and dtypes of the deterministic factories.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/tensors.py
"""
import json
import os

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool,
          "bfloat16": torch.bfloat16, "float16": torch.float16}
NAMES = {v: k for k, v in DTYPES.items()}


def sample(dtype, zero_dim):
    v = True if dtype == "bool" else 1
    return torch.tensor(v if zero_dim else [v], dtype=DTYPES[dtype])


promotion = []
for a in DTYPES:
    for b in DTYPES:
        entry = {"a": a, "b": b, "promote_types": NAMES[torch.promote_types(DTYPES[a], DTYPES[b])]}
        for a0 in (False, True):
            for b0 in (False, True):
                key = f"result_type_{'0' if a0 else 'n'}{'0' if b0 else 'n'}"
                entry[key] = NAMES[torch.result_type(sample(a, a0), sample(b, b0))]
        promotion.append(entry)

scalar_promotion = []
for a in DTYPES:
    for kind, value in (("bool", True), ("int", 2), ("float", 2.5)):
        scalar_promotion.append({"tensor": a, "scalar": kind,
                                 "result_type": NAMES[torch.result_type(sample(a, False), value)]})


# ---- views: op chains applied to a base tensor ----
def apply(t, op):
    name, *args = op
    if name == "slice":  # slice(dim, start, end, step) as x[..., start:end:step]
        dim, start, end, step = args
        index = [slice(None)] * t.dim()
        index[dim] = slice(start, end, step)
        return t[tuple(index)]
    if name == "mT":
        return t.mT
    if name == "expand":
        return t.expand(*args)
    if name in ("view", "reshape", "permute"):
        return getattr(t, name)(*args)
    if name == "chunk":
        chunks, dim, i = args
        return t.chunk(chunks, dim)[i]
    if name == "split":
        size, dim, i = args
        return t.split(size, dim)[i]
    return getattr(t, name)(*args)


def view_case(name, base_shape, ops, base_dtype="float32"):
    base = torch.arange(1, 1 + torch.Size(base_shape).numel(), dtype=DTYPES[base_dtype]).reshape(base_shape)
    spec = {"name": name, "base_shape": list(base_shape), "ops": [list(op) for op in ops]}
    t = base
    try:
        for op in ops:
            t = apply(t, op)
    except RuntimeError as e:
        spec["error"] = str(e).split("\n")[0]
        return spec
    spec.update({
        "shape": list(t.shape), "strides": list(t.stride()), "offset": t.storage_offset(),
        "contiguous": t.is_contiguous(),
        "shares_storage": t.storage().data_ptr() == base.storage().data_ptr(),
        "values": t.reshape(-1).tolist(),
    })
    return spec


views = [
    view_case("transpose", (2, 3, 4), [("transpose", 0, 2)]),
    view_case("transpose negative dims", (2, 3, 4), [("transpose", -1, -2)]),
    view_case("t", (3, 4), [("t",)]),
    view_case("permute", (2, 3, 4), [("permute", 2, 0, 1)]),
    view_case("narrow", (2, 3, 4), [("narrow", 1, 1, 2)]),
    view_case("narrow last", (2, 3, 4), [("narrow", -1, 3, 1)]),
    view_case("slice with step", (2, 3, 4), [("slice", 2, 1, None, 2)]),
    view_case("slice clamped", (5, 2), [("slice", 0, 2, 100, 1)]),
    view_case("slice negative start", (6,), [("slice", 0, -4, -1, 1)]),
    view_case("slice empty", (6,), [("slice", 0, 4, 2, 1)]),
    view_case("select", (2, 3, 4), [("select", 1, 2)]),
    view_case("select negative", (2, 3, 4), [("select", 0, -1)]),
    view_case("select to 0-dim", (4,), [("select", 0, 3)]),
    view_case("expand", (3, 1), [("expand", 2, 3, 4)]),
    view_case("expand -1", (3, 1), [("expand", -1, 5)]),
    view_case("unsqueeze", (2, 3), [("unsqueeze", 1)]),
    view_case("unsqueeze last", (2, 3), [("unsqueeze", -1)]),
    view_case("unsqueeze 0-dim", (), [("unsqueeze", 0)]),
    view_case("squeeze all", (1, 3, 1, 4), [("squeeze",)]),
    view_case("squeeze dim", (1, 3, 1, 4), [("squeeze", 2)]),
    view_case("squeeze non-1 dim", (1, 3, 1, 4), [("squeeze", 1)]),
    view_case("view", (2, 3, 4), [("view", 6, 4)]),
    view_case("view -1", (2, 3, 4), [("view", -1)]),
    view_case("view of narrowed rows", (4, 3), [("narrow", 0, 1, 2), ("view", 6)]),
    view_case("view splits a dim of a transpose", (4, 6), [("t",), ("view", 2, 3, 4)]),
    view_case("view merges transposed dims (error)", (2, 3, 4), [("transpose", 1, 2), ("view", 2, 12)]),
    view_case("view of a column (error)", (3, 4), [("narrow", 1, 0, 2), ("view", 6)]),
    view_case("reshape views when it can", (2, 3, 4), [("reshape", 4, -1)]),
    view_case("reshape copies a transpose", (2, 3, 4), [("transpose", 0, 1), ("reshape", 6, 4)]),
    view_case("reshape of expanded copies", (3, 1), [("expand", 3, 2), ("reshape", 6)]),
    view_case("flatten", (2, 3, 4), [("flatten", 1)]),
    view_case("flatten of permute copies", (2, 3, 4), [("permute", 2, 1, 0), ("flatten",)]),
    view_case("contiguous of permute copies", (2, 3, 4), [("permute", 1, 2, 0), ("contiguous",)]),
    view_case("contiguous of contiguous is itself", (2, 3), [("contiguous",)]),
    view_case("chunk", (7, 2), [("chunk", 3, 0, 2)]),
    view_case("split", (2, 7), [("split", 3, 1, 1)]),
    view_case("chain", (4, 5, 6), [("permute", 2, 0, 1), ("narrow", 0, 1, 4), ("select", 2, 3), ("t",),
                                   ("unsqueeze", 0), ("expand", 2, 4, 4)]),
    view_case("mT", (2, 3, 4), [("mT",)]),
]


# ---- deterministic factories ----
def values_of(t):
    return {"dtype": NAMES[t.dtype], "shape": list(t.shape), "values": t.reshape(-1).tolist()}


aranges = []
for args in [(5,), (0.5,), (2, 7), (1, 2.5, 0.5), (0, 1, 0.1), (10, 0, -3), (-1.5, 1.5, 0.25), (0, 0),
             (1, 10, 4)]:
    aranges.append({"args": list(args), **values_of(torch.arange(*args))})
aranges.append({"args": [0, 5], "as": "float64", **values_of(torch.arange(0, 5, dtype=torch.float64))})

linspaces = []
for start, end, steps, dtype in [(0, 1, 7, "float32"), (0, 1, 7, "float64"), (-2, 3, 11, "float32"),
                                 (1, 1, 3, "float32"), (5, -5, 15, "float64"), (0, 1, 1, "float32"),
                                 (0, 1, 0, "float32"), (0, 10, 5, "int64"), (0.1, 0.7, 13, "float32")]:
    t = torch.linspace(start, end, steps, dtype=DTYPES[dtype])
    linspaces.append({"start": start, "end": end, "steps": steps, **values_of(t)})

fulls = [
    {"value": 1, **values_of(torch.full((2,), 1))},
    {"value": 1.5, **values_of(torch.full((2,), 1.5))},
    {"value": True, **values_of(torch.full((2,), True))},
]
eyes = [{"n": n, "m": m, **values_of(torch.eye(n, m) if m is not None else torch.eye(n))}
        for n, m in [(3, None), (2, 4), (4, 2), (0, None), (1, 1)]]
tensors = [
    {"kind": "double", **values_of(torch.tensor([1.0, 2.5]))},
    {"kind": "int", **values_of(torch.tensor([1, 2]))},
    {"kind": "bool", **values_of(torch.tensor([True, False]))},
]

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensors.json")
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "promotion": promotion, "scalar_promotion": scalar_promotion,
               "views": views, "arange": aranges, "linspace": linspaces, "full": fulls, "eye": eyes,
               "tensor": tensors}, f, indent=1)
    f.write("\n")
print(f"wrote {out}")
