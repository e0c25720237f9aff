"""mlp_flat (every layer's parameters in one 1-D tensor) and MLP(flat=True):
the op against float64 torch references and against mlp on the same
parameters, gradcheck / gradgradcheck, forward mode, vmap, opcheck,
torch.compile, autocast, bad input, and the module's state_dict keys,
loading both ways, copies and standalone layers."""
import copy
import io
import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import torch_act
from conftest import ALL_DEVICES, randn
from reference import reference_activation

OPS = torch.ops.torch_act

# (sizes, bias per layer, activations, alphas): z-reading and y-reading
# derivatives, an alpha, a row activation, a layer without bias, a zero width
CASES = [
    ([2, 10, 5, 1], [True, True, True], ["relu", "sigmoid", "identity"], [None, None, None]),
    ([7, 13, 3], [False, True], ["gelu", "leaky_relu"], [None, 0.2]),
    ([4, 6, 6, 5], [True, False, False], ["tanh", "silu", "softmax"], [None, None, None]),
    ([3, 0, 4], [True, True], ["relu", "elu"], [None, 0.7]),
]


def _pack(ws, bs):
    return torch.cat([t.reshape(-1) for w, b in zip(ws, bs) for t in ((w, b) if b is not None else (w,))])


def _windows(p, sizes, bias):
    """Each layer's weight and bias (or None) as views of the flat p."""
    ws, bs, off = [], [], 0
    for k, n, b in zip(sizes, sizes[1:], bias):
        ws.append(p[off:off + n * k].view(n, k))
        off += n * k
        bs.append(p[off:off + n] if b else None)
        off += n if b else 0
    return ws, bs


def _params(sizes, bias, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    ws = [torch.randn(n, k, generator=g, dtype=torch.float64) / max(k, 1) ** 0.5 for k, n in zip(sizes, sizes[1:])]
    bs = [torch.randn(n, generator=g, dtype=torch.float64) if b else None for n, b in zip(sizes[1:], bias)]
    ws = [w.to(dtype=dtype, device=device) for w in ws]
    bs = [b.to(dtype=dtype, device=device) if b is not None else None for b in bs]
    return ws, bs


def _reference(x, ws, bs, acts, alphas):
    h = x
    for w, b, a, al in zip(ws, bs, acts, alphas):
        h = reference_activation(a, F.linear(h, w, b), al)
    return h


def test_flat_numel():
    assert torch_act.flat_numel([2, 10, 5, 1], True) == 20 + 10 + 50 + 5 + 5 + 1
    assert torch_act.flat_numel([2, 10, 5, 1], [False, True, False]) == 20 + 50 + 5 + 5


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_matches_float64_reference_and_mlp(case, dtype, device):
    sizes, bias, acts, alphas = CASES[case]
    ws, bs = _params(sizes, bias, dtype, device)
    params = _pack(ws, bs).requires_grad_()
    assert params.numel() == torch_act.flat_numel(sizes, bias)
    x = randn(3, 4, sizes[0], dtype=dtype, device=device).requires_grad_()
    y = torch_act.mlp_flat(x, params, sizes, acts, bias, alphas)
    gy = torch.randn_like(y)
    dx, dp = torch.autograd.grad(y, (x, params), gy)
    # float64 torch reference
    p64 = params.detach().double().requires_grad_()
    x64 = x.detach().double().requires_grad_()
    ws64, bs64 = _windows(p64, sizes, bias)
    y64 = _reference(x64, ws64, bs64, acts, alphas)
    dx64, dp64 = torch.autograd.grad(y64, (x64, p64), gy.double())
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-5)
    torch.testing.assert_close(y.double(), y64, **tol)
    torch.testing.assert_close(dx.double(), dx64, **tol)
    torch.testing.assert_close(dp.double(), dp64, **tol)
    # the same numbers as mlp on the same parameters, bit for bit
    wsm = [w.clone().requires_grad_() for w in ws]
    bsm = [b.clone().requires_grad_() if b is not None else None for b in bs]
    xm = x.detach().clone().requires_grad_()
    ym = torch_act.mlp(xm, wsm, bsm, acts, alphas)
    grads = torch.autograd.grad(ym, [xm] + wsm + [b for b in bsm if b is not None], gy)
    assert torch.equal(y, ym)
    assert torch.equal(dx, grads[0])
    assert torch.equal(dp, _pack(grads[1:1 + len(ws)], _grad_biases(grads[1 + len(ws):], bias)))


