"""Saved-tensor policies (``save=`` of linear_act, nn.Linear, MLP; csrc/save_policy.h).

What is asserted:
  * every policy an activation accepts gives the gradients of the default
    (bitwise in float32 / float64 where the arithmetic is the same: mask vs
    output, recompute vs input; bf16 / fp16 within their tolerance), on every
    CPU ISA path, with random data, N-D inputs, no bias, shapes off the tiles;
  * what is really kept, read with torch.autograd.graph.saved_tensors_hooks:
    mask = one bit per element (uint8 [..., ceil(N/8)]), recompute = nothing
    of the output's size, output / input = one tensor like the output;
  * gradcheck / gradgradcheck in float64 under every policy (double backward
    through the mask is exact: the derivative is piecewise constant);
  * _act_mask / _mask_grad against a float64 reading of the functor's
    derivative (bit set where it is not the off slope), opcheck, vmap;
  * bad input: unknown policy, "mask" / "output" where the activation cannot
    serve them, wrong mask dtype / shape -- each message names the policy or
    argument.
"""
import pytest
import torch

import torch_act
from conftest import ELEMENTWISE, ROWWISE

_ops = torch.ops.torch_act
ISAS = torch_act.supported_cpu_isas()
POLICIES = ["auto", "mask", "output", "input", "recompute"]
MASK_ACTS = [a for a in torch_act.ACTIVATIONS if torch_act.ACTIVATIONS[a].mask]


@pytest.fixture(autouse=True)
def _restore_isa():
    isa = torch_act.cpu_isa()
    yield
    torch_act.set_cpu_isa(isa)


def _alpha(act):
    return {"leaky_relu": 0.2, "softplus": 0.5}.get(act, 0.3) if torch_act.ACTIVATIONS[act].has_alpha else None


def _allowed(act, alpha):
    out = []
    for p in POLICIES:
        try:
            torch_act.ops._save_kind("t", act, alpha, p)
            out.append(p)
        except ValueError:
            pass
    return out


def _run(act, alpha, save, x, w, b, g):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    b = b.detach().requires_grad_() if b is not None else None
    y = torch_act.linear_act(x, w, b, act, alpha, save=save)
    y.backward(g)
    return y.detach(), x.grad, w.grad, None if b is None else b.grad


def _data(dtype, m=37, n=45, k=29, lead=(), bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*lead, m, k, generator=gen).to(dtype)
    w = (torch.randn(n, k, generator=gen) / k ** 0.5).to(dtype)
    b = torch.randn(n, generator=gen).to(dtype) if bias else None
    g = torch.randn(*lead, m, n, generator=gen).to(dtype)
    return x, w, b, g


def _eq(a, b, exact, dtype, what):
    if a is None or b is None:
        assert a is None and b is None, what
        return
    if exact:
        assert torch.equal(a, b), f"{what}: not bitwise equal (max diff {(a.double() - b.double()).abs().max():.3g})"
    else:
        tol = {torch.bfloat16: 3e-2, torch.float16: 4e-3}[dtype]
        scale = max(1.0, b.double().abs().max().item())
        assert (a.double() - b.double()).abs().max().item() <= tol * scale, what


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("act", ELEMENTWISE + ROWWISE)
def test_policies_give_the_same_gradients(isa, dtype, act):
    torch_act.set_cpu_isa(isa)
    alpha = _alpha(act)
    shapes = [dict(), dict(m=5, n=9, k=3, lead=(2,), bias=False), dict(m=70, n=130, k=67)]
    for i, sh in enumerate(shapes):
        x, w, b, g = _data(dtype, seed=i, **sh)
        base = _run(act, alpha, "output" if "output" in _allowed(act, alpha) else "input", x, w, b, g)
        for save in _allowed(act, alpha):
            got = _run(act, alpha, save, x, w, b, g)
            # the same arithmetic: the fused forward, and the derivative from y, its
            # bits, or z (saved or recomputed by the same GEMM); "input" for an
            # activation written in y recomputes y from a rounded z in bf16
            # activation written in y recomputes y from a rounded z in bf16; in bf16
            # the mask's dz = g * slope is rounded to bf16 before the GEMMs (the
            # fused narrow-layer backward keeps it in fp32): exact for slopes 0 / 1
            kind = torch_act.ops._save_kind("t", act, alpha, save)
            exact = dtype != torch.bfloat16 or kind == "output" or (
                kind == "mask" and act in ("relu", "relu6")) or (
                kind in ("input", "recompute") and "output" not in _allowed(act, alpha))
            for what, a, r in zip(("out", "dx", "dw", "db"), got, base):
                out_exact = not (kind == "input" and "output" in _allowed(act, alpha))
                from_z = kind in ("input", "recompute") and "output" in _allowed(act, alpha)
                if from_z and dtype == torch.bfloat16:
                    # y from a bf16-rounded z: a kink (hardsigmoid's +-3) may move by a rounding
                    # step, so compare in norm
                    if a is not None and what != "out":
                        rel = (a.double() - r.double()).norm() / r.double().norm().clamp_min(1e-30)
                        assert rel < 0.05, f"{act} save={save} {what}: relative error {rel:.3g}"
                    continue
                _eq(a, r, exact or (what == "out" and out_exact), dtype, f"{act} save={save} {what} {sh}")


