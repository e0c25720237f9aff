"""torch_act under torch.distributed: DTensor sharding strategies for every op.

DistributedDataParallel and FSDP2 (``fully_shard``) need nothing from here:
they call our ops on plain local tensors.  Tensor parallelism
(``parallelize_module`` with ``ColwiseParallel`` / ``RowwiseParallel``, or any
DTensor input) dispatches each op to DTensor, which needs to know, for every
operator, which input placements it can compute on locally and what the
output placements then are.  This module registers those strategies for the
public ops (``linear_act``, ``activation``, ``mlp``, reached directly under
``torch.inference_mode``) and the internal ones the C++ autograd calls
(``_linear_act_fwd/_bwd``, ``_activation_bwd``, ``_mlp_fwd/_bwd``).

Per mesh dimension (DTensor expands these to every mesh dimension and picks
the one needing the cheapest redistribution of the inputs):

``linear_act`` / ``_linear_act_fwd``  (x ``[..., K]``, W ``[N, K]``, b ``[N]``)
  * replicate: everything Replicate.
  * batch: x Shard(d) on a leading dim d, W, b Replicate -> out Shard(d).
  * column (ColwiseParallel): x Replicate, W Shard(0), b Shard(0) -> out
    Shard(-1); the fused kernel runs locally, for any elementwise activation.
    Not for softmax / log_softmax (a row would be split).
  * row, identity activation only: x Shard(-1), W Shard(1), b Partial ->
    out Partial (reduced later, e.g. by RowwiseParallel's output all-reduce).
    Also x Partial, W Replicate, b Partial -> Partial.
  * row, non-linear activation: an activation of a partial sum is wrong, and
    the strategies alone would make DTensor gather x and W on every call.  A
    torch_dispatch rule (``_row_parallel_rule``) instead runs the fused op
    with the identity (Partial), all-reduces that once -- the collective an
    identity layer pays anyway -- and applies bias and activation to the whole
    sums (Replicate), saving what the backward needs.
``_linear_act_bwd``: the transposes of those, plus "row" for every activation
  (grad and saved Replicate, x Shard(-1), W Shard(1) -> dx Shard(-1),
  dW Shard(1), db Replicate): the backward of a row-parallel layer needs no
  collective.  Every gradient is linear in grad_out, so a Partial grad_out
  (x, W, saved Replicate) gives Partial gradients, for any activation.
``activation``: elementwise, so any Shard(d), except the last dim for softmax /
  log_softmax (rows must be whole: DTensor gathers it); Partial for identity
  only.  ``_activation_bwd``: the same, and Partial grad_out for any activation.
``mlp`` / ``_mlp_fwd`` / ``_mlp_bwd``: replicate, or batch-sharded input with
  replicated weights (data / sequence parallel; weight gradients Partial).
  A sharded weight is all-gathered: one op across many layers has no
  per-layer placement to keep.

``import torch_act`` does not import DTensor (3 s).  ``install()`` (called from
``torch_act/__init__.py``) registers the strategies at once when
``torch.distributed.tensor`` is already imported, else the moment it is first
imported (a one-shot import hook), and does nothing when torch has no
torch.distributed.  ``register()`` registers them explicitly.
"""
import sys
import threading

__all__ = ["install", "register", "is_registered"]

_DTENSOR = "torch.distributed.tensor"
_lock = threading.RLock()
_registered = False


# --------------------------------------------------------------- placements
def _act(name):
    from .ops import _spec
    return _spec("torch_act (DTensor)", name)   # ValueError naming the known activations


def _is_linear(name):
    return name == "identity"


def _saves_empty(name, alpha):
    from .ops import _uses_output
    return _uses_output(name, alpha)


def _arg(op_schema, index, name, default=None):
    args = op_schema.args_schema
    if index < len(args):
        return args[index]
    return op_schema.kwargs_schema.get(name, default)


def _flat_strategies(x):
    """The OpStrategy leaves of one argument (a tensor, a list, a TupleStrategy), in order."""
    from torch.distributed.tensor._op_schema import OpStrategy, TupleStrategy
    if x is None:
        return []
    if isinstance(x, OpStrategy):
        return [x]
    if isinstance(x, TupleStrategy):
        return [leaf for c in x.children for leaf in _flat_strategies(c)]
    if isinstance(x, (list, tuple)):
        return [leaf for c in x for leaf in _flat_strategies(c)]
    return []


def _expand(op_schema, rows, n_out):
    from torch.distributed.tensor._ops.utils import expand_to_full_mesh_op_strategy
    mesh = op_schema.get_mesh_from_args(validate=False)
    return expand_to_full_mesh_op_strategy(mesh, op_schema, rows, input_index=n_out)


