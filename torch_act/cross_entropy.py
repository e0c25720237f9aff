"""``torch_act.linear_cross_entropy``: fused linear + cross-entropy that never
materialises the logits (csrc/cross_entropy.h, docs/cross_entropy.md), and the
fake kernels of its three operators for ``torch.compile`` / ``torch.export``.
"""
from typing import Optional

import torch
from torch import Tensor

_ops = torch.ops.torch_act
_REDUCTIONS = ("none", "mean", "sum")
_OP = "linear_cross_entropy"


def _check(op, input, linear_weight, target, linear_bias, weight, reduction, label_smoothing):
    """The checks of csrc/cross_entropy.cpp (check_ce_args) that depend on
    metadata only; returns (M, K, V)."""
    torch._check(reduction in _REDUCTIONS,
                 lambda: f"{op}: reduction must be 'none', 'mean' or 'sum', got '{reduction}'")
    torch._check(not (label_smoothing > 0.0 and label_smoothing > 1.0),
                 lambda: f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    torch._check(input.dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16),
                 lambda: f"{op}: input must be float32, float64, bfloat16 or float16, got {input.dtype}")
    torch._check(input.dim() in (1, 2), lambda: f"{op}: input must be 1-D [K] or 2-D [N, K], got {input.dim()}-D")
    torch._check(linear_weight.dim() == 2, lambda: f"{op}: linear_weight must be 2-D [C, K]")
    torch._check(linear_weight.shape[1] == input.shape[-1],
                 lambda: f"{op}: linear_weight.size(1) must equal input's last dimension")
    torch._check(linear_weight.shape[0] >= 1, lambda: f"{op}: linear_weight must have at least one class")
    torch._check(linear_weight.dtype == input.dtype, lambda: f"{op}: linear_weight dtype must match input dtype")
    torch._check(linear_weight.device == input.device,
                 lambda: f"{op}: linear_weight is on {linear_weight.device} but input is on {input.device}")
    V = linear_weight.shape[0]
    if linear_bias is not None:
        torch._check(linear_bias.dim() == 1 and linear_bias.shape[0] == V,
                     lambda: f"{op}: linear_bias must be 1-D of size C")
        torch._check(linear_bias.dtype == input.dtype, lambda: f"{op}: linear_bias dtype must match input dtype")
        torch._check(linear_bias.device == input.device, lambda: f"{op}: linear_bias must be on input's device")
    if weight is not None:
        torch._check(weight.dim() == 1 and weight.shape[0] == V,
                     lambda: f"{op}: weight (the class weights) must be 1-D of size C")
        torch._check(weight.dtype.is_floating_point, lambda: f"{op}: weight must be floating-point")
        torch._check(weight.device == input.device, lambda: f"{op}: weight must be on input's device")
    torch._check(target.dtype in (torch.int64, torch.uint8),
                 lambda: f"{op}: target must hold class indices as int64 (or uint8), got {target.dtype}")
    M = input.shape[0] if input.dim() == 2 else 1
    if input.dim() == 2:
        torch._check(target.dim() == 1 and target.shape[0] == M,
                     lambda: f"{op}: target must be 1-D of size N (input.size(0))")
    else:
        torch._check(target.dim() == 0, lambda: f"{op}: target must be 0-d for 1-D input")
    torch._check(target.device == input.device, lambda: f"{op}: target must be on input's device")
    return M, input.shape[-1], V


def _loss_fake(input, target, reduction):
    return input.new_empty(target.shape if reduction == "none" else ())


# ----------------------------------------------------------------- fake kernels
@torch.library.register_fake("torch_act::linear_cross_entropy")
def _lce_fake(input, linear_weight, target, linear_bias=None, weight=None, reduction="mean",
              ignore_index=-100, label_smoothing=0.0):
    _check(_OP, input, linear_weight, target, linear_bias, weight, reduction, label_smoothing)
    return _loss_fake(input, target, reduction)


@torch.library.register_fake("torch_act::_linear_cross_entropy_fwd")
def _lce_fwd_fake(input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                  label_smoothing, output_mask):
    M, K, V = _check(_OP, input, linear_weight, target, linear_bias, weight, reduction, label_smoothing)
    grads = reduction != "none"
    empty = input.new_empty((0,))
    dx = input.new_empty(input.shape) if grads and output_mask[0] else empty
    dw = input.new_empty((V, K)) if grads and output_mask[1] else input.new_empty((0,))
    db = input.new_empty((V,)) if grads and output_mask[2] and linear_bias is not None else input.new_empty((0,))
    return _loss_fake(input, target, reduction), dx, dw, db


