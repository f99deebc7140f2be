#!/usr/bin/env python3
"""Writes tests/torch_refs/: PyTorch's answers for clt's differential suite (tests/test_torch_refs.c).

Run where PyTorch and NumPy are installed (optional; the files are committed and the suite needs
neither):

    tools/make_torch_refs.py [--seed N] [--out DIR] [--check]

With the same seed it writes the same bytes (--check compares against DIR instead of writing).

Each case is one clt call (an op, a loss, a layer) on small inputs, written as:
  - its inputs as .npy files: a "F" input holds float64 values exactly representable in float32 and
    runs in float32 and in float64 (the suite runs the case once per float dtype); any other input
    has its own fixed dtype (mixed-dtype cases run once);
  - the views the C side builds on each loaded input (transpose, permute, slice with a step,
    expand, unsqueeze, ...), so that the case goes through clt's strided paths; PyTorch builds
    the same views here;
  - the expected result, computed by PyTorch in float64 (every float input, and integer data
    inputs of an op with a float result, taken to float64): float results as float64 .npy, to be
    rounded to the run's dtype by the suite; integer and bool results as PyTorch gives them;
  - a fixed random cotangent g and the float64 gradients of sum(out * g) for every float input,
    so every output element's gradient counts;
  - the dtype PyTorch gives the result in each run (PyTorch run with the case's real dtypes);
  - where PyTorch's own float32 answer is further from the float64 one than the tolerance (a
    float32 formula that loses digits, e.g. tanh's gradient near saturation or gelu's tail), that
    answer too ("alt"): the suite then accepts a float32 result that equals it or is no further
    from the float64 reference than it is (plus the tolerance);
  - "out error" where PyTorch raises: clt must refuse too.

The tolerance classes (exact, arith, transc, red) are defined in tests/test_torch_refs.c; TOL below
repeats them only to decide which float32 alternatives to keep.

Mapping conventions (clt's C API cannot say everything Python can):
  - A C double scalar counts as an integer when integral (clt's rule), so for an integer or bool
    tensor an integral scalar is passed to PyTorch as a Python int, else as a float.
  - maximum_scalar(a, s) is torch.maximum(a, tensor(s)) (ties split the gradient, as clt does).
  - Integer labels and indices are int64 for PyTorch where it insists (cross_entropy, nll,
    one_hot), whatever dtype the C side passes.
  - Float-only ops given integers (softmax, logsumexp, gelu, ...) take them as float32 first, as
    clt does; matmul promotes mixed float dtypes (PyTorch's refuses them); argmax/argmin of bool
    compare as uint8 (PyTorch's refuse bool).
  - Where PyTorch itself fails (pow's backward with a bool exponent, scatter_add's backward for a
    src larger than index, subtraction with bool), the case leaves that part out.
  - Where clt departs from PyTorch on purpose (include/clt/ops.h), the float64 reference is the
    exact answer instead: gelu_tanh (GeluTanhExact, with mpmath).
"""
import argparse
import filecmp
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20250611
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, '..', 'tests', 'torch_refs')

U32, U64 = 2.0 ** -24, 2.0 ** -53
# (rtol, normwise atol) for float32 and float64 results; tests/test_torch_refs.c holds the same.
TOL = {
    'exact': ((0.0, 0.0), (0.0, 0.0)),
    'arith': ((8 * U32, 0.0), (8 * U64, 0.0)),
    'transc': ((32 * U32, 0.0), (1e-12, 0.0)),
    'red': ((128 * U32, 128 * U32), (1e-12, 1e-12)),
}
LOOSENESS = ['exact', 'arith', 'transc', 'red']

TDT = {'float32': torch.float32, 'float64': torch.float64, 'int32': torch.int32, 'int64': torch.int64,
       'uint8': torch.uint8, 'bool': torch.bool}
NDT = {'float32': np.float32, 'float64': np.float64, 'int32': np.int32, 'int64': np.int64, 'uint8': np.uint8,
       'bool': np.bool_}
TNAME = {v: k for k, v in TDT.items()}

NAN, INF = float('nan'), float('inf')
# Special values, float32-representable; magnitudes kept apart so that no tolerance of one hides
# another (tolerances are relative).
SMALL = [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 1e-30, -1e-30, 1e-40, -1e-40]
BIG = [1e4, -1e4, 1e30, -1e30, 3e38, -3e38, 88.0, -88.0, 100.0, -100.0, 20.0, -20.0]
F64ONLY = [1e300, -1e300, 5e-324, -1e-310, 700.0, -745.0, 1e-200, 40.0, -40.0]


