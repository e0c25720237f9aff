"""CPU kernels on every ISA path this machine supports (avx512 / avx2 / portable).

A hypothesis sweep over shapes (0..300, primes, non-multiples of the register
tiles), layouts (transposed / sliced x, w and grad), thread counts, every
activation and every dtype, against float64 PyTorch references:
  * forward: act(x64 @ w64.T + b64), from the same (rounded) inputs;
  * backward: the chain rule from the tensor the forward actually saved (z or
    y, rounded to the dtype), so kinks (relu at 0, hardswish at +-3) compare
    like with like, then dx = dz @ w, dw = dz.T @ x, db = dz.sum(0) in float64.
Plus fixed checks: the document's tiny Net shapes, K = 0 and M = 0, NaN/inf
propagation, deterministic db across thread counts, ISA switching errors and
the TORCH_ACT_CPU_ISA fallback at load.
"""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torch_act
from reference import reference_activation

ISAS = torch_act.supported_cpu_isas()
ACTS = list(torch_act.ACTIVATIONS)
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# error bound relative to max(1, max|reference|)
TOL = {torch.float32: 3e-5, torch.float64: 1e-12, torch.bfloat16: 3e-2, torch.float16: 4e-3}
_ops = torch.ops.torch_act


@pytest.fixture(autouse=True)
def _restore_isa_and_threads():
    isa, threads = torch_act.cpu_isa(), torch.get_num_threads()
    yield
    torch_act.set_cpu_isa(isa)
    torch.set_num_threads(threads)


def _close(actual, ref, tol, what):
    assert actual.shape == ref.shape, (what, actual.shape, ref.shape)
    if ref.numel() == 0:
        return
    a = actual.double()
    nan_ref, nan_a = torch.isnan(ref), torch.isnan(a)
    assert torch.equal(nan_ref, nan_a), f"{what}: NaN positions differ"
    fin = ~nan_ref
    scale = max(1.0, ref[fin].abs().max().item()) if fin.any() else 1.0
    err = (a[fin] - ref[fin]).abs().max().item() if fin.any() else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol * scale:.3g}"


def _layout(t, kind):
    """Same values, different strides: contiguous, transposed storage, or a slice."""
    if kind == "t":
        return t.t().contiguous().t()
    if kind == "slice":
        big = torch.zeros(t.shape[0], 2 * t.shape[1] + 1, dtype=t.dtype)
        big[:, 1::2] = t
        return big[:, 1::2]
    return t


def _alpha(act, draw_neg):
    spec = torch_act.ACTIVATIONS[act]
    if not spec.has_alpha:
        return None
    return -0.2 if (draw_neg and act == "leaky_relu") else (0.5 if act == "softplus" else 0.3)


def _dz_reference(act, alpha, s64, g64):
    """dL/dz in float64 from the saved tensor (z or y) as the kernel sees it."""
    spec = torch_act.ACTIVATIONS[act]
    a = spec.default_alpha if alpha is None else alpha
    uses_out = spec.saves in ("output", "nothing") or (
        spec.saves == "output_if_alpha_nonneg" and a >= 0)
    if act == "identity":
        return g64
    if uses_out:
        y = s64
        if act == "relu":
            return torch.where(y <= 0, torch.zeros_like(g64), g64)
        if act == "leaky_relu":
            return torch.where(y > 0, g64, g64 * a)
        if act == "sigmoid":
            return g64 * y * (1 - y)
        if act == "tanh":
            return g64 * (1 - y * y)
        if act == "softmax":
            return y * (g64 - (g64 * y).sum(-1, keepdim=True))
        if act == "log_softmax":
            return g64 - torch.exp(y) * g64.sum(-1, keepdim=True)
        if act == "relu6":
            return torch.where((y <= 0) | (y >= 6), torch.zeros_like(g64), g64)
        if act == "hardsigmoid":
            return torch.where((y > 0) & (y < 1), g64 / 6, torch.zeros_like(g64))
        raise AssertionError(f"{act} saves its output: add its derivative in terms of y here")
    z = s64.clone().requires_grad_()
    (dz,) = torch.autograd.grad(reference_activation(act, z, alpha), z, g64)
    return dz


