"""Regression tests for defects found by fuzzing the op boundary, a sanitizer
build and precision sweeps (issue 15), each named after what it catches."""
import math

import pytest
import torch
import torch.nn.functional as F

import torch_act
from conftest import ACTS, DTYPES, TOL, randn

ops = torch.ops.torch_act
FLOATS = DTYPES


# ------------------------------------------------ _mlp_bwd checks its inputs
def _mlp_parts(dtype=torch.float32, acts=("relu", "gelu")):
    x = randn(5, 3, dtype=dtype)
    ws = [randn(4, 3, dtype=dtype), randn(2, 4, dtype=dtype)]
    bs = [randn(4, dtype=dtype), None]
    saved = ops._mlp_fwd(x, ws, bs, list(acts), [None, None])
    g = randn(5, 2, dtype=dtype)
    return x, ws, bs, list(saved), g, list(acts)


def test_mlp_bwd_matches_linear_act_bwd():
    x, ws, bs, saved, g, acts = _mlp_parts(torch.float64)
    got = ops._mlp_bwd(g, x, ws, bs, saved, acts, [None, None], True)
    xs = x.clone().requires_grad_()
    wt = [w.clone().requires_grad_() for w in ws]
    b0 = bs[0].clone().requires_grad_()
    out = F.gelu(F.linear(torch.relu(F.linear(xs, wt[0], b0)), wt[1]))
    out.backward(g)
    torch.testing.assert_close(got[0], xs.grad)
    torch.testing.assert_close(got[1], wt[0].grad)
    torch.testing.assert_close(got[2], wt[1].grad)
    torch.testing.assert_close(got[3], b0.grad)


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize(
    "what,edit,match",
    [
        ("saved_dtype", lambda s, g: (s.__setitem__(0, s[0].double()), g), r"saved\[0\].*dtype"),
        ("saved_shape", lambda s, g: (s.__setitem__(2, s[2][:3]), g), r"saved\[2\].*shape"),
        ("saved_preact_shape", lambda s, g: (s.__setitem__(3, s[3][:, :1]), g), r"saved\[3\].*pre-activation.*shape"),
        ("grad_out_dtype", lambda s, g: (None, g.half()), r"grad_out.*dtype"),
        ("grad_out_shape", lambda s, g: (None, g[:, :1]), r"grad_out must have shape"),
    ],
)
def test_mlp_bwd_rejects_mismatched_saved_and_grad(what, edit, match, device):
    x, ws, bs, saved, g, acts = _mlp_parts()
    _, g = edit(saved, g)
    args = (g, x, ws, bs, saved, acts, [None, None], True)
    if device == "meta":
        args = torch.utils._pytree.tree_map(lambda t: t.to("meta") if isinstance(t, torch.Tensor) else t, args)
    with pytest.raises(RuntimeError, match=match):
        ops._mlp_bwd(*args)


def test_mlp_bwd_rejects_wrong_saved_count():
    x, ws, bs, saved, g, acts = _mlp_parts()
    with pytest.raises(ValueError, match="2 tensors per layer"):
        ops._mlp_bwd(g, x, ws, bs, saved[:3], acts, [None, None], True)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_linear_act_bwd_and_activation_bwd_reject_mismatched_saved(device):
    x, w = randn(5, 3, device=device), randn(4, 3, device=device)
    g = randn(5, 4, device=device)
    with pytest.raises(RuntimeError, match="saved must have shape"):
        ops._linear_act_bwd(g, x, w, randn(5, 3, device=device), "tanh", None, [True, True, False])
    with pytest.raises(RuntimeError, match="grad_out must have the input's dtype"):
        ops._linear_act_bwd(g.double(), x, w, randn(5, 4, device=device), "tanh", None, [True, True, False])
    with pytest.raises(RuntimeError, match="saved must have the input's dtype"):
        ops._activation_bwd(g, g.double(), "tanh", None)