def _grad_biases(gbs, bias):
    it = iter(gbs)
    return [next(it) if b else None for b in bias]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradcheck_and_gradgradcheck(case):
    sizes, bias, acts, alphas = CASES[case]
    if "softmax" in acts:
        acts = [a if a != "softmax" else "sigmoid" for a in acts]  # keep the check small
    ws, bs = _params(sizes, bias)
    params = _pack(ws, bs).requires_grad_()
    x = randn(3, sizes[0], dtype=torch.float64).requires_grad_()

    def f(x, p):
        return torch_act.mlp_flat(x, p, sizes, acts, bias, alphas)

    assert torch.autograd.gradcheck(f, (x, params))
    assert torch.autograd.gradgradcheck(f, (x, params))


@pytest.mark.filterwarnings("error:There is a performance drop")
def test_forward_mode_and_torch_func():
    sizes, bias, acts, alphas = CASES[1]
    ws, bs = _params(sizes, bias)
    params = _pack(ws, bs)
    x = randn(5, sizes[0], dtype=torch.float64)
    tx, tp = torch.randn_like(x), torch.randn_like(params)

    def f(x, p):
        return torch_act.mlp_flat(x, p, sizes, acts, bias, alphas)

    _, jvp = torch.func.jvp(f, (x, params), (tx, tp))
    p64 = params.clone()
    def f_ref(x, p):
        return _reference(x, *_windows(p, sizes, bias), acts, alphas)

    _, jvp_ref = torch.func.jvp(f_ref, (x, p64), (tx, tp))
    torch.testing.assert_close(jvp, jvp_ref)
    # jacrev (vmap over the backward) and per-sample gradients (vmap of grad),
    # by batching rules (vmap's per-sample fallback warns: an error here)
    torch.testing.assert_close(torch.func.jacrev(f, argnums=1)(x, params),
                               torch.func.jacrev(f_ref, argnums=1)(x, params))

    def loss(p, xi):
        return f(xi[None], p).square().sum()

    def loss_ref(p, xi):
        return f_ref(xi[None], p).square().sum()

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
    torch.testing.assert_close(per_sample, torch.func.vmap(torch.func.grad(loss_ref), in_dims=(None, 0))(params, x))
    # an ensemble: batched parameters on shared data
    stacked = torch.stack([params, params * 0.5, -params])
    got = torch.func.vmap(f, in_dims=(None, 0))(x, stacked)
    torch.testing.assert_close(got, torch.stack([f_ref(x, p) for p in stacked]))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "nograd"])
def test_opcheck(device, requires_grad):
    sizes, bias, acts, alphas = [5, 8, 4, 3], [True, False, True], ["relu", "gelu", "softmax"], [None] * 3
    ws, bs = _params(sizes, bias, device=device)
    params = _pack(ws, bs).requires_grad_(requires_grad)
    x = randn(6, 5, dtype=torch.float64, device=device).requires_grad_(requires_grad)
    torch.library.opcheck(OPS.mlp_flat.default, (x, params, sizes, bias, acts, alphas))
    saved = OPS._mlp_fwd(x.detach(), ws, bs, acts, alphas)
    for input_grad in (True, False):
        torch.library.opcheck(OPS._mlp_flat_bwd.default,
                              (torch.randn(6, 3, dtype=torch.float64, device=device), x.detach(), params.detach(),
                               sizes, bias, saved, acts, alphas, input_grad))


