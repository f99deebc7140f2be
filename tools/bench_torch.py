#!/usr/bin/env python3
"""The PyTorch side of clt's measurements (optional: runs where PyTorch is installed).

  bench_torch.py digits [--model mlp|cnn|transformer] [--seed N] [--epochs N] [--init FILE.safetensors]
                        [--threads N] [--double] [--json]
      Trains the same model (clt-train --model, tools/models.c) on the same split, in the same
      batch order, as clt-train with the same seed (the split and orders are reproduced from
      tools/clt-train.c's splitmix64 and stratified split), with Adam lr 1e-3, batches of 64, on
      the CPU. --init starts from the weights clt-train saved (clt-train --model M --epochs 0
      --save FILE), so the two runs can be compared step for step; without it PyTorch
      initialises its own layers from --seed. --double trains in float64 (model.double(), as
      clt-train --precision fp64), where the two libraries' rounding no longer drives the runs
      apart.

  bench_torch.py bench [--clt-bench PATH | --clt-json FILE] [--device SPEC] [--torch-device cpu|cuda|auto]
                       [--quick] [--threads N] [--json | --tsv]
      Runs clt-bench --json on one device (or reads the JSON it wrote), then the same workloads in
      PyTorch, in the same run, and prints both with clt/PyTorch (above 1: clt is faster). Timing
      as clt-bench: the median of five samples of at least 0.2 s (0.01 s with --quick). PyTorch
      runs on the CPU, or on CUDA (--torch-device cuda; auto takes CUDA where PyTorch has it),
      synchronised after each batch of calls, with TF32 off (clt computes in full FP32). Only the
      sections clt-bench measured run. --tsv prints one line per PyTorch figure, section, name,
      n and value separated by tabs: what clt-bench reads to print PyTorch's column itself.
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


class Block(torch.nn.Module):
    """A pre-norm transformer block, as tools/models.c's: h + proj(attention(ln1(h))), then
    h + fc2(gelu(fc1(ln2(h))))."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, 4 * d)
        self.fc2 = torch.nn.Linear(4 * d, d)

    def forward(self, h):
        b, t, d = h.shape
        q, k, v = (x.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for x in self.qkv(self.ln1(h)).split(d, -1))
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        h = h + self.proj(a)
        return h + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(h))))


class Transformer(torch.nn.Module):
    """The 8 rows of an 8x8 image as 8 tokens of 8 pixels: a linear embedding to d plus a learned
    position embedding, pre-norm blocks, layer norm, the mean over tokens, a linear classifier."""

    def __init__(self, d=32, heads=4, blocks=2, classes=10):
        super().__init__()
        self.embed = torch.nn.Linear(8, d)
        self.pos = torch.nn.Parameter(torch.empty(8, d))
        torch.nn.init.normal_(self.pos, std=0.02)
        self.blocks = torch.nn.ModuleList([Block(d, heads) for _ in range(blocks)])
        self.norm = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, classes)

    def forward(self, x):
        h = self.embed(x.reshape(-1, 8, 8)) + self.pos
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.norm(h).mean(1))


def make_model(name):
    """clt-train --model's networks (tools/models.c), with the same state_dict names."""
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(128, 10))
    return Transformer()


