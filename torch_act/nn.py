"""Drop-in ``nn.Module``s running on torch_act's fused ops.

``Linear`` subclasses ``torch.nn.Linear``: same parameters, same state_dict
keys, so an ``nn.Linear`` checkpoint loads unchanged; it adds a fused
activation.  ``MLP`` runs a whole stack as one op.  The activation modules
(``ReLU`` ... ``Tanhshrink``) are drop-ins for their ``torch.nn`` namesakes:
same constructor signatures, attributes, ``extra_repr`` and results for every
input torch's accept (how, and the few documented differences:
torch_act/_dropin.py).  ``SquaredReLU``, ``Sine`` and ``QuickGELU`` have no torch.nn
counterpart; ``Activation(name)`` runs any registered activation by name.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from . import ACTIVATIONS
from . import _dropin
from .ops import _check_glu_save, _flat_layers, _glu, _save_kind


_linear_act_op = torch.ops.torch_act.linear_act.default
_mlp_op = torch.ops.torch_act.mlp.default
_mlp_flat_op = torch.ops.torch_act.mlp_flat.default
_linear_glu_op = torch.ops.torch_act.linear_glu.default


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
    "GatedMLP",
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
    "ReLU6",
    "Hardsigmoid",
    "SELU",
    "CELU",
    "Softsign",
    "LogSigmoid",
    "Tanhshrink",
    "SquaredReLU",
    "Sine",
    "QuickGELU",
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
        save: str = "auto",
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.activation = _check_name(activation)
        self.alpha = None if alpha is None else float(alpha)
        self.save = save
        _save_kind("Linear", self.activation, self.alpha, save)  # checks the policy

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, activation: str = "identity", alpha: Optional[float] = None,
                    save: str = "auto"):
        """A torch_act Linear sharing ``linear``'s parameters (no copy)."""
        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(f"from_linear expects a torch.nn.Linear, got {type(linear).__name__}")
        w = linear.weight
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                  activation=activation, alpha=alpha, device="meta", dtype=w.dtype, save=save)
        new.weight = linear.weight
        new.bias = linear.bias
        return new

    def forward(self, input: Tensor) -> Tensor:
        return _linear_act_op(input, _param(self, "weight"), _param(self, "bias"), self.activation, self.alpha,
                              self.__dict__.get("save", "auto"))

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", activation={self.activation}"
        s += f", alpha={self.alpha}" if self.alpha is not None else ""
        save = self.__dict__.get("save", "auto")
        return s + (f", save={save!r}" if save != "auto" else "")


def _flat_view(p: Tensor, off: int, shape) -> Tensor:
    """The tensor of ``shape`` starting at element ``off`` of the flat ``p``."""
    return p[off:off + math.prod(shape)].view(shape)


def _flat_window(layer, which: str):
    n, k, w_off, b_off = layer.__dict__["_flat_place"]
    p = layer.__dict__["_flat_store"]["flat_params"]
    if which == "weight":
        return _flat_view(p, w_off, (n, k))
    return None if b_off < 0 else _flat_view(p, b_off, (n,))


class _FlatLinear(Linear):
    """A layer of ``MLP(flat=True)``: a ``Linear`` whose ``weight`` and ``bias``
    are views of the owning MLP's ``flat_params`` (no parameters of its own)."""

    weight = property(lambda self: _flat_window(self, "weight"), doc="A view of the owning MLP's flat_params.")
    bias = property(lambda self: _flat_window(self, "bias"),
                    doc="A view of the owning MLP's flat_params (None without bias).")

    def _get_name(self):
        return "Linear"


