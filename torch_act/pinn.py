"""A physics-informed network: 2-D Poisson on the unit square (examples/pinn.py, bench case ``pinn``).

    -(u_xx + u_yy) = f  on (0, 1)^2,   u = 0 on the boundary,
    f = 2 pi^2 sin(pi x) sin(pi y),     exact solution u = sin(pi x) sin(pi y).

The loss holds the residual, so every training step differentiates the
network three times: u_x (create_graph), u_xx (create_graph), then the loss
by the weights -- the higher-order autograd of docs/autograd.md.
"""
import math

import torch

from . import nn as tnn

__all__ = ["exact", "forcing", "make_model", "eager_model", "sample", "loss", "relative_l2"]


def exact(p):
    return torch.sin(math.pi * p[:, :1]) * torch.sin(math.pi * p[:, 1:2])


def forcing(p):
    return 2 * math.pi ** 2 * exact(p)


def make_model(width=64, depth=3, dtype=torch.float32):
    """2 -> width x depth -> 1, tanh, as one torch_act MLP."""
    sizes = [2] + [width] * depth + [1]
    return tnn.MLP(sizes, ["tanh"] * depth + ["identity"], dtype=dtype)


def eager_model(like):
    """The same network in plain torch.nn, with ``like``'s parameters copied."""
    layers = []
    for i, lin in enumerate(like.layers):
        layers.append(torch.nn.Linear(lin.in_features, lin.out_features, dtype=lin.weight.dtype))
        if i + 1 < len(like.layers):
            layers.append(torch.nn.Tanh())
    m = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for dst, src in zip((l for l in m if isinstance(l, torch.nn.Linear)), like.layers):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return m


def sample(n_inside, n_boundary, generator=None, dtype=torch.float32):
    """Collocation points inside the square and on its boundary."""
    inside = torch.rand(n_inside, 2, generator=generator, dtype=dtype)
    t = torch.rand(n_boundary, generator=generator, dtype=dtype)
    side = torch.randint(0, 4, (n_boundary,), generator=generator)
    zero, one = torch.zeros_like(t), torch.ones_like(t)
    bx = torch.where(side == 0, zero, torch.where(side == 1, one, t))
    by = torch.where(side == 2, zero, torch.where(side == 3, one, t))
    return inside, torch.stack([bx, by], 1)


def loss(model, inside, boundary):
    """Mean squared PDE residual inside plus mean squared boundary value."""
    x = inside.detach().requires_grad_()
    u = model(x)
    (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (d2x,) = torch.autograd.grad(du[:, 0].sum(), x, create_graph=True)
    (d2y,) = torch.autograd.grad(du[:, 1].sum(), x, create_graph=True)
    residual = d2x[:, 0] + d2y[:, 1] + forcing(x)[:, 0]
    return residual.pow(2).mean() + model(boundary).pow(2).mean()


@torch.no_grad()
def relative_l2(model, n=101, dtype=torch.float32):
    g = torch.linspace(0, 1, n, dtype=dtype)
    p = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    u, ue = model(p), exact(p)
    return float((u - ue).norm() / ue.norm())
