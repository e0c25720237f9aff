"""Batching rules for ``torch.func.vmap`` over every torch_act op (no per-sample fallback loop).

Registered with ``torch.library.register_vmap`` at import.  The ops already take
inputs of any rank ``[..., K]``, so

* a batched input (activations, per-sample data) moves its batch dim to the
  front and folds into the rows: one op call for the whole batch;
* a batched weight (model ensembles from ``torch.func.stack_module_state``,
  per-sample weights) with an unbatched input runs as ONE fused GEMM over the
  stacked weights ``[B*N, K]`` (the activation in its epilogue; row
  activations over each model's own N columns afterwards); with a batched
  input too it is one batched GEMM (``torch.matmul`` over ``[B, M, K]``) and
  the activation kernel;
* the backward ops of a batched gradient with unbatched weights (per-sample
  gradients, ``vmap(grad(loss), in_dims=(None, 0, 0))``) give per-sample
  weight and bias gradients: dz from our activation-derivative kernel once
  for the batch, then batched GEMMs.

Each rule computes with the same ops underneath, so the rules compose with
``grad`` / ``jvp`` levels above and below them (docs/autograd.md).
"""

from typing import List, Optional

import torch
from torch import Tensor

from . import ACTIVATIONS

__all__: List[str] = []

_ops = torch.ops.torch_act


def _front(t: Optional[Tensor], d: Optional[int], B: int) -> Optional[Tensor]:
    """t with its batch dim first, or t expanded to B when unbatched."""
    if t is None:
        return None
    if d is None:
        return t.expand(B, *t.shape)
    return t.movedim(d, 0)


def _moved(t: Optional[Tensor], d: Optional[int]) -> Optional[Tensor]:
    return t if t is None or d is None else t.movedim(d, 0)


def _uses_output(name: str, alpha) -> bool:
    spec = ACTIVATIONS[name]
    a = spec.default_alpha if alpha is None else alpha
    return spec.saves in ("output", "nothing") or (spec.saves == "output_if_alpha_nonneg" and a >= 0)


def _empty_like_op(ref: Tensor) -> Tensor:
    return ref.new_empty((0,))


# ---------------------------------------------------------------- activations
@torch.library.register_vmap("torch_act::activation")
def _activation_vmap(info, in_dims, input, activation, alpha=None):
    # the batch dim first keeps the last (feature) dim last for row activations
    return _ops.activation(input.movedim(in_dims[0], 0), activation, alpha), 0


def _pair_front(info, dims, g, s, activation):
    B = info.batch_size
    g = _front(g, dims[0], B)
    if ACTIVATIONS[activation].saves == "nothing" and s.numel() == 0 and dims[1] is None:
        return g, s  # the identity ignores `saved`
    return g, _front(s, dims[1], B)


@torch.library.register_vmap("torch_act::_activation_bwd")
def _activation_bwd_vmap(info, in_dims, grad_out, saved, activation, alpha):
    g, s = _pair_front(info, in_dims, grad_out, saved, activation)
    return _ops._activation_bwd(g, s, activation, alpha), 0


@torch.library.register_vmap("torch_act::_activation_deriv")
def _activation_deriv_vmap(info, in_dims, grad_out, saved, activation, alpha, order):
    g, s = _pair_front(info, in_dims, grad_out, saved, activation)
    return _ops._activation_deriv(g, s, activation, alpha, order), 0


# ---------------------------------------------------------------- linear_act
def _layer(info, x, xd, w, wd, b, bd, activation, alpha, want_pre):
    """One batched layer: (out, pre) with the batch dim first (pre may be None)."""
    B = info.batch_size
    spec = ACTIVATIONS[activation]
    needs_z = want_pre and spec.saves != "nothing" and not _uses_output(activation, alpha)
    if wd is None and bd is None:
        # only the input is batched: its batch dim folds into the rows
        out, pre = _ops._linear_act_fwd(_front(x, xd, B), w, b, activation, alpha)
        return out, (pre if needs_z else None)
    w = _front(w, wd, B)  # [B, N, K]
    b = _front(b, bd, B) if b is not None else None  # [B, N]
    n, k = w.shape[1], w.shape[2]
    if xd is None and not spec.rowwise and not needs_z:
        # an ensemble on shared data: one fused GEMM over the stacked weights
        flat_b = b.reshape(B * n) if b is not None else None
        y = _ops.linear_act(x, w.reshape(B * n, k), flat_b, activation, alpha)  # [..., B*N]
        y = y.reshape(*x.shape[:-1], B, n).movedim(-2, 0)
        return y, None
    x = _front(x, xd, B)  # [B, ..., K]
    lead = x.shape[1:-1]
    z = torch.matmul(x.reshape(B, -1, k), w.transpose(1, 2))  # [B, M, N]
    if b is not None:
        z = z + b.unsqueeze(1)
    z = z.reshape(B, *lead, n)
    y = z if spec.saves == "nothing" else _ops.activation(z, activation, alpha)
    return y, (z if needs_z else None)


@torch.library.register_vmap("torch_act::linear_act")
def _linear_act_vmap(info, in_dims, input, weight, bias=None, activation="identity", alpha=None):
    xd, wd, bd = in_dims[0], in_dims[1], in_dims[2] if bias is not None else None
    if xd is None and wd is None and bd is None:
        return _ops.linear_act(input, weight, bias, activation, alpha), None
    if wd is None and bd is None:
        return _ops.linear_act(input.movedim(xd, 0), weight, bias, activation, alpha), 0
    y, _ = _layer(info, input, xd, weight, wd, bias, bd, activation, alpha, want_pre=False)
    return y, 0


