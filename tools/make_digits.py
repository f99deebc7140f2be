#!/usr/bin/env python3
"""Converts scikit-learn's copy of the UCI handwritten digits (digits.csv.gz, 1797 rows of 64
pixels in 0..16 and a label) into tools/digits.u8: the rows as they are, 65 bytes each (64 pixel
bytes, then the label byte). Run once; the result is committed and embedded into clt-train.

usage: make_digits.py path/to/sklearn/datasets/data/digits.csv.gz tools/digits.u8

Source: Debian's python3-sklearn package (sklearn/datasets/data/digits.csv.gz); the data is the
UCI ML "Optical Recognition of Handwritten Digits" set by E. Alpaydin and C. Kaynak, CC BY 4.0.
"""
import gzip
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rows = [line.strip().split(",") for line in gzip.open(src, "rt") if line.strip()]
    out = bytearray()
    for r in rows:
        vals = [int(float(v)) for v in r]
        assert len(vals) == 65 and all(0 <= v <= 16 for v in vals[:64]) and 0 <= vals[64] <= 9
        out += bytes(vals)
    assert len(rows) == 1797
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
