#!/usr/bin/python3
"""Reference strings for graft's tensor printing (tests/graph/print_test.cpp), from PyTorch 1.13's repr.

Each case gives the tensor as values (or an arange divided by a number), dtype and shape, plus how to
derive the printed tensor from it (a view, requires_grad, an op giving a grad_fn). graft prints dtypes as
"dtype=float64" where PyTorch prints "dtype=torch.float64" (and wraps the suffixes by their own length, as
PyTorch's algorithm does); otherwise the strings must match exactly.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/printing.py
"""
import json
import math
import os

import torch
import torch._tensor_str

# graft's dtype suffix is shorter ("dtype=float64"), and PyTorch decides whether a suffix still fits on the
# line from its length: let PyTorch's own _add_suffixes make that decision with graft's suffixes.
_torch_add_suffixes = torch._tensor_str._add_suffixes


def _add_graft_suffixes(tensor_str, suffixes, indent, force_newline):
    return _torch_add_suffixes(tensor_str, [s.replace("dtype=torch.", "dtype=") for s in suffixes], indent,
                               force_newline)


torch._tensor_str._add_suffixes = _add_graft_suffixes

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "bool": torch.bool,
          "bfloat16": torch.bfloat16, "float16": torch.float16}


def encode(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def case(name, values=None, shape=None, dtype="float32", arange_div=None, view=None, grad=None):
    spec = {"name": name, "dtype": dtype}
    if arange_div is not None:
        n, div = arange_div
        base = torch.arange(n, dtype=torch.int64)
        t = base.to(DTYPES[dtype]) if div == 1 else base.to(DTYPES[dtype]) / div
        spec["arange_div"] = [n, div]
    else:
        t = torch.tensor(values, dtype=DTYPES[dtype])
        spec["values"] = [encode(v) for v in t.reshape(-1).tolist()]
    if shape is not None:
        t = t.reshape(shape)
        spec["shape"] = list(shape)
    else:
        spec["shape"] = list(t.shape)
    if view == "t":
        t = t.t()
    elif view == "expand":
        t = t.expand(3, *t.shape)
    elif view == "select":
        t = t.select(1, 1)
    if view:
        spec["view"] = view
    if grad == "leaf":
        t = t.clone().requires_grad_()
    elif grad == "mul":  # x * ones: same values, grad_fn MulBackward0
        t = t.clone().requires_grad_() * torch.ones_like(t)
    elif grad == "sum":
        t = t.clone().requires_grad_().sum()
    if grad:
        spec["grad"] = grad
    spec["expected"] = repr(t).replace("dtype=torch.", "dtype=")
    return spec


nan, inf = float("nan"), float("inf")
cases = [
    # 0-dim
    case("scalar float", 3.5),
    case("scalar float64", 2.5, dtype="float64"),
    case("scalar int", 7, dtype="int64"),
    case("scalar negative int", -12, dtype="int64"),
    case("scalar bool", True, dtype="bool"),
    case("scalar sci", 1e10),
    case("scalar small", 1.5e-7),
    case("scalar zero", 0.0),
    case("scalar nan", nan),
    # 1-D: fixed, integer-valued, scientific
    case("integer valued floats", [1.0, 2.0, 3.0]),
    case("negative integer valued floats", [-1.0, 10.0, -100.0]),
    case("fixed point", [1.5, -2.25, 3.125]),
    case("fixed point widths", [100.5, 2.25, -0.75]),
    case("float32 rounding", [0.1, 1.0 / 3.0, 2.0 / 3.0]),
    case("float64 digits", [0.1, 1.0 / 3.0, 2.0 / 3.0], dtype="float64"),
    case("ties", [0.03125, 0.15625, 1.0]),
    case("sci small", [1e-5, 1.0]),
    case("sci ratio", [1.5, 2500.5]),
    case("sci large", [1.5e9, 2.0]),
    case("sci negative", [1e-5, -2.5e3, 0.0]),
    case("int mode ratio gives sci", [1.0, 2000.0]),
    case("int mode large gives sci", [123456789.0, 1.0]),
    case("int mode just below", [1.0, 1000.0]),
    case("sci three digit exponent", [1e-120, 1.0], dtype="float64"),
    case("all zeros", [0.0, 0.0, 0.0]),
    case("negative zero", [-0.0, 1.0]),
    case("nan and zero", [0.0, nan]),
    case("non-finite", [1.0, -inf, nan]),
    case("non-finite fixed", [1.5, inf, -2.0]),
    case("non-finite only", [nan, inf, -inf]),
    case("float64 suffix", [1.5, 2.0], dtype="float64"),
    case("int64", [1, -20, 300], dtype="int64"),
    case("int64 wide", [1, 1000000000000, -5], dtype="int64"),
    case("bool", [True, False, True], dtype="bool"),
    # N-D
    case("matrix", arange_div=(12, 3), shape=(3, 4)),
    case("int 3-d", arange_div=(24, 1), shape=(2, 3, 4), dtype="int64"),
    case("4-d", arange_div=(16, 1), shape=(2, 2, 2, 2)),
    case("bool matrix", [True, False, False, True], shape=(2, 2), dtype="bool"),
    case("float64 matrix", arange_div=(6, 4), shape=(2, 3), dtype="float64"),
    case("one row", [[1.25, 2.5]]),
    case("column", [[1.0], [2.0], [3.0]]),
    # wrapping at 80 characters
    case("wrapped vector", arange_div=(30, 29)),
    case("wrapped vector int", arange_div=(40, 1), dtype="int64"),
    case("wrapped rows", arange_div=(40, 3), shape=(2, 20)),
    case("wrapped rows 3-d", arange_div=(60, 7), shape=(2, 2, 15), dtype="float64"),
    case("wrapped sci", [1e-6 * (i + 1) * 10 ** (i % 5) for i in range(20)]),
    # summarised: more than 1000 elements
    case("summarised vector", arange_div=(2000, 7)),
    case("summarised vector int", arange_div=(1001, 1), dtype="int64"),
    case("summarised matrix", arange_div=(3000, 3), shape=(30, 100)),
    case("summarised long rows", arange_div=(2000, 1), shape=(2, 1000)),
    case("summarised 3-d", arange_div=(2000, 1), shape=(10, 10, 20), dtype="int64"),
    case("summarised float64", arange_div=(1200, 9), shape=(40, 30), dtype="float64"),
    case("not summarised at 1000", arange_div=(1000, 1), shape=(10, 100), dtype="int64"),
    # empty tensors
    case("empty", [], dtype="float32"),
    case("empty int", [], dtype="int64"),
    case("empty 2-d", [], shape=(2, 0)),
    case("empty 3-d float64", [], shape=(0, 2, 3), dtype="float64"),
    case("empty bool", [], shape=(0, 1), dtype="bool"),
    # views print their logical layout
    case("transposed", arange_div=(6, 1), shape=(2, 3), view="t"),
    case("expanded", [1.5, -2.0], view="expand"),
    case("selected column", arange_div=(12, 2), shape=(3, 4), view="select"),
    # autograd suffixes
    case("requires grad", [1.0, 2.0], grad="leaf"),
    case("requires grad scalar", 2.5, dtype="float64", grad="leaf"),
    case("grad fn", [1.5, 2.0], grad="mul"),
    case("grad fn float64", [1.5, 2.0], dtype="float64", grad="mul"),
    case("grad fn sum", arange_div=(6, 2), shape=(2, 3), grad="sum"),
    case("suffixes wrap", arange_div=(9, 7), dtype="float64", grad="mul"),
    case("suffixes wrap after rows", arange_div=(18, 7), shape=(2, 9), dtype="float64", grad="mul"),
    case("suffixes wrap one by one", arange_div=(7, 7), dtype="float64", grad="leaf"),
    case("suffixes on one line", arange_div=(3, 7), dtype="float64", grad="leaf"),
    case("second suffix wraps early", arange_div=(4, 7), dtype="float64", grad="leaf"),
    case("suffixes just fit", arange_div=(5, 7), dtype="float64", grad="leaf"),
    case("second suffix wraps", arange_div=(5, 7), dtype="float64", grad="mul"),
    case("empty requires grad", [], shape=(2, 0), dtype="float64", grad="leaf"),
    # bfloat16 and float16 print their stored values, with a dtype suffix
    case("scalar bfloat16", 0.1, dtype="bfloat16"),
    case("scalar float16", 0.1, dtype="float16"),
    case("bfloat16 fixed", [0.1, 1.0 / 3.0, -2.5], dtype="bfloat16"),
    case("float16 fixed", [0.1, 1.0 / 3.0, -2.5], dtype="float16"),
    case("bfloat16 integers", [1.0, 257.0, -3.0], dtype="bfloat16"),
    case("bfloat16 sci", [1e10, 1e-5, 3.0], dtype="bfloat16"),
    case("float16 sci", [6e4, 1e-5, 3.0], dtype="float16"),
    case("float16 overflow and subnormal", [1e5, 1e-7, -1e5], dtype="float16"),
    case("bfloat16 non-finite", [nan, inf, -1.5], dtype="bfloat16"),
    case("bfloat16 matrix", arange_div=(12, 7), shape=(3, 4), dtype="bfloat16"),
    case("float16 matrix", arange_div=(12, 7), shape=(3, 4), dtype="float16"),
    case("bfloat16 summarised", arange_div=(2000, 7), shape=(40, 50), dtype="bfloat16"),
    case("float16 wrapped", arange_div=(30, 29), dtype="float16"),
    case("empty bfloat16", [], dtype="bfloat16"),
    case("empty float16 2-d", [], shape=(2, 0), dtype="float16"),
    case("bfloat16 requires grad", [1.0, 2.0], dtype="bfloat16", grad="leaf"),
    case("float16 grad fn", [1.5, 2.0], dtype="float16", grad="mul"),
    case("bfloat16 grad fn sum", arange_div=(6, 2), shape=(2, 3), dtype="bfloat16", grad="sum"),
]

names = [c["name"] for c in cases]
assert len(names) == len(set(names)), "duplicate case names"
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "printing.json")
with open(out, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {out}")