def f32(a):
    """float64 array of float32-representable values."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


class Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def randn(self, *shape, scale=1.0):
        return f32(self.rng.standard_normal(shape) * scale)

    def unif(self, lo, hi, *shape):
        return f32(self.rng.uniform(lo, hi, shape))

    def ints(self, lo, hi, *shape, dtype='int32'):
        return self.rng.integers(lo, hi, shape).astype(NDT[dtype])

    def choice(self, vals, *shape):
        return f32(self.rng.choice(np.asarray(vals, dtype=np.float64), shape))


class In:
    """One input: its base array, dtype ('F': the run's float dtype), the views the C side builds
    on it, its role ('data' or 'index': indices and labels are never promoted nor differentiated)
    and whether it requires grad (None: a float data input of a differentiable case does)."""

    def __init__(self, arr, dtype='F', views='', role='data', grad=None):
        self.arr, self.dtype, self.views, self.role, self.grad = np.asarray(arr), dtype, views, role, grad


class Case:
    def __init__(self, family, name, op, args, inputs, fn, tol, grad_tol, sz, f64_only, error):
        self.family, self.name, self.op, self.args, self.inputs, self.fn = family, name, op, args, inputs, fn
        self.tol, self.grad_tol, self.sz, self.error = tol, grad_tol, sz, error
        has_f = any(i.dtype == 'F' for i in inputs)
        self.runs = (['f64'] if f64_only else ['f32', 'f64']) if has_f else ['-']


CASES = []


def add(family, name, op, args, inputs, fn, tol='exact', grad_tol=None, sz=False, f64_only=False, error=False):
    """Registers a case: op and args as the manifest states them, fn(views) the PyTorch call."""
    assert all(c.name != name for c in CASES), name
    CASES.append(Case(family, name, op, args, inputs, fn, tol, grad_tol or tol, sz, f64_only, error))


# ---- views: the same little language on both sides ------------------------------------------

def parse_views(text):
    toks, out, i = text.split(), [], 0
    while i < len(toks):
        j = i + 1
        while j < len(toks) and not toks[j][0].isalpha():
            j += 1
        out.append((toks[i], [int(t) for t in toks[i + 1:j]]))
        i = j
    return out


def apply_views(t, text):
    for op, a in parse_views(text):
        if op == 'transpose':
            t = t.transpose(a[0], a[1])
        elif op == 'permute':
            t = t.permute(*a)
        elif op == 'slice':
            idx = [slice(None)] * t.dim()
            idx[a[0]] = slice(a[1], a[2], a[3])
            t = t[tuple(idx)]
        elif op == 'expand':
            t = t.expand(*a)
        elif op == 'unsqueeze':
            t = t.unsqueeze(a[0])
        elif op == 'squeeze':
            t = t.squeeze(a[0])
        elif op == 'reshape':
            t = t.reshape(a)
        elif op == 'flatten':
            t = t.flatten(a[0], a[1])
        else:
            raise ValueError('unknown view ' + op)
    return t


def expands(inp, out_numel):
    """Whether the input's gradient sums several output elements (broadcast or expanded)."""
    return 'expand' in inp.views or inp.arr.size < out_numel


# ---- running a case in PyTorch ------------------------------------------------------------

def actual_dtype(inp, run):
    if inp.dtype == 'F':
        return 'float32' if run == 'f32' else 'float64'
    return inp.dtype


def execute(case, run, ref, promote, grad_flags=None):
    """Runs case.fn. ref: every float input in float64, and integer data inputs too when
    promote. Returns (leaves, out)."""
    leaves = []
    views = []
    for k, inp in enumerate(case.inputs):
        dt = actual_dtype(inp, run)
        if ref and inp.role == 'data' and (dt.startswith('float') or promote):
            dt = 'float64'
        t = torch.from_numpy(np.array(inp.arr, dtype=NDT[dt]))
        if grad_flags and grad_flags[k]:
            t.requires_grad_(True)
        leaves.append(t)
        views.append(apply_views(t, inp.views))
    return leaves, case.fn(views)


def grad_flags(case, run):
    return [inp.role == 'data' and inp.grad is not False and actual_dtype(inp, run).startswith('float')
            for inp in case.inputs]


def grads_of(leaves, flags, out, g):
    want = [t for t, f in zip(leaves, flags) if f]
    if not want or not out.requires_grad:
        return None
    gs = torch.autograd.grad(out, want, g.to(out.dtype), allow_unused=True)
    res, it = [], iter(gs)
    for t, f in zip(leaves, flags):
        if f:
            x = next(it)
            res.append(torch.zeros_like(t) if x is None else x.detach())
        else:
            res.append(None)
    return res


def close(got, want, tol, sz):
    """The suite's comparison, elementwise, on NumPy arrays of one float dtype (without the
    alternative, which this decides about)."""
    f32 = want.dtype == np.float32
    rtol, atol = TOL[tol][0 if f32 else 1]
    tiny = np.finfo(np.float32 if f32 else np.float64).tiny
    got, want = got.astype(np.float64).ravel(), want.astype(np.float64).ravel()
    fin = np.isfinite(want)
    scale = np.max(np.abs(want[fin])) if fin.any() else 0.0
    with np.errstate(invalid='ignore'):
        same = (got == want) & (~sz | (want != 0) | (np.signbit(got) == np.signbit(want)))
        near = (got != want) & fin & np.isfinite(got) & \
            (np.abs(got - want) <= rtol * np.maximum(np.abs(want), tiny) + atol * scale)
    return bool(np.all((np.isnan(got) & np.isnan(want)) | same | near))


# ---- writing ------------------------------------------------------------------------------

class Writer:
    def __init__(self, out_dir, seed):
        self.dir, self.seed = out_dir, seed
        self.data = os.path.join(out_dir, 'data')
        os.makedirs(self.data, exist_ok=True)
        self.lines = []
        self.files = 0
        self.alts = []

    def save(self, name, arr):
        np.save(os.path.join(self.data, name), np.array(arr, order="C"), allow_pickle=False)
        self.files += 1
        return name

    def case(self, c):
        """Runs c in PyTorch and writes its files and manifest lines."""
        lines = ['case ' + ' '.join([c.name, c.family, c.op] + c.args), None, 'runs ' + ' '.join(c.runs)]
        flags0 = grad_flags(c, c.runs[0])
        for k, inp in enumerate(c.inputs):
            arr = inp.arr.astype(np.float64) if inp.dtype == 'F' else inp.arr.astype(NDT[inp.dtype])
            f = self.save('%s.x%d.npy' % (c.name, k), arr)
            lines.append('in %s %s %s%s' % (f, inp.dtype, 'grad' if flags0[k] else 'nograd',
                                            (' ' + inp.views) if inp.views else ''))
        gtol = c.grad_tol
        if c.error:
            for run in c.runs:
                try:
                    execute(c, run, False, False)
                except Exception:
                    continue
                raise SystemExit('%s: PyTorch does not raise in run %s' % (c.name, run))
            lines.append('out error')
        else:
            gtol = self.results(c, flags0, lines)
        lines[1] = 'tol %s %s%s' % (c.tol, gtol, ' sz' if c.sz else '')
        self.lines += lines + ['end']

    def results(self, c, flags0, lines):
        """Expected result, cotangent, gradients and float32 alternatives; returns the gradient
        tolerance class (loosened to 'red' where a gradient sums several output elements)."""
        runs = {}
        for run in c.runs:
            flags = grad_flags(c, run)
            leaves, out = execute(c, run, False, False, flags)
            runs[run] = (flags, leaves, out)
        outs = [runs[r][2] for r in c.runs]
        shape = tuple(outs[0].shape)
        assert all(tuple(o.shape) == shape for o in outs), c.name
        is_float = outs[0].is_floating_point()
        assert all(o.is_floating_point() == is_float for o in outs), c.name
        numel = int(np.prod(shape)) if shape else 1
        gtol = c.grad_tol
        if any(f and expands(inp, numel) for f, inp in zip(flags0, c.inputs)):
            gtol = max(gtol, 'red', key=LOOSENESS.index)
        if is_float:
            rleaves, rout = execute(c, c.runs[0], True, True, flags0)
            # a cast to float32 is the one op whose float64 reference is itself float32
            assert (rout.dtype == torch.float64 or c.op == 'cast') and tuple(rout.shape) == shape, (c.name, rout.dtype)
            expect = rout.detach().numpy().astype(np.float64)
        else:
            expect = outs[0].numpy()
            for o in outs[1:]:
                assert torch.equal(o, outs[0]), c.name
        lines.append('out %s %s' % (self.save(c.name + '.out.npy', expect), ' '.join(TNAME[o.dtype] for o in outs)))
        if not is_float:
            return gtol
        ref_grads = None
        if any(flags0) and rout.requires_grad:
            g = torch.from_numpy(self.cotangent(c.name, shape))
            ref_grads = grads_of(rleaves, flags0, rout, g)
            lines.append('g ' + self.save(c.name + '.g.npy', g.numpy()))
            for k, rg in enumerate(ref_grads):
                if rg is not None:
                    lines.append('grad %d %s' % (k, self.save('%s.grad%d.npy' % (c.name, k), rg.numpy())))
        for run in c.runs:
            flags, leaves, out = runs[run]
            self.alt(c, run, 'out', out.detach().numpy(), expect, c.tol, lines)
            if ref_grads is None:
                continue
            for k, (ag, rg) in enumerate(zip(grads_of(leaves, flags, out, g), ref_grads)):
                if ag is not None:
                    self.alt(c, run, 'grad %d' % k, ag.numpy(), rg.numpy(), gtol, lines)
        return gtol

    def cotangent(self, name, shape):
        # drawn per case from the seed and the case's name, so that adding a case changes no
        # other case's bytes
        rng = np.random.default_rng([self.seed] + [ord(ch) for ch in name])
        return f32(rng.standard_normal(shape) + 0.25)

    def alt(self, c, run, what, got, ref, tol, lines):
        want = ref.astype(got.dtype)
        if close(got, want, tol, c.sz and what == 'out'):
            return
        f = self.save('%s.alt-%s-%s.npy' % (c.name, run, what.replace(' ', '')), got)
        lines.append('alt %s %s %s' % (run, what, f))
        self.alts.append('%s %s %s' % (c.name, run, what))

    def finish(self, seed):
        head = ['# clt differential suite against PyTorch %s, float64 references.' % torch.__version__.split('+')[0],
                '# Written by tools/make_torch_refs.py --seed %d; do not edit (regenerate).' % seed,
                '# Format: tests/test_torch_refs.c.',
                'seed %d' % seed]
        with open(os.path.join(self.dir, 'manifest.txt'), 'w') as f:
            f.write('\n'.join(head + self.lines) + '\n')


# ---- the cases ----------------------------------------------------------------------------

def scalar_for(t, s):
    """A C double as PyTorch should see it next to tensor t (clt's rule for integral values)."""
    if not t.is_floating_point() and math.isfinite(s) and s == int(s):
        return int(s)
    return s


def fmt(s):
    return repr(float(s))


def red_args(dims, keep):
    return ['dims=' + ','.join(str(d) for d in dims), 'keep=%d' % keep]


def tdims(t, dims):
    return tuple(dims) if dims else tuple(range(t.dim()))


class GeluTanhExact(torch.autograd.Function):
    """gelu_tanh's float64 reference where clt departs from PyTorch deliberately (include/clt/ops.h):
    the value x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), and its derivative, exact (mpmath)
    and rounded once, for finite nonzero x. PyTorch's float64 0.5 x (1 + tanh u) cancels for
    negative x (relative error 1.4e-12 at x = -4, 2.8e-10 at -5, 2.7e-7 at -6, all digits from -8:
    it gives -0 at -20 where the value is -3.4e-261), and its gradient is NaN where x^3 overflows
    (|x| > 5.6e102) although x is finite. At 0, +-inf and NaN, PyTorch's own answers (clt keeps
    them: NaN gradients at +-inf)."""

    @staticmethod
    def exact(v):
        """(value, derivative) at the float v, to float64."""
        import mpmath as mp
        with mp.workdps(60):
            x = mp.mpf(v)
            du = mp.sqrt(2 / mp.pi) * (1 + 3 * mp.mpf(0.044715) * x * x)
            e = mp.exp(-2 * mp.sqrt(2 / mp.pi) * (x + mp.mpf(0.044715) * x ** 3))  # e^(-2u)
            s, one_minus_s = 1 / (1 + e), e / (1 + e)
            # decimal strings: Python's float() rounds subnormals correctly, mpmath's does not
            return float(mp.nstr(x * s, 40)), float(mp.nstr(s + x * s * one_minus_s * 2 * du, 40))

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        out = F.gelu(x, approximate='tanh')
        for i, v in enumerate(x.reshape(-1).tolist()):
            if math.isfinite(v) and v != 0:
                out.view(-1)[i] = GeluTanhExact.exact(v)[0]
        return out

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            (gx,) = torch.autograd.grad(F.gelu(xx, approximate='tanh'), xx, g)
        gx, gf = gx.clone(), g.contiguous().reshape(-1)
        for i, v in enumerate(x.reshape(-1).tolist()):
            if math.isfinite(v) and v != 0:
                gx.view(-1)[i] = gf[i] * GeluTanhExact.exact(v)[1]
        return gx


def gelu_tanh(x):
    """PyTorch's gelu_tanh, but the exact reference in float64 (GeluTanhExact)."""
    return GeluTanhExact.apply(x.contiguous()) if x.dtype == torch.float64 else F.gelu(x, approximate='tanh')


UNARY = [
    # name, torch fn, basic-domain, out tol, grad tol, integers stay integers, clt params
    ('neg', torch.neg, 'n', 'exact', 'exact', True, {}),
    ('abs', torch.abs, 'n', 'exact', 'exact', True, {}),
    ('sign', torch.sign, 'n', 'exact', 'exact', True, {}),
    ('square', torch.square, 'n', 'arith', 'arith', True, {}),
    ('relu', torch.relu, 'n', 'exact', 'exact', True, {}),
    ('clamp', lambda x: torch.clamp(x, -0.5, 1.0), 'n', 'exact', 'exact', True, {'p0': -0.5, 'p1': 1.0}),
    ('exp', torch.exp, 'n', 'transc', 'transc', False, {}),
    ('expm1', torch.expm1, 'n', 'transc', 'transc', False, {}),
    ('log', torch.log, 'pos', 'transc', 'arith', False, {}),
    ('log1p', torch.log1p, 'gtm1', 'transc', 'arith', False, {}),
    ('sqrt', torch.sqrt, 'pos', 'arith', 'arith', False, {}),
    ('rsqrt', torch.rsqrt, 'pos', 'transc', 'transc', False, {}),
    ('reciprocal', torch.reciprocal, 'nz', 'arith', 'arith', False, {}),
    ('sin', torch.sin, 'n', 'transc', 'transc', False, {}),
    ('cos', torch.cos, 'n', 'transc', 'transc', False, {}),
    ('tanh', torch.tanh, 'n', 'transc', 'transc', False, {}),
    ('sigmoid', torch.sigmoid, 'n', 'transc', 'transc', False, {}),
    ('leaky_relu', lambda x: F.leaky_relu(x, 0.1), 'n', 'arith', 'arith', False, {'p0': 0.1}),
    ('elu', lambda x: F.elu(x, 0.5), 'n', 'transc', 'transc', False, {'p0': 0.5}),
    ('gelu', F.gelu, 'n', 'transc', 'transc', False, {}),
    ('gelu_tanh', gelu_tanh, 'n', 'transc', 'transc', False, {}),
    ('silu', F.silu, 'n', 'transc', 'transc', False, {}),
    ('softplus', F.softplus, 'n', 'transc', 'transc', False, {}),
]


def domain(gen, kind, *shape):
    if kind == 'pos':
        return gen.unif(0.1, 4.0, *shape)
    if kind == 'gtm1':
        return gen.unif(-0.9, 4.0, *shape)
    if kind == 'nz':
        return gen.unif(0.25, 3.0, *shape) * gen.choice([-1.0, 1.0], *shape)
    return gen.randn(*shape, scale=2.0)


def unary_cases(gen):
    for name, fn, dom, tol, gtol, int_ok, params in UNARY:
        args = ['%s=%s' % (k, fmt(v)) for k, v in params.items()]
        # float-only ops take integers as float32 first (clt's rule; some PyTorch kernels refuse ints)
        f = (lambda fn, int_ok: lambda v: fn(v[0] if int_ok or v[0].is_floating_point() else v[0].float()))(fn, int_ok)
        # clamp's gradient flows where lo < x < hi (PyTorch 2.x: 0 at the bounds); elsewhere values
        # stay off kinks only through the random draw, which never lands on 0 exactly
        add('unary', name + '_basic', name, args, [In(domain(gen, dom, 3, 4))], f, tol, gtol)
        add('unary', name + '_transposed_sliced', name, args,
            [In(domain(gen, dom, 5, 4), views='transpose 0 1 slice 1 0 5 2')], f, tol, gtol)
        add('unary', name + '_expanded', name, args, [In(domain(gen, dom, 3, 1), views='expand 2 3 4')], f, tol, gtol)
        add('unary', name + '_permuted3d', name, args, [In(domain(gen, dom, 2, 3, 4), views='permute 2 0 1')], f, tol,
            gtol)
        add('unary', name + '_0d', name, args, [In(domain(gen, dom))], f, tol, gtol)
        add('unary', name + '_empty', name, args, [In(np.zeros((0, 3)))], f, tol, gtol)
        add('unary', name + '_special_small', name, args, [In(f32(SMALL))], f, tol, gtol, sz=True)
        add('unary', name + '_special_big', name, args, [In(f32(BIG))], f, tol, gtol, sz=True)
        add('unary', name + '_special_f64', name, args, [In(np.array(F64ONLY))], f, tol, gtol, sz=True, f64_only=True)
        ivals = np.array([-3, -2, -1, 0, 1, 2, 5], dtype=np.int32)
        if name in ('log', 'sqrt', 'rsqrt', 'log1p'):
            ivals = np.abs(ivals)
        if name == 'clamp':
            # fractional bounds make a float result (the bounds count as floats, as PyTorch's do);
            # the integer cases below take integral ones
            add('unary', 'clamp_int32_fractional_bounds', name, args, [In(ivals, 'int32')], f, tol, gtol)
            add('unary', 'clamp_at_bounds', name, args, [In(f32([-0.5, 1.0, 0.25, -0.6, 1.1]))], f, tol, gtol)
            args, f = ['p0=-1.0', 'p1=2.0'], lambda v: torch.clamp(v[0], -1, 2)
        add('unary', name + '_int32', name, args, [In(ivals, 'int32')], f, tol, gtol)
        if int_ok:
            add('unary', name + '_int64_view', name, args,
                [In(np.arange(-6, 6, dtype=np.int64).reshape(3, 4), 'int64', views='transpose 0 1')], f, tol, gtol)
            add('unary', name + '_uint8', name, args, [In(np.array([0, 1, 3, 200, 255], np.uint8), 'uint8')], f, tol, gtol)
    add('unary', 'logical_not_float', 'logical_not', [], [In(f32(SMALL))], lambda v: torch.logical_not(v[0]))
    add('unary', 'logical_not_int32_view', 'logical_not', [],
        [In(np.array([[0, 1, -2], [3, 0, 0]], np.int32), 'int32', views='transpose 0 1')], lambda v: torch.logical_not(v[0]))
    add('unary', 'logical_not_bool', 'logical_not', [], [In(np.array([True, False, True]), 'bool')],
        lambda v: torch.logical_not(v[0]))
    add('unary', 'logical_not_uint8_empty', 'logical_not', [], [In(np.zeros((2, 0), np.uint8), 'uint8')],
        lambda v: torch.logical_not(v[0]))


BINARY = [
    # name, torch fn, tol, grad tol
    ('add', torch.add, 'arith', 'arith'),
    ('sub', torch.sub, 'arith', 'arith'),
    ('mul', torch.mul, 'arith', 'arith'),
    ('div', torch.div, 'arith', 'arith'),
    ('pow', torch.pow, 'transc', 'transc'),
    ('maximum', torch.maximum, 'exact', 'exact'),
    ('minimum', torch.minimum, 'exact', 'exact'),
]


def bin_operands(gen, name, *shapes):
    """Random operands suited to the op: positive bases for pow, no zero divisors for div, ties
    for maximum/minimum."""
    out = []
    for k, s in enumerate(shapes):
        if name == 'pow':
            out.append(gen.unif(0.5, 2.0, *s) if k == 0 else gen.unif(-2.0, 2.0, *s))
        elif name == 'div' and k == 1:
            out.append(gen.unif(0.25, 3.0, *s) * gen.choice([-1.0, 1.0], *s))
        elif name in ('maximum', 'minimum'):
            out.append(gen.choice([-1.5, -0.5, 0.0, 0.25, 1.0, 2.0], *s))
        else:
            out.append(gen.randn(*s))
    return out


def int_operands(gen, name, dt_a, dt_b, n=6):
    """Small integer (or bool) operands for mixed-dtype cases."""
    def one(dt, k):
        if dt == 'bool':
            return gen.rng.integers(0, 2, n).astype(bool)
        lo = 0 if (dt == 'uint8' or (name == 'pow' and k == 1)) else -3
        v = gen.ints(lo, 5, n, dtype=dt)
        if name == 'div' and k == 1:
            v = np.where(v == 0, 2, v).astype(NDT[dt])
        if name == 'pow' and k == 0 and dt == 'uint8':
            v = np.minimum(v, 3).astype(NDT[dt])
        return v
    return one(dt_a, 0), one(dt_b, 1)


def outer(vals):
    a = np.repeat(f32(vals), len(vals))
    b = np.tile(f32(vals), len(vals))
    return a, b


def binary_cases(gen):
    pair = lambda fn: (lambda v: fn(v[0], v[1]))
    for name, fn, tol, gtol in BINARY:
        f = pair(fn)
        a, b = bin_operands(gen, name, (3, 4), (3, 4))
        add('binary', name + '_basic', name, [], [In(a), In(b)], f, tol, gtol)
        a, b = bin_operands(gen, name, (3, 1), (4,))
        add('binary', name + '_broadcast', name, [], [In(a), In(b)], f, tol, gtol)
        a, b = bin_operands(gen, name, (2, 3, 4), (3, 1))
        add('binary', name + '_broadcast3d', name, [], [In(a), In(b)], f, tol, gtol)
        a, b = bin_operands(gen, name, (4, 3), (3, 8))
        add('binary', name + '_views', name, [], [In(a, views='transpose 0 1'), In(b, views='slice 1 1 8 2')], f, tol,
            gtol)
        a, b = bin_operands(gen, name, (1, 4), (2, 3, 4))
        add('binary', name + '_expanded', name, [], [In(a, views='expand 3 4'), In(b, views='permute 0 1 2 slice 0 1 2 1')],
            f, tol, gtol)
        a, b = bin_operands(gen, name, (3,), ())
        add('binary', name + '_0d', name, [], [In(a), In(b)], f, tol, gtol)
        a, b = bin_operands(gen, name, (), ())
        add('binary', name + '_0d_0d', name, [], [In(a), In(b)], f, tol, gtol)
        a, b = bin_operands(gen, name, (0, 3), (3,))
        add('binary', name + '_empty', name, [], [In(a), In(b)], f, tol, gtol)
        sa, sb = outer([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 2.5])
        add('binary', name + '_special', name, [], [In(sa), In(sb)], f, tol, gtol, sz=True)
        sa, sb = outer([1e30, -1e30, 3e38, 1e-30, -1e-40, 65504.0])
        add('binary', name + '_special_big', name, [], [In(sa), In(sb)], f, tol, gtol, sz=True)
        # mixed dtypes: the result promotes, each gradient comes back in its input's dtype
        for da, db in [('float32', 'float64'), ('float64', 'float32')]:
            a, b = bin_operands(gen, name, (2, 3), (3,))
            add('binary', '%s_%s_%s' % (name, da, db), name, [], [In(f32(a), da), In(f32(b), db)], f, tol, gtol)
        for da, db in [('int32', 'F'), ('F', 'int32'), ('int64', 'F'), ('uint8', 'F'), ('F', 'bool')]:
            if name in ('sub', 'pow') and 'bool' in (da, db):
                continue  # PyTorch refuses subtraction with bool, and pow's backward with a bool exponent
            ia, ib = int_operands(gen, name, da if da != 'F' else 'int32', db if db != 'F' else 'int32')
            fa, fb = bin_operands(gen, name, (6,), (6,))
            if name == 'pow':
                fa, fb = gen.unif(0.5, 2.0, 6), gen.unif(0.0, 2.0, 6)
            a = fa if da == 'F' else ia
            b = fb if db == 'F' else ib
            add('binary', '%s_%s_%s' % (name, da.replace('F', 'float'), db.replace('F', 'float')), name, [],
                [In(a, da), In(b, db)], f, tol, gtol)
        for da, db in [('int32', 'int32'), ('int32', 'int64'), ('uint8', 'int32'), ('bool', 'int32'), ('uint8', 'uint8')]:
            if name == 'sub' and 'bool' in (da, db):
                continue
            a, b = int_operands(gen, name, da, db)
            add('binary', '%s_%s_%s' % (name, da, db), name, [], [In(a, da), In(b, db)], f, tol, gtol)
    # gradients whose intermediate terms leave the float32 range while the gradient does not
    # (div's a / b^2, pow's b a^(b-1) and a^b log a)
    add('binary', 'div_grad_extremes', 'div', [],
        [In(f32([0, 1, 1, 0, -3, 1e-30])), In(f32([1e-40, 1e20, -1e20, 1e20, 1e-20, 3e38]))],
        lambda v: torch.div(v[0], v[1]), 'arith', 'arith', sz=True)
    add('binary', 'pow_grad_extremes', 'pow', [],
        [In(f32([1e10, 2, 1e19, 0.5, 1e-20, 3, 1e20, -1e10])), In(f32([3.5, 100, 2, -120, -1.5, 80, 1.95, 4]))],
        lambda v: torch.pow(v[0], v[1]), 'transc', 'transc')
    # dtype promotion with 0-d operands (PyTorch: a dimensioned operand wins within its category,
    # a 0-d operand of a higher category decides)
    promo = [('int32', (2,), 'float64', ()), ('bool', (2,), 'int32', ()), ('float32', (2,), 'float64', ()),
             ('int32', (2,), 'float32', ()), ('uint8', (2,), 'int64', ()), ('int64', (), 'float32', (2,)),
             ('float32', (), 'float64', ()), ('int32', (), 'float32', ()), ('bool', (), 'uint8', (3,)),
             ('uint8', (3,), 'bool', ())]
    for k, (da, sa, db, sb) in enumerate(promo):
        def val(dt, s):
            if dt == 'bool':
                return gen.rng.integers(0, 2, s).astype(bool)
            if dt.startswith('float'):
                return gen.unif(-2.0, 2.0, *s)
            return gen.ints(0, 4, *s, dtype=dt)
        for name in ('add', 'mul'):
            add('binary', 'promote_%s_%d_%s%dd_%s%dd' % (name, k, da, len(sa), db, len(sb)), name, [],
                [In(val(da, sa), da), In(val(db, sb), db)], pair(getattr(torch, name)), 'arith', 'arith')


SCALAR_OPS = [
    # clt name, PyTorch form of (a, s), tol
    ('add_scalar', lambda a, s: a + s, 'arith'),
    ('sub_scalar', lambda a, s: a - s, 'arith'),
    ('mul_scalar', lambda a, s: a * s, 'arith'),
    ('div_scalar', lambda a, s: a / s, 'arith'),
    ('pow_scalar', lambda a, s: torch.pow(a, s), 'transc'),
    ('maximum_scalar', lambda a, s: torch.maximum(a, torch.tensor(s, dtype=torch.result_type(a, s))), 'exact'),
    ('minimum_scalar', lambda a, s: torch.minimum(a, torch.tensor(s, dtype=torch.result_type(a, s))), 'exact'),
    ('rsub_scalar', lambda a, s: s - a, 'arith'),
    ('rdiv_scalar', lambda a, s: s / a, 'arith'),
    ('rpow_scalar', lambda a, s: torch.pow(s, a), 'transc'),
    ('eq_scalar', lambda a, s: a == s, 'exact'),
    ('ne_scalar', lambda a, s: a != s, 'exact'),
    ('lt_scalar', lambda a, s: a < s, 'exact'),
    ('le_scalar', lambda a, s: a <= s, 'exact'),
    ('gt_scalar', lambda a, s: a > s, 'exact'),
    ('ge_scalar', lambda a, s: a >= s, 'exact'),
]


def scalar_cases(gen):
    for name, fn, tol in SCALAR_OPS:
        def f(s, fn=fn):
            return lambda v: fn(v[0], scalar_for(v[0], s))
        base = name[:-len('_scalar')]
        pos = base in ('pow', 'rdiv', 'rpow', 'div')
        x = gen.unif(0.25, 2.0, 3, 4) if pos else gen.choice([-1.5, -0.5, 0.0, 1.0, 2.5, 3.0], 3, 4)
        for tag, s in [('s2p5', 2.5), ('sm2', -2.0)]:
            if base == 'rpow' and s < 0:
                s = 0.5
            add('scalar', '%s_%s' % (name, tag), name, ['s=' + fmt(s)], [In(x)], f(s), tol)
        add('scalar', name + '_view', name, ['s=' + fmt(1.5)],
            [In(gen.unif(0.25, 2.0, 4, 6) if pos else gen.randn(4, 6), views='transpose 0 1 slice 0 0 6 3')], f(1.5), tol)
        add('scalar', name + '_0d', name, ['s=' + fmt(3.0)], [In(gen.unif(0.5, 2.0))], f(3.0), tol)
        add('scalar', name + '_empty', name, ['s=' + fmt(2.0)], [In(np.zeros((0, 2)))], f(2.0), tol)
        ix = np.array([-2, -1, 0, 1, 2, 3], np.int32)
        if base in ('rpow', 'rdiv'):
            ix = np.abs(ix) + 1
        for tag, s in [('int', 2.0), ('frac', 2.5)]:
            add('scalar', '%s_int32_%s' % (name, tag), name, ['s=' + fmt(s)], [In(ix, 'int32')], f(s), tol)
        if base not in ('sub', 'rsub', 'div', 'rdiv', 'pow', 'rpow'):
            add('scalar', name + '_bool_int', name, ['s=' + fmt(2.0)], [In(np.array([True, False, True]), 'bool')],
                f(2.0), tol)
            add('scalar', name + '_uint8_int', name, ['s=' + fmt(3.0)], [In(np.array([0, 2, 250], np.uint8), 'uint8')],
                f(3.0), tol)
        for tag, s in [('s0', 0.0), ('snz', -0.0), ('sinf', INF), ('sminf', -INF), ('snan', NAN), ('shalf', 0.5),
                       ('sm1', -1.0)]:
            add('scalar', '%s_special_%s' % (name, tag), name, ['s=' + fmt(s)], [In(f32(SMALL[:9]))], f(s), tol, sz=True)


COMPARE = [('eq', torch.eq), ('ne', torch.ne), ('lt', torch.lt), ('le', torch.le), ('gt', torch.gt), ('ge', torch.ge)]


def compare_cases(gen):
    pair = lambda fn: (lambda v: fn(v[0], v[1]))
    vals = [-1.0, 0.0, 0.5, 1.0]
    for name, fn in COMPARE:
        f = pair(fn)
        add('compare', name + '_basic', name, [], [In(gen.choice(vals, 3, 4)), In(gen.choice(vals, 3, 4))], f)
        add('compare', name + '_broadcast_views', name, [],
            [In(gen.choice(vals, 4, 3), views='transpose 0 1'), In(gen.choice(vals, 1, 4), views='expand 3 4')], f)
        add('compare', name + '_int32_float', name, [],
            [In(gen.ints(-2, 2, 5), 'int32'), In(gen.choice([-1.0, 0.0, 0.5, 1.0], 5))], f)
        add('compare', name + '_bool_int64', name, [],
            [In(np.array([True, False, True, False]), 'bool'), In(np.array([1, 0, 0, 2], np.int64), 'int64')], f)
        add('compare', name + '_uint8_0d', name, [],
            [In(np.array([0, 1, 2, 255], np.uint8), 'uint8'), In(np.array(1, np.int32), 'int32')], f)
        sa, sb = outer([NAN, INF, -INF, 0.0, -0.0, 1.0, 1e-40])
        add('compare', name + '_special', name, [], [In(sa), In(sb)], f)
        add('compare', name + '_empty', name, [], [In(np.zeros((0, 2))), In(np.zeros(2))], f)


def logical_cases(gen):
    pair = lambda fn: (lambda v: fn(v[0], v[1]))
    for name in ('logical_and', 'logical_or', 'logical_xor'):
        f = pair(getattr(torch, name))
        sa, sb = outer([NAN, 0.0, -0.0, 2.0, -INF])
        add('logical', name + '_special', name, [], [In(sa), In(sb)], f)
        add('logical', name + '_int32_bool_broadcast', name, [],
            [In(np.array([[0], [3], [-1]], np.int32), 'int32'), In(np.array([True, False]), 'bool')], f)
        add('logical', name + '_views', name, [],
            [In(gen.choice([0.0, 1.0], 4, 3), views='transpose 0 1'), In(gen.choice([0.0, 2.0], 3, 8), views='slice 1 0 8 2')],
            f)
        add('logical', name + '_uint8_float64_empty', name, [],
            [In(np.zeros((0, 2), np.uint8), 'uint8'), In(np.zeros(2), 'float64')], f)


def where_cases(gen):
    f = lambda v: torch.where(v[0].bool() if v[0].dtype != torch.bool else v[0], v[1], v[2])
    cond = gen.rng.integers(0, 2, (3, 4)).astype(bool)
    add('where', 'where_basic', 'where', [], [In(cond, 'bool'), In(gen.randn(3, 4)), In(gen.randn(3, 4))], f)
    add('where', 'where_broadcast', 'where', [],
        [In(gen.rng.integers(0, 2, (3, 1)).astype(bool), 'bool'), In(gen.randn(4)), In(gen.randn())], f, 'exact', 'exact')
    add('where', 'where_int_cond_views', 'where', [],
        [In(np.array([[0, 2], [-1, 0], [5, 0]], np.int32), 'int32', views='transpose 0 1', role='index'),
         In(gen.randn(3, 2), views='transpose 0 1'), In(gen.randn(2, 1), views='expand 2 3')], f)
    add('where', 'where_float_cond', 'where', [],
        [In(f32([0.0, -0.0, NAN, 1.0]), 'float32', role='index'), In(gen.randn(4)), In(gen.randn(4))], f)
    add('where', 'where_mixed_int32_float', 'where', [],
        [In(np.array([True, False, True]), 'bool'), In(np.array([1, 2, 3], np.int32), 'int32'), In(gen.randn(3))], f)
    add('where', 'where_float32_float64', 'where', [],
        [In(np.array([True, False, True]), 'bool'), In(gen.randn(3), 'float32'), In(gen.randn(3), 'float64')], f)
    add('where', 'where_special', 'where', [],
        [In(np.array([True, False] * 4), 'bool'), In(f32([NAN, INF, -0.0, 1, -INF, 0.0, 2, 3])),
         In(f32([1, NAN, 5, -0.0, 2, INF, -INF, 0.0]))], f, sz=True)
    add('where', 'where_empty', 'where', [],
        [In(np.zeros((0, 3), bool), 'bool'), In(np.zeros((0, 3))), In(np.zeros(3))], f)
    add('where', 'where_int_int', 'where', [],
        [In(np.array([True, False, True]), 'bool'), In(np.array([1, 2, 3], np.int64), 'int64'),
         In(np.array([7, 8, 9], np.uint8), 'uint8')], f)


def cast_cases(gen):
    def c(dt):
        return lambda v: v[0].to(TDT[dt])
    add('cast', 'cast_float_int32', 'cast', ['dtype=int32'], [In(f32([-2.7, -0.5, 0.0, 0.9, 3.5, 1e6]))], c('int32'))
    add('cast', 'cast_float_int64_view', 'cast', ['dtype=int64'],
        [In(f32([[-2.7, 7.9], [-0.5, 1e9]]), views='transpose 0 1')], c('int64'))
    add('cast', 'cast_float_uint8', 'cast', ['dtype=uint8'], [In(f32([0.0, 1.5, 200.7, 255.0]))], c('uint8'))
    add('cast', 'cast_float_bool', 'cast', ['dtype=bool'], [In(f32(SMALL))], c('bool'))
    add('cast', 'cast_float32_float64_grad', 'cast', ['dtype=float64'], [In(gen.randn(3, 4), 'float32')], c('float64'),
        'exact', 'arith')
    add('cast', 'cast_float64_float32_grad', 'cast', ['dtype=float32'],
        [In(np.array([1.0 / 3, 1e-50, 1e300, -2.5, NAN]), 'float64')], c('float32'), 'exact', 'exact', sz=True)
    add('cast', 'cast_int32_float', 'cast', ['dtype=float32'], [In(np.array([-3, 0, 7, 16777217], np.int32), 'int32')],
        c('float32'))
    add('cast', 'cast_int64_int32', 'cast', ['dtype=int32'], [In(np.array([-5, 0, 2 ** 31 - 1], np.int64), 'int64')],
        c('int32'))
    add('cast', 'cast_bool_float64', 'cast', ['dtype=float64'], [In(np.array([True, False]), 'bool')], c('float64'))
    add('cast', 'cast_int32_uint8_wrap', 'cast', ['dtype=uint8'], [In(np.array([-1, 256, 300, 7], np.int32), 'int32')],
        c('uint8'))
    add('cast', 'cast_empty', 'cast', ['dtype=int32'], [In(np.zeros((0,)))], c('int32'))


def prod_over(x, dims, keep):
    """torch.prod over several dims (PyTorch takes one at a time)."""
    if x.dim() == 0:
        return torch.prod(x)
    ds = sorted([d % x.dim() for d in dims] if dims else range(x.dim()), reverse=True)
    for d in ds:
        x = torch.prod(x, d, keepdim=True)
    if not keep:
        for d in ds:
            x = x.squeeze(d)
    return x


def reduce_fn(name, dims, keep, corr=None):
    keep = bool(keep)
    def fn(v):
        x = v[0]
        if name == 'sum':
            return torch.sum(x, dim=tdims(x, dims), keepdim=keep)
        if name == 'mean':
            return torch.mean(x, dim=tdims(x, dims), keepdim=keep)
        if name == 'prod':
            return prod_over(x, dims, keep)
        if name == 'max':
            return torch.amax(x, dim=tdims(x, dims), keepdim=keep)
        if name == 'min':
            return torch.amin(x, dim=tdims(x, dims), keepdim=keep)
        if name == 'logsumexp':
            if not x.is_floating_point():
                x = x.float()
            return torch.logsumexp(x, dim=tdims(x, dims), keepdim=keep)
        if name == 'var':
            return torch.var(x, dim=tdims(x, dims), correction=corr, keepdim=keep)
        if name == 'std':
            return torch.std(x, dim=tdims(x, dims), correction=corr, keepdim=keep)
        raise ValueError(name)
    return fn


def u8(x):
    """PyTorch's argmax refuses bool; false < true as uint8."""
    return x.to(torch.uint8) if x.dtype == torch.bool else x


def reduce_cases(gen):
    sets = [((), 0), ((), 1), ((0,), 0), ((-1,), 1), ((0, 2), 0), ((1,), 0), ((2, 0, 1), 1)]
    for name in ('sum', 'mean', 'prod', 'max', 'min', 'logsumexp'):
        tol = 'exact' if name in ('max', 'min') else 'red'
        gtol = 'arith' if name in ('max', 'min') else 'red'

        def r(cname, inputs, dims, keep, **kw):
            add('reduce', cname, name, red_args(dims, keep), inputs, reduce_fn(name, dims, keep), tol, gtol, **kw)

        data = (lambda *s: gen.unif(0.5, 1.5, *s) * gen.choice([-1.0, 1.0], *s)) if name == 'prod' else \
            (lambda *s: gen.choice([-1.0, 0.5, 2.0, 3.0], *s)) if name in ('max', 'min') else \
            (lambda *s: gen.randn(*s))
        for k, (dims, keep) in enumerate(sets):
            r('%s_dims%d' % (name, k), [In(data(2, 3, 4))], dims, keep)
        r(name + '_permuted', [In(data(2, 3, 4), views='permute 2 0 1')], (1,), 0)
        r(name + '_sliced', [In(data(7, 3), views='slice 0 1 7 2')], (0,), 1)
        r(name + '_expanded', [In(data(3, 1, 4), views='expand 3 5 4')], (1, 2), 0)
        r(name + '_0d', [In(data())], (), 0)
        r(name + '_0d_dim0_keep', [In(data())], (0,), 1)
        if name in ('max', 'min'):
            add('errors', name + '_empty_dim', name, red_args((0,), 0), [In(np.zeros((0, 3)))],
                reduce_fn(name, (0,), 0), error=True)
            r(name + '_empty_other_dim', [In(np.zeros((0, 3)))], (1,), 0)
        else:
            r(name + '_empty', [In(np.zeros((0, 3)))], (0,), 0)
            r(name + '_empty_all', [In(np.zeros((2, 0)))], (), 1)
        r(name + '_special_rows', [In(f32([[NAN, 1, 2], [INF, 1, 2], [-INF, 1, 2], [INF, -INF, 0], [-INF, -INF, -INF],
                                          [0.0, -0.0, 0.0]]))], (1,), 0)
        r(name + '_big', [In(f32([[1e30, 3e38, -3e38], [1e-30, 1e-40, 1e-38]]))], (1,), 0)
        if name == 'prod':
            r('prod_zeros', [In(f32([[0, 2, 3], [0, 0, 3], [1, 2, 3], [-0.0, 2, 1]]))], (1,), 0)
        if name in ('max', 'min'):
            r(name + '_ties', [In(f32([[1, 3, 3], [2, 2, 2], [-1, 5, 5]]))], (1,), 0)
            r(name + '_ties_all', [In(f32([[1, 3, 3], [2, 3, 2]]))], (), 0)
        if name != 'mean':
            iv = gen.ints(-3, 4, 2, 5) if name != 'prod' else gen.ints(-2, 3, 2, 5)
            if name == 'logsumexp':
                r(name + '_int32', [In(iv, 'int32')], (1,), 0)
            else:
                r(name + '_int32', [In(iv, 'int32')], (1,), 0)
                r(name + '_int64_all', [In(iv.astype(np.int64), 'int64', views='transpose 0 1')], (), 0)
                r(name + '_bool', [In(np.array([[True, False, True], [False, False, False]]), 'bool')], (1,), 1)
                r(name + '_uint8', [In(np.array([[1, 200, 3], [255, 0, 2]], np.uint8), 'uint8')], (0,), 0)
        else:
            add('errors', 'mean_int32', 'mean', red_args((), 0), [In(np.array([1, 2], np.int32), 'int32')],
                reduce_fn('mean', (), 0), error=True)
    for name in ('var', 'std'):
        def r(cname, inputs, dims, keep, corr, **kw):
            add('reduce', cname, name, red_args(dims, keep) + ['corr=' + fmt(corr)], inputs,
                reduce_fn(name, dims, keep, corr), 'red', 'red', **kw)
        for k, (dims, keep) in enumerate(sets):
            r('%s_dims%d' % (name, k), [In(gen.randn(2, 3, 4))], dims, keep, [1.0, 0.0, 2.0, 1.0, 0.5, 0.0, 1.0][k])
        r(name + '_permuted', [In(gen.randn(2, 3, 4), views='permute 2 0 1')], (1,), 0, 1.0)
        r(name + '_sliced', [In(gen.randn(9, 3), views='slice 0 0 9 3')], (0,), 1, 0.0)
        r(name + '_expanded', [In(gen.randn(3, 1), views='expand 3 4')], (1,), 0, 1.0)
        r(name + '_constant_rows', [In(f32([[2, 2, 2], [-1, -1, -1], [0, 0, 0]]))], (1,), 0, 1.0)
        r(name + '_0d', [In(gen.randn())], (), 0, 0.0)
        r(name + '_size1_dim', [In(gen.randn(3, 1))], (1,), 0, 0.0)
        r(name + '_n_le_corr', [In(gen.randn(2, 1))], (1,), 0, 1.0)
        r(name + '_huge', [In(f32([[1e20, -1e20], [3e19, 1e19]]))], (1,), 0, 0.0)
        r(name + '_huge_corr1', [In(f32([1e30, -1e30, 2e30]))], (), 0, 1.0)
        r(name + '_offset', [In(f32(10000.0 + np.arange(6) / 8.0))], (), 0, 1.0)
        r(name + '_special', [In(f32([[NAN, 1, 2], [INF, 1, 2], [1, 2, 3]]))], (1,), 0, 1.0)
        r(name + '_empty', [In(np.zeros((0, 3)))], (0,), 0, 1.0)
    for name in ('argmax', 'argmin'):
        fn = getattr(torch, name)

        def r(cname, x, dim, keep):
            dims = 'all' if dim is None else str(dim)
            add('reduce', cname, name, ['dim=' + dims, 'keep=%d' % keep], [x],
                (lambda v, dim=dim, keep=keep, fn=fn: fn(u8(v[0]), dim=dim, keepdim=bool(keep)) if dim is not None
                 else fn(u8(v[0]), keepdim=bool(keep))))
        x = gen.choice([-1.0, 0.0, 2.0, 3.0], 3, 4)
        for dim in (0, 1, -1):
            for keep in (0, 1):
                r('%s_dim%d_keep%d' % (name, dim, keep), In(x), dim, keep)
        r(name + '_all', In(x), None, 0)
        r(name + '_all_keep', In(x, views='transpose 0 1'), None, 1)
        r(name + '_nan', In(f32([[1, NAN, 3, NAN], [INF, -INF, 2, 2], [0.0, -0.0, 0.0, 1]])), 1, 0)
        r(name + '_int32_view', In(gen.ints(-3, 3, 4, 5), 'int32', views='transpose 0 1'), 1, 0)
        r(name + '_bool', In(np.array([[False, True, True], [False, False, False]]), 'bool'), 1, 0)
        r(name + '_0d', In(gen.randn()), None, 0)
        r(name + '_0d_dim0', In(gen.randn()), 0, 1)
        add('errors', name + '_empty_dim', name, ['dim=0', 'keep=0'], [In(np.zeros((0, 3)))],
            lambda v, fn=fn: fn(v[0], dim=0), error=True)


def softmax_cases(gen):
    for name, fn in (('softmax', torch.softmax), ('log_softmax', torch.log_softmax)):
        def r(cname, inputs, dim, **kw):
            def call(v, dim=dim, fn=fn):
                x = v[0] if v[0].is_floating_point() else v[0].float()
                return fn(x, dim)
            add('softmax', cname, name, ['dim=%d' % dim], inputs, call, 'red', 'red', **kw)
        for dim in (0, 1, -1):
            r('%s_dim%d' % (name, dim), [In(gen.randn(3, 5, scale=2.0))], dim)
        r(name + '_3d_dim1', [In(gen.randn(2, 3, 4))], 1)
        r(name + '_transposed', [In(gen.randn(5, 3), views='transpose 0 1')], 1)
        r(name + '_expanded', [In(gen.randn(1, 4), views='expand 3 4')], 1)
        r(name + '_0d', [In(gen.randn())], 0)
        r(name + '_empty', [In(np.zeros((0, 4)))], 1)
        r(name + '_large', [In(f32([[1e4, 1e4 + 1, 1e4 - 1], [-1e30, 0, 1e30], [3e38, 3e38, -3e38]]))], 1)
        r(name + '_neg_inf', [In(f32([[-INF, 0, 1], [-INF, -INF, -INF], [-INF, -INF, 2]]))], 1)
        r(name + '_pos_inf', [In(f32([[INF, 0, 1], [INF, INF, 1], [NAN, 0, 1]]))], 1)
        r(name + '_int32', [In(np.array([[1, 2, 3], [0, 0, 0]], np.int32), 'int32')], 1)


def index_cases(gen):
    def cat(dim):
        return lambda v: torch.cat(v, dim)

    def stack(dim):
        return lambda v: torch.stack(v, dim)
    add('index', 'cat_dim0', 'cat', ['dim=0'], [In(gen.randn(2, 3)), In(gen.randn(4, 3))], cat(0))
    add('index', 'cat_dim1_three', 'cat', ['dim=1'], [In(gen.randn(2, 3)), In(gen.randn(2, 1)), In(gen.randn(2, 2))],
        cat(1))
    add('index', 'cat_dim_neg_views', 'cat', ['dim=-1'],
        [In(gen.randn(3, 2), views='transpose 0 1'), In(gen.randn(2, 6), views='slice 1 0 6 2'),
         In(gen.randn(2, 1), views='expand 2 2')], cat(-1))
    add('index', 'cat_mixed_int32_float', 'cat', ['dim=0'], [In(gen.ints(-3, 3, 2, 2), 'int32'), In(gen.randn(1, 2))],
        cat(0))
    add('index', 'cat_float32_float64', 'cat', ['dim=0'], [In(gen.randn(2), 'float32'), In(gen.randn(3), 'float64')],
        cat(0))
    add('index', 'cat_skips_empty_1d', 'cat', ['dim=0'], [In(np.zeros(0)), In(gen.randn(2, 3)), In(gen.randn(1, 3))],
        cat(0))
    add('index', 'cat_zero_size_part', 'cat', ['dim=0'], [In(np.zeros((0, 3))), In(gen.randn(2, 3))], cat(0))
    add('index', 'cat_0d_special', 'cat', ['dim=0'], [In(f32([NAN, -0.0])), In(f32([INF]))], cat(0), sz=True)
    add('index', 'cat_bool_int64', 'cat', ['dim=1'],
        [In(np.array([[True], [False]]), 'bool'), In(np.array([[5, 6], [7, 8]], np.int64), 'int64')], cat(1))
    add('errors', 'cat_shape_mismatch', 'cat', ['dim=0'], [In(gen.randn(2, 3)), In(gen.randn(2, 2))], cat(0), error=True)
    for dim in (0, 1, 2, -1):
        add('index', 'stack_dim%d' % dim, 'stack', ['dim=%d' % dim],
            [In(gen.randn(2, 3)), In(gen.randn(3, 2), views='transpose 0 1'), In(gen.randn(2, 3))], stack(dim))
    add('index', 'stack_0d', 'stack', ['dim=0'], [In(gen.randn()), In(gen.randn())], stack(0))
    add('index', 'stack_mixed_int32_float64', 'stack', ['dim=1'],
        [In(gen.ints(0, 5, 3), 'int32'), In(gen.randn(3), 'float64')], stack(1))
    add('index', 'stack_empty', 'stack', ['dim=0'], [In(np.zeros((0, 2))), In(np.zeros((0, 2)))], stack(0))

    def isel(dim):
        return lambda v: torch.index_select(v[0], dim, v[1])
    add('index', 'index_select_dim0_dups', 'index_select', ['dim=0'],
        [In(gen.randn(5, 3)), In(np.array([4, 0, 4, 2], np.int64), 'int64', role='index')], isel(0))
    add('index', 'index_select_dim1_int32', 'index_select', ['dim=1'],
        [In(gen.randn(3, 4)), In(np.array([3, 1, 1], np.int32), 'int32', role='index')], isel(1))
    add('index', 'index_select_0d_index', 'index_select', ['dim=0'],
        [In(gen.randn(4, 2)), In(np.array(2, np.int64), 'int64', role='index')], isel(0))
    add('index', 'index_select_empty_index', 'index_select', ['dim=1'],
        [In(gen.randn(2, 3)), In(np.zeros(0, np.int64), 'int64', role='index')], isel(1))
    add('index', 'index_select_view', 'index_select', ['dim=-1'],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(np.array([0, 3, 3], np.int64), 'int64', role='index')], isel(-1))
    add('index', 'index_select_int32_data', 'index_select', ['dim=0'],
        [In(gen.ints(-5, 5, 4, 2), 'int32'), In(np.array([1, 1, 3], np.int64), 'int64', role='index')], isel(0))
    add('errors', 'index_select_out_of_range', 'index_select', ['dim=0'],
        [In(gen.randn(3, 2)), In(np.array([3], np.int64), 'int64', role='index')], isel(0), error=True)

    def gather(dim):
        return lambda v: torch.gather(v[0], dim, v[1])
    add('index', 'gather_dim1', 'gather', ['dim=1'],
        [In(gen.randn(3, 4)), In(np.array([[0, 3], [2, 2], [1, 0]], np.int64), 'int64', role='index')], gather(1))
    add('index', 'gather_dim0_smaller', 'gather', ['dim=0'],
        [In(gen.randn(3, 4)), In(np.array([[2, 0, 1], [2, 2, 0]], np.int64), 'int64', role='index')], gather(0))
    add('index', 'gather_int32_index_view', 'gather', ['dim=-1'],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(np.array([[3, 3], [0, 1], [2, 0]], np.int32), 'int32',
                                                           role='index')], gather(-1))
    add('index', 'gather_3d', 'gather', ['dim=2'],
        [In(gen.randn(2, 2, 3)), In(gen.ints(0, 3, 2, 2, 4, dtype='int64'), 'int64', role='index')], gather(2))
    add('index', 'gather_empty', 'gather', ['dim=1'],
        [In(gen.randn(2, 3)), In(np.zeros((2, 0), np.int64), 'int64', role='index')], gather(1))
    add('errors', 'gather_out_of_range', 'gather', ['dim=1'],
        [In(gen.randn(2, 3)), In(np.array([[0], [3]], np.int64), 'int64', role='index')], gather(1), error=True)

    def scat(dim):
        return lambda v: torch.scatter_add(v[0], dim, v[1].long(), v[2])
    add('index', 'scatter_add_dim1_dups', 'scatter_add', ['dim=1'],
        [In(gen.randn(3, 5)), In(np.array([[0, 0], [4, 1], [2, 2]], np.int64), 'int64', role='index'),
         In(gen.randn(3, 2))], scat(1), 'red', 'red')
    add('index', 'scatter_add_dim0_int32_index', 'scatter_add', ['dim=0'],
        [In(gen.randn(3, 2)), In(np.array([[2, 0], [2, 2]], np.int32), 'int32', role='index'), In(gen.randn(2, 2))],
        scat(0), 'red', 'red')
    add('index', 'scatter_add_src_larger', 'scatter_add', ['dim=1'],
        [In(gen.randn(2, 3)), In(np.array([[1], [0]], np.int64), 'int64', role='index'), In(gen.randn(2, 4), grad=False)],
        scat(1), 'red', 'red')  # PyTorch's backward for src fails when src is larger than index
    add('index', 'scatter_add_views', 'scatter_add', ['dim=0'],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(np.array([[1, 1, 0, 2]], np.int64), 'int64', role='index'),
         In(gen.randn(1, 4))], scat(0), 'red', 'red')
    add('index', 'scatter_add_int32_data', 'scatter_add', ['dim=0'],
        [In(gen.ints(-3, 3, 3, 2), 'int32'), In(np.array([[0, 0], [0, 2]], np.int64), 'int64', role='index'),
         In(gen.ints(-3, 3, 2, 2), 'int32')], scat(0))
    add('index', 'scatter_add_int64_data', 'scatter_add', ['dim=1'],
        [In(gen.ints(-3, 3, 2, 2, dtype='int64'), 'int64'), In(np.array([[1, 1], [0, 1]], np.int64), 'int64', role='index'),
         In(gen.ints(-3, 3, 2, 2, dtype='int64'), 'int64')], scat(1))

    def oh(nc):
        return lambda v: F.one_hot(v[0].long(), nc)
    add('index', 'one_hot_int64', 'one_hot', ['nc=5'], [In(np.array([0, 4, 2, 2], np.int64), 'int64', role='index')], oh(5))
    add('index', 'one_hot_infer', 'one_hot', ['nc=-1'], [In(np.array([1, 3], np.int64), 'int64', role='index')], oh(-1))
    add('index', 'one_hot_int32_2d', 'one_hot', ['nc=3'],
        [In(np.array([[0, 1], [2, 0]], np.int32), 'int32', role='index')], oh(3))
    add('index', 'one_hot_0d', 'one_hot', ['nc=4'], [In(np.array(3, np.int64), 'int64', role='index')], oh(4))
    add('index', 'one_hot_empty', 'one_hot', ['nc=3'], [In(np.zeros((0,), np.int64), 'int64', role='index')], oh(3))
    add('errors', 'one_hot_out_of_range', 'one_hot', ['nc=3'], [In(np.array([3], np.int64), 'int64', role='index')],
        oh(3), error=True)


