#!/usr/bin/python3
"""Reference values for graft's recurrent ops and modules (tests/ops/rnn_test.cpp, tests/nn/rnn_module_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/rnn.py   (writes tests/reference/rnn.json)

"cells": torch's rnn_tanh_cell, rnn_relu_cell, lstm_cell and gru_cell on random weights, with the gradients of
sum(v * output) (and sum(vc * c') for the LSTM) in every input.
"modules": nn.RNN / nn.LSTM / nn.GRU configurations (layers, directions, batch_first, proj_size, bias, initial
states, variable lengths through pack_padded_sequence / pad_packed_sequence(total_length=T)), each with its repr,
state dict, inputs, outputs and the gradients of sum(v * output) + sum(vh * h_n) (+ sum(vc * c_n)) in the input,
the initial states and every parameter. Float64 throughout.
"""
import json
import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.manual_seed(2024)
torch.set_default_dtype(torch.float64)


def enc(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
            "data": [float(f"{v:.12g}") if t.is_floating_point() else v for v in t.detach().reshape(-1).tolist()]}


cells = []


def cell_case(name, op, gates, batch, bias=True, with_state=True):
    I, H = 3, 4
    x = torch.randn((batch, I) if batch else (I,), requires_grad=True)
    state_shape = (batch, H) if batch else (H,)
    h = torch.randn(state_shape, requires_grad=True) if with_state else None
    c = torch.randn(state_shape, requires_grad=True) if with_state and op == "lstm_cell" else None
    w_ih = torch.randn(gates * H, I, requires_grad=True)
    w_hh = torch.randn(gates * H, H, requires_grad=True)
    b_ih = torch.randn(gates * H, requires_grad=True) if bias else None
    b_hh = torch.randn(gates * H, requires_grad=True) if bias else None
    fn = getattr(torch, op)
    hx_arg = (h if h is not None else torch.zeros(state_shape), c if c is not None else torch.zeros(state_shape))
    if op == "lstm_cell":
        if batch == 0:  # torch.lstm_cell wants batched inputs; the module does the unsqueezing
            y, yc = fn(x.unsqueeze(0), (hx_arg[0].unsqueeze(0), hx_arg[1].unsqueeze(0)), w_ih, w_hh, b_ih, b_hh)
            y, yc = y.squeeze(0), yc.squeeze(0)
        else:
            y, yc = fn(x, hx_arg, w_ih, w_hh, b_ih, b_hh)
    else:
        hh = hx_arg[0]
        y = fn(x.unsqueeze(0) if batch == 0 else x, hh.unsqueeze(0) if batch == 0 else hh, w_ih, w_hh, b_ih, b_hh)
        y = y.squeeze(0) if batch == 0 else y
        yc = None
    v = torch.randn(y.shape)
    loss = (v * y).sum()
    vc = None
    if yc is not None:
        vc = torch.randn(yc.shape)
        loss = loss + (vc * yc).sum()
    named = [("x", x), ("h", h), ("c", c), ("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh)]
    named = [(k, t) for k, t in named if t is not None]
    grads = torch.autograd.grad(loss, [t for _, t in named])
    entry = {"name": name, "op": op, "inputs": {k: enc(t) for k, t in named}, "y": enc(y), "v": enc(v),
             "grads": {k: enc(g) for (k, _), g in zip(named, grads)}}
    if yc is not None:
        entry.update({"yc": enc(yc), "vc": enc(vc)})
    cells.append(entry)


cell_case("rnn_tanh_cell", "rnn_tanh_cell", 1, 2)
cell_case("rnn_relu_cell no bias", "rnn_relu_cell", 1, 3, bias=False)
cell_case("lstm_cell", "lstm_cell", 4, 2)
cell_case("lstm_cell unbatched", "lstm_cell", 4, 0)
cell_case("gru_cell", "gru_cell", 3, 2)
cell_case("gru_cell zero state, no bias", "gru_cell", 3, 2, bias=False, with_state=False)

modules = []


def module_case(name, module, T, B, lengths=None, enforce_sorted=True, with_state=True):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
    lstm = isinstance(module, nn.LSTM)
    D = 2 if module.bidirectional else 1
    P = module.proj_size if lstm and module.proj_size > 0 else module.hidden_size
    shape = (B, T, module.input_size) if module.batch_first else (T, B, module.input_size)
    x = torch.randn(shape, requires_grad=True)
    h0 = torch.randn(module.num_layers * D, B, P, requires_grad=True) if with_state else None
    c0 = torch.randn(module.num_layers * D, B, module.hidden_size, requires_grad=True) if with_state and lstm else None
    hx = ((h0, c0) if lstm else h0) if with_state else None
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=module.batch_first,
                                      enforce_sorted=enforce_sorted)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=T)
    else:
        out, state = module(x, hx)
    h_n, c_n = state if lstm else (state, None)
    v, vh = torch.randn(out.shape), torch.randn(h_n.shape)
    loss = (v * out).sum() + (vh * h_n).sum()
    vc = None
    if lstm:
        vc = torch.randn(c_n.shape)
        loss = loss + (vc * c_n).sum()
    params = list(module.named_parameters())
    wrt = [x] + ([h0] if h0 is not None else []) + ([c0] if c0 is not None else []) + [p for _, p in params]
    grads = list(torch.autograd.grad(loss, wrt))
    entry = {"name": name, "repr": repr(module), "state": {k: enc(t) for k, t in module.state_dict().items()},
             "x": enc(x), "output": enc(out), "h_n": enc(h_n), "v": enc(v), "vh": enc(vh), "grad_x": enc(grads.pop(0))}
    if lengths is not None:
        entry.update({"lengths": lengths, "enforce_sorted": enforce_sorted})
    if h0 is not None:
        entry.update({"h0": enc(h0), "grad_h0": enc(grads.pop(0))})
    if lstm:
        entry.update({"c_n": enc(c_n), "vc": enc(vc)})
        if c0 is not None:
            entry.update({"c0": enc(c0), "grad_c0": enc(grads.pop(0))})
    entry["param_grads"] = {k: enc(g) for (k, _), g in zip(params, grads)}
    modules.append(entry)


module_case("LSTM", nn.LSTM(3, 4), 5, 2)
module_case("LSTM_2_layers_bidirectional_proj_batch_first", nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2,
                                                                    batch_first=True), 4, 2)
module_case("LSTM_packed_bidirectional", nn.LSTM(3, 4, bidirectional=True), 5, 3, lengths=[5, 3, 1])
module_case("LSTM_packed_unsorted_no_state", nn.LSTM(2, 3, num_layers=2), 4, 3, lengths=[2, 4, 1], enforce_sorted=False,
            with_state=False)
module_case("GRU_2_layers_bidirectional", nn.GRU(3, 4, num_layers=2, bidirectional=True), 4, 2)
module_case("GRU_packed_no_bias", nn.GRU(3, 4, bias=False, batch_first=True), 4, 3, lengths=[4, 2, 3], enforce_sorted=False)
module_case("RNN_tanh", nn.RNN(3, 4, num_layers=2), 4, 2)
module_case("RNN_relu_bidirectional_packed", nn.RNN(3, 4, nonlinearity="relu", bidirectional=True), 4, 2, lengths=[4, 2])

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn.json")
with open(path, "w") as f:
    json.dump({"generator": "tests/reference/rnn.py", "torch": torch.__version__, "cells": cells, "modules": modules}, f)
print(f"wrote {len(cells)} cells and {len(modules)} modules to {path}")
