"""Where the document's Net spends a training step (fp32, batch 64).

    python benchmarks/net_breakdown.py [threads]

Times, best of 7 repeats of 3000 calls, in us: the mlp op's forward with
autograd, its forward+backward, the same with torch.autograd.grad and with
the gradients set to None first, MLP(flat=True) and the mlp_flat op (one
parameter tensor), a trivial graph's backward (the autograd engine's own
cost), the same sum's backward over 6 leaves and over 1 (the engine's cost per
parameter), and _mlp_fwd / _mlp_bwd / _mlp_flat_bwd / mlp called directly without
autograd.
"""
import sys
import timeit

import torch

from torch_act import nn as tnn

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())
torch.manual_seed(0)
mlp = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])
x, gy = torch.randn(64, 2), torch.randn(64, 1)
ps = list(mlp.parameters())
ops = torch.ops.torch_act
ws, bs = [l.weight for l in mlp.layers], [l.bias for l in mlp.layers]
acts, als = ["relu", "sigmoid", "identity"], [None] * 3


def us(f, n=3000, r=7):
    return min(timeit.repeat(f, number=n, repeat=r)) / n * 1e6


def zero():
    for p in ps:
        p.grad = None


# the same parameters in one flat tensor (torch_act.mlp_flat, MLP(flat=True))
flat = tnn.MLP.from_linears(list(mlp.layers), acts, flat=True)
P, sizes, fb = flat.flat_params, [2, 10, 5, 1], [True] * 3
w1 = torch.randn(3, requires_grad=True)
# the engine's cost per parameter: the same 91 values as 6 leaves or as 1
six = [torch.randn(s, requires_grad=True) for s in (20, 10, 50, 5, 5, 1)]
one = [torch.randn(91, requires_grad=True)]
rows = {
    "MLP module fwd+bwd": lambda: mlp(x).backward(gy),
    "mlp op fwd (autograd)": lambda: ops.mlp(x, ws, bs, acts, als),
    "mlp op fwd+backward": lambda: ops.mlp(x, ws, bs, acts, als).backward(gy),
    "mlp op fwd+autograd.grad": lambda: torch.autograd.grad(ops.mlp(x, ws, bs, acts, als), ps, gy),
    "mlp op fwd+backward, grads None": lambda: (zero(), ops.mlp(x, ws, bs, acts, als).backward(gy)),
    "MLP(flat=True) module fwd+bwd": lambda: flat(x).backward(gy),
    "mlp_flat op fwd+backward": lambda: ops.mlp_flat(x, P, sizes, fb, acts, als).backward(gy),
    "trivial graph: (w*2).sum().backward()": lambda: (w1 * 2).sum().backward(),
    "cat(6 parameters).sum().backward()": lambda: torch.cat(six).sum().backward(),
    "cat(1 parameter, same 91 values)": lambda: torch.cat(one).sum().backward(),
}
for k, f in rows.items():
    print(f"{k:40s} {us(f):7.2f} us")
with torch.no_grad():
    saved = list(ops._mlp_fwd(x, ws, bs, acts, als))
    direct = {
        "_mlp_fwd, no autograd": lambda: ops._mlp_fwd(x, ws, bs, acts, als),
        "_mlp_bwd, no autograd": lambda: ops._mlp_bwd(gy, x, ws, bs, saved, acts, als, False),
        "_mlp_flat_bwd, no autograd": lambda: ops._mlp_flat_bwd(gy, x, P, sizes, fb, saved, acts, als, False),
        "mlp, no autograd": lambda: ops.mlp(x, ws, bs, acts, als),
        "torch.add (one small ATen op)": lambda: torch.add(x, x),
    }
    for k, f in direct.items():
        print(f"{k:40s} {us(f):7.2f} us")
