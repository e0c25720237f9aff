"""Python entry points for the torch_act operators and their fake kernels.

The operators themselves are defined and implemented in C++ (csrc/ops.cpp);
this module registers a fake (meta) kernel for each of them so that
``torch.compile(fullgraph=True)`` and ``torch.export`` can trace through, and
offers thin typed wrappers.
"""
import math
from typing import List, Optional, Sequence

import torch
from torch import Tensor

from . import ACTIVATIONS

_ops = torch.ops.torch_act


_FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_FLOAT32_MAX = 3.4028234663852886e38


# The fake kernels check what the C++ kernels check (csrc/ops.cpp, csrc/ops.h),
# so meta / FakeTensor calls raise where real ones do, with the same kinds of
# error: ValueError for names and alphas, RuntimeError for tensors.
def _spec(op: str, name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"{op}: unknown activation '{name}'; expected one of: {', '.join(ACTIVATIONS)}"
        ) from None


def _alpha(op: str, spec, alpha: Optional[float]) -> float:
    if alpha is None:
        return spec.default_alpha
    torch._check_value(
        spec.has_alpha,
        lambda: f"{op}: activation '{spec.name}' takes no alpha, got alpha={alpha}",
    )
    torch._check_value(math.isfinite(alpha), lambda: f"{op}: alpha must be finite, got {alpha}")
    torch._check_value(
        abs(alpha) <= _FLOAT32_MAX, lambda: f"{op}: alpha={alpha} overflows float32"
    )
    torch._check_value(
        not (spec.alpha_nonzero and alpha == 0.0), lambda: f"{op}: {spec.name}'s alpha must be non-zero"
    )
    return alpha


def _act(op: str, name: str, alpha: Optional[float]):
    spec = _spec(op, name)
    return spec, _alpha(op, spec, alpha)


def _uses_output(name: str, alpha: Optional[float]) -> bool:
    spec = ACTIVATIONS[name]
    a = spec.default_alpha if alpha is None else alpha
    return spec.saves in ("output", "nothing") or (spec.saves == "output_if_alpha_nonneg" and a >= 0)


def _needs_z(name: str, alpha: Optional[float]) -> bool:
    """The layer's backward needs the pre-activation (saved z), as registry.h."""
    return not _uses_output(name, alpha)


def _check_float(op: str, arg: str, t: Tensor):
    torch._check(
        t.dtype in _FLOAT_DTYPES,
        lambda: f"{op}: {arg} must be float32, float64, bfloat16 or float16, got {t.dtype}",
    )


def _check_like(op: str, arg: str, t: Tensor, shape, ref: Tensor):
    torch._check(
        tuple(t.shape) == tuple(shape), lambda: f"{op}: {arg} must have shape {list(shape)}, got {list(t.shape)}"
    )
    torch._check(
        t.dtype == ref.dtype, lambda: f"{op}: {arg} must have the input's dtype ({ref.dtype}), got {t.dtype}"
    )
    torch._check(
        t.device == ref.device,
        lambda: f"{op}: {arg} must be on the input's device ({ref.device}), got {t.device}",
    )


def _check_layer(op: str, ref: Tensor, k, weight: Tensor, bias: Optional[Tensor]):
    _check_float(op, "weight", weight)
    torch._check(weight.dim() == 2, lambda: f"{op}: weight must be 2-D [N, K], got {weight.dim()}-D")
    torch._check(
        weight.shape[1] == k,
        lambda: f"{op}: weight.size(1) (weight shape {list(weight.shape)}) must equal the input's last dimension K={k}",
    )
    torch._check(
        weight.dtype == ref.dtype, lambda: f"{op}: weight dtype ({weight.dtype}) must match input dtype ({ref.dtype})"
    )
    torch._check(
        weight.device == ref.device,
        lambda: f"{op}: weight is on {weight.device} but input is on {ref.device}; move both to one device",
    )
    if bias is not None:
        torch._check(
            bias.dim() == 1 and bias.shape[0] == weight.shape[0],
            lambda: f"{op}: bias must be 1-D of size N={weight.shape[0]} (weight.size(0)), got shape {list(bias.shape)}",
        )
        torch._check(bias.dtype == ref.dtype, lambda: f"{op}: bias dtype ({bias.dtype}) must match input dtype ({ref.dtype})")
        torch._check(
            bias.device == ref.device,
            lambda: f"{op}: bias is on {bias.device} but input is on {ref.device}; move both to one device",
        )


