"""Higher-order derivatives, forward-mode AD and torch.func over linear_glu and
linear_cross_entropy (docs/autograd.md), as tests/test_higher_order.py does
for linear_act, activation and mlp.

linear_glu: gradgradcheck in float64 with every registered elementwise
activation as the gate (those with a second derivative; the others' error),
forward AD and every torch.func transform against the eager composition
``act(x Wg^T + bg) * (x Wu^T + bu)``, vmap rules (warnings as errors) for
batched inputs, per-sample gradients and ensembles, GatedMLP through
functional_call.  linear_cross_entropy: gradgradcheck for every reduction,
with ignored rows, class weights and label smoothing; hessian, jvp and
vmap against ``F.cross_entropy(F.linear(...))``.
"""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, jvp, stack_module_state, vjp, vmap

import torch_act
from reference import reference_activation
from test_higher_order import _KINKS, _alpha  # the same test points and activation parameters

ops = torch.ops.torch_act
close = torch.testing.assert_close
GATES = [n for n, s in torch_act.ACTIVATIONS.items() if not s.rowwise]


def _has_order(name, k):
    spec = torch_act.ACTIVATIONS[name]
    return spec.max_order is None or spec.max_order >= k


def _glu_problem(gen, m=5, k=4, n=3, bias=True):
    """x, wg, wu, bg, bu with every gate pre-activation away from the kinks."""
    for _ in range(50):
        x = torch.randn(m, k, generator=gen, dtype=torch.float64)
        wg = torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5
        wu = torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5
        bg = torch.randn(n, generator=gen, dtype=torch.float64) if bias else None
        bu = torch.randn(n, generator=gen, dtype=torch.float64) if bias else None
        zg = x @ wg.T + (bg if bias else 0)
        if (zg.unsqueeze(-1) - _KINKS).abs().min() > 0.05:
            break
    return x, wg, wu, bg, bu


def _glu_ref(x, wg, wu, bg, bu, name, alpha):
    return reference_activation(name, F.linear(x, wg, bg), alpha) * F.linear(x, wu, bu)


# ---------------------------------------------------------------- linear_glu
@pytest.mark.parametrize("name", GATES)
def test_linear_glu_gradgradcheck_every_gate(name):
    gen = torch.Generator().manual_seed(21)
    args = tuple(t.requires_grad_() for t in _glu_problem(gen))
    a = _alpha(name)
    f = lambda x, wg, wu, bg, bu: ops.linear_glu(x, wg, wu, bg, bu, name, a)  # noqa: E731
    assert gradcheck(f, args)
    if not _has_order(name, 2):  # a user activation without a second derivative
        with pytest.raises(NotImplementedError, match=f"'{name}' has derivatives up to order 1"):
            gradgradcheck(f, args)
        return
    assert gradgradcheck(f, args)
    # forward mode, and forward-over-reverse
    assert gradcheck(f, args, check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False,
                     check_batched_grad=False)
    assert gradgradcheck(f, args, check_fwd_over_rev=True, check_rev_over_rev=False, check_undefined_grad=False)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_glu_double_backward_nd_transposed_and_no_bias(bias):
    gen = torch.Generator().manual_seed(22)
    x, wg, wu, bg, bu = _glu_problem(gen, m=6, bias=bias)
    x3 = x.reshape(2, 3, 4).transpose(0, 1)  # N-D, not contiguous
    wgt = wg.T.contiguous().T  # a transposed (column-major) weight
    tensors = [x3, wgt, wu] + ([bg, bu] if bias else [])
    tensors = [t.detach().requires_grad_() for t in tensors]

    def f(x, wg, wu, *b):
        return ops.linear_glu(x, wg, wu, *(b if bias else (None, None)), "gelu", None)

    assert gradgradcheck(f, tuple(tensors))


