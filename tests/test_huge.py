"""Tensors of more than 2^31 elements: no 32-bit index arithmetic anywhere.

Opt-in (pytest marker ``huge``): skipped unless TORCH_ACT_HUGE=1 and
/proc/meminfo's MemAvailable covers the test (10-14 GiB; peak RSS measured
13-15 GiB);
``make test-huge`` runs them, .ci/run does when the machine has the memory.

* ``activation`` (bfloat16, 2^31 + 1001 elements) forward and backward, and
  softmax over rows of a [2147485, 1000] tensor;
* ``linear_act`` whose output [524291, 4096] has more than 2^31 elements (K = 8),
  forward and backward (dx, dw, db reduce over all 524291 rows).

Checked against float64 references at sampled elements (the first, those
around 2^31, the last ones, and random ones), and the full dw / db.
"""
import os

import pytest
import torch

from conftest import TOL
from reference import reference_activation

pytestmark = pytest.mark.huge
OPS = torch.ops.torch_act
BIG = 2**31
BF16 = torch.bfloat16


def _mem_available_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def need(gib):
    if os.environ.get("TORCH_ACT_HUGE") != "1":
        pytest.skip("huge-tensor test: set TORCH_ACT_HUGE=1 (make test-huge)")
    have = _mem_available_gib()
    if have < gib:
        pytest.skip(f"needs {gib} GiB of available memory, the machine has {have:.1f}")


def _pattern(n, dtype, scale=3.0, seed=0):
    """n values: a random block of a prime length repeated (cheap to fill, no period of 2^k)."""
    p = 1_000_003
    base = (torch.randn(p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale).to(dtype)
    t = torch.empty(n, dtype=dtype)
    q = n // p
    t[: q * p].view(q, p).copy_(base)
    t[q * p:] = base[: n - q * p]
    return t


def _samples(n, k=4000, seed=1):
    fixed = [0, 1, 2, BIG // 2, BIG - 2, BIG - 1, BIG, BIG + 1] + list(range(n - 70, n))
    rand = torch.randint(0, n, (k,), generator=torch.Generator().manual_seed(seed)).tolist()
    return torch.tensor(sorted(set(i for i in fixed + rand if 0 <= i < n)), dtype=torch.long)


def _close(actual, expected, dtype=BF16, scale=1.0):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=atol * scale, equal_nan=True)


def test_activation_elementwise_huge():
    need(10)
    n = BIG + 1001
    x = _pattern(n, BF16)
    y = OPS.activation(x, "gelu", None)
    assert y.shape == (n,) and y.dtype == BF16
    idx = _samples(n)
    _close(y[idx], reference_activation("gelu", x[idx].double()))
    del y
    dx = OPS._activation_bwd(x, x, "gelu", None)  # grad = the input, saved = the input
    z = x[idx].double().requires_grad_()
    (ref,) = torch.autograd.grad(reference_activation("gelu", z), z, x[idx].double())
    _close(dx[idx], ref, scale=4.0)


def test_activation_rowwise_huge():
    need(10)
    rows, n = BIG // 1000 + 2, 1000
    assert rows * n > BIG
    x = _pattern(rows * n, BF16).view(rows, n)
    y = OPS.activation(x, "softmax", None)
    pick = torch.tensor([0, 1, BIG // n, BIG // n + 1, rows - 2, rows - 1]
                        + torch.randint(0, rows, (200,), generator=torch.Generator().manual_seed(2)).tolist())
    _close(y[pick], reference_activation("softmax", x[pick].double()))


def test_linear_act_output_over_2_31():
    need(14)  # the output (4 GiB) and the backward's float32 dz (8 GiB)
    n, k = 4096, 8
    m = BIG // n + 3
    assert m * n > BIG
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(m, k, generator=gen, dtype=torch.float64).to(BF16)
    w = (torch.randn(n, k, generator=gen, dtype=torch.float64) / k**0.5).to(BF16)
    b = torch.randn(n, generator=gen, dtype=torch.float64).to(BF16)
    out = OPS.linear_act(x, w, b, "sigmoid", None)
    assert out.shape == (m, n) and out.dtype == BF16
    rows = torch.tensor([0, 1, BIG // n - 1, BIG // n, BIG // n + 1, m - 2, m - 1]
                        + torch.randint(0, m, (300,), generator=gen).tolist())
    ref = torch.sigmoid(x[rows].double() @ w.double().T + b.double())
    _close(out[rows], ref)
    # backward through all rows: g = out (any values), saved = out (sigmoid saves its output)
    dx, dw, db = OPS._linear_act_bwd(out, x, w, out, "sigmoid", None, [True, True, True])
    assert dx.shape == (m, k) and dw.shape == (n, k) and db.shape == (n,)
    dx_rows = dx[rows].double()
    del dx
    y = out[rows].double()
    _close(dx_rows, (y * y * (1 - y)) @ w.double(), scale=2.0)
    # dw, db over all rows: float32 within blocks of rows, float64 across blocks (errors ~1e-6,
    # far below bfloat16's tolerance; a float64 pass over 2^31 elements takes minutes on 2 cores)
    dw_ref = torch.zeros(n, k, dtype=torch.float64)
    db_ref = torch.zeros(n, dtype=torch.float64)
    for s in range(0, m, 16384):
        y = out[s:s + 16384].float()
        dz = (1 - y).mul_(y).mul_(y)
        dw_ref += (x[s:s + 16384].float().T @ dz).T.double()  # (this order: 6x faster than dz.T @ x)
        db_ref += dz.sum(0).double()
    rtol, atol = TOL[BF16]
    mag = db_ref[:, None] * x.abs().amax(0).double()[None, :]  # >= sum_r |dz[r, n] x[r, k]| (dz >= 0)
    assert ((dw.double() - dw_ref).abs() <= atol * mag + rtol * dw_ref.abs()).all()
    torch.testing.assert_close(db.double(), db_ref, rtol=rtol, atol=atol * db_ref.abs().max().item())
