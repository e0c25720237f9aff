"""The ``save`` benchmark case: what each saved-tensor policy keeps per layer
and what it costs in time, for one ``torch_act.nn.Linear`` layer (``"auto"``:
the bits for a relu-like activation on these layers, else the output or the
pre-activation, as the derivative reads; docs/memory.md).

Bytes kept: every tensor the layer's autograd node saves, seen through
``torch.autograd.graph.saved_tensors_hooks``, minus the layer's own input and
parameters (which any linear layer keeps for its weight gradient).  Time:
forward + backward of the layer (gradients of input and weight), median over
interleaved rounds, against eager ``act(F.linear(x, w, b))`` measured side by
side, and the ratio to the same layer under ``save="auto"``.

    python -m torch_act bench --cases save [--dtypes float32,bfloat16]
"""
import statistics

import torch
import torch.nn.functional as F
from torch.utils import benchmark

import torch_act

SHAPES = [(256, 512, 512), (512, 768, 3072)]
ACTS = ["relu", "leaky_relu", "sigmoid", "gelu", "silu"]
_EAGER = {"relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid, "gelu": F.gelu, "silu": F.silu}


def _kept_bytes(fn, exclude):
    """Bytes of the distinct storages fn's graph saves, beyond those of `exclude`
    (the input and the parameters: views of them, e.g. eager's W.T, included)."""
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        fn()
    skip = {t.untyped_storage().data_ptr() for t in exclude if t is not None}
    seen, total = set(), 0
    for t in kept:
        ptr = t.untyped_storage().data_ptr()
        if ptr in skip or ptr in seen:
            continue
        seen.add(ptr)
        total += t.untyped_storage().nbytes()
    return total


def _median_time(fn, min_time):
    t = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return t.blocked_autorange(min_run_time=min_time).median


def run(dtypes, rounds=3, min_time=0.2, quick=False):
    rows = []
    shapes = [(64, 128, 256)] if quick else SHAPES
    for dn in dtypes:
        dtype = getattr(torch, dn)
        for M, K, N in shapes:
            x = torch.randn(M, K, dtype=dtype, requires_grad=True)
            g = torch.randn(M, N, dtype=dtype)
            for act in ACTS:
                policies = [p for p in torch_act.ops.SAVE_POLICIES if _ok(act, p)]
                layers = {p: torch_act.nn.Linear(K, N, activation=act, save=p, dtype=dtype) for p in policies}
                for lay in layers.values():
                    lay.load_state_dict(layers["auto"].state_dict())
                w, b = layers["auto"].weight, layers["auto"].bias
                f_eager = _EAGER[act]
                contenders = {"eager": lambda: f_eager(F.linear(x, w, b))}
                contenders.update({p: (lambda lay=lay: lay(x)) for p, lay in layers.items()})
                params = [x] + [q for lay in layers.values() for q in lay.parameters()]
                kept = {k: _kept_bytes(fn, params) for k, fn in contenders.items()}

                def step(fn):
                    def go():
                        x.grad = None
                        for p in (w, b):
                            p.grad = None
                        fn().backward(g)
                    return go

                steps = {k: step(fn) for k, fn in contenders.items()}
                for s in steps.values():
                    s()
                times = {k: [] for k in steps}
                for _ in range(rounds):
                    for k, s in steps.items():
                        times[k].append(_median_time(s, min_time))
                med = {k: statistics.median(v) for k, v in times.items()}
                for k in contenders:
                    rows.append((dn, f"{M}x{K}->{N}", act, k, kept[k], med[k], med["eager"] / med[k],
                                 med["auto"] / med[k] if k != "eager" else None))
                print(f"{dn:9s} {M}x{K}->{N} {act:10s} " + "  ".join(
                    f"{k}: {kept[k] / 1024:.0f} KiB {med[k] * 1e6:.0f}us" for k in contenders), flush=True)
    return rows


def _ok(act, policy):
    try:
        torch_act.ops._save_kind("bench", act, None, policy)
        return True
    except ValueError:
        return False


def markdown(rows):
    out = ["", "## Saved-tensor policies (`--cases save`): bytes kept per layer, fwd+bwd time", "",
           "Bytes kept: the layer's saved tensors (torch.autograd.graph.saved_tensors_hooks) beyond its input "
           "and parameters (distinct storages). Time: forward+backward of one layer, median; vs eager = eager time / this; "
           "vs auto = auto's time / this (< 1: slower than auto).", "",
           "| dtype | layer | activation | save | bytes kept | time (us) | vs eager | vs auto |",
           "|---|---|---|---|---:|---:|---:|---:|"]
    for dn, shape, act, k, kept, t, re, ra in rows:
        out.append(f"| {dn} | {shape} | {act} | {k} | {kept:,} | {t * 1e6:.1f} | {re:.2f}x | "
                   + (f"{ra:.2f}x" if ra is not None else "") + " |")
    return out