# ------------------------------------------------ log_softmax precision
def _rows(dtype):
    big = 1e4 if dtype in (torch.float16,) else 1e7
    rows = [
        [1e4] * 6,
        [big] * 6,
        [-1e4] * 6,
        [1e-30] * 6,
        [0.0, -math.inf, 1.0, -math.inf, 2.0, 3.0],
        [-math.inf] * 6,
        [1e3, -1e3, 1.0, 1e-3, 7.0, -7.0],
    ]
    if dtype in (torch.float32, torch.float64):
        rows.append([-1e30] * 6)
        rows.append([1e30, 1e30, -1e30, 0.0, 1e30, 5.0])
    if dtype == torch.float64:
        rows.append([1e300] * 6)
    return torch.tensor(rows, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
def test_log_softmax_precision_across_magnitudes(name, dtype):
    z = _rows(dtype)
    want = getattr(torch, name)(z.double(), dim=-1)
    rtol, atol = TOL[dtype]
    got = torch_act.activation(z, name)
    torch.testing.assert_close(got.double(), want, rtol=rtol, atol=atol, equal_nan=True)
    # the fused op: z = 0 * x + b reaches the rows exactly (b carries the row)
    n = z.shape[1]
    for row, wrow in zip(z, want):
        x = torch.ones(2, 3, dtype=dtype)
        fused = torch_act.linear_act(x, torch.zeros(n, 3, dtype=dtype), row, name)
        torch.testing.assert_close(fused.double(), wrow.expand(2, n), rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_log_softmax_gradient_of_large_rows(dtype):
    z = torch.tensor([[1e7, 1e7 + 1, 1e7 - 1], [-1e30, -1e30, -1e30]], dtype=torch.float64).to(dtype)
    g = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]], dtype=dtype)
    a = z.clone().requires_grad_()
    torch_act.activation(a, "log_softmax").backward(g)
    b = z.double().clone().requires_grad_()
    torch.log_softmax(b, -1).backward(g.double())
    torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-5, atol=1e-5)


# ------------------------------------------------ K = 0, any input rank
@pytest.mark.parametrize("shape", [(0,), (2, 3, 0), (2, 0, 0), (3, 0), (0, 0), (1, 2, 3, 0)], ids=str)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_zero_k_for_any_input_rank(shape, bias, device):
    x = torch.randn(shape, device=device)
    w = torch.randn(4, 0, device=device)
    b = torch.randn(4, device=device) if bias else None
    want = F.linear(x, w, b)
    got = torch_act.linear_act(x, w, b, "sigmoid")
    assert got.shape == want.shape
    got2 = torch_act.mlp(x, [w, torch.randn(2, 4, device=device)], [b, None], ["relu", "identity"])
    assert got2.shape == (*shape[:-1], 2)
    if device == "cpu":
        torch.testing.assert_close(got, torch.sigmoid(want))


