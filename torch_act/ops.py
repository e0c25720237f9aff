"""Python entry points for the torch_act operators and their fake kernels.

The operators themselves are defined and implemented in C++ (csrc/ops.cpp);
this module registers a fake (meta) kernel for each of them so that
``torch.compile(fullgraph=True)`` and ``torch.export`` can trace through, and
offers thin typed wrappers.
"""
from typing import List, Optional, Sequence

import torch
from torch import Tensor

from . import ACTIVATIONS

_ops = torch.ops.torch_act


def _spec(op: str, name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"{op}: unknown activation '{name}'; expected one of: {', '.join(ACTIVATIONS)}"
        ) from None


def _uses_output(name: str, alpha: Optional[float]) -> bool:
    spec = ACTIVATIONS[name]
    a = spec.default_alpha if alpha is None else alpha
    return spec.saves in ("output", "nothing") or (spec.saves == "output_if_alpha_nonneg" and a >= 0)


def _check_linear(op: str, input: Tensor, weight: Tensor, bias: Optional[Tensor]):
    torch._check(weight.dim() == 2, lambda: f"{op}: weight must be 2-D [N, K], got {weight.dim()}-D")
    torch._check(input.dim() >= 1, lambda: f"{op}: input must have at least 1 dimension")
    torch._check(
        input.shape[-1] == weight.shape[1],
        lambda: f"{op}: input's last dimension must equal weight.size(1)",
    )
    torch._check(input.dtype == weight.dtype, lambda: f"{op}: weight dtype must match input dtype")
    torch._check(
        input.device == weight.device,
        lambda: f"{op}: weight is on {weight.device} but input is on {input.device}; move both to one device",
    )
    if bias is not None:
        torch._check(
            bias.dim() == 1 and bias.shape[0] == weight.shape[0],
            lambda: f"{op}: bias must be 1-D of size N",
        )
        torch._check(bias.dtype == input.dtype, lambda: f"{op}: bias dtype must match input dtype")
        torch._check(
            bias.device == input.device,
            lambda: f"{op}: bias is on {bias.device} but input is on {input.device}; move both to one device",
        )


# ----------------------------------------------------------------- fake kernels
@torch.library.register_fake("torch_act::linear_act")
def _linear_act_fake(input, weight, bias=None, activation="identity", alpha=None):
    _spec("linear_act", activation)
    _check_linear("linear_act", input, weight, bias)
    return input.new_empty((*input.shape[:-1], weight.shape[0]))


@torch.library.register_fake("torch_act::_linear_act_fwd")
def _linear_act_fwd_fake(input, weight, bias, activation, alpha):
    _spec("linear_act", activation)
    _check_linear("linear_act", input, weight, bias)
    out = input.new_empty((*input.shape[:-1], weight.shape[0]))
    saved = input.new_empty((0,)) if _uses_output(activation, alpha) else torch.empty_like(out)
    return out, saved


@torch.library.register_fake("torch_act::_linear_act_bwd")
def _linear_act_bwd_fake(grad_out, input, weight, saved, activation, alpha, output_mask):
    _spec("_linear_act_bwd", activation)
    dx = input.new_empty(input.shape) if output_mask[0] else input.new_empty((0,))
    dw = weight.new_empty(weight.shape) if output_mask[1] else input.new_empty((0,))
    db = weight.new_empty((weight.shape[0],)) if output_mask[2] else input.new_empty((0,))
    return dx, dw, db


@torch.library.register_fake("torch_act::activation")
def _activation_fake(input, activation, alpha=None):
    _spec("activation", activation)
    return input.new_empty(input.shape)


@torch.library.register_fake("torch_act::_activation_bwd")
def _activation_bwd_fake(grad_out, saved, activation, alpha):
    _spec("_activation_bwd", activation)
    return grad_out.new_empty(grad_out.shape)


def _mlp_shapes(op, input, weights, biases, activations, alphas):
    L = len(weights)
    torch._check(L >= 1, lambda: f"{op}: needs at least one layer")
    torch._check(
        len(biases) == L and len(activations) == L and len(alphas) == L,
        lambda: f"{op}: weights, biases, activations and alphas need one entry per layer",
    )
    for i, (w, b, a) in enumerate(zip(weights, biases, activations)):
        _spec(op, a)
        _check_linear(f"{op} layer {i}", input if i == 0 else input.new_empty((0, weights[i - 1].shape[0])), w, b)
    return [(*input.shape[:-1], w.shape[0]) for w in weights]


@torch.library.register_fake("torch_act::mlp")
def _mlp_fake(input, weights, biases, activations, alphas):
    shapes = _mlp_shapes("mlp", input, weights, biases, activations, alphas)
    return input.new_empty(shapes[-1])


@torch.library.register_fake("torch_act::_mlp_fwd")
def _mlp_fwd_fake(input, weights, biases, activations, alphas):
    shapes = _mlp_shapes("mlp", input, weights, biases, activations, alphas)
    out = []
    for shape, a, al in zip(shapes, activations, alphas):
        out.append(input.new_empty(shape))
        out.append(input.new_empty((0,)) if _uses_output(a, al) else input.new_empty(shape))
    return out


