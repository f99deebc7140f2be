#!/usr/bin/env python3
"""Writes tests/fixtures/result_types.txt: the dtype PyTorch gives (or its refusal) for every
binary op kind clt has, over clt's eight dtypes, each operand a tensor with dims, a 0-d tensor, or
a Python scalar. tests/test_ew.c checks clt_result_type and the ops' result dtypes against it on
every device, so clt's promotion stays PyTorch's without PyTorch installed. Run where torch is;
the output is committed.

usage: make_result_types.py tests/fixtures/result_types.txt

Each line: <op> <a> <b> <result>. An operand is <dtype>[2] (a tensor with dims), <dtype>[] (a
0-d tensor), int (a Python int, 2: a double with an integral value in clt) or float (a Python
float, 2.5: a non-integral double in clt). The result is a dtype name or "error" (PyTorch raised).
Ops: result_type (torch.result_type of two tensors), add sub mul div pow maximum eq (a
comparison: the dtype is always bool, but the operands must be accepted) and where (torch.where
with a bool [2] condition, tensors only). A scalar comes second, except for the ops clt has a
scalar-first form of (sub, div, pow: clt_rsub_scalar, clt_rdiv_scalar, clt_rpow_scalar).
"""
import sys

import torch

DTYPES = ["float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16"]
TENSOR_OPS = ["result_type", "add", "sub", "mul", "div", "pow", "maximum", "eq", "where"]
SCALAR_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "eq"]
SCALAR_FIRST_OPS = ["sub", "div", "pow"]
SCALARS = {"int": 2, "float": 2.5}


def tensor(desc):
    dt = getattr(torch, desc[: desc.index("[")])
    if desc.endswith("[]"):
        return torch.tensor(True if dt == torch.bool else 2, dtype=dt)
    # small positive values: pow stays defined for integers, nothing overflows
    return torch.tensor([True, False] if dt == torch.bool else [1, 2], dtype=dt)


def operand(desc):
    return SCALARS[desc] if desc in SCALARS else tensor(desc)


def apply(op, a, b):
    if op == "result_type":
        return torch.result_type(a, b)
    if op == "where":
        return torch.where(torch.tensor([True, False]), a, b).dtype
    if op == "pow":
        return torch.pow(a, b).dtype
    if op == "eq":
        return torch.eq(a, b).dtype if torch.is_tensor(a) else torch.eq(b, a).dtype
    fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "maximum": torch.maximum}[op]
    if not torch.is_tensor(a):  # scalar first: PyTorch's reflected operators
        return {"sub": lambda: b.__rsub__(a), "div": lambda: b.__rtruediv__(a)}[op]().dtype
    if op == "maximum" and not torch.is_tensor(b):  # torch.maximum takes tensors: clamp_min is its scalar form
        return torch.clamp_min(a, b).dtype
    return fn(a, b).dtype


def result(op, a, b):
    try:
        return str(apply(op, operand(a), operand(b))).replace("torch.", "")
    except (RuntimeError, TypeError):
        return "error"


def main():
    tensors = [f"{dt}{shape}" for dt in DTYPES for shape in ("[2]", "[]")]
    rows = []
    for a in tensors:
        for b in tensors:
            rows += [(op, a, b) for op in TENSOR_OPS]
        for s in SCALARS:
            rows += [(op, a, s) for op in SCALAR_OPS]
            rows += [(op, s, a) for op in SCALAR_FIRST_OPS]
    with open(sys.argv[1], "w") as f:
        f.write(f"# PyTorch {torch.__version__} result dtypes, written by tools/make_result_types.py; see there.\n")
        for op, a, b in rows:
            f.write(f"{op} {a} {b} {result(op, a, b)}\n")


if __name__ == "__main__":
    main()
