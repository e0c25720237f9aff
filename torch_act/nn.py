"""Drop-in ``nn.Module``s running on torch_act's fused ops.

``Linear`` subclasses ``torch.nn.Linear``: same parameters, same state_dict
keys, so an ``nn.Linear`` checkpoint loads unchanged; it adds a fused
activation.  The activation modules take the same constructor arguments as
their ``torch.nn`` namesakes.
"""
from typing import Optional

import torch
from torch import Tensor

from . import ACTIVATIONS
from .ops import activation as _activation


_linear_act_op = torch.ops.torch_act.linear_act.default
_mlp_op = torch.ops.torch_act.mlp.default


def _param(module: torch.nn.Module, name: str):
    # module.weight goes through nn.Module.__getattr__ (a Python call) on every
    # access; on the tiny layers of the document's Net that lookup costs as much
    # as the kernel.  Read the parameter dict directly, and fall back to the
    # attribute when it is not there (parametrizations turn it into a property).
    params = module._parameters
    return params[name] if name in params else getattr(module, name)

__all__ = [
    "Linear",
    "MLP",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "GELU",
    "SiLU",
    "ELU",
    "Softplus",
    "Mish",
    "Hardswish",
    "Identity",
]


def _check_name(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; expected one of: {', '.join(ACTIVATIONS)}")
    return name


class Linear(torch.nn.Linear):
    """``act(x @ weight.T + bias)`` as one fused op; a ``torch.nn.Linear`` subclass."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "identity",
        alpha: Optional[float] = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.activation = _check_name(activation)
        self.alpha = None if alpha is None else float(alpha)

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, activation: str = "identity", alpha: Optional[float] = None):
        """A torch_act Linear sharing ``linear``'s parameters (no copy)."""
        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(f"from_linear expects a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                  activation=activation, alpha=alpha, device="meta", dtype=w.dtype)
        new.weight = linear.weight
        new.bias = linear.bias
        return new

    def forward(self, input: Tensor) -> Tensor:
        return _linear_act_op(input, _param(self, "weight"), _param(self, "bias"), self.activation, self.alpha)

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", activation={self.activation}"
        return s + (f", alpha={self.alpha}" if self.alpha is not None else "")


class MLP(torch.nn.Module):
    """A stack of fused linear+activation layers run as ONE op (one autograd node).

    ``sizes`` lists the features: ``MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])``
    is the document's network.  The layers are ``torch_act.nn.Linear``s in
    ``self.layers`` (state_dict keys ``layers.0.weight``, ``layers.0.bias``, ...).
    """

    def __init__(self, sizes, activations, bias: bool = True, alphas=None, device=None, dtype=None):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least 2 entries (in, out), got {sizes}")
        if isinstance(activations, str):
            activations = [activations] * (len(sizes) - 1)
        activations = list(activations)
        if len(activations) != len(sizes) - 1:
            raise ValueError(f"MLP: need one activation per layer ({len(sizes) - 1}), got {len(activations)}")
        alphas = list(alphas) if alphas is not None else [None] * len(activations)
        if len(alphas) != len(activations):
            raise ValueError(f"MLP: need one alpha per layer ({len(activations)}), got {len(alphas)}")
        self.layers = torch.nn.ModuleList(
            Linear(sizes[i], sizes[i + 1], bias=bias, activation=a, alpha=al, device=device, dtype=dtype)
            for i, (a, al) in enumerate(zip(activations, alphas))
        )

    @classmethod
    def from_linears(cls, linears, activations, alphas=None):
        """An MLP sharing the parameters of a sequence of ``nn.Linear`` layers."""
        linears = list(linears)
        if not linears:
            raise ValueError("MLP.from_linears: needs at least one nn.Linear")
        if isinstance(activations, str):
            activations = [activations] * len(linears)
        activations = list(activations)
        if len(activations) != len(linears):
            raise ValueError(f"MLP.from_linears: need one activation per layer ({len(linears)}), got {len(activations)}")
        alphas = list(alphas) if alphas is not None else [None] * len(linears)
        for prev, nxt in zip(linears, linears[1:]):
            if prev.out_features != nxt.in_features:
                raise ValueError(
                    f"MLP.from_linears: layer sizes do not chain ({prev.out_features} -> {nxt.in_features})")
        new = cls.__new__(cls)
        torch.nn.Module.__init__(new)
        new.layers = torch.nn.ModuleList(
            Linear.from_linear(l, activation=a, alpha=al) for l, a, al in zip(linears, activations, alphas)
        )
        return new

    def forward(self, input: Tensor) -> Tensor:
        # One pass over the layers, reading the parameter dicts directly: on
        # the document's tiny Net the generic attribute lookups of
        # ``[l.weight for l in self.layers]`` x4 cost as much as the op.
        weights, biases, acts, alphas = [], [], [], []
        for layer in self._modules["layers"]._modules.values():
            weights.append(_param(layer, "weight"))
            biases.append(_param(layer, "bias"))
            acts.append(layer.activation)
            alphas.append(layer.alpha)
        return _mlp_op(input, weights, biases, acts, alphas)


class Activation(torch.nn.Module):
    """Any torch_act activation by name; ``dim`` applies to softmax/log_softmax."""

    def __init__(self, activation: str, alpha: Optional[float] = None, dim: int = -1) -> None:
        super().__init__()
        self.activation = _check_name(activation)
        self.alpha = None if alpha is None else float(alpha)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        if ACTIVATIONS[self.activation].rowwise and self.dim not in (-1, input.dim() - 1):
            # normalise over another dim: move it last and back (a view each way)
            moved = input.movedim(self.dim, -1)
            return _activation(moved, self.activation, self.alpha).movedim(-1, self.dim)
        return _activation(input, self.activation, self.alpha)

    def extra_repr(self) -> str:
        s = self.activation
        if self.alpha is not None:
            s += f", alpha={self.alpha}"
        if ACTIVATIONS[self.activation].rowwise:
            s += f", dim={self.dim}"
        return s


def _no_inplace(name, inplace):
    # Accepted for signature compatibility; torch_act activations always
    # return a new tensor (the values are the same).
    return bool(inplace)


class ReLU(Activation):
    def __init__(self, inplace: bool = False):
        super().__init__("relu")
        self.inplace = _no_inplace("ReLU", inplace)


class LeakyReLU(Activation):
    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__("leaky_relu", alpha=negative_slope)
        self.negative_slope = negative_slope
        self.inplace = _no_inplace("LeakyReLU", inplace)


class Sigmoid(Activation):
    def __init__(self):
        super().__init__("sigmoid")


class Tanh(Activation):
    def __init__(self):
        super().__init__("tanh")


class Softmax(Activation):
    def __init__(self, dim: Optional[int] = None):
        super().__init__("softmax", dim=-1 if dim is None else dim)


class LogSoftmax(Activation):
    def __init__(self, dim: Optional[int] = None):
        super().__init__("log_softmax", dim=-1 if dim is None else dim)


class GELU(Activation):
    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got '{approximate}'")
        super().__init__("gelu" if approximate == "none" else "gelu_tanh")
        self.approximate = approximate


class SiLU(Activation):
    def __init__(self, inplace: bool = False):
        super().__init__("silu")
        self.inplace = _no_inplace("SiLU", inplace)


class ELU(Activation):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__("elu", alpha=alpha)
        self.inplace = _no_inplace("ELU", inplace)


class Softplus(Activation):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        if threshold != 20.0:
            raise ValueError(
                f"Softplus: torch_act uses PyTorch's default threshold 20 (beta*x > 20 is linear); got threshold={threshold}"
            )
        super().__init__("softplus", alpha=beta)
        self.beta = beta
        self.threshold = threshold


class Mish(Activation):
    def __init__(self, inplace: bool = False):
        super().__init__("mish")
        self.inplace = _no_inplace("Mish", inplace)


class Hardswish(Activation):
    def __init__(self, inplace: bool = False):
        super().__init__("hardswish")
        self.inplace = _no_inplace("Hardswish", inplace)


class Identity(Activation):
    def __init__(self, *args, **kwargs):  # same as torch.nn.Identity: ignores arguments
        super().__init__("identity")
