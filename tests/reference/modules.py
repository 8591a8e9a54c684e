#!/usr/bin/python3
"""Reference values for graft's nn modules (tests/nn/*_module_test.cpp), from PyTorch 1.13.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/modules.py  (writes modules.json here).

Each case holds a module's repr, its state dict, an input, the output, and the gradients of sum(v * y) for a
fixed random v with respect to the input and the parameters; training-mode cases also hold the state dict
after the forward passes (BatchNorm1d's running statistics). Everything is float64.

PyTorch 1.13 lacks three of graft's modules; this script defines them the way their sources do:
- RMSNorm as torch 2.x's nn.RMSNorm (y = x * rsqrt(mean(x^2) + eps) * weight, eps=None meaning
  torch.finfo(dtype).eps, repr "RMSNorm((4,), eps=None, elementwise_affine=True)");
- MLP as torchvision.ops.MLP (a Sequential of Linear, [norm], activation, Dropout per hidden layer, then
  Linear, Dropout), which is not installed here;
- FeedForward as the transformer FFN: w2(dropout(act(w1 x))), or LLaMA's SwiGLU w2(dropout(silu(w1 x) * w3 x)).
LayerNorm's bias=False (torch 2.1) is a 1.13 LayerNorm whose bias is set to None.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


class RMSNorm(nn.Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y * self.weight if self.weight is not None else y

    def extra_repr(self):
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(**self.__dict__)


class MLP(nn.Sequential):
    def __init__(self, in_channels, hidden_channels, norm_layer=None, activation_layer=nn.ReLU, bias=True, dropout=0.0):
        layers = []
        in_dim = in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers.append(activation_layer())
            layers.append(nn.Dropout(dropout))
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class FeedForward(nn.Module):
    def __init__(self, d_model, hidden, kind, bias=True, dropout=0.0):
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden, bias=bias)
        self.w2 = nn.Linear(hidden, d_model, bias=bias)
        if kind == "swiglu":
            self.w3 = nn.Linear(d_model, hidden, bias=bias)
        self.act = {"relu": nn.ReLU, "gelu": nn.GELU, "swiglu": nn.SiLU}[kind]()
        self.dropout = nn.Dropout(dropout)
        self.kind = kind

    def forward(self, x):
        h = self.act(self.w1(x))
        if self.kind == "swiglu":
            h = h * self.w3(x)
        return self.w2(self.dropout(h))


def enc(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.detach().reshape(-1).tolist()}


def enc_state(module):
    return {k: enc(v) for k, v in module.state_dict().items()}


def randomize(module):
    """Random parameter values (so a wrong layout or a missing bias shows), keeping buffers."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape))


cases = []


def case(name, module, x, train=False, steps=1, randomize_params=True):
    if randomize_params:
        randomize(module)
    module.train(train)
    entry = {"name": name, "repr": repr(module), "state": enc_state(module)}
    inputs = [x] if steps == 1 else x
    outputs = []
    for xi in inputs:
        if xi.is_floating_point():
            xi.requires_grad_(True)
        outputs.append(module(xi))
    y = outputs[-1]
    xl = inputs[-1]
    v = torch.randn(y.shape)
    params = [(k, p) for k, p in module.named_parameters()]
    wrt = ([xl] if xl.is_floating_point() else []) + [p for _, p in params]
    grads = torch.autograd.grad(y, wrt, v) if wrt else []
    if xl.is_floating_point():
        entry["input_grad"] = enc(grads[0])
        grads = grads[1:]
    entry["inputs"] = [enc(xi) for xi in inputs]
    entry["outputs"] = [enc(o) for o in outputs]
    entry["v"] = enc(v)
    entry["param_grads"] = {k: enc(g) for (k, _), g in zip(params, grads)}
    entry["state_after"] = enc_state(module)
    cases.append(entry)


x34 = torch.randn(3, 4) * 2
case("ReLU", nn.ReLU(), x34.clone())
case("LeakyReLU", nn.LeakyReLU(0.2), x34.clone())
case("ELU", nn.ELU(alpha=0.7), x34.clone())
case("GELU", nn.GELU(), x34.clone())
case("GELU_tanh", nn.GELU(approximate="tanh"), x34.clone())
case("SiLU", nn.SiLU(), x34.clone())
case("Sigmoid", nn.Sigmoid(), x34.clone())
case("Tanh", nn.Tanh(), x34.clone())
case("Softplus", nn.Softplus(), x34.clone())
case("Softplus_beta", nn.Softplus(beta=2, threshold=3), x34.clone())
case("Softplus_float_beta", nn.Softplus(beta=0.5, threshold=2.5), x34.clone())
case("Softmax", nn.Softmax(dim=1), x34.clone())
case("LogSoftmax", nn.LogSoftmax(dim=0), x34.clone())
case("Dropout_eval", nn.Dropout(0.3), x34.clone())