def check_linear(isa, dtype, act, M, N, K, xl="c", wl="c", gl="c", threads=1, bias=True,
                 neg_alpha=False, mask=(True, True, True), seed=0):
    torch_act.set_cpu_isa(isa)
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    alpha = _alpha(act, neg_alpha)
    x = (torch.rand(M, K, generator=gen, dtype=torch.float64) * 2 - 1).to(dtype)
    w = ((torch.rand(N, K, generator=gen, dtype=torch.float64) * 2 - 1) / max(1, K) ** 0.5).to(dtype)
    b = (torch.rand(N, generator=gen, dtype=torch.float64) - 0.5).to(dtype) if bias else None
    x, w = _layout(x, xl), _layout(w, wl)
    tol = TOL[dtype]
    if dtype == torch.float64 and act in ("celu", "hardsigmoid"):
        # torch's float64 celu / hardsigmoid backward round 1/alpha, 1/6 to float32; ours are exact
        tol = (1e-6, 1e-6) if isinstance(tol, tuple) else 1e-6

    out, saved = _ops._linear_act_fwd(x, w, b, act, alpha)
    z64 = F.linear(x.double(), w.double(), None if b is None else b.double())
    _close(out, reference_activation(act, z64, alpha), tol, f"out[{isa},{dtype},{act}]")
    if saved.numel():  # the pre-activation z
        _close(saved, z64, tol, f"z[{isa},{dtype},{act}]")
    if K == 0:
        return  # (backward with K == 0 has empty dx/dw)

    g = _layout((torch.rand(M, N, generator=gen, dtype=torch.float64) * 2 - 1).to(dtype), gl)
    spec = torch_act.ACTIVATIONS[act]
    s = saved if saved.numel() else (out if spec.saves != "nothing" else saved)
    dx, dw, db = _ops._linear_act_bwd(g, x, w, s, act, alpha, list(mask))
    s64 = s.double() if spec.saves != "nothing" else None
    dz = _dz_reference(act, alpha, s64, g.double())
    if mask[0]:
        _close(dx, dz @ w.double(), tol, f"dx[{isa},{dtype},{act}]")
    if mask[1]:
        _close(dw, dz.t() @ x.double(), tol, f"dw[{isa},{dtype},{act}]")
    if mask[2]:
        _close(db, dz.sum(0), tol, f"db[{isa},{dtype},{act}]")


_PRIMES = [1, 2, 3, 5, 7, 13, 17, 31, 61, 97, 127, 131, 211, 257, 293]
_dim = st.one_of(st.integers(1, 300), st.sampled_from(_PRIMES))


