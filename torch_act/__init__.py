"""torch_act: fused linear + activation ops for PyTorch.

Hand-written CPU (and, when built with CUDA, GPU) kernels compute
``act(x @ W.T + b)`` forward and backward.  They are registered as
``torch.ops.torch_act.*`` operators with C++ autograd, so they work with
``torch.compile``, ``torch.export`` and from pure C++ (LibTorch).
"""
import os as _os
from collections import namedtuple as _namedtuple

import torch as _torch

_here = _os.path.dirname(_os.path.abspath(__file__))
LIBRARY_PATH = _os.path.join(_here, "libtorch_act.so")
if not _os.path.exists(LIBRARY_PATH):
    raise ImportError(
        f"torch_act: the op library {LIBRARY_PATH} is missing; build it with "
        "`pip install --no-build-isolation -e .` (or `make build`)"
    )
_torch.ops.load_library(LIBRARY_PATH)

from . import _C  # noqa: E402  (links against libtorch_act.so)

ActivationSpec = _namedtuple(
    "ActivationSpec", ["name", "has_alpha", "default_alpha", "saves", "rowwise", "formula"]
)

#: Every activation, by name, in the order of the C++ table (csrc/activations.h).
ACTIVATIONS = {d["name"]: ActivationSpec(**d) for d in _C.activations()}

__version__ = _C.build_info()["version"]

from . import ops  # noqa: E402,F401  (fake kernels for torch.compile / export)
from .ops import activation, linear_act, mlp  # noqa: E402
from . import functional  # noqa: E402,F401
from . import nn  # noqa: E402,F401


def build_info():
    """Version, CPU ISA paths compiled in / in use, CUDA arch list, library path."""
    info = dict(_C.build_info())
    info["cpu_isa"] = _C.cpu_isa()
    info["supported_cpu_isas"] = list(_C.supported_cpu_isas())
    info["library"] = LIBRARY_PATH
    return info


def cpu_isa():
    """The CPU kernel path in use: 'avx512', 'avx2' or 'portable'."""
    return _C.cpu_isa()


def set_cpu_isa(isa):
    """Force a CPU kernel path (as TORCH_ACT_CPU_ISA does at load)."""
    _C.set_cpu_isa(isa)


def supported_cpu_isas():
    """CPU kernel paths this build has and this machine can run, best first."""
    return list(_C.supported_cpu_isas())


__all__ = [
    "ACTIVATIONS",
    "activation",
    "linear_act",
    "mlp",
    "functional",
    "nn",
    "build_info",
    "cpu_isa",
    "set_cpu_isa",
    "supported_cpu_isas",
]
