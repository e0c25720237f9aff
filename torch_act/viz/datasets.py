"""Small 2-D toy datasets for the playground, generated here (no downloads).

Every generator takes ``n`` (number of points), ``noise`` (std of the
Gaussian jitter added to the points, in data units) and a ``torch.Generator``
(so a seed gives the same data every time), and returns ``(x, y)``:
``x`` float32 ``[n, 2]`` roughly within [-1.5, 1.5], ``y`` int64 ``[n]`` class
labels.  ``spiral`` and ``gauss`` also take a number of classes.
"""
import math
from typing import Callable, Dict, NamedTuple

import torch

__all__ = ["DATASETS", "make_dataset", "moons", "circles", "xor", "gauss", "spiral"]


def _split(n: int, classes: int):
    """Class labels 0..classes-1, as even as possible (n // classes each, the rest to the first)."""
    counts = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    return torch.cat([torch.full((c,), k, dtype=torch.int64) for k, c in enumerate(counts)])


def _jitter(x: torch.Tensor, noise: float, g: torch.Generator) -> torch.Tensor:
    return (x + noise * torch.randn(x.shape, generator=g)).float()


def moons(n: int = 400, noise: float = 0.1, generator: torch.Generator = None, classes: int = 2):
    """Two interleaved half circles (scikit-learn's make_moons), centred."""
    g = generator or torch.Generator().manual_seed(0)
    y = _split(n, 2)
    t = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(y[:, None] == 0, upper, lower) - torch.tensor([0.5, 0.25], dtype=torch.float64)
    return _jitter(x, noise, g), y


def circles(n: int = 400, noise: float = 0.1, generator: torch.Generator = None, classes: int = 2,
            factor: float = 0.45):
    """A disc of class 1 inside a ring of class 0 (radii ``factor`` and 1.2)."""
    g = generator or torch.Generator().manual_seed(0)
    y = _split(n, 2)
    t = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    r = torch.where(y == 0, torch.full((n,), 1.2, dtype=torch.float64),
                    factor * 1.2 * torch.rand(n, generator=g, dtype=torch.float64).sqrt())
    x = torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)
    return _jitter(x, noise, g), y


def xor(n: int = 400, noise: float = 0.1, generator: torch.Generator = None, classes: int = 2,
        margin: float = 0.1):
    """Points in the square [-1.2, 1.2]^2 (kept ``margin`` off the axes); class 1 where x0*x1 > 0."""
    g = generator or torch.Generator().manual_seed(0)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1
    x = (u.abs() * (1.2 - margin) + margin) * u.sign()
    y = (x[:, 0] * x[:, 1] > 0).long()
    return _jitter(x, noise, g), y


def gauss(n: int = 400, noise: float = 0.1, generator: torch.Generator = None, classes: int = 2):
    """``classes`` Gaussian blobs (std 0.25 + noise) centred on a circle of radius 0.8."""
    g = generator or torch.Generator().manual_seed(0)
    y = _split(n, classes)
    angle = y.double() * 2 * math.pi / classes + math.pi / 4
    centres = 0.8 * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    x = centres + 0.25 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _jitter(x, noise, g), y


def spiral(n: int = 400, noise: float = 0.1, generator: torch.Generator = None, classes: int = 2,
           turns: float = 1.25):
    """``classes`` interleaved spiral arms, each winding ``turns`` times out to radius 1.3."""
    g = generator or torch.Generator().manual_seed(0)
    y = _split(n, classes)
    r = torch.rand(n, generator=g, dtype=torch.float64)
    t = 2 * math.pi * (turns * r + y.double() / classes)
    rad = 0.1 + 1.2 * r
    x = torch.stack([rad * torch.cos(t), rad * torch.sin(t)], 1)
    return _jitter(x, noise, g), y


class DatasetSpec(NamedTuple):
    make: Callable
    multiclass: bool  # takes classes > 2
    doc: str


#: name -> generator; the playground's --dataset choices
DATASETS: Dict[str, DatasetSpec] = {
    "spiral": DatasetSpec(spiral, True, "interleaved spiral arms"),
    "moons": DatasetSpec(moons, False, "two interleaved half circles"),
    "circles": DatasetSpec(circles, False, "a disc inside a ring"),
    "xor": DatasetSpec(xor, False, "the four quadrants, x0*x1 > 0"),
    "gauss": DatasetSpec(gauss, True, "Gaussian blobs"),
}


def make_dataset(name: str, n: int = 400, noise: float = 0.1, seed: int = 0, classes: int = 2):
    """``(x, y)`` for dataset ``name``; raises ValueError for unknown names or unsupported ``classes``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; expected one of: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if classes < 2:
        raise ValueError(f"dataset '{name}': need at least 2 classes, got {classes}")
    if classes != 2 and not spec.multiclass:
        multi = ", ".join(k for k, v in DATASETS.items() if v.multiclass)
        raise ValueError(f"dataset '{name}' has 2 classes; --classes {classes} works with: {multi}")
    if n < classes:
        raise ValueError(f"dataset '{name}': need at least {classes} points, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    g = torch.Generator().manual_seed(seed)
    return spec.make(n, noise, g, classes=classes)
