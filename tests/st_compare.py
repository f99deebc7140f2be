#!/usr/bin/env python3
"""Compares the tensors of two safetensors files (clt-train's weights): the same names, shapes
and dtypes, and every element within rtol of its tensor's largest magnitude (a weight near 0
is held to its layer's scale, not to itself: Adam moves weights whose gradients are tiny by
relatively noisy steps), or bit for bit with --exact. Prints the largest differences, exit 0
when they match, 1 otherwise.
usage: st_compare.py A B [--rtol X] [--exact]"""
import array
import json
import struct
import sys

TYPES = {'F32': 'f', 'F64': 'd', 'I32': 'i', 'I64': 'q', 'U8': 'B', 'BOOL': 'B'}


def read(path):
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    head = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, t in head.items():
        if name == '__metadata__':
            continue
        a, b = t['data_offsets']
        v = array.array(TYPES[t['dtype']])
        v.frombytes(data[a:b])
        if sys.byteorder != 'little':
            v.byteswap()
        out[name] = (t['dtype'], t['shape'], v)
    return out


def main():
    args = sys.argv[1:]
    rtol, exact = 1e-5, False
    files = []
    i = 0
    while i < len(args):
        if args[i] == '--rtol':
            rtol = float(args[i + 1]); i += 2
        elif args[i] == '--exact':
            exact = True; i += 1
        else:
            files.append(args[i]); i += 1
    if len(files) != 2:
        sys.exit(__doc__)
    a, b = read(files[0]), read(files[1])
    if sorted(a) != sorted(b):
        print(f'st_compare: names differ: {sorted(a)} and {sorted(b)}')
        return 1
    worst, worst_elem, bad = 0.0, 0.0, 0
    for name in sorted(a):
        (da, sa, va), (db, sb, vb) = a[name], b[name]
        if da != db or sa != sb:
            print(f'st_compare: {name}: {da}{sa} and {db}{sb}')
            return 1
        scale = max([abs(x) for x in va] + [abs(y) for y in vb] + [0.0])
        for x, y in zip(va, vb):
            d = abs(x - y)
            rel = d / scale if scale else 0.0
            worst = max(worst, rel)
            worst_elem = max(worst_elem, d / max(abs(x), abs(y)) if d else 0.0)
            if (exact and x != y) or (not exact and rel > rtol):
                bad += 1
                if bad <= 5:
                    print(f'st_compare: {name}: {x!r} and {y!r} differ by {d:.3g} ({rel:.3g} of the tensor\'s largest {scale:.3g})')
    n = sum(len(v[2]) for v in a.values())
    print(f'st_compare: {n} elements; largest difference {worst:.3g} of its tensor\'s largest magnitude '
          f'({worst_elem:.3g} of its own); {bad} outside {"exact" if exact else rtol}')
    return 1 if bad else 0


sys.exit(main())
