"""Higher-order derivatives: double backward and beyond, forward-mode AD and
torch.func over every op (docs/autograd.md).

Every registered elementwise and row activation appears: gradgradcheck in
float64 (numerical second derivatives, independent of our formulas), third
derivatives against PyTorch's eager reference, forward-mode tangents, the
torch.func transforms against the same transforms over the eager
composition, vmap with warnings as errors (no fallback loop), per-sample
gradients and model ensembles.
"""
import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, jvp, stack_module_state, vjp, vmap

import torch_act
from reference import alpha_of, reference_activation, reference_linear_act

ops = torch.ops.torch_act
ACTS = list(torch_act.ACTIVATIONS)
# kinks of the piecewise activations: inputs keep away from them so that
# finite differences see smooth functions
_KINKS = torch.tensor([0.0, -3.0, 3.0, 6.0], dtype=torch.float64)


def _smooth_points(*shape, gen, scale=2.0, margin=0.05):
    z = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
    d = z.unsqueeze(-1) - _KINKS
    near = d.abs().min(-1).values < margin
    return torch.where(near, z + 4 * margin, z)


def _layer(name, gen, m=5, k=4, n=3, bias=True):
    """x, w, b with every pre-activation away from the kinks."""
    x = torch.randn(m, k, generator=gen, dtype=torch.float64)
    w = torch.randn(n, k, generator=gen, dtype=torch.float64) * 0.5
    b = torch.randn(n, generator=gen, dtype=torch.float64) if bias else None
    for _ in range(20):  # redraw x until every pre-activation keeps off the kinks
        z = x @ w.T + (b if b is not None else 0)
        if (z.unsqueeze(-1) - _KINKS).abs().min() > 0.05:
            break
        x = torch.randn(m, k, generator=gen, dtype=torch.float64)
    return x, w, b


def _alpha(name):
    spec = torch_act.ACTIVATIONS[name]
    if not spec.has_alpha:
        return None
    return {"leaky_relu": 0.2, "sin": 1.5}.get(name, 1.3)


def _order_at_least(name, k):
    spec = torch_act.ACTIVATIONS[name]
    return spec.rowwise or spec.max_order is None or spec.max_order >= k


# ---------------------------------------------------------------- registry
def test_every_builtin_has_second_and_third_derivatives():
    for name in ACTS:
        spec = torch_act.ACTIVATIONS[name]
        if not spec.builtin:
            continue
        assert _order_at_least(name, 3), name
    assert torch_act.ACTIVATIONS["relu"].zero_from_order == 2
    assert torch_act.ACTIVATIONS["tanh"].zero_from_order == 4
    assert torch_act.ACTIVATIONS["gelu"].max_order == 3


# ---------------------------------------------------------------- gradgradcheck
@pytest.mark.parametrize("name", ACTS)
def test_activation_gradgradcheck(name):
    gen = torch.Generator().manual_seed(1)
    x = _smooth_points(4, 5, gen=gen).requires_grad_()
    a = _alpha(name)
    f = lambda t: ops.activation(t, name, a)  # noqa: E731
    assert gradcheck(f, (x,))
    if not _order_at_least(name, 2):  # a user activation without a second derivative
        with pytest.raises(NotImplementedError, match=f"'{name}' has derivatives up to order 1.*second"):
            gradgradcheck(f, (x,))
        return
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("name", ACTS)
def test_linear_act_gradgradcheck(name):
    gen = torch.Generator().manual_seed(2)
    x, w, b = _layer(name, gen)
    a = _alpha(name)
    args = tuple(t.requires_grad_() for t in (x, w, b))
    f = lambda x, w, b: ops.linear_act(x, w, b, name, a)  # noqa: E731
    if not _order_at_least(name, 2):
        pytest.skip(f"{name} is first-order (test_activation_gradgradcheck checks its error)")
    assert gradgradcheck(f, args, check_fwd_over_rev=True)


