"""torch_act: fused linear + activation ops for PyTorch.

Hand-written CPU (and, when built with CUDA, GPU) kernels compute
``act(x @ W.T + b)`` forward and backward.  They are registered as
``torch.ops.torch_act.*`` operators with C++ autograd, so they work with
``torch.compile``, ``torch.export`` and from pure C++ (LibTorch).
"""
import os as _os
from collections import namedtuple as _namedtuple
from collections.abc import Mapping as _Mapping

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
    "ActivationSpec",
    ["name", "has_alpha", "default_alpha", "saves", "rowwise", "formula", "reference", "builtin",
     "origin", "alpha_nonzero", "cpu_isas", "cuda", "max_order", "zero_from_order", "mask"],
)


class _Activations(_Mapping):
    """The activation registry, read live from C++ (csrc/registry.h): the
    built-ins first, then every activation a loaded plugin or
    ``torch_act.define_activation`` registered, in registration order."""

    def __init__(self):
        self._n = -1
        self._specs = {}
        self._refresh()

    def _refresh(self):
        # (torch.compile traces lookups of names seen before from the cache:
        # the count query is a pybind call dynamo cannot trace)
        if not _torch.compiler.is_compiling():
            n = _C.num_activations()
            if n != self._n:
                self._specs = {d["name"]: ActivationSpec(**d) for d in _C.activations()}
                self._n = n
        return self._specs

    def __getitem__(self, name):
        spec = self._specs.get(name)
        return spec if spec is not None else self._refresh()[name]

    def __contains__(self, name):
        return name in self._specs or name in self._refresh()

    def __iter__(self):
        return iter(self._refresh())

    def __len__(self):
        return len(self._refresh())

    def __repr__(self):
        return f"ACTIVATIONS({', '.join(self._refresh())})"


#: Every registered activation, by name (a live, read-only mapping).
ACTIVATIONS = _Activations()

__version__ = _C.build_info()["version"]

from . import ops  # noqa: E402,F401  (fake kernels for torch.compile / export)
from .ops import activation, flat_numel, linear_act, linear_glu, mlp, mlp_flat  # noqa: E402
from . import batching  # noqa: E402,F401  (torch.func.vmap batching rules)
from . import cross_entropy as _cross_entropy  # noqa: E402  (fake kernels of linear_cross_entropy)
from .cross_entropy import linear_cross_entropy  # noqa: E402
from . import functional  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import plugin  # noqa: E402,F401
from .plugin import load_library  # noqa: E402
from .fuse import fuse  # noqa: E402
from .define import define_activation  # noqa: E402
from . import distributed  # noqa: E402  (DTensor sharding strategies, registered when torch.distributed.tensor is imported)

distributed.install()


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
    "linear_glu",
    "mlp",
    "mlp_flat",
    "flat_numel",
    "linear_cross_entropy",
    "functional",
    "nn",
    "build_info",
    "load_library",
    "fuse",
    "define_activation",
    "plugin",
    "cpu_isa",
    "set_cpu_isa",
    "supported_cpu_isas",
]
