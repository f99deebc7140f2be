#!/usr/bin/env python3
"""Writes the hostile-input corpus of tests/test_files.c (run once; the files are committed, and
they seed the fuzzers through tools/fuzz.sh). Each file breaks one rule the loaders must keep;
the test names the error each must give. Files that must load are named good_*.

safetensors (the rules of huggingface/safetensors, which refuses all of these): data_offsets
that overlap, share bytes, leave a gap or leave trailing bytes; __metadata__ values that are not
strings; an empty tensor name. Both formats: an empty tensor whose other dims multiply past
int64 (valid, loaded; seeds for the fuzzers, whose harnesses run ops on it). .npy: 'shape': (2), which NumPy refuses (it is the number 2, not
a tuple); a 131-byte file whose header claims 16 GiB of data; a [300, 0] feature matrix for
clt-train (the labels are tests/fixtures/npy/blobs_y.npy).
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def safetensors(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(shape, begin, end):
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}


def npy(header_dict, data=b"", total=None):
    text = header_dict.encode()
    pad = (64 - (10 + len(text) + 1) % 64) % 64 if total is None else total - 10 - len(text) - 1 - len(data)
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def main():
    d12 = np.arange(3, dtype=np.float32).tobytes()  # 12 bytes
    d8 = d12[:8]
    files = {
        "overlap.safetensors": safetensors({"a": f32([2], 0, 8), "b": f32([2], 4, 12)}, d12),
        "shared_bytes.safetensors": safetensors({"a": f32([2], 0, 8), "b": f32([2], 0, 8)}, d8),
        "gap.safetensors": safetensors({"a": f32([1], 0, 4), "b": f32([1], 8, 12)}, d12),
        "gap_at_start.safetensors": safetensors({"a": f32([2], 4, 12)}, d12),
        "trailing.safetensors": safetensors({"a": f32([2], 0, 8)}, d12),
        "data_without_tensors.safetensors": safetensors({}, d8),
        "metadata_int.safetensors": safetensors({"__metadata__": {"epoch": 3}, "a": f32([2], 0, 8)}, d8),
        "metadata_object.safetensors": safetensors({"__metadata__": {"cfg": {"lr": "0.1"}}, "a": f32([2], 0, 8)}, d8),
        "metadata_array.safetensors": safetensors({"__metadata__": {"tags": ["x"]}, "a": f32([2], 0, 8)}, d8),
        "metadata_null.safetensors": safetensors({"__metadata__": {"note": None}, "a": f32([2], 0, 8)}, d8),
        "metadata_not_object.safetensors": safetensors({"__metadata__": "v1", "a": f32([2], 0, 8)}, d8),
        "empty_name.safetensors": safetensors({"": f32([2], 0, 8)}, d8),
        # valid: listed out of data order, and empty tensors sharing an offset with a full one
        "good_unordered.safetensors": safetensors({"b": f32([1], 8, 12), "a": f32([2], 0, 8)}, d12),
        "good_empty_tensors.safetensors": safetensors(
            {"e1": f32([0], 0, 0), "a": f32([2], 0, 8), "e2": f32([0, 5], 8, 8), "e3": f32([0], 8, 8)}, d8),
        # valid, and empty: dims whose product overflows int64 but for the 0 (issue 12 item 5:
        # the loaders take them; the ops run on them must check their products)
        "empty_huge_dims.safetensors": safetensors({"e": f32([0, 1 << 62, 1 << 62], 0, 0)}, b""),
        # .npy
        "empty_huge_dims.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, "
                                   "4611686018427387904), }"),
        "shape_int.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", d8),
        "claims_16gib.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296,), }", b"abc",
                                total=131),
    }
    for name, content in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(content)
    assert len(files["claims_16gib.npy"]) == 131
    np.save(os.path.join(HERE, "zero_features_x.npy"), np.zeros((300, 0), dtype=np.float32))
    # NumPy itself refuses the shape that is a number
    try:
        np.load(os.path.join(HERE, "shape_int.npy"))
        raise SystemExit("NumPy loaded shape (2)")
    except ValueError:
        pass


if __name__ == "__main__":
    main()
