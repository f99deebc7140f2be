#!/usr/bin/env python3
"""Writes tests/fixtures/train_ops_refs.txt: PyTorch's (CPU, float64) answers for clt's sort,
argsort, topk, cumsum, cumprod, pad, flip and masked_fill, forward and backward, which
tests/test_train_ops.c (train_ops_match_pytorch) holds clt to.

Usage: python3 tools/make_train_ops_refs.py > tests/fixtures/train_ops_refs.txt

Format, one case after another:
  case NAME OP
  p N int...                       the op's integer parameters (see each op below)
  v VALUE                          pad's and masked_fill's value
  t NAME ndim size... value...     x (input), mask (0/1), gy (the gradient fed to backward),
                                   y (the output), i (indices), gx (x's gradient)
  end
(12 significant digits; nan and inf as C's strtod reads them.) Inputs are rounded to 3
decimals before PyTorch sees them, so the text holds them exactly.
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)
NAN = float("nan")


def r(*shape):
    return torch.round(torch.randn(*shape, dtype=torch.float64) * 1000) / 1000


def emit(name, t):
    vals = " ".join("%.12g" % v for v in t.reshape(-1).tolist())
    print("t", name, t.dim(), *t.shape, vals)


def case(name, op, x, params, value=None, mask=None):
    print("case", name, op)
    print("p", len(params), *params)
    if value is not None:
        print("v", "%.12g" % value)
    emit("x", x)
    if mask is not None:
        emit("mask", mask.to(torch.float64))
    x = x.clone().requires_grad_(op != "argsort")
    idx = None
    if op == "sort":
        y, idx = torch.sort(x, dim=params[0], descending=bool(params[1]), stable=True)
    elif op == "argsort":
        idx = torch.argsort(x, dim=params[0], descending=bool(params[1]), stable=True)
        y = None
    elif op == "topk":
        y, idx = torch.topk(x, params[0], dim=params[1], largest=bool(params[2]), sorted=True)
    elif op == "cumsum":
        y = torch.cumsum(x, params[0])
    elif op == "cumprod":
        y = torch.cumprod(x, params[0])
    elif op == "pad":
        mode = ["constant", "reflect", "replicate", "circular"][params[0]]
        pads = tuple(params[2:2 + params[1]])
        y = F.pad(x, pads, mode=mode, value=value) if mode == "constant" else F.pad(x, pads, mode=mode)
    elif op == "flip":
        y = torch.flip(x, params[1:1 + params[0]])
    elif op == "masked_fill":
        y = x.masked_fill(mask, value)
    if y is not None:
        gy = r(*y.shape)
        emit("gy", gy)
        emit("y", y.detach())
        y.backward(gy)
        emit("gx", x.grad)
    if idx is not None:
        emit("i", idx.to(torch.float64))
    print("end")


ties = torch.tensor([[3, 1, 2, 1, 3, float("nan"), 1], [0, -0.0, 0, NAN, -1, NAN, 2], [5, 4, 4, 4, 5, 5, 4]],
                    dtype=torch.float64)
for desc in (0, 1):
    case("sort ties nan dim1 desc%d" % desc, "sort", ties, [1, desc])
    case("sort ties nan dim0 desc%d" % desc, "sort", ties, [0, desc])
    case("argsort ties desc%d" % desc, "argsort", ties, [-1, desc])
case("sort 3d dim1", "sort", r(2, 5, 3), [1, 0])
distinct = r(3, 6)
for largest in (0, 1):
    case("topk k3 largest%d" % largest, "topk", distinct, [3, 1, largest])
    case("topk k2 dim0 largest%d" % largest, "topk", distinct, [2, 0, largest])
case("topk nan largest", "topk", torch.tensor([[1.0, NAN, 3.0, -2.0]], dtype=torch.float64), [2, 1, 1])
case("topk k0", "topk", distinct, [0, 1, 1])
case("cumsum dim1", "cumsum", r(3, 9), [1])
case("cumsum dim0", "cumsum", r(5, 2, 3), [0])
case("cumsum 1d long", "cumsum", r(37), [0])
zeros = r(3, 6)
zeros[0, 2] = 0
zeros[1, 1] = 0
zeros[1, 4] = 0
case("cumprod zeros dim1", "cumprod", zeros, [1])
case("cumprod dim0", "cumprod", r(6, 3), [0])
x3 = r(2, 3, 5)
case("pad constant last", "pad", x3, [0, 2, 1, 2], value=0.5)
case("pad constant two dims", "pad", x3, [0, 4, 2, 0, 1, 3], value=-1.0)
case("pad constant crop", "pad", x3, [0, 4, -1, 2, 0, -1], value=0.0)
case("pad reflect", "pad", x3, [1, 4, 2, 4, 1, 2])
case("pad replicate", "pad", x3, [2, 4, 3, 1, 2, 2])
case("pad circular", "pad", x3, [3, 4, 2, 5, 1, 3])
case("flip last", "flip", x3, [1, -1])
case("flip two", "flip", x3, [2, 0, 2])
mask = torch.rand(3, 5) > 0.5
case("masked_fill broadcast", "masked_fill", x3, [], value=7.25, mask=mask[1:2, :].expand(1, 5).reshape(1, 5))
case("masked_fill full", "masked_fill", r(3, 5), [], value=-2.0, mask=mask)
