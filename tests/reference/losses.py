#!/usr/bin/python3
"""Reference values for graft's losses (tests/ops/loss_test.cpp).

Run with Debian's torch 1.13:  /usr/bin/python3 tests/reference/losses.py
It writes tests/reference/losses.json: a list of cases, each with the op's name, its tensor arguments, its
other arguments, a grad_output, the output, and the gradients of sum(output * grad_output) with respect to
every floating argument torch differentiates (input, and target where torch gives it a gradient).

Every loss of torch.nn.functional that graft has, in every reduction, with weights, ignore_index,
probability targets, label smoothing (with weights and ignore_index), and (N, C, d...) inputs. focal_loss
has no torch counterpart: its reference is graft's documented definition (softmax adaptation of
torchvision's sigmoid_focal_loss) written with torch ops.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
DT = torch.float64
REDUCTIONS = ["none", "mean", "sum"]


def enc(t):
    t = t.detach()
    dtype = "int64" if t.dtype == torch.int64 else "float64"
    data = t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def focal_loss(input, target, alpha=1.0, gamma=2.0, reduction="mean"):
    cd = 0 if input.dim() == 1 else 1
    log_pt = F.log_softmax(input, cd).gather(cd, target.unsqueeze(cd)).squeeze(cd)
    loss = (1 - log_pt.exp()) ** gamma * -log_pt
    loss = loss * (alpha[target] if torch.is_tensor(alpha) else alpha)
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


OPS = {
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "smooth_l1_loss": F.smooth_l1_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "nll_loss": F.nll_loss,
    "cross_entropy": F.cross_entropy,
    "focal_loss": focal_loss,
}

cases = []


def case(name, op, tensors, args, grad_wrt=("input",)):
    """tensors: dict of named tensors (float64 or int64); args: dict of other keyword arguments."""
    leaves = {}
    call = {}
    for k, v in tensors.items():
        if v is not None and k in grad_wrt:
            v = v.clone().requires_grad_(True)
            leaves[k] = v
        call[k] = v
    kwargs = dict(args)
    for k, v in call.items():
        if k not in ("input", "target"):
            kwargs[k] = v
    out = OPS[op](call["input"], call["target"], **kwargs)
    go = torch.randn(out.shape, dtype=DT)
    grads = torch.autograd.grad((out * go).sum(), list(leaves.values()), allow_unused=True)
    cases.append({
        "name": name,
        "op": op,
        "tensors": {k: enc(v) for k, v in tensors.items() if v is not None},
        "args": args,
        "grad_output": enc(go),
        "output": enc(out),
        "grads": {k: enc(g) for k, g in zip(leaves.keys(), grads) if g is not None},
    })


def randn(*shape):
    return torch.randn(*shape, dtype=DT)


def classes(high, *shape):
    return torch.randint(0, high, shape)


# ---- regression losses: input and target both get gradients ----
for r in REDUCTIONS:
    x, y = randn(4, 3), randn(4, 3)
    case(f"mse {r}", "mse_loss", {"input": x, "target": y}, {"reduction": r}, ("input", "target"))
    case(f"l1 {r}", "l1_loss", {"input": x, "target": y}, {"reduction": r}, ("input", "target"))
    for beta in (1.0, 0.5, 0.0):
        d = randn(5, 4) * 1.5
        case(f"smooth_l1 beta={beta} {r}", "smooth_l1_loss", {"input": d, "target": randn(5, 4)},
             {"reduction": r, "beta": beta}, ("input", "target"))
case("mse broadcast target", "mse_loss", {"input": randn(4, 3), "target": randn(3)}, {"reduction": "mean"},
     ("input", "target"))
case("l1 3-d", "l1_loss", {"input": randn(2, 3, 2), "target": randn(2, 3, 2)}, {"reduction": "sum"},
     ("input", "target"))

# ---- binary cross-entropy on probabilities; exact 0 and 1 hit the -100 clamp of the logs ----
for r in REDUCTIONS:
    p = torch.rand(4, 3, dtype=DT) * 0.9 + 0.05
    t = torch.rand(4, 3, dtype=DT)
    case(f"bce {r}", "binary_cross_entropy", {"input": p, "target": t}, {"reduction": r}, ("input", "target"))
    case(f"bce weight {r}", "binary_cross_entropy",
         {"input": p, "target": t, "weight": torch.rand(3, dtype=DT) + 0.5}, {"reduction": r}, ("input", "target"))
case("bce hard targets at 0 and 1", "binary_cross_entropy",
     {"input": torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3], dtype=DT), "target": torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=DT)},
     {"reduction": "none"}, ("input",))
case("bce full weight", "binary_cross_entropy",
     {"input": torch.rand(2, 3, dtype=DT) * 0.9 + 0.05, "target": (torch.rand(2, 3) > 0.5).to(DT),
      "weight": torch.rand(2, 3, dtype=DT)}, {"reduction": "sum"}, ("input", "target"))

# ---- binary cross-entropy with logits, including logits far beyond exp's range ----
for r in REDUCTIONS:
    x = randn(4, 3) * 3
    t = torch.rand(4, 3, dtype=DT)
    case(f"bce_logits {r}", "binary_cross_entropy_with_logits", {"input": x, "target": t}, {"reduction": r},
         ("input", "target"))
    case(f"bce_logits weight pos_weight {r}", "binary_cross_entropy_with_logits",
         {"input": x, "target": t, "weight": torch.rand(4, 1, dtype=DT) + 0.5, "pos_weight": torch.rand(3, dtype=DT) * 3},
         {"reduction": r}, ("input", "target"))
case("bce_logits extreme logits", "binary_cross_entropy_with_logits",
     {"input": torch.tensor([-800.0, -100.0, -30.0, 0.0, 30.0, 100.0, 800.0], dtype=DT),
      "target": torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.25], dtype=DT)},
     {"reduction": "none"}, ("input", "target"))
case("bce_logits extreme logits pos_weight", "binary_cross_entropy_with_logits",
     {"input": torch.tensor([-800.0, -100.0, 0.0, 100.0, 800.0], dtype=DT),
      "target": torch.tensor([1.0, 0.0, 1.0, 0.0, 0.75], dtype=DT), "pos_weight": torch.tensor([2.5], dtype=DT)},
     {"reduction": "sum"}, ("input", "target"))

# ---- nll_loss ----
W5 = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0], dtype=DT)
for r in REDUCTIONS:
    lp = F.log_softmax(randn(6, 5), 1)
    t = torch.tensor([0, 4, 2, -100, 1, 4])
    case(f"nll {r}", "nll_loss", {"input": lp, "target": classes(5, 6)}, {"reduction": r})
    case(f"nll weight ignore {r}", "nll_loss", {"input": lp, "target": t, "weight": W5}, {"reduction": r})
    case(f"nll ignore_index in range {r}", "nll_loss", {"input": lp, "target": classes(5, 6)},
         {"reduction": r, "ignore_index": 2})
    case(f"nll (N, C, d) weight {r}", "nll_loss",
         {"input": F.log_softmax(randn(2, 5, 3), 1), "target": torch.tensor([[0, -100, 4], [2, 2, 1]]), "weight": W5},
         {"reduction": r})
    case(f"nll unbatched {r}", "nll_loss", {"input": F.log_softmax(randn(5), 0), "target": torch.tensor(3)},
         {"reduction": r})

# ---- cross_entropy with class indices ----
for r in REDUCTIONS:
    x = randn(6, 5) * 2
    t = classes(5, 6)
    ti = torch.tensor([1, -100, 3, 0, -100, 4])
    case(f"ce {r}", "cross_entropy", {"input": x, "target": t}, {"reduction": r})
    case(f"ce weight {r}", "cross_entropy", {"input": x, "target": t, "weight": W5}, {"reduction": r})
    case(f"ce ignore {r}", "cross_entropy", {"input": x, "target": ti}, {"reduction": r})
    case(f"ce weight ignore {r}", "cross_entropy", {"input": x, "target": ti, "weight": W5}, {"reduction": r})
    for ls in (0.1, 0.3):
        case(f"ce smoothing {ls} {r}", "cross_entropy", {"input": x, "target": t}, {"reduction": r, "label_smoothing": ls})
        case(f"ce smoothing {ls} weight ignore {r}", "cross_entropy", {"input": x, "target": ti, "weight": W5},
             {"reduction": r, "label_smoothing": ls})
    case(f"ce smoothing 0.2 ignore_index in range {r}", "cross_entropy", {"input": x, "target": t, "weight": W5},
         {"reduction": r, "label_smoothing": 0.2, "ignore_index": 3})
    case(f"ce (N, C, d) weight ignore smoothing {r}", "cross_entropy",
         {"input": randn(2, 5, 4), "target": torch.tensor([[0, 4, -100, 2], [1, 1, 3, -100]]), "weight": W5},
         {"reduction": r, "label_smoothing": 0.15})
    case(f"ce (N, C, d1, d2) {r}", "cross_entropy", {"input": randn(2, 3, 2, 3), "target": classes(3, 2, 2, 3)},
         {"reduction": r})
    case(f"ce unbatched smoothing {r}", "cross_entropy", {"input": randn(5), "target": torch.tensor(2)},
         {"reduction": r, "label_smoothing": 0.1})
case("ce large logits", "cross_entropy", {"input": torch.tensor([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 499.0]], dtype=DT),
                                          "target": torch.tensor([2, 2])}, {"reduction": "none"})

# ---- cross_entropy with class probabilities (the target gets a gradient too) ----
for r in REDUCTIONS:
    x = randn(4, 5)
    p = torch.softmax(randn(4, 5), 1)
    case(f"ce probs {r}", "cross_entropy", {"input": x, "target": p}, {"reduction": r}, ("input", "target"))
    case(f"ce probs weight {r}", "cross_entropy", {"input": x, "target": p, "weight": W5}, {"reduction": r},
         ("input", "target"))
    case(f"ce probs weight smoothing {r}", "cross_entropy", {"input": x, "target": p, "weight": W5},
         {"reduction": r, "label_smoothing": 0.2}, ("input", "target"))
    case(f"ce probs (N, C, d) {r}", "cross_entropy",
         {"input": randn(2, 5, 3), "target": torch.softmax(randn(2, 5, 3), 1)}, {"reduction": r}, ("input", "target"))
    case(f"ce probs unbatched {r}", "cross_entropy", {"input": randn(5), "target": torch.softmax(randn(5), 0)},
         {"reduction": r}, ("input", "target"))

# ---- focal loss (graft's definition, see the docstring) ----
for r in REDUCTIONS:
    x = randn(6, 4) * 2
    t = classes(4, 6)
    case(f"focal {r}", "focal_loss", {"input": x, "target": t}, {"reduction": r, "alpha": 1.0, "gamma": 2.0})
    case(f"focal alpha 0.25 gamma 0.5 {r}", "focal_loss", {"input": x, "target": t},
         {"reduction": r, "alpha": 0.25, "gamma": 0.5})
    case(f"focal per-class alpha {r}", "focal_loss",
         {"input": x, "target": t, "alpha": torch.tensor([0.25, 0.5, 1.0, 2.0], dtype=DT)},
         {"reduction": r, "gamma": 1.5})
    case(f"focal (N, C, d) {r}", "focal_loss", {"input": randn(2, 4, 3), "target": classes(4, 2, 3)},
         {"reduction": r, "gamma": 3.0})
# gamma = 0 and alpha = 1 is cross-entropy
xf, tf = randn(5, 3), classes(3, 5)
assert torch.allclose(focal_loss(xf, tf, gamma=0.0), F.cross_entropy(xf, tf))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {out}")
