"""Forward values of every op, activation, dtype and device against float64 PyTorch."""
import zlib

import pytest
import torch
import torch.nn.functional as F

import torch_act
from conftest import ACTS, ALL_DEVICES, ALPHAS, DTYPES, ELEMENTWISE, ROWWISE, assert_close, randn
from reference import reference_activation, reference_linear_act


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_act_values(act, dtype, device, bias, poison):
    g = torch.Generator().manual_seed(zlib.crc32(f"{act}{dtype}{bias}".encode()))
    M, K, N = 37, 29, 23  # not multiples of any tile size
    x = randn(M, K, dtype=dtype, device=device, generator=g)
    w = randn(N, K, dtype=dtype, device=device, generator=g, scale=K**-0.5)
    b = randn(N, dtype=dtype, device=device, generator=g) if bias else None
    alpha = ALPHAS.get(act)
    out = torch_act.linear_act(x, w, b, act, alpha)
    assert out.shape == (M, N) and out.dtype == dtype and out.device.type == device
    assert_close(out, reference_linear_act(x, w, b, act, alpha), dtype)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("alpha", [None, "custom"])
def test_linear_act_default_and_custom_alpha(act, alpha, poison):
    spec = torch_act.ACTIVATIONS[act]
    if alpha == "custom" and not spec.has_alpha:
        pytest.skip("activation takes no alpha")
    a = ALPHAS[act] if alpha == "custom" else None
    x, w, b = randn(8, 5), randn(6, 5), randn(6)
    out = torch_act.linear_act(x, w, b, act, a)
    assert_close(out, reference_linear_act(x, w, b, act, a), torch.float32)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ["relu", "gelu", "softmax", "sigmoid"])
def test_leading_batch_dims(act, device, poison):
    x = randn(2, 3, 4, 7, device=device)
    w, b = randn(5, 7, device=device), randn(5, device=device)
    out = torch_act.linear_act(x, w, b, act)
    assert out.shape == (2, 3, 4, 5)
    assert_close(out, reference_linear_act(x, w, b, act), torch.float32)
    # 1-D input: a single row
    out1 = torch_act.linear_act(x[0, 0, 0], w, b, act)
    assert out1.shape == (5,)
    assert_close(out1, reference_linear_act(x[0, 0, 0], w, b, act), torch.float32)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["x_T", "w_T", "both_T", "strided", "batched_T"])
def test_non_contiguous_inputs(layout, dtype, device, poison):
    g = torch.Generator().manual_seed(1)
    M, K, N = 19, 13, 11
    if layout in ("x_T", "both_T"):
        x = randn(K, M, dtype=dtype, device=device, generator=g).T
    elif layout == "strided":
        x = randn(M, 2 * K, dtype=dtype, device=device, generator=g)[:, ::2]
    elif layout == "batched_T":
        x = randn(3, K, M, dtype=dtype, device=device, generator=g).transpose(1, 2)
    else:
        x = randn(M, K, dtype=dtype, device=device, generator=g)
    if layout in ("w_T", "both_T"):
        w = randn(K, N, dtype=dtype, device=device, generator=g).T
    elif layout == "strided":
        w = randn(N, 3 * K, dtype=dtype, device=device, generator=g)[:, 1::3]
    else:
        w = randn(N, K, dtype=dtype, device=device, generator=g)
    b = randn(2 * N, dtype=dtype, device=device, generator=g)[::2]  # strided bias
    assert not (x.is_contiguous() and w.is_contiguous())
    out = torch_act.linear_act(x, w, b, "silu")
    assert_close(out, reference_linear_act(x, w, b, "silu"), dtype, scale=4)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ["relu", "softmax", "gelu"])
def test_empty_edges(act, device, poison):
    # M = 0
    out = torch_act.linear_act(randn(0, 4, device=device), randn(3, 4, device=device), randn(3, device=device), act)
    assert out.shape == (0, 3)
    # K = 0: the product is empty, out = act(bias) (or act(0) without bias)
    b = randn(3, device=device)
    out = torch_act.linear_act(randn(5, 0, device=device), randn(3, 0, device=device), b, act)
    assert_close(out, reference_activation(act, b.expand(5, 3).double()), torch.float32)
    out = torch_act.linear_act(randn(5, 0, device=device), randn(3, 0, device=device), None, act)
    assert_close(out, reference_activation(act, torch.zeros(5, 3).double()), torch.float32)
    # N = 0
    out = torch_act.linear_act(randn(5, 4, device=device), randn(0, 4, device=device), None, act)
    assert out.shape == (5, 0)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_activation_values(act, dtype, device, poison):
    g = torch.Generator().manual_seed(7)
    x = randn(4, 5, 33, dtype=dtype, device=device, generator=g, scale=3.0)
    alpha = ALPHAS.get(act)
    out = torch_act.activation(x, act, alpha)
    assert out.shape == x.shape and out.dtype == dtype
    assert_close(out, reference_activation(act, x.double(), alpha), dtype)
    # non-contiguous input
    xt = x.transpose(0, 2)
    assert_close(torch_act.activation(xt, act, alpha), reference_activation(act, xt.double(), alpha), dtype)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_activation_large_and_scalar(act, poison):
    x = randn(100_003, scale=4.0)  # odd size: tails of vector loops, several threads
    assert_close(torch_act.activation(x, act), reference_activation(act, x.double()), torch.float32)
    s = torch.tensor(0.75)
    assert_close(torch_act.activation(s, act), reference_activation(act, s.double()), torch.float32)


