#!/usr/bin/env python3
"""Writes tests/fixtures/conv_refs.txt: PyTorch's (CPU, float64) answers for clt's convolution and
pooling, forward and backward, which tests/test_conv.c (conv_matches_pytorch) holds clt to.

Usage: python3 tools/make_conv_refs.py > tests/fixtures/conv_refs.txt

Format, one case after another:
  case NAME OP kh kw sh sw ph pw dh dw groups same ceil exclude oph opw out_h out_w
  t NAME ndim size... value...        for x, w, b (inputs), gy (the gradient fed to backward),
                                      y (the output), gx, gw, gb (the gradients)
(12 significant digits.) Inputs are rounded to 3 decimals before PyTorch sees them, so the text holds them exactly.
"""
import torch
import torch.nn.functional as F

torch.manual_seed(0)


def r(*shape):
    return torch.round(torch.randn(*shape, dtype=torch.float64) * 1000) / 1000


def emit(name, t):
    vals = " ".join("%.12g" % v for v in t.reshape(-1).tolist())
    print("t", name, t.dim(), *t.shape, vals)


def case(name, op, x, w=None, b=None, kh=0, kw=0, stride=(0, 0), padding=(0, 0), dilation=(0, 0), groups=0, same=False,
         ceil=False, exclude=False, output_padding=(0, 0), out=(0, 0)):
    ins = [t for t in (x, w, b) if t is not None]
    for t in ins:
        t.requires_grad_(True)
    s = tuple(v or 1 for v in stride)
    d = tuple(v or 1 for v in dilation)
    g = groups or 1
    if op == "conv2d":
        y = F.conv2d(x, w, b, stride=s, padding="same" if same else padding, dilation=d, groups=g)
    elif op == "conv1d":
        y = F.conv1d(x, w, b, stride=s[1], padding="same" if same else padding[1], dilation=d[1], groups=g)
    elif op == "conv_transpose2d":
        y = F.conv_transpose2d(x, w, b, stride=s, padding=padding, output_padding=output_padding, groups=g, dilation=d)
    elif op == "unfold":
        y = F.unfold(x, (kh, kw), dilation=d, padding=padding, stride=s)
    elif op == "fold":
        y = F.fold(x, out, (kh, kw), dilation=d, padding=padding, stride=s)
    elif op == "max_pool2d":
        ps = tuple(v if v else k for v, k in zip(stride, (kh, kw)))
        y = F.max_pool2d(x, (kh, kw), ps, padding, d, ceil_mode=ceil)
    elif op == "avg_pool2d":
        ps = tuple(v if v else k for v, k in zip(stride, (kh, kw)))
        y = F.avg_pool2d(x, (kh, kw), ps, padding, ceil_mode=ceil, count_include_pad=not exclude)
    elif op == "adaptive_avg_pool2d":
        y = F.adaptive_avg_pool2d(x, out)
    else:
        raise ValueError(op)
    gy = r(*y.shape)
    y.backward(gy)
    ints = [kh, kw, *stride, *padding, *dilation, groups, int(same), int(ceil), int(exclude), *output_padding, *out]
    print("case", name, op, *ints)
    for n, t in zip(("x", "w", "b"), (x, w, b)):
        if t is not None:
            emit(n, t.detach())
    emit("gy", gy)
    emit("y", y.detach())
    for n, t in zip(("gx", "gw", "gb"), (x, w, b)):
        if t is not None:
            emit(n, t.grad)


case("conv2d_plain", "conv2d", r(2, 2, 4, 4), r(3, 2, 3, 2), r(3))
case("conv2d_stride_pad_dil", "conv2d", r(1, 2, 7, 6), r(2, 2, 3, 3), None, stride=(2, 1), padding=(1, 2), dilation=(2, 1))
case("conv2d_groups", "conv2d", r(1, 4, 5, 5), r(6, 2, 2, 3), r(6), groups=2, padding=(1, 0))
case("conv2d_depthwise", "conv2d", r(1, 3, 4, 4), r(3, 1, 3, 3), r(3), groups=3, stride=(2, 2), padding=(1, 1))
case("conv2d_same_even", "conv2d", r(1, 2, 5, 6), r(2, 2, 2, 4), r(2), same=True, dilation=(1, 2))
case("conv1d_same", "conv1d", r(2, 2, 7), r(4, 1, 3), r(4), groups=2, same=True, dilation=(0, 2))
case("conv1d_stride", "conv1d", r(1, 3, 9), r(2, 3, 4), None, stride=(0, 3), padding=(0, 1))
case("conv_transpose2d", "conv_transpose2d", r(1, 4, 3, 4), r(4, 1, 3, 2), r(2), stride=(2, 3), padding=(1, 0),
     output_padding=(1, 2), groups=2)
case("conv_transpose2d_dil", "conv_transpose2d", r(1, 2, 3, 3), r(2, 3, 2, 2), None, dilation=(2, 1), padding=(1, 1))
case("unfold", "unfold", r(1, 2, 5, 4), kh=2, kw=3, stride=(2, 1), padding=(1, 1), dilation=(1, 2))
case("fold", "fold", r(1, 12, 9), kh=2, kw=3, stride=(1, 2), padding=(0, 1), out=(4, 5))
case("max_pool2d", "max_pool2d", r(1, 2, 7, 6), kh=3, kw=2, stride=(2, 2), padding=(1, 1), dilation=(1, 2), ceil=True)
# ties: the gradient goes to the first largest element of each window; a NaN wins its window
tie = torch.tensor([[[[1.0, 1.0, 0.5, 2.0], [1.0, 0.0, 2.0, 2.0], [3.0, float("nan"), -1.0, -1.0],
                      [0.0, 3.0, -1.0, -1.0]]]], dtype=torch.float64)
case("max_pool2d_ties_nan", "max_pool2d", tie, kh=2, kw=2)
# windows of -inf that overlap the padding: the gradient goes to the first element inside the image
case("max_pool2d_all_neg_inf_padded", "max_pool2d", torch.full((1, 1, 2, 3), -float("inf"), dtype=torch.float64), kh=2,
     kw=2, stride=(1, 1), padding=(1, 1))
case("avg_pool2d_include_pad", "avg_pool2d", r(1, 2, 5, 5), kh=3, kw=2, stride=(2, 2), padding=(1, 1), ceil=True)
case("avg_pool2d_exclude_pad", "avg_pool2d", r(1, 1, 5, 6), kh=3, kw=3, stride=(2, 2), padding=(1, 1), ceil=True,
     exclude=True)
case("adaptive_avg_pool2d", "adaptive_avg_pool2d", r(1, 2, 7, 5), out=(3, 4))
