"""Gradients: gradcheck in float64 for every op and activation, and agreement
with eager PyTorch's autograd in the other dtypes."""
import zlib

import pytest
import torch
from torch.autograd import gradcheck

import torch_act
from conftest import ACTS, ALL_DEVICES, ALPHAS, DTYPES, TOL, randn
from reference import reference_activation, reference_linear_act


def _leaf(t):
    return t.detach().clone().requires_grad_(True)


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradcheck_linear_act(act, bias, device):
    g = torch.Generator().manual_seed(11)
    x = _leaf(randn(2, 5, 7, dtype=torch.float64, device=device, generator=g))
    w = _leaf(randn(6, 7, dtype=torch.float64, device=device, generator=g, scale=0.5))
    b = _leaf(randn(6, dtype=torch.float64, device=device, generator=g)) if bias else None
    alpha = ALPHAS.get(act)
    assert gradcheck(lambda x, w, b: torch_act.linear_act(x, w, b, act, alpha), (x, w, b))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_activation(act, device):
    x = _leaf(randn(3, 4, 9, dtype=torch.float64, device=device, generator=torch.Generator().manual_seed(5), scale=2))
    alpha = ALPHAS.get(act)
    assert gradcheck(lambda x: torch_act.activation(x, act, alpha), (x,))


@pytest.mark.parametrize("act", [a for a in ACTS if torch_act.ACTIVATIONS[a].has_alpha])
def test_gradcheck_negative_alpha(act):
    """alpha < 0 changes what is saved (leaky_relu saves z instead of y)."""
    if act == "softplus":
        alpha = -1.5
    else:
        alpha = -0.3
    x = _leaf(randn(4, 6, dtype=torch.float64))
    w = _leaf(randn(5, 6, dtype=torch.float64))
    b = _leaf(randn(5, dtype=torch.float64))
    assert gradcheck(lambda x, w, b: torch_act.linear_act(x, w, b, act, alpha), (x, w, b))
    assert gradcheck(lambda x: torch_act.activation(x, act, alpha), (x,))


@pytest.mark.parametrize("device", ALL_DEVICES)
def test_gradcheck_mlp(device):
    g = torch.Generator().manual_seed(2)
    sizes = [3, 8, 6, 4, 5]
    acts = ["tanh", "gelu", "leaky_relu", "log_softmax"]
    x = _leaf(randn(7, sizes[0], dtype=torch.float64, device=device, generator=g))
    ws = [_leaf(randn(sizes[i + 1], sizes[i], dtype=torch.float64, device=device, generator=g)) for i in range(4)]
    bs = [_leaf(randn(sizes[i + 1], dtype=torch.float64, device=device, generator=g)) if i != 2 else None
          for i in range(4)]
    alphas = [None, None, 0.1, None]

    def f(x, *params):
        return torch_act.mlp(x, list(params[:4]), [params[4], params[5], None, params[6]], acts, alphas)

    assert gradcheck(f, (x, *ws, bs[0], bs[1], bs[3]))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_grads_match_eager(act, dtype, device, poison):
    g = torch.Generator().manual_seed(zlib.crc32(act.encode()) % 1000)
    M, K, N = 33, 20, 17
    x0 = randn(M, K, dtype=dtype, device=device, generator=g)
    w0 = randn(N, K, dtype=dtype, device=device, generator=g, scale=K**-0.5)
    b0 = randn(N, dtype=dtype, device=device, generator=g)
    gy = randn(M, N, dtype=dtype, device=device, generator=g)
    alpha = ALPHAS.get(act)
    x, w, b = _leaf(x0), _leaf(w0), _leaf(b0)
    torch_act.linear_act(x, w, b, act, alpha).backward(gy)
    # reference: float64 eager autograd on the same (rounded) values
    xr, wr, br = _leaf(x0.double()), _leaf(w0.double()), _leaf(b0.double())
    reference_linear_act(xr, wr, br, act, alpha).backward(gy.double())
    rtol, atol = TOL[dtype]
    if act == "hardsigmoid" and dtype == torch.float64:
        # torch's float64 hardsigmoid_backward multiplies by 1/6 rounded to
        # float32 (a 3e-8 relative error); ours uses the exact 1/6
        rtol, atol = 1e-7, 1e-7
    for ours, ref, name in ((x.grad, xr.grad, "dx"), (w.grad, wr.grad, "dw"), (b.grad, br.grad, "db")):
        assert ours.dtype == dtype
        scale = ref.abs().max().item() + 1
        torch.testing.assert_close(ours.double().cpu(), ref.cpu(), rtol=rtol * 2, atol=atol * scale * 2,
                                   msg=lambda m: f"{name}: {m}")


