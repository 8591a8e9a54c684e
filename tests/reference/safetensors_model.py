#!/usr/bin/python3
"""Writes a PyTorch model's weights as safetensors (with plain struct/json, as the format specifies) and
the model's output on a fixed input, for tests/nn/serialization_test.cpp.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/safetensors_model.py
"""
import json
import os

import torch

from safetensors_writer import save_safetensors

here = os.path.dirname(os.path.abspath(__file__))
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