def _linear_fwd_rows(x, b, name, saved):
    """Rows [out, (saved,) x, W, b?] for one mesh dim.  ``saved``: None (public op,
    no saved output), True (the saved output is a tensor like out), False (empty)."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    R, P = Replicate(), Partial()
    nd = x.ndim
    last = nd - 1
    has_b = b is not None
    rowwise = _act(name).rowwise

    def row(out, px, pw, pb):
        r = [out]
        if saved is not None:
            r.append(out if saved else R)
        r += [px, pw]
        if has_b:
            r.append(pb)
        return r

    rows = [row(R, R, R, R)]
    for d in range(last):
        rows.append(row(Shard(d), Shard(d), R, R))
    if not rowwise:
        rows.append(row(Shard(last), R, Shard(0), Shard(0)))
    if _is_linear(name):
        rows.append(row(P, Shard(last), Shard(1), P))
        rows.append(row(P, P, R, P))
    return rows


def _linear_act_strategy(op_schema):
    x, b = _arg(op_schema, 0, "input"), _arg(op_schema, 2, "bias")
    name = _arg(op_schema, 3, "activation", "identity")
    return _expand(op_schema, _linear_fwd_rows(x, b, name, None), 1)


def _linear_act_fwd_strategy(op_schema):
    x, b = _arg(op_schema, 0, "input"), _arg(op_schema, 2, "bias")
    name, alpha = _arg(op_schema, 3, "activation"), _arg(op_schema, 4, "alpha")
    saved = not _saves_empty(name, alpha)
    return _expand(op_schema, _linear_fwd_rows(x, b, name, saved), 2)


def _linear_act_bwd_strategy(op_schema):
    from torch.distributed.tensor import Partial, Replicate, Shard
    R, P = Replicate(), Partial()
    g, x = _arg(op_schema, 0, "grad_out"), _arg(op_schema, 1, "input")
    s = _arg(op_schema, 3, "saved")
    name, mask = _arg(op_schema, 4, "activation"), list(_arg(op_schema, 6, "output_mask"))
    nd = x.ndim
    last = nd - 1
    s_full = s.shape != (0,) or g.shape == (0,)
    rowwise = _act(name).rowwise

    def row(dx, dw, db, pg, px, pw):
        outs = [p if m else R for p, m in zip((dx, dw, db), mask)]
        return outs + [pg, px, pw, pg if s_full else R]

    rows = [row(R, R, R, R, R, R)]
    for d in range(last):                       # batch: weight grads are partial sums
        rows.append(row(Shard(d), P, P, Shard(d), Shard(d), R))
    if not rowwise:                             # column: dx is a partial sum
        rows.append(row(P, Shard(0), Shard(0), Shard(last), R, Shard(0)))
    # row: the gradient of out is whole (replicated), so dz is exact for any activation
    rows.append(row(Shard(last), Shard(1), R, R, Shard(last), Shard(1)))
    # every gradient is linear in grad_out: a partial grad_out gives partial gradients
    rows.append(row(P, P, P, P, R, R))
    return _expand(op_schema, rows, 3)


def _activation_strategy(op_schema):
    from torch.distributed.tensor import Partial, Replicate, Shard
    x, name = _arg(op_schema, 0, "input"), _arg(op_schema, 1, "activation")
    nd = x.ndim
    rows = [[Replicate(), Replicate()]]
    rows += [[Shard(d), Shard(d)] for d in range(nd) if not (_act(name).rowwise and d == nd - 1)]
    if _is_linear(name):
        rows.append([Partial(), Partial()])
    return _expand(op_schema, rows, 1)


def _activation_bwd_strategy(op_schema):
    from torch.distributed.tensor import Partial, Replicate, Shard
    R = Replicate()
    g, s = _arg(op_schema, 0, "grad_out"), _arg(op_schema, 1, "saved")
    name = _arg(op_schema, 2, "activation")
    nd = g.ndim
    s_full = s.shape != (0,) or g.shape == (0,)
    rows = [[R, R, R]]
    rows += [[Shard(d), Shard(d), Shard(d) if s_full else R]
             for d in range(nd) if not (_act(name).rowwise and d == nd - 1)]
    # dx is linear in the gradient: a partial gradient gives a partial dx
    rows.append([Partial(), Partial(), R])
    return _expand(op_schema, rows, 1)


def _bits_shardable(op_schema, t):
    """The bits of save="mask" pack the last dim 8 to a byte: a shard of it packs
    into whole bytes of the global bit tensor when every shard has a multiple of
    8 elements (N divisible by 8 x the mesh size)."""
    mesh = op_schema.get_mesh_from_args(validate=False)
    return t.shape[-1] % (8 * mesh.size()) == 0


def _act_mask_strategy(op_schema):
    from torch.distributed.tensor import Replicate, Shard
    s = _arg(op_schema, 0, "saved")
    nd = s.ndim
    rows = [[Replicate(), Replicate()]] + [[Shard(d), Shard(d)] for d in range(nd - 1)]
    if _bits_shardable(op_schema, s):
        rows.append([Shard(nd - 1), Shard(nd - 1)])
    return _expand(op_schema, rows, 1)


def _mask_grad_strategy(op_schema):
    from torch.distributed.tensor import Partial, Replicate, Shard
    g = _arg(op_schema, 0, "grad_out")
    nd = g.ndim
    rows = [[Replicate()] * 3] + [[Shard(d)] * 3 for d in range(nd - 1)]
    if _bits_shardable(op_schema, g):
        rows.append([Shard(nd - 1)] * 3)
    rows.append([Partial(), Partial(), Replicate()])  # linear in grad_out
    return _expand(op_schema, rows, 1)


def _mlp_rows(x, tensors_after_x, outputs):
    """Rows for the mlp ops: replicate, or x Shard(d) on a leading dim with every
    weight/bias Replicate.  ``outputs``: for each output, 'batch' (follows x),
    'partial' (a weight gradient) or 'empty' (Replicate)."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    R = Replicate()
    n_in = len(tensors_after_x)
    rows = [[R] * (len(outputs) + 1 + n_in)]
    for d in range(x.ndim - 1):
        out = [Shard(d) if o == "batch" else Partial() if o == "partial" else R for o in outputs]
        ins = [Shard(d) if o == "batch" else R for o in tensors_after_x]
        rows.append(out + [Shard(d)] + ins)
    return rows


