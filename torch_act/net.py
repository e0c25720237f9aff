"""The seed document's network: Linear(2,10) -> relu -> Linear(10,5) -> sigmoid -> Linear(5,1).

``Net`` builds it from torch_act's fused layers (each activation fused into
the Linear before it); ``EagerNet`` is the same network in plain PyTorch, with
identical parameter names, so state_dicts move freely between the two.
"""
from typing import Sequence

import torch

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


_EAGER = {
    "identity": lambda x, a: x,
    "relu": lambda x, a: torch.relu(x),
    "leaky_relu": lambda x, a: torch.nn.functional.leaky_relu(x, 0.01 if a is None else a),
    "sigmoid": lambda x, a: torch.sigmoid(x),
    "tanh": lambda x, a: torch.tanh(x),
    "softmax": lambda x, a: torch.softmax(x, -1),
    "log_softmax": lambda x, a: torch.log_softmax(x, -1),
    "gelu": lambda x, a: torch.nn.functional.gelu(x),
    "gelu_tanh": lambda x, a: torch.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda x, a: torch.nn.functional.silu(x),
    "elu": lambda x, a: torch.nn.functional.elu(x, 1.0 if a is None else a),
    "softplus": lambda x, a: torch.nn.functional.softplus(x, 1.0 if a is None else a),
    "mish": lambda x, a: torch.nn.functional.mish(x),
    "hardswish": lambda x, a: torch.nn.functional.hardswish(x),
}


def eager_activation(name: str, x: torch.Tensor, alpha=None) -> torch.Tensor:
    """The activation computed by PyTorch's own functions (the reference)."""
    fn = _EAGER.get(name)
    if fn is not None:
        return fn(x, alpha)
    # any other registered activation (plugins, define_activation): its torch reference
    from . import ACTIVATIONS

    spec = ACTIVATIONS[name]
    a = spec.default_alpha if alpha is None else alpha
    return eval(spec.reference, {"torch": torch, "F": torch.nn.functional}, {"z": x, "a": a})


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