def test_linear_glu_third_derivative_matches_eager():
    gen = torch.Generator().manual_seed(23)
    x, wg, wu, bg, bu = _glu_problem(gen)
    for name in ("silu", "tanh", "gelu"):
        def third(fn):
            xi = x[0].clone().requires_grad_()
            y = fn(xi[None]).pow(2).sum()
            (g1,) = torch.autograd.grad(y, xi, create_graph=True)
            (g2,) = torch.autograd.grad(g1.sin().sum(), xi, create_graph=True)
            (g3,) = torch.autograd.grad(g2.sum(), xi)
            return g3

        close(third(lambda t: ops.linear_glu(t, wg, wu, bg, bu, name, None)),
              third(lambda t: _glu_ref(t, wg, wu, bg, bu, name, None)))


@pytest.mark.parametrize("name", ["silu", "gelu", "relu", "identity"])
def test_func_transforms_over_linear_glu(name):
    gen = torch.Generator().manual_seed(24)
    p = _glu_problem(gen)
    ours = lambda *t: ops.linear_glu(*t, name, None)  # noqa: E731
    ref = lambda *t: _glu_ref(*t, name, None)  # noqa: E731
    for argnums in (0, 1, (0, 1, 2, 3, 4)):
        close(grad(lambda *t: ours(*t).sin().sum(), argnums=argnums)(*p),
              grad(lambda *t: ref(*t).sin().sum(), argnums=argnums)(*p))
    close(jacrev(ours, argnums=(0, 2))(*p), jacrev(ref, argnums=(0, 2))(*p))
    close(jacfwd(ours, argnums=(0, 1))(*p), jacfwd(ref, argnums=(0, 1))(*p))
    rest = p[1:]
    close(hessian(lambda t: ours(t, *rest).sum())(p[0][:2]), hessian(lambda t: ref(t, *rest).sum())(p[0][:2]))
    tangents = tuple(torch.randn_like(t) for t in p)
    close(jvp(ours, p, tangents), jvp(ref, p, tangents))
    out, fn = vjp(ours, *p)
    out_r, fn_r = vjp(ref, *p)
    ct = torch.randn_like(out)
    close(out, out_r)
    close(fn(ct), fn_r(ct))


def test_linear_glu_vmap_rules_per_sample_and_ensembles():
    gen = torch.Generator().manual_seed(25)
    x, wg, wu, bg, bu = _glu_problem(gen, m=6)
    xs = x.reshape(3, 2, 4)
    Wg = torch.randn(3, 3, 4, generator=gen, dtype=torch.float64)
    Bu = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # batched input: rows fold into one fused call
        close(vmap(lambda t: ops.linear_glu(t, wg, wu, bg, bu, "silu", None), in_dims=1)(xs),
              _glu_ref(xs.movedim(1, 0), wg, wu, bg, bu, "silu", None))
        # an ensemble on shared data (one fused GLU over stacked weights) and on its own data
        close(vmap(lambda w, b: ops.linear_glu(x, w, wu, bg, b, "gelu", None))(Wg, Bu),
              torch.stack([_glu_ref(x, w, wu, bg, b, "gelu", None) for w, b in zip(Wg, Bu)]))
        close(vmap(lambda t, w: ops.linear_glu(t, w, wu, bg, bu, "gelu", None))(xs, Wg),
              torch.stack([_glu_ref(t, w, wu, bg, bu, "gelu", None) for t, w in zip(xs, Wg)]))
        # per-sample gradients of every parameter
        def loss(fn):
            return lambda wg, wu, bg, bu, xi: fn(xi[None], wg, wu, bg, bu, "silu", None).pow(2).sum()

        ours = vmap(grad(loss(ops.linear_glu), argnums=(0, 1, 2, 3)), in_dims=(None,) * 4 + (0,))(wg, wu, bg, bu, x)
        ref = vmap(grad(loss(_glu_ref), argnums=(0, 1, 2, 3)), in_dims=(None,) * 4 + (0,))(wg, wu, bg, bu, x)
        close(ours, ref)
        # only d_input per sample (the folded fused backward)
        ours = vmap(grad(loss(ops.linear_glu), argnums=4), in_dims=(None,) * 4 + (0,))(wg, wu, bg, bu, x)
        ref = vmap(grad(loss(_glu_ref), argnums=4), in_dims=(None,) * 4 + (0,))(wg, wu, bg, bu, x)
        close(ours, ref)