def _mlp_common(op_schema):
    x = _arg(op_schema, 0, "input")
    ws = _flat_strategies(_arg(op_schema, 1, "weights"))
    bs = _flat_strategies(_arg(op_schema, 2, "biases"))
    return x, ws, bs


def _mlp_strategy(op_schema):
    x, ws, bs = _mlp_common(op_schema)
    rows = _mlp_rows(x, ["w"] * (len(ws) + len(bs)), ["batch"])
    return _expand(op_schema, rows, 1)


def _mlp_fwd_strategy(op_schema):
    x, ws, bs = _mlp_common(op_schema)
    names, alphas = _arg(op_schema, 3, "activations"), _arg(op_schema, 4, "alphas")
    outs = []
    for n, a in zip(names, alphas):
        outs += ["batch", "empty" if _saves_empty(n, a) else "batch"]
    rows = _mlp_rows(x, ["w"] * (len(ws) + len(bs)), outs)
    return _expand(op_schema, rows, len(outs))


def _mlp_bwd_strategy(op_schema):
    x = _arg(op_schema, 1, "input")
    ws = _flat_strategies(_arg(op_schema, 2, "weights"))
    biases = _arg(op_schema, 3, "biases")
    bs = _flat_strategies(biases)
    saved = _flat_strategies(_arg(op_schema, 4, "saved"))
    input_grad = _arg(op_schema, 7, "input_grad")
    bias_present = [b is not None for b in (biases.children if hasattr(biases, "children") else biases)]
    outs = ["batch" if input_grad else "empty"] + ["partial"] * len(ws)
    outs += ["partial" if p else "empty" for p in bias_present]
    # inputs after grad_out: x, weights, present biases, saved (batch unless empty)
    from torch.distributed.tensor import Partial, Replicate, Shard
    R = Replicate()
    n_after_x = len(ws) + len(bs) + len(saved)
    rows = [[R] * (len(outs) + 2 + n_after_x)]
    for d in range(x.ndim - 1):
        out = [Shard(d) if o == "batch" else Partial() if o == "partial" else R for o in outs]
        ins = [Shard(d), Shard(d)] + [R] * (len(ws) + len(bs))
        ins += [Shard(d) if s.shape != (0,) else R for s in saved]
        rows.append(out + ins)
    return _expand(op_schema, rows, len(outs))


# --------------------------------------------------------------- linear_glu
def _present(op_schema, args):
    """The (index, name) arguments that are given (an absent Tensor? has no strategy)."""
    return [a for a in args if _arg(op_schema, *a) is not None]