def _bad(x, params, sizes=(4, 3, 2), bias=(True, True), acts=("relu", "identity"), alphas=(None, None)):
    return OPS.mlp_flat(x, params, list(sizes), list(bias), list(acts), list(alphas))


@pytest.mark.parametrize("requires_grad", [False, True], ids=["nograd", "grad"])
def test_bad_input_errors(requires_grad):
    n = torch_act.flat_numel([4, 3, 2], True)
    x = torch.randn(5, 4)
    p = torch.randn(n, requires_grad=requires_grad)
    with pytest.raises(RuntimeError, match=r"mlp_flat: params must hold 23 elements for sizes \[4, 3, 2\]"):
        _bad(x, torch.randn(n + 1, requires_grad=requires_grad))
    with pytest.raises(RuntimeError, match="params must be 1-D"):
        _bad(x, p.detach().view(1, n).requires_grad_(requires_grad))
    with pytest.raises(ValueError, match="at least 2 entries"):
        _bad(x, p, sizes=(4,), bias=(), acts=(), alphas=())
    with pytest.raises(ValueError, match=r"describes 2 layer\(s\), so bias, activations and alphas need 2"):
        _bad(x, p, bias=(True,))
    with pytest.raises(RuntimeError, match=r"input's last dimension \(4\) must equal sizes\[0\]=3"):
        _bad(x, p, sizes=(3, 3, 2))
    with pytest.raises(RuntimeError, match=r"params dtype \(Double\) must match input dtype \(Float\)"):
        _bad(x, p.detach().double().requires_grad_(requires_grad))
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        _bad(x, p, sizes=(4, -3, 2))
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        _bad(x, p, acts=("relu", "nope"))
    with pytest.raises(RuntimeError, match="int64|Long|must be float32"):
        _bad(x.long(), p)


@settings(max_examples=int(os.environ.get("TORCH_ACT_HYPOTHESIS_EXAMPLES", "120")), deadline=None)
@given(data=st.data())
def test_random_layouts_right_or_refused(data):
    """Random stacks (widths 0..9, any bias pattern, row activations) with
    sometimes a wrong params size, input width or dtype: a right answer
    (equal to mlp on the same parameters, gradients too) or a clear error
    naming mlp_flat -- never a crash or a read past params."""
    L = data.draw(st.integers(1, 4))
    sizes = data.draw(st.lists(st.integers(0, 9), min_size=L + 1, max_size=L + 1))
    bias = data.draw(st.lists(st.booleans(), min_size=L, max_size=L))
    acts = data.draw(st.lists(st.sampled_from(["relu", "gelu", "tanh", "softmax", "identity", "leaky_relu"]),
                              min_size=L, max_size=L))
    alphas = [0.1 if a == "leaky_relu" else None for a in acts]
    want = torch_act.flat_numel(sizes, bias)
    numel = max(0, want + data.draw(st.sampled_from([0, 0, 0, -1, 1, 7])))
    k = sizes[0] + data.draw(st.sampled_from([0, 0, 0, 1]))
    pdtype = data.draw(st.sampled_from([torch.float64, torch.float64, torch.float32]))
    rg = data.draw(st.booleans())
    x = torch.randn(data.draw(st.integers(0, 6)), k, dtype=torch.float64, requires_grad=rg)
    p = torch.randn(numel, dtype=pdtype, requires_grad=rg)
    bad = numel != want or k != sizes[0] or pdtype != torch.float64
    try:
        y = torch_act.mlp_flat(x, p, sizes, acts, bias, alphas)
    except (RuntimeError, ValueError) as e:
        assert bad, f"refused a sound call: {e}"
        assert "mlp_flat" in str(e), str(e)
        return
    assert not bad, "accepted a call with a wrong params size, input width or dtype"
    ws, bs = _windows(p.detach(), sizes, bias)
    ws = [w.clone().requires_grad_(rg) for w in ws]
    bs = [b.clone().requires_grad_(rg) if b is not None else None for b in bs]
    xr = x.detach().clone().requires_grad_(rg)
    yr = torch_act.mlp(xr, ws, bs, acts, alphas)
    assert torch.equal(y, yr)
    if rg:
        gy = torch.randn_like(y)
        dx, dp = torch.autograd.grad(y, (x, p), gy)
        grads = torch.autograd.grad(yr, [xr] + ws + [b for b in bs if b is not None], gy, allow_unused=True)
        assert torch.equal(dx, grads[0])
        gws, gbs = list(grads[1:1 + L]), iter(grads[1 + L:])
        assert torch.equal(dp, _pack(gws, [next(gbs) if b else None for b in bias]))


