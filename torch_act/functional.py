"""Functional API: ``torch_act.functional.linear_act`` and friends.

Besides the three ops and ``linear_cross_entropy``, each activation in ``torch_act.ACTIVATIONS`` is
available by name, e.g. ``torch_act.functional.gelu_tanh(x)`` or
``torch_act.functional.leaky_relu(x, alpha=0.2)``; an activation registered
later (``torch_act.define_activation``, a plugin) appears here too.
"""
from typing import Optional

from torch import Tensor

from . import ACTIVATIONS
from .cross_entropy import linear_cross_entropy
from .ops import activation, linear_act, mlp, mlp_flat

__all__ = ["linear_act", "activation", "mlp", "mlp_flat", "linear_cross_entropy"] + list(ACTIVATIONS)


def _make(name: str):
    def fn(input: Tensor, alpha: Optional[float] = None) -> Tensor:
        return activation(input, name, alpha)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch_act {name}: {ACTIVATIONS[name].formula} (elementwise"
    fn.__doc__ += ", over the last dim)." if ACTIVATIONS[name].rowwise else ")."
    return fn


for _name in ACTIVATIONS:
    globals()[_name] = _make(_name)
del _name


def __getattr__(name: str):
    # the registry is live: activations registered after this import
    if name.isidentifier() and not name.startswith("_") and name in ACTIVATIONS:
        fn = globals()[name] = _make(name)
        return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(ACTIVATIONS))
