"""CUDA kernels of torch_act against float64 references.

Skipped as a whole when no CUDA device is visible.  Every activation in the
registry (torch_act.ACTIVATIONS) is checked for every dtype, so a new
activation is tested here without edits (its PyTorch reference is the
registry's own, evaluated by tests/reference.py).
"""
import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

import torch_act
from conftest import ALPHAS
from reference import reference_activation, reference_linear_act as ref_linear

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

DEV = "cuda"
ACTS = list(torch_act.ACTIVATIONS)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
LOWP = [torch.float16, torch.bfloat16]
ROWWISE = [n for n, s in torch_act.ACTIVATIONS.items() if s.rowwise]

# tolerance relative to the largest reference magnitude (GEMM results) and
# (rtol, atol) for elementwise results, per dtype
GEMM_TOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.float16: 1e-2, torch.bfloat16: 3e-2}
TF32_TOL = 1e-2
ELEM_TOL = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (2e-5, 2e-6),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1e-2),
}
GRAD_ELEM_ATOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 6e-2}


def gemm_tol(dtype, tf32=False):
    if dtype == torch.float32 and tf32:
        return TF32_TOL
    return GEMM_TOL[dtype]


def assert_rel(actual, ref, tol, what=""):
    assert actual.shape == ref.shape, (what, actual.shape, ref.shape)
    actual = actual.double()
    assert torch.isfinite(actual).all() == torch.isfinite(ref).all(), f"{what}: non-finite mismatch"
    scale = ref.abs().max().item() if ref.numel() else 0.0
    err = (actual - ref).abs().max().item() if ref.numel() else 0.0
    assert err <= tol * max(scale, 1e-3), f"{what}: max err {err:.3g} > {tol:g} * {scale:.3g}"


@contextlib.contextmanager
def allow_tf32(enabled):
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


@pytest.fixture
def tf32_off():
    with allow_tf32(False):
        yield


def make_linear(M, K, N, dtype, bias=True, seed=0):
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = torch.randn(M, K, device=DEV, dtype=torch.float64, generator=g).to(dtype)
    w = (torch.randn(N, K, device=DEV, dtype=torch.float64, generator=g) / math.sqrt(max(K, 1)) * 2).to(dtype)
    b = torch.randn(N, device=DEV, dtype=torch.float64, generator=g).to(dtype) if bias else None
    return x, w, b


def test_built_with_cuda():
    assert torch_act.build_info()["with_cuda"], "torch_act was built without its CUDA kernels"


def test_every_op_has_a_cuda_kernel():
    for op in ("linear_act", "activation", "mlp", "_linear_act_fwd", "_linear_act_bwd", "_mlp_fwd",
               "_mlp_bwd", "_mlp_flat_bwd", "_activation_bwd", "linear_glu", "_linear_glu_fwd", "_linear_glu_bwd"):
        dump = torch._C._dispatch_dump(f"torch_act::{op}")
        assert "CUDA: registered" in dump, dump


# ------------------------------------------------------------------ activation op
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", [(3, 1000), (257, 17), (2, 3000), (4099,)], ids=str)
def test_activation_forward_backward(name, dtype, shape):
    torch.manual_seed(0)
    x = (torch.randn(shape, device=DEV, dtype=torch.float64) * 3).to(dtype)
    if name == "softplus":  # exercise the linear branch too
        x.view(-1)[:7] = torch.tensor([25.0, 21.0, 20.5, 19.5, -30.0, 0.0, 1e-3], dtype=dtype)
    if name == "hardswish":  # torch's derivative at exactly +-3 differs from the functor's
        x = torch.where(x.abs() == 3, x * 1.125, x)
    x.requires_grad_(True)
    y = torch_act.activation(x, name)
    x64 = x.detach().double().requires_grad_(True)
    y64 = reference_activation(name, x64)
    rtol, atol = ELEM_TOL[dtype]
    torch.testing.assert_close(y.double(), y64.detach(), rtol=rtol, atol=atol)
    gy = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, gy)
    (gx64,) = torch.autograd.grad(y64, x64, gy.double())
    torch.testing.assert_close(gx.double(), gx64, rtol=ELEM_TOL[dtype][0] * 4, atol=GRAD_ELEM_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_activation_misaligned_scalar_path(dtype):
    base = torch.randn(1 + 1031, device=DEV, dtype=torch.float64).to(dtype)
    x = base[1:]  # contiguous, but not 16-byte aligned
    for name in ("gelu", "silu", "leaky_relu"):
        y = torch_act.activation(x, name)
        rtol, atol = ELEM_TOL[dtype]
        torch.testing.assert_close(y.double(), reference_activation(name, x.double()), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "softplus"])