def _saved(act, alpha, save, dtype=torch.float32, m=256, n=512, k=64):
    x, w, b, _ = _data(dtype, m=m, n=n, k=k)
    x.requires_grad_()
    w.requires_grad_()
    kept = []

    def pack(t):
        kept.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch_act.linear_act(x, w, b, act, alpha, save=save)
    # what the GEMMs need (x, W; b for a recomputed z) is not counted
    return [t for t in kept if t is not b], x, w


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("act", MASK_ACTS)
def test_mask_keeps_one_bit_per_element(act, dtype):
    m, n = 256, 509  # n not a multiple of 8: the last byte of each row is partial
    kept, x, w = _saved(act, _alpha(act), "mask", dtype, m=m, n=n)
    extra = [t for t in kept if t is not x and t is not w]
    assert len(extra) == 1, [t.shape for t in kept]
    bits = extra[0]
    assert bits.dtype == torch.uint8 and bits.shape == (m, (n + 7) // 8)
    assert bits.nbytes == m * ((n + 7) // 8)
    full = m * n * dtype.itemsize
    assert full / bits.nbytes > (31 if dtype == torch.float32 else 15)


@pytest.mark.parametrize("act", ["relu", "gelu", "sigmoid", "silu"])
def test_what_each_policy_keeps(act):
    m, n = 64, 96
    sizes = {}
    for save in _allowed(act, None):
        kept, x, w = _saved(act, None, save, m=m, n=n)
        sizes[save] = sorted(t.nbytes for t in kept if t is not x and t is not w)
    assert sizes["recompute"] == []
    assert sizes["input"] == [m * n * 4]
    if "output" in sizes:
        assert sizes["output"] == [m * n * 4]
    if "mask" in sizes:
        assert sizes["mask"] == [m * n // 8]
    # auto on a small layer (64 x 96 outputs): the output where the derivative reads it, else z
    assert sizes["auto"] == sizes.get("output", sizes["input"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "relu6", "hardsigmoid", "sigmoid", "gelu"])
def test_auto_keeps_the_mask_of_a_big_cpu_layer(act, dtype):
    """The issue's layer: nn.Linear(512, 512, activation="relu") on 256 rows keeps
    one bit per output under the default policy (32x less than its fp32 output),
    with the same gradients as save="output"; an activation without a mask keeps
    what its derivative reads; a small layer (the document's Net) keeps its output."""
    torch.manual_seed(0)
    lin = torch_act.nn.Linear(512, 512, activation=act).to(dtype)
    x = torch.randn(256, 512, dtype=dtype, requires_grad=True)
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        y = lin(x)
    extra = [t for t in kept if t is not x and t is not lin.weight and t is not lin.bias]
    mask = torch_act.ACTIVATIONS[act].mask
    if mask:
        assert [(t.dtype, tuple(t.shape)) for t in extra] == [(torch.uint8, (256, 64))]
    else:
        assert [t.nbytes for t in extra] == [256 * 512 * dtype.itemsize]
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, lin.weight, lin.bias), g)
    ref_save = "output" if "output" in _allowed(act, None) else "input"
    ref = torch.autograd.grad(torch_act.linear_act(x, lin.weight, lin.bias, act, save=ref_save),
                              (x, lin.weight, lin.bias), g)
    for a, r in zip(got, ref):
        if dtype == torch.float32 or act in ("relu", "relu6") or not mask:
            assert torch.equal(a, r)
        else:  # dz = g * slope rounded to bf16 before the GEMMs under the mask
            _eq(a, r, False, dtype, act)
    # the document's Net: its 64 x 10 layer keeps its output (the extra op calls would cost more)
    small, xs = torch_act.nn.Linear(2, 10, activation=act), torch.randn(64, 2, requires_grad=True)
    kept.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
        small(xs)
    assert [t.dtype for t in kept if t.dim() == 2 and t.shape == (64, 10)] == [torch.float32]
    assert not [t for t in kept if t.dtype == torch.uint8]


def test_identity_keeps_nothing_under_any_policy():
    for save in POLICIES:  # mask and output too: there is nothing to keep
        kept, x, w = _saved("identity", None, save)
        assert [t for t in kept if t is not x and t is not w] == []


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "hardsigmoid", "gelu", "sigmoid", "tanh", "softmax"])
def test_gradcheck_and_gradgradcheck_every_policy(act):
    alpha = _alpha(act)
    for save in _allowed(act, alpha):
        x, w, b, _ = _data(torch.float64, m=4, n=11, k=3)
        # keep z away from the kinks (finite differences across a kink are wrong)
        args = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_())
        f = lambda x, w, b: torch_act.linear_act(x, w, b, act, alpha, save=save)  # noqa: E731
        assert torch.autograd.gradcheck(f, args), save
        assert torch.autograd.gradgradcheck(f, args), save


