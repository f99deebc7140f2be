#!/usr/bin/env python3
"""PyTorch's Adam state after two steps, for tests/test_train_utils.c (clt_optim_load).

Writes two safetensors files into the directory given (default tests/fixtures):
  adam_state.safetensors  optimizer.state_dict() flattened as clt_optim_save names it:
                          "param_groups.0.lr" and "state.<i>.exp_avg" / "exp_avg_sq" / "step"
  adam_case.safetensors   "param.<i>" (the parameters after the two steps), "grad.<i>" (the
                          third step's gradients) and "after.<i>" (the parameters after it)
All float64. The safetensors format is written here directly (no extra package needed).
Run: python3 tools/make_optim_refs.py tests/fixtures
"""
import json
import struct
import sys

import torch


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float64).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
torch.manual_seed(0)
params = [torch.randn(3, 2, dtype=torch.float64, requires_grad=True),
          torch.randn(4, dtype=torch.float64, requires_grad=True)]
opt = torch.optim.Adam(params, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)
for _ in range(2):
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
sd = opt.state_dict()
flat = {"param_groups.0.lr": torch.tensor(sd["param_groups"][0]["lr"], dtype=torch.float64)}
for i, st in sd["state"].items():
    for k, v in st.items():
        flat[f"state.{i}.{k}"] = v
save(f"{out}/adam_state.safetensors", flat)
case = {}
for i, p in enumerate(params):
    case[f"param.{i}"] = p.detach().clone()
    p.grad = torch.randn_like(p)
    case[f"grad.{i}"] = p.grad.clone()
opt.step()
for i, p in enumerate(params):
    case[f"after.{i}"] = p.detach().clone()
save(f"{out}/adam_case.safetensors", case)