def matmul_cases(gen):
    def mm(v):  # clt promotes mixed floats; PyTorch's matmul wants one dtype
        dt = torch.promote_types(v[0].dtype, v[1].dtype)
        return torch.matmul(v[0].to(dt), v[1].to(dt))
    shapes = [('1d_1d', (4,), (4,)), ('1d_2d', (3,), (3, 4)), ('2d_1d', (3, 4), (4,)), ('2d_2d', (3, 4), (4, 5)),
              ('batched', (2, 3, 4), (2, 4, 5)), ('broadcast_3d_2d', (2, 3, 4), (4, 5)),
              ('broadcast_2d_3d', (3, 4), (2, 4, 2)), ('broadcast_4d', (2, 1, 3, 4), (3, 4, 2)),
              ('1d_3d', (4,), (2, 4, 3)), ('3d_1d', (2, 3, 4), (4,)), ('k0', (3, 0), (0, 4)), ('m0', (0, 3), (3, 2)),
              ('batch0', (0, 2, 3), (3, 2))]
    for tag, sa, sb in shapes:
        add('matmul', 'matmul_' + tag, 'matmul', [], [In(gen.randn(*sa)), In(gen.randn(*sb))], mm, 'red', 'red')
    add('matmul', 'matmul_transposed', 'matmul', [],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(gen.randn(5, 4), views='transpose 0 1')], mm, 'red', 'red')
    add('matmul', 'matmul_sliced', 'matmul', [],
        [In(gen.randn(6, 4), views='slice 0 0 6 2'), In(gen.randn(4, 6), views='slice 1 1 6 2')], mm, 'red', 'red')
    add('matmul', 'matmul_expanded_batch', 'matmul', [],
        [In(gen.randn(1, 3, 4), views='expand 2 3 4'), In(gen.randn(2, 5, 4), views='transpose 1 2')], mm, 'red', 'red')
    add('matmul', 'matmul_float32_float64', 'matmul', [], [In(gen.randn(2, 3), 'float32'), In(gen.randn(3, 2), 'float64')],
        mm, 'red', 'red')
    add('matmul', 'matmul_special', 'matmul', [],
        [In(f32([[NAN, 1], [INF, 0], [1, 2]])), In(f32([[1, 0], [0, 1]]))], mm, 'red', 'red')
    add('errors', 'matmul_shape_mismatch', 'matmul', [], [In(gen.randn(3, 4)), In(gen.randn(5, 2))], mm, error=True)
    add('errors', 'matmul_0d', 'matmul', [], [In(gen.randn()), In(gen.randn(3))], mm, error=True)