def test_public_wrapper_defaults():
    sizes = [3, 4, 2]
    ws, bs = _params(sizes, [True, True], torch.float32)
    x = torch.randn(2, 3)
    got = torch_act.mlp_flat(x, _pack(ws, bs), sizes, "tanh")
    torch.testing.assert_close(got, torch.tanh(F.linear(torch.tanh(F.linear(x, ws[0], bs[0])), ws[1], bs[1])))
    assert torch_act.functional.mlp_flat is torch_act.mlp_flat
    with pytest.raises(TypeError, match="bias must be a bool or one bool per layer"):
        torch_act.mlp_flat(x, _pack(ws, bs), sizes, "tanh", bias=[1, 1])


# ------------------------------------------------------------ MLP(flat=True)
def _twins(sizes=(2, 10, 5, 1), acts=("relu", "sigmoid", "identity"), bias=True, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    ref = torch_act.nn.MLP(list(sizes), list(acts), bias=bias, dtype=dtype, **kw)
    flat = torch_act.nn.MLP(list(sizes), list(acts), bias=bias, dtype=dtype, flat=True, **kw)
    flat.load_state_dict(ref.state_dict())
    return ref, flat


def test_module_state_dict_keys_and_parameters():
    ref, flat = _twins()
    assert list(flat.state_dict()) == list(ref.state_dict()) == [
        f"layers.{i}.{n}" for i in range(3) for n in ("weight", "bias")]
    for k, v in ref.state_dict().items():
        assert torch.equal(flat.state_dict()[k], v)
    (p,) = list(flat.parameters())
    assert p is flat.flat_params and p.shape == (torch_act.flat_numel([2, 10, 5, 1], True),)
    assert flat.flat and not ref.flat
    assert "flat=True" in repr(flat) and "(0): Linear(in_features=2, out_features=10" in repr(flat)
    assert flat.layers[1].weight.shape == (5, 10) and flat.layers[1].bias.shape == (5,)
    assert flat.layers[1].weight.data_ptr() == p.data_ptr() + 30 * p.element_size()
    # an nn.Linear stack's checkpoint loads too (the keys nn.Linear has)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Linear(10, 5), torch.nn.Linear(5, 1)).double()
    flat.load_state_dict({f"layers.{k}": v for k, v in seq.state_dict().items()})
    assert torch.equal(flat.layers[2].weight, seq[2].weight)


def test_module_without_bias_and_mixed():
    ref, flat = _twins(bias=False)
    assert list(flat.state_dict()) == list(ref.state_dict()) == [f"layers.{i}.weight" for i in range(3)]
    assert flat.layers[0].bias is None
    x = torch.randn(7, 2, dtype=torch.float64)
    torch.testing.assert_close(flat(x), ref(x), rtol=0, atol=0)
    linears = [torch.nn.Linear(3, 4, bias=False), torch.nn.Linear(4, 2)]
    m = torch_act.nn.MLP.from_linears(linears, ["gelu", "identity"], flat=True)
    assert list(m.state_dict()) == ["layers.0.weight", "layers.1.weight", "layers.1.bias"]
    x = torch.randn(5, 3)
    torch.testing.assert_close(m(x), linears[1](F.gelu(linears[0](x))))


def test_module_load_errors():
    _, flat = _twins()
    sd = flat.state_dict()
    del sd["layers.1.bias"]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"layers.1.bias\""):
        flat.load_state_dict(sd)
    sd = flat.state_dict()
    sd["layers.0.weight"] = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="size mismatch for layers.0.weight"):
        flat.load_state_dict(sd)
    sd = flat.state_dict()
    sd["layers.0.extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"layers.0.extra\""):
        flat.load_state_dict(sd)
    res = flat.load_state_dict({k: v for k, v in flat.state_dict().items() if k != "layers.2.weight"}, strict=False)
    assert res.missing_keys == ["layers.2.weight"] and res.unexpected_keys == []