def load_safetensors(path):
    """A safetensors file's F32/F64 tensors (what clt-train --save writes), without the
    safetensors package: an 8-byte header length, a JSON header, the data."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64}[e["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(data[lo:hi], dtype=dt).reshape(e["shape"]).copy())
    return out


def state_dict_for(model, tensors):
    """tensors keyed by clt-train's names; the cnn's nn.Unflatten at item 0 shifts the
    nn.Sequential indices by one (clt-train names the layers as the model without it)."""
    if isinstance(model, torch.nn.Sequential) and isinstance(model[0], torch.nn.Unflatten):
        return {"%d.%s" % (int(k.split(".")[0]) + 1, k.split(".", 1)[1]): v for k, v in tensors.items()}
    return tensors


def train_digits(args):
    torch.set_num_threads(args.threads)
    x, y = digits()
    n = len(y)
    n_test = int(np.floor(n * 0.2 + 0.5))
    rng = SplitMix64(args.seed * 0x2545F4914F6CDD1D + 1)
    tr, te = stratified_split(list(y), n_test, rng, 10)
    xtr, ytr, xte, yte = (torch.tensor(x[tr]), torch.tensor(y[tr]), torch.tensor(x[te]), torch.tensor(y[te]))
    torch.manual_seed(args.seed)
    model = make_model(args.model)
    if args.init:
        model.load_state_dict(state_dict_for(model, load_safetensors(args.init)))
    if args.double:
        model.double()
        xtr, xte = xtr.double(), xte.double()
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
    # as clt-train: the median epoch after the first, per step
    per_epoch = (len(tr) + 63) // 64
    later = sorted(r["seconds"] for r in rows[1:])
    steady = 1000 * later[(len(later) - 1) // 2] / per_epoch if later else 1000 * t_train / max(steps, 1)
    summary = {"summary": True, "framework": "pytorch " + torch.__version__, "model": args.model, "threads": args.threads,
               "steps": steps, "train_seconds": t_train, "ms_per_step": 1000 * t_train / max(steps, 1),
               "ms_per_step_after_first_epoch": steady,
               "final_loss": rows[-1]["loss"] if rows else None, "test_acc": rows[-1]["test_acc"] if rows else None}
    print(json.dumps(summary) if args.json else
          "pytorch %s, %d thread(s): %d steps in %.2f s (%.3f ms per step, %.3f after the first epoch); "
          "final loss %.4f, test accuracy %.2f%%" %
          (torch.__version__, args.threads, steps, t_train, summary["ms_per_step"], steady, summary["final_loss"],
           100 * summary["test_acc"]))


def no_sync():
    pass


SYNC = no_sync  # torch.cuda.synchronize when the workloads run on CUDA


def measure(fn, min_time):
    """Median seconds per call of fn, as tools/clt-bench.c's measure(): queued device work is
    waited for after each batch of calls."""
    fn()
    fn()
    SYNC()
    samples = []
    reps = 1
    for _ in range(5):
        while True:
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            SYNC()
            dt = time.perf_counter() - t0
            if dt >= min_time or reps > (1 << 30):
                break
            reps *= int(min(16, max(2, min_time / dt * 1.2))) if dt > 0 else 16
        samples.append(dt / reps)
    return sorted(samples)[2]


def torch_workloads(quick, min_time, dev="cpu", sections=None):
    """The PyTorch figures keyed (section, name, n), in clt-bench's units, on device dev; only
    those of the named sections (all when None)."""
    out = {}
    torch.manual_seed(1)

    def want(section):
        return sections is None or section in sections

    def rand(*shape):
        return torch.rand(*shape, device=dev)
    top = 1000000 if quick else 10000000
    n = 1000
    while n <= top and want("elementwise"):
        rows = n // 100
        a, b = rand(n), rand(n)
        ra, rb = rand(rows, 100), rand(100)
        ta, tb = rand(rows, 100).t(), rand(rows, 100).t()
        for name, nbytes, fn in [("add", 12, lambda: a + b), ("mul", 12, lambda: a * b), ("relu", 8, lambda: torch.relu(a)),
                                 ("exp", 8, lambda: torch.exp(a)), ("add, broadcast row", 8, lambda: ra + rb),
                                 ("add, transposed inputs", 12, lambda: ta + tb),
                                 ("contiguous copy of a transpose", 8, lambda: ta.contiguous())]:
            out[("elementwise", name, n)] = nbytes * n / measure(fn, min_time) / 1e9
        n *= 10
    n = 1000000
    while n <= (1000000 if quick else 10000000) and want("reduction"):
        x = rand(n // 1000, 1000)
        xt = rand(1000, n // 1000).t()
        y = (rand(n // 1000) * 999.99).long()
        for name, nbytes, fn in [("sum, all", 4, lambda: x.sum()), ("sum, over rows (dim 1)", 4, lambda: x.sum(1)),
                                 ("sum, over columns (dim 0)", 4, lambda: x.sum(0)),
                                 ("sum, over rows of a transposed input", 4, lambda: xt.sum(1)),
                                 ("argmax, over rows (dim 1)", 4, lambda: x.argmax(1)),
                                 ("softmax, last dim", 8, lambda: torch.softmax(x, -1)),
                                 ("cross entropy, 1000 classes", 4,
                                  lambda: torch.nn.functional.cross_entropy(x, y, reduction="none")),
                                 ("mean, all", 4, lambda: x.mean()), ("max, over rows (dim 1)", 4, lambda: x.amax(1)),
                                 ("var, over rows (dim 1)", 4, lambda: x.var(1)),
                                 ("logsumexp, over rows (dim 1)", 4, lambda: torch.logsumexp(x, 1)),
                                 ("log_softmax, last dim", 8, lambda: torch.log_softmax(x, -1))]:
            out[("reduction", name, n)] = nbytes * n / measure(fn, min_time) / 1e9
        n *= 10
    m = 64
    while m <= (256 if quick else 2048) and want("matmul"):
        x, y = rand(m, m), rand(m, m)
        out[("matmul", "matmul %dx%d" % (m, m), m)] = 2.0 * m ** 3 / measure(lambda: x @ y, min_time) / 1e9
        if m == 128:
            xb, yb = rand(32, m, m), rand(32, m, m)
            out[("matmul", "matmul 128x128, batch 32", m)] = 2.0 * 32 * m ** 3 / measure(lambda: xb @ yb, min_time) / 1e9
        m *= 2
    if want("transfer"):
        transfers(out, quick, min_time, dev)
    if want("training"):
        training(out, quick, min_time, dev, rand)
    return out


def transfers(out, quick, min_time, dev):
    n = 1000000 if quick else 10000000
    host = np.zeros(n, dtype=np.float32)
    out[("transfer", "host to device (clt_from_host)", n)] = 4 * n / measure(lambda: torch.tensor(host, device=dev),
                                                                              min_time) / 1e9
    t = torch.zeros(n, device=dev)
    out[("transfer", "device to host (clt_to_host)", n)] = 4 * n / measure(lambda: t.cpu().numpy().copy(),
                                                                            min_time) / 1e9
    if dev == "cpu":
        out[("transfer", "zero-copy import (clt_wrap_host_on)", n)] = 4 * n / measure(lambda: torch.from_numpy(host),
                                                                                         min_time) / 1e9


def training(out, quick, min_time, dev, rand):
    for name, sizes, batch in [("digits MLP 64-128-10, batch 64", [64, 128, 10], 64),
                               ("MLP 784-1024-1024-10, batch 256", [784, 1024, 1024, 10], 256)][:1 if quick else 2]:
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i + 2 < len(sizes):
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = rand(batch, sizes[0])
        y = (rand(batch) * 9.99).long()

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        out[("training", name, batch)] = 1.0 / measure(step, min_time)


def fwd_bwd(fn, inputs, dev):
    """A step of fn(*inputs) forward and backward with a given output gradient, the inputs'
    gradients dropped after each (tools/bench_layers.c's run_layer)."""
    with torch.no_grad():
        g = torch.rand_like(fn(*inputs))

    def step():
        fn(*inputs).backward(g)
        for t in inputs:
            t.grad = None
    return step


# tools/bench_layers.c's conv shapes: name, N, Cin, H = W, Cout, k, stride, padding
CONV_SHAPES = [("conv2d 3x3 64-64 28x28 N8", 8, 64, 28, 64, 3, 1, 1),
               ("conv2d 3x3 128-128 14x14 N8", 8, 128, 14, 128, 3, 1, 1),
               ("conv2d 3x3/2 64-128 28x28 N8", 8, 64, 28, 128, 3, 2, 1),
               ("conv2d 1x1/2 64-128 28x28 N8", 8, 64, 28, 128, 1, 2, 0),
               ("conv2d 7x7/2 3-64 112x112 N2 (stem)", 2, 3, 112, 64, 7, 2, 3)]


def torch_layer_workloads(quick, min_time, dev="cpu"):
    """clt-bench's conv, norm, attention and model-training rows (tools/bench_layers.c)."""
    out = {}
    F = torch.nn.functional
    torch.manual_seed(4)

    def leaf(*shape):
        return torch.rand(*shape, device=dev, requires_grad=True)
    for name, n, cin, hw, cout, k, st, pad in CONV_SHAPES[:1 if quick else None]:
        x, w, b = leaf(n, cin, hw, hw), leaf(cout, cin, k, k), leaf(cout)
        ho = (hw + 2 * pad - k) // st + 1
        flop = 2.0 * n * cout * ho * ho * cin * k * k

        def conv(x, w, b, st=st, pad=pad):
            return F.conv2d(x, w, b, stride=st, padding=pad)
        out[("conv", name + " fwd+bwd", n * cin * hw * hw)] = 3 * flop / measure(fwd_bwd(conv, [x, w, b], dev), min_time) / 1e9
        with torch.no_grad():
            out[("conv", name + " fwd", n * cin * hw * hw)] = flop / measure(lambda: conv(x, w, b), min_time) / 1e9
    for name, shape, fn in [("batch_norm fwd+bwd [32,64,28,28]", (32, 64, 28, 28),
                             lambda x, w, b, rm=torch.zeros(64, device=dev), rv=torch.ones(64, device=dev):
                             F.batch_norm(x, rm, rv, w, b, training=True)),
                            ("group_norm 8 groups fwd+bwd [32,64,28,28]", (32, 64, 28, 28),
                             lambda x, w, b: F.group_norm(x, 8, w, b)),
                            ("rms_norm fwd+bwd [4096,1024]", (4096, 1024),
                             lambda x, w, b: F.rms_norm(x, (1024,), w))]:
        x, w, b = leaf(*shape), leaf(shape[1]), leaf(shape[1])
        n = x.numel()
        out[("norm", name, n)] = 20.0 * n / measure(fwd_bwd(fn, [x, w, b], dev), min_time) / 1e9
    L = 128 if quick else 256
    for causal in (False, True):
        q, k, v = leaf(8, 8, L, 64), leaf(8, 8, L, 64), leaf(8, 8, L, 64)
        name = "sdpa%s fwd+bwd [8,8,%d,64]" % (" causal" if causal else "", L)
        fn = fwd_bwd(lambda q, k, v, c=causal: F.scaled_dot_product_attention(q, k, v, is_causal=c), [q, k, v], dev)
        out[("attention", name, L)] = 12.0 * 8 * 8 * L * L * 64 / measure(fn, min_time) / 1e9
    for name, kind in [("digits CNN, batch 64", "cnn"), ("digits transformer, batch 64", "transformer")]:
        torch.manual_seed(3)
        model = make_model(kind).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(64, 64, device=dev)
        y = (torch.rand(64, device=dev) * 9.99).long()

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        out[("training", name, 64)] = 1.0 / measure(step, min_time)
    return out


def torch_device(want):
    """cpu or cuda (FP32 throughout: TF32 off), from --torch-device."""
    global SYNC
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_torch.py: --torch-device cuda, but this PyTorch has no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        SYNC = torch.cuda.synchronize
    return want


def bench(args):
    if args.clt_json:
        clt = json.load(open(args.clt_json))
    else:
        exe = args.clt_bench or os.path.join(HERE, "..", "build", "tools", "clt-bench")
        cmd = [exe, "--json", "--no-torch"] + (["--quick"] if args.quick else []) + \
            (["--device", args.device] if args.device else [])
        import subprocess
        res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True)
        clt = json.loads(res.stdout)
    torch.set_num_threads(args.threads)
    dev = torch_device(args.torch_device)
    dev_name = torch.cuda.get_device_name() if dev == "cuda" else "CPU, %d thread(s)" % args.threads
    sections = set(r["section"] for r in clt["results"])
    min_time = 0.01 if args.quick else 0.2
    theirs = torch_workloads(args.quick, min_time, dev, sections)
    if sections & {"conv", "norm", "attention", "training"}:
        theirs.update(torch_layer_workloads(args.quick, min_time, dev))
    if args.tsv:
        for (section, name, n), value in sorted(theirs.items()):
            print("%s\t%s\t%d\t%.6g" % (section, name, n, value))
        return
    rows = []
    for r in clt["results"]:
        key = (r["section"], r["name"], int(r["n"]))
        t = theirs.get(key)
        rows.append(dict(r, torch=t, clt_over_torch=(r["value"] / t) if t else None))
    if args.json:
        print(json.dumps({"device": clt["device"], "device_name": clt["device_name"], "torch": torch.__version__,
                          "torch_device": dev, "torch_device_name": dev_name, "torch_threads": args.threads,
                          "tf32": False, "results": rows}))
        return
    print("clt on %s (%s) against PyTorch %s on %s (%s); clt/PyTorch above 1: clt is faster" %
          (clt["device"], clt["device_name"], torch.__version__, dev, dev_name))
    section = None
    for r in rows:
        if r["torch"] is None:
            continue
        if r["section"] != section:
            section = r["section"]
            print("\n[%s]\n  %-38s %10s %12s %12s %-8s %9s" % (section, "workload", "n", "clt", "PyTorch", "unit",
                                                               "clt/torch"))
        print("  %-38s %10d %12.3f %12.3f %-8s %9.2f" % (r["name"], r["n"], r["value"], r["torch"], r["unit"],
                                                       r["clt_over_torch"]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("digits")
    d.add_argument("--model", choices=["mlp", "cnn", "transformer"], default="mlp")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--init")
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--double", action="store_true", help="float64 weights and data (clt-train --precision fp64)")
    d.add_argument("--json", action="store_true")
    b = sub.add_parser("bench")
    b.add_argument("--clt-bench")
    b.add_argument("--clt-json", help="clt-bench --json output to compare with, instead of running clt-bench")
    b.add_argument("--device", help="clt's device (clt-bench --device)")
    b.add_argument("--torch-device", choices=["cpu", "cuda", "auto"], default="cpu")
    b.add_argument("--quick", action="store_true")
    b.add_argument("--threads", type=int, default=torch.get_num_threads())
    b.add_argument("--json", action="store_true")
    b.add_argument("--tsv", action="store_true", help="PyTorch's figures only, tab-separated (clt-bench reads them)")
    args = p.parse_args()
    if args.cmd == "digits":
        train_digits(args)
    else:
        bench(args)


if __name__ == "__main__":
    sys.exit(main())