def loss_cases(gen):
    for name, fn in (('mse_loss', F.mse_loss), ('l1_loss', F.l1_loss)):
        for red in ('mean', 'sum', 'none'):
            call = lambda v, fn=fn, red=red: fn(v[0], v[1], reduction=red)
            add('loss', '%s_%s' % (name, red), name, ['red=' + red], [In(gen.randn(3, 4)), In(gen.randn(3, 4))], call,
                'red', 'red')
        call = lambda v, fn=fn: fn(v[0], v[1].expand_as(v[0]))
        add('loss', name + '_broadcast_target', name, ['red=mean'], [In(gen.randn(3, 4)), In(gen.randn(4))],
            call, 'red', 'red')
        call = lambda v, fn=fn: fn(v[0], v[1], reduction='sum')
        add('loss', name + '_views_ties', name, ['red=sum'],
            [In(f32([[1, 2], [3, 4], [5, 6]]), views='transpose 0 1'), In(f32([[1, 0, 5], [2, 4, 0]]))], call, 'red', 'red')
        add('loss', name + '_0d', name, ['red=mean'], [In(gen.randn()), In(gen.randn())],
            lambda v, fn=fn: fn(v[0], v[1]), 'red', 'red')
        add('loss', name + '_empty', name, ['red=sum'], [In(np.zeros((0, 2))), In(np.zeros((0, 2)))],
            lambda v, fn=fn: fn(v[0], v[1], reduction='sum'), 'red', 'red')
        add('loss', name + '_float32_float64', name, ['red=mean'], [In(gen.randn(3), 'float32'), In(gen.randn(3), 'float64')],
            lambda v, fn=fn: fn(v[0], v[1]), 'red', 'red')
    for name, fn in (('cross_entropy', F.cross_entropy), ('nll_loss', F.nll_loss)):
        for red in ('mean', 'sum', 'none'):
            for ldt in ('int64', 'int32'):
                call = lambda v, fn=fn, red=red: fn(v[0], v[1].long(), reduction=red)
                add('loss', '%s_%s_%s' % (name, red, ldt), name, ['red=' + red],
                    [In(gen.randn(4, 5, scale=2.0)), In(np.array([0, 4, 2, 2]).astype(NDT[ldt]), ldt, role='index')], call,
                    'red', 'red')
        call = lambda v, fn=fn: fn(v[0], v[1].long())
        add('loss', name + '_unbatched', name, ['red=mean'],
            [In(gen.randn(5)), In(np.array(3, np.int64), 'int64', role='index')], call, 'red', 'red')
        add('loss', name + '_transposed', name, ['red=mean'],
            [In(gen.randn(5, 3), views='transpose 0 1'), In(np.array([1, 0, 4], np.int64), 'int64', role='index')],
            call, 'red', 'red')
        add('loss', name + '_large', name, ['red=sum'],
            [In(f32([[1e4, 0, -1e4], [1e30, 1e30, -1e30], [-INF, 0, 1]])),
             In(np.array([1, 0, 2], np.int64), 'int64', role='index')],
            lambda v, fn=fn: fn(v[0], v[1].long(), reduction='sum'), 'red', 'red')
        add('loss', name + '_empty_batch', name, ['red=sum'],
            [In(np.zeros((0, 3))), In(np.zeros(0, np.int64), 'int64', role='index')],
            lambda v, fn=fn: fn(v[0], v[1].long(), reduction='sum'), 'red', 'red')
        add('errors', name + '_label_out_of_range', name, ['red=mean'],
            [In(gen.randn(2, 3)), In(np.array([0, 3], np.int64), 'int64', role='index')], call, error=True)
    bce = F.binary_cross_entropy_with_logits
    for red in ('mean', 'sum', 'none'):
        add('loss', 'bce_logits_' + red, 'binary_cross_entropy_with_logits', ['red=' + red],
            [In(gen.randn(3, 4, scale=3.0)), In(gen.unif(0.0, 1.0, 3, 4))],
            lambda v, red=red: bce(v[0], v[1], reduction=red), 'red', 'red')
    add('loss', 'bce_logits_broadcast_target', 'binary_cross_entropy_with_logits', ['red=mean'],
        [In(gen.randn(3, 4)), In(gen.unif(0.0, 1.0, 4))], lambda v: bce(v[0], v[1].expand_as(v[0])), 'red', 'red')
    add('loss', 'bce_logits_large', 'binary_cross_entropy_with_logits', ['red=none'],
        [In(f32([100, -100, 1e4, -1e4, 1e30, -1e30, 0, 20])), In(f32([1, 0, 0, 1, 0.5, 0.5, 0.5, 1]))],
        lambda v: bce(v[0], v[1], reduction='none'), 'red', 'red')
    add('loss', 'bce_logits_views', 'binary_cross_entropy_with_logits', ['red=sum'],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(gen.choice([0.0, 1.0], 3, 8), views='slice 1 0 8 2')],
        lambda v: bce(v[0], v[1], reduction='sum'), 'red', 'red')
    add('loss', 'bce_logits_0d', 'binary_cross_entropy_with_logits', ['red=mean'], [In(gen.randn()), In(f32(0.25))],
        lambda v: bce(v[0], v[1]), 'red', 'red')


