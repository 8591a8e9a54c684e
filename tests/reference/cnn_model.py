#!/usr/bin/python3
"""A small PyTorch CNN (Conv2d, BatchNorm2d with running statistics, ReLU, MaxPool2d, a grouped Conv2d with
padding='same', AdaptiveAvgPool2d, Flatten, Linear) whose state dict is saved as safetensors, with its
eval-mode output on a fixed input: tests/nn/layer_weights_test.cpp loads the file into the same model built
from graft's modules and must reproduce the output.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/cnn_model.py
(writes cnn_model.safetensors and cnn_model.json here)
"""
import json
import os

import torch
import torch.nn as nn

from safetensors_writer import save_safetensors

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(5)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(4, 6, 3, padding="same", groups=2, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2)),
                      nn.Flatten(), nn.Linear(24, 3))
with torch.no_grad():  # training-mode passes give BatchNorm2d running statistics worth loading
    for _ in range(3):
        model(torch.randn(8, 1, 8, 8) * 2 + 0.5)
model.eval()
x = torch.randn(2, 1, 8, 8)
with torch.no_grad():
    y = model(x)
save_safetensors(model.state_dict(), os.path.join(here, "cnn_model.safetensors"), {"format": "pt"})
with open(os.path.join(here, "cnn_model.json"), "w") as f:
    json.dump({"input": x.flatten().tolist(), "input_shape": list(x.shape), "output": y.flatten().tolist(),
               "output_shape": list(y.shape), "keys": list(model.state_dict().keys())}, f)
print("wrote cnn_model.safetensors and cnn_model.json")