def _check_linear(op: str, input: Tensor, weight: Tensor, bias: Optional[Tensor]):
    _check_float(op, "input", input)
    torch._check(input.dim() >= 1, lambda: f"{op}: input must have at least 1 dimension [..., K], got a 0-d tensor")
    _check_layer(op, input, input.shape[-1], weight, bias)


def _out_shape(input: Tensor, n) -> tuple:
    return (*input.shape[:-1], n)


# ----------------------------------------------------------------- fake kernels
SAVE_POLICIES = ("auto", "mask", "output", "input", "recompute")


def _save_kind(op: str, name: str, alpha: Optional[float], save: str) -> str:
    """What backward keeps under policy ``save`` (csrc/save_policy.h: resolve_save):
    "nothing", "output", "input", "mask" or "recompute"; raises ValueError as the op.
    ``"auto"`` gives what it keeps for a small layer or on a non-CPU device; a big
    CPU layer whose activation has a mask keeps the mask (auto_mask_applies)."""
    if save not in SAVE_POLICIES:
        raise ValueError(f"{op}: unknown save policy '{save}'; expected one of: {', '.join(SAVE_POLICIES)}")
    spec, _ = _act(op, name, alpha)
    if spec.saves == "nothing":
        return "nothing"
    uses_y = _uses_output(name, alpha)
    if save == "auto":
        return "output" if uses_y else "input"
    if save == "mask" and not spec.mask:
        _no_mask(op, name)
    if save == "output" and not uses_y:
        raise ValueError(f"{op}: save='output' needs an activation whose backward reads its output, "
                         f"but {name}'s reads the pre-activation; use save='input' or save='recompute'")
    return save


@torch.library.register_fake("torch_act::linear_act")
def _linear_act_fake(input, weight, bias=None, activation="identity", alpha=None, save="auto"):
    _act("linear_act", activation, alpha)
    _save_kind("linear_act", activation, alpha, save)
    _check_linear("linear_act", input, weight, bias)
    return input.new_empty(_out_shape(input, weight.shape[0]))


