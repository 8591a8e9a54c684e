#!/usr/bin/python3
"""PyTorch's behaviour on zero-size dimensions, for tests/ops/zero_size_test.cpp.

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/zero_size.py   (writes tests/reference/zero_size.json)

Two parts:
- "refusals": for every op, the kinds of graft::Error the zero-size sweep may meet (a regular expression on
  graft's message) and, for each, a PyTorch call in the same situation with the error PyTorch raises there.
  The script fails if PyTorch does not raise, so every refusal graft is allowed is one PyTorch makes too. A few
  ops have no PyTorch counterpart (graft's own helpers); their entries carry "torch": null and say why.
- "accepted": calls PyTorch answers with empty (or partly empty) results, with their output and gradient
  shapes and values; graft must give the same.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(3)
DT = torch.float64

# op -> [(graft message pattern, PyTorch call in that situation or None, why when None)]
REFUSALS = {
    "masked_softmax": [("cannot be broadcast", "torch.randn(0, 5).masked_fill(~torch.ones(4, 5, dtype=torch.bool), -math.inf).softmax(-1)", None)],
    "scaled_dot_product_attention": [
        ("cannot be broadcast", "torch.randn(0, 0, 3, 5) + torch.zeros(2, 1, 1, 5)", None),
        ("number of key heads \\(0\\)", "torch.randn(1, 4, 3, 2).unflatten(1, (0, -1))", None)],
    "conv1d": [("kernel sizes must be positive", "F.conv1d(torch.randn(2, 3, 5), torch.randn(4, 3, 0))", None),
               ("is larger than the padded input", "F.conv1d(torch.randn(2, 3, 0), torch.randn(4, 3, 3), padding=1)", None),
               ("must be a positive multiple", "F.conv1d(torch.randn(2, 3, 5), torch.randn(0, 3, 3))", None)],
    "conv2d": [("kernel sizes must be positive", "F.conv2d(torch.randn(2, 3, 5, 5), torch.randn(4, 3, 0, 3))", None),
               ("is larger than the padded input", "F.conv2d(torch.randn(2, 3, 0, 5), torch.randn(4, 3, 2, 2))", None),
               ("must be a positive multiple", "F.conv2d(torch.randn(2, 4, 5, 5), torch.randn(0, 2, 3, 3), groups=2)", None)],
    "conv_transpose1d": [("kernel sizes must be positive", "F.conv_transpose1d(torch.randn(2, 4, 5), torch.randn(4, 2, 0))", None),
                         ("must be a positive multiple", "F.conv_transpose1d(torch.randn(2, 0, 5), torch.randn(0, 2, 2), groups=2)", None),
                         ("the output would have size 0", "F.conv_transpose1d(torch.randn(1, 3, 0), torch.randn(3, 2, 3), stride=2, padding=1, output_padding=1)", None)],
    "conv_transpose2d": [("kernel sizes must be positive", "F.conv_transpose2d(torch.randn(2, 4, 5, 5), torch.randn(4, 1, 0, 0))", None),
                         ("must be a positive multiple", "F.conv_transpose2d(torch.randn(1, 0, 3, 3), torch.randn(0, 1, 2, 2), groups=2)", None),
                         ("the output would have size 0", "F.conv_transpose2d(torch.randn(1, 3, 3, 0), torch.randn(3, 2, 3, 3), stride=2, padding=1, output_padding=1)", None)],
    "embedding": [("out of range for 0 embeddings", "F.embedding(torch.tensor([0, 2]), torch.randn(0, 3))", None)],
    "one_hot": [("cannot infer the number of classes", "F.one_hot(torch.empty(0, 0, dtype=torch.long))", None)],
    "unfold": [("only the batch dim may be empty", "F.unfold(torch.randn(2, 0, 5, 5), 2)", None)],
    "fold": [("block positions", "F.fold(torch.randn(2, 8, 0), (3, 3), 2)", None)],
    "index_select": [("out of range for dim", "torch.randn(0, 3).index_select(0, torch.tensor([2]))", None)],
    "index_add": [("out of range for dim", "torch.randn(0, 3).index_add(0, torch.tensor([1]), torch.randn(1, 3))", None)],
    "gather": [("out of range for dim", "torch.randn(3, 0).gather(1, torch.tensor([[1], [0], [2]]))", None),
               ("is larger than input shape", "torch.randn(0, 5).gather(1, torch.zeros(2, 2, dtype=torch.long))", None)],
    "scatter_add": [("out of range for dim", "torch.zeros(3, 0).scatter_add(1, torch.tensor([[1], [0], [2]]), torch.randn(3, 1))", None),
                    ("is larger than (input|src) shape", "torch.zeros(0, 0).scatter_add(1, torch.zeros(2, 2, dtype=torch.long), torch.randn(2, 2))", None)],
    "binary_cross_entropy_with_logits": [("does not broadcast", "F.binary_cross_entropy_with_logits(torch.randn(0), torch.rand(0), pos_weight=torch.ones(2))", None)],
    "nll_loss": [("out of bounds", "F.nll_loss(torch.randn(3, 0), torch.tensor([0, 2, 1]))", None)],
    "cross_entropy": [("out of bounds", "F.cross_entropy(torch.randn(3, 0), torch.tensor([0, 2, 1]))", None)],
    "focal_loss": [("out of bounds", "F.nll_loss(torch.randn(3, 0), torch.tensor([0, 2, 1]))", None)],
    "compute_class_weight": [("empty target", None, "graft's helper (scikit-learn's compute_class_weight); no classes can be counted in an empty target")],
    "bmm": [("batch sizes differ", "torch.bmm(torch.randn(4, 2, 3), torch.randn(0, 3, 2))", None),
            ("expand:", "torch.randn(1, 0, 3).expand(4, 2, 3)", None)],
    "dot": [("tensors have", "torch.dot(torch.randn(0), torch.randn(3))", None),
            ("select: index .* is out of range for dim .* of size 0", "torch.randn(3, 0).select(1, 1)", None)],
    "layer_norm": [("expects an input of shape", "F.layer_norm(torch.randn(3, 0), (4,))", None)],
    "rms_norm": [("expects an input of shape", "F.layer_norm(torch.randn(3, 0), (4,))", None)],
    "batch_norm": [("more than 1 value per channel", "F.batch_norm(torch.randn(1, 3), None, None, training=True)", None)],
    "pad": [("circular padding .* wrap around", "F.pad(torch.randn(2, 0, 0), (2, 0), mode='circular')", None),
            ("reflect padding .* must be smaller than", "F.pad(torch.randn(1, 2, 0, 4), (1, 1, 1, 1), mode='reflect')", None),
            ("replicate cannot pad", "F.pad(torch.randn(3, 2, 0), (1, 1), mode='replicate')", None)],
    "max_pool1d": [("only the batch dim may be empty", "F.max_pool1d(torch.randn(2, 3, 0), 2)", None)],
    "max_pool1d_with_indices": [("only the batch dim may be empty", "F.max_pool1d(torch.randn(1, 0, 6), 2)", None)],
    "max_pool2d": [("only the batch dim may be empty", "F.max_pool2d(torch.randn(1, 0, 4, 4), 2)", None)],
    "max_pool2d_with_indices": [("only the batch dim may be empty", "F.max_pool2d(torch.randn(1, 3, 0, 5), 2)", None)],
    "avg_pool1d": [("only the batch dim may be empty", "F.avg_pool1d(torch.randn(2, 0, 7), 2)", None)],
    "avg_pool2d": [("only the batch dim may be empty", "F.avg_pool2d(torch.randn(1, 0, 4, 4), 2)", None)],
    "adaptive_avg_pool2d": [("only the batch and channel dims may be empty", "F.adaptive_avg_pool2d(torch.randn(2, 2, 0, 5), (3, 2))", None)],
    "adaptive_max_pool2d": [("only the batch dim may be empty", "F.adaptive_max_pool2d(torch.randn(1, 0, 4, 4), 2)", None)],
    "adaptive_max_pool2d_with_indices": [("only the batch dim may be empty", "F.adaptive_max_pool2d(torch.randn(2, 0, 4), 2)", None)],
    "sum": [("expand:", "torch.randn(1, 0).expand(4, 3)", None)],
    "sum_to": [("cannot be summed to", "torch.randn(0, 3).sum_to_size(4, 1)", None)],
    "max": [("cannot reduce over dim .* of size 0", "torch.randn(0, 4).max(0)", None)],
    "min": [("cannot reduce over dim .* of size 0", "torch.randn(0, 4).min(0)", None)],
    "amax": [("cannot reduce over dim .* of size 0", "torch.randn(3, 0).amax(1)", None)],
    "amin": [("cannot reduce over dim .* of size 0", "torch.randn(3, 0).amin(1)", None)],
    "argmax": [("cannot reduce over dim .* of size 0", "torch.randn(3, 0).argmax(1)", None),
               ("argmax of an empty tensor .* without a dim", "torch.randn(0, 4).argmax()", None)],
    "argmin": [("cannot reduce over dim .* of size 0", "torch.randn(3, 0).argmin(1)", None),
               ("argmin of an empty tensor .* without a dim", "torch.randn(0, 4).argmin()", None)],
    "topk": [("is out of range for dim .* of size 0", "torch.randn(3, 0).topk(2)", None)],
    "multinomial": [("has no categories", "torch.multinomial(torch.rand(2, 0), 1)", None)],
    "rnn_layer": [("with T > 0", "torch.nn.LSTM(2, 3)(torch.randn(0, 2, 2))", None),
                  ("expected lengths", "torch.nn.utils.rnn.pack_padded_sequence(torch.randn(4, 0, 2), torch.tensor([3, 2]))", None),
                  ("expected weight_hh of shape", "torch._VF.lstm(torch.randn(4, 2, 2), (torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)), [torch.randn(8, 2), torch.randn(0, 2)], False, 1, 0.0, False, False, False)", None)],
    "lstm_cell": [("expected weight_hh of shape", "torch.lstm_cell(torch.randn(2, 3), (torch.zeros(2, 2), torch.zeros(2, 2)), torch.randn(8, 3), torch.randn(0, 2))", None)],
    "gru_cell": [("expected weight_hh of shape", "torch.gru_cell(torch.randn(2, 3), torch.zeros(2, 2), torch.randn(6, 3), torch.randn(6, 0))", None)],
    "apply_rotary_emb": [("head_dim\\) must be positive and even", None, "graft's rotary embedding rotates pairs of features; a head without features has no pair to rotate (PyTorch has no such op)")],
    "view": [("is invalid for input of size", "torch.randn(2, 0).view(3, 4)", None)],
    "reshape": [("expand:", "torch.randn(0, 1).expand(3, 2)", None)],
    "expand": [("expand:", "torch.randn(0, 1).expand(3, 2)", None)],
    "clone": [("expand:", "torch.randn(0).expand(2, 3)", None)],
    "narrow": [("start .* is out of range for dim .* of size 0", "torch.randn(0, 3).narrow(0, 1, 2)", None)],
    "select": [("index .* is out of range for dim .* of size 0", "torch.randn(0, 3).select(0, 1)", None)],
    "split": [("split sizes .* add up to", "torch.randn(2, 0).split([1, 0, 3, 2], 1)", None)],
    "slice_backward": [("does not fit the slice", None, "graft's internal backward of slice; the shapes it is given are fixed by its forward, so a zeroed gradient no longer fits (PyTorch's slice_backward checks the same)")],
    "select_backward": [("does not fit a slice", None, "graft's internal backward of select; the shapes it is given are fixed by its forward, so a zeroed gradient no longer fits")],
}


def pytorch_error(call):
    try:
        eval(call)
    except Exception as e:  # noqa: BLE001 -- any error PyTorch raises is the verdict
        return str(e).split("\n")[0]
    raise AssertionError(f"PyTorch accepts {call}: graft may not refuse it")


refusals = {}
for op, entries in REFUSALS.items():
    refusals[op] = []
    for pattern, call, why in entries:
        entry = {"graft": pattern, "torch": call}
        if call is None:
            entry["why"] = why
        else:
            entry["pytorch_error"] = pytorch_error(call)
        refusals[op].append(entry)


def enc(t):
    """Shape and values; NaN and infinities as the strings "nan", "inf", "-inf" (JSON has no such numbers)."""
    vals = [float(f"{v:.12g}") for v in t.detach().reshape(-1).tolist()]
    vals = [v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")) for v in vals]
    return {"shape": list(t.shape), "data": vals}


accepted = []


def accept(name, inputs, fn):
    """fn(*inputs) in float64; records the inputs, the output and the gradient of sum(out) in each input."""
    xs = [x.to(DT).requires_grad_(True) for x in inputs]
    y = fn(*xs)
    grads = torch.autograd.grad(y.sum(), xs, allow_unused=True)
    accepted.append({"name": name, "inputs": [enc(x) for x in xs], "output": enc(y),
                     "grads": [enc(g if g is not None else torch.zeros_like(x)) for g, x in zip(grads, xs)]})


r = torch.randn
accept("linear, no input features", [r(3, 0), r(4, 0), r(4)], lambda x, w, b: F.linear(x, w, b))
accept("linear, no output features", [r(3, 5), r(0, 5), r(0)], lambda x, w, b: F.linear(x, w, b))
accept("linear, no rows", [r(0, 5), r(4, 5), r(4)], lambda x, w, b: F.linear(x, w, b))
accept("embedding of dim 0", [r(5, 0)], lambda w: F.embedding(torch.tensor([[1, 2], [4, 1]]), w))
accept("batch_norm without channels", [r(3, 0, 5)], lambda x: F.batch_norm(x, None, None, training=True))
accept("batch_norm of an empty batch", [r(0, 3, 5), r(3), r(3)], lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True))
accept("layer_norm of an empty feature dim", [r(3, 0)], lambda x: F.layer_norm(x, (0,)))
accept("softmax over an empty dim", [r(3, 0)], lambda x: F.softmax(x, -1))
accept("log_softmax of no rows", [r(0, 4)], lambda x: F.log_softmax(x, -1))
accept("matmul with an empty inner dim", [r(2, 3, 0), r(2, 0, 4)], lambda a, b: torch.matmul(a, b))
accept("narrow an empty tensor at an offset", [r(0, 5)], lambda x: x.narrow(1, 2, 2))
accept("select from a tensor with an empty dim", [r(3, 0)], lambda x: x.select(0, 2))
accept("adaptive_avg_pool2d without channels (forward only in PyTorch)", [r(1, 0, 4, 4)],
       lambda x: F.adaptive_avg_pool2d(x, 2).detach() + 0 * x.sum())
# Not here: conv2d without input channels. PyTorch 1.13 returns an empty (1, 0, 3, 3) for an input (1, 0, 4, 4)
# and a weight (3, 0, 2, 2); graft returns the bias broadcast to (1, 3, 3, 3), the sum over no channels plus
# the bias (README, differences from PyTorch).
accept("conv_transpose2d of no samples with an empty output", [r(0, 3, 3, 0), r(3, 2, 3, 3)],
       lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1))
accept("sum over an empty dim", [r(3, 0)], lambda x: x.sum(1))
accept("mean over an empty dim is NaN", [r(3, 0)], lambda x: x.mean(1))
accept("cumsum along an empty dim", [r(0, 3)], lambda x: x.cumsum(0))


def lstm_cell_h0(x, w_ih, w_hh, b_ih, b_hh):
    return torch.lstm_cell(x, (torch.zeros(3, 0, dtype=DT), torch.zeros(3, 0, dtype=DT)), w_ih, w_hh, b_ih, b_hh)[0]


accept("lstm_cell with hidden size 0", [r(3, 2), r(0, 2), r(0, 0), r(0), r(0)], lstm_cell_h0)
accept("lstm_cell with no input features", [r(3, 0), r(8, 0), r(8, 2), r(8), r(8)],
       lambda x, w_ih, w_hh, b_ih, b_hh: torch.lstm_cell(x, (torch.zeros(3, 2, dtype=DT), torch.zeros(3, 2, dtype=DT)),
                                                         w_ih, w_hh, b_ih, b_hh)[0])
accept("gru_cell of no rows", [r(0, 3), r(6, 3), r(6, 2)],
       lambda x, w_ih, w_hh: torch.gru_cell(x, torch.zeros(0, 2, dtype=DT), w_ih, w_hh))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zero_size.json")
with open(out, "w") as f:
    json.dump({"generator": "tests/reference/zero_size.py, torch " + torch.__version__, "refusals": refusals,
               "accepted": accepted}, f, indent=1)
print(f"wrote {out}: {sum(len(v) for v in refusals.values())} refusals, {len(accepted)} accepted calls")
