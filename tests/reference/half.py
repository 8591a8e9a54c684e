#!/usr/bin/python3
"""Reference values for graft's 16-bit floating types (tests/graph/half_test.cpp), from PyTorch 1.13's tensor
conversions (Tensor.to): every bfloat16 and float16 bit pattern converted to float32, and float32 values around
every pattern (the pattern itself, the midpoint to its neighbour of larger magnitude, and the float32 values
just below and above that midpoint) converted to bfloat16 and float16.

65536 patterns times five probes is too much to commit as values, so each probe's results are committed as
FNV-1a digests of blocks of 1024 consecutive patterns (a failing test names the block); special values (NaN
payloads, infinities, overflow and underflow boundaries, double rounding from float64 and int64) are
committed as plain values.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/half.py
"""
import json
import math
import os

import numpy as np
import torch

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
BLOCK = 1024
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv1a_blocks(values, itemsize):
    """FNV-1a 64 of each block of BLOCK values, over their little-endian bytes."""
    raw = np.ascontiguousarray(values).astype(f"<u{itemsize}").tobytes()
    out = []
    step = BLOCK * itemsize
    for start in range(0, len(raw), step):
        h = FNV_OFFSET
        for b in raw[start:start + step]:
            h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
        out.append(f"{h:016x}")
    return out


def bits_as(bits, dtype):
    return torch.from_numpy(bits.astype(np.int16)).view(dtype)


def to_bits16(t):
    return t.view(torch.int16).numpy().astype(np.uint16)


def float_bits(t):
    return t.view(torch.int32).numpy().astype(np.uint32)


def probes(dtype):
    """float32 probes per pattern p (the same construction as half_test.cpp): p's value; the midpoint m between
    p's value and the next pattern's (p + 1, one step up in magnitude; past the largest finite value, one more
    step of the same size); and the float32 neighbours of m below and above. NaN and infinite patterns give
    their own value for every probe."""
    patterns = np.arange(65536, dtype=np.uint32)
    value = bits_as(patterns, dtype).float().numpy().astype(np.float64)
    up = bits_as((patterns + 1) & 0xFFFF, dtype).float().numpy().astype(np.float64)
    down = bits_as((patterns - 1) & 0xFFFF, dtype).float().numpy().astype(np.float64)
    finite = np.isfinite(value)
    step_past_max = value + (value - down)
    nxt = np.where(np.isfinite(up), up, step_past_max)
    with np.errstate(invalid="ignore"):
        mid = np.where(finite, (value + nxt) / 2, value).astype(np.float32)  # exact in float32
    below = np.where(finite, np.nextafter(mid, np.float32(0)), mid).astype(np.float32)
    above = np.where(finite, np.nextafter(mid, np.float32(np.inf) * np.sign(mid + 0.0)), mid).astype(np.float32)
    exact = value.astype(np.float32)
    return {"exact": exact, "midpoint": mid, "below_midpoint": below, "above_midpoint": above}


SPECIAL_FLOAT_BITS = [
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7F800001, 0xFF800001, 0x7FC00000, 0xFFC00000, 0x7FFFFFFF,
    0xFFFFFFFF, 0x7FA00000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x00000001, 0x807FFFFF, 0x3F800000, 0x3F808000,
    0x3F818000, 0x3F808001, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x47800000, 0x33000000, 0x33000001,
    0x33800000, 0x33C00000, 0x387FC000, 0x387FE000, 0x38800000, 0x3C000000, 0x7F7F8000, 0x7F7F7FFF,
]
SPECIAL_DOUBLES = [1 + 2 ** -8 + 2 ** -30, -(1 + 2 ** -8 + 2 ** -30), 1 + 2 ** -11 + 2 ** -30, 0.1, 1e-8, 1e5, 3.4e38,
                   1e39, -1e39, 65519.99, 65520.0, 2.0 ** -25, 2.0 ** -25 * 1.0000001, 1 / 3]
SPECIAL_INTS = [0, 1, -1, 257, 16777217, 65504, 65519, 65520, 2 ** 40 + 1, -(2 ** 53 + 1)]

out = {"torch_version": torch.__version__, "block": BLOCK}
for name, dtype in DTYPES.items():
    patterns = np.arange(65536, dtype=np.uint32)
    entry = {"to_float32_blocks": fnv1a_blocks(float_bits(bits_as(patterns, dtype).float()), 4)}
    for probe, values in probes(dtype).items():
        entry[f"from_{probe}_blocks"] = fnv1a_blocks(to_bits16(torch.from_numpy(values).to(dtype)), 2)
    floats = torch.from_numpy(np.array(SPECIAL_FLOAT_BITS, dtype=np.uint32).view(np.float32))
    entry["from_float32"] = [{"bits": b, "result": int(r)}
                             for b, r in zip(SPECIAL_FLOAT_BITS, to_bits16(floats.to(dtype)))]
    doubles = torch.tensor(SPECIAL_DOUBLES, dtype=torch.float64).to(dtype)
    entry["from_float64"] = [{"value": v, "result": int(r)} for v, r in zip(SPECIAL_DOUBLES, to_bits16(doubles))]
    ints = torch.tensor(SPECIAL_INTS, dtype=torch.int64).to(dtype)
    entry["from_int64"] = [{"value": v, "result": int(r)} for v, r in zip(SPECIAL_INTS, to_bits16(ints))]
    # The other way: 16-bit values to int64 and bool (NaN to int64 is left out: undefined in C++).
    values = bits_as(np.array([0x3FC0, 0xC020, 0x4396, 0x0000, 0x8000, 0x0001], dtype=np.uint32), dtype)
    entry["to_int64"] = [{"bits": int(b), "result": int(r)} for b, r in
                         zip(to_bits16(values), values.to(torch.int64).tolist())]
    entry["to_bool"] = [{"bits": int(b), "result": bool(r)} for b, r in
                        zip(to_bits16(values), values.to(torch.bool).tolist())]
    out[name] = entry

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "half.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {path}")