def test_only_needed_grads_are_computed():
    x = _leaf(randn(4, 3))
    w = randn(5, 3)  # frozen weight
    b = _leaf(randn(5))
    torch_act.linear_act(x, w, b, "gelu").sum().backward()
    assert x.grad is not None and b.grad is not None and w.grad is None
    # the backward op honours its mask: unrequested gradients come back empty
    gx, gw, gb = torch.ops.torch_act._linear_act_bwd(
        randn(4, 5), x.detach(), w, randn(4, 5), "gelu", None, [True, False, False])
    assert gx.shape == (4, 3) and gw.numel() == 0 and gb.numel() == 0


def test_backward_through_non_contiguous_and_batched():
    x0 = randn(3, 6, 4, dtype=torch.float64).transpose(1, 2)  # [3, 4, 6] non-contiguous
    w0 = randn(6, 5, dtype=torch.float64).T  # [5, 6] transposed
    x, w = _leaf(x0), _leaf(w0)
    assert gradcheck(lambda x, w: torch_act.linear_act(x, w, None, "mish"), (x, w))


def test_create_graph_gives_a_differentiable_gradient():
    """create_graph=True: the gradient carries a graph (tests/test_higher_order.py has the rest)."""
    x = _leaf(randn(3, 4, dtype=torch.float64))
    w = _leaf(randn(2, 4, dtype=torch.float64))
    (gx,) = torch.autograd.grad(torch_act.linear_act(x, w, None, "tanh").sum(), x, create_graph=True)
    assert gx.requires_grad and gx.grad_fn is not None
    (ggw,) = torch.autograd.grad(gx.pow(2).sum(), w)
    xr, wr = x.detach().requires_grad_(), w.detach().requires_grad_()
    (gxr,) = torch.autograd.grad(torch.tanh(xr @ wr.T).sum(), xr, create_graph=True)
    torch.testing.assert_close(ggw, torch.autograd.grad(gxr.pow(2).sum(), wr)[0])


def test_deterministic_gradients():
    x, w, b = _leaf(randn(500, 40)), _leaf(randn(30, 40)), _leaf(randn(30))
    grads = []
    for _ in range(2):
        x.grad = w.grad = b.grad = None
        torch_act.linear_act(x, w, b, "silu").backward(torch.ones(500, 30))
        grads.append((x.grad.clone(), w.grad.clone(), b.grad.clone()))
    for a, c in zip(*grads):
        assert torch.equal(a, c)


def test_net_gradients_equal_eager():
    from torch_act.net import EagerNet, Net

    torch.manual_seed(0)
    net = Net().double()
    ref = EagerNet().double()
    ref.load_state_dict(net.state_dict())
    x = randn(64, 2, dtype=torch.float64)
    torch.testing.assert_close(net(x), ref(x))
    net(x).square().mean().backward()
    ref(x).square().mean().backward()
    for (n1, p1), (n2, p2) in zip(net.named_parameters(), ref.named_parameters()):
        assert n1 == n2
        torch.testing.assert_close(p1.grad, p2.grad)


@pytest.mark.parametrize("act", [a for a in ACTS if not torch_act.ACTIVATIONS[a].rowwise])
def test_derivative_at_special_points_matches_torch(act):
    """Kinks and thresholds (relu at 0, hardswish at +-3, softplus at beta*z = 20, ...)
    get the same one-sided derivative as PyTorch's own backward."""
    pts = [-20.5, -3.0, -1.0, -0.0, 0.0, 1.0, 3.0, 20.0, 20.5, float("nan"), float("inf"), -float("inf")]
    # 48 elements: our kernels run vectors and scalar tails alike.  PyTorch's
    # elementwise backward disagrees with itself at NaN (the elu family and
    # hardswish: its vector loop gives NaN, its scalar tail -- what a call on a
    # few elements runs -- the positive branch's gradient; relu6 0 against g).
    # We follow the vector loop, what any real tensor takes, on every path: the
    # reference is torch's on 4096 elements (whole vectors, no scalar tail).
    x = torch.tensor(pts * 4, dtype=torch.float64, requires_grad=True)
    torch_act.activation(x, act).backward(torch.ones_like(x))
    xr = torch.tensor(pts * 4 + [0.5] * (4096 - 4 * len(pts)), dtype=torch.float64, requires_grad=True)
    reference_activation(act, xr).backward(torch.ones_like(xr))
    ref = xr.grad[:4 * len(pts)]
    torch.testing.assert_close(x.grad, ref, equal_nan=True)