class MLP(torch.nn.Module):
    """A stack of fused linear+activation layers run as ONE op (one autograd node).

    ``sizes`` lists the features: ``MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])``
    is the document's network.  The layers are ``torch_act.nn.Linear``s in
    ``self.layers`` (state_dict keys ``layers.0.weight``, ``layers.0.bias``, ...).

    ``flat=True`` keeps every weight and bias in ONE parameter, ``flat_params``
    (the ``mlp_flat`` op's layout), so that a training step pays the autograd
    engine for one parameter instead of 2L: one gradient buffer, one
    accumulation.  ``parameters()`` then yields that one tensor; the layers'
    ``weight`` / ``bias`` are views of it (read them, initialise them in place,
    call a layer alone: the gradient reaches ``flat_params``), and
    ``state_dict`` / ``load_state_dict`` keep the per-layer keys, so
    checkpoints move between flat and per-layer MLPs and nn.Linear stacks.
    """

    def __init__(self, sizes, activations, bias: bool = True, alphas=None, device=None, dtype=None,
                 save: str = "auto", flat: bool = False):
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
            Linear(sizes[i], sizes[i + 1], bias=bias, activation=a, alpha=al, device=device, dtype=dtype,
                   save=save)
            for i, (a, al) in enumerate(zip(activations, alphas))
        )
        if flat:
            self._make_flat()

    @classmethod
    def from_linears(cls, linears, activations, alphas=None, save: str = "auto", flat: bool = False):
        """An MLP sharing the parameters of a sequence of ``nn.Linear`` layers
        (``flat=True``: copying them into one flat parameter instead)."""
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
            Linear.from_linear(l, activation=a, alpha=al, save=save) for l, a, al in zip(linears, activations, alphas)
        )
        if flat:
            new._make_flat()
        return new

    # ------------------------------------------------------------ flat mode
    def _make_flat(self):
        """Moves every layer's parameters into one ``flat_params`` (copies)."""
        layers = list(self.layers)
        pieces = []
        for layer in layers:
            pieces.append(layer.weight.detach().reshape(-1))
            if layer.bias is not None:
                pieces.append(layer.bias.detach())
        with torch.no_grad():
            flat = torch.cat(pieces)
        self.flat_params = torch.nn.Parameter(flat)
        self._flat_sizes = [layers[0].in_features] + [l.out_features for l in layers]
        self._flat_bias = [l.bias is not None for l in layers]
        for layer, place in zip(layers, _flat_layers(self._flat_sizes, self._flat_bias)):
            del layer._parameters["weight"]
            del layer._parameters["bias"]
            layer.__class__ = _FlatLinear
            # the MLP's parameter dict, not the MLP: no reference cycle (the
            # MLP frees by refcount), and .to() / deepcopy / pickling carry it
            layer.__dict__["_flat_store"] = self._parameters
            layer.__dict__["_flat_place"] = place  # (n, k, weight offset, bias offset or -1)

    @property
    def flat(self) -> bool:
        return "flat_params" in self._parameters

    def extra_repr(self) -> str:
        return "flat=True" if self.flat else ""

    def _flat_entries(self):
        """(state_dict key, offset, shape) of every per-layer tensor, in order."""
        for i, layer in enumerate(self.layers):
            n, k, w_off, b_off = layer.__dict__["_flat_place"]
            yield f"layers.{i}.weight", w_off, (n, k)
            if b_off >= 0:
                yield f"layers.{i}.bias", b_off, (n,)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        if not self.flat:
            return super()._save_to_state_dict(destination, prefix, keep_vars)
        # nn.Linear's keys: each layer's weight and bias, views of flat_params
        p = self.flat_params if keep_vars else self.flat_params.detach()
        for key, off, shape in self._flat_entries():
            destination[prefix + key] = _flat_view(p, off, shape)
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        if not self.flat:
            return super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                                 unexpected_keys, error_msgs)
        flat_key = prefix + "flat_params"
        with torch.no_grad():
            p = self.flat_params.detach()
            for key, off, shape in self._flat_entries():
                full = prefix + key
                if full not in state_dict:
                    if flat_key not in state_dict:  # (a checkpoint of the flat tensor itself is whole)
                        missing_keys.append(full)
                    continue
                # taken out here, so that the (parameterless) layers do not
                # report it as unexpected
                value = state_dict.pop(full)
                if tuple(value.shape) != tuple(shape):
                    error_msgs.append(f"size mismatch for {full}: copying a param with shape {value.shape} from "
                                      f"checkpoint, the shape in current model is {torch.Size(shape)}.")
                    continue
                _flat_view(p, off, shape).copy_(value)
        # the flat tensor itself, if a checkpoint holds it, and unexpected keys;
        # its absence is no missing key (the per-layer keys stand for it)
        n_missing = len(missing_keys)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if flat_key in missing_keys[n_missing:]:
            missing_keys.remove(flat_key)

    def forward(self, input: Tensor) -> Tensor:
        if "flat_params" in self._parameters:
            return self._forward_flat(input)
        # One pass over the layers, reading the parameter dicts directly: on
        # the document's tiny Net the generic attribute lookups of
        # ``[l.weight for l in self.layers]`` x4 cost as much as the op.
        weights, biases, acts, alphas = [], [], [], []
        chain = False
        for layer in self._modules["layers"]._modules.values():
            weights.append(_param(layer, "weight"))
            biases.append(_param(layer, "bias"))
            acts.append(layer.activation)
            alphas.append(layer.alpha)
            chain = chain or layer.__dict__.get("save", "auto") != "auto"
        if chain:
            # a saved-tensor policy other than "auto": one linear_act per layer,
            # each keeping what its policy says (the mlp op keeps each hidden
            # output once, as the next layer's input: "auto")
            for layer in self._modules["layers"]._modules.values():
                input = layer(input)
            return input
        return _mlp_op(input, weights, biases, acts, alphas)

    def _forward_flat(self, input: Tensor) -> Tensor:
        acts, alphas = [], []
        chain = False
        for layer in self._modules["layers"]._modules.values():
            d = layer.__dict__  # plain attributes: no nn.Module.__getattr__ per layer
            acts.append(d["activation"])
            alphas.append(d["alpha"])
            chain = chain or d.get("save", "auto") != "auto"
        if chain:  # a saved-tensor policy: one linear_act per layer
            for layer in self._modules["layers"]._modules.values():
                input = layer(input)
            return input
        return _mlp_flat_op(input, self._parameters["flat_params"], self._flat_sizes, self._flat_bias, acts, alphas)