@pytest.mark.parametrize("name", ACTS)
def test_linear_act_third_derivative_matches_eager(name):
    """The third derivative (a PINN's u_xx differentiated by its weights)."""
    if not _order_at_least(name, 3):
        pytest.skip(f"{name} has derivatives up to order {torch_act.ACTIVATIONS[name].max_order}")
    gen = torch.Generator().manual_seed(3)
    x, w, b = _layer(name, gen, m=6, k=2, n=4)
    a = _alpha(name)
    v = torch.randn(4, 1, generator=gen, dtype=torch.float64)

    def third(fn):
        xx = x.clone().requires_grad_()
        ww = w.clone().requires_grad_()
        u = fn(xx, ww) @ v
        kw = dict(create_graph=True, allow_unused=True, materialize_grads=True)  # (zero for relu & co)
        (ux,) = torch.autograd.grad(u.sum(), xx, **kw)
        (uxx,) = torch.autograd.grad(ux[:, 0].sum(), xx, **kw)
        return torch.autograd.grad((uxx.pow(2) + uxx * ux).sum(), ww, allow_unused=True, materialize_grads=True)[0]

    ours = third(lambda xx, ww: ops.linear_act(xx, ww, b, name, a))
    try:
        ref = third(lambda xx, ww: reference_linear_act(xx, ww, b, name, a))
    except RuntimeError as e:  # e.g. torch's hardsigmoid has no double backward
        pytest.skip(f"the eager reference of {name} has no third derivative: {e}")
    # (torch's celu rounds 1/alpha to float32 in its derivatives)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("bias", [True, False])
def test_mlp_gradgradcheck_mixed_activations(bias):
    gen = torch.Generator().manual_seed(4)
    acts = ["tanh", "gelu", "sigmoid", "softmax", "identity"]
    sizes = [3, 4, 5, 4, 3, 2]
    x = torch.randn(2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)  # N-D input
    ws = [(torch.randn(o, i, generator=gen, dtype=torch.float64) * 0.6).requires_grad_()
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [torch.randn(o, generator=gen, dtype=torch.float64).requires_grad_() if bias else None for o in sizes[1:]]

    def f(x, *params):
        w = list(params[: len(ws)])
        b = list(params[len(ws):]) if bias else [None] * len(ws)
        return ops.mlp(x, w, b, acts, [None] * len(ws))

    params = tuple(ws) + (tuple(bs) if bias else ())
    assert gradgradcheck(f, (x,) + params, check_fwd_over_rev=True)


def test_transposed_and_nd_inputs_double_backward():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64).transpose(0, 2).requires_grad_()  # [3, 2, 4]
    w = torch.randn(4, 5, generator=gen, dtype=torch.float64).t().requires_grad_()  # [5, 4], non-contiguous
    b = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert gradgradcheck(lambda x, w, b: ops.linear_act(x, w, b, "silu", None), (x, w, b))


# ---------------------------------------------------------------- forward mode
@pytest.mark.parametrize("name", ACTS)
def test_forward_ad_matches_eager(name):
    import torch.autograd.forward_ad as fwAD

    gen = torch.Generator().manual_seed(6)
    x, w, b = _layer(name, gen)
    tx, tw, tb = (torch.randn_like(t) for t in (x, w, b))
    a = _alpha(name)
    results = []
    for fn in (lambda x, w, b: ops.linear_act(x, w, b, name, a),
               lambda x, w, b: reference_linear_act(x, w, b, name, a)):
        with fwAD.dual_level():
            out = fn(fwAD.make_dual(x, tx), fwAD.make_dual(w, tw), fwAD.make_dual(b, tb))
            results.append(fwAD.unpack_dual(out))
    torch.testing.assert_close(results[0].primal, results[1].primal)
    torch.testing.assert_close(results[0].tangent, results[1].tangent)
    # activation alone
    with fwAD.dual_level():
        z = _smooth_points(3, 4, gen=gen)
        t = torch.randn_like(z)
        ours = fwAD.unpack_dual(ops.activation(fwAD.make_dual(z, t), name, a)).tangent
        ref = fwAD.unpack_dual(reference_activation(name, fwAD.make_dual(z, t), alpha_of(name, a))).tangent
    torch.testing.assert_close(ours, ref)


