"""Tensors for the op fuzz (tests/test_fuzz.py, tests/fuzz_worker.py).

A tensor is described by a *spec*, plain JSON data, so that every example the
fuzz runs can be printed before the call and replayed exactly afterwards:

    {"shape": [3, 0, 5], "dtype": "bfloat16", "device": "cpu", "layout": "t",
     "seed": 17, "scale": 4.0, "special": 0.1, "shift": 0.0}

``build(spec)`` makes the tensor: values from a seeded generator (normal,
times ``scale``, plus ``shift``, a fraction ``special`` of them replaced by NaN / inf / kinks /
large values; ``special_set`` picks which), rounded to the dtype, in one of these memory layouts:

    c  contiguous            t  dims reversed in memory (transposed strides)
    s  last dim strided by 2, storage offset 1
    o  contiguous at a storage offset
    x  dim 0 expanded (stride 0)            z  every stride 0 (one value)

``build(spec, device="meta")`` makes the same sizes, strides and offset on
the meta device (the "meta twin" of a CPU call).
"""
import math

import torch

DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
    "float16": torch.float16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
    "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64,
    "complex128": torch.complex128, "float8_e4m3fn": torch.float8_e4m3fn,
}
FLOATS = ("float32", "float64", "bfloat16", "float16")
OTHER_DTYPES = tuple(d for d in DTYPES if d not in FLOATS)
LAYOUTS = ("c", "t", "s", "o", "x", "z")
NAN, INF = float("nan"), float("inf")
# values with their own semantics: NaN / inf propagation, signed zero, kinks of
# relu / relu6 / hardswish / hardsigmoid, softplus' threshold, exp overflow
SPECIAL = (NAN, INF, -INF, 0.0, -0.0, 3.0, -3.0, 6.0, -6.0, 20.5, -20.5, 90.0, -90.0, 1e4, -1e4)
# the special values a spec injects ("special_set"): all of them, or only some (a NaN in a SIMD
# vector without an infinity takes other code paths than one with)
SPECIAL_SETS = {"all": SPECIAL, "nan": (NAN,), "inf": (INF, -INF), "kinks": (0.0, -0.0, 3.0, -3.0, 6.0, -6.0)}


def spec(shape, dtype="float32", device="cpu", layout="c", seed=0, scale=1.0, special=0.0, shift=0.0,
         special_set="all"):
    return {"shape": list(shape), "dtype": dtype, "device": device, "layout": layout, "seed": seed,
            "scale": scale, "special": special, "shift": shift, "special_set": special_set}


def numel(shape):
    return math.prod(shape)


def _base_shape(shape, layout):
    if layout == "x" and shape:
        return [1] + list(shape[1:])
    if layout == "z":
        return []
    return list(shape)


def _values(s, shape):
    """float64 values of `shape` from the spec's seed, scale and special fraction."""
    gen = torch.Generator().manual_seed(int(s["seed"]))
    v = torch.randn(shape, dtype=torch.float64, generator=gen) * float(s["scale"]) + float(s.get("shift", 0.0))
    if s["special"] > 0 and v.numel():
        pick = torch.rand(shape, generator=gen, dtype=torch.float64) < float(s["special"])
        values = SPECIAL_SETS[s.get("special_set", "all")]
        which = torch.randint(len(values), shape, generator=gen)
        v = torch.where(pick, torch.tensor(values, dtype=torch.float64)[which], v)
    return v


def _to_dtype(v, s):
    dt = DTYPES[s["dtype"]]
    if dt.is_complex:
        gen = torch.Generator().manual_seed(int(s["seed"]) + 1)
        return torch.complex(v, torch.randn(v.shape, dtype=torch.float64, generator=gen)).to(dt)
    if dt == torch.bool:
        return v > 0
    if not dt.is_floating_point:
        lo, hi = (0, 200) if dt == torch.uint8 else (-100, 100)
        return torch.nan_to_num(v, nan=0.0).round().clamp(lo, hi).to(dt)
    if dt == torch.float8_e4m3fn:
        return torch.nan_to_num(v, nan=0.0, posinf=400.0, neginf=-400.0).clamp(-400, 400).to(dt)
    return v.to(dt)


def _contiguous_strides(shape):
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return list(reversed(strides))


def build(s, device=None):
    """The tensor a spec describes (on `device` instead of the spec's, if given)."""
    shape, layout = list(s["shape"]), s["layout"]
    base = _to_dtype(_values(s, _base_shape(shape, layout)), s)
    r = len(shape)
    if layout == "t" and r >= 2:
        perm = list(reversed(range(r)))
        t = base.permute(perm).contiguous().permute(perm)
    elif layout == "s" and r >= 1:
        big = torch.zeros(shape[:-1] + [2 * shape[-1] + 1], dtype=base.dtype)
        big[..., 1::2] = base
        t = big[..., 1::2]
    elif layout == "o":
        buf = torch.zeros(base.numel() + 3, dtype=base.dtype)
        buf[3:] = base.reshape(-1)
        t = buf.as_strided(shape, _contiguous_strides(shape), 3)
    elif layout == "x" and r >= 1:
        t = base.expand(shape)
    elif layout == "z":
        t = base.reshape(1).as_strided(shape, [0] * r)
    else:
        t = base
    return to_meta(t) if (device or s["device"]) == "meta" else t


def describe(t):
    """Short text for a tensor in failure reports."""
    if not isinstance(t, torch.Tensor):
        return repr(t)
    return (f"Tensor{tuple(t.shape)}/{str(t.dtype).replace('torch.', '')}/{t.device.type}"
            f"/strides{tuple(t.stride())}+{t.storage_offset()}")


def to_meta(t):
    """A meta tensor with t's sizes, strides and storage offset (None stays None)."""
    if t is None:
        return None
    storage = t.untyped_storage().nbytes() // t.element_size()
    return torch.empty(max(storage, 1), dtype=t.dtype, device="meta").as_strided(
        t.size(), t.stride(), t.storage_offset())
