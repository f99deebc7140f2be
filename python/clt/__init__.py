"""clt from Python: tensors on the host and on OpenCL devices, reverse-mode autograd, and
zero-copy exchange with NumPy (clt.from_numpy, Tensor.numpy) and DLPack (np.from_dlpack(t),
clt.from_dlpack(x)). Names follow PyTorch.

    import numpy as np, clt
    x = clt.from_numpy(np.arange(4, dtype=np.float32))   # shares the array's memory
    x = x.to("cl").requires_grad_()                     # a copy on the OpenCL device
    (x * x).mean().backward()
    x.grad.numpy()                                        # x / 2

Every clt failure raises clt.Error with clt's own message (status in .status)."""
import builtins
import ctypes
import itertools

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["Tensor", "Device", "Error", "device", "devices", "tensor", "from_numpy", "from_dlpack",
           "zeros", "ones", "full", "arange", "rand", "randn", "manual_seed", "live_tensors"]

__version__ = lib.clt_version().decode()


class Error(RuntimeError):
    """A clt call failed: str(e) is clt's message, e.status the status name ("CLT_ERR_SHAPE")."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _raise():
    st = lib.clt_last_status()
    msg = lib.clt_last_error().decode(errors="replace")
    lib.clt_clear_error()
    raise Error(msg, lib.clt_status_name(st).decode())


def _check(status):
    if status != 0:
        _raise()


# ---- dtypes --------------------------------------------------------------------------------

class dtype:
    """A clt element type (clt.float32, ...)."""

    def __init__(self, code, name, np_type):
        self.code, self.name, self.np = code, name, np.dtype(np_type)

    def __repr__(self):
        return "clt." + self.name

    @property
    def is_floating_point(self):
        return self.name.startswith("float")


float32 = dtype(0, "float32", np.float32)
float64 = dtype(1, "float64", np.float64)
int32 = dtype(2, "int32", np.int32)
int64 = dtype(3, "int64", np.int64)
uint8 = dtype(4, "uint8", np.uint8)
bool = dtype(5, "bool", np.bool_)  # noqa: A001 (as torch.bool)
float16 = dtype(6, "float16", np.float16)
# NumPy has no bfloat16: numpy() of a bfloat16 tensor gives its raw bits as uint16 (cast to
# float32 first for values), and a uint16 array never becomes one.
bfloat16 = dtype(7, "bfloat16", np.uint16)
_dtypes = [float32, float64, int32, int64, uint8, bool, float16, bfloat16]
_by_np = {d.np: d for d in _dtypes if d is not bfloat16}


def _dtype_of(x):
    if isinstance(x, dtype):
        return x
    if isinstance(x, str):
        for d in _dtypes:
            if d.name == x:
                return d
    try:
        return _by_np[np.dtype(x)]
    except (KeyError, TypeError):
        raise TypeError("clt has no dtype for %r (it has %s)" % (x, ", ".join(d.name for d in _dtypes))) from None


# ---- devices -------------------------------------------------------------------------------

class Device:
    """An open clt device. Devices are opened once per spec and shared, so that tensors moved to
    "cl" by different calls live in one OpenCL context."""

    def __init__(self, handle, spec):
        self._h, self.spec = handle, spec

    def __del__(self):
        if self._h and lib:
            lib.clt_device_release(self._h)
            self._h = None

    @property
    def type(self):
        return "cpu" if self.spec == "host" else self.spec.split(":")[0]

    def info(self):
        i = _lib.DeviceInfo()
        _check(lib.clt_device_get_info(self._h, ctypes.byref(i)))
        return _info_dict(i)

    def synchronize(self):
        _check(lib.clt_device_synchronize(self._h))

    def __repr__(self):
        return "device(%r)" % self.spec

    def __eq__(self, other):
        return isinstance(other, Device) and other._h == self._h

    __hash__ = object.__hash__


_devices = {}


def device(spec=None):
    """The device a spec names ("host" or "cpu", "cl", "cl:0", "cl:pocl"; None: clt's default),
    opened once and shared."""
    if isinstance(spec, Device):
        return spec
    if spec == "cpu":
        spec = "host"
    key = spec
    if key in _devices:
        return _devices[key]
    h = ctypes.c_void_p()
    _check(lib.clt_device_open(None if spec is None else spec.encode(), ctypes.byref(h)))
    i = _lib.DeviceInfo()
    _check(lib.clt_device_get_info(h, ctypes.byref(i)))
    real = i.spec.decode()
    if real in _devices:  # "cl" and "cl:0" are one device
        lib.clt_device_release(h)
        d = _devices[real]
    else:
        d = _devices[real] = Device(h, real)
    _devices[key] = d
    return d


def _info_dict(i):
    return {f: (getattr(i, f).decode() if isinstance(getattr(i, f), bytes) else getattr(i, f))
            for f, _ in _lib.DeviceInfo._fields_}


def devices():
    """Every device clt can open: a list of dicts (spec, backend, name, vendor, fp64, ...)."""
    n = ctypes.c_size_t()
    _check(lib.clt_device_list(None, 0, ctypes.byref(n)))
    arr = (_lib.DeviceInfo * max(n.value, 1))()
    _check(lib.clt_device_list(arr, n.value, ctypes.byref(n)))
    return [_info_dict(arr[k]) for k in range(n.value)]


# ---- tensors -------------------------------------------------------------------------------

def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    arr = (ctypes.c_int64 * max(len(shape), 1))(*[int(s) for s in shape])
    return len(shape), arr


def _ret(h):
    if not h:
        _raise()
    return Tensor._own(h)


# Host memory lent to clt (from_numpy): the arrays are kept here until clt's free_fn says the
# last tensor on them is gone.
_lent = {}
_lent_ids = itertools.count(1)


@_lib.FREE_FN
def _free_lent(data, user):
    _lent.pop(user, None)


class _ArrayView:
    """Exposes a host tensor's memory to NumPy and keeps the tensor alive as the array's base."""

    def __init__(self, t, ptr):
        d = t.dtype.np
        self.tensor = t
        self.__array_interface__ = {"shape": t.shape, "typestr": d.str, "data": (ptr, False), "version": 3,
                                    "strides": tuple(s * d.itemsize for s in t.stride())}


class Tensor:
    """A clt tensor (one reference, released when the Python object goes)."""

    __slots__ = ("_h", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer to Tensor's reflected operators

    def __init__(self, *a, **k):
        raise TypeError("make tensors with clt.tensor, clt.from_numpy, clt.zeros, ...")

    @classmethod
    def _own(cls, h):
        t = object.__new__(cls)
        t._h = h
        return t

    @property
    def _as_parameter_(self):
        # ctypes passes a Tensor argument as its handle, and holds the Tensor during the call (a
        # temporary's ._h would let it be released before the call runs)
        return self._h

    def __del__(self):
        h = getattr(self, "_h", None)
        if h and lib:
            lib.clt_release(h)
            self._h = None

    # -- properties
    @property
    def dtype(self):
        return _dtypes[lib.clt_dtype_of(self._h)]

    @property
    def ndim(self):
        return lib.clt_ndim(self._h)

    def dim(self):
        return self.ndim

    @property
    def shape(self):
        p = lib.clt_shape(self._h)
        return tuple(p[k] for k in range(self.ndim))

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def stride(self, dim=None):
        p = lib.clt_strides(self._h)
        s = tuple(p[k] for k in range(self.ndim))
        return s if dim is None else s[dim]

    def numel(self):
        return lib.clt_numel(self._h)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def device(self):
        h = lib.clt_device_of(self._h)
        i = _lib.DeviceInfo()
        _check(lib.clt_device_get_info(h, ctypes.byref(i)))
        spec = i.spec.decode()
        d = _devices.get(spec)
        return d if d is not None and d._h == h else Device(_retain_device(h), spec)

    @property
    def is_cpu(self):
        return self.device.spec == "host"

    # -- autograd
    @property
    def requires_grad(self):
        return lib.clt_requires_grad(self._h)

    @requires_grad.setter
    def requires_grad(self, flag):
        _check(lib.clt_set_requires_grad(self._h, flag))

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    def backward(self, gradient=None):
        _check(lib.clt_backward(self._h, gradient._h if gradient is not None else None))

    @property
    def grad(self):
        h = lib.clt_grad(self._h)  # NULL without an error while there is none
        return Tensor._own(h) if h else None

    def zero_grad(self):
        _check(lib.clt_zero_grad(self._h))

    def detach(self):
        return _ret(lib.clt_detach(self._h))

    # -- conversions
    def numpy(self):
        """The values as a NumPy array: shares memory on the host device, a copy from others."""
        if self.requires_grad:
            raise Error("numpy() of a tensor that requires grad: call detach() first (as PyTorch)",
                        "CLT_ERR_AUTOGRAD")
        if self.is_cpu:
            if self.numel() == 0:
                return np.empty(self.shape, self.dtype.np)
            ptr = lib.clt_host_data(self._h)
            if not ptr:
                _raise()
            return np.asarray(_ArrayView(self, ptr))
        out = np.empty(self.shape, self.dtype.np)
        _check(lib.clt_to_host(self._h, out.ctypes.data, out.nbytes))
        return out

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.dtype.is_floating_point:
            v = ctypes.c_double()
            _check(lib.clt_item(self._h, ctypes.byref(v)))
            return v.value
        v = ctypes.c_int64()
        _check(lib.clt_item_int64(self._h, ctypes.byref(v)))
        return builtins.bool(v.value) if self.dtype is bool else v.value

    def to(self, dev=None, dtype=None):
        t = self
        if isinstance(dev, (globals()["dtype"],)) and dtype is None:
            dev, dtype = None, dev
        if dev is not None:
            t = _ret(lib.clt_to(t._h, device(dev)._h))
        if dtype is not None:
            t = _ret(lib.clt_cast(t._h, _dtype_of(dtype).code))
        return t

    def cpu(self):
        return self.to("host")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return self.to(dtype=int64)

    def int(self):
        return self.to(dtype=int32)

    def __dlpack__(self, stream=None):
        if not _lib.has_dlpack:
            raise Error("this libclt was built without DLPack (-Ddlpack)", "CLT_ERR_UNSUPPORTED")
        m = ctypes.POINTER(_lib.DLManagedTensor)()
        _check(lib.clt_to_dlpack(self._h, ctypes.byref(m)))
        return _capsule_new(ctypes.cast(m, ctypes.c_void_p).value)

    def __dlpack_device__(self):
        if self.is_cpu:
            return (1, 0)  # kDLCPU
        spec = self.device.spec
        return (4, int(spec.split(":")[1]) if spec.split(":")[1].isdigit() else 0)  # kDLOpenCL

    def __repr__(self):
        need = ctypes.c_size_t()
        _check(lib.clt_format(self._h, None, 0, ctypes.byref(need)))
        buf = ctypes.create_string_buffer(need.value + 1)
        _check(lib.clt_format(self._h, buf, len(buf), None))
        return buf.value.decode()

    # -- views
    def reshape(self, *shape):
        return _ret(lib.clt_reshape(self._h, *_shape_arg(shape)))

    def view(self, *shape):
        return _ret(lib.clt_view(self._h, *_shape_arg(shape)))

    def expand(self, *shape):
        return _ret(lib.clt_expand(self._h, *_shape_arg(shape)))

    def flatten(self, start_dim=0, end_dim=-1):
        return _ret(lib.clt_flatten(self._h, start_dim, end_dim))

    def transpose(self, dim0, dim1):
        return _ret(lib.clt_transpose(self._h, dim0, dim1))

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        arr = (ctypes.c_int * max(len(dims), 1))(*dims)
        return _ret(lib.clt_permute(self._h, len(dims), arr))

    def squeeze(self, dim=None):
        return _ret(lib.clt_squeeze_all(self._h) if dim is None else lib.clt_squeeze(self._h, dim))

    def unsqueeze(self, dim):
        return _ret(lib.clt_unsqueeze(self._h, dim))

    def contiguous(self):
        return _ret(lib.clt_contiguous(self._h))

    def clone(self):
        return _ret(lib.clt_clone(self._h))

    def __getitem__(self, index):
        """Basic indexing as views: ints, slices with a positive step, None and Ellipsis."""
        if not isinstance(index, tuple):
            index = (index,)
        if builtins.sum(i is Ellipsis for i in index) > 1:
            raise IndexError("an index can only have a single ellipsis")
        used = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
        if used > self.ndim:
            raise IndexError("too many indices for a tensor of dimension %d" % self.ndim)
        t, dim = self, 0
        for i in index:
            if i is Ellipsis:
                dim += self.ndim - used
            elif i is None:
                t = t.unsqueeze(dim)
                dim += 1
            elif isinstance(i, slice):
                start, stop, step = i.start, i.stop, i.step if i.step is not None else 1
                if step <= 0:
                    raise ValueError("clt slices need a positive step (as PyTorch)")
                t = _ret(lib.clt_slice(t._h, dim, 0 if start is None else start,
                                       2**63 - 1 if stop is None else stop, step))
                dim += 1
            elif isinstance(i, (int, np.integer)):
                n = t.shape[dim]
                k = int(i) + n if i < 0 else int(i)
                if not 0 <= k < n:
                    raise IndexError("index %d is out of bounds for dimension %d with size %d" % (i, dim, n))
                t = _ret(lib.clt_squeeze(_ret(lib.clt_slice(t._h, dim, k, k + 1, 1)), dim))
            else:
                raise TypeError("clt indexes with ints, slices, None and ... (got %s)" % type(i).__name__)
        return t if t is not self else _ret(lib.clt_retain(self._h))

    def __setitem__(self, index, value):
        dst = self[index]
        if isinstance(value, Tensor):
            _check(lib.clt_copy_(dst._h, value._h))
        else:
            _check(lib.clt_fill_(dst._h, float(value)))

    # -- in place
    def fill_(self, value):
        _check(lib.clt_fill_(self._h, float(value)))
        return self

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        _check(lib.clt_copy_(self._h, src._h))
        return self

    def add_(self, other):
        _check(lib.clt_add_(self._h, _as_tensor(other, self)))
        return self

    def sub_(self, other):
        _check(lib.clt_sub_(self._h, _as_tensor(other, self)))
        return self

    def mul_(self, other):
        _check(lib.clt_mul_(self._h, _as_tensor(other, self)))
        return self

    # -- operators
    def __add__(self, o): return _binary("add", self, o)
    def __radd__(self, o): return _binary("add", self, o)
    def __sub__(self, o): return _binary("sub", self, o)
    def __rsub__(self, o): return _rbinary("sub", self, o)
    def __mul__(self, o): return _binary("mul", self, o)
    def __rmul__(self, o): return _binary("mul", self, o)
    def __truediv__(self, o): return _binary("div", self, o)
    def __rtruediv__(self, o): return _rbinary("div", self, o)
    def __pow__(self, o): return _binary("pow", self, o)
    def __rpow__(self, o): return _rbinary("pow", self, o)
    def __matmul__(self, o): return _ret(lib.clt_matmul(self._h, _as_tensor(o, self)))
    def __rmatmul__(self, o): return _ret(lib.clt_matmul(_as_tensor(o, self), self._h))
    def __neg__(self): return _ret(lib.clt_neg(self._h))
    def __abs__(self): return _ret(lib.clt_abs(self._h))
    def __eq__(self, o): return _binary("eq", self, o)
    def __ne__(self, o): return _binary("ne", self, o)
    def __lt__(self, o): return _binary("lt", self, o)
    def __le__(self, o): return _binary("le", self, o)
    def __gt__(self, o): return _binary("gt", self, o)
    def __ge__(self, o): return _binary("ge", self, o)
    def __invert__(self): return _ret(lib.clt_logical_not(self._h))
    def __and__(self, o): return _binary("logical_and", self, o)
    def __or__(self, o): return _binary("logical_or", self, o)
    def __xor__(self, o): return _binary("logical_xor", self, o)
    __hash__ = object.__hash__

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("the truth value of a tensor with %d elements is ambiguous" % self.numel())
        return builtins.bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point:
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    # -- methods by PyTorch's names (the functions below)
    def matmul(self, o): return self @ o
    def sum(self, dim=None, keepdim=False): return _reduce("sum", self, dim, keepdim)
    def prod(self, dim=None, keepdim=False): return _reduce("prod", self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _reduce("mean", self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return _reduce("max", self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return _reduce("min", self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _reduce("logsumexp", self, dim, keepdim)
    def var(self, dim=None, correction=1, keepdim=False): return _var("var", self, dim, correction, keepdim)
    def std(self, dim=None, correction=1, keepdim=False): return _var("std", self, dim, correction, keepdim)
    def argmax(self, dim=None, keepdim=False): return _arg("argmax", self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _arg("argmin", self, dim, keepdim)
    def softmax(self, dim): return _ret(lib.clt_softmax(self._h, dim))
    def log_softmax(self, dim): return _ret(lib.clt_log_softmax(self._h, dim))
    def clamp(self, min=None, max=None):  # noqa: A002 (PyTorch's names)
        return _ret(lib.clt_clamp(self._h, -np.inf if min is None else min, np.inf if max is None else max))

    def max(self, dim=None, keepdim=False):
        return _reduce("max", self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return _reduce("min", self, dim, keepdim)


def _retain_device(h):
    lib.clt_device_retain.restype = ctypes.c_void_p
    lib.clt_device_retain.argtypes = [ctypes.c_void_p]
    return lib.clt_device_retain(h)


def _as_tensor(x, like):
    if isinstance(x, Tensor):
        return x
    return tensor(x, dtype=like.dtype if isinstance(x, (int, float)) else None, device=like.device)


def _binary(name, a, b):
    if isinstance(b, Tensor):
        return _ret(getattr(lib, "clt_" + name)(a._h, b._h))
    if isinstance(b, (int, float, np.number, np.bool_)) and not isinstance(b, np.ndarray):
        if name.startswith("logical"):
            return _ret(getattr(lib, "clt_" + name)(a._h, _as_tensor(b, a)))
        return _ret(getattr(lib, "clt_%s_scalar" % name)(a._h, float(b)))
    return _ret(getattr(lib, "clt_" + name)(a._h, tensor(b, device=a.device)))


def _rbinary(name, a, b):
    """b (a scalar or array) op a."""
    if isinstance(b, (int, float, np.number)):
        return _ret(getattr(lib, "clt_r%s_scalar" % name)(a._h, float(b)))
    return _ret(getattr(lib, "clt_" + name)(tensor(b, device=a.device), a._h))


def _dims(dim):
    if dim is None:
        return 0, None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return len(dims), (ctypes.c_int * len(dims))(*dims)


def _reduce(name, t, dim, keepdim):
    return _ret(getattr(lib, "clt_" + name)(t._h, *_dims(dim), keepdim))


def _var(name, t, dim, correction, keepdim):
    n, dims = _dims(dim)
    return _ret(getattr(lib, "clt_" + name)(t._h, n, dims, float(correction), keepdim))


def _arg(name, t, dim, keepdim):
    if dim is None:  # over every element, as torch.argmax(t): CLT_ALL_DIMS
        return _ret(getattr(lib, "clt_" + name)(t._h, 0, None, False))
    return _ret(getattr(lib, "clt_" + name)(t._h, 1, (ctypes.c_int * 1)(dim), keepdim))


# ---- capsules (DLPack's Python protocol) ---------------------------------------------------

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_DLTENSOR = b"dltensor"
_USED = b"used_dltensor"
# The destructor gets the dying capsule as a raw pointer and may run while the consumer's
# exception is pending (np.from_dlpack refusing a device). So it makes no Python reference to the
# capsule, and converts no Python int (ctypes would see the pending exception): the capsule comes
# in as a ctypes pointer object, and the two capsule reads (pure field reads) go through
# prototypes that take it as it is.
_CapP = ctypes.POINTER(ctypes.c_char)
_raw_is_valid = ctypes.CFUNCTYPE(ctypes.c_int, _CapP, ctypes.c_char_p)(("PyCapsule_IsValid", _api))
_raw_get_pointer = ctypes.CFUNCTYPE(ctypes.POINTER(_lib.DLManagedTensor), _CapP,
                                    ctypes.c_char_p)(("PyCapsule_GetPointer", _api))


@ctypes.CFUNCTYPE(None, _CapP)
def _capsule_destructor(cap):
    # an unconsumed capsule still owns its DLManagedTensor: call the deleter (DLPack's rule); a
    # consumer renames the capsule "used_dltensor" and calls it itself
    if _raw_is_valid(cap, _DLTENSOR):
        m = _raw_get_pointer(cap, _DLTENSOR)
        if m.contents.deleter:
            m.contents.deleter(m)


def _capsule_new(ptr):
    return _api.PyCapsule_New(ptr, _DLTENSOR, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def from_dlpack(x, device=None):
    """A tensor sharing the memory of x (anything with __dlpack__, or a "dltensor" capsule):
    a kDLCPU producer gives a host tensor. An OpenCL producer's buffer needs the clt device of
    its context (device=)."""
    if not _lib.has_dlpack:
        raise Error("this libclt was built without DLPack (-Ddlpack)", "CLT_ERR_UNSUPPORTED")
    cap = x.__dlpack__() if hasattr(x, "__dlpack__") else x
    if not _api.PyCapsule_IsValid(cap, _DLTENSOR):
        raise ValueError("from_dlpack needs an object with __dlpack__ or an unused \"dltensor\" capsule")
    ptr = _api.PyCapsule_GetPointer(cap, _DLTENSOR)
    _api.PyCapsule_SetName(cap, _USED)  # clt owns it now: it calls the deleter, also on failure
    dev = None if device is None else globals()["device"](device)._h
    return _ret(lib.clt_from_dlpack(dev, ctypes.cast(ptr, ctypes.POINTER(_lib.DLManagedTensor))))


# ---- creation ------------------------------------------------------------------------------

def from_numpy(a):
    """A host tensor sharing a's memory (as torch.from_numpy): writes on either side are seen on
    the other. a stays alive while a tensor uses its memory."""
    if not isinstance(a, np.ndarray):
        raise TypeError("from_numpy expects a numpy.ndarray, got %s" % type(a).__name__)
    dt = _dtype_of(a.dtype)
    if not a.dtype.isnative:
        raise ValueError("from_numpy: the array is not in the machine's byte order")
    isz = a.dtype.itemsize
    if any(s < 0 or s % isz for s in a.strides):
        raise ValueError("from_numpy: strides %s are negative or not a multiple of the element size "
                         "(copy with a.copy())" % (a.strides,))
    n, shape = _shape_arg(a.shape)
    strides = (ctypes.c_int64 * max(n, 1))(*[s // isz for s in a.strides])
    key = next(_lent_ids)
    _lent[key] = a
    # clt calls _free_lent exactly once, also on failure
    return _ret(lib.clt_wrap_host(dt.code, n, shape, strides, a.ctypes.data if a.size else None, _free_lent, key))


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of data (a number, nested lists, an array, a Tensor).
    Python floats become float32, as in PyTorch."""
    if isinstance(data, Tensor):
        t = data.detach().to(device or data.device, dtype).clone()
    else:
        a = np.asarray(data)
        if dtype is None and a.dtype == np.float64 and not isinstance(data, np.ndarray):
            a = a.astype(np.float32)
        if dtype is not None:
            a = a.astype(_dtype_of(dtype).np)
        a = np.array(a, order="C", copy=False)  # (ascontiguousarray would make 0-d arrays 1-d)
        dt = _dtype_of(a.dtype)
        n, shape = _shape_arg(a.shape)
        t = _ret(lib.clt_from_host(globals()["device"](device or "host")._h, dt.code, n, shape,
                                   a.ctypes.data if a.size else None))
    if requires_grad:
        t.requires_grad = True
    return t


def _maker(fname):
    def make(*shape, dtype=None, device=None, requires_grad=False):
        n, s = _shape_arg(shape)
        t = _ret(getattr(lib, "clt_" + fname)(globals()["device"](device or "host")._h,
                                              _dtype_of(dtype or float32).code, n, s))
        if requires_grad:
            t.requires_grad = True
        return t
    make.__name__ = fname
    return make


zeros = _maker("zeros")
ones = _maker("ones")
rand = _maker("rand")
randn = _maker("randn")


def full(shape, value, dtype=None, device=None):
    n, s = _shape_arg(tuple(shape))
    return _ret(lib.clt_full(globals()["device"](device or "host")._h, _dtype_of(dtype or float32).code, n, s,
                             float(value)))


def arange(start, end=None, step=1, dtype=None, device=None):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return _ret(lib.clt_arange(globals()["device"](device or "host")._h, _dtype_of(dtype).code, start, end, step))


def manual_seed(seed):
    lib.clt_manual_seed(seed)


def live_tensors():
    """How many tensors clt has returned that are still alive (clt_leak_report)."""
    return lib.clt_leak_report(None)


# ---- functions by PyTorch's names ----------------------------------------------------------

def _unary(name):
    def f(x):
        return _ret(getattr(lib, "clt_" + name)(x._h))
    f.__name__ = name
    return f


for _n in ("neg", "abs", "sign", "square", "relu", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt",
           "reciprocal", "sin", "cos", "tanh", "sigmoid", "gelu", "silu", "softplus", "logical_not"):
    globals()[_n] = _unary(_n)
    if not hasattr(Tensor, _n):
        setattr(Tensor, _n, globals()[_n])
for _n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"):
    globals()[_n] = (lambda n: lambda a, b: _binary(n, a, b))(_n)
    setattr(Tensor, _n, globals()[_n])


def matmul(a, b): return a @ b
def sum(x, dim=None, keepdim=False): return x.sum(dim, keepdim)  # noqa: A001
def mean(x, dim=None, keepdim=False): return x.mean(dim, keepdim)
def softmax(x, dim): return x.softmax(dim)
def log_softmax(x, dim): return x.log_softmax(dim)
def clamp(x, min=None, max=None): return x.clamp(min, max)  # noqa: A002
def where(cond, a, b):
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else cond
    return _ret(lib.clt_where(cond, _as_tensor(a, like), _as_tensor(b, like)))
def leaky_relu(x, negative_slope=0.01): return _ret(lib.clt_leaky_relu(x._h, negative_slope))
def elu(x, alpha=1.0): return _ret(lib.clt_elu(x._h, alpha))
def dropout(x, p=0.5, training=True): return _ret(lib.clt_dropout(x._h, p, training))
def linear(x, weight, bias=None): return _ret(lib.clt_linear(x._h, weight._h, bias._h if bias is not None else None))


def _seq(name, tensors, dim):
    arr = (ctypes.c_void_p * max(len(tensors), 1))(*[t._h for t in tensors])
    return _ret(getattr(lib, "clt_" + name)(len(tensors), arr, dim))


def cat(tensors, dim=0): return _seq("cat", tensors, dim)
def stack(tensors, dim=0): return _seq("stack", tensors, dim)


_reductions = {"mean": 0, "sum": 1, "none": 2}


def _loss(name):
    def f(input, target, reduction="mean"):  # noqa: A002 (PyTorch's names)
        if reduction not in _reductions:
            raise ValueError("reduction must be one of %s" % ", ".join(_reductions))
        return _ret(getattr(lib, "clt_" + name)(input._h, target._h, _reductions[reduction]))
    f.__name__ = name
    return f


for _n in ("mse_loss", "l1_loss", "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits"):
    globals()[_n] = _loss(_n)
