#!/usr/bin/env python3
"""The ABI of libclt.so against the committed list tests/abi.txt, and the installed headers
against both: a removed or renamed function, a changed or removed enum value, or an unintended
addition fails here, so that each is a decision (README: ABI and versioning).

  test_abi.py check NM LIBCLT_SO GEN ABI_LIST HEADER...
  test_abi.py regen GEN ELEMENTWISE_H ABI_LIST HEADER...

check: the functions libclt.so exports (nm -D), the functions the headers declare (CLT_API) and
the list's functions are one set; every function of the op table (GEN --names) is among them;
every enumerator of the headers has an explicit value, and the headers' enumerators and values
are the list's. Functions declared in a header installed only with an optional part (clt_cl.h
with the OpenCL backend, dist_mpi.h with MPI, dlpack.h with DLPack) are marked with the part
("opencl", "mpi", "dlpack") in the list and not expected without it.
regen: rewrites ELEMENTWISE_H from the op table (GEN --write), then the list from the headers;
review the diff: a removal or a changed value is an ABI break (bump the minor version while
0.x, and list it in CHANGELOG.md)."""
import pathlib
import re
import subprocess
import sys

OPTIONAL = {'clt_cl.h': 'opencl', 'dist_mpi.h': 'mpi', 'dlpack.h': 'dlpack'}  # header -> the part that installs it
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)


def parse_headers(headers):
    """{function: header name}, {enumerator: value}, [enumerators without a value]"""
    funcs, enums, implicit = {}, {}, []
    for h in headers:
        text = COMMENT.sub(' ', pathlib.Path(h).read_text()).replace('\\\n', ' ')
        text = re.sub(r'^\s*#.*$', ' ', text, flags=re.M)  # preprocessor lines (CLT_API's definition)
        for m in re.finditer(r'\bCLT_API\b([^;{]*?)\b([A-Za-z_]\w*)\s*\(', text):
            funcs[m.group(2)] = pathlib.Path(h).name
        for body in re.findall(r'\benum\b\s*\w*\s*\{(.*?)\}', text, re.S):
            for item in (i.strip() for i in body.split(',')):
                if not item:
                    continue
                m = re.fullmatch(r'([A-Za-z_]\w*)\s*=\s*(-?\d+)', item)
                if m:
                    enums[m.group(1)] = int(m.group(2))
                else:
                    implicit.append(item)
    return funcs, enums, implicit


def list_lines(funcs, enums):
    out = ['# The ABI of libclt.so: every exported function and every enum value of the installed',
           '# headers. Written by `meson compile -C build regen`; checked by the lint test abi.',
           '# Removing a line or changing a value breaks the ABI (README: ABI and versioning).']
    for f in sorted(funcs):
        part = OPTIONAL.get(funcs[f])
        out.append('function %s%s' % (f, ' ' + part if part else ''))
    for e in enums:  # in the headers' order
        out.append('enum %s %d' % (e, enums[e]))
    return '\n'.join(out) + '\n'


def read_list(path):
    funcs, enums = {}, {}
    for line in pathlib.Path(path).read_text().splitlines():
        f = line.split()
        if not f or f[0].startswith('#'):
            continue
        if f[0] == 'function':
            funcs[f[1]] = f[2] if len(f) > 2 else None
        elif f[0] == 'enum':
            enums[f[1]] = int(f[2])
        else:
            sys.exit('%s: bad line %r' % (path, line))
    return funcs, enums


def check(nm, lib, gen, abi_list, headers):
    out = subprocess.run([nm, '-D', '--defined-only', lib], capture_output=True, text=True, check=True).stdout
    exported = {f[2]: f[1] for f in (l.split() for l in out.splitlines()) if len(f) == 3}
    data = sorted(s for s, t in exported.items() if t not in 'TW')
    exported = {s for s, t in exported.items() if t in 'TW'}
    declared, enums, implicit = parse_headers(headers)
    listed, listed_enums = read_list(abi_list)
    parts = {OPTIONAL[pathlib.Path(h).name] for h in headers if pathlib.Path(h).name in OPTIONAL}
    if len(exported) < 50:
        sys.exit('test_abi: only %d functions exported by %s: is it the right library?' % (len(exported), lib))
    bad = []
    for s in data:
        bad.append('%s exports the data symbol %s: export functions only' % (pathlib.Path(lib).name, s))
    for f in sorted(exported - set(declared)):
        bad.append('%s is exported but declared in no installed header (CLT_API ... %s(...);)' % (f, f))
    for f in sorted(set(declared) - exported):
        bad.append('%s is declared in %s but not exported' % (f, declared[f]))
    for f in sorted(f for f in listed if f not in exported and (listed[f] is None or listed[f] in parts)):
        bad.append('%s was removed (tests/abi.txt lists it): an ABI break; if intended, run the regen '
                   'target and note it in CHANGELOG.md' % f)
    for f in sorted(exported - set(listed)):
        bad.append('%s was added: if intended, run `meson compile -C build regen` and commit tests/abi.txt' % f)
    table = subprocess.run([gen, '--names'], capture_output=True, text=True, check=True).stdout.split()
    for f in table:
        if f not in exported or f not in declared:
            bad.append('%s of the op table is not %s' % (f, 'exported' if f not in exported else 'declared'))
    for item in implicit:
        bad.append('enumerator %r has no explicit value: give every public enumerator its value' % item)
    for e in sorted(listed_enums):
        if e not in enums:
            bad.append('enum value %s was removed: an ABI break' % e)
        elif enums[e] != listed_enums[e]:
            bad.append('enum value %s changed from %d to %d: an ABI break' % (e, listed_enums[e], enums[e]))
    for e in sorted(set(enums) - set(listed_enums)):
        bad.append('enum value %s = %d was added: if intended, run the regen target' % (e, enums[e]))
    for b in bad:
        print('test_abi: ' + b)
    print('test_abi: %d functions (%d from the op table), %d enum values checked against %s' %
          (len(exported), len(table), len(enums), abi_list))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == 'check':
        return check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    if len(sys.argv) >= 5 and sys.argv[1] == 'regen':
        gen, header, abi_list, headers = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
        subprocess.run([gen, '--write', header], check=True)
        funcs, enums, implicit = parse_headers(sorted(headers, key=lambda h: pathlib.Path(h).name))
        if implicit:
            sys.exit('test_abi: enumerators without an explicit value: %s' % ', '.join(implicit))
        pathlib.Path(abi_list).write_text(list_lines(funcs, enums))
        print('wrote %s and %s' % (header, abi_list))
        return 0
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main())
