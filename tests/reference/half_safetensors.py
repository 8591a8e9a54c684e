#!/usr/bin/python3
"""A PyTorch model's weights in float16 and bfloat16 as safetensors (F16 and BF16 entries, written with the
plain struct/json writer), their bit patterns, special values (NaN, infinities, subnormals, the largest
finite values), and the model's float32 output after loading the 16-bit weights into a float32 model (what
load_state_dict does), for tests/nn/serialization_test.cpp.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/half_safetensors.py
"""
import json
import os

import torch

from safetensors_writer import save_safetensors

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3, bias=False), torch.nn.Linear(3, 2))
x = torch.randn(6, 5)

specials = [float("nan"), float("inf"), float("-inf"), -0.0, 65504.0, 1e-7, 3.0e38, -2.5]
state = {}
bits = {}
for prefix, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
    for name, t in model.state_dict().items():
        state[f"{prefix}.{name}"] = t.to(dtype)
    state[f"{prefix}.specials"] = torch.tensor(specials).to(dtype)
for name, t in state.items():
    bits[name] = {"shape": list(t.shape), "bits": (t.view(torch.int16).flatten().numpy().astype("uint16")).tolist()}
save_safetensors(state, os.path.join(here, "half_safetensors.safetensors"), {"format": "pt"})

# The 16-bit weights loaded into the float32 model (load_state_dict converts), and the output on x.
outputs = {}
for prefix in ("f16", "bf16"):
    target = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3, bias=False), torch.nn.Linear(3, 2))
    target.load_state_dict({k[len(prefix) + 1:]: v for k, v in state.items()
                            if k.startswith(prefix + ".") and not k.endswith("specials")})
    with torch.no_grad():
        outputs[prefix] = target(x).flatten().tolist()

with open(os.path.join(here, "half_safetensors.json"), "w") as f:
    json.dump({"torch_version": torch.__version__, "tensors": bits, "input": x.flatten().tolist(),
               "input_shape": list(x.shape), "output_shape": [6, 2], "outputs": outputs}, f)
    f.write("\n")
print("wrote half_safetensors.safetensors and half_safetensors.json")
