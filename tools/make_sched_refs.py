#!/usr/bin/env python3
"""PyTorch's learning-rate sequences for StepLR, CosineAnnealingLR and LinearLR, for
tests/test_train_utils.c.

Writes tests/fixtures/sched_refs.txt, one line per case:
  KIND BASE_LR A B C STEPS LR_0 LR_1 ... LR_STEPS
KIND step (A step_size, B gamma), cosine (A T_max, B eta_min), linear (A start_factor,
B end_factor, C total_iters); LR_0 is the lr right after the scheduler is made, LR_i after i
calls of scheduler.step() (each after an optimizer.step(), as in a training loop).
Run: python3 tools/make_sched_refs.py > tests/fixtures/sched_refs.txt
"""
import warnings

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, StepLR

warnings.simplefilter("ignore")
CASES = [
    ("step", 0.1, 3, 0.5, 0, 10),
    ("step", 0.05, 1, 0.9, 0, 7),
    ("cosine", 0.1, 5, 0.0, 0, 23),   # past T_max: the cosine goes back up, as PyTorch's
    ("cosine", 0.3, 7, 0.01, 0, 30),
    ("linear", 0.1, 1 / 3, 1.0, 5, 8),
    ("linear", 0.2, 0.25, 0.5, 4, 6),
    ("linear", 0.01, 1.0, 0.1, 3, 5),
]

for kind, lr, a, b, c, steps in CASES:
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    if kind == "step":
        s = StepLR(opt, step_size=a, gamma=b)
    elif kind == "cosine":
        s = CosineAnnealingLR(opt, T_max=a, eta_min=b)
    else:
        s = LinearLR(opt, start_factor=a, end_factor=b, total_iters=c)
    seq = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        s.step()
        seq.append(opt.param_groups[0]["lr"])
    print(kind, repr(lr), repr(float(a)), repr(float(b)), c, steps, " ".join(repr(float(x)) for x in seq))