# ---------------------------------------------------------------- torch.func
def _eager_mlp(x, ws, bs, acts):
    h = x
    for w, b, act in zip(ws, bs, acts):
        h = reference_linear_act(h, w, b, act)
    return h


@pytest.mark.parametrize("name", ["tanh", "relu", "gelu", "softmax", "log_softmax", "sin"])
def test_func_transforms_over_linear_act(name):
    gen = torch.Generator().manual_seed(7)
    x, w, b = _layer(name, gen)
    a = _alpha(name)
    ours = lambda x, w, b: ops.linear_act(x, w, b, name, a)  # noqa: E731
    ref = lambda x, w, b: reference_linear_act(x, w, b, name, a)  # noqa: E731
    close = torch.testing.assert_close
    for argnums in (0, 1, (0, 1, 2)):
        close(grad(lambda *t: ours(*t).sin().sum(), argnums=argnums)(x, w, b),
              grad(lambda *t: ref(*t).sin().sum(), argnums=argnums)(x, w, b))
    close(jacrev(ours, argnums=(0, 1))(x, w, b), jacrev(ref, argnums=(0, 1))(x, w, b))
    close(jacfwd(ours, argnums=(0, 1))(x, w, b), jacfwd(ref, argnums=(0, 1))(x, w, b))
    xs = x[:2]
    close(hessian(lambda t: ours(t, w, b).sum())(xs), hessian(lambda t: ref(t, w, b).sum())(xs))
    tangents = tuple(torch.randn_like(t) for t in (x, w, b))
    close(jvp(ours, (x, w, b), tangents), jvp(ref, (x, w, b), tangents))
    out, fn = vjp(ours, x, w, b)
    out_r, fn_r = vjp(ref, x, w, b)
    ct = torch.randn_like(out)
    close(out, out_r)
    close(fn(ct), fn_r(ct))


def test_func_transforms_over_activation_and_mlp():
    gen = torch.Generator().manual_seed(8)
    z = _smooth_points(3, 4, gen=gen)
    close = torch.testing.assert_close
    close(hessian(lambda t: ops.activation(t, "mish", None).sum())(z),
          hessian(lambda t: F.mish(t).sum())(z))
    close(jacfwd(jacrev(lambda t: ops.activation(t, "log_softmax", None).sum(0)))(z[0]),
          jacfwd(jacrev(lambda t: torch.log_softmax(t, -1).sum(0)))(z[0]))
    acts = ["tanh", "silu", "identity"]
    ws = [torch.randn(o, i, generator=gen, dtype=torch.float64) for i, o in ((2, 6), (6, 5), (5, 1))]
    bs = [torch.randn(o, generator=gen, dtype=torch.float64) for o in (6, 5, 1)]
    x = torch.randn(7, 2, generator=gen, dtype=torch.float64)
    ours = lambda x: ops.mlp(x, ws, bs, acts, [None] * 3)  # noqa: E731
    ref = lambda x: _eager_mlp(x, ws, bs, acts)  # noqa: E731
    # the Laplacian of a scalar network, per point (a PINN's u_xx + u_yy)
    lap = lambda f: vmap(lambda p: torch.trace(hessian(lambda q: f(q[None])[0, 0])(p)))  # noqa: E731
    close(lap(ours)(x), lap(ref)(x))
    close(jacfwd(ours)(x), jacfwd(ref)(x))