@settings(max_examples=int(os.environ.get("TORCH_ACT_HYPOTHESIS_EXAMPLES", "250")),
          deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(isa=st.sampled_from(ISAS), dtype=st.sampled_from(DTYPES), act=st.sampled_from(ACTS),
       M=st.one_of(st.just(0), _dim), N=_dim, K=st.one_of(st.just(0), _dim),
       xl=st.sampled_from(["c", "t", "slice"]), wl=st.sampled_from(["c", "t", "slice"]),
       gl=st.sampled_from(["c", "t"]), threads=st.sampled_from([1, 2]), bias=st.booleans(),
       neg_alpha=st.booleans(), mask=st.tuples(st.booleans(), st.booleans(), st.booleans()),
       seed=st.integers(0, 2**16))
def test_linear_act_sweep(isa, dtype, act, M, N, K, xl, wl, gl, threads, bias, neg_alpha, mask, seed):
    check_linear(isa, dtype, act, M, N, K, xl, wl, gl, threads, bias, neg_alpha, mask, seed)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_activation_blocked_and_direct(isa, dtype):
    # one shape for the packed path (several K blocks for fp32 / fp64), one tiny
    for act in ACTS:
        check_linear(isa, dtype, act, 45, 70, 600, xl="t", threads=2, seed=1)
        check_linear(isa, dtype, act, 64, 10, 2, seed=2)


@pytest.mark.parametrize("isa", ISAS)
def test_tiny_net_shapes(isa):
    for (k, n, act) in [(2, 10, "relu"), (10, 5, "sigmoid"), (5, 1, "identity")]:
        for dtype in DTYPES:
            check_linear(isa, dtype, act, 64, n, k)


@pytest.mark.parametrize("isa", ISAS)
def test_empty_dims(isa):
    for dtype in DTYPES:
        for act in ["relu", "softmax", "gelu"]:
            check_linear(isa, dtype, act, 0, 7, 5)
            check_linear(isa, dtype, act, 9, 7, 0)  # out = act(b)
            check_linear(isa, dtype, act, 9, 7, 0, bias=False)  # out = act(0)
    torch_act.set_cpu_isa(isa)
    x, w = torch.zeros(0, 5), torch.randn(3, 5)
    dx, dw, db = _ops._linear_act_bwd(torch.zeros(0, 3), x, w, torch.zeros(0, 3), "relu", None,
                                      [True, True, True])
    assert torch.equal(dw, torch.zeros(3, 5)) and torch.equal(db, torch.zeros(3))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_nan_inf_propagation(isa, dtype):
    torch_act.set_cpu_isa(isa)
    for M, N, K in [(4, 3, 2), (40, 70, 300)]:  # direct and packed paths
        x = torch.randn(M, K, dtype=dtype)
        x[1, 0] = float("nan")
        x[2, 0] = float("inf")
        w = torch.randn(N, K, dtype=dtype)
        for act in ACTS:
            out = torch_act.linear_act(x, w, None, act)
            ref = reference_activation(act, F.linear(x.double(), w.double()), None)
            assert torch.equal(torch.isnan(out), torch.isnan(ref)), act
            assert torch.isnan(out[1]).all(), act  # relu(NaN) = NaN etc.
    big = torch.tensor([-1e30, -100.0, -20.0, -3.0, -1e-30, 0.0, 1e-30, 3.0, 20.0, 100.0, 1e30,
                        float("inf"), float("-inf"), float("nan")], dtype=dtype)
    for act in ACTS:
        if torch_act.ACTIVATIONS[act].rowwise:
            continue
        got = torch_act.activation(big, act)
        # rounded to the tested dtype: a finite float64 value past its range is inf there
        ref = reference_activation(act, big.double(), None).to(dtype).double()
        assert torch.equal(torch.isnan(got), torch.isnan(ref)), act
        fin = ~torch.isnan(ref)
        assert torch.allclose(got[fin].double(), ref[fin], rtol=1e-5, atol=1e-6), (act, got, ref)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_activation_ops(isa, dtype):
    torch_act.set_cpu_isa(isa)
    x = (torch.randn(37, 129, dtype=torch.float64) * 4).to(dtype)
    for act in ACTS:
        y = torch_act.activation(x, act)
        _close(y, reference_activation(act, x.double(), None), TOL[dtype], act)
        spec = torch_act.ACTIVATIONS[act]
        s = x if spec.saves == "input" else y  # (leaky_relu's default alpha >= 0: y)
        g = torch.randn_like(x)
        dx = _ops._activation_bwd(g, s if spec.saves != "nothing" else torch.empty(0, dtype=dtype),
                                  act, None)
        _close(dx, _dz_reference(act, None, s.double(), g.double()), TOL[dtype], "d" + act)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("K,N", [(64, 96), (7, 10)])  # the GEMM backward, the narrow-layer one
def test_grads_deterministic_across_threads(isa, K, N):
    torch_act.set_cpu_isa(isa)
    x, w = torch.randn(1000, K), torch.randn(N, K)
    s = torch.rand(1000, N)
    g = torch.randn(1000, N)
    res = []
    for t in (1, 2):
        torch.set_num_threads(t)
        res.append(_ops._linear_act_bwd(g, x, w, s, "sigmoid", None, [True, True, True]))
    for a, b in zip(*res):
        assert torch.equal(a, b)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs")
def test_kernels_really_use_threads():
    # at::parallel_for only runs in parallel when our code is compiled for
    # ATen's backend (-fopenmp with the OpenMP one); a build without it runs
    # every kernel on one thread and still passes every numeric test.
    torch.set_num_threads(2)
    assert torch_act._C.cpu_parallel_width() == 2
    torch.set_num_threads(1)
    assert torch_act._C.cpu_parallel_width() == 1


def test_isa_switching():
    assert ISAS[-1] == "portable"
    assert set(ISAS) <= set(torch_act._C.compiled_cpu_isas())
    for isa in ISAS:
        torch_act.set_cpu_isa(isa)
        assert torch_act.cpu_isa() == isa
    with pytest.raises(RuntimeError, match="unknown CPU ISA"):
        torch_act.set_cpu_isa("sse9")
    for isa in set(torch_act._C.compiled_cpu_isas()) - set(ISAS):
        with pytest.raises(RuntimeError, match="not supported"):
            torch_act.set_cpu_isa(isa)


@pytest.mark.parametrize("value,expect", [("portable", "portable"), ("bogus", None)])
def test_isa_env_at_load(value, expect):
    code = "import torch_act; print(torch_act.cpu_isa())"
    env = dict(os.environ, TORCH_ACT_CPU_ISA=value)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    got = r.stdout.strip().splitlines()[-1]
    if expect is None:
        assert got == ISAS[0]
        assert "TORCH_ACT_CPU_ISA=bogus" in r.stderr
    else:
        assert got == expect


def test_micro_peak_reports_every_kernel():
    """cpu_micro_peak runs the fp32 microkernel and FMA loop on every path, and
    the bf16 pair kernel / vdpbf16ps loop exactly where the path has them."""
    for isa in ISAS:
        torch_act.set_cpu_isa(isa)
        r = torch_act._C.cpu_micro_peak(0.01)
        assert r["isa"] == isa and r["mr"] > 0 and r["nr"] > 0
        assert r["microkernel_gflops"] > 0 and r["fma_loop_gflops"] > 0, r
        has_dot = isa in ("avx512", "amx") and "avx512_bf16" in _cpu_flags()
        assert (r["bf16_microkernel_gflops"] > 0) == has_dot, r
        assert (r["bf16_dot_loop_gflops"] > 0) == has_dot, r


def test_bf16_kernel_choice_measured():
    """Unforced, the avx512 path times a vdpbf16ps loop against an FMA loop once
    and takes the dot kernel exactly when it gives >= 1.25x the flops; the
    other paths report their own kernel (a fresh process: the choice is made
    once per process)."""
    code = ("import json, torch_act\n"
            "print(json.dumps([(i, (torch_act.set_cpu_isa(i), torch_act._C.cpu_bf16_kernel())[1])"
            " for i in torch_act.supported_cpu_isas()]))\n")
    env = {k: v for k, v in os.environ.items() if k != "TORCH_ACT_CPU_BF16_DOT"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for isa, k in json.loads(r.stdout.strip().splitlines()[-1]):
        assert k["isa"] == isa
        if isa == "amx":
            assert k["kernel"] == "amx", k
        elif isa != "avx512":
            assert k["kernel"] == "fp32 fma", k
        elif "avx512_bf16" not in _cpu_flags():
            assert k["kernel"] == "fp32 fma" and "no AVX512-BF16" in k["why"], k
        else:
            assert k["why"] == "measured" and k["dot_gflops"] > 0 and k["fma_gflops"] > 0, k
            assert (k["kernel"] == "vdpbf16ps") == (k["dot_gflops"] >= 1.25 * k["fma_gflops"]), k


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return []


@pytest.mark.skipif("avx512" not in ISAS, reason="needs the avx512 path")
@pytest.mark.parametrize("dot", ["1", "0"])
def test_bf16_dot_kernel_forced(dot):
    """Both bf16 GEMM kernels of the avx512 path, whichever one the timing
    picks on this machine: the AVX512-BF16 (vdpbf16ps) pair kernel forced on
    via TORCH_ACT_CPU_BF16_DOT=1, fp32 FMAs on widened operands via =0 (a
    fresh process each)."""
    if dot == "1" and "avx512_bf16" not in _cpu_flags():
        pytest.skip("the CPU has no AVX512-BF16")
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import test_cpu_isa as t, torch, torch_act\n"
        "torch_act.set_cpu_isa('avx512')\n"
        "k = torch_act._C.cpu_bf16_kernel()\n"
        "assert k['kernel'] == ('vdpbf16ps' if %r == '1' else 'fp32 fma'), k\n"
        "assert k['why'] == 'TORCH_ACT_CPU_BF16_DOT', k\n"
        "for act in ['relu', 'gelu', 'softmax']:\n"
        "    t.check_linear('avx512', torch.bfloat16, act, 70, 45, 301, xl='t', threads=2, seed=3)\n"
        "    t.check_linear('avx512', torch.bfloat16, act, 33, 70, 130, wl='slice', seed=4)\n"
        # the backward GEMMs' transposed operands packed k-outer over many
        # panels (w^T for dx, dz^T and x^T for dw), an odd K for dw (M = 77)
        "    t.check_linear('avx512', torch.bfloat16, act, 77, 300, 1000, threads=2, seed=5)\n"
        "print('ok')\n" % (os.path.dirname(os.path.abspath(__file__)), dot))
    env = dict(os.environ, TORCH_ACT_CPU_BF16_DOT=dot)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