def _mask_shape(shape) -> tuple:
    return (*shape[:-1], (shape[-1] + 7) // 8)


def _no_mask(op, name):
    with_mask = ", ".join(n for n, s in ACTIVATIONS.items() if s.mask)
    raise ValueError(f"{op}: save='mask' needs an activation whose derivative takes two values "
                     f"({with_mask}), but {name}'s does not; use save='recompute' (or "
                     "'input'/'output') for it")


def _check_mask_act(op, name, alpha):
    spec, _ = _act(op, name, alpha)
    if not spec.mask:
        _no_mask(op, name)


@torch.library.register_fake("torch_act::_act_mask")
def _act_mask_fake(saved, activation, alpha=None):
    op = "_act_mask"
    _check_mask_act(op, activation, alpha)
    _check_float(op, "saved", saved)
    torch._check(saved.dim() >= 1, lambda: f"{op}: saved must have at least 1 dimension [..., N], got a 0-d tensor")
    return saved.new_empty(_mask_shape(saved.shape), dtype=torch.uint8)


@torch.library.register_fake("torch_act::_mask_grad")
def _mask_grad_fake(grad_out, mask, activation, alpha=None):
    op = "_mask_grad"
    _check_mask_act(op, activation, alpha)
    _check_float(op, "grad_out", grad_out)
    torch._check(grad_out.dim() >= 1, lambda: f"{op}: grad_out must have at least 1 dimension [..., N], got a 0-d tensor")
    torch._check(mask.dtype == torch.uint8, lambda: f"{op}: mask must be uint8 (the bits _act_mask packs), got {mask.dtype}")
    torch._check(mask.device == grad_out.device,
                 lambda: f"{op}: mask must be on grad_out's device ({grad_out.device}), got {mask.device}")
    want = _mask_shape(grad_out.shape)
    torch._check(tuple(mask.shape) == want, lambda: f"{op}: mask must have shape {list(want)}, got {list(mask.shape)}")
    return torch.empty_like(grad_out)


@torch.library.register_fake("torch_act::_linear_act_fwd")
def _linear_act_fwd_fake(input, weight, bias, activation, alpha):
    _act("linear_act", activation, alpha)
    _check_linear("linear_act", input, weight, bias)
    out = input.new_empty(_out_shape(input, weight.shape[0]))
    saved = input.new_empty((0,)) if _uses_output(activation, alpha) else torch.empty_like(out)
    return out, saved


@torch.library.register_fake("torch_act::_linear_act_bwd")
def _linear_act_bwd_fake(grad_out, input, weight, saved, activation, alpha, output_mask):
    op = "_linear_act_bwd"
    torch._check(
        len(output_mask) == 3, lambda: f"{op}: output_mask must have 3 entries, got {len(output_mask)}"
    )
    spec, _ = _act(op, activation, alpha)
    _check_linear(op, input, weight, None)
    shape = _out_shape(input, weight.shape[0])
    _check_like(op, "grad_out", grad_out, shape, input)
    torch._check(saved.device == input.device,
                 lambda: f"{op}: saved must be on the input's device ({input.device}), got {saved.device}")
    if spec.saves != "nothing":
        _check_like(op, "saved", saved, shape, input)
    dx = input.new_empty(input.shape) if output_mask[0] else input.new_empty((0,))
    dw = weight.new_empty(weight.shape) if output_mask[1] else input.new_empty((0,))
    db = weight.new_empty((weight.shape[0],)) if output_mask[2] else input.new_empty((0,))
    return dx, dw, db


@torch.library.register_fake("torch_act::activation")
def _activation_fake(input, activation, alpha=None):
    spec, _ = _act("activation", activation, alpha)
    _check_float("activation", "input", input)
    if spec.rowwise:
        torch._check(
            input.dim() >= 1,
            lambda: f"activation: {activation} needs input with at least 1 dimension, got a 0-d tensor",
        )
    return input.new_empty(input.shape)


@torch.library.register_fake("torch_act::_activation_bwd")
def _activation_bwd_fake(grad_out, saved, activation, alpha):
    op = "_activation_bwd"
    spec, _ = _act(op, activation, alpha)
    _check_float(op, "grad_out", grad_out)
    # a meta `saved` beside a real grad_out would route a real call here: refuse it even when ignored
    torch._check(saved.device == grad_out.device,
                 lambda: f"{op}: saved must be on grad_out's device ({grad_out.device}), got {saved.device}")
    if spec.saves != "nothing":
        _check_like(op, "saved", saved, grad_out.shape, grad_out)
    return grad_out.new_empty(grad_out.shape)


@torch.library.register_fake("torch_act::_activation_deriv")
def _activation_deriv_fake(grad_out, saved, activation, alpha, order):
    op = "_activation_deriv"
    spec, _ = _act(op, activation, alpha)
    torch._check_value(order >= 1, lambda: f"{op}: order must be >= 1 (1: the first derivative), got {order}")
    if spec.rowwise:
        torch._check_value(order == 1, lambda: f"{op}: {activation} is a row activation: its kernels give "
                           f"the first derivative only (order 1), got order {order}")
    elif spec.max_order is not None and order > spec.max_order:
        raise NotImplementedError(f"torch_act: activation '{activation}' has derivatives up to order "
                                  f"{spec.max_order}, but order {order} was asked for")
    if order == 1:
        return _activation_bwd_fake(grad_out, saved, activation, alpha)
    _check_float(op, "grad_out", grad_out)
    _check_like(op, "saved", saved, grad_out.shape, grad_out)
    return grad_out.new_empty(grad_out.shape)


def _mlp_shapes(op, input, weights, biases, activations, alphas):
    L = len(weights)
    torch._check_value(L >= 1, lambda: f"{op}: needs at least one layer (weights is empty)")
    torch._check_value(
        len(biases) == L and len(activations) == L and len(alphas) == L,
        lambda: f"{op}: weights, biases, activations and alphas must have one entry per layer; got "
        f"{L}, {len(biases)}, {len(activations)}, {len(alphas)}",
    )
    k = None
    for i, (w, b, a, al) in enumerate(zip(weights, biases, activations, alphas)):
        where = f"{op} layer {i}"
        _act(where, a, al)
        if i == 0:
            _check_linear(where, input, w, b)
        else:
            _check_layer(where, input, k, w, b)
        k = w.shape[0] if w.dim() == 2 else None
    return [_out_shape(input, w.shape[0]) for w in weights]


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


def _check_mlp_saved(op, grad_out, input, saved, shapes, activations, alphas):
    """What _mlp_fwd returned (saved: y_j, and z_j where layer j's backward
    reads it) and grad_out, against the layers' output shapes."""
    L = len(shapes)
    torch._check_value(
        len(saved) == 2 * L, lambda: f"{op}: saved must hold 2 tensors per layer ({2 * L}), got {len(saved)}"
    )
    for j, (shape, a, al) in enumerate(zip(shapes, activations, alphas)):
        _check_like(op, f"saved[{2 * j}] (layer {j}'s output)", saved[2 * j], shape, input)
        if ACTIVATIONS[a].saves != "nothing" and _needs_z(a, al):
            _check_like(op, f"saved[{2 * j + 1}] (layer {j}'s pre-activation)", saved[2 * j + 1], shape, input)
    _check_like(op, "grad_out", grad_out, shapes[-1], input)


@torch.library.register_fake("torch_act::_mlp_bwd")
def _mlp_bwd_fake(grad_out, input, weights, biases, saved, activations, alphas, input_grad):
    op = "_mlp_bwd"
    shapes = _mlp_shapes(op, input, weights, biases, activations, alphas)
    _check_mlp_saved(op, grad_out, input, saved, shapes, activations, alphas)
    out = [input.new_empty(input.shape) if input_grad else input.new_empty((0,))]
    out += [w.new_empty(w.shape) for w in weights]
    out += [w.new_empty((w.shape[0],)) if b is not None else input.new_empty((0,)) for w, b in zip(weights, biases)]
    return out


def _flat_shapes(op, input, params, sizes, bias, activations, alphas):
    """mlp_flat's checks (csrc/ops.cpp: flat_layout, then each layer's
    activation); returns each layer's output shape."""
    sizes = list(sizes)
    L = len(sizes) - 1
    torch._check_value(L >= 1, lambda: f"{op}: sizes must list the features of every layer boundary "
                       f"[in, hidden..., out] (at least 2 entries), got {sizes}")
    torch._check_value(
        len(bias) == L and len(activations) == L and len(alphas) == L,
        lambda: f"{op}: sizes {sizes} describes {L} layer(s), so bias, activations and alphas need {L} "
        f"entries each; got {len(bias)}, {len(activations)}, {len(alphas)}",
    )
    _check_float(op, "input", input)
    torch._check(input.dim() >= 1, lambda: f"{op}: input must have at least 1 dimension [..., K], got a 0-d tensor")
    torch._check(input.shape[-1] == sizes[0],
                 lambda: f"{op}: input's last dimension ({input.shape[-1]}) must equal sizes[0]={sizes[0]}")
    torch._check(params.dim() == 1, lambda: f"{op}: params must be 1-D (every layer's weight and bias, flat), "
                 f"got {params.dim()}-D with shape {list(params.shape)}")
    torch._check(params.dtype == input.dtype,
                 lambda: f"{op}: params dtype ({params.dtype}) must match input dtype ({input.dtype})")
    torch._check(params.device == input.device,
                 lambda: f"{op}: params is on {params.device} but input is on {input.device}; move both to one device")
    torch._check_value(all(s >= 0 for s in sizes), lambda: f"{op}: sizes must be >= 0, got {sizes}")
    total = flat_numel(sizes, bias)
    torch._check(params.shape[0] == total, lambda: f"{op}: params must hold {total} elements for sizes {sizes} and "
                 f"bias {list(bias)} (each layer's weight [out, in] then its bias), got {params.shape[0]}")
    for i, (a, al) in enumerate(zip(activations, alphas)):
        _act(f"{op} layer {i}", a, al)
    return [_out_shape(input, n) for n in sizes[1:]]


def _flat_layers(sizes: Sequence[int], bias) -> list:
    """mlp_flat's layout (csrc/ops.h: flat_layout): per layer (n, k, weight
    offset, bias offset or -1); ``bias`` a bool or one per layer."""
    sizes = list(sizes)
    bias = [bias] * (len(sizes) - 1) if isinstance(bias, bool) else list(bias)
    layers, off = [], 0
    for k, n, b in zip(sizes, sizes[1:], bias):
        layers.append((n, k, off, off + n * k if b else -1))
        off += n * k + (n if b else 0)
    return layers


def flat_numel(sizes: Sequence[int], bias) -> int:
    """How many elements mlp_flat's ``params`` holds for ``sizes`` and ``bias``
    (a bool, or one per layer)."""
    return sum(n * k + (n if b_off >= 0 else 0) for n, k, _, b_off in _flat_layers(sizes, bias))


@torch.library.register_fake("torch_act::mlp_flat")
def _mlp_flat_fake(input, params, sizes, bias, activations, alphas):
    shapes = _flat_shapes("mlp_flat", input, params, sizes, bias, activations, alphas)
    return input.new_empty(shapes[-1])


@torch.library.register_fake("torch_act::_mlp_flat_bwd")
def _mlp_flat_bwd_fake(grad_out, input, params, sizes, bias, saved, activations, alphas, input_grad):
    op = "_mlp_flat_bwd"
    shapes = _flat_shapes(op, input, params, sizes, bias, activations, alphas)
    _check_mlp_saved(op, grad_out, input, saved, shapes, activations, alphas)
    dinput = input.new_empty(input.shape) if input_grad else input.new_empty((0,))
    return dinput, params.new_empty(params.shape)


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
    torch._check(len(output_mask) == 5, lambda: f"_linear_glu_bwd: output_mask must have 5 entries, got {len(output_mask)}")
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
    save: str = "auto",
) -> Tensor:
    """``act(input @ weight.T + bias)`` in one fused op.

    input ``[..., K]``, weight ``[N, K]`` (the ``nn.Linear`` layout), bias ``[N]``
    -> ``[..., N]``.  ``alpha`` is the activation's parameter (leaky_relu slope,
    elu alpha, softplus beta); ``None`` means its default.  ``save`` chooses what
    backward keeps (docs/memory.md): ``"auto"`` (default: the least memory at
    no measurable extra time -- the mask for a big enough CPU layer whose
    activation has one, else what the derivative reads), ``"mask"`` (one bit per element, for relu, leaky_relu,
    relu6, hardsigmoid), ``"output"``, ``"input"`` or ``"recompute"`` (one more
    GEMM in backward, nothing but the GEMM's operands kept).
    """
    return _ops.linear_act(input, weight, bias, activation, alpha, save)