def test_vmap_has_batching_rules_for_every_op():
    """No per-sample fallback: vmap with its performance warning turned into an error."""
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("gelu", "softmax", "tanh"):
            torch.testing.assert_close(vmap(lambda t: ops.linear_act(t, w, b, name, None))(x),
                                       reference_linear_act(x, w, b, name))
            torch.testing.assert_close(vmap(lambda t: ops.activation(t, name, None), in_dims=2)(x),
                                       reference_activation(name, x.movedim(2, 0)))
        ws, bs = [w, torch.randn(2, 6, dtype=torch.float64)], [b, None]
        torch.testing.assert_close(vmap(lambda t: ops.mlp(t, ws, bs, ["relu", "sigmoid"], [None, None]))(x),
                                   _eager_mlp(x, ws, bs, ["relu", "sigmoid"]))
        # per-sample gradients of every parameter
        def loss(w, b, xi):
            return ops.linear_act(xi[None], w, b, "gelu", None).pow(2).sum()

        def loss_ref(w, b, xi):
            return reference_linear_act(xi[None], w, b, "gelu").pow(2).sum()

        xs = x[:, 0]
        ours = vmap(grad(loss, argnums=(0, 1)), in_dims=(None, None, 0))(w, b, xs)
        ref = vmap(grad(loss_ref, argnums=(0, 1)), in_dims=(None, None, 0))(w, b, xs)
        torch.testing.assert_close(ours, ref)
        # a batched weight: several models at once
        wb = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
        for name in ("silu", "softmax"):
            torch.testing.assert_close(
                vmap(lambda wi: ops.linear_act(x[0], wi, b, name, None))(wb),
                torch.stack([reference_linear_act(x[0], wi, b, name) for wi in wb]))
            torch.testing.assert_close(
                vmap(lambda xi, wi: ops.linear_act(xi, wi, b, name, None))(x, wb),
                torch.stack([reference_linear_act(xi, wi, b, name) for xi, wi in zip(x, wb)]))


def test_per_sample_gradients_of_a_module_equal_eager():
    torch.manual_seed(10)
    model = torch_act.nn.MLP([3, 8, 8, 2], activations=["tanh", "relu", "identity"]).double()
    ref = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 2)).double()
    ref.load_state_dict({k: v for k, v in zip(ref.state_dict(), model.state_dict().values())})
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.randn(6, 2, dtype=torch.float64)

    def per_sample(m):
        params = {k: v.detach() for k, v in m.named_parameters()}

        def loss(p, xi, yi):
            return F.mse_loss(functional_call(m, p, (xi[None],)), yi[None])

        return vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = per_sample(model)
    theirs = per_sample(ref)
    for (k, v), v_ref in zip(ours.items(), theirs.values()):
        torch.testing.assert_close(v, v_ref, msg=k)


def test_ensemble_via_stack_module_state():
    torch.manual_seed(11)
    models = [torch_act.nn.MLP([4, 16, 3], activations=["gelu", "identity"]).double() for _ in range(5)]
    params, buffers = stack_module_state(models)
    base = models[0]
    x = torch.randn(7, 4, dtype=torch.float64)

    def run(p, bf, xi):
        return functional_call(base, (p, bf), (xi,))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = vmap(run, in_dims=(0, 0, None))(params, buffers, x)
        out_b = vmap(run, in_dims=(0, 0, 0))(params, buffers, x.expand(5, 7, 4))
    expect = torch.stack([m(x) for m in models])
    torch.testing.assert_close(out, expect)
    torch.testing.assert_close(out_b, expect)
    # and its gradient through the ensemble
    g = grad(lambda p: vmap(run, in_dims=(0, 0, None))(p, buffers, x).pow(2).sum())(params)
    for i, m in enumerate(models):
        m.zero_grad()
        m(x).pow(2).sum().backward()
        for k, prm in m.named_parameters():
            torch.testing.assert_close(g[k][i], prm.grad)