def test_double_backward_under_mask_matches_eager():
    x, w, b, g = _data(torch.float64, m=6, n=10, k=5)
    x.requires_grad_()
    w.requires_grad_()
    outs = []
    for fn in (lambda: torch_act.linear_act(x, w, b, "leaky_relu", 0.2, save="mask"),
               lambda: torch.nn.functional.leaky_relu(torch.nn.functional.linear(x, w, b), 0.2)):
        y = fn()
        gx, gw = torch.autograd.grad(y, (x, w), g, create_graph=True)
        pen = (gx ** 2).sum() + (gw ** 2).sum()
        outs.append(torch.autograd.grad(pen, (x, w)))
    for a, r in zip(*outs):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("act", MASK_ACTS)
def test_act_mask_and_mask_grad_against_float64(act, dtype, isa):
    torch_act.set_cpu_isa(isa)
    alpha = _alpha(act)
    gen = torch.Generator().manual_seed(3)
    # widths around the vector (4 / 8 / 16 lanes), byte and 64-bit word edges
    for n in (1, 3, 7, 8, 9, 15, 16, 17, 37, 63, 64, 65, 127, 130):
        nb = (n + 7) // 8
        s = (torch.randn(3, 7, n, generator=gen) * 4).to(dtype)
        special = torch.tensor([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 6.0])[:n]
        s[0, 0, :len(special)] = special.to(dtype)
        g = torch.randn(3, 7, n, generator=gen).to(dtype)
        bits = _ops._act_mask(s, act, alpha)
        assert bits.shape == (3, 7, nb) and bits.dtype == torch.uint8
        d = _ops._activation_bwd(torch.ones_like(s).double(), s.double(), act, alpha)
        off = {"leaky_relu": alpha}.get(act, 0.0)
        want = d != off
        got = ((bits.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1).reshape(3, 7, 8 * nb)
        assert torch.equal(got[..., :n].bool(), want), (isa, n)
        assert not got[..., n:].any(), f"{isa} n={n}: bits past the row's end are set"
        # the expansion is the functor's backward, bitwise (NaN where it gives NaN)
        dz = _ops._mask_grad(g, bits, act, alpha)
        ref = _ops._activation_bwd(g, s, act, alpha)
        assert torch.equal(dz.isnan(), ref.isnan()), (isa, n)
        assert torch.equal(dz.nan_to_num(), ref.nan_to_num()), (isa, n)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mask_grad_reads_any_grad_layout(dtype, isa):
    # a broadcast grad_out (y.sum().backward() on the layer's output: strides
    # 0, 0), a broadcast row (0, 1), rows with padding, a transposed view:
    # each equals the same grad made contiguous
    torch_act.set_cpu_isa(isa)
    gen = torch.Generator().manual_seed(5)
    for m, n in ((1, 9), (5, 37), (130, 65)):
        s = torch.randn(m, n, generator=gen).to(dtype)
        bits = _ops._act_mask(s, "leaky_relu", 0.1)
        base = torch.randn(m, n + 3, generator=gen).to(dtype)
        layouts = {
            "scalar": torch.tensor(1.7, dtype=dtype).expand(m, n),
            "row": base[0, :n].expand(m, n),
            "padded rows": base[:, 1:n + 1],
            "transposed": base[:, :n].t().contiguous().t(),
            "3d broadcast": torch.tensor(-0.5, dtype=dtype).expand(2, m, n),
        }
        for name, g in layouts.items():
            b = bits.expand(2, *bits.shape) if g.dim() == 3 else bits
            got = _ops._mask_grad(g, b, "leaky_relu", 0.1)
            want = _ops._mask_grad(g.contiguous(), b.contiguous(), "leaky_relu", 0.1)
            assert got.is_contiguous() and got.shape == g.shape, name
            assert torch.equal(got, want), (isa, name, m, n)
            ref = _ops._activation_bwd(g.contiguous(), s.expand_as(g).contiguous(), "leaky_relu", 0.1)
            assert torch.equal(got, ref), (isa, name, m, n)


def test_opcheck_and_vmap():
    x, w, b, g = _data(torch.float32, m=9, n=21, k=6)
    s = torch.relu(x @ w.t() + b)
    bits = _ops._act_mask(s, "relu")
    torch.library.opcheck(_ops._act_mask.default, (s, "relu", None))
    torch.library.opcheck(_ops._mask_grad.default, (g, bits, "relu", None))
    for save in POLICIES:
        torch.library.opcheck(_ops.linear_act.default, (x.requires_grad_(), w, b, "relu", None, save))
    # per-sample gradients through the mask policy equal eager's
    f = lambda w, x: torch_act.linear_act(x, w, b, "relu", save="mask").square().sum()  # noqa: E731
    e = lambda w, x: torch.relu(x @ w.t() + b).square().sum()  # noqa: E731
    xs = x.reshape(9, 1, 6)
    got = torch.func.vmap(torch.func.grad(f), in_dims=(None, 0))(w, xs)
    ref = torch.func.vmap(torch.func.grad(e), in_dims=(None, 0))(w, xs)
    torch.testing.assert_close(got, ref)


def test_compile_fullgraph_with_mask():
    lin = torch_act.nn.Linear(16, 24, activation="relu", save="mask")
    x = torch.randn(8, 16, requires_grad=True)
    ref = lin(x)
    ref.sum().backward()
    gref = x.grad.clone()
    x.grad = None
    out = torch.compile(lin, fullgraph=True, backend="aot_eager")(x)
    out.sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x.grad, gref)


