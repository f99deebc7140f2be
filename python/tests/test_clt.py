"""The clt package against NumPy: sharing, copies, autograd, operators, views, DLPack, errors and
reference counts. Runs on the host and, when clt has one, on an OpenCL device."""
import gc

import numpy as np
import pytest

import clt

DEVICES = ["host"] + [d["spec"] for d in clt.devices() if d["backend"] == "opencl"][:1]


def test_from_numpy_shares_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = clt.from_numpy(a)
    a[0, 1] = 42
    assert t[0, 1].item() == 42
    t[1, 2] = -5
    assert a[1, 2] == -5
    b = t.numpy()
    assert np.shares_memory(a, b)
    # strided arrays keep their strides
    v = clt.from_numpy(a.T)
    assert v.shape == (3, 2) and v.stride() == (1, 3)
    np.testing.assert_array_equal(v.numpy(), a.T)


def test_from_numpy_keeps_the_array_alive():
    a = np.arange(4, dtype=np.int64)
    t = clt.from_numpy(a)
    del a
    gc.collect()
    assert t.tolist() == [0, 1, 2, 3]


def test_tensor_copies():
    a = np.ones(3, np.float64)
    t = clt.tensor(a)
    a[0] = 7
    assert t.tolist() == [1, 1, 1] and t.dtype is clt.float64
    assert clt.tensor([1.5, 2]).dtype is clt.float32  # as torch.tensor
    assert clt.tensor(3).shape == () and clt.tensor(3).item() == 3
    assert clt.tensor([True, False]).dtype is clt.bool
    h = clt.tensor(np.array([0.1, 65520], np.float16))  # 65520 is inf in float16 already
    assert h.dtype is clt.float16 and h.dtype.is_floating_point
    assert h.numpy().dtype == np.float16 and h.numpy()[0] == np.float16(0.1) and np.isinf(h.numpy()[1])
    b = clt.tensor(np.array([1.0, -2.5], np.float32)).to(clt.bfloat16)
    assert b.dtype is clt.bfloat16 and b.numpy().tolist() == [0x3F80, 0xC020]  # the raw bits
    assert b.float().tolist() == [1.0, -2.5]


@pytest.mark.parametrize("dev", DEVICES)
def test_numpy_on_each_device(dev):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = clt.tensor(a, device=dev)
    n = t.numpy()
    np.testing.assert_array_equal(n, a)
    if dev == "host":
        t[0, 0] = 9
        assert n[0, 0] == 9  # shared
    else:
        t[0, 0] = 9
        assert n[0, 0] == 0  # a copy
    assert t.cpu().device.spec == "host"


@pytest.mark.parametrize("dev", DEVICES)
def test_gradient_of_mean_square(dev):
    x = clt.from_numpy(np.array([1.0, -2.0, 3.0, 4.0], np.float32)).to(dev)
    x.requires_grad = True
    loss = (x * x).mean()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), x.detach().numpy() / 2)
    assert x.grad.device.spec == x.device.spec


@pytest.mark.parametrize("dev", DEVICES)
def test_operators_match_numpy(dev):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    ta, tb = clt.tensor(a, device=dev), clt.tensor(b, device=dev)
    close = lambda t, n: np.testing.assert_allclose(t.numpy(), n, rtol=1e-5, atol=1e-6)  # noqa: E731
    close(ta @ tb, a @ b)
    close(ta + 1, a + 1)
    close(2 - ta, 2 - a)
    close(ta * ta / 3, a * a / 3)
    close(-ta, -a)
    close(ta.exp(), np.exp(a))
    close(clt.relu(ta), np.maximum(a, 0))
    close(ta.sum(1), a.sum(1))
    close(ta.mean(), a.mean())
    close(ta.softmax(1), np.exp(a) / np.exp(a).sum(1, keepdims=True))
    assert ((ta > 0).numpy() == (a > 0)).all()
    close(ta.T, a.T)
    close(ta.reshape(2, 6), a.reshape(2, 6))


def test_slicing_gives_views():
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    t = clt.from_numpy(a)
    for idx in [(1,), (slice(None), 2), (Ellipsis, 1), (0, slice(1, 3), slice(None, None, 2)), (None, 1, -1),
                (-1, Ellipsis, slice(2, None))]:
        np.testing.assert_array_equal(t[idx].numpy(), a[idx])
    v = t[1, :, 1:3]
    v.fill_(0)
    assert a[1, :, 1:3].sum() == 0
    with pytest.raises(IndexError):
        t[2]
    with pytest.raises(ValueError):
        t[::-1]


