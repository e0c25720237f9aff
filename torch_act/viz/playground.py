"""``python -m torch_act playground``: train the document's Net on a 2-D toy dataset.

The network is ``torch_act.net.Net`` -- 2 inputs, hidden layers (``--hidden``,
default the document's 10,5) each fused with the chosen activation, and

* 2 classes: one logit; training uses BCE-with-logits, the probability shown
  is torch_act's ``sigmoid`` of the logit;
* K > 2 classes: K outputs with torch_act's ``log_softmax`` fused into the
  last layer; training uses the negative log-likelihood (= cross-entropy).

Writes ``decision_boundary.png`` and ``loss.png`` (or ``compare.png`` with
``--compare``) into ``--out``; ``--tensorboard DIR`` logs loss, accuracy,
histograms of every layer's pre-activation ``x @ W.T + b`` and the figure.
"""
import argparse
import os
import time
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from . import save_png, use_headless_backend
from .datasets import DATASETS, make_dataset

DEFAULTS = dict(dataset="moons", activation="relu", hidden="10,5", steps=800, lr=0.03, seed=0,
                points=400, noise=0.1, classes=2, out="playground_out")


# ------------------------------------------------------------------ argument parsing
def _activation_names():
    import torch_act

    return list(torch_act.ACTIVATIONS)


def check_activation(name: str) -> str:
    """``name`` if torch_act has that activation, else ValueError listing the valid names."""
    names = _activation_names()
    if name not in names:
        raise ValueError(f"unknown activation '{name}'; expected one of: {', '.join(names)}")
    return name


def parse_activation_list(text: str) -> List[str]:
    """'relu,tanh' -> ['relu', 'tanh'], each checked."""
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names:
        raise ValueError("empty activation list")
    return [check_activation(n) for n in names]