# ---------------------------------------------------------------- gradient penalties, modules
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_penalty_through_modules_matches_eager(dtype):
    torch.manual_seed(12)
    model = torch_act.nn.MLP([2, 10, 5, 1], activations=["relu", "sigmoid", "identity"]).to(dtype)
    ref = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 5), torch.nn.Sigmoid(),
                              torch.nn.Linear(5, 1)).to(dtype)
    ref.load_state_dict({k: v for k, v in zip(ref.state_dict(), model.state_dict().values())})
    x = torch.randn(32, 2, dtype=dtype)
    grads = []
    for m in (model, ref):
        xx = x.clone().requires_grad_()
        out = m(xx)
        (gx,) = torch.autograd.grad(out.sum(), xx, create_graph=True)
        loss = out.pow(2).mean() + (gx.norm(dim=1) - 1).pow(2).mean()  # WGAN-GP style
        grads.append(torch.autograd.grad(loss, list(m.parameters())))
    tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for g, g_ref in zip(*grads):
        torch.testing.assert_close(g, g_ref, **tol)


# ---------------------------------------------------------------- what stays unsupported
def test_order_beyond_the_functor_is_a_clear_error():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = ops.activation(x, "gelu", None).sum()
    (g1,) = torch.autograd.grad(y, x, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = torch.autograd.grad(g2.sum(), x, create_graph=True)  # third: in the functor
    with pytest.raises(NotImplementedError, match="gelu.*up to order 3.*order 4"):
        torch.autograd.grad(g3.sum(), x)
    # activations whose derivative is a polynomial in y go to any order
    t = torch.randn(5, dtype=torch.float64, requires_grad=True)
    g = ops.activation(t, "tanh", None)
    ref = torch.tanh(t)
    for _ in range(5):
        (g,) = torch.autograd.grad(g.sum(), t, create_graph=True)
        (ref,) = torch.autograd.grad(ref.sum(), t, create_graph=True)
        torch.testing.assert_close(g, ref)


def test_deriv_op_rejects_bad_orders():
    g = torch.randn(3, 4)
    with pytest.raises(ValueError, match="order must be >= 1"):
        ops._activation_deriv(g, g, "tanh", None, 0)
    with pytest.raises(ValueError, match="row activation"):
        ops._activation_deriv(g, g, "softmax", None, 2)
    with pytest.raises(RuntimeError, match="saved must have shape"):
        ops._activation_deriv(g, g[:2], "tanh", None, 2)
    # zero from the order the functor says
    torch.testing.assert_close(ops._activation_deriv(g, g, "relu", None, 2), torch.zeros_like(g))
    torch.testing.assert_close(ops._activation_deriv(g, g.tanh(), "tanh", None, 3), -2 * g)


# ---------------------------------------------------------------- torch.compile
# (not under make test-sanitize: inductor's compiler subprocesses would inherit libasan)
_no_sanitizer = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                   reason="torch.compile is not run under the sanitizers")

def _penalty_step(model, x):
    xx = x.detach().requires_grad_()
    out = model(xx)
    (gx,) = torch.autograd.grad(out.sum(), xx, create_graph=True)
    return out.pow(2).mean() + (gx.norm(dim=1) - 1).pow(2).mean()


@_no_sanitizer
def test_compile_step_with_create_graph_is_pytorchs_limit_not_ours():
    """torch.autograd.grad(create_graph=True) through a compiled region is
    refused by AOTAutograd for every op, ATen's too (docs/autograd.md says so;
    torch.func.grad, below, compiles with fullgraph=True)."""
    torch._dynamo.reset()
    torch.manual_seed(13)
    ours = torch_act.nn.MLP([2, 16, 1], ["tanh", "identity"])
    eager = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x = torch.randn(32, 2)
    messages = []
    for m in (ours, eager):
        compiled = torch.compile(_penalty_step, backend="aot_eager")
        with pytest.raises(RuntimeError, match="double backward") as e:
            torch.autograd.grad(compiled(m, x), list(m.parameters()))
        messages.append(str(e.value).splitlines()[0])
    assert messages[0] == messages[1]