def linear_cases(gen):
    lin = lambda v: F.linear(*v)
    add('linear', 'linear_bias', 'linear', [], [In(gen.randn(3, 4)), In(gen.randn(5, 4)), In(gen.randn(5))], lin,
        'red', 'red')
    add('linear', 'linear_no_bias', 'linear', [], [In(gen.randn(3, 4)), In(gen.randn(2, 4))], lin, 'red', 'red')
    add('linear', 'linear_1d', 'linear', [], [In(gen.randn(4)), In(gen.randn(3, 4)), In(gen.randn(3))], lin, 'red', 'red')
    add('linear', 'linear_3d', 'linear', [], [In(gen.randn(2, 3, 4)), In(gen.randn(5, 4)), In(gen.randn(5))], lin,
        'red', 'red')
    add('linear', 'linear_views', 'linear', [],
        [In(gen.randn(4, 3), views='transpose 0 1'), In(gen.randn(4, 5), views='transpose 0 1'),
         In(gen.randn(1), views='expand 5')], lin, 'red', 'red')
    add('linear', 'linear_empty_batch', 'linear', [], [In(np.zeros((0, 4))), In(gen.randn(2, 4)), In(gen.randn(2))], lin,
        'red', 'red')


def error_cases(gen):
    pair = lambda fn: (lambda v: fn(v[0], v[1]))
    add('errors', 'sub_bool_bool', 'sub', [], [In(np.array([True]), 'bool'), In(np.array([False]), 'bool')],
        pair(torch.sub), error=True)
    add('errors', 'sub_bool_int32', 'sub', [], [In(np.array([True, False]), 'bool'), In(np.array([1, 2], np.int32), 'int32')],
        pair(torch.sub), error=True)
    add('errors', 'sub_int32_bool', 'sub', [], [In(np.array([1, 2], np.int32), 'int32'), In(np.array([True, False]), 'bool')],
        pair(torch.sub), error=True)
    add('errors', 'rsub_scalar_bool', 'rsub_scalar', ['s=1.0'], [In(np.array([True, False]), 'bool')],
        lambda v: 1 - v[0], error=True)
    add('errors', 'neg_bool', 'neg', [], [In(np.array([True, False]), 'bool')], lambda v: torch.neg(v[0]), error=True)
    add('errors', 'add_no_broadcast', 'add', [], [In(gen.randn(2, 3)), In(gen.randn(2))], pair(torch.add), error=True)
    add('errors', 'pow_int_negative_scalar', 'pow_scalar', ['s=-1.0'], [In(np.array([2, 3], np.int32), 'int32')],
        lambda v: torch.pow(v[0], -1), error=True)
    add('errors', 'softmax_dim_out_of_range', 'softmax', ['dim=2'], [In(gen.randn(2, 3))],
        lambda v: torch.softmax(v[0], 2), error=True)
    add('errors', 'sum_dim_out_of_range', 'sum', red_args((2,), 0), [In(gen.randn(2, 3))],
        lambda v: torch.sum(v[0], 2), error=True)
    add('errors', 'linear_shape_mismatch', 'linear', [], [In(gen.randn(2, 3)), In(gen.randn(4, 2))],
        lambda v: F.linear(v[0], v[1]), error=True)