def test_gated_mlp_per_sample_gradients_and_ensemble():
    torch.manual_seed(26)
    models = [torch_act.nn.GatedMLP(4, 6, 3, activation="silu", bias=True).double() for _ in range(3)]
    m = models[0]
    x = torch.randn(5, 4, dtype=torch.float64)

    def ref_forward(p, t):
        h = F.silu(F.linear(t, p["gate_proj.weight"], p["gate_proj.bias"])) * F.linear(
            t, p["up_proj.weight"], p["up_proj.bias"])
        return F.linear(h, p["down_proj.weight"], p["down_proj.bias"])

    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(fwd):
        return lambda p, xi: fwd(p, xi[None]).pow(2).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = vmap(grad(loss(lambda p, t: functional_call(m, p, (t,)))), in_dims=(None, 0))(params, x)
        stacked, buffers = stack_module_state(models)
        ens = vmap(lambda p, b: functional_call(m, (p, b), (x,)))(stacked, buffers)
    theirs = vmap(grad(loss(ref_forward)), in_dims=(None, 0))(params, x)
    for k in ours:
        close(ours[k], theirs[k], msg=k)
    close(ens, torch.stack([mm(x) for mm in models]))
    # a gradient penalty through the module equals eager's
    xr = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(m(xr).sum(), xr, create_graph=True)
    pen = gx.pow(2).sum()
    pen.backward()
    xe = x.clone().requires_grad_()
    pe = {k: v.clone().requires_grad_() for k, v in params.items()}
    (gxe,) = torch.autograd.grad(ref_forward(pe, xe).sum(), xe, create_graph=True)
    gxe.pow(2).sum().backward()
    for k, prm in m.named_parameters():
        close(prm.grad, pe[k].grad, msg=k)


# ---------------------------------------------------------------- linear_cross_entropy
REDUCTIONS = ["mean", "sum", "none"]


def _lce_problem(gen, m=6, k=4, v=5, weight=False):
    x = torch.randn(m, k, generator=gen, dtype=torch.float64)
    w = torch.randn(v, k, generator=gen, dtype=torch.float64)
    b = torch.randn(v, generator=gen, dtype=torch.float64)
    t = torch.randint(0, v, (m,), generator=gen)
    t[1] = -100  # an ignored row
    cw = torch.rand(v, generator=gen, dtype=torch.float64) + 0.5 if weight else None
    return x, w, b, t, cw


def _lce(t, cw, red, ls):
    return lambda x, w, b: torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=red,
                                                          label_smoothing=ls)


def _lce_ref(t, cw, red, ls):
    return lambda x, w, b: F.cross_entropy(F.linear(x, w, b), t, weight=cw, reduction=red, label_smoothing=ls)


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("ls,weight", [(0.0, False), (0.2, True)])
def test_linear_cross_entropy_gradgradcheck(red, ls, weight):
    gen = torch.Generator().manual_seed(31)
    x, w, b, t, cw = _lce_problem(gen, weight=weight)
    args = tuple(a.requires_grad_() for a in (x, w, b))
    f = _lce(t, cw, red, ls)
    assert gradcheck(f, args)
    assert gradgradcheck(f, args)
    assert gradcheck(f, args, check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False,
                     check_batched_grad=False)
    close(hessian(lambda x: f(x, w, b).sum())(x.detach()), hessian(lambda x: _lce_ref(t, cw, red, ls)(x, w, b).sum())(
        x.detach()))


