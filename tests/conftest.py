"""Shared fixtures and references for the torch_act tests.

Everything is parametrised from torch_act.ACTIVATIONS, so a new activation is
tested without touching the tests.  References are PyTorch's own functions
evaluated in float64: tests/reference.py evaluates each activation's
``reference`` from the registry (``from reference import ...``).
"""
import os
import sys

import pytest
import torch

# the tests import their shared helpers (conftest, reference) by module name,
# whatever pytest's import mode
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_act  # noqa: E402
import plugins  # noqa: E402,F401  (user activations: registered before the lists below)

ACTS = list(torch_act.ACTIVATIONS)
ELEMENTWISE = [a for a in ACTS if not torch_act.ACTIVATIONS[a].rowwise]
ROWWISE = [a for a in ACTS if torch_act.ACTIVATIONS[a].rowwise]
WITH_ALPHA = [a for a in ACTS if torch_act.ACTIVATIONS[a].has_alpha]

HAS_CUDA = torch.cuda.is_available()
DEVICES = ["cpu"] + (["cuda"] if HAS_CUDA else [])
ALL_DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")),
]
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]

# (rtol, atol) for outputs compared against a float64 reference
TOL = {
    torch.float64: (1e-10, 1e-10),
    torch.float32: (2e-5, 2e-5),
    torch.float16: (4e-3, 4e-3),
    torch.bfloat16: (2e-2, 2e-2),
}

# a non-default alpha per parametrised activation, to prove alpha is used
ALPHAS = {"leaky_relu": 0.2, "elu": 0.7, "softplus": 2.0, "celu": 0.5, "sin": 2.5}
for _a in WITH_ALPHA:  # user activations: some value other than the default
    ALPHAS.setdefault(_a, 1.5 * torch_act.ACTIVATIONS[_a].default_alpha + 0.25)


def assert_close(actual, expected, dtype, scale=1.0):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double().cpu(), expected.double().cpu(), rtol=rtol, atol=atol * scale)


@pytest.fixture
def poison():
    """Fill every freshly allocated (torch.empty) tensor with NaN, so an output
    element a kernel forgot to write shows up as NaN."""
    import torch.utils.deterministic as det

    prev_alg = torch.are_deterministic_algorithms_enabled()
    prev_fill = det.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    det.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(prev_alg)
    det.fill_uninitialized_memory = prev_fill


def randn(*shape, dtype=torch.float32, device="cpu", generator=None, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float64, generator=generator) * scale).to(dtype=dtype, device=device)