# torch.nn activation modules -> torch_act names, for GatedMLP.from_module
_ACT_OF_MODULE = {"SiLU": "silu", "SiLUActivation": "silu", "ReLU": "relu", "Sigmoid": "sigmoid",
                  "Tanh": "tanh", "Mish": "mish", "ReLUSquaredActivation": "squared_relu",
                  "QuickGELUActivation": "quick_gelu", "QuickGELU": "quick_gelu"}


def _activation_of(act_fn) -> Optional[str]:
    name = type(act_fn).__name__
    if name in ("GELU", "GELUActivation"):
        approx = getattr(act_fn, "approximate", "none")
        return "gelu" if approx == "none" else None
    if name in ("GELUTanh", "PytorchGELUTanh", "NewGELUActivation", "GELUPytorchTanh"):
        return "gelu_tanh" if "gelu_tanh" in ACTIVATIONS else None
    return _ACT_OF_MODULE.get(name)


class GatedMLP(torch.nn.Module):
    """The LLaMA-style gated MLP: ``down_proj(act(gate_proj(x)) * up_proj(x))``.

    ``gate_proj``, ``up_proj`` (``in_features -> hidden_features``) and
    ``down_proj`` (``hidden_features -> out_features``, default
    ``in_features``) are ``torch.nn.Linear``s, so the state_dict keys are those
    of transformers' ``LlamaMLP`` / ``MistralMLP`` / ``Qwen2MLP``
    (``gate_proj.weight``, ``up_proj.weight``, ``down_proj.weight``, plus the
    biases when ``bias=True``) and their checkpoints load unchanged.  The gated
    unit runs as one ``torch_act.linear_glu`` op (both projections in one
    GEMM, one autograd node); ``down_proj`` is a plain linear.  ``activation``
    is any registered elementwise activation (silu: SwiGLU, gelu: GeGLU, relu:
    ReGLU, user-defined ones).
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: Optional[int] = None,
                 activation: str = "silu", bias: bool = False, alpha: Optional[float] = None,
                 device=None, dtype=None, save: str = "auto"):
        super().__init__()
        _check_glu_save("GatedMLP", save)
        self.save = save
        if ACTIVATIONS[_check_name(activation)].rowwise:
            raise ValueError(f"GatedMLP: the gate activation must be elementwise, got '{activation}'")
        out_features = in_features if out_features is None else out_features
        kw = dict(bias=bias, device=device, dtype=dtype)
        self.gate_proj = torch.nn.Linear(in_features, hidden_features, **kw)
        self.up_proj = torch.nn.Linear(in_features, hidden_features, **kw)
        self.down_proj = torch.nn.Linear(hidden_features, out_features, **kw)
        self.activation = activation
        self.alpha = alpha

    @classmethod
    def from_module(cls, mlp: torch.nn.Module, activation: Optional[str] = None,
                    alpha: Optional[float] = None, save: str = "auto") -> "GatedMLP":
        """A GatedMLP sharing the parameters of ``mlp`` (anything with
        ``gate_proj``, ``up_proj``, ``down_proj`` linears, e.g. transformers'
        ``LlamaMLP``).  ``activation=None`` reads it from ``mlp.act_fn``."""
        for name in ("gate_proj", "up_proj", "down_proj"):
            if not isinstance(getattr(mlp, name, None), torch.nn.Linear):
                raise ValueError(f"GatedMLP.from_module: {type(mlp).__name__} has no nn.Linear '{name}'")
        if activation is None:
            act_fn = getattr(mlp, "act_fn", None)
            activation = _activation_of(act_fn) if act_fn is not None else None
            if activation is None:
                raise ValueError(
                    f"GatedMLP.from_module: cannot tell the activation of {type(act_fn).__name__}; "
                    "pass activation=...")
        if ACTIVATIONS[_check_name(activation)].rowwise:
            raise ValueError(f"GatedMLP: the gate activation must be elementwise, got '{activation}'")
        if mlp.gate_proj.weight.shape != mlp.up_proj.weight.shape:
            raise ValueError("GatedMLP.from_module: gate_proj and up_proj must have the same shape")
        new = cls.__new__(cls)
        torch.nn.Module.__init__(new)
        new.gate_proj, new.up_proj, new.down_proj = mlp.gate_proj, mlp.up_proj, mlp.down_proj
        new.activation = activation
        new.alpha = alpha
        _check_glu_save("GatedMLP", save)
        new.save = save
        return new

    def forward(self, x: Tensor) -> Tensor:
        g, u, d = self._modules["gate_proj"], self._modules["up_proj"], self._modules["down_proj"]
        if self.__dict__.get("save", "auto") == "recompute":
            h = _glu(x, _param(g, "weight"), _param(u, "weight"), _param(g, "bias"), _param(u, "bias"),
                     self.activation, self.alpha, "recompute")
        else:
            h = _linear_glu_op(x, _param(g, "weight"), _param(u, "weight"), _param(g, "bias"),
                               _param(u, "bias"), self.activation, self.alpha)
        return F.linear(h, _param(d, "weight"), _param(d, "bias"))

    def extra_repr(self) -> str:
        return f"activation={self.activation}" + (f", alpha={self.alpha}" if self.alpha is not None else "")


class _ActivationModule(torch.nn.Module):
    """Base of the torch.nn drop-ins; ``activation`` is the torch_act name."""

    activation: str = ""


class Activation(_ActivationModule):
    """Any torch_act activation by name; ``dim`` applies to softmax/log_softmax."""

    def __init__(self, activation: str, alpha: Optional[float] = None, dim: int = -1) -> None:
        super().__init__()
        self.activation = _check_name(activation)
        self.alpha = None if alpha is None else float(alpha)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        if ACTIVATIONS[self.activation].rowwise:
            return _dropin.rowwise(input, self.activation, self.dim)
        return _dropin.activation_op(input, self.activation, self.alpha)

    def extra_repr(self) -> str:
        s = self.activation
        if self.alpha is not None:
            s += f", alpha={self.alpha}"
        if ACTIVATIONS[self.activation].rowwise:
            s += f", dim={self.dim}"
        return s


def _inplace_repr(inplace: bool, first: bool = True) -> str:
    return ("inplace=True" if first else ", inplace=True") if inplace else ""


class _InplaceModule(_ActivationModule):
    """A torch.nn activation whose only argument is ``inplace``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class ReLU(_InplaceModule):
    activation = "relu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "relu", None, self.inplace, F.relu, self.inplace)


