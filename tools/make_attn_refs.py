#!/usr/bin/env python3
"""PyTorch's answers for scaled_dot_product_attention (math path, float64), for tests/test_attn.c.

Writes tests/fixtures/attn_refs.txt: per case a line
  case NAME mask causal scale       (mask: 0 none, 1 bool, 2 float; scale 0: PyTorch's default)
then lines `t NAME NDIM SHAPE... VALUES...` for q, k, v, the mask (when there is one), gy
(the gradient fed to backward), out, and the gradients gq, gk, gv (and gmask for a float mask).
Run: python3 tools/make_attn_refs.py > tests/fixtures/attn_refs.txt
"""
import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

torch.manual_seed(0)
CASES = [  # name, batch, L, S, E, Ev, mask kind, causal, scale
    ("plain", (2,), 3, 4, 5, 2, 0, False, 0.0),
    ("bool_mask_empty_row", (2,), 3, 4, 2, 3, 1, False, 0.0),
    ("float_mask_scale", (1, 2), 2, 3, 4, 2, 2, False, 0.7),
    ("causal_L_lt_S", (2,), 3, 5, 2, 2, 0, True, 0.0),
    ("causal_L_gt_S", (1,), 5, 3, 3, 2, 0, True, 0.0),
]


def emit(name, t):
    vals = " ".join(repr(float(x)) for x in t.detach().reshape(-1).tolist())
    print(f"t {name} {t.dim()} {' '.join(str(s) for s in t.shape)} {vals}")


for name, batch, L, S, E, Ev, mk, causal, scale in CASES:
    q = torch.randn(*batch, L, E, dtype=torch.float64, requires_grad=True)
    k = torch.randn(*batch, S, E, dtype=torch.float64, requires_grad=True)
    v = torch.randn(*batch, S, Ev, dtype=torch.float64, requires_grad=True)
    mask = None
    if mk == 1:
        mask = torch.rand(L, S) > 0.4
        mask[1, :] = False  # a row with nothing to attend to
        mask[0, 0] = True
    elif mk == 2:
        mask = torch.randn(L, S, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(*batch, L, Ev, dtype=torch.float64)
    with sdpa_kernel(SDPBackend.MATH):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                             scale=scale if scale > 0 else None)
    out.backward(gy)
    print(f"case {name} {mk} {int(causal)} {scale!r}")
    emit("q", q); emit("k", k); emit("v", v)
    if mask is not None:
        emit("mask", mask.to(torch.float64) if mk == 1 else mask)
    emit("gy", gy); emit("out", out); emit("gq", q.grad); emit("gk", k.grad); emit("gv", v.grad)
    if mk == 2:
        emit("gmask", mask.grad)
