"""``python -m torch_act plot``: every activation and its derivative, by torch_act's kernels.

The value is ``torch_act.activation(z, name, alpha)``; the derivative is
``torch.autograd.grad`` through that call -- i.e. torch_act's own backward op
(``torch.ops.torch_act._activation_bwd``), not a formula written here.  Each
panel's title carries the formula from the C++ activation table
(``torch_act.ACTIVATIONS[name].formula``).

softmax / log_softmax normalise over a row, so they are drawn on a 3-class
slice: logits ``z = [x, 0, 1]`` as x sweeps the range; the panel shows each
class's output y_i and the diagonal of the Jacobian, dy_i/dz_i.
"""
import argparse
from typing import Dict, List, Optional, Sequence

import torch

from . import save_png, use_headless_backend

DEFAULT_RANGE = (-5.0, 5.0)
DEFAULT_OUT = "activations.png"

#: logits of the 3-class slice used for row activations: [x, 0, 1]
ROW_SLICE = (None, 0.0, 1.0)


def _table():
    import torch_act

    return torch_act.ACTIVATIONS


def parse_activations(text) -> List[str]:
    """'relu,tanh' (or a list) -> names, checked; None or 'all' -> every activation."""
    table = _table()
    if text is None or text == "all":
        return list(table)
    names = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    names = [n for n in names if n]
    if not names:
        raise ValueError("--activations: empty list")
    bad = [n for n in names if n not in table]
    if bad:
        raise ValueError(f"unknown activation(s): {', '.join(bad)}; expected names from: {', '.join(table)}")
    return names


def parse_alphas(items: Optional[Sequence[str]], names: Sequence[str] = None) -> Dict[str, float]:
    """['leaky_relu=0.2', 'elu=0.5'] -> {'leaky_relu': 0.2, 'elu': 0.5}, checked against the table."""
    table = _table()
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--alpha: expected NAME=VALUE (e.g. leaky_relu=0.2), got '{item}'")
        name, value = (s.strip() for s in item.split("=", 1))
        if name not in table:
            raise ValueError(f"--alpha: unknown activation '{name}'; expected one of: {', '.join(table)}")
        if not table[name].has_alpha:
            takes = ", ".join(k for k, v in table.items() if v.has_alpha)
            raise ValueError(f"--alpha: '{name}' takes no parameter; these do: {takes}")
        if names is not None and name not in names:
            raise ValueError(f"--alpha: '{name}' is not among the plotted activations ({', '.join(names)})")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"--alpha: '{value}' is not a number (in '{item}')") from None
    return out


def curves(name: str, x: torch.Tensor, alpha: Optional[float] = None):
    """Values and derivatives of activation ``name`` over the points ``x`` (1-D), by torch_act.

    Elementwise activations: ``(y, dy)``, each ``[n]``: y = act(x), dy = d act / dz at x, the
    derivative from autograd through ``torch_act.activation`` (torch_act's backward kernel).
    Row activations (softmax, log_softmax): ``(y, dy)``, each ``[n, 3]``, on logits
    ``[x, 0, 1]``: y[:, i] = y_i, dy[:, i] = dy_i / dz_i (the Jacobian's diagonal).
    """
    import torch_act

    spec = torch_act.ACTIVATIONS[name]
    if not spec.rowwise:
        z = x.detach().clone().requires_grad_(True)
        y = torch_act.activation(z, name, alpha)
        (dy,) = torch.autograd.grad(y, z, torch.ones_like(y))
        return y.detach(), dy.detach()
    cols = [x.detach() if c is None else torch.full_like(x, c) for c in ROW_SLICE]
    z = torch.stack(cols, 1).requires_grad_(True)
    y = torch_act.activation(z, name, alpha)
    diag = []
    for i in range(z.shape[1]):
        # rows are independent, so the gradient of sum_n y[n, i] is row n's dy_i/dz_j
        (g,) = torch.autograd.grad(y[:, i].sum(), z, retain_graph=i + 1 < z.shape[1])
        diag.append(g[:, i])
    return y.detach(), torch.stack(diag, 1)