def test_modules_take_the_policy():
    torch.manual_seed(0)
    base = torch_act.nn.MLP([12, 20, 20, 3], ["relu", "gelu", "identity"])
    x = torch.randn(17, 12)
    grads = {}
    for save in ("auto", "recompute", "input"):
        m = torch_act.nn.MLP([12, 20, 20, 3], ["relu", "gelu", "identity"], save=save)
        m.load_state_dict(base.state_dict())
        assert list(m.state_dict()) == list(base.state_dict())
        m(x).square().sum().backward()
        grads[save] = [p.grad for p in m.parameters()]
    for save in ("recompute", "input"):
        for a, r in zip(grads[save], grads["auto"]):
            torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-6)
    lin = torch_act.nn.Linear(4, 5, activation="relu", save="mask")
    assert "save='mask'" in repr(lin)
    with pytest.raises(ValueError, match="save='mask'.*gelu"):
        torch_act.nn.Linear(4, 5, activation="gelu", save="mask")
    with pytest.raises(ValueError, match="save='mask'.*gelu"):
        torch_act.nn.MLP([4, 5, 2], ["relu", "gelu"], save="mask")


def test_bad_input_names_the_policy():
    x, w, b, g = _data(torch.float32, m=3, n=4, k=2)
    x.requires_grad_()
    with pytest.raises(ValueError, match="unknown save policy 'bits'.*auto, mask, output, input, recompute"):
        torch_act.linear_act(x, w, b, "relu", save="bits")
    with pytest.raises(ValueError, match="unknown save policy"):
        torch_act.linear_act(x.detach(), w, b, "relu", save="bits")  # also without autograd
    with pytest.raises(ValueError, match="save='mask'.*relu.*gelu's does not"):
        torch_act.linear_act(x, w, b, "gelu", save="mask")
    with pytest.raises(ValueError, match="save='output'.*gelu's reads the pre-activation"):
        torch_act.linear_act(x, w, b, "gelu", save="output")
    with pytest.raises(ValueError, match="save='output'"):
        torch_act.linear_act(x, w, b, "leaky_relu", -0.1, save="output")
    bits = _ops._act_mask(torch.randn(3, 4), "relu")
    with pytest.raises(RuntimeError, match="mask must be uint8"):
        _ops._mask_grad(g, bits.float(), "relu")
    with pytest.raises(RuntimeError, match=r"mask must have shape \[3, 1\]"):
        _ops._mask_grad(g, bits.new_zeros(3, 2), "relu")
    with pytest.raises(ValueError, match="save='mask'"):
        _ops._act_mask(torch.randn(3, 4), "tanh")
    with pytest.raises(ValueError, match="unknown activation"):
        _ops._act_mask(torch.randn(3, 4), "nope")


