#!/usr/bin/python3
"""Reference values for graft's convolution, pooling, BatchNorm2d, Dropout2d, Flatten/Unflatten and ZeroPad2d
modules (tests/nn/conv_module_test.cpp and friends), in the format of modules.py (see there): each case holds
the module's repr, its state dict, inputs, outputs, the gradients of sum(v * y) for a random v in the input and
every parameter, and the state dict after the forward passes. Float64 throughout.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/layer_modules.py  (writes layer_modules.json)
"""
import json
import os

import torch
import torch.nn as nn

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def enc(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
            "data": [float(f"{v:.12g}") if t.is_floating_point() else v for v in t.detach().reshape(-1).tolist()]}


def enc_state(module):
    return {k: enc(v) for k, v in module.state_dict().items()}


cases = []


def case(name, module, x, train=False, steps=1):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape))
    module.train(train)
    entry = {"name": name, "repr": repr(module), "state": enc_state(module)}
    inputs = [x] if steps == 1 else x
    outputs = []
    for xi in inputs:
        xi.requires_grad_(True)
        outputs.append(module(xi))
    y, xl = outputs[-1], inputs[-1]
    v = torch.randn(y.shape)
    params = list(module.named_parameters())
    grads = torch.autograd.grad(y, [xl] + [p for _, p in params], v)
    entry.update({"input_grad": enc(grads[0]), "inputs": [enc(xi) for xi in inputs], "outputs": [enc(o) for o in outputs],
                  "v": enc(v), "param_grads": {k: enc(g) for (k, _), g in zip(params, grads[1:])},
                  "state_after": enc_state(module)})
    cases.append(entry)


x = torch.randn(2, 3, 5, 5)
case("Conv2d", nn.Conv2d(3, 4, 3, padding=1), x.clone())
case("Conv2d_strided_grouped", nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2), groups=2, bias=False),
     torch.randn(2, 4, 7, 8))
case("Conv2d_same_reflect", nn.Conv2d(3, 2, (3, 4), padding="same", padding_mode="reflect"), x.clone())
case("Conv2d_circular", nn.Conv2d(3, 2, 3, padding=(1, 2), padding_mode="circular"), x.clone())
case("Conv2d_replicate_unbatched", nn.Conv2d(3, 2, 2, padding=1, padding_mode="replicate"), torch.randn(3, 4, 4))
case("Conv1d", nn.Conv1d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 9))
case("Conv1d_depthwise_same_replicate", nn.Conv1d(4, 4, 4, groups=4, padding="same", padding_mode="replicate"),
     torch.randn(2, 4, 7))
case("ConvTranspose2d", nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), torch.randn(2, 3, 3, 4))
case("ConvTranspose1d_grouped", nn.ConvTranspose1d(2, 4, 3, groups=2, dilation=2, bias=False), torch.randn(1, 2, 5))
case("MaxPool2d", nn.MaxPool2d(2), torch.randn(2, 3, 6, 6))
case("MaxPool2d_ceil", nn.MaxPool2d((3, 2), stride=(2, 1), padding=1, ceil_mode=True), torch.randn(1, 2, 6, 5))
case("MaxPool1d", nn.MaxPool1d(3, 2, dilation=2), torch.randn(2, 2, 9))
case("AvgPool2d", nn.AvgPool2d(2), torch.randn(2, 3, 6, 4))
case("AvgPool2d_padding", nn.AvgPool2d(3, 2, 1, count_include_pad=False, ceil_mode=True), torch.randn(1, 2, 6, 6))
case("AvgPool1d", nn.AvgPool1d(3, padding=1), torch.randn(2, 3, 8))
case("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d((2, 3)), torch.randn(2, 3, 5, 7))
case("AdaptiveMaxPool2d", nn.AdaptiveMaxPool2d(2), torch.randn(2, 2, 5, 5))
case("BatchNorm2d_train", nn.BatchNorm2d(3), [torch.randn(4, 3, 3, 2) * 2 + 1 for _ in range(3)], train=True, steps=3)
case("BatchNorm2d_no_affine_cumulative", nn.BatchNorm2d(3, momentum=None, affine=False),
     [torch.randn(2, 3, 2, 2) + i for i in range(2)], train=True, steps=2)
bn = nn.BatchNorm2d(3, eps=1e-3)
with torch.no_grad():
    bn.running_mean.copy_(torch.randn(3))
    bn.running_var.copy_(torch.rand(3) + 0.5)
    bn.num_batches_tracked.fill_(5)
case("BatchNorm2d_eval", bn, torch.randn(2, 3, 2, 3))
case("Dropout2d_eval", nn.Dropout2d(0.3), torch.randn(2, 3, 2, 2))
case("Flatten", nn.Flatten(), torch.randn(2, 3, 2, 2))
case("Flatten_dims", nn.Flatten(0, 2), torch.randn(2, 3, 2, 2))
case("Unflatten", nn.Unflatten(1, (2, 3)), torch.randn(2, 6, 2))
case("ZeroPad2d", nn.ZeroPad2d(1), torch.randn(2, 2, 3, 3))
case("ZeroPad2d_crop", nn.ZeroPad2d((1, 0, 2, -1)), torch.randn(1, 2, 3, 4))

with open(os.path.join(here, "layer_modules.json"), "w") as f:
    json.dump({"cases": cases, "reprs": {}}, f)
print("wrote layer_modules.json with", len(cases), "cases")
