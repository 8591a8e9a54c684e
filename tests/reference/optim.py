#!/usr/bin/python3
"""Reference trajectories of torch.optim (PyTorch 1.13) for tests/optim/.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/optim.py
It writes tests/reference/optim.json next to this script:
  problem:     fixed initial parameters W (3x4), b (3), c (2) and data X (5x4), Y (5x3)
  optimizers:  for each configuration, the parameters after every step, in float64 and float32
  schedulers:  get_last_lr() after construction and after every step
  clip:        clip_grad_norm_ totals and clipped gradients, clip_grad_value_ results

The loss of step k is  sum((X @ W.T + b - Y)^2)  (b is left out on odd steps of the "alternating"
configuration, so its gradient is None there and Adam skips it); c never enters the loss, so its gradient
stays None and every optimizer must leave it alone.
"""
import json
import math
import os

import torch

torch.manual_seed(0)
STEPS = 8

problem = {
    "W": torch.randn(3, 4, dtype=torch.float64),
    "b": torch.randn(3, dtype=torch.float64),
    "c": torch.randn(2, dtype=torch.float64),
    "X": torch.randn(5, 4, dtype=torch.float64),
    "Y": torch.randn(5, 3, dtype=torch.float64),
}

# name -> (optimizer class, default kwargs, groups (list of (param names, kwargs)), scheduler or None, options)
CONFIGS = {
    "sgd_plain": ("SGD", {"lr": 0.01}, [(["W", "b", "c"], {})], None, {}),
    "sgd_momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}, [(["W", "b", "c"], {})], None, {}),
    "sgd_dampening": ("SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.5}, [(["W", "b", "c"], {})], None, {}),
    "sgd_nesterov": ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}, [(["W", "b", "c"], {})], None, {}),
    "sgd_weight_decay": ("SGD", {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1}, [(["W", "b", "c"], {})], None, {}),
    "sgd_maximize": ("SGD", {"lr": 0.001, "momentum": 0.9, "maximize": True}, [(["W", "b", "c"], {})], None, {}),
    "adam": ("Adam", {"lr": 0.01}, [(["W", "b", "c"], {})], None, {}),
    "adam_amsgrad": ("Adam", {"lr": 0.05, "amsgrad": True}, [(["W", "b", "c"], {})], None, {}),
    "adam_weight_decay": ("Adam", {"lr": 0.01, "weight_decay": 0.1}, [(["W", "b", "c"], {})], None, {}),
    "adam_betas_eps_maximize": ("Adam", {"lr": 0.001, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True},
                                [(["W", "b", "c"], {})], None, {}),
    "adamw": ("AdamW", {"lr": 0.01}, [(["W", "b", "c"], {})], None, {}),
    "adamw_amsgrad": ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}, [(["W", "b", "c"], {})], None, {}),
    "sgd_groups": ("SGD", {"lr": 0.01, "momentum": 0.9},
                   [(["W"], {}), (["b", "c"], {"lr": 0.05, "momentum": 0.0, "weight_decay": 0.2})], None, {}),
    "adam_groups": ("Adam", {"lr": 0.01},
                    [(["W", "c"], {"betas": (0.5, 0.9), "weight_decay": 0.05}), (["b"], {"lr": 0.1, "amsgrad": True})],
                    None, {}),
    "adam_alternating": ("Adam", {"lr": 0.02}, [(["W", "b", "c"], {})], None, {"alternating": True}),
    "adam_steplr": ("Adam", {"lr": 0.05}, [(["W"], {}), (["b", "c"], {"lr": 0.02})],
                    ("StepLR", {"step_size": 2, "gamma": 0.5}), {}),
    "sgd_cosine": ("SGD", {"lr": 0.02, "momentum": 0.9}, [(["W", "b", "c"], {})],
                   ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.001}), {}),
}


