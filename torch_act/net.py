"""The seed document's network: Linear(2,10) -> relu -> Linear(10,5) -> sigmoid -> Linear(5,1).

``Net`` builds it from torch_act's fused layers (each activation fused into
the Linear before it); ``EagerNet`` is the same network in plain PyTorch, with
identical parameter names, so state_dicts move freely between the two; its
activations are the registry's PyTorch references (``ActivationSpec.reference``).
"""
from typing import Sequence

import torch

from . import ACTIVATIONS
from . import nn as tnn

#: (in, out) of each layer, as in the document
SIZES = (2, 10, 5, 1)


class Net(torch.nn.Module):
    """fc1 -> act1 -> fc2 -> act2 -> fc3, the activations fused into fc1 / fc2."""

    def __init__(self, activations: Sequence[str] = ("relu", "sigmoid"), sizes=SIZES,
                 output_activation: str = "identity", alphas=None):
        super().__init__()
        if len(activations) != len(sizes) - 2:
            raise ValueError(f"Net: need {len(sizes) - 2} hidden activations, got {len(activations)}")
        alphas = list(alphas) if alphas is not None else [None] * len(activations)
        acts = list(activations) + [output_activation]
        alphas = alphas + [None]
        for i, (a, al) in enumerate(zip(acts, alphas)):
            setattr(self, f"fc{i + 1}", tnn.Linear(sizes[i], sizes[i + 1], activation=a, alpha=al))
        self.num_layers = len(sizes) - 1

    def forward(self, x):
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i + 1}")(x)
        return x


_REFERENCE_SCOPE = {"torch": torch, "F": torch.nn.functional}
_reference_code = {}  # reference source -> compiled expression


def eager_activation(name: str, x: torch.Tensor, alpha=None) -> torch.Tensor:
    """The activation computed by PyTorch's own functions: the registry's
    ``ACTIVATIONS[name].reference`` (an expression in ``z`` and ``a``),
    with ``a`` = ``alpha`` or the activation's default."""
    spec = ACTIVATIONS[name]
    if not spec.reference:
        raise ValueError(f"activation '{name}' has no PyTorch reference (ActivationSpec.reference is empty)")
    code = _reference_code.get(spec.reference)
    if code is None:
        code = _reference_code[spec.reference] = compile(spec.reference, f"<reference of {name}>", "eval")
    return eval(code, _REFERENCE_SCOPE, {"z": x, "a": spec.default_alpha if alpha is None else alpha})


class EagerNet(torch.nn.Module):
    """The same network with torch.nn.Linear and PyTorch's activations."""

    def __init__(self, activations: Sequence[str] = ("relu", "sigmoid"), sizes=SIZES,
                 output_activation: str = "identity", alphas=None):
        super().__init__()
        self.acts = list(activations) + [output_activation]
        self.alphas = (list(alphas) if alphas is not None else [None] * len(activations)) + [None]
        for i in range(len(sizes) - 1):
            setattr(self, f"fc{i + 1}", torch.nn.Linear(sizes[i], sizes[i + 1]))
        self.num_layers = len(sizes) - 1

    def forward(self, x):
        for i in range(self.num_layers):
            x = eager_activation(self.acts[i], getattr(self, f"fc{i + 1}")(x), self.alphas[i])
        return x
