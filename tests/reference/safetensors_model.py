#!/usr/bin/python3
"""Writes a PyTorch model's weights as safetensors (with plain struct/json, as the format specifies) and
the model's output on a fixed input, for tests/nn/serialization_test.cpp.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/safetensors_model.py
"""
import json
import os
import struct

import torch

here = os.path.dirname(os.path.abspath(__file__))
NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bool: "BOOL"}


def save_safetensors(tensors, path, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3, bias=False), torch.nn.Linear(3, 2))
x = torch.randn(6, 5)
with torch.no_grad():
    y = model(x)
state = model.state_dict()
state["counts"] = torch.arange(4, dtype=torch.int64)  # other dtypes travel too
state["mask"] = torch.tensor([True, False, True])
save_safetensors(state, os.path.join(here, "safetensors_model.safetensors"), {"format": "pt"})
with open(os.path.join(here, "safetensors_model.json"), "w") as f:
    json.dump({"input": x.flatten().tolist(), "input_shape": list(x.shape), "output": y.flatten().tolist(),
               "output_shape": list(y.shape)}, f)
print("wrote safetensors_model.safetensors and safetensors_model.json")