def test_losses_by_torch_names():
    x = clt.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    y = clt.tensor([0, 1])
    lse = np.log(np.exp(x.numpy()).sum(1))
    want = np.mean(lse - x.numpy()[[0, 1], [0, 1]])
    assert abs(clt.cross_entropy(x, y).item() - want) < 1e-6
    assert abs(clt.mse_loss(x, clt.zeros(2, 3)).item() - (x.numpy() ** 2).mean()) < 1e-6
    assert clt.l1_loss(x, x, reduction="none").shape == (2, 3)


def test_repr_is_clt_print():
    assert repr(clt.tensor([[2, 0], [2, 3]], dtype=clt.int32)) == "tensor([[2, 0],\n        [2, 3]], dtype=int32)"
    assert repr(clt.tensor(1.5)) == "tensor(1.5000)"


def test_errors_carry_clt_message():
    with pytest.raises(clt.Error, match=r"clt_add: shapes \[2\] and \[3\] cannot broadcast") as e:
        clt.zeros(2) + clt.zeros(3)
    assert e.value.status == "CLT_ERR_SHAPE"
    with pytest.raises(clt.Error, match="no device matches"):
        clt.device("cl:no-such-device")
    with pytest.raises(clt.Error, match="requires grad"):
        clt.ones(2, requires_grad=True).numpy()


def test_device_listing():
    ds = clt.devices()
    assert ds[0]["spec"] == "host"
    assert all({"spec", "backend", "name", "fp64"} <= d.keys() for d in ds)
    assert clt.device("cpu") is clt.device("host")


@pytest.mark.skipif(not clt._lib.has_dlpack, reason="libclt built without DLPack")
class TestDLPack:
    def test_numpy_from_clt_shares(self):
        t = clt.arange(6, dtype=clt.float32).reshape(2, 3)
        n = np.from_dlpack(t)
        t[1, 1] = 100
        assert n[1, 1] == 100
        assert t.__dlpack_device__() == (1, 0)

    def test_clt_from_numpy_shares(self):
        a = np.arange(5, dtype=np.int64)
        t = clt.from_dlpack(a)
        a[2] = -3
        assert t.tolist() == [0, 1, -3, 3, 4]
        del a
        gc.collect()
        assert t[2].item() == -3  # the producer's memory lives while t does

    def test_round_trip_every_dtype_through_capsules(self):
        for dt in (clt.float32, clt.float64, clt.int32, clt.int64, clt.uint8, clt.bool):
            t = clt.ones(2, 3, dtype=dt)
            u = clt.from_dlpack(t)
            assert u.dtype is dt and u.shape == (2, 3)
            u.fill_(0)
            assert t.numpy().sum() == 0

    @pytest.mark.skipif(len(DEVICES) < 2, reason="no OpenCL device")
    def test_opencl_tensors(self):
        c = clt.arange(4, dtype=clt.float32, device=DEVICES[1])
        assert c.__dlpack_device__()[0] == 4  # kDLOpenCL
        u = clt.from_dlpack(c, device=DEVICES[1])
        u.fill_(2)
        assert c.tolist() == [2, 2, 2, 2]
        with pytest.raises(clt.Error, match="dev is NULL for a kDLOpenCL tensor"):
            clt.from_dlpack(c)
        n0 = clt.live_tensors()
        with pytest.raises(Exception):
            np.from_dlpack(c)  # NumPy takes host memory only: clt's deleter still runs
        assert clt.live_tensors() == n0

    def test_unconsumed_capsules_release(self):
        n0 = clt.live_tensors()
        t = clt.ones(3)
        cap = t.__dlpack__()
        del t
        assert clt.live_tensors() == n0 + 1
        del cap
        assert clt.live_tensors() == n0


def test_no_leak_after_10k_tensors():
    a = np.ones(16, np.float32)
    n0 = clt.live_tensors()
    for _ in range(10000):
        t = clt.from_numpy(a)
        u = (t * 2 + 1)[3:]
        u.numpy()
        del t, u
    gc.collect()
    assert clt.live_tensors() == n0
    assert len(clt._lent) == 0


def test_example_conversions_runs():
    import os
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "python"))
    r = subprocess.run([sys.executable, str(root / "examples" / "conversions.py")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
