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

* ``linear_glu`` follows the same rules (an ensemble on shared data is one
  fused GLU over both stacked weights); ``linear_cross_entropy`` folds a
  batched input and target into its token rows and reduces per sample, and
  runs its formula as batched ATen ops over materialised logits for batched
  weights or per-sample weight gradients.

* ``mlp_flat`` and its backward slice the flat parameters into the layers'
  weights and biases (views, batched or not) and run ``mlp`` / ``_mlp_bwd``'s
  rules under an inner ``vmap``.

Each rule computes with the same ops underneath, so the rules compose with
``grad`` / ``jvp`` levels above and below them (docs/autograd.md).
"""

from typing import List, Optional

import torch
from torch import Tensor

from . import ACTIVATIONS
from .ops import _flat_layers, _save_kind

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
def _linear_act_vmap(info, in_dims, input, weight, bias=None, activation="identity", alpha=None, save="auto"):
    # (below vmap no graph is recorded: `save` is checked, and has nothing to keep)
    xd, wd, bd = in_dims[0], in_dims[1], in_dims[2] if bias is not None else None
    if xd is None and wd is None and bd is None:
        return _ops.linear_act(input, weight, bias, activation, alpha, save), None
    if wd is None and bd is None:
        return _ops.linear_act(input.movedim(xd, 0), weight, bias, activation, alpha, save), 0
    _save_kind("linear_act", activation, alpha, save)
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


# ---------------------------------------------------------------- save="mask"
@torch.library.register_vmap("torch_act::_act_mask")
def _act_mask_vmap(info, in_dims, saved, activation, alpha=None):
    # bits pack the last (feature) dim: the batch dim goes first
    return _ops._act_mask(saved.movedim(in_dims[0], 0), activation, alpha), 0


@torch.library.register_vmap("torch_act::_mask_grad")
def _mask_grad_vmap(info, in_dims, grad_out, mask, activation, alpha=None):
    B = info.batch_size
    return _ops._mask_grad(_front(grad_out, in_dims[0], B), _front(mask, in_dims[1], B), activation, alpha), 0


# ---------------------------------------------------------------- mlp
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


# plain functions too: mlp_flat's rules call them
torch.library.register_vmap("torch_act::mlp", _mlp_vmap)
torch.library.register_vmap("torch_act::_mlp_bwd", _mlp_bwd_vmap)


# ---------------------------------------------------------------- linear_glu
def _glu_weights(info, wg, wgd, wu, wud, bg, bgd, bu, bud):
    """Both weights [B, N, K] and both biases [B, N] (or None), batch dim first."""
    B = info.batch_size
    return (_front(wg, wgd, B), _front(wu, wud, B),
            _front(bg, bgd, B) if bg is not None else None, _front(bu, bud, B) if bu is not None else None)


def _glu_batched(info, x, xd, wg, wu, bg, bu, activation, alpha):
    """(out, z) of a GLU with batched weights: batched GEMMs, then the gate kernel."""
    B = info.batch_size
    x = _front(x, xd, B)
    n, k = wg.shape[1], wg.shape[2]
    x3 = x.reshape(B, -1, k)
    zg = torch.matmul(x3, wg.transpose(1, 2))
    zu = torch.matmul(x3, wu.transpose(1, 2))
    if bg is not None:
        zg = zg + bg.unsqueeze(1)
    if bu is not None:
        zu = zu + bu.unsqueeze(1)
    h = zg if ACTIVATIONS[activation].saves == "nothing" else _ops.activation(zg, activation, alpha)
    shape = (B, *x.shape[1:-1])
    return (h * zu).reshape(*shape, n), torch.cat([zg, zu], -1).reshape(*shape, 2 * n)


def _glu_dims(in_dims, gate_bias, up_bias):
    xd, wgd, wud = in_dims[:3]
    bgd = in_dims[3] if gate_bias is not None else None
    bud = in_dims[4] if up_bias is not None else None
    return xd, wgd, wud, bgd, bud


@torch.library.register_vmap("torch_act::linear_glu")
def _linear_glu_vmap(info, in_dims, input, gate_weight, up_weight, gate_bias=None, up_bias=None,
                     activation="silu", alpha=None):
    xd, wgd, wud, bgd, bud = _glu_dims(in_dims, gate_bias, up_bias)
    if wgd is None and wud is None and bgd is None and bud is None:
        return _ops.linear_glu(input.movedim(xd, 0), gate_weight, up_weight, gate_bias, up_bias,
                               activation, alpha), 0
    B = info.batch_size
    wg, wu, bg, bu = _glu_weights(info, gate_weight, wgd, up_weight, wud, gate_bias, bgd, up_bias, bud)
    n, k = wg.shape[1], wg.shape[2]
    if xd is None:
        # an ensemble on shared data: ONE fused GLU over the stacked weights
        y = _ops.linear_glu(input, wg.reshape(B * n, k), wu.reshape(B * n, k),
                            bg.reshape(B * n) if bg is not None else None,
                            bu.reshape(B * n) if bu is not None else None, activation, alpha)
        return y.reshape(*input.shape[:-1], B, n).movedim(-2, 0), 0
    return _glu_batched(info, input, xd, wg, wu, bg, bu, activation, alpha)[0], 0


@torch.library.register_vmap("torch_act::_linear_glu_fwd")
def _linear_glu_fwd_vmap(info, in_dims, input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha):
    xd, wgd, wud, bgd, bud = _glu_dims(in_dims, gate_bias, up_bias)
    if wgd is None and wud is None and bgd is None and bud is None:
        out = _ops._linear_glu_fwd(_front(input, xd, info.batch_size), gate_weight, up_weight, gate_bias,
                                   up_bias, activation, alpha)
        return out, (0, 0)
    wg, wu, bg, bu = _glu_weights(info, gate_weight, wgd, up_weight, wud, gate_bias, bgd, up_bias, bud)
    return _glu_batched(info, input, xd, wg, wu, bg, bu, activation, alpha), (0, 0)


@torch.library.register_vmap("torch_act::_linear_glu_bwd")
def _linear_glu_bwd_vmap(info, in_dims, grad_out, input, gate_weight, up_weight, saved, activation, alpha,
                         output_mask):
    gd, xd, wgd, wud, sd = in_dims[:5]
    B = info.batch_size
    g, x, s = _front(grad_out, gd, B), _front(input, xd, B), _front(saved, sd, B)
    if wgd is None and wud is None and not any(output_mask[1:]):
        # only dx and shared weights: the rows fold, one fused call
        dx = _ops._linear_glu_bwd(g, x, gate_weight, up_weight, s, activation, alpha,
                                  [True, False, False, False, False])[0]
        return (dx,) + (grad_out.new_empty((0,)),) * 4, (0, None, None, None, None)
    # per-sample weight gradients or batched weights: d_gate and d_up for the
    # whole batch by our kernels, then batched GEMMs
    n, k = gate_weight.shape[-2], gate_weight.shape[-1]
    zg, zu = s[..., :n], s[..., n:]
    spec = ACTIVATIONS[activation]
    h = zg if spec.saves == "nothing" else _ops.activation(zg, activation, alpha)
    gu = g * zu
    if spec.saves == "nothing":
        d_gate = gu
    else:
        d_gate = _ops._activation_bwd(gu, h if _uses_output(activation, alpha) else zg.contiguous(),
                                      activation, alpha)
    d_gate, d_up = d_gate.reshape(B, -1, n), (g * h).reshape(B, -1, n)
    x3 = x.reshape(B, -1, k)
    outs: list = [None] * 5
    if output_mask[0]:
        wg = _front(gate_weight, wgd, B) if wgd is not None else gate_weight
        wu = _front(up_weight, wud, B) if wud is not None else up_weight
        outs[0] = (torch.matmul(d_gate, wg) + torch.matmul(d_up, wu)).reshape(x.shape)
    if output_mask[1]:
        outs[1] = torch.matmul(d_gate.transpose(1, 2), x3)
    if output_mask[2]:
        outs[2] = torch.matmul(d_up.transpose(1, 2), x3)
    if output_mask[3]:
        outs[3] = d_gate.sum(1)
    if output_mask[4]:
        outs[4] = d_up.sum(1)
    return (tuple(t if t is not None else grad_out.new_empty((0,)) for t in outs),
            tuple(0 if t is not None else None for t in outs))


# ---------------------------------------------------------------- linear_cross_entropy
# The rows of a batched input (and target) fold into the op's token rows; the
# reduction over each sample's own rows is then taken per batch element
# (mean: divided by that sample's sum of target class weights, as torch does).
# A batched linear_weight / linear_bias / class weight, or per-sample weight
# gradients, run the same formulas (csrc/cross_entropy.cpp) as batched ATen
# ops with the logits materialised, [B, M, C].
def _lce_rows_weight(target, weight, ignore_index, B):
    """Per batch element: sum over its rows of the target class weights (mean's denominator)."""
    valid = target != ignore_index
    tc = torch.where(valid, target, 0)
    wt = weight[tc] if weight is not None else torch.ones_like(tc, dtype=torch.float64)
    return torch.where(valid, wt, 0).reshape(B, -1).sum(1)


def _lce_batched(B, dims, g, x, w, t, b, cw, reduction, ignore_index, eps, mask):
    """(loss, dx, dw, db) with every argument's batch dim first (g may be None:
    the loss only; g=1 per sample when `g` is the string "one")."""
    x, t = _front(x, dims[0], B), _front(t, dims[2], B)
    w = _front(w, dims[1], B) if dims[1] is not None else w
    b = _front(b, dims[3], B) if b is not None and dims[3] is not None else b
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    x3 = x.reshape(B, -1, x.shape[-1])
    t2 = t.reshape(B, -1)
    V = w.shape[-2]
    wc = w.to(cdt)
    z = torch.matmul(x3.to(cdt), wc.transpose(-1, -2))
    if b is not None:
        z = z + (b.to(cdt).unsqueeze(-2) if b.dim() == 2 else b.to(cdt))
    cwb = (_front(cw, dims[4], B) if dims[4] is not None else cw.expand(B, V)).to(cdt) if cw is not None \
        else z.new_ones((B, V))
    eps = max(eps, 0.0)
    valid = t2 != ignore_index
    tc = torch.where(valid, t2, 0)
    wt = torch.where(valid, cwb.gather(1, tc), 0)
    wsum = cwb.sum(-1, keepdim=True)
    lse = torch.logsumexp(z, -1)
    row = wt * (lse - z.gather(-1, tc.unsqueeze(-1)).squeeze(-1)) * (1.0 - eps)
    if eps > 0:
        row = row + (wsum * lse - (z * cwb.unsqueeze(1)).sum(-1)) * (eps / V)
    row = torch.where(valid, row, 0)
    den = wt.sum(1)
    if reduction == "none":
        loss = row.reshape(t.shape)
    elif reduction == "sum":
        loss = row.sum(1)
    else:
        loss = row.sum(1) / den
    loss = loss.to(x.dtype)
    empty = x.new_empty((0,))
    if g is None:
        return loss, empty, empty, empty
    if isinstance(g, str):
        g = torch.ones(B, dtype=cdt, device=x.device)
    g = g.to(cdt)
    gi = g.reshape(B, -1) if reduction == "none" else g.reshape(B, 1)
    if reduction == "mean":
        gi = gi / den.unsqueeze(1)
    ct = torch.where(valid, gi * wt * (1.0 - eps), 0)
    cp = torch.where(valid, gi * (wt * (1.0 - eps) + wsum * (eps / V)), 0) if eps > 0 else ct
    dz = cp.unsqueeze(-1) * torch.softmax(z, -1) - ct.unsqueeze(-1) * torch.nn.functional.one_hot(tc, V).to(cdt)
    if eps > 0:
        dz = dz - torch.where(valid, gi * (eps / V), 0).unsqueeze(-1) * cwb.unsqueeze(1)
    dx = torch.matmul(dz, wc).to(x.dtype).reshape(x.shape) if mask[0] else empty.expand(B, 0)
    dw = torch.matmul(dz.transpose(1, 2), x3.to(cdt)).to(x.dtype) if mask[1] else empty.expand(B, 0)
    db = dz.sum(1).to(x.dtype) if mask[2] and b is not None else empty.expand(B, 0)
    return loss, dx, dw, db


def _lce_unbatched_params(dims):
    return dims[1] is None and dims[3] is None and dims[4] is None


def _lce_fold(info, xd, td, input, target):
    """The rows of every sample as one [B*M, K] input and [B*M] target, and their shapes."""
    B = info.batch_size
    x, t = _front(input, xd, B), _front(target, td, B)
    return x.reshape(-1, x.shape[-1]), t.reshape(-1), x.shape, t.shape


def _lce_reduce(rows, B, target, weight, reduction, ignore_index):
    if reduction == "none":
        return rows
    s = rows.reshape(B, -1).sum(1)
    if reduction == "sum":
        return s
    return s / _lce_rows_weight(target, weight, ignore_index, B).to(s.dtype)


@torch.library.register_vmap("torch_act::linear_cross_entropy")
def _lce_vmap(info, in_dims, input, linear_weight, target, linear_bias=None, weight=None, reduction="mean",
              ignore_index=-100, label_smoothing=0.0):
    B = info.batch_size
    in_dims = tuple(in_dims) + (None,) * (5 - len(in_dims))  # tensors passed by keyword: unbatched
    if _lce_unbatched_params(in_dims):
        x, t, _, tshape = _lce_fold(info, in_dims[0], in_dims[2], input, target)
        rows = _ops.linear_cross_entropy(x, linear_weight, t, linear_bias, weight, "none", ignore_index,
                                         label_smoothing)
        return _lce_reduce(rows.reshape(tshape), B, t, weight, reduction, ignore_index), 0
    return _lce_batched(B, in_dims[:5], None, input, linear_weight, target, linear_bias, weight, reduction,
                        ignore_index, label_smoothing, (False,) * 3)[0], 0


def _lce_row_grad(g, gd, B, t, weight, reduction, ignore_index, dtype):
    """The per-row loss gradient of the folded rows, [B, ...] (target's folded shape)."""
    g = _front(g, gd, B)
    if reduction == "none":
        return g
    if reduction == "mean":
        g = g / _lce_rows_weight(t, weight, ignore_index, B).to(g.dtype)
    return g.reshape(B, *([1] * (t.dim() - 1))).expand(t.shape).to(dtype)


@torch.library.register_vmap("torch_act::_linear_cross_entropy_fwd")
def _lce_fwd_vmap(info, in_dims, input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                  label_smoothing, output_mask):
    B = info.batch_size
    grads = reduction != "none" and any(output_mask)
    empty = input.new_empty((0,))
    if _lce_unbatched_params(in_dims) and not (grads and (output_mask[1] or output_mask[2])):
        x, t, xshape, tshape = _lce_fold(info, in_dims[0], in_dims[2], input, target)
        rows = _ops.linear_cross_entropy(x, linear_weight, t, linear_bias, weight, "none", ignore_index,
                                         label_smoothing)
        loss = _lce_reduce(rows.reshape(tshape), B, t, weight, reduction, ignore_index)
        if not grads:
            return (loss, empty, empty, empty), (0, None, None, None)
        g = _lce_row_grad(torch.ones(B, dtype=loss.dtype, device=loss.device), 0, B, t.reshape(tshape), weight,
                          reduction, ignore_index, loss.dtype)
        dx = _ops._linear_cross_entropy_bwd(g.reshape(-1), x, linear_weight, t, linear_bias, weight, "none",
                                            ignore_index, label_smoothing, [True, False, False])[0]
        return (loss, dx.reshape(xshape), empty, empty), (0, 0, None, None)

    outs = _lce_batched(B, in_dims[:5], "one" if grads else None, input, linear_weight, target, linear_bias,
                        weight, reduction, ignore_index, label_smoothing, output_mask)
    return tuple(outs), (0, 0, 0, 0)


@torch.library.register_vmap("torch_act::_linear_cross_entropy_bwd")
def _lce_bwd_vmap(info, in_dims, grad_loss, input, linear_weight, target, linear_bias, weight, reduction,
                  ignore_index, label_smoothing, output_mask):
    B = info.batch_size
    gd = in_dims[0]
    pd = in_dims[1:6]
    empty = input.new_empty((0,))
    if _lce_unbatched_params(pd) and not (output_mask[1] or output_mask[2]):
        x, t, xshape, tshape = _lce_fold(info, pd[0], pd[2], input, target)
        g = _lce_row_grad(grad_loss, gd, B, t.reshape(tshape), weight, reduction, ignore_index, x.dtype)
        dx = _ops._linear_cross_entropy_bwd(g.reshape(-1), x, linear_weight, t, linear_bias, weight, "none",
                                            ignore_index, label_smoothing, [True, False, False])[0]
        return (dx.reshape(xshape), empty, empty), (0, None, None)

    outs = _lce_batched(B, pd, _front(grad_loss, gd, B), input, linear_weight, target, linear_bias, weight,
                        reduction, ignore_index, label_smoothing, output_mask)[1:]
    return tuple(outs), (0, 0, 0)


# ---------------------------------------------------------------- mlp_flat
def _flat_windows(params: Tensor, pd: Optional[int], sizes, bias):
    """Each layer's weight and bias (or None) as views of params, with their
    batch dims: [B, N, K] / [B, N] (dim 0) when params is batched."""
    p = params if pd is None else params.movedim(pd, 0)
    d = None if pd is None else 0
    ws, wds, bs, bds = [], [], [], []
    for n, k, w_off, b_off in _flat_layers(sizes, bias):
        ws.append(p[..., w_off:w_off + n * k].unflatten(-1, (n, k)))
        wds.append(d)
        bs.append(p[..., b_off:b_off + n] if b_off >= 0 else None)
        bds.append(d if b_off >= 0 else None)
    return ws, wds, bs, bds


@torch.library.register_vmap("torch_act::mlp_flat")
def _mlp_flat_vmap(info, in_dims, input, params, sizes, bias, activations, alphas):
    ws, wds, bs, bds = _flat_windows(params, in_dims[1], sizes, bias)
    return _mlp_vmap(info, (in_dims[0], wds, bds, None, None), input, ws, bs, activations, alphas)


@torch.library.register_vmap("torch_act::_mlp_flat_bwd")
def _mlp_flat_bwd_vmap(info, in_dims, grad_out, input, params, sizes, bias, saved, activations, alphas,
                       input_grad):
    ws, wds, bs, bds = _flat_windows(params, in_dims[2], sizes, bias)
    outs, dims = _mlp_bwd_vmap(info, (in_dims[0], in_dims[1], wds, bds, in_dims[5]), grad_out, input, ws, bs,
                               saved, activations, alphas, input_grad)
    L = len(ws)
    pieces = []
    for j in range(L):
        pieces.append((outs[1 + j], dims[1 + j]))
        if bias[j]:
            pieces.append((outs[1 + L + j], dims[1 + L + j]))
    if all(d is None for _, d in pieces):
        return (outs[0], torch.cat([t.reshape(-1) for t, _ in pieces])), (dims[0], None)
    B = info.batch_size
    dp = torch.cat([_front(t, d, B).reshape(B, -1) for t, d in pieces], dim=1)
    return (outs[0], dp), (dims[0], 0)
