"""Test-only dependencies (torchvision, transformers): import them or skip.

`pytest.importorskip` skips on ImportError only, but a torchvision wheel built
for another torch fails differently: with torch 2.13 and torchvision 0.29 the
import raises RuntimeError ("operator torchvision::nms does not exist"), and
transformers, which imports torchvision when it is installed, then raises
ModuleNotFoundError on its first model attribute.  `require` imports the
module, touches the attributes a test needs, and skips on any exception, with
the original error as the reason.
"""
import importlib

import pytest


def require(module, *attrs):
    """The imported `module` (each of `attrs` looked up on it first), or skip."""
    try:
        mod = importlib.import_module(module)
        for a in attrs:
            getattr(mod, a)
    except Exception as e:  # noqa: BLE001 -- any failure means "not usable here"
        pytest.skip(f"{module} not usable with this torch: {type(e).__name__}: {e}")
    return mod