class ReLU6(_InplaceModule):
    """torch.nn.ReLU6: Hardtanh(0, 6), with Hardtanh's ``min_val`` / ``max_val``."""

    activation = "relu6"

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.min_val = 0.0
        self.max_val = 6.0

    def forward(self, input: Tensor) -> Tensor:
        if self.min_val != 0.0 or self.max_val != 6.0:  # (changed after construction)
            return F.hardtanh(input, self.min_val, self.max_val, self.inplace)
        return _dropin.elementwise(input, "relu6", None, self.inplace, F.hardtanh, 0.0, 6.0, self.inplace)


class LeakyReLU(_ActivationModule):
    activation = "leaky_relu"

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "leaky_relu", self.negative_slope, self.inplace,
                                   F.leaky_relu, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_repr(self.inplace, False)}"


class ELU(_ActivationModule):
    activation = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "elu", self.alpha, self.inplace, F.elu, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_repr(self.inplace, False)}"


class CELU(ELU):
    activation = "celu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "celu", self.alpha, self.inplace, F.celu, self.alpha, self.inplace)


class SELU(_InplaceModule):
    activation = "selu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "selu", None, self.inplace, F.selu, self.inplace)


class SiLU(_InplaceModule):
    activation = "silu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "silu", None, self.inplace, F.silu, self.inplace)