@pytest.mark.parametrize("alpha", [-0.5, 0.3, 2.0])
def test_activation_alpha(name, alpha):
    x = torch.randn(1000, device=DEV, dtype=torch.float32, requires_grad=True)
    y = torch_act.activation(x, name, alpha)
    x64 = x.detach().double().requires_grad_(True)
    y64 = reference_activation(name, x64, alpha)
    torch.testing.assert_close(y.double(), y64.detach(), rtol=2e-5, atol=2e-6)
    (gx,) = torch.autograd.grad(y.sum(), x)
    (gx64,) = torch.autograd.grad(y64.sum(), x64)
    torch.testing.assert_close(gx.double(), gx64, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ linear_act
LAYOUTS = ["x_t", "w_t", "both_t", "x_sliced", "x_offset", "w_expanded", "x_3d"]
SHAPES = [(1, 1, 1), (17, 17, 17), (129, 257, 65), (257, 129, 129), (64, 96, 200)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ACTS)
def test_linear_act_all(name, dtype, tf32_off):
    for (M, K, N) in SHAPES:
        x, w, b = make_linear(M, K, N, dtype)
        y = torch_act.linear_act(x, w, b, name)
        assert_rel(y, ref_linear(x, w, b, name), gemm_tol(dtype), f"{name} {dtype} {(M, K, N)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ACTS)
def test_linear_act_backward(name, dtype, tf32_off):
    for (M, K, N), bias in [((33, 40, 24), True), ((129, 17, 65), True), ((16, 64, 9), False)]:
        x, w, b = make_linear(M, K, N, dtype, bias=bias, seed=1)
        leaves = [t.requires_grad_(True) for t in (x, w, b) if t is not None]
        y = torch_act.linear_act(x, w, b, name)
        gy = torch.randn_like(y)
        grads = torch.autograd.grad(y, leaves, gy)
        leaves64 = [t.detach().double().requires_grad_(True) for t in leaves]
        y64 = ref_linear(leaves64[0], leaves64[1], leaves64[2] if bias else None, name)
        grads64 = torch.autograd.grad(y64, leaves64, gy.double())
        # low precision: dz is rounded to the dtype before the products
        tol = gemm_tol(dtype) * (3 if dtype in LOWP else 1)
        for what, g, g64 in zip(("dx", "dw", "db"), grads, grads64):
            assert_rel(g, g64, tol, f"{name} {dtype} {(M, K, N)} {what}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["gelu", "relu", "softmax", "log_softmax", "identity"])
def test_linear_act_big_tiles(name, dtype, tf32_off):
    # enough 128x128 tiles to select the big configuration; N <= 128 fuses softmax there
    for (M, K, N) in [(4096, 96, 640), (16896, 40, 72), (3000, 136, 1100)]:
        x, w, b = make_linear(M, K, N, dtype, seed=2)
        y = torch_act.linear_act(x, w, b, name)
        assert_rel(y, ref_linear(x, w, b, name), gemm_tol(dtype), f"{name} {dtype} {(M, K, N)}")


@pytest.mark.parametrize("tile", ["big", "small"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, "tf32"], ids=str)
def test_forced_tile_configs(tile, dtype, monkeypatch):
    # both tensor-core tile shapes on small problems, every operand layout, fused and unfused softmax
    monkeypatch.setenv("TORCH_ACT_CUDA_TILE", tile)
    tf32 = dtype == "tf32"
    dtype = torch.float32 if tf32 else dtype
    with allow_tf32(tf32):
        for layout in LAYOUTS:
            check_strides(layout, dtype, tf32)
        for (M, K, N) in [(200, 72, 100), (130, 40, 260), (5, 300, 129)]:
            x, w, b = make_linear(M, K, N, dtype, seed=12)
            for name in ("softmax", "log_softmax", "gelu_tanh"):
                y = torch_act.linear_act(x, w, b, name)
                assert_rel(y, ref_linear(x, w, b, name), gemm_tol(dtype, tf32), f"{tile} {name} {(M, K, N)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_linear_act_strides(layout, dtype, tf32_off):
    check_strides(layout, dtype, tf32=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_linear_act_strides_tf32(layout):
    with allow_tf32(True):
        check_strides(layout, torch.float32, tf32=True)


def apply_x_layout(x, layout):
    """x [M, K] in one of the layouts the stride tests cover (others: unchanged)."""
    M, K = x.shape
    if layout in ("x_t", "both_t"):
        return x.t().contiguous().t()  # [M, K] with unit stride along M
    if layout == "x_sliced":
        return torch.cat([x, x[:, :8]], 1)[:, :K]  # row stride K + 8
    if layout == "x_offset":
        return torch.cat([x.view(-1)[:1], x.reshape(-1)])[1:].view(M, K)  # misaligned start
    if layout == "x_3d":
        return x.view(7, M // 7, K).transpose(0, 1)  # non-viewable flatten
    return x


def check_strides(layout, dtype, tf32):
    M, K, N = 70, 48, 40
    x, w, b = make_linear(M, K, N, dtype, seed=3)
    x = apply_x_layout(x, layout)
    if layout in ("w_t", "both_t"):
        w = w.t().contiguous().t()
    if layout == "w_expanded":
        w = w[:1].expand(N, K)  # zero row stride
    x = x.detach().requires_grad_(True)  # views above stay leaves
    w = w.detach().requires_grad_(True)
    y = torch_act.linear_act(x, w, b, "silu")
    ref = ref_linear(x.detach().reshape(-1, K), w.detach(), b, "silu").reshape(y.shape)
    assert_rel(y, ref, gemm_tol(dtype, tf32), layout)
    gy = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), gy)
    x64 = x.detach().double().requires_grad_(True)
    w64 = w.detach().double().requires_grad_(True)
    y64 = F.silu(F.linear(x64, w64, b.double()))
    gx64, gw64 = torch.autograd.grad(y64, (x64, w64), gy.double())
    tol = gemm_tol(dtype, tf32) * (3 if dtype in LOWP else 1)
    assert_rel(gx, gx64, tol, layout + " dx")
    assert_rel(gw, gw64, tol, layout + " dw")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_linear_act_expanded_grad(dtype, tf32_off):
    # y.sum().backward() hands the kernels a grad_out with zero strides
    x, w, b = make_linear(37, 29, 23, dtype, seed=4)
    for t in (x, w, b):
        t.requires_grad_(True)
    torch_act.linear_act(x, w, b, "tanh").sum().backward()
    x64, w64, b64 = (t.detach().double().requires_grad_(True) for t in (x, w, b))
    torch.tanh(F.linear(x64, w64, b64)).sum().backward()
    tol = gemm_tol(dtype) * (3 if dtype in LOWP else 1)
    for t, t64 in ((x, x64), (w, w64), (b, b64)):
        assert_rel(t.grad, t64.grad, tol, "expanded grad")


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (17, 17, 17), (129, 129, 129), (257, 257, 257), (1, 257, 17), (257, 1, 129)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_linear_act_ragged_sizes(M, K, N, dtype, tf32_off):
    x, w, b = make_linear(M, K, N, dtype, seed=5)
    for name in ("gelu", "softmax"):
        y = torch_act.linear_act(x, w, b, name)
        assert_rel(y, ref_linear(x, w, b, name), gemm_tol(dtype), f"{name} {(M, K, N)}")


@pytest.mark.parametrize("M,K,N", [(0, 8, 8), (8, 0, 8), (8, 8, 0)])
def test_linear_act_empty_dims(M, K, N):
    x, w, b = make_linear(M, K, N, torch.float32)
    for t in (x, w, b):
        t.requires_grad_(True)
    y = torch_act.linear_act(x, w, b, "gelu")
    assert_rel(y, ref_linear(x, w, b, "gelu"), 1e-5, f"empty {(M, K, N)}")
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and b.grad.shape == b.shape
    if M == 0:
        assert (w.grad == 0).all() and (b.grad == 0).all()
    if N == 0:
        assert (x.grad == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mlp(dtype, tf32_off):
    dims, acts = [40, 72, 33, 17], ["gelu", "softmax", "tanh"]
    g = torch.Generator(device=DEV).manual_seed(13)
    x = torch.randn(25, dims[0], device=DEV, dtype=torch.float64, generator=g).to(dtype)
    ws = [(torch.randn(dims[i + 1], dims[i], device=DEV, dtype=torch.float64, generator=g) * 2 / dims[i] ** 0.5)
          .to(dtype) for i in range(3)]
    bs = [torch.randn(dims[1], device=DEV, dtype=torch.float64, generator=g).to(dtype), None,
          torch.randn(dims[3], device=DEV, dtype=torch.float64, generator=g).to(dtype)]
    leaves = [t.requires_grad_(True) for t in [x] + ws + [b for b in bs if b is not None]]
    y = torch_act.mlp(x, ws, bs, acts)
    leaves64 = [t.detach().double().requires_grad_(True) for t in leaves]
    x64, ws64, bs64 = leaves64[0], leaves64[1:4], [leaves64[4], None, leaves64[5]]
    h = x64
    for w64, b64, a in zip(ws64, bs64, acts):
        h = ref_linear(h, w64, b64, a)
    tol = gemm_tol(dtype) * (3 if dtype in LOWP else 1)
    assert_rel(y, h.detach(), tol, f"mlp {dtype}")
    gy = torch.randn_like(y)
    grads = torch.autograd.grad(y, leaves, gy)
    grads64 = torch.autograd.grad(h, leaves64, gy.double())
    for i, (gr, gr64) in enumerate(zip(grads, grads64)):
        assert_rel(gr, gr64, tol * 2, f"mlp {dtype} grad {i}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_tf32_on_off(dtype):
    M, K, N = 256, 1024, 192
    x, w, b = make_linear(M, K, N, dtype, seed=6)
    ref = ref_linear(x, w, b, "identity")
    with allow_tf32(False):
        y_off = torch_act.linear_act(x, w, b)
    with allow_tf32(True):
        y_on = torch_act.linear_act(x, w, b)
    assert_rel(y_off, ref, gemm_tol(dtype), "tf32 off")
    assert_rel(y_on, ref, gemm_tol(dtype, tf32=True), "tf32 on")
    if dtype == torch.float32:
        # full fp32 must be much closer than tf32 (10-bit mantissa operands)
        err_off = (y_off.double() - ref).abs().max().item()
        err_on = (y_on.double() - ref).abs().max().item()
        assert err_off < 1e-4 * ref.abs().max().item()
        assert err_on > err_off


def test_bias_grad_deterministic():
    x, w, b = make_linear(4099, 64, 300, torch.float32, seed=7)
    b.requires_grad_(True)
    gy = torch.randn(4099, 300, device=DEV)
    runs = [torch.autograd.grad(torch_act.linear_act(x, w, b, "gelu"), b, gy)[0] for _ in range(3)]
    for r in runs[1:]:
        assert torch.equal(r, runs[0])


# ------------------------------------------------------------------ linear_glu
# The fused forward (kernels/cuda/glu.cu): the two weights interleaved per
# block tile (BN/2 gate rows, then the BN/2 up rows of the same outputs, BN =
# 128 or 64 on tensor cores, 64 on CUDA cores) and act(z_gate) * z_up in the
# GEMM epilogue; a plugin's gate takes the composition (identity GEMM over
# cat(Wg, Wu), its elementwise kernel, a multiply).  The shapes put N off
# every half tile (64, 32) and off 8 (the scalar stores), M and K odd, and
# several column tiles, so a gate/up pair read from the wrong stage columns,
# a wrong output column or a wrong z half shows up as a large error.
OPS = torch.ops.torch_act
GLU_ACTS = [n for n in ACTS if not torch_act.ACTIVATIONS[n].rowwise]  # built-ins and plugins
GLU_MODES = ["float32", "tf32", "float64", "float16", "bfloat16"]
GLU_SHAPES = [(1, 1, 1), (37, 13, 5), (129, 61, 97), (131, 67, 40), (64, 64, 128), (3, 300, 72),
              (70, 33, 131), (5, 8, 33)]
GLU_BIAS = ["both", None, "gate", "up"]


def glu_mode(mode):
    """(dtype, tf32) of a GLU_MODES entry."""
    return (torch.float32, True) if mode == "tf32" else (getattr(torch, mode), False)


def make_glu(M, K, N, dtype, bias, seed=0):
    g = torch.Generator(device=DEV).manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, device=DEV, dtype=torch.float64, generator=g)

    x = r(M, K).to(dtype)
    wg = (r(N, K) * 2 / math.sqrt(K)).to(dtype)
    wu = (r(N, K) / math.sqrt(K)).to(dtype)
    bg = r(N).to(dtype) if bias in ("both", "gate") else None
    bu = r(N).to(dtype) if bias in ("both", "up") else None
    return x, wg, wu, bg, bu


def check_glu(out, z, x, wg, wu, bg, bu, name, alpha, tol, what):
    """out (and z = [z_gate | z_up] unless None) against float64 from the rounded inputs.

    The GEMM error bound tol is relative to the largest |z| (as assert_rel's);
    it is carried through act(z_gate) * z_up elementwise with the activation's
    largest slope, plus tol of |out| for the rounding of the output."""
    def d(t):
        return None if t is None else t.detach().double()

    zg = F.linear(d(x), d(wg), d(bg))
    zu = F.linear(d(x), d(wu), d(bu))
    leaf = zg.clone().requires_grad_(True)
    yg = reference_activation(name, leaf, alpha)
    (slope,) = torch.autograd.grad(yg.sum(), leaf)
    yg = yg.detach()
    ref = yg * zu
    assert out.shape == ref.shape and out.dtype == x.dtype, (what, out.shape, out.dtype)
    assert torch.isfinite(out).all(), f"{what}: non-finite output"
    eg, eu = tol * zg.abs().max().item(), tol * zu.abs().max().item()
    s = slope.abs().max().item()
    budget = 2 * (s * eg * zu.abs() + (yg.abs() + s * eg) * eu + tol * ref.abs()) + 1e-30
    err = (out.double() - ref).abs()
    worst = (err / budget).max().item()
    assert worst <= 1, f"{what}: error {worst:.3g} times the budget (max error {err.max().item():.3g})"
    if z is not None:
        assert z.shape == (*ref.shape[:-1], 2 * ref.shape[-1]) and z.dtype == x.dtype, (what, z.shape)
        assert_rel(z, torch.cat([zg, zu], -1), tol, what + " z")


def run_glu(x, wg, wu, bg, bu, name, alpha, tol, what):
    """The op without z (linear_glu, no autograd) and with z (_linear_glu_fwd):
    both checked, and out must not depend on whether z is stored."""
    out = OPS.linear_glu(x, wg, wu, bg, bu, name, alpha)
    out2, z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, name, alpha)
    check_glu(out, None, x, wg, wu, bg, bu, name, alpha, tol, what)
    check_glu(out2, z, x, wg, wu, bg, bu, name, alpha, tol, what + " (z saved)")
    assert torch.equal(out, out2), what + ": out differs with z saved"


def test_linear_glu_acts_include_plugins():
    plugins = [n for n in GLU_ACTS if not torch_act.ACTIVATIONS[n].builtin]
    assert plugins, "the session's plugin activation (tests/plugins.py) is missing"


@pytest.mark.parametrize("mode", GLU_MODES)
@pytest.mark.parametrize("name", GLU_ACTS)
def test_linear_glu_forward(name, mode):
    dtype, tf32 = glu_mode(mode)
    alpha = ALPHAS.get(name)
    with allow_tf32(tf32):
        for i, (M, K, N) in enumerate(GLU_SHAPES):
            bias = GLU_BIAS[i % len(GLU_BIAS)]
            x, wg, wu, bg, bu = make_glu(M, K, N, dtype, bias, seed=20 + i)
            run_glu(x, wg, wu, bg, bu, name, alpha, gemm_tol(dtype, tf32),
                    f"{name} {mode} {(M, K, N)} bias={bias}")


@pytest.mark.parametrize("tile", ["big", "small"])
@pytest.mark.parametrize("mode", ["float16", "bfloat16", "tf32"])
def test_linear_glu_forced_tiles(tile, mode, monkeypatch):
    # both tensor-core tile widths (interleaved by 64 or by 32) on small shapes
    monkeypatch.setenv("TORCH_ACT_CUDA_TILE", tile)
    dtype, tf32 = glu_mode(mode)
    with allow_tf32(tf32):
        for i, (M, K, N) in enumerate([(200, 72, 100), (130, 40, 260), (5, 300, 129), (67, 24, 64),
                                       (129, 9, 8), (257, 17, 65)]):
            bias = GLU_BIAS[i % len(GLU_BIAS)]
            x, wg, wu, bg, bu = make_glu(M, K, N, dtype, bias, seed=50 + i)
            for name in ("silu", "gelu_tanh", "relu", "identity", "leaky_relu"):
                run_glu(x, wg, wu, bg, bu, name, ALPHAS.get(name), gemm_tol(dtype, tf32),
                        f"{tile} {name} {mode} {(M, K, N)} bias={bias}")


@pytest.mark.parametrize("mode", GLU_MODES)
def test_linear_glu_big_shapes(mode):
    # enough 128x128 tiles of the [M, 2N] product to pick the big configuration unforced
    dtype, tf32 = glu_mode(mode)
    with allow_tf32(tf32):
        for (M, K, N), name in [((4097, 72, 300), "silu"), ((8192, 40, 640), "gelu")]:
            x, wg, wu, bg, bu = make_glu(M, K, N, dtype, "both", seed=60)
            run_glu(x, wg, wu, bg, bu, name, None, gemm_tol(dtype, tf32), f"{name} {mode} {(M, K, N)}")


@pytest.mark.parametrize("mode", GLU_MODES)
@pytest.mark.parametrize("layout", ["x_t", "w_t", "x_sliced", "x_offset", "w_expanded", "x_3d"])
def test_linear_glu_strides(layout, mode):
    dtype, tf32 = glu_mode(mode)
    M, K, N = 70, 48, 45
    x, wg, wu, bg, bu = make_glu(M, K, N, dtype, "both", seed=30)
    x = apply_x_layout(x, layout)
    if layout == "w_t":
        wg, wu = wg.t().contiguous().t(), wu.t().contiguous().t()
    if layout == "w_expanded":
        wu = wu[:1].expand(N, K)  # zero row stride
    with allow_tf32(tf32):
        for name in ("silu", "gelu"):
            run_glu(x, wg, wu, bg, bu, name, None, gemm_tol(dtype, tf32), f"{layout} {name} {mode}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["silu", "gelu", "relu", "sigmoid"] + [
    n for n in GLU_ACTS if not torch_act.ACTIVATIONS[n].builtin])
def test_linear_glu_backward(name, dtype, tf32_off):
    # the backward (unchanged: composed) reads the z the fused forward saved
    alpha = ALPHAS.get(name)
    tol = gemm_tol(dtype) * 3
    for (M, K, N), bias in [((37, 61, 97), "both"), ((16, 64, 40), "gate"), ((5, 9, 3), None)]:
        x, wg, wu, bg, bu = make_glu(M, K, N, dtype, bias, seed=40)
        named = [(n, t) for n, t in zip(("dx", "dwg", "dwu", "dbg", "dbu"), (x, wg, wu, bg, bu)) if t is not None]
        leaves = [t.requires_grad_(True) for _, t in named]
        out = torch_act.linear_glu(x, wg, wu, bg, bu, name, alpha)
        gy = torch.randn_like(out)
        grads = torch.autograd.grad(out, leaves, gy)
        # reference from the saved (rounded) z, so kinks see the same side as the kernels
        _, z = OPS._linear_glu_fwd(x.detach(), wg.detach(), wu.detach(), None if bg is None else bg.detach(),
                                   None if bu is None else bu.detach(), name, alpha)
        zg, zu = z.double().chunk(2, -1)
        zg = zg.requires_grad_(True)
        y = reference_activation(name, zg, alpha)
        g64 = gy.double()
        (dg,) = torch.autograd.grad(y, zg, g64 * zu)
        du = g64 * y.detach()
        x64, wg64, wu64 = x.detach().double(), wg.detach().double(), wu.detach().double()
        refs = {"dx": dg @ wg64 + du @ wu64, "dwg": dg.T @ x64, "dwu": du.T @ x64, "dbg": dg.sum(0),
                "dbu": du.sum(0)}
        for (what, _), gr in zip(named, grads):
            assert_rel(gr, refs[what], tol, f"{name} {dtype} {(M, K, N)} {what}")


@pytest.mark.parametrize("name", ["silu"] + [n for n in GLU_ACTS if not torch_act.ACTIVATIONS[n].builtin])
def test_linear_glu_cuda_graph(name):
    # the interleave (ATen copies into a fresh buffer) and the GEMM are capturable
    x, wg, wu, bg, bu = make_glu(96, 40, 70, torch.float16, "both", seed=70)
    OPS._linear_glu_fwd(x, wg, wu, bg, bu, name, None)  # warm-up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out, static_z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, name, None)
    x2, wg2, wu2, bg2, bu2 = make_glu(96, 40, 70, torch.float16, "both", seed=71)
    for t, t2 in zip((x, wg, wu, bg, bu), (x2, wg2, wu2, bg2, bu2)):
        t.copy_(t2)
    graph.replay()
    out, z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, name, None)
    torch.testing.assert_close(static_out, out, rtol=0, atol=0)
    torch.testing.assert_close(static_z, z, rtol=0, atol=0)


# ------------------------------------------------------------------ gradcheck / opcheck
@pytest.mark.parametrize("name", ACTS)
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    for (M, K, N) in [(5, 7, 6), (4, 3, 8)]:
        x = torch.randn(M, K, device=DEV, dtype=torch.float64, requires_grad=True)
        w = torch.randn(N, K, device=DEV, dtype=torch.float64, requires_grad=True)
        b = torch.randn(N, device=DEV, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, w, b: torch_act.linear_act(x, w, b, name), (x, w, b))
    z = torch.randn(3, 11, device=DEV, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: torch_act.activation(z, name), (z,))


@pytest.mark.parametrize(
    "name,dtype",
    [("gelu", torch.float32), ("softmax", torch.float32), ("identity", torch.float32),
     ("leaky_relu", torch.float32), ("relu", torch.float16)],
    ids=str,
)
def test_opcheck(name, dtype):
    ops = torch.ops.torch_act
    x, w, b = make_linear(9, 24, 16, dtype, seed=8)
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    torch.library.opcheck(ops.linear_act.default, (x, w, b, name, None))
    torch.library.opcheck(ops.linear_act.default, (x, w, None, name, None))
    torch.library.opcheck(ops.activation.default, (x, name, None))
    xd, wd, bd = x.detach(), w.detach(), b.detach()
    torch.library.opcheck(ops._linear_act_fwd.default, (xd, wd, bd, name, None))
    out, saved = ops._linear_act_fwd(xd, wd, bd, name, None)
    uses_out = saved.numel() == 0
    s = out if uses_out else saved
    g = torch.randn_like(out)
    for mask in ([True, True, True], [True, False, False], [False, True, True]):
        torch.library.opcheck(ops._linear_act_bwd.default, (g, xd, wd, s, name, None, mask))
    y = ops.activation(xd, name, None)
    torch.library.opcheck(ops._activation_bwd.default, (torch.randn_like(y), y if uses_out else xd, name, None))


# ------------------------------------------------------------------ CUDA graphs
@pytest.mark.parametrize("name,K", [("gelu", 64), ("softmax", 200), ("tanh", 17)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
def test_cuda_graph_capture_replay(name, K, dtype):
    M, N = 96, 130
    x, w, b = make_linear(M, K, N, dtype, seed=9)
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    gy = torch.randn(M, N, device=DEV, dtype=dtype)

    def step():
        y = torch_act.linear_act(x, w, b, name)
        return (y,) + torch.autograd.grad(y, (x, w, b), gy)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = step()
    for seed in (10, 11):
        x2, w2, b2 = make_linear(M, K, N, dtype, seed=seed)
        with torch.no_grad():
            x.copy_(x2)
            w.copy_(w2)
            b.copy_(b2)
            gy.copy_(torch.randn_like(gy))
        graph.replay()
        eager = step()
        for s, e in zip(static_out, eager):
            torch.testing.assert_close(s, e, rtol=0, atol=0)


def test_activation_cuda_graph():
    x = torch.randn(4, 1000, device=DEV)
    torch_act.activation(x, "mish")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y = torch_act.activation(x, "mish")
        z = torch_act.activation(x, "log_softmax")
    x.copy_(torch.randn_like(x))
    graph.replay()
    torch.testing.assert_close(y, F.mish(x), rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(z, torch.log_softmax(x, -1), rtol=2e-5, atol=2e-6)


# ------------------------------------------------------------------ devices
def test_mixed_device_raises():
    x = torch.randn(4, 8)
    w = torch.randn(5, 8, device=DEV)
    b = torch.randn(5, device=DEV)
    with pytest.raises(RuntimeError, match="device|cuda|cpu"):
        torch_act.linear_act(x, w, b, "relu")
    with pytest.raises(RuntimeError, match="device|cuda|cpu"):
        torch_act.linear_act(x.to(DEV), w, b.cpu(), "relu")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_second_device():
    x, w, b = (t.to("cuda:1") for t in make_linear(33, 40, 24, torch.float16))
    y = torch_act.linear_act(x, w, b, "gelu")
    assert y.device == x.device
    assert_rel(y, ref_linear(x, w, b, "gelu"), gemm_tol(torch.float16), "cuda:1")
