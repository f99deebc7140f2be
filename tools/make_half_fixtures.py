#!/usr/bin/env python3
"""Writes tests/fixtures/safetensors/half.safetensors with PyTorch (run once where torch is; the
file is committed). tests/test_half.c loads it on every device.

Tensors:
  f16, bf16    [2, 3]: i * 1.5 - 2 in float16 and bfloat16 (exact in both).
  src32        [n]: float32 values at the edges of the 16-bit formats (ties, the largest finite
               values and just past them, subnormals, zeros, infinities, NaN) and 2000 random
               values over exponents -140 .. 130.
  f16_round, bf16_round  [n]: PyTorch's src32.to(torch.float16) and .to(torch.bfloat16), so
               clt's rounding of src32 is held to PyTorch's bit for bit.

The safetensors layout (an 8-byte little-endian header length, a JSON header padded with spaces
to 8 bytes, then the data) is written out here: this machine's Python has torch but not the
safetensors package. PyTorch writes F16 and BF16 data as little-endian 16-bit words.

usage: make_half_fixtures.py tests/fixtures/safetensors/half.safetensors
"""
import json
import struct
import sys

import torch


def edge_values():
    v = [0.0, -0.0, 0.1, 1 / 3, 1.0, 1 + 2**-11, 1 + 2**-8, 1 + 3 * 2**-11, 1 + 3 * 2**-8,
         65504.0, 65519.0, 65519.996, 65520.0, 65536.0, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001,
         3 * 2.0**-26, 2.0**-14, 2.0**-14 * (1 - 2**-11), 3.3895313892515355e38, 3.3961e38,
         3.4028234663852886e38, 1e-40, 2.0**-133, 2.0**-134, 2.0**-134 * 1.5, float("inf")]
    v += [-x for x in v]
    return torch.tensor(v + [float("nan")], dtype=torch.float32)


def random_values():
    g = torch.Generator().manual_seed(15)
    mant = torch.rand(2000, generator=g, dtype=torch.float64) + 1
    exp = torch.randint(-140, 131, (2000,), generator=g)
    sign = torch.where(torch.rand(2000, generator=g) < 0.5, -1.0, 1.0).double()
    return (sign * mant * torch.pow(2.0, exp.double())).float()


def raw(t):
    """The tensor's bytes, little-endian (this script runs on a little-endian machine)."""
    assert sys.byteorder == "little"
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.contiguous().view(torch.int16).numpy().tobytes()
    return t.contiguous().numpy().tobytes()


def save(path, tensors):
    names = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
    header, data = {"__metadata__": {"written_by": "tools/make_half_fixtures.py",
                                     "torch": torch.__version__}}, b""
    for name, t in tensors.items():
        b = raw(t)
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main():
    i6 = (torch.arange(6, dtype=torch.float64).reshape(2, 3) * 1.5 - 2)
    src = torch.cat([edge_values(), random_values()])
    save(sys.argv[1], {
        "f16": i6.to(torch.float16),
        "bf16": i6.to(torch.bfloat16),
        "src32": src,
        "f16_round": src.to(torch.float16),
        "bf16_round": src.to(torch.bfloat16),
    })


if __name__ == "__main__":
    main()