def test_zero_k_backward_gives_zero_input_grad_and_bias_grad():
    x = torch.randn(2, 3, 0, requires_grad=True)
    w = torch.randn(4, 0, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    torch_act.linear_act(x, w, b, "tanh").sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    torch.testing.assert_close(b.grad, 6 * (1 - torch.tanh(b.detach()) ** 2))


# ------------------------------------------------ fakes refuse what kernels refuse
BAD_DTYPES = [torch.int64, torch.int32, torch.bool, torch.complex64, torch.uint8]


def _t(shape, dtype, device):
    return torch.zeros(shape, dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_fake_and_real_refuse_unsupported_dtypes(dtype, device):
    calls = [
        lambda: ops.linear_act(_t((2, 3), dtype, device), _t((4, 3), dtype, device), None, "relu", None),
        lambda: ops._linear_act_fwd(_t((2, 3), dtype, device), _t((4, 3), dtype, device), None, "relu", None),
        lambda: ops.activation(_t((2, 3), dtype, device), "tanh", None),
        lambda: ops._activation_bwd(_t((2, 3), dtype, device), _t((2, 3), dtype, device), "tanh", None),
        lambda: ops.mlp(_t((2, 3), dtype, device), [_t((4, 3), dtype, device)], [None], ["relu"], [None]),
        lambda: ops._linear_act_bwd(_t((2, 4), dtype, device), _t((2, 3), dtype, device), _t((4, 3), dtype, device),
                                    _t((2, 4), dtype, device), "tanh", None, [True, True, False]),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="must be float32, float64, bfloat16 or float16"):
            call()


def test_fake_refuses_mixed_cpu_and_meta():
    with pytest.raises(RuntimeError, match="weight is on meta but input is on cpu"):
        ops.linear_act(randn(2, 3), torch.empty(4, 3, device="meta"), None, "relu", None)
    with pytest.raises(RuntimeError, match="bias is on"):
        ops.linear_act(torch.empty(2, 3, device="meta"), torch.empty(4, 3, device="meta"), randn(4), "relu", None)
    with pytest.raises(RuntimeError, match="layer 1.*weight is on"):
        ops.mlp(torch.empty(2, 3, device="meta"), [torch.empty(4, 3, device="meta"), randn(2, 4)],
                [None, None], ["relu", "relu"], [None, None])


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("alpha,match", [(1e300, "overflows float32"), (-1e300, "overflows float32"),
                                         (float("inf"), "finite"), (float("nan"), "finite")])
def test_alpha_overflow_is_refused_like_torch(alpha, match, device):
    x, w = randn(2, 3, device=device), randn(4, 3, device=device)
    with pytest.raises(ValueError, match=match):
        torch_act.linear_act(x, w, None, "leaky_relu", alpha)
    with pytest.raises(ValueError, match=match):
        torch_act.activation(x, "elu", alpha)
    if math.isfinite(alpha):  # torch refuses the overflow too (and takes inf / nan)
        with pytest.raises(RuntimeError):
            F.leaky_relu(x.cpu(), alpha)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_fake_refuses_alpha_for_an_activation_without_one(device):
    with pytest.raises(ValueError, match="takes no alpha"):
        ops.activation(randn(3, device=device), "relu", 0.5)
    with pytest.raises(ValueError, match="non-zero"):
        ops.linear_act(randn(2, 3, device=device), randn(4, 3, device=device), None, "softplus", 0.0)


# ------------------------------------------------ NaN semantics of gradients
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", [a for a in ACTS if torch_act.ACTIVATIONS[a].builtin
                                  and not torch_act.ACTIVATIONS[a].rowwise])
def test_gradient_at_nan_and_inf_follows_torch(name, dtype):
    from reference import reference_activation

    z = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, 1.0, -1.0], dtype=dtype)
    a = z.clone().requires_grad_()
    torch_act.activation(a, name).backward(torch.ones_like(z))
    # torch's reference on whole vectors: at NaN its scalar tail (a call on a
    # few elements) and its vector loop disagree; we follow the vector loop
    b = torch.cat([z, torch.full((4096 - len(z),), 0.5, dtype=dtype)]).requires_grad_()
    reference_activation(name, b).backward(torch.ones_like(b))
    # NaN where torch gives NaN, torch's value elsewhere
    torch.testing.assert_close(a.grad.double(), b.grad[:len(z)].double(), equal_nan=True, rtol=1e-2, atol=1e-2)


# ------------------------------------------------ scratch memory is bounded
def test_scratch_memory_is_returned_after_a_large_call():
    keep = 7 * (16 << 20)  # kNumSlots slots of at most 16 MiB each (kernels/cpu/linear_act.cpp)
    # bf16 softmax needs an fp32 z of M*N*4 = 64 MiB of scratch
    x = torch.randn(2048, 64, dtype=torch.bfloat16)
    w = torch.randn(8192, 64, dtype=torch.bfloat16)
    torch_act.linear_act(x, w, None, "softmax")
    assert torch_act._C.cpu_scratch_bytes() <= keep
    # a small call after it keeps its (small) buffers for reuse
    torch_act.linear_act(randn(64, 200), randn(300, 200), None, "relu")
    held = torch_act._C.cpu_scratch_bytes()
    assert 0 < held <= keep