def test_mlp_function_takes_the_policy():
    torch.manual_seed(1)
    ws = [torch.randn(20, 12, requires_grad=True), torch.randn(3, 20, requires_grad=True)]
    bs = [torch.randn(20, requires_grad=True), None]
    x = torch.randn(9, 12)
    grads = {}
    for save in ("auto", "mask", "recompute"):
        y = torch_act.mlp(x, ws, bs, ["relu", "leaky_relu"], [None, 0.1], save=save)
        grads[save] = torch.autograd.grad(y.square().sum(), ws + bs[:1])
    for save in ("mask", "recompute"):
        for a, r in zip(grads[save], grads["auto"]):
            torch.testing.assert_close(a, r)
    with pytest.raises(ValueError, match="mlp layer 1: save='mask'.*gelu"):
        torch_act.mlp(x, ws, bs, ["relu", "gelu"], save="mask")


def test_gated_unit_recompute_keeps_only_the_operands():
    torch.manual_seed(2)
    m = torch_act.nn.GatedMLP(16, 40, activation="silu")
    r = torch_act.nn.GatedMLP(16, 40, activation="silu", save="recompute")
    r.load_state_dict(m.state_dict())
    x = torch.randn(2, 7, 16)
    sizes = {}
    for name, mod in (("auto", m), ("recompute", r)):
        kept = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t) or t, lambda t: t):
            out = mod(x)
        sizes[name] = sum(t.nbytes for t in kept if t.shape[-1] == 80)  # z = [z_gate | z_up]
        out.square().sum().backward()
    assert sizes["auto"] == 2 * 7 * 80 * 4 and sizes["recompute"] == 0
    for a, b in zip(r.parameters(), m.parameters()):
        assert torch.equal(a.grad, b.grad)
    with pytest.raises(ValueError, match="save='mask' cannot serve a gated unit"):
        torch_act.nn.GatedMLP(4, 8, save="mask")
    with pytest.raises(ValueError, match="unknown save policy 'bits'"):
        torch_act.linear_glu(x, m.gate_proj.weight, m.up_proj.weight, save="bits")


def test_auto_mask_of_a_big_layer_under_torch_func_double_backward_and_compile():
    """The default policy on a layer big enough for the mask: torch.func (grad, vmap of grad),
    a gradient penalty (double backward) and torch.compile(fullgraph) give eager's results."""
    torch.manual_seed(0)
    x = torch.randn(256, 512, dtype=torch.float64)
    w = torch.randn(512, 512, dtype=torch.float64) / 20
    b = torch.randn(512, dtype=torch.float64)
    kept, _, _ = _saved("relu", None, "auto", torch.float64, m=256, n=512, k=512)
    assert any(t.dtype == torch.uint8 for t in kept)  # the bits, so the paths below are the mask's
    f = lambda w, x: torch_act.linear_act(x, w, b, "relu").square().sum()  # noqa: E731
    e = lambda w, x: torch.relu(x @ w.t() + b).square().sum()  # noqa: E731
    torch.testing.assert_close(torch.func.grad(f)(w, x), torch.func.grad(e)(w, x))
    xs = x.reshape(4, 64, 512)
    torch.testing.assert_close(torch.func.vmap(torch.func.grad(f), in_dims=(None, 0))(w, xs),
                               torch.func.vmap(torch.func.grad(e), in_dims=(None, 0))(w, xs))
    pens = []
    for fn in (lambda xr, wr: torch_act.linear_act(xr, wr, b, "leaky_relu", 0.1),
               lambda xr, wr: torch.nn.functional.leaky_relu(xr @ wr.t() + b, 0.1)):
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        gx, gw = torch.autograd.grad(fn(xr, wr).square().sum(), (xr, wr), create_graph=True)
        pens.append(torch.autograd.grad(gx.square().sum() + gw.square().sum(), (xr, wr)))
    for a, r in zip(*pens):
        torch.testing.assert_close(a, r)
    lin = torch_act.nn.Linear(512, 512, activation="relu")
    xx = torch.randn(256, 512, requires_grad=True)
    torch.compile(lin, fullgraph=True, backend="aot_eager")(xx).square().sum().backward()
    got = xx.grad.clone()
    xx.grad = None
    lin(xx).square().sum().backward()
    torch.testing.assert_close(got, xx.grad)