@_no_sanitizer
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph_func_grad_matches_eager(backend):
    """A loss holding a gradient taken with torch.func.grad compiles with fullgraph=True."""
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(14)
    w1 = torch.randn(16, 2, generator=gen)
    b1 = torch.randn(16, generator=gen)
    w2 = torch.randn(1, 16, generator=gen)
    x = torch.randn(32, 2, generator=gen)

    def u(w1, b1, w2, p):
        return ops.linear_act(ops.linear_act(p, w1, b1, "tanh", None), w2, None, "identity", None).sum()

    def loss(w1, b1, w2, x):
        gx = vmap(grad(u, argnums=3), in_dims=(None, None, None, 0))(w1, b1, w2, x[:, None])
        return (gx.norm(dim=-1) - 1).pow(2).mean()

    expect = grad(loss, argnums=(0, 1, 2))(w1, b1, w2, x)
    compiled = torch.compile(grad(loss, argnums=(0, 1, 2)), fullgraph=True, backend=backend)
    got = compiled(w1, b1, w2, x)
    for g, e in zip(got, expect):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- CUDA (skips without a GPU)
_cuda = pytest.mark.skipif(not torch.cuda.is_available() or not torch_act.build_info()["with_cuda"],
                           reason="no CUDA device")


@_cuda
@pytest.mark.parametrize("name", ACTS)
def test_cuda_second_and_third_derivative_kernels_match_cpu(name):
    spec = torch_act.ACTIVATIONS[name]
    if spec.rowwise or not spec.cuda:
        pytest.skip("row activation / no CUDA kernels")
    gen = torch.Generator().manual_seed(15)
    g = torch.randn(3, 300, generator=gen, dtype=torch.float64)
    s = _smooth_points(3, 300, gen=gen)
    if spec.saves == "output":
        s = ops.activation(s, name, _alpha(name))
    top = 3 if spec.max_order is None else spec.max_order
    for order in range(2, top + 1):
        for dtype, tol in ((torch.float64, {}), (torch.float32, {"rtol": 1e-4, "atol": 1e-5})):
            cpu = ops._activation_deriv(g.to(dtype), s.to(dtype), name, _alpha(name), order)
            gpu = ops._activation_deriv(g.to(dtype).cuda(), s.to(dtype).cuda(), name, _alpha(name), order)
            torch.testing.assert_close(gpu.cpu(), cpu, **tol)


@_cuda
@pytest.mark.parametrize("name", ["tanh", "gelu", "softmax", "silu", "relu"])
def test_cuda_gradgradcheck(name):
    gen = torch.Generator().manual_seed(16)
    x, w, b = (t.cuda().requires_grad_() for t in _layer(name, gen))
    assert gradgradcheck(lambda x, w, b: ops.linear_act(x, w, b, name, _alpha(name)), (x, w, b),
                         check_fwd_over_rev=True)
    ws = [w, torch.randn(2, 3, dtype=torch.float64, device="cuda", requires_grad=True)]
    assert gradgradcheck(lambda x, *p: ops.mlp(x, list(p), [b, None], [name, "sigmoid"], [_alpha(name), None]),
                         (x, *ws))


@pytest.mark.parametrize("shape", [(3, 0, 4), (3, 4, 0), (0, 4, 3)], ids=["N0", "K0", "M0"])
def test_double_backward_of_zero_sized_layers(shape):
    """The graph path of the backward ops counts rows instead of inferring
    them (reshape cannot infer -1 from 0 elements when N or K is 0)."""
    m, n, k = shape
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(m, k, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n, k, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w, b: ops.linear_act(x, w, b, "elu", 0.7), (x, w, b))
    wu = torch.randn(n, k, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w, wu: torch_act.linear_glu(x, w, wu, activation="silu"),
                                        (x, w, wu))