def _glu_strategy(op_schema):
    """act(x Wg^T + bg) * (x Wu^T + bu): replicate; batch-sharded x with the
    weights replicated; or column-parallel (both weights and biases Shard(0),
    output Shard(last)) -- each rank gates its own columns.  Row-parallel (K
    sharded) is not offered: the gate of a partial sum is wrong, so DTensor
    gathers the weights instead."""
    from torch.distributed.tensor import Replicate, Shard
    R = Replicate()
    x = _arg(op_schema, 0, "input")
    nb = len(_present(op_schema, [(3, "gate_bias"), (4, "up_bias")]))
    rows = [[R] * (1 + 3 + nb)]
    for d in range(x.ndim - 1):
        rows.append([Shard(d), Shard(d), R, R] + [R] * nb)
    rows.append([Shard(x.ndim - 1), R, Shard(0), Shard(0)] + [Shard(0)] * nb)
    return _expand(op_schema, rows, 1)


def _glu_fwd_strategy(op_schema):
    # (out, z = [z_gate | z_up]): z's columns are the two halves side by side,
    # so a column shard of them is not a Shard of z: replicate or batch only
    from torch.distributed.tensor import Replicate, Shard
    R = Replicate()
    x = _arg(op_schema, 0, "input")
    nb = len(_present(op_schema, [(3, "gate_bias"), (4, "up_bias")]))
    rows = [[R] * (2 + 3 + nb)]
    for d in range(x.ndim - 1):
        rows.append([Shard(d), Shard(d), Shard(d), R, R] + [R] * nb)
    return _expand(op_schema, rows, 2)


def _glu_bwd_strategy(op_schema):
    from torch.distributed.tensor import Partial, Replicate, Shard
    R = Replicate()
    x = _arg(op_schema, 1, "input")
    mask = _arg(op_schema, 7, "output_mask")
    rows = [[R] * (5 + 5)]
    for d in range(x.ndim - 1):
        outs = [Shard(d) if mask[0] else R] + [Partial() if m else R for m in mask[1:]]
        rows.append(outs + [Shard(d), Shard(d), R, R, Shard(d)])
    return _expand(op_schema, rows, 5)


# ------------------------------------------------------- linear_cross_entropy
_LCE_ARGS = [(0, "input"), (1, "linear_weight"), (2, "target"), (3, "linear_bias"), (4, "weight")]


def _replicate_strategy(n_out, tensor_args):
    """Every tensor Replicate (the loss reduces over the batch and the
    vocabulary: a sharded input or weight is gathered first)."""
    def strategy(op_schema):
        from torch.distributed.tensor import Replicate
        n_in = len(_present(op_schema, tensor_args))
        return _expand(op_schema, [[Replicate()] * (n_out + n_in)], n_out)
    return strategy


# --------------------------------------------------------------- row-parallel, non-linear
def _bind(func, args, kwargs):
    names = [a.name for a in func._schema.arguments]
    vals = dict(zip(names, args))
    vals.update(kwargs or {})
    return [vals.get(n, a.default_value) for n, a in zip(names, func._schema.arguments)]


def _k_sharded(w):
    from torch.distributed.tensor import Shard
    return any(isinstance(p, Shard) and p.dim in (1, -1) for p in w.placements)


def _row_parallel_rule(cls, func, types, args, kwargs):
    """``act(x @ W.T + b)`` with W sharded on K (RowwiseParallel) and a non-linear
    activation: each rank's product is a partial sum, and act(partial) is wrong.
    Rather than gather x and W (what the strategies alone would make DTensor
    do, every step), compute the partial product with the fused op (identity),
    all-reduce it once -- exactly the collective an identity layer pays -- and
    apply bias and activation to the whole sums.  Anything else: the normal
    DTensor dispatch, with the strategies above."""
    from torch.distributed.tensor import DTensor, Partial, Replicate

    x, w, b, name, alpha = _bind(func, args, kwargs)[:5]
    _act(name)
    if (_is_linear(name) or not isinstance(x, DTensor) or not isinstance(w, DTensor)
            or not _k_sharded(w)):
        return NotImplemented
    ops = _torch_ops()
    z, _ = ops._linear_act_fwd.default(x, w, None, "identity", None)           # Partial on K's mesh dims
    z = z.redistribute(z.device_mesh, [Replicate() if isinstance(p, Partial) else p for p in z.placements])
    if b is not None:
        z = z + b
    out = ops.activation.default(z, name, alpha)
    if func is ops.linear_act.default:
        return out
    saved = z.new_empty((0,)) if _saves_empty(name, alpha) else z
    return out, saved


def _torch_ops():
    import torch
    return torch.ops.torch_act