x234 = torch.randn(2, 3, 4) * 3 + 1
case("LayerNorm", nn.LayerNorm(4), x234.clone())
case("LayerNorm_2d_eps", nn.LayerNorm([3, 4], eps=1e-3), x234.clone())
case("LayerNorm_no_affine", nn.LayerNorm(4, elementwise_affine=False), x234.clone())
ln_no_bias = nn.LayerNorm(4)
ln_no_bias.bias = None
case("LayerNorm_no_bias", ln_no_bias, x234.clone())
case("RMSNorm", RMSNorm(4), x234.clone())
case("RMSNorm_2d_eps", RMSNorm([3, 4], eps=1e-6), x234.clone())
case("RMSNorm_no_affine", RMSNorm(4, elementwise_affine=False), x234.clone())

# BatchNorm1d in training: three batches update the running statistics, then (in the C++ test) eval mode
# normalises with them; inputs (N, C) and (N, C, L).
bn_steps = [torch.randn(8, 4) * 2 + 1 for _ in range(3)]
case("BatchNorm1d_train", nn.BatchNorm1d(4), bn_steps, train=True, steps=3)
case("BatchNorm1d_train_3d", nn.BatchNorm1d(4, momentum=0.3), [torch.randn(5, 4, 3) for _ in range(2)], train=True,
     steps=2)
case("BatchNorm1d_cumulative", nn.BatchNorm1d(4, momentum=None), [torch.randn(6, 4) + i for i in range(3)],
     train=True, steps=3)
case("BatchNorm1d_no_affine_untracked", nn.BatchNorm1d(4, affine=False, track_running_stats=False),
     torch.randn(6, 4), train=True)
case("BatchNorm1d_untracked_eval", nn.BatchNorm1d(4, track_running_stats=False), torch.randn(6, 4))
bn_eval = nn.BatchNorm1d(4, eps=1e-3)
with torch.no_grad():
    bn_eval.running_mean.copy_(torch.randn(4))
    bn_eval.running_var.copy_(torch.rand(4) + 0.5)
    bn_eval.num_batches_tracked.fill_(7)
case("BatchNorm1d_eval", bn_eval, torch.randn(5, 4, 2))

ids = torch.tensor([[1, 4, 0, 9], [1, 1, 7, 3]])
emb = nn.Embedding(10, 3, padding_idx=1)
with torch.no_grad():
    emb.weight.copy_(torch.randn(10, 3))
    emb.weight[1].zero_()
case("Embedding", emb, ids.clone(), randomize_params=False)
case("Embedding_plain", nn.Embedding(10, 3), ids.clone())

x5 = torch.randn(4, 5)
case("MLP", MLP(5, [8, 6, 3]), x5.clone())
case("MLP_gelu_nobias", MLP(5, [7, 2], activation_layer=nn.GELU, bias=False, dropout=0.25), x5.clone())
case("MLP_layernorm_tanh", MLP(5, [6, 2], norm_layer=nn.LayerNorm, activation_layer=nn.Tanh), x5.clone())

x8 = torch.randn(2, 3, 8)
case("FeedForward_relu", FeedForward(8, 32, "relu"), x8.clone())
case("FeedForward_gelu_nobias", FeedForward(8, 12, "gelu", bias=False, dropout=0.1), x8.clone())
case("FeedForward_swiglu", FeedForward(8, 32, "swiglu", bias=False), x8.clone())

# A nested model of graft's modules, for printing (its forward is not used).
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RMSNorm(8)
        self.ffn = FeedForward(8, 256, "swiglu", bias=False)  # graft's default hidden for d_model=8
        self.drop = nn.Dropout(0.1)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 8, padding_idx=0)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.head = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, momentum=None), nn.LeakyReLU(0.1),
                                  nn.ELU(), nn.Softplus(beta=2), nn.GELU(approximate="tanh"), nn.Softmax(dim=-1))
        self.mlp = MLP(8, [16, 4], activation_layer=nn.SiLU, dropout=0.5)


# PyTorch prints a module's extra_repr on its own line when the module also has children.
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(2, 2)

    def extra_repr(self):
        return "scale=2.0"


reprs = {"nested_model": repr(Model()), "extra_and_children": repr(Scaled())}

with open(os.path.join(here, "modules.json"), "w") as f:
    json.dump({"cases": cases, "reprs": reprs}, f)
print("wrote modules.json with", len(cases), "cases")