@pytest.mark.parametrize("act", ROWWISE)
@pytest.mark.parametrize("n", [1, 2, 7, 16, 33, 1000, 4099])
def test_rowwise_lengths(act, n, poison):
    x = randn(5, n, scale=5.0)
    assert_close(torch_act.activation(x, act), reference_activation(act, x.double()), torch.float32)
    w, b = randn(n, 6), randn(n)
    xx = randn(5, 6)
    assert_close(torch_act.linear_act(xx, w, b, act), reference_linear_act(xx, w, b, act), torch.float32)


SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e30, -1e30, 88.0, -88.0, 20.5, -20.5,
           10.0, -10.0, 3.0, -3.0, 1e-30, -1e-30, 0.5, -0.5]


@pytest.mark.parametrize("act", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_special_values_match_pytorch(act, dtype):
    """NaN propagation and saturation behave as PyTorch's own functions (in
    float64: torch's float32 vector gelu turns +inf into NaN, its scalar and
    float64 paths give +inf, as we do)."""
    x = torch.tensor(SPECIAL * 3, dtype=dtype)  # long enough for the vector path
    ours = torch_act.activation(x, act)
    theirs = reference_activation(act, x.double()).to(dtype)
    torch.testing.assert_close(ours, theirs, equal_nan=True, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", ROWWISE)
def test_rowwise_special_values(act):
    x = torch.tensor([[1e30, 0.0, -1e30], [float("nan"), 1.0, 2.0], [-float("inf"), 0.0, 1.0],
                      [100.0, 100.0, 100.0]])
    torch.testing.assert_close(torch_act.activation(x, act), reference_activation(act, x), equal_nan=True)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mlp_values(dtype, device, poison):
    g = torch.Generator().manual_seed(3)
    sizes = [7, 33, 17, 5, 3]
    acts = ["relu", "gelu", "softplus", "softmax"]
    alphas = [None, None, 2.0, None]
    x = randn(2, 9, sizes[0], dtype=dtype, device=device, generator=g)
    ws = [randn(sizes[i + 1], sizes[i], dtype=dtype, device=device, generator=g, scale=sizes[i] ** -0.5)
          for i in range(len(acts))]
    bs = [randn(sizes[i + 1], dtype=dtype, device=device, generator=g) if i != 1 else None
          for i in range(len(acts))]
    out = torch_act.mlp(x, ws, bs, acts, alphas)
    ref = x
    for w, b, a, al in zip(ws, bs, acts, alphas):
        ref = reference_linear_act(ref, w, b, a, al)
    assert out.shape == (2, 9, 3)
    assert_close(out, ref, dtype, scale=2)
    # equals the per-layer op exactly in float64 semantics
    if dtype == torch.float64:
        h = x
        for w, b, a, al in zip(ws, bs, acts, alphas):
            h = torch_act.linear_act(h, w, b, a, al)
        torch.testing.assert_close(out, h)


def test_threads_give_same_result():
    x, w, b = randn(300, 70), randn(90, 70), randn(90)
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = torch_act.linear_act(x, w, b, "tanh")
        torch.set_num_threads(2)
        two = torch_act.linear_act(x, w, b, "tanh")
    finally:
        torch.set_num_threads(prev)
    torch.testing.assert_close(one, two)


def test_inference_mode_and_no_grad():
    x, w, b = randn(4, 3), randn(2, 3), randn(2)
    with torch.inference_mode():
        y = torch_act.linear_act(x, w, b, "relu")
    with torch.no_grad():
        z = torch_act.linear_act(x, w.requires_grad_(), b, "relu")
    assert not z.requires_grad
    torch.testing.assert_close(y, z)


def _ulp_error(got, ref64):
    """Error of float32 `got` in units of the float32 spacing at the exact value."""
    ref32 = ref64.float()
    spacing = (torch.nextafter(ref32.abs(), torch.tensor(float("inf"))) - ref32.abs()).double()
    return ((got.double() - ref64).abs() / spacing).max().item()


@pytest.mark.parametrize("isa", torch_act.supported_cpu_isas())
def test_vector_math_ulp_bound(isa):
    """The README's accuracy claim for the vectorised transcendental functions,
    measured through the activations that are one call to them."""
    prev = torch_act.cpu_isa()
    torch_act.set_cpu_isa(isa)
    try:
        x = torch.linspace(-12, 12, 200_001)
        assert _ulp_error(torch_act.activation(x, "tanh"), torch.tanh(x.double())) <= 2.5
        # elu(z) = expm1(z) for z <= 0 with alpha = 1
        xn = x[x <= 0]
        assert _ulp_error(torch_act.activation(xn, "elu"), torch.expm1(xn.double())) <= 1.5
        # gelu = z Phi(z), Phi from one erfc-like expression (simd_math.h ndtr_v): an
        # absolute bound (the README's), and relative where gelu is not tiny; for
        # scale, eager float32 F.gelu measures 1.16e-6 absolute on this grid
        xd = x.double()
        ref = F.gelu(xd)
        err = (torch_act.activation(x, "gelu").double() - ref).abs()
        assert err.max().item() <= 5e-7
        big = ref.abs() > 1e-2
        assert (err[big] / ref[big].abs()).max().item() <= 5e-5
        # its derivative, from the same Phi
        xg = x.clone().requires_grad_()
        torch_act.activation(xg, "gelu").sum().backward()
        xr = xd.clone().requires_grad_()
        F.gelu(xr).sum().backward()
        assert (xg.grad.double() - xr.grad).abs().max().item() <= 5e-7
    finally:
        torch_act.set_cpu_isa(prev)
