"""What the package accepts as a matrix, and what it converts on the way (the C++ side never
converts: it takes float32/float64 2-D arrays in host memory, any strides, through the buffer
protocol or DLPack, and refuses the rest with a message naming the argument).

Here, before that:
- a tensor that requires grad is detached (no copy);
- a tensor on a device (torch CUDA) is copied to the host with ``.cpu()`` (counted);
- float16 / bfloat16 are widened to float32, exactly (counted);
- a NumPy array in non-native byte order is byte-swapped (counted);
- anything else that is not a NumPy array, a buffer or a DLPack producer goes through
  ``numpy.asarray`` (objects with ``__array__``, nested lists; counted when that makes a new array).

``copies()`` counts these whole-array conversions: the tests check it stays 0 for contiguous or
strided float32/float64 NumPy arrays and CPU tensors (read in place by the C++ side).
"""
from __future__ import annotations

import numpy as np

_copies = 0

_DLPACK_CPU = 1


def copies() -> int:
    """Whole-array conversions made by the Python layer so far (see the module docstring)."""
    return _copies


def _count():
    global _copies
    _copies += 1


def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def as_matrix(x, what: str):
    """`x` as an object the C++ side takes without converting (see the module docstring)."""
    if _is_torch(x):
        if x.requires_grad:
            x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
            _count()
        if x.dtype in (_torch().float16, _torch().bfloat16):
            x = x.to(_torch().float32)
            _count()
        return x
    if hasattr(x, "__dlpack_device__") and not isinstance(x, np.ndarray):
        dev = x.__dlpack_device__()
        if int(dev[0]) != _DLPACK_CPU:
            raise ValueError(f"{what}: the array lives on DLPack device {tuple(dev)}, not in host memory; "
                             f"copy it to the host first")
        if hasattr(x, "__dlpack__"):
            return x
    if not isinstance(x, np.ndarray):
        try:
            memoryview(x)
            return x
        except TypeError:
            pass
        try:
            y = np.asarray(x)
        except Exception as e:
            raise ValueError(f"{what}: not an array ({type(x).__name__}): {e}") from None
        if y is not x:
            _count()
        x = y
    if x.dtype == np.float16:
        x = x.astype(np.float32)
        _count()
    elif x.dtype.kind == "f" and x.dtype.itemsize > 8:
        raise ValueError(f"{what}: dtype {x.dtype} is not accepted; pass float32 or float64")
    elif x.dtype.kind == "f" and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
        _count()
    elif x.dtype.kind in "OUSVMm":
        raise ValueError(f"{what}: dtype {x.dtype} is not a numeric array; pass float32 or float64")
    return x


def _torch():
    import torch
    return torch