def test_module_training_matches_per_layer_mlp():
    ref, flat = _twins()
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt_f = torch.optim.SGD(flat.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, t = torch.randn(64, 2, generator=g, dtype=torch.float64), torch.randn(64, 1, generator=g,
                                                                                  dtype=torch.float64)
        for m, opt in ((ref, opt_r), (flat, opt_f)):
            opt.zero_grad()
            F.mse_loss(m(x), t).backward()
            opt.step()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(flat.state_dict()[k], v, rtol=1e-12, atol=1e-12)


def test_module_layers_are_views_that_train_flat_params():
    _, flat = _twins()
    x = torch.randn(4, 2, dtype=torch.float64)
    flat.layers[0](x).sum().backward()  # one layer alone
    g = flat.flat_params.grad
    assert g is not None and g[:30].abs().sum() > 0 and torch.all(g[30:] == 0)
    torch.nn.init.zeros_(flat.layers[2].weight)  # in place, through the view
    assert torch.all(flat.flat_params[-6:-1] == 0)
    with pytest.raises((AttributeError, KeyError)):
        flat.layers[0].weight = torch.nn.Parameter(torch.zeros(10, 2))


def test_module_copies_dtype_and_save_policies():
    ref, flat = _twins()
    x = torch.randn(6, 2, dtype=torch.float64)
    for other in (copy.deepcopy(flat), _roundtrip(flat)):
        assert other.flat_params.data_ptr() != flat.flat_params.data_ptr()
        assert other.layers[0].weight.data_ptr() == other.flat_params.data_ptr()
        torch.testing.assert_close(other(x), flat(x), rtol=0, atol=0)
    f32 = copy.deepcopy(flat).float()
    assert f32.layers[1].weight.dtype == torch.float32
    torch.testing.assert_close(f32(x.float()), ref.float()(x.float()), rtol=1e-5, atol=1e-6)
    ref, flat = _twins(save="recompute")
    y = flat(x)
    y.sum().backward()
    ref(x).sum().backward()
    torch.testing.assert_close(flat.flat_params.grad[30:80].view(5, 10), ref.layers[1].weight.grad)


def test_module_frees_without_the_cycle_collector():
    import gc
    import weakref

    gc.disable()
    try:
        m = torch_act.nn.MLP([3, 4, 2], "relu", flat=True)
        ref = weakref.ref(m.flat_params)
        m.layers[0].weight.sum()  # the views are made on demand, not kept
        del m
        assert ref() is None
    finally:
        gc.enable()


def _roundtrip(m):
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_module_autocast():
    ref, flat = _twins(dtype=torch.float32)
    x = torch.randn(16, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yb = flat(x)
        yrb = ref(x)
    assert yb.dtype == torch.bfloat16
    torch.testing.assert_close(yb, yrb)


def test_autograd_and_autocast_kernels_registered():
    dump = torch._C._dispatch_dump("torch_act::mlp_flat")
    assert "Autograd[alias]: registered" in dump or "AutogradCPU: registered" in dump, dump
    assert "AutocastCPU: registered" in dump, dump