@torch.library.register_vmap("torch_act::_linear_act_fwd")
def _linear_act_fwd_vmap(info, in_dims, input, weight, bias, activation, alpha):
    bd = in_dims[2] if bias is not None else None
    y, pre = _layer(info, input, in_dims[0], weight, in_dims[1], bias, bd, activation, alpha, want_pre=True)
    if pre is None:
        return (y, _empty_like_op(y)), (0, None)
    return (y, pre), (0, 0)


def _layer_bwd(info, g, gd, x, xd, w, wd, s, sd, activation, alpha, mask):
    """(dx, dw, db) of one layer, batch dim first; None where not wanted."""
    B = info.batch_size
    spec = ACTIVATIONS[activation]
    if wd is None and not mask[1] and not mask[2]:
        # only dx is wanted and the weight is shared: rows fold, one fused call
        g, s2 = _pair_front(info, (gd, sd), g, s, activation)
        x = _front(x, xd, B)
        dx, _, _ = _ops._linear_act_bwd(g, x, w, s2, activation, alpha, [True, False, False])
        return dx, None, None
    g, s2 = _pair_front(info, (gd, sd), g, s, activation)
    dz = g if spec.saves == "nothing" else _ops._activation_bwd(g, s2, activation, alpha)
    n = dz.shape[-1]
    x = _front(x, xd, B)
    k = x.shape[-1]
    dz3 = dz.reshape(B, -1, n)
    dx = dw = db = None
    if mask[0]:
        wf = _front(w, wd, B) if wd is not None else w
        dx = torch.matmul(dz3, wf).reshape(x.shape)
    if mask[1]:
        dw = torch.matmul(dz3.transpose(1, 2), x.reshape(B, -1, k))
    if mask[2]:
        db = dz3.sum(1)
    return dx, dw, db


@torch.library.register_vmap("torch_act::_linear_act_bwd")
def _linear_act_bwd_vmap(info, in_dims, grad_out, input, weight, saved, activation, alpha, output_mask):
    gd, xd, wd, sd = in_dims[:4]
    dx, dw, db = _layer_bwd(info, grad_out, gd, input, xd, weight, wd, saved, sd, activation, alpha, output_mask)
    outs, dims = [], []
    for t in (dx, dw, db):
        outs.append(t if t is not None else grad_out.new_empty((0,)))
        dims.append(0 if t is not None else None)
    return tuple(outs), tuple(dims)


# ---------------------------------------------------------------- mlp
@torch.library.register_vmap("torch_act::mlp")
def _mlp_vmap(info, in_dims, input, weights, biases, activations, alphas):
    xd, wds, bds = in_dims[0], in_dims[1], in_dims[2]
    if all(d is None for d in wds) and all(d is None for d in bds):
        return _ops.mlp(input.movedim(xd, 0), weights, biases, activations, alphas), 0
    h, hd = input, xd
    for w, wd, b, bd, act, al in zip(weights, wds, biases, bds, activations, alphas):
        h, _ = _layer(info, h, hd, w, wd, b, bd, act, al, want_pre=False)
        hd = 0
    return h, 0


@torch.library.register_vmap("torch_act::_mlp_fwd")
def _mlp_fwd_vmap(info, in_dims, input, weights, biases, activations, alphas):
    xd, wds, bds = in_dims[0], in_dims[1], in_dims[2]
    outs, dims = [], []
    if all(d is None for d in wds) and all(d is None for d in bds):
        ys = _ops._mlp_fwd(input.movedim(xd, 0), weights, biases, activations, alphas)
        return ys, [0 if y.numel() or i % 2 == 0 else None for i, y in enumerate(ys)]
    h, hd = input, xd
    for w, wd, b, bd, act, al in zip(weights, wds, biases, bds, activations, alphas):
        h, pre = _layer(info, h, hd, w, wd, b, bd, act, al, want_pre=True)
        hd = 0
        outs += [h, pre if pre is not None else _empty_like_op(h)]
        dims += [0, 0 if pre is not None else None]
    return outs, dims


@torch.library.register_vmap("torch_act::_mlp_bwd")
def _mlp_bwd_vmap(info, in_dims, grad_out, input, weights, biases, saved, activations, alphas, input_grad):
    gd, xd, wds, bds, sds = in_dims[:5]
    L = len(weights)
    dws: list = [None] * L
    dbs: list = [None] * L
    g, g_d = grad_out, gd
    dinput = None
    for j in reversed(range(L)):
        x, x_d = (input, xd) if j == 0 else (saved[2 * (j - 1)], sds[2 * (j - 1)])
        act, al = activations[j], alphas[j]
        uses_y = _uses_output(act, al)
        s, s_d = (saved[2 * j], sds[2 * j]) if uses_y else (saved[2 * j + 1], sds[2 * j + 1])
        want_dx = j > 0 or input_grad
        dx, dw, db = _layer_bwd(info, g, g_d, x, x_d, weights[j], wds[j], s, s_d, act, al,
                                [want_dx, True, biases[j] is not None])
        dws[j], dbs[j] = dw, db
        if j == 0:
            dinput = dx
        g, g_d = dx, 0
    empty = grad_out.new_empty((0,))
    outs = [dinput if dinput is not None else empty] + dws + [d if d is not None else empty for d in dbs]
    dims = [0 if dinput is not None else None] + [0] * L + [0 if d is not None else None for d in dbs]
    return outs, dims