def build(seed):
    gen = Gen(seed)
    for make in (unary_cases, binary_cases, scalar_cases, compare_cases, logical_cases, where_cases, cast_cases,
                 reduce_cases, softmax_cases, index_cases, matmul_cases, loss_cases, linear_cases, error_cases):
        make(gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=SEED)
    ap.add_argument('--out', default=DEFAULT_OUT)
    ap.add_argument('--check', action='store_true', help='regenerate into a temporary directory and compare with --out')
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    build(args.seed)
    target = args.out
    tmp = tempfile.mkdtemp() if args.check else None
    out_dir = tmp or target
    if not args.check and os.path.isdir(os.path.join(out_dir, 'data')):
        shutil.rmtree(os.path.join(out_dir, 'data'))
    w = Writer(out_dir, args.seed)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with np.errstate(all='ignore'):
            for c in CASES:
                try:
                    w.case(c)
                except Exception:
                    print('in case ' + c.name, file=sys.stderr)
                    raise
    w.finish(args.seed)
    fams = {}
    for c in CASES:
        fams[c.family] = fams.get(c.family, 0) + 1
    size = sum(os.path.getsize(os.path.join(w.data, f)) for f in os.listdir(w.data))
    size += os.path.getsize(os.path.join(out_dir, 'manifest.txt'))
    print('%d cases, %d files, %d bytes' % (len(CASES), w.files + 1, size))
    print('  ' + ', '.join('%s %d' % kv for kv in fams.items()))
    print('%d float32 alternatives (PyTorch\'s own float32 answer outside the tolerance)' % len(w.alts))
    if args.check:
        cmp = filecmp.dircmp(tmp, target)
        bad = cmp.diff_files + cmp.left_only + cmp.right_only
        sub = filecmp.dircmp(os.path.join(tmp, 'data'), os.path.join(target, 'data'))
        bad += sub.diff_files + sub.left_only + sub.right_only
        shutil.rmtree(tmp)
        if bad:
            print('differs from %s: %s' % (target, ' '.join(sorted(bad)[:20])))
            return 1
        print('identical to ' + target)
    return 0


if __name__ == '__main__':
    sys.exit(main())
