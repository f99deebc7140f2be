#!/usr/bin/env python3
"""The PyTorch side of clt's measurements (optional: runs where PyTorch is installed).

  bench_torch.py digits [--seed N] [--epochs N] [--init FILE.safetensors] [--threads N] [--json]
      Trains the same 64-128-10 ReLU MLP on the same split, in the same batch order, as clt-train
      with the same seed (the split and orders are reproduced from tools/clt-train.c's splitmix64
      and stratified split), with Adam lr 1e-3, batches of 64, on the CPU. --init starts from the
      weights clt-train saved (clt-train --epochs 0 --save FILE), so the two runs can be compared
      step for step; without it PyTorch initialises its own nn.Linear layers from --seed.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

MASK = (1 << 64) - 1
HERE = os.path.dirname(os.path.abspath(__file__))


class SplitMix64:
    def __init__(self, state):
        self.s = state & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def shuffle(a, rng):
    for i in range(len(a) - 1, 0, -1):
        j = rng.next() % (i + 1)
        a[i], a[j] = a[j], a[i]


def stratified_split(y, n_test, rng, classes):
    n = len(y)
    order = list(range(n))
    shuffle(order, rng)
    test, train = [], []
    want = n_test / n
    for c in range(classes):
        seen = taken = 0
        for i in order:
            if y[i] != c:
                continue
            seen += 1
            if taken < int(np.floor(want * seen + 0.5)) and len(test) < n_test:
                test.append(i)
                taken += 1
            else:
                train.append(i)
    while len(test) < n_test and train:
        test.append(train.pop())
    shuffle(train, rng)
    shuffle(test, rng)
    return train, test


def digits():
    raw = np.frombuffer(open(os.path.join(HERE, "digits.u8"), "rb").read(), dtype=np.uint8).reshape(-1, 65)
    return raw[:, :64].astype(np.float32) / 16.0, raw[:, 64].astype(np.int64)


def train_digits(args):
    torch.set_num_threads(args.threads)
    x, y = digits()
    n = len(y)
    n_test = int(np.floor(n * 0.2 + 0.5))
    rng = SplitMix64(args.seed * 0x2545F4914F6CDD1D + 1)
    tr, te = stratified_split(list(y), n_test, rng, 10)
    xtr, ytr, xte, yte = (torch.tensor(x[tr]), torch.tensor(y[tr]), torch.tensor(x[te]), torch.tensor(y[te]))
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    if args.init:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(args.init))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    brng = SplitMix64(args.seed * 0x9E3779B97F4A7C15 + 7)
    steps, t_train, rows = 0, 0.0, []
    for epoch in range(1, args.epochs + 1):
        perm = list(range(len(tr)))
        shuffle(perm, brng)
        perm = torch.tensor(perm)
        t0 = time.perf_counter()
        total = 0.0
        for s in range(0, len(tr), 64):
            idx = perm[s:s + 64]
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            steps += 1
        dt = time.perf_counter() - t0
        t_train += dt
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        rows.append({"epoch": epoch, "loss": total / len(tr), "test_acc": acc, "seconds": dt})
        if not args.json:
            print("epoch %3d  loss %.4f  test %.1f%%" % (epoch, total / len(tr), 100 * acc))
    summary = {"summary": True, "framework": "pytorch " + torch.__version__, "threads": args.threads,
               "steps": steps, "train_seconds": t_train, "ms_per_step": 1000 * t_train / max(steps, 1),
               "final_loss": rows[-1]["loss"] if rows else None, "test_acc": rows[-1]["test_acc"] if rows else None}
    print(json.dumps(summary) if args.json else
          "pytorch %s, %d thread(s): %d steps in %.2f s (%.3f ms per step); final loss %.4f, test accuracy %.2f%%" %
          (torch.__version__, args.threads, steps, t_train, summary["ms_per_step"], summary["final_loss"],
           100 * summary["test_acc"]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("digits")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--init")
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.cmd == "digits":
        train_digits(args)


if __name__ == "__main__":
    sys.exit(main())
