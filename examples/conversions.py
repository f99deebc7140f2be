"""NumPy -> tensor -> device -> gradient -> NumPy: the walk-through of the Python package.

    CLT_LIBRARY=build/libclt.so PYTHONPATH=python python3 examples/conversions.py
(or `pip install ./python` with libclt installed)."""
import numpy as np

import clt

a = np.array([[1.0, -2.0], [3.0, 4.0]], dtype=np.float32)
x = clt.from_numpy(a)            # shares a's memory (as torch.from_numpy)
a[0, 0] = 0.5                    # ... so the tensor sees the write
print(x)

x = x.to("cl") if any(d["backend"] == "opencl" for d in clt.devices()) else x.clone()
x.requires_grad = True           # a leaf that collects .grad
loss = (x * x).mean()
loss.backward()
print("loss", loss.item(), "on", x.device)
g = x.grad.numpy()               # a copy from the OpenCL device (shared on the host)
print(g)
assert np.allclose(g, a / 2), "the gradient of mean(x*x) is x/2"
if clt._lib.has_dlpack:           # a libclt built with DLPack (-Ddlpack)
    b = np.from_dlpack(x.grad.cpu())  # DLPack: NumPy shares the host tensor's memory
    print(b)