def run_optimizer(cls_name, defaults, groups, scheduler, options, dtype):
    params = {k: problem[k].clone().to(dtype).requires_grad_() for k in ("W", "b", "c")}
    X, Y = problem["X"].to(dtype), problem["Y"].to(dtype)
    cls = getattr(torch.optim, cls_name)
    opt = cls([dict(params=[params[n] for n in names], **kw) for names, kw in groups], **defaults)
    sched = getattr(torch.optim.lr_scheduler, scheduler[0])(opt, **scheduler[1]) if scheduler else None
    trajectory = []
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        out = X @ params["W"].T
        if not (options.get("alternating") and k % 2 == 1):
            out = out + params["b"]
        loss = ((out - Y) ** 2).sum()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        trajectory.append({n: params[n].detach().to(torch.float64).flatten().tolist() for n in ("W", "b", "c")})
    return trajectory


def optimizer_entry(cls_name, defaults, groups, scheduler, options):
    def kwargs(kw):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}

    return {
        "optimizer": cls_name,
        "defaults": kwargs(defaults),
        "groups": [{"params": names, "options": kwargs(kw)} for names, kw in groups],
        "scheduler": {"name": scheduler[0], "args": scheduler[1]} if scheduler else None,
        "alternating": bool(options.get("alternating")),
        "float64": run_optimizer(cls_name, defaults, groups, scheduler, options, torch.float64),
        "float32": run_optimizer(cls_name, defaults, groups, scheduler, options, torch.float32),
    }


def scheduler_entry(make, steps, lrs=(0.1, 0.03)):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = make(opt)
    values = [list(sched.get_last_lr())]
    for _ in range(steps):
        opt.step()
        sched.step()
        values.append(list(sched.get_last_lr()))
    return {"base_lrs": list(lrs), "lrs": values}


SCHEDULERS = {
    "StepLR": ({"step_size": 3, "gamma": 0.5}, 12,
               lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "MultiStepLR": ({"milestones": [2, 5, 5, 9], "gamma": 0.3}, 12,
                    lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    "ExponentialLR": ({"gamma": 0.9}, 12, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "CosineAnnealingLR": ({"T_max": 10, "eta_min": 0.001}, 30,
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
    "LinearLR": ({"start_factor": 0.1, "end_factor": 0.9, "total_iters": 4}, 8,
                 lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=4)),
    # Linear warm-up then cosine: SequentialLR(LinearLR, CosineAnnealingLR), what LinearWarmupCosineLR builds.
    "LinearWarmupCosineLR": ({"warmup_iters": 5, "total_iters": 20, "start_factor": 0.01, "eta_min": 0.0001}, 25,
                             lambda o: torch.optim.lr_scheduler.SequentialLR(
                                 o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=5),
                                     torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=15, eta_min=0.0001)],
                                 milestones=[5])),
}


def clip_entries():
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)]
    out = []
    for dtype in (torch.float64, torch.float32):
        for norm_type in (2.0, 1.0, math.inf, 3.0):
            for max_norm in (1.0, 100.0):
                ps = [torch.zeros_like(x, dtype=dtype, requires_grad=True) for x in grads]
                for p, x in zip(ps, grads):
                    p.grad = x.to(dtype).clone()
                total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
                out.append({"kind": "norm", "dtype": str(dtype).replace("torch.", ""), "norm_type": norm_type,
                            "max_norm": max_norm, "total_norm": total.item(),
                            "clipped": [p.grad.to(torch.float64).flatten().tolist() for p in ps]})
        ps = [torch.zeros_like(x, dtype=dtype, requires_grad=True) for x in grads]
        for p, x in zip(ps, grads):
            p.grad = x.to(dtype).clone()
        torch.nn.utils.clip_grad_value_(ps, 0.5)
        out.append({"kind": "value", "dtype": str(dtype).replace("torch.", ""), "clip_value": 0.5,
                    "clipped": [p.grad.to(torch.float64).flatten().tolist() for p in ps]})
    return {"grads": [x.flatten().tolist() for x in grads], "shapes": [list(x.shape) for x in grads], "cases": out}


def json_safe(x):
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [json_safe(v) for v in x]
    return x


def main():
    result = {
        "torch_version": torch.__version__,
        "steps": STEPS,
        "problem": {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in problem.items()},
        "optimizers": {name: optimizer_entry(*cfg) for name, cfg in CONFIGS.items()},
        "schedulers": {name: dict(args=args, **scheduler_entry(make, steps)) for name, (args, steps, make) in
                       SCHEDULERS.items()},
        "clip": clip_entries(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim.json")
    with open(path, "w") as f:
        json.dump(json_safe(result), f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
