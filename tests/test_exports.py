#!/usr/bin/env python3
"""Fails when a function libclt.so exports is called by no test: each exported name (nm -D) must
appear as an identifier in the test sources (every .c file under tests/), outside comments and
string literals, so a message naming a function does not count as a call. With a C preprocessor
command after --cpp, each source also counts what its macros expand to within it, so that the
table-driven tests call a new op's functions (clt_<op>, pasted from the op table's rows) without
naming them.
usage: test_exports.py NM LIBCLT_SO TESTS_DIR [--cpp CC ARG...]"""
import pathlib
import re
import subprocess
import sys

nm, lib, tests = sys.argv[1:4]
cpp = sys.argv[sys.argv.index('--cpp') + 1:] if '--cpp' in sys.argv else None
out = subprocess.run([nm, '-D', '--defined-only', lib], capture_output=True, text=True, check=True).stdout
exported = sorted({f[2] for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[1] in 'TW'})
if len(exported) < 50:
    sys.exit(f'test_exports: only {len(exported)} functions exported by {lib}: is it the right library?')

# comments, then string and character literals, replaced by a space
code = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
ident = re.compile(r'\b[A-Za-z_]\w*\b')


def expanded(src):
    """The identifiers of src after preprocessing, from its own lines only (not its headers')."""
    r = subprocess.run(cpp + ['-E', str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f'test_exports: cannot preprocess {src} (counted as written): {r.stderr.strip()[:200]}')
        return set()
    names, mine = set(), True
    for line in r.stdout.splitlines():
        m = re.match(r'#\s*\d+\s+"([^"]*)"', line)
        if m:
            mine = pathlib.Path(m.group(1)).resolve() == src.resolve()
        elif mine:
            names.update(ident.findall(code.sub(' ', line)))
    return names


called = set()
for src in sorted(pathlib.Path(tests).rglob('*.c')):
    called.update(ident.findall(code.sub(' ', src.read_text(errors='replace'))))
    if cpp:
        called.update(expanded(src))

missing = [f for f in exported if f not in called]
for f in missing:
    print(f'test_exports: {f} is exported by {pathlib.Path(lib).name} but no test under {tests} calls it')
print(f'test_exports: {len(exported) - len(missing)} of {len(exported)} exported functions called by a test')
sys.exit(1 if missing else 0)