def test_linear_cross_entropy_first_order_still_uses_the_forwards_gradients():
    """Without create_graph the backward hands over what the fused forward computed
    (no second pass): the same bits as the separate fused backward op."""
    gen = torch.Generator().manual_seed(32)
    x, w, b, t, _ = _lce_problem(gen)
    w.requires_grad_()
    loss = torch_act.linear_cross_entropy(x, w, t, linear_bias=b)
    (gw,) = torch.autograd.grad(loss * 3.0, w)
    _, _, dw, _ = ops._linear_cross_entropy_fwd(x, w.detach(), t, b, None, "mean", -100, 0.0, [False, True, False])
    assert torch.equal(gw, dw * 3.0)
    close(gw, torch.autograd.grad(_lce_ref(t, None, "mean", 0.0)(x, w, b) * 3.0, w)[0])
    # a graph through the gradient: grad of a gradient norm equals eager's
    x.requires_grad_()
    (gx,) = torch.autograd.grad(torch_act.linear_cross_entropy(x, w, t, linear_bias=b), x, create_graph=True)
    (gxe,) = torch.autograd.grad(_lce_ref(t, None, "mean", 0.0)(x, w, b), x, create_graph=True)
    close(torch.autograd.grad(gx.pow(2).sum(), w)[0], torch.autograd.grad(gxe.pow(2).sum(), w)[0])


@pytest.mark.parametrize("red", REDUCTIONS)
def test_linear_cross_entropy_vmap_and_per_sample_gradients(red):
    gen = torch.Generator().manual_seed(33)
    x, w, b, t, cw = _lce_problem(gen, m=8, weight=True)
    xs, ts = x.reshape(4, 2, 4), t.reshape(4, 2)

    def ta(x, w, b, t):
        return torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=red, label_smoothing=0.1)

    def te(x, w, b, t):
        return F.cross_entropy(F.linear(x, w, b), t, weight=cw, reduction=red, label_smoothing=0.1)

    loop = lambda fn, xs, ts: torch.stack([fn(xi, w, b, ti) for xi, ti in zip(xs, ts)])  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        close(vmap(ta, in_dims=(0, None, None, 0))(xs, w, b, ts), loop(te, xs, ts))
        # per-sample gradients of the weight, bias and input
        for argnums in (1, 2, 0):
            g = vmap(grad(lambda *a: ta(*a).sum(), argnums=argnums), in_dims=(0, None, None, 0))(xs, w, b, ts)
            g_ref = torch.stack([grad(lambda *a: te(*a).sum(), argnums=argnums)(xi, w, b, ti)
                                 for xi, ti in zip(xs, ts)])
            close(g, g_ref)
        # several output layers at once (a batched linear_weight)
        Ws = torch.randn(3, *w.shape, generator=gen, dtype=torch.float64)
        close(vmap(lambda wi: ta(x, wi, b, t))(Ws), torch.stack([te(x, wi, b, t) for wi in Ws]))
        close(vmap(grad(lambda wi: ta(x, wi, b, t).sum()))(Ws),
              torch.stack([grad(lambda wi: te(x, wi, b, t).sum())(wi) for wi in Ws]))


def test_linear_cross_entropy_jvp_and_jacfwd_match_eager():
    gen = torch.Generator().manual_seed(34)
    x, w, b, t, cw = _lce_problem(gen, weight=True)
    for red in REDUCTIONS:
        ours, ref = _lce(t, cw, red, 0.1), _lce_ref(t, cw, red, 0.1)
        tangents = tuple(torch.randn_like(a) for a in (x, w, b))
        close(jvp(ours, (x, w, b), tangents), jvp(ref, (x, w, b), tangents))
        close(jacfwd(ours, argnums=(0, 1))(x, w, b), jacfwd(ref, argnums=(0, 1))(x, w, b))


def test_linear_cross_entropy_class_weight_gradient_stays_a_clear_error_under_create_graph():
    gen = torch.Generator().manual_seed(35)
    x, w, b, t, cw = _lce_problem(gen, weight=True)
    w.requires_grad_()
    cw.requires_grad_()
    loss = torch_act.linear_cross_entropy(x, w, t, weight=cw)
    with pytest.raises(RuntimeError, match="class weights"):
        torch.autograd.grad(loss, [w, cw], create_graph=True)