# name -> (strategy, index of the first non-tensor argument, its keyword names)
_STRATEGIES = {
    "linear_act": (_linear_act_strategy, 3, ["activation", "alpha", "save"]),
    "_act_mask": (_act_mask_strategy, 1, ["activation", "alpha"]),
    "_mask_grad": (_mask_grad_strategy, 2, ["activation", "alpha"]),
    "_linear_act_fwd": (_linear_act_fwd_strategy, 3, ["activation", "alpha"]),
    "_linear_act_bwd": (_linear_act_bwd_strategy, 4, ["activation", "alpha", "output_mask"]),
    "activation": (_activation_strategy, 1, ["activation", "alpha"]),
    "_activation_bwd": (_activation_bwd_strategy, 2, ["activation", "alpha"]),
    # D_order(grad_out, saved): elementwise, linear in grad_out, like _activation_bwd
    "_activation_deriv": (_activation_bwd_strategy, 2, ["activation", "alpha", "order"]),
    "mlp": (_mlp_strategy, 3, ["activations", "alphas"]),
    "_mlp_fwd": (_mlp_fwd_strategy, 3, ["activations", "alphas"]),
    "_mlp_bwd": (_mlp_bwd_strategy, 5, ["activations", "alphas", "input_grad"]),
    "linear_glu": (_glu_strategy, 5, ["activation", "alpha"]),
    "_linear_glu_fwd": (_glu_fwd_strategy, 5, ["activation", "alpha"]),
    "_linear_glu_bwd": (_glu_bwd_strategy, 5, ["activation", "alpha", "output_mask"]),
    "linear_cross_entropy": (_replicate_strategy(1, _LCE_ARGS), 5,
                             ["reduction", "ignore_index", "label_smoothing"]),
    "_linear_cross_entropy_fwd": (_replicate_strategy(4, _LCE_ARGS), 5,
                                  ["reduction", "ignore_index", "label_smoothing", "output_mask"]),
    "_linear_cross_entropy_bwd": (_replicate_strategy(3, [(0, "grad_loss")] + [(i + 1, n) for i, n in _LCE_ARGS]), 6,
                                  ["reduction", "ignore_index", "label_smoothing", "output_mask"]),
}


# --------------------------------------------------------------- registration
def register():
    """Register the DTensor sharding strategies of every torch_act op (idempotent).

    Returns True when they are registered, False when this torch has no
    torch.distributed.  Imports torch.distributed.tensor.
    """
    global _registered
    with _lock:
        if _registered:
            return True
        import torch
        if not torch.distributed.is_available():
            return False
        from torch.distributed.tensor import DTensor
        from torch.distributed.tensor._op_schema import RuntimeSchemaInfo

        propagator = DTensor._op_dispatcher.sharding_propagator
        for name, (fn, static_argnum, static_kwargs) in _STRATEGIES.items():
            # The activation name, alpha and masks decide the strategy, so they
            # are part of DTensor's sharding cache key (static_argnum onwards).
            info = RuntimeSchemaInfo(static_argnum, static_kwargs, needs_pytree=True)
            propagator.register_op_strategy(getattr(torch.ops.torch_act, name).default, fn, info)
        for name in ("_linear_act_fwd", "linear_act"):
            torch.library.register_torch_dispatch(f"torch_act::{name}", DTensor, _row_parallel_rule)
        _registered = True
        return True


def is_registered():
    """Whether the strategies are registered in this process."""
    return _registered


class _AfterImport:
    """A one-shot meta-path finder: lets torch.distributed.tensor import as usual,
    then registers the strategies, and removes itself."""

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _DTENSOR or self._busy:
            return None
        import importlib.util
        self._busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader, self)
        return spec


class _RegisteringLoader:
    def __init__(self, loader, finder):
        self._loader, self._finder = loader, finder

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _remove_hook(self._finder)
        _register_quietly()


_hook = None


def _remove_hook(finder):
    global _hook
    with _lock:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        if _hook is finder:
            _hook = None


def _register_quietly():
    try:
        register()
    except Exception as e:  # never break the user's import of torch.distributed.tensor
        import warnings
        warnings.warn(f"torch_act: could not register DTensor sharding strategies: {e}", RuntimeWarning)


def install():
    """Make DTensor know torch_act's ops: now if torch.distributed.tensor is
    imported, else as soon as it is.  Cheap; never raises for a torch without
    torch.distributed."""
    global _hook
    if _registered:
        return
    mod = sys.modules.get(_DTENSOR)
    if mod is not None and hasattr(mod, "DTensor"):
        _register_quietly()
        return
    try:
        import torch.distributed as dist
        if not dist.is_available():
            return
    except Exception:
        return
    with _lock:
        if _hook is None:
            _hook = _AfterImport()
            sys.meta_path.insert(0, _hook)