class Mish(_InplaceModule):
    activation = "mish"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "mish", None, self.inplace, F.mish, self.inplace)


class Hardswish(_InplaceModule):
    activation = "hardswish"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "hardswish", None, self.inplace, F.hardswish, self.inplace)

    def extra_repr(self) -> str:  # (torch's shows nothing, inplace or not)
        return ""


class Hardsigmoid(_InplaceModule):
    activation = "hardsigmoid"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "hardsigmoid", None, self.inplace, F.hardsigmoid, self.inplace)

    def extra_repr(self) -> str:  # (torch's shows nothing, inplace or not)
        return ""


# The argument-less ones keep nn.Module's constructor, as torch's do.

class Sigmoid(_ActivationModule):
    activation = "sigmoid"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "sigmoid", None, False, torch.sigmoid)


class Tanh(_ActivationModule):
    activation = "tanh"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "tanh", None, False, torch.tanh)


class Softsign(_ActivationModule):
    activation = "softsign"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "softsign", None, False, F.softsign)


class LogSigmoid(_ActivationModule):
    activation = "logsigmoid"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "logsigmoid", None, False, F.logsigmoid)


class Tanhshrink(_ActivationModule):
    activation = "tanhshrink"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "tanhshrink", None, False, F.tanhshrink)


class GELU(_ActivationModule):
    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got '{approximate}'")
        super().__init__()
        self.approximate = approximate

    @property
    def activation(self) -> str:
        return "gelu_tanh" if self.approximate == "tanh" else "gelu"

    def forward(self, input: Tensor) -> Tensor:
        if self.approximate not in ("none", "tanh"):  # (changed after construction): torch's error
            return F.gelu(input, approximate=self.approximate)
        return _dropin.elementwise(input, self.activation, None, False, _dropin.gelu, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={repr(self.approximate)}"


class Softplus(_ActivationModule):
    """torch.nn.Softplus with any beta and threshold (see the notes above)."""

    activation = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(_ActivationModule):
    activation = "softmax"

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state):  # (pickles from before dim existed, as torch's)
        super().__setstate__(state)
        if not hasattr(self, "dim"):
            self.dim = None

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _dropin.implicit_softmax_dim(self.activation, input.dim())
        if not _dropin.kernel_takes(input):
            return self._torch(input, dim)
        return _dropin.rowwise(_dropin.autocast_float32(input), self.activation, dim)

    @staticmethod
    def _torch(input, dim):
        return F.softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    activation = "log_softmax"

    @staticmethod
    def _torch(input, dim):
        return F.log_softmax(input, dim)


class Identity(_ActivationModule):
    """torch.nn.Identity: ignores its arguments and returns the input itself."""

    activation = "identity"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


# No torch.nn counterpart:

class SquaredReLU(_ActivationModule):
    """relu(x)**2 (Primer, So et al. 2021)."""

    activation = "squared_relu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "squared_relu", None, False, _dropin.squared_relu)


class Sine(_ActivationModule):
    """sin(omega_0 * x), the SIREN activation (Sitzmann et al. 2020; omega_0 = 30
    on their first layer)."""

    activation = "sin"

    def __init__(self, omega_0: float = 1.0) -> None:
        super().__init__()
        self.omega_0 = omega_0

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "sin", self.omega_0, False, _dropin.sine, self.omega_0)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


class QuickGELU(_ActivationModule):
    """x * sigmoid(1.702 x), OpenAI CLIP's activation (transformers'
    ``QuickGELUActivation``, open_clip's ``QuickGELU``)."""

    activation = "quick_gelu"

    def forward(self, input: Tensor) -> Tensor:
        return _dropin.elementwise(input, "quick_gelu", None, False, _dropin.quick_gelu)