@torch.library.register_fake("torch_act::_linear_cross_entropy_bwd")
def _lce_bwd_fake(grad_loss, input, linear_weight, target, linear_bias, weight, reduction,
                  ignore_index, label_smoothing, output_mask):
    M, K, V = _check("_linear_cross_entropy_bwd", input, linear_weight, target, linear_bias, weight,
                     reduction, label_smoothing)
    dx = input.new_empty(input.shape) if output_mask[0] else input.new_empty((0,))
    dw = input.new_empty((V, K)) if output_mask[1] else input.new_empty((0,))
    db = input.new_empty((V,)) if output_mask[2] and linear_bias is not None else input.new_empty((0,))
    return dx, dw, db


# ----------------------------------------------------------------- wrapper
def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Optional[Tensor] = None,
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
    ignore_index: Optional[int] = None,
    label_smoothing: float = 0.0,
    options=None,
) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``,
    with the arguments and results of ``torch.nn.functional.linear_cross_entropy``.

    Class-index targets with a 2-D ``linear_weight`` (the language-model head:
    input ``[N, K]`` or ``[K]``, linear_weight ``[C, K]``, target ``[N]`` or 0-d
    int64, linear_bias ``[C]``) run the fused op, which never materialises the
    ``[N, C]`` logits: extra memory is one block of logits rows
    (``TORCH_ACT_LCE_BLOCK_BYTES``, default 32 MiB).  ``weight`` ``[C]`` class
    weights, reduction ``'mean'`` | ``'sum'`` | ``'none'``, ``ignore_index``
    (``None`` means -100, as in torch) and ``label_smoothing`` in [0, 1] are
    fused too.

    The two other forms torch accepts give torch's results through
    ``linear_act`` and ``F.cross_entropy``, with the logits materialised (as
    torch's own chunked path does for the first): a K-dimensional loss
    (linear_weight ``[C, d_1, ..., d_k, K]``, linear_bias ``[C, d_1, ..., d_k]``,
    target ``[N, d_1, ..., d_k]``) and class-probability targets (a float target
    of the logits' shape).  ``options`` (torch's ``LinearCrossEntropyOptions``,
    its chunking) is accepted and has no effect: the fused path always works in
    blocks.
    """
    del options  # torch's chunking knobs; the fused op chooses its own blocks
    if linear_weight.dim() > 2 or (linear_weight.dim() == 2 and input.dim() in (1, 2)
                                   and tuple(target.shape) == (*input.shape[:-1], linear_weight.shape[0])):
        return _linear_cross_entropy_reference(input, linear_weight, target, linear_bias, weight, reduction,
                                               ignore_index, label_smoothing)
    if ignore_index is None:
        ignore_index = -100
    # positionally: torch.func.vmap batches positional tensors only
    return _ops.linear_cross_entropy(input, linear_weight, target, linear_bias, weight, reduction,
                                     ignore_index, float(label_smoothing))


def _linear_cross_entropy_reference(input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                                    label_smoothing):
    """The forms the fused op does not take (K-dimensional loss, class
    probabilities): torch's checks, then the logits from ``linear_act`` and
    torch's ``cross_entropy`` on them."""
    from .ops import linear_act  # ops imports this module's fakes; import late

    # plain raises, not torch._check: torch.compile traces this function
    op = _OP
    if input.dim() not in (1, 2):
        raise RuntimeError(f"{op}: input must be 1-D [K] or 2-D [N, K], got {input.dim()}-D")
    if input.shape[-1] != linear_weight.shape[-1]:
        raise RuntimeError(f"{op}: linear_weight's last dimension ({linear_weight.shape[-1]}) must equal "
                           f"input's last dimension ({input.shape[-1]})")
    classes, extra = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (classes, *extra):
        raise RuntimeError(f"{op}: linear_bias must have shape {(classes, *extra)} (linear_weight's without "
                           f"its last dimension), got {tuple(linear_bias.shape)}")
    if extra and input.dim() != 2:
        raise RuntimeError(f"{op}: a K-dimensional loss (linear_weight of shape {tuple(linear_weight.shape)}) "
                           f"needs batched input [N, {input.shape[-1]}], got shape {tuple(input.shape)}")
    logits_shape = (*input.shape[:-1], classes, *extra)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError(f"{op}: ignore_index cannot be given when target holds class probabilities")
    logits = linear_act(input, linear_weight.reshape(-1, input.shape[-1]),
                        None if linear_bias is None else linear_bias.reshape(-1), "identity")
    return torch.nn.functional.cross_entropy(logits.reshape(logits_shape), target, weight=weight,
                                             reduction=reduction,
                                             ignore_index=-100 if ignore_index is None else ignore_index,
                                             label_smoothing=label_smoothing)
