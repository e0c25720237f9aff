"""Functional API: ``torch_act.functional.linear_act`` and friends.

Besides the three ops, each activation in ``torch_act.ACTIVATIONS`` is
available by name, e.g. ``torch_act.functional.gelu_tanh(x)`` or
``torch_act.functional.leaky_relu(x, alpha=0.2)``.
"""
from typing import Optional

from torch import Tensor

from . import ACTIVATIONS
from .ops import activation, linear_act, mlp

__all__ = ["linear_act", "activation", "mlp"] + list(ACTIVATIONS)


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
