#!/usr/bin/env python3
"""Writes tests/fixtures/norm_refs.txt: PyTorch's (CPU, float64) answers for clt's batch, layer,
group and RMS norm, forward (with batch norm's running statistics after the call) and backward,
which tests/test_norm.c (norm_matches_pytorch) holds clt to.

Usage: python3 tools/make_norm_refs.py > tests/fixtures/norm_refs.txt

Format, one case after another:
  case NAME OP k training momentum eps    k: normalized dims (layer, rms) or groups (group);
                                          eps -1: PyTorch's default (rms_norm: eps=None)
  t NAME ndim size... value...            x, w, b, rm, rv (inputs), gy (the gradient fed to
                                          backward), y, rm_after, rv_after, gx, gw, gb
(12 significant digits.) Inputs are rounded to 3 decimals before PyTorch sees them, so the text holds them exactly.
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)


def r(*shape, shift=0.0, scale=1.0):
    return torch.round((torch.randn(*shape, dtype=torch.float64) * scale + shift) * 1000) / 1000


def emit(name, t):
    vals = " ".join("%.12g" % v for v in t.reshape(-1).tolist())
    print("t", name, t.dim(), *t.shape, vals)


def case(name, op, x, w=None, b=None, k=0, training=False, running=False, momentum=0.1, eps=-1.0):
    C = x.shape[1]
    rm = r(C) if running else None
    rv = r(C, shift=1.0, scale=0.2).abs() + 0.1 if running else None
    rm0 = rm.clone() if running else None
    rv0 = rv.clone() if running else None
    for t in (x, w, b):
        if t is not None:
            t.requires_grad_(True)
    e = 1e-5 if eps < 0 else eps
    if op == "batch_norm":
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=momentum, eps=e)
    elif op == "layer_norm":
        y = F.layer_norm(x, x.shape[x.dim() - k:], w, b, eps=e)
    elif op == "group_norm":
        y = F.group_norm(x, k, w, b, eps=e)
    elif op == "rms_norm":
        y = F.rms_norm(x, x.shape[x.dim() - k:], w, eps=None if eps < 0 else eps)
    else:
        raise ValueError(op)
    gy = r(*y.shape)
    y.backward(gy)
    print("case", name, op, k, int(training), "%.12g" % momentum, "%.12g" % eps)
    for n, t in (("x", x), ("w", w), ("b", b), ("rm", rm0), ("rv", rv0)):
        if t is not None:
            emit(n, t.detach())
    emit("gy", gy)
    emit("y", y.detach())
    if running:
        emit("rm_after", rm)
        emit("rv_after", rv)
    for n, t in (("gx", x), ("gw", w), ("gb", b)):
        if t is not None:
            emit(n, t.grad)


case("bn_train_4d", "batch_norm", r(2, 3, 2, 2, shift=3.0), r(3), r(3), training=True, running=True, momentum=0.2)
case("bn_train_2d_plain", "batch_norm", r(5, 2), training=True, running=True, eps=1e-3)
case("bn_train_3d_no_running", "batch_norm", r(2, 2, 3), r(2), r(2), training=True)
case("bn_eval_3d", "batch_norm", r(2, 3, 2), r(3), r(3), running=True)
case("ln_last", "layer_norm", r(3, 5, shift=-2.0), r(5), r(5), k=1)
case("ln_last2_plain", "layer_norm", r(2, 3, 4), k=2, eps=1e-3)
case("gn_4d", "group_norm", r(2, 4, 2, 2), r(4), r(4), k=2)
case("gn_3d_plain", "group_norm", r(2, 6, 3), k=3)
case("rms_default_eps", "rms_norm", r(3, 4), r(4), k=1)
case("rms_last2", "rms_norm", r(2, 2, 3, shift=1.0), r(2, 3), k=2, eps=1e-4)