def _title(name, alpha):
    spec = _table()[name]
    head = name
    if spec.has_alpha:
        a = spec.default_alpha if alpha is None else alpha
        head += f"  (a = {a:g})"
    return head, spec.formula


def figure(names: Sequence[str] = None, lo: float = DEFAULT_RANGE[0], hi: float = DEFAULT_RANGE[1],
           alphas: Dict[str, float] = None, points: int = 801, cols: int = None, dpi: int = 80):
    """A matplotlib Figure, one panel per activation (value solid, derivative dashed)."""
    use_headless_backend()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    names = parse_activations(names)
    alphas = dict(alphas or {})
    if not hi > lo:
        raise ValueError(f"--range: need LO < HI, got {lo} {hi}")
    if points < 2:
        raise ValueError(f"--points must be >= 2, got {points}")
    n = len(names)
    cols = cols or min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.5 * cols, 2.9 * rows + 0.5), dpi=dpi, squeeze=False)
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    xs = x.numpy()
    table = _table()
    for ax, name in zip(axes.flat, names):
        y, dy = curves(name, x, alphas.get(name))
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        if table[name].rowwise:
            colours = ["#1f77b4", "#ff7f0e", "#2ca02c"]
            for i, c in enumerate(colours):
                logit = "x" if ROW_SLICE[i] is None else f"{ROW_SLICE[i]:g}"
                ax.plot(xs, y[:, i].numpy(), color=c, lw=1.6, label=f"$y_{i}$ ($z_{i}$={logit})")
                ax.plot(xs, dy[:, i].numpy(), color=c, lw=1.2, ls="--")
            ax.legend(fontsize=6.5, loc="best", framealpha=0.8, handlelength=1.2)
            ax.set_xlabel("x,  logits z = [x, 0, 1];  dashed: $\\partial y_i / \\partial z_i$", fontsize=7)
        else:
            ax.plot(xs, y.numpy(), color="#1f77b4", lw=1.8)
            ax.plot(xs, dy.numpy(), color="#d62728", lw=1.3, ls="--")
            ax.set_xlabel("z", fontsize=7)
        head, formula = _title(name, alphas.get(name))
        ax.set_title(f"{head}\n{formula}", fontsize=8.5)
        ax.tick_params(labelsize=7)
        ax.set_xlim(lo, hi)
        ax.grid(alpha=0.25)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = [Line2D([], [], color="#1f77b4", lw=1.8), Line2D([], [], color="#d62728", lw=1.3, ls="--")]
    fig.legend(handles, ["activation  torch_act.activation(z)",
                         "derivative  via autograd through torch_act's backward op"],
               loc="upper center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_size_inches()[1]))
    return fig


def add_arguments(p):
    p.description = ("Plot torch_act's activations and their derivatives (the derivative through "
                     "autograd, i.e. torch_act's backward kernels), one panel each.")
    p.add_argument("--activations", default=None, metavar="NAME,NAME,...",
                   help="comma-separated activations to plot (default: all)")
    p.add_argument("--range", nargs=2, type=float, default=list(DEFAULT_RANGE), metavar=("LO", "HI"),
                   help="z range (default -5 5)")
    p.add_argument("--alpha", nargs="+", action="extend", default=None, metavar="NAME=VALUE",
                   help="parameter of an activation that has one, e.g. leaky_relu=0.1 elu=0.5")
    p.add_argument("--points", type=int, default=801, help="samples over the range (default 801)")
    p.add_argument("--cols", type=int, default=None, help="panels per row (default 4)")
    p.add_argument("--dpi", type=int, default=80, help="PNG resolution (default 80)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output PNG (default {DEFAULT_OUT})")


def main(args):
    a = argparse.Namespace(**{"activations": None, "range": list(DEFAULT_RANGE), "alpha": None,
                              "points": 801, "cols": None, "dpi": 80, "out": DEFAULT_OUT, **vars(args)})
    names = parse_activations(a.activations)
    alphas = parse_alphas(a.alpha, names)
    lo, hi = a.range
    fig = figure(names, lo, hi, alphas, a.points, a.cols, a.dpi)
    save_png(fig, a.out)
    print(f"wrote {a.out}: {len(names)} activation(s) over [{lo:g}, {hi:g}]: {', '.join(names)}")
    return 0
