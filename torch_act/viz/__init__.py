"""Visualisation for torch_act: activation plots and a 2-D training playground.

* ``torch_act.viz.plot``: ``python -m torch_act plot`` -- every activation and
  its derivative, both computed by torch_act's kernels (the derivative through
  autograd, i.e. torch_act's backward op).
* ``torch_act.viz.playground``: ``python -m torch_act playground`` -- train the
  document's Net on a toy 2-D dataset (``torch_act.viz.datasets``) and draw its
  decision boundary.

matplotlib is imported only when a figure is drawn; headless machines get the
Agg backend.
"""
import os

__all__ = ["use_headless_backend", "save_png"]


def use_headless_backend():
    """Select matplotlib's Agg backend unless a backend was chosen explicitly (env or pyplot in use)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND"):
        return
    matplotlib.use("Agg")


def save_png(fig, path, dpi=None, colours=256):
    """Save ``fig`` as PNG; with Pillow, re-encode it with an adaptive palette of ``colours``
    colours (plots have few colours; this makes the file several times smaller)."""
    import matplotlib.pyplot as plt

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    if colours:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow comes with matplotlib
            return path
        with Image.open(path) as im:
            pal = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        pal.save(path, optimize=True)
    return path
