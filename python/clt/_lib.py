"""Loading libclt and declaring the C functions the package calls (ctypes, no build step).

The library is found through $CLT_LIBRARY (a path), then a meson build directory beside this
source tree (build/libclt.so), then the system's linker path (ctypes.util.find_library)."""
import ctypes
import ctypes.util
import os
import pathlib

_here = pathlib.Path(__file__).resolve().parent


def _candidates():
    env = os.environ.get("CLT_LIBRARY")
    if env:
        yield env
        return
    for build in ("build", "builddir"):
        for name in ("libclt.so", "libclt.dylib", "clt.dll", "libclt.dll"):
            p = _here.parent.parent / build / name
            if p.exists():
                yield str(p)
    found = ctypes.util.find_library("clt")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("clt: libclt not found; set CLT_LIBRARY to its path, build it with meson in "
                      "build/, or install it. Tried: " + ("; ".join(tried) or "nothing"))


lib = _load()

P = ctypes.c_void_p
I64P = ctypes.POINTER(ctypes.c_int64)
INTP = ctypes.POINTER(ctypes.c_int)
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class DeviceInfo(ctypes.Structure):
    """clt_device_info (include/clt/device.h)."""
    _fields_ = [("spec", ctypes.c_char * 32), ("backend", ctypes.c_char * 16), ("driver", ctypes.c_char * 128),
                ("driver_vendor", ctypes.c_char * 128), ("vendor", ctypes.c_char * 128),
                ("name", ctypes.c_char * 128), ("driver_version", ctypes.c_char * 64),
                ("backend_version", ctypes.c_char * 128), ("type", ctypes.c_int),
                ("compute_units", ctypes.c_uint32), ("global_mem_bytes", ctypes.c_uint64),
                ("max_alloc_bytes", ctypes.c_uint64), ("max_work_group_size", ctypes.c_uint64),
                ("fp64", ctypes.c_bool), ("fp16", ctypes.c_bool), ("host_unified_memory", ctypes.c_bool)]


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int), ("dtype", DLDataType),
                ("shape", I64P), ("strides", I64P), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor)))]

_S = ctypes.c_int  # clt_status
_T = P             # clt_tensor *
_D = ctypes.c_double
_B = ctypes.c_bool