def parse_hidden(text) -> List[int]:
    """'10,5' -> [10, 5]; at least one hidden layer, sizes >= 1."""
    if isinstance(text, (list, tuple)):
        sizes = [int(s) for s in text]
    else:
        try:
            sizes = [int(s) for s in str(text).split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--hidden: expected comma-separated layer sizes like 10,5, got '{text}'") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"--hidden: need one or more positive layer sizes, got '{text}'")
    return sizes


def _argtype(fn, what):
    def conv(text):
        try:
            return fn(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    conv.__name__ = what
    return conv


def add_arguments(p):
    d = DEFAULTS
    p.description = "Train the document's Net (torch_act fused layers) on a 2-D toy dataset and draw its decision boundary."
    p.add_argument("--dataset", choices=list(DATASETS), default=d["dataset"],
                   help=f"toy dataset (default {d['dataset']})")
    p.add_argument("--activation", type=_argtype(parse_activation_list, "activation"), default=d["activation"],
                   help="hidden activation (default relu); a comma list gives one per hidden layer")
    p.add_argument("--hidden", type=_argtype(parse_hidden, "hidden"), default=d["hidden"],
                   help=f"hidden layer sizes (default {d['hidden']}, the document's Net)")
    p.add_argument("--steps", type=int, default=d["steps"], help=f"full-batch Adam steps (default {d['steps']})")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"Adam learning rate (default {d['lr']})")
    p.add_argument("--seed", type=int, default=d["seed"], help="seed for the data and the initial weights")
    p.add_argument("--points", type=int, default=d["points"], help=f"dataset size (default {d['points']})")
    p.add_argument("--noise", type=float, default=d["noise"], help=f"dataset noise std (default {d['noise']})")
    p.add_argument("--classes", type=int, default=d["classes"],
                   help="number of classes for spiral / gauss (default 2; > 2 trains a softmax output)")
    p.add_argument("--out", default=d["out"], help=f"output folder for the PNGs (default {d['out']})")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also log scalars, pre-activation histograms and the figure to DIR")
    p.add_argument("--compare", type=_argtype(parse_activation_list, "activations"), default=None,
                   metavar="ACT,ACT,...", help="train one net per activation (same data and seed) -> compare.png")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads while training (default 1: fastest for these tiny nets)")
    p.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bar")
    from ..define import add_define_argument

    add_define_argument(p)


# ------------------------------------------------------------------ model and training
def build_net(activations: Sequence[str], hidden: Sequence[int], num_classes: int):
    """The document's Net: 2 -> hidden... -> 1 logit (2 classes) or K log-probabilities."""
    from ..net import Net

    if len(activations) == 1:
        activations = list(activations) * len(hidden)
    if len(activations) != len(hidden):
        raise ValueError(f"{len(activations)} activations given for {len(hidden)} hidden layers")
    out = 1 if num_classes == 2 else num_classes
    return Net(activations, sizes=(2, *hidden, out),
               output_activation="identity" if num_classes == 2 else "log_softmax")


def loss_and_pred(out: torch.Tensor, y: torch.Tensor, num_classes: int):
    if num_classes == 2:
        logit = out[:, 0]
        return F.binary_cross_entropy_with_logits(logit, y.to(logit.dtype)), (logit > 0).long()
    return F.nll_loss(out, y), out.argmax(1)  # out is torch_act's log_softmax


def probabilities(net, x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[n, K] class probabilities via torch_act's sigmoid / softmax."""
    import torch_act

    with torch.no_grad():
        out = net(x)
        if num_classes == 2:
            p1 = torch_act.activation(out[:, 0], "sigmoid")
            return torch.stack([1 - p1, p1], 1)
        return out.exp()  # exp(log_softmax) == softmax


class PreActivationProbe:
    """Forward hooks recording each fused layer's pre-activation ``x @ W.T + b``."""

    def __init__(self, net):
        self.values = {}
        self.handles = []
        for name, mod in net.named_children():
            if isinstance(mod, torch.nn.Linear):
                self.handles.append(mod.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(mod, inputs, output):
            with torch.no_grad():
                self.values[name] = F.linear(inputs[0], mod.weight, mod.bias).detach()

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def train(x, y, num_classes, activations, hidden, steps, lr, seed=0, progress=True, writer=None,
          desc=None, hist_every=None):
    """Train a fresh Net (seeded) full-batch with Adam; returns a dict with net, losses, accs."""
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    net = build_net(activations, hidden, num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses, accs = [], []
    probe = PreActivationProbe(net) if writer is not None else None
    hist_every = hist_every or max(1, steps // 20)
    bar = tqdm(range(1, steps + 1), desc=desc or "training", disable=not progress, leave=False,
               mininterval=0.25, dynamic_ncols=True)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss, pred = loss_and_pred(out, y, num_classes)
        loss.backward()
        opt.step()
        acc = (pred == y).float().mean().item()
        lv = loss.item()
        losses.append(lv)
        accs.append(acc)
        if progress and (step % 10 == 0 or step == steps):
            bar.set_postfix(loss=f"{lv:.4f}", acc=f"{acc:.3f}", refresh=False)
        if writer is not None:
            writer.add_scalar("loss", lv, step)
            writer.add_scalar("accuracy", acc, step)
            if step % hist_every == 0 or step == 1 or step == steps:
                for name, z in probe.values.items():
                    writer.add_histogram(f"pre_activation/{name}", z, step)
    bar.close()
    if probe is not None:
        probe.remove()
    with torch.no_grad():
        loss, pred = loss_and_pred(net(x), y, num_classes)
    final_acc = (pred == y).float().mean().item()
    return dict(net=net, losses=losses, accs=accs, accuracy=final_acc, loss=loss.item())


# ------------------------------------------------------------------ drawing
_POINT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf"]


def _colours(k):
    return [_POINT_COLOURS[i % len(_POINT_COLOURS)] for i in range(k)]


def _extent(x, pad=0.3):
    return (x[:, 0].min().item() - pad, x[:, 0].max().item() + pad,
            x[:, 1].min().item() - pad, x[:, 1].max().item() + pad)


def _panel_size(x, width=4.5):
    """(width, height) in inches of a panel showing x at equal aspect, plus room for the title."""
    e = _extent(x)
    return width, width * (e[3] - e[2]) / (e[1] - e[0]) + 0.45


def draw_boundary(ax, net, x, y, num_classes, title=None, resolution=200):
    """Shade the learned class regions (lighter where the net is less sure), points on top."""
    import numpy as np
    from matplotlib.colors import ListedColormap, to_rgb

    x0min, x0max, x1min, x1max = _extent(x)
    g0 = torch.linspace(x0min, x0max, resolution)
    g1 = torch.linspace(x1min, x1max, resolution)
    gy, gx = torch.meshgrid(g1, g0, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    prob = probabilities(net, grid, num_classes).reshape(resolution, resolution, num_classes).numpy()
    cols = np.array([to_rgb(c) for c in _colours(num_classes)])
    if num_classes == 2:
        # diverging shade: P(class 1) from blue (0) through white (0.5) to orange (1)
        cmap = ListedColormap(np.concatenate([
            np.linspace(cols[0], [1, 1, 1], 128), np.linspace([1, 1, 1], cols[1], 128)]))
        ax.imshow(prob[..., 1], origin="lower", extent=(x0min, x0max, x1min, x1max), cmap=cmap,
                  vmin=0, vmax=1, alpha=0.55, aspect="auto", interpolation="bilinear")
        ax.contour(gx.numpy(), gy.numpy(), prob[..., 1], levels=[0.5], colors="k", linewidths=1.0)
    else:
        arg = prob.argmax(-1)
        conf = prob.max(-1)
        # colour of the winning class, faded towards white by (1 - confidence)
        strength = ((conf - 1 / num_classes) / (1 - 1 / num_classes))[..., None]
        rgb = 1 - (1 - cols[arg]) * (0.15 + 0.4 * strength)
        ax.imshow(rgb, origin="lower", extent=(x0min, x0max, x1min, x1max), aspect="auto",
                  interpolation="bilinear")
        ax.contour(gx.numpy(), gy.numpy(), arg, levels=np.arange(num_classes) + 0.5, colors="k",
                   linewidths=0.8)
    xn, yn = x.numpy(), y.numpy()
    for k, c in enumerate(_colours(num_classes)):
        m = yn == k
        ax.scatter(xn[m, 0], xn[m, 1], s=12, c=c, edgecolors="k", linewidths=0.4, label=f"class {k}")
    ax.set_xlim(x0min, x0max)
    ax.set_ylim(x1min, x1max)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def boundary_figure(net, x, y, num_classes, title, dpi=100):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=_panel_size(x), dpi=dpi)
    draw_boundary(ax, net, x, y, num_classes, title)
    fig.tight_layout()
    return fig


def loss_figure(losses, accs, title, dpi=100):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=dpi)
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color="#1f77b4", lw=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)", color="#1f77b4")
    ax2 = ax.twinx()
    ax2.plot(steps, accs, color="#ff7f0e", lw=1.2)
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("training accuracy", color="#ff7f0e")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ command
def _normalise(args):
    """Accept an argparse Namespace built by hand (strings where the parser gives lists)."""
    a = argparse.Namespace(**{**DEFAULTS, "tensorboard": None, "compare": None, "threads": 1,
                              "dpi": 100, "progress": True, **vars(args)})
    from ..define import define_all

    define_all(getattr(a, "define", None))
    if a.dataset not in DATASETS:
        raise ValueError(f"unknown dataset '{a.dataset}'; expected one of: {', '.join(DATASETS)}")
    a.activation = parse_activation_list(a.activation) if isinstance(a.activation, str) else \
        [check_activation(n) for n in a.activation]
    a.hidden = parse_hidden(a.hidden)
    if a.compare is not None:
        a.compare = parse_activation_list(a.compare) if isinstance(a.compare, str) else \
            [check_activation(n) for n in a.compare]
    if len(a.activation) not in (1, len(a.hidden)):
        raise ValueError(f"--activation: give one activation or one per hidden layer ({len(a.hidden)}), "
                         f"got {len(a.activation)}")
    if a.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {a.steps}")
    if not a.lr > 0:
        raise ValueError(f"--lr must be > 0, got {a.lr}")
    return a


def main(args):
    """The CLI entry: run and return exit status 0."""
    run(args)
    return 0


def run(args):
    """Train (one net, or one per --compare activation), write the PNGs; returns a list of result dicts
    (net, losses, accs, accuracy, loss, label)."""
    a = _normalise(args)
    use_headless_backend()
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    x, y = make_dataset(a.dataset, a.points, a.noise, a.seed, a.classes)
    k = a.classes
    os.makedirs(a.out, exist_ok=True)
    hidden_txt = ",".join(map(str, a.hidden))
    head = "binary logit + BCE" if k == 2 else f"{k}-way log_softmax + NLL"
    runs = [[n] for n in a.compare] if a.compare else [a.activation]
    print(f"playground: {a.dataset} ({a.points} points, {k} classes), Net 2-{hidden_txt.replace(',', '-')}-"
          f"{1 if k == 2 else k} ({head}), {a.steps} Adam steps, lr {a.lr}, seed {a.seed}")

    writer_root = a.tensorboard
    old_threads = torch.get_num_threads()
    if a.threads and a.threads > 0:
        torch.set_num_threads(a.threads)
    results = []
    try:
        for acts in runs:
            label = ",".join(acts)
            writer = None
            if writer_root:
                from torch.utils.tensorboard import SummaryWriter

                logdir = os.path.join(writer_root, label.replace(",", "_")) if a.compare else writer_root
                writer = SummaryWriter(logdir)
            try:
                r = train(x, y, k, acts, a.hidden, a.steps, a.lr, a.seed, progress=a.progress,
                          writer=writer, desc=label)
                r["label"] = label
                results.append(r)
                print(f"  {label:>12s}: final training accuracy {r['accuracy']:.3f}  (loss {r['loss']:.4f})")
                if writer is not None:
                    fig = boundary_figure(r["net"], x, y, k, f"{a.dataset} / {label}: acc {r['accuracy']:.3f}",
                                          dpi=a.dpi)
                    writer.add_figure("decision_boundary", fig, a.steps)  # closes fig
                    writer.add_text("config", f"dataset={a.dataset} activation={label} hidden={hidden_txt} "
                                              f"steps={a.steps} lr={a.lr} seed={a.seed}")
            finally:
                if writer is not None:
                    writer.close()
    finally:
        torch.set_num_threads(old_threads)

    written = []
    if a.compare:
        n = len(results)
        w, h = _panel_size(x, 3.6)
        fig, axes = plt.subplots(1, n, figsize=(w * n, h + 0.35), dpi=a.dpi, squeeze=False)
        for ax, r in zip(axes[0], results):
            draw_boundary(ax, r["net"], x, y, k, f"{r['label']}: accuracy {r['accuracy']:.3f}")
        fig.suptitle(f"{a.dataset}, Net 2-{hidden_txt.replace(',', '-')}-{1 if k == 2 else k}, "
                     f"{a.steps} steps, seed {a.seed}", fontsize=11)
        fig.tight_layout()
        path = os.path.join(a.out, "compare.png")
        save_png(fig, path)
        written.append(path)
    else:
        r = results[0]
        fig = boundary_figure(r["net"], x, y, k, f"{a.dataset}, {r['label']} (hidden {hidden_txt}): "
                                                 f"accuracy {r['accuracy']:.3f}", dpi=a.dpi)
        path = os.path.join(a.out, "decision_boundary.png")
        save_png(fig, path)
        written.append(path)
        fig = loss_figure(r["losses"], r["accs"], f"{a.dataset}, {r['label']}: training loss and accuracy",
                          dpi=a.dpi)
        path = os.path.join(a.out, "loss.png")
        save_png(fig, path)
        written.append(path)
    for r in results:
        print(f"final accuracy ({r['label']}): {r['accuracy']:.4f}")
    print("wrote " + ", ".join(written) + (f"; TensorBoard logs in {writer_root}" if writer_root else "")
          + f"  ({time.perf_counter() - t0:.1f} s)")
    return results