def activation(input: Tensor, activation: str, alpha: Optional[float] = None) -> Tensor:
    """The activation alone, elementwise (softmax / log_softmax over the last dim)."""
    return _ops.activation(input, activation, alpha)


def mlp(
    input: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Optional[Tensor]],
    activations: Sequence[str],
    alphas: Optional[Sequence[Optional[float]]] = None,
    save: str = "auto",
) -> Tensor:
    """A whole stack of linear+activation layers as one op (one autograd node).

    ``save="auto"`` keeps each hidden output once (it is the next layer's input)
    and z where a derivative needs it; another policy (docs/memory.md) runs the
    layers as ``linear_act`` ops with that policy, one autograd node each.
    """
    if alphas is None:
        alphas = [None] * len(weights)
    if save == "auto":
        return _ops.mlp(input, list(weights), list(biases), list(activations), list(alphas))
    for i, (a, al) in enumerate(zip(activations, alphas)):
        _save_kind(f"mlp layer {i}", a, al, save)
    h = input
    for w, b, a, al in zip(weights, biases, activations, alphas):
        h = _ops.linear_act(h, w, b, a, al, save)
    return h


def mlp_flat(
    input: Tensor,
    params: Tensor,
    sizes: Sequence[int],
    activations,
    bias=True,
    alphas: Optional[Sequence[Optional[float]]] = None,
) -> Tensor:
    """``mlp`` with every layer's weight and bias in ONE 1-D tensor ``params``.

    The layout, layer after layer: weight i ``[sizes[i+1], sizes[i]]``
    (row-major, ``nn.Linear``'s) then, when ``bias[i]``, bias i
    ``[sizes[i+1]]`` (``flat_numel`` counts it).  ``activations``: one name per
    layer, or one for all; ``bias``: a bool or one per layer.  A training step
    then pays for one parameter's autograd bookkeeping instead of 2L (one
    gradient buffer, one accumulation); ``torch_act.nn.MLP(..., flat=True)``
    builds on it and keeps nn.Linear's state_dict keys.
    """
    sizes = [int(s) for s in sizes]
    L = len(sizes) - 1
    if isinstance(activations, str):
        activations = [activations] * L
    bias = [bias] * L if isinstance(bias, bool) else list(bias)
    if not all(isinstance(b, bool) for b in bias):
        raise TypeError(f"mlp_flat: bias must be a bool or one bool per layer, got {bias}")
    alphas = [None] * L if alphas is None else list(alphas)
    return _ops.mlp_flat(input, params, sizes, bias, list(activations), alphas)