_sigs = {
    "clt_last_error": (ctypes.c_char_p, []),
    "clt_last_status": (_S, []),
    "clt_clear_error": (None, []),
    "clt_status_name": (ctypes.c_char_p, [_S]),
    "clt_version": (ctypes.c_char_p, []),
    "clt_dtype_name": (ctypes.c_char_p, [ctypes.c_int]),
    "clt_device_open": (_S, [ctypes.c_char_p, ctypes.POINTER(P)]),
    "clt_device_release": (None, [P]),
    "clt_device_list": (_S, [ctypes.POINTER(DeviceInfo), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "clt_device_get_info": (_S, [P, ctypes.POINTER(DeviceInfo)]),
    "clt_device_synchronize": (_S, [P]),
    "clt_release": (None, [_T]),
    "clt_retain": (_T, [_T]),
    "clt_dtype_of": (ctypes.c_int, [_T]),
    "clt_ndim": (ctypes.c_int, [_T]),
    "clt_shape": (I64P, [_T]),
    "clt_strides": (I64P, [_T]),
    "clt_numel": (ctypes.c_int64, [_T]),
    "clt_device_of": (P, [_T]),
    "clt_from_host": (_T, [P, ctypes.c_int, ctypes.c_int, I64P, P]),
    "clt_wrap_host": (_T, [ctypes.c_int, ctypes.c_int, I64P, I64P, P, FREE_FN, P]),
    "clt_host_data": (P, [_T]),
    "clt_to_host": (_S, [_T, P, ctypes.c_size_t]),
    "clt_to": (_T, [_T, P]),
    "clt_item": (_S, [_T, ctypes.POINTER(_D)]),
    "clt_item_int64": (_S, [_T, I64P]),
    "clt_format": (_S, [_T, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "clt_leak_report": (ctypes.c_int64, [P]),
    "clt_set_requires_grad": (_S, [_T, _B]),
    "clt_requires_grad": (_B, [_T]),
    "clt_backward": (_S, [_T, _T]),
    "clt_grad": (_T, [_T]),
    "clt_zero_grad": (_S, [_T]),
    "clt_detach": (_T, [_T]),
    "clt_zeros": (_T, [P, ctypes.c_int, ctypes.c_int, I64P]),
    "clt_ones": (_T, [P, ctypes.c_int, ctypes.c_int, I64P]),
    "clt_full": (_T, [P, ctypes.c_int, ctypes.c_int, I64P, _D]),
    "clt_rand": (_T, [P, ctypes.c_int, ctypes.c_int, I64P]),
    "clt_randn": (_T, [P, ctypes.c_int, ctypes.c_int, I64P]),
    "clt_arange": (_T, [P, ctypes.c_int, _D, _D, _D]),
    "clt_manual_seed": (None, [ctypes.c_uint64]),
    "clt_reshape": (_T, [_T, ctypes.c_int, I64P]),
    "clt_view": (_T, [_T, ctypes.c_int, I64P]),
    "clt_expand": (_T, [_T, ctypes.c_int, I64P]),
    "clt_flatten": (_T, [_T, ctypes.c_int, ctypes.c_int]),
    "clt_transpose": (_T, [_T, ctypes.c_int, ctypes.c_int]),
    "clt_permute": (_T, [_T, ctypes.c_int, INTP]),
    "clt_slice": (_T, [_T, ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]),
    "clt_squeeze": (_T, [_T, ctypes.c_int]),
    "clt_squeeze_all": (_T, [_T]),
    "clt_unsqueeze": (_T, [_T, ctypes.c_int]),
    "clt_contiguous": (_T, [_T]),
    "clt_clone": (_T, [_T]),
    "clt_cast": (_T, [_T, ctypes.c_int]),
    "clt_matmul": (_T, [_T, _T]),
    "clt_where": (_T, [_T, _T, _T]),
    "clt_cat": (_T, [ctypes.c_int, ctypes.POINTER(P), ctypes.c_int]),
    "clt_stack": (_T, [ctypes.c_int, ctypes.POINTER(P), ctypes.c_int]),
    "clt_softmax": (_T, [_T, ctypes.c_int]),
    "clt_log_softmax": (_T, [_T, ctypes.c_int]),
    "clt_argmax": (_T, [_T, ctypes.c_int, ctypes.POINTER(ctypes.c_int), _B]),
    "clt_argmin": (_T, [_T, ctypes.c_int, ctypes.POINTER(ctypes.c_int), _B]),
    "clt_clamp": (_T, [_T, _D, _D]),
    "clt_leaky_relu": (_T, [_T, _D]),
    "clt_elu": (_T, [_T, _D]),
    "clt_linear": (_T, [_T, _T, _T]),
    "clt_dropout": (_T, [_T, _D, _B]),
    "clt_fill_": (_S, [_T, _D]),
    "clt_add_": (_S, [_T, _T]),
    "clt_sub_": (_S, [_T, _T]),
    "clt_mul_": (_S, [_T, _T]),
    "clt_copy_": (_S, [_T, _T]),
}
for _n in ("neg", "abs", "sign", "square", "relu", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt",
           "reciprocal", "sin", "cos", "tanh", "sigmoid", "gelu", "silu", "softplus", "logical_not"):
    _sigs["clt_" + _n] = (_T, [_T])
for _n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
           "logical_and", "logical_or", "logical_xor"):
    _sigs["clt_" + _n] = (_T, [_T, _T])
for _n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
           "rsub", "rdiv", "rpow"):
    _sigs["clt_%s_scalar" % _n] = (_T, [_T, _D])
for _n in ("sum", "prod", "mean", "max", "min", "logsumexp"):
    _sigs["clt_" + _n] = (_T, [_T, ctypes.c_int, INTP, _B])
for _n in ("var", "std"):
    _sigs["clt_" + _n] = (_T, [_T, ctypes.c_int, INTP, _D, _B])
for _n in ("mse_loss", "l1_loss", "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits"):
    _sigs["clt_" + _n] = (_T, [_T, _T, ctypes.c_int])
_optional = {
    "clt_to_dlpack": (_S, [_T, ctypes.POINTER(ctypes.POINTER(DLManagedTensor))]),
    "clt_from_dlpack": (_T, [P, ctypes.POINTER(DLManagedTensor)]),
}

for _name, (_res, _args) in list(_sigs.items()) + list(_optional.items()):
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        if _name in _optional:
            continue
        raise ImportError("clt: %s lacks %s (an older libclt?)" % (lib._name, _name))
    _f.restype = _res
    _f.argtypes = _args

has_dlpack = hasattr(lib, "clt_to_dlpack")