@torch.library.register_fake("torch_act::_mlp_bwd")
def _mlp_bwd_fake(grad_out, input, weights, biases, saved, activations, alphas, input_grad):
    out = [input.new_empty(input.shape) if input_grad else input.new_empty((0,))]
    out += [w.new_empty(w.shape) for w in weights]
    out += [w.new_empty((w.shape[0],)) if b is not None else input.new_empty((0,)) for w, b in zip(weights, biases)]
    return out


def _check_glu(op, input, gate_weight, up_weight, gate_bias, up_bias, activation):
    spec = _spec(op, activation)
    if spec.rowwise:
        raise ValueError(
            f"{op}: the gate activation must be elementwise; '{activation}' normalises rows "
            "(softmax / log_softmax cannot gate)"
        )
    torch._check(input.dim() >= 1, lambda: f"{op}: input must have at least 1 dimension")
    for arg, w in (("gate_weight", gate_weight), ("up_weight", up_weight)):
        torch._check(w.dim() == 2, lambda: f"{op}: {arg} must be 2-D [N, K], got {w.dim()}-D")
        torch._check(
            input.shape[-1] == w.shape[1], lambda: f"{op}: {arg}.size(1) must equal the input's last dimension"
        )
        torch._check(input.dtype == w.dtype, lambda: f"{op}: {arg} dtype must match input dtype")
        torch._check(
            input.device == w.device,
            lambda: f"{op}: {arg} is on {w.device} but input is on {input.device}; move both to one device",
        )
    torch._check(
        up_weight.shape == gate_weight.shape,
        lambda: f"{op}: up_weight shape {tuple(up_weight.shape)} must equal gate_weight shape {tuple(gate_weight.shape)}",
    )
    for arg, b in (("gate_bias", gate_bias), ("up_bias", up_bias)):
        if b is None:
            continue
        torch._check(
            b.dim() == 1 and b.shape[0] == gate_weight.shape[0], lambda: f"{op}: {arg} must be 1-D of size N"
        )
        torch._check(b.dtype == input.dtype, lambda: f"{op}: {arg} dtype must match input dtype")
        torch._check(
            b.device == input.device,
            lambda: f"{op}: {arg} is on {b.device} but input is on {input.device}; move both to one device",
        )


@torch.library.register_fake("torch_act::linear_glu")
def _linear_glu_fake(input, gate_weight, up_weight, gate_bias=None, up_bias=None, activation="silu", alpha=None):
    _check_glu("linear_glu", input, gate_weight, up_weight, gate_bias, up_bias, activation)
    return input.new_empty((*input.shape[:-1], gate_weight.shape[0]))


@torch.library.register_fake("torch_act::_linear_glu_fwd")
def _linear_glu_fwd_fake(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha):
    _check_glu("linear_glu", input, gate_weight, up_weight, gate_bias, up_bias, activation)
    n = gate_weight.shape[0]
    return input.new_empty((*input.shape[:-1], n)), input.new_empty((*input.shape[:-1], 2 * n))


@torch.library.register_fake("torch_act::_linear_glu_bwd")
def _linear_glu_bwd_fake(grad_out, input, gate_weight, up_weight, saved, activation, alpha, output_mask):
    _check_glu("_linear_glu_bwd", input, gate_weight, up_weight, None, None, activation)
    n = gate_weight.shape[0]
    shapes = (input.shape, gate_weight.shape, up_weight.shape, (n,), (n,))
    return tuple(input.new_empty(s if want else (0,)) for s, want in zip(shapes, output_mask))


# ----------------------------------------------------------------- wrappers
def linear_act(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    activation: str = "identity",
    alpha: Optional[float] = None,
) -> Tensor:
    """``act(input @ weight.T + bias)`` in one fused op.

    input ``[..., K]``, weight ``[N, K]`` (the ``nn.Linear`` layout), bias ``[N]``
    -> ``[..., N]``.  ``alpha`` is the activation's parameter (leaky_relu slope,
    elu alpha, softplus beta); ``None`` means its default.
    """
    return _ops.linear_act(input, weight, bias, activation, alpha)


def activation(input: Tensor, activation: str, alpha: Optional[float] = None) -> Tensor:
    """The activation alone, elementwise (softmax / log_softmax over the last dim)."""
    return _ops.activation(input, activation, alpha)


def mlp(
    input: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Optional[Tensor]],
    activations: Sequence[str],
    alphas: Optional[Sequence[Optional[float]]] = None,
) -> Tensor:
    """A whole stack of linear+activation layers as one op (one autograd node)."""
    if alphas is None:
        alphas = [None] * len(weights)
    return _ops.mlp(input, list(weights), list(biases), list(activations), list(alphas))


def linear_glu(
    input: Tensor,
    gate_weight: Tensor,
    up_weight: Tensor,
    gate_bias: Optional[Tensor] = None,
    up_bias: Optional[Tensor] = None,
    activation: str = "silu",
    alpha: Optional[float] = None,
) -> Tensor:
    """A gated linear unit: ``act(input @ gate_weight.T + gate_bias) * (input @ up_weight.T + up_bias)``.

    input ``[..., K]``, both weights ``[N, K]`` (the ``nn.Linear`` layout), biases
    ``[N]`` -> ``[..., N]``.  ``activation`` is any registered elementwise
    activation (silu: SwiGLU, gelu: GeGLU, relu: ReGLU, or a user-defined one);
    ``alpha`` its parameter (``None``: its default).
    """
    return _ops.linear_glu(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha)