GLU_SAVE_POLICIES = ("auto", "input", "recompute")


def _check_glu_save(op: str, save: str):
    if save not in SAVE_POLICIES:
        raise ValueError(f"{op}: unknown save policy '{save}'; expected one of: {', '.join(GLU_SAVE_POLICIES)}")
    if save not in GLU_SAVE_POLICIES:
        raise ValueError(f"{op}: save='{save}' cannot serve a gated unit (its backward needs act(z_gate) and "
                         "z_up, not one derivative per element); use save='input' (keep z, the default) or "
                         "save='recompute'")


def _glu(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha, save):
    _check_glu_save("linear_glu", save)
    if save == "recompute" and torch.is_grad_enabled():
        # keep only the GEMM's operands: the fused forward runs again in backward
        # (torch.utils.checkpoint), so z [..., 2N] is never kept
        from torch.utils.checkpoint import checkpoint
        return checkpoint(_ops.linear_glu, input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha,
                          use_reentrant=False)
    return _ops.linear_glu(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha)


def linear_glu(
    input: Tensor,
    gate_weight: Tensor,
    up_weight: Tensor,
    gate_bias: Optional[Tensor] = None,
    up_bias: Optional[Tensor] = None,
    activation: str = "silu",
    alpha: Optional[float] = None,
    save: str = "auto",
) -> Tensor:
    """A gated linear unit: ``act(input @ gate_weight.T + gate_bias) * (input @ up_weight.T + up_bias)``.

    input ``[..., K]``, both weights ``[N, K]`` (the ``nn.Linear`` layout), biases
    ``[N]`` -> ``[..., N]``.  ``activation`` is any registered elementwise
    activation (silu: SwiGLU, gelu: GeGLU, relu: ReGLU, or a user-defined one);
    ``alpha`` its parameter (``None``: its default).  ``save``: ``"auto"`` /
    ``"input"`` keep z = [z_gate | z_up] for backward, ``"recompute"`` keeps
    only the GEMM's operands and runs the fused forward again in backward.
    """
    return _glu(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha, save)
