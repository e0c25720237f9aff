"""linear_glu: act(x @ Wg.T + bg) * (x @ Wu.T + bu) against float64 references.

Every registered elementwise activation (built-ins and the session's plugin)
as the gate, every dtype, every CPU ISA path this machine runs, N-D and
strided inputs, with and without biases, shapes off every tile size; the
backward from the chain rule in float64; gradcheck, opcheck,
torch.compile(fullgraph=True), torch.export, autocast, and bad-input errors.
"""
import os

import pytest
import torch
import torch.nn.functional as F

import torch_act
from conftest import ALPHAS, DTYPES, ELEMENTWISE, ROWWISE
from reference import reference_activation

OPS = torch.ops.torch_act
ISAS = torch_act.supported_cpu_isas()
# error bound relative to max(1, max|reference|), as tests/test_cpu_isa.py
TOL = {torch.float32: 5e-5, torch.float64: 1e-11, torch.bfloat16: 4e-2, torch.float16: 6e-3}


@pytest.fixture(autouse=True)
def _restore_isa():
    isa = torch_act.cpu_isa()
    yield
    torch_act.set_cpu_isa(isa)


def _close(actual, ref, tol, what):
    assert actual.shape == ref.shape, (what, actual.shape, ref.shape)
    if ref.numel() == 0:
        return
    a = actual.double()
    scale = max(1.0, ref.abs().max().item())
    err = (a - ref).abs().max().item()
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol * scale:.3g}"


def _reference(x, wg, wu, bg, bu, act, alpha):
    """float64 forward from the (rounded) inputs."""
    d = lambda t: None if t is None else t.detach().double()  # noqa: E731
    zg = F.linear(d(x), d(wg), d(bg))
    zu = F.linear(d(x), d(wu), d(bu))
    return reference_activation(act, zg, alpha) * zu


def _inputs(m, k, n, dtype, bias, layout="contig", lead=()):
    g = torch.Generator().manual_seed(m * 1000003 + k * 101 + n)
    scale = 1.0 / max(k, 1) ** 0.5
    x = torch.randn(*lead, m, k, generator=g, dtype=torch.float64)
    wg = torch.randn(n, k, generator=g, dtype=torch.float64) * scale * 2
    wu = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    bg = torch.randn(n, generator=g, dtype=torch.float64) if bias in ("both", "gate") else None
    bu = torch.randn(n, generator=g, dtype=torch.float64) if bias in ("both", "up") else None
    x, wg, wu = (t.to(dtype) for t in (x, wg, wu))
    bg = bg.to(dtype) if bg is not None else None
    bu = bu.to(dtype) if bu is not None else None
    if layout == "t":  # transposed storage
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
        wg = wg.t().contiguous().t()
    elif layout == "slice":  # every other column
        x = torch.cat([x, x], -1)[..., ::2]
        wu = torch.cat([wu, wu], 1)[:, ::2]
    return x, wg, wu, bg, bu


SHAPES = [(1, 1, 1), (7, 13, 1), (5, 3, 17), (37, 61, 29), (64, 128, 96), (131, 67, 97), (3, 300, 41)]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ELEMENTWISE)
def test_forward_every_activation_dtype_isa(act, dtype, isa):
    torch_act.set_cpu_isa(isa)
    alpha = ALPHAS.get(act)
    for i, (m, k, n) in enumerate(SHAPES):
        bias = ("both", None, "gate", "up")[i % 4]
        x, wg, wu, bg, bu = _inputs(m, k, n, dtype, bias)
        out = torch_act.linear_glu(x, wg, wu, bg, bu, act, alpha)
        assert out.dtype == dtype
        _close(out, _reference(x, wg, wu, bg, bu, act, alpha), TOL[dtype], f"{act} {(m, k, n)} {bias}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["contig", "t", "slice"])
def test_forward_layouts_and_nd(layout, dtype, isa):
    torch_act.set_cpu_isa(isa)
    for lead, (m, k, n) in [((), (70, 33, 45)), ((2, 3), (11, 40, 19)), ((4,), (129, 257, 65))]:
        x, wg, wu, bg, bu = _inputs(m, k, n, dtype, "both", layout, lead)
        out = torch_act.linear_glu(x, wg, wu, bg, bu, "gelu")
        assert out.shape == (*lead, m, n)
        _close(out, _reference(x, wg, wu, bg, bu, "gelu", None), TOL[dtype], f"{layout} {lead}")


def _backward_reference(x, wg, wu, bg, bu, act, alpha, g, z=None):
    """float64 chain rule.  z: the [z_gate | z_up] the forward saved (rounded to
    the dtype), so kinks (relu at 0, ...) see the same side as the kernels."""
    d = lambda t: None if t is None else t.detach().double()  # noqa: E731
    x64, wg64, wu64, g64 = d(x), d(wg), d(wu), g.double()
    if z is None:
        zg, zu = F.linear(x64, wg64, d(bg)), F.linear(x64, wu64, d(bu))
    else:
        zg, zu = d(z).chunk(2, -1)
    zg = zg.clone().requires_grad_()
    y = reference_activation(act, zg, alpha)
    (dg,) = torch.autograd.grad(y, zg, g64 * zu)
    du = g64 * y.detach()
    x2, dg2, du2 = (t.flatten(0, -2) for t in (x64, dg, du))
    dx = (dg2 @ wg64 + du2 @ wu64).reshape(x64.shape)
    return [dx, dg2.T @ x2, du2.T @ x2, dg2.sum(0) if bg is not None else None,
            du2.sum(0) if bu is not None else None]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("act", ELEMENTWISE)
def test_backward_every_activation(act, dtype, isa):
    torch_act.set_cpu_isa(isa)
    alpha = ALPHAS.get(act)
    # 16-bit inputs: the reference's kinks (relu at 0, ...) see other rounding; the
    # tolerance covers smooth gates, and the kinks are measure-zero for random data
    tol = TOL[dtype] * (4 if dtype == torch.bfloat16 else 1)
    if dtype == torch.float64 and act in ("celu", "hardsigmoid"):
        # torch's float64 celu / hardsigmoid backward round 1/alpha, 1/6 to float32; ours are exact
        tol = 1e-6
    for i, (m, k, n) in enumerate([(9, 7, 5), (67, 70, 97), (130, 33, 80)]):
        bias = ("both", "gate", None)[i]
        x, wg, wu, bg, bu = _inputs(m, k, n, dtype, bias, "t" if i == 1 else "contig")
        leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, wg, wu, bg, bu)]
        out = torch_act.linear_glu(*leaves, act, alpha)
        gr = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(i)).to(dtype)
        out.backward(gr)
        _, z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, act, alpha)
        refs = _backward_reference(x, wg, wu, bg, bu, act, alpha, gr, z)
        for name, leaf, ref in zip(("input", "gate_weight", "up_weight", "gate_bias", "up_bias"), leaves, refs):
            if leaf is None:
                continue
            _close(leaf.grad, ref, tol * (1 if name == "input" else 3), f"{act} d{name} {(m, k, n)}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["expanded", "row", "transposed", "sliced", "3d"])
def test_backward_reads_any_grad_layout(layout, dtype, isa):
    """The pass through the gate reads grad_out in place: a broadcast, a
    transposed or a column-sliced gradient gives the contiguous one's result."""
    torch_act.set_cpu_isa(isa)
    m, k, n = 37, 29, 53
    lead = (3,) if layout == "3d" else ()
    x, wg, wu, bg, bu = _inputs(m, k, n, dtype, "both", lead=lead)
    _, z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, "gelu", None)
    base = torch.randn(*lead, m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).to(dtype)
    if layout == "expanded":
        g = base[..., :1, :].expand(*lead, m, n)
    elif layout == "row":
        g = base[..., :1, :1].expand(*lead, m, n)
    elif layout == "transposed":
        g = base.t().contiguous().t()
    elif layout == "sliced":
        g = torch.cat([base, base], -1)[..., ::2]
    else:
        g = base.transpose(0, 1).contiguous().transpose(0, 1)
    assert not g.is_contiguous()
    mask = [True] * 5
    got = OPS._linear_glu_bwd(g, x, wg, wu, z, "gelu", None, mask)
    want = OPS._linear_glu_bwd(g.contiguous(), x, wg, wu, z, "gelu", None, mask)
    for name, a, b in zip(("input", "gate_weight", "up_weight", "gate_bias", "up_bias"), got, want):
        assert torch.equal(a, b), name
    refs = _backward_reference(x, wg, wu, bg, bu, "gelu", None, g, z)
    tol = TOL[dtype] * (4 if dtype == torch.bfloat16 else 1)
    _close(got[0], refs[0], tol, f"{layout} dinput")
    _close(got[1], refs[1], tol * 3, f"{layout} dgate_weight")


def test_backward_deterministic_and_partial_masks():
    x, wg, wu, bg, bu = _inputs(150, 40, 70, torch.float32, "both")
    res = []
    threads0 = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            leaves = [t.clone().requires_grad_() for t in (x, wg, wu, bg, bu)]
            torch_act.linear_glu(*leaves, "silu").sum().backward()
            res.append([t.grad for t in leaves])
    finally:
        torch.set_num_threads(threads0)
    for a, b in zip(*res):
        assert torch.equal(a, b)
    # only the up weight's gradient
    wu2 = wu.clone().requires_grad_()
    torch_act.linear_glu(x, wg, wu2, bg, bu, "silu").sum().backward()
    ref = _backward_reference(x, wg, wu, bg, bu, "silu", None, torch.ones(150, 70))[2]
    _close(wu2.grad, ref, TOL[torch.float32] * 3, "dup_weight alone")


@pytest.mark.parametrize("m,k,n", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0)])
def test_empty_shapes(m, k, n):
    x, wg, wu, bg, bu = _inputs(m, k, n, torch.float64, "both")
    leaves = [t.clone().requires_grad_() for t in (x, wg, wu, bg, bu)]
    out = torch_act.linear_glu(*leaves, "silu")
    _close(out, _reference(x, wg, wu, bg, bu, "silu", None), 1e-12, "forward")
    out.sum().backward()
    refs = _backward_reference(x, wg, wu, bg, bu, "silu", None, torch.ones(out.shape, dtype=torch.float64))
    for leaf, ref in zip(leaves, refs):
        _close(leaf.grad, ref, 1e-12, "grad")


@pytest.mark.parametrize("act", ["silu", "gelu", "relu", "leaky_relu", "softplus", "identity"] + [
    a for a in ELEMENTWISE if not torch_act.ACTIVATIONS[a].builtin])
def test_gradcheck(act):
    x, wg, wu, bg, bu = _inputs(6, 5, 7, torch.float64, "both")
    if act in ("relu", "leaky_relu"):  # keep the gate away from the kink
        bg = bg + 3 * torch.sign(bg)
    args = [t.requires_grad_() for t in (x, wg, wu, bg, bu)]
    assert torch.autograd.gradcheck(lambda *a: torch_act.linear_glu(*a, act, ALPHAS.get(act)), args)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ["silu", "gelu", "sigmoid"])
def test_opcheck(act, bias):
    x, wg, wu, bg, bu = _inputs(5, 6, 7, torch.float32, "both" if bias else None)
    x, wg, wu = (t.requires_grad_() for t in (x, wg, wu))
    torch.library.opcheck(OPS.linear_glu.default, (x, wg, wu, bg, bu, act, None))
    x0, wg0, wu0 = (t.detach() for t in (x, wg, wu))
    out, z = OPS._linear_glu_fwd(x0, wg0, wu0, bg, bu, act, None)
    torch.library.opcheck(OPS._linear_glu_fwd.default, (x0, wg0, wu0, bg, bu, act, None))
    for mask in ([True] * 5, [False, True, False, bias, False], [True, False, True, False, bias]):
        torch.library.opcheck(OPS._linear_glu_bwd.default,
                              (torch.randn_like(out), x0, wg0, wu0, z, act, None, mask))


def test_compile_fullgraph_and_export():
    x, wg, wu, bg, bu = _inputs(8, 12, 10, torch.float32, "both")
    f = lambda *a: torch_act.linear_glu(*a, "silu") * 2  # noqa: E731
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    leaves = [t.clone().requires_grad_() for t in (x, wg, wu, bg, bu)]
    leaves2 = [t.clone().requires_grad_() for t in (x, wg, wu, bg, bu)]
    y, y2 = compiled(*leaves), f(*leaves2)
    torch.testing.assert_close(y, y2)
    y.sum().backward()
    y2.sum().backward()
    for a, b in zip(leaves, leaves2):
        torch.testing.assert_close(a.grad, b.grad)

    class M(torch.nn.Module):
        def forward(self, x, wg, wu):
            return torch_act.linear_glu(x, wg, wu, activation="gelu")

    ep = torch.export.export(M(), (x, wg, wu))
    torch.testing.assert_close(ep.module()(x, wg, wu), torch_act.linear_glu(x, wg, wu, activation="gelu"))


def test_autocast_runs_in_bf16():
    x, wg, wu, bg, bu = _inputs(8, 12, 10, torch.float32, "both")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = torch_act.linear_glu(x, wg, wu, bg, bu)
    assert out.dtype == torch.bfloat16
    ref = _reference(*(t.bfloat16() for t in (x, wg, wu, bg, bu)), "silu", None)
    _close(out, ref, TOL[torch.bfloat16], "autocast")


def test_bad_inputs_name_the_argument():
    x, wg, wu, bg, bu = _inputs(4, 6, 5, torch.float32, "both")
    with pytest.raises(ValueError, match="unknown activation 'no_such_gate_act'"):
        torch_act.linear_glu(x, wg, wu, activation="no_such_gate_act")
    for row in ROWWISE:
        with pytest.raises(ValueError, match="gate activation must be elementwise"):
            torch_act.linear_glu(x, wg, wu, activation=row)
    with pytest.raises(RuntimeError, match="up_weight shape .* must equal gate_weight shape"):
        torch_act.linear_glu(x, wg, wu[:4])
    with pytest.raises(RuntimeError, match=r"up_weight.size\(1\)"):
        torch_act.linear_glu(x, wg, torch.randn(5, 7))
    with pytest.raises(RuntimeError, match=r"gate_weight.size\(1\)"):
        torch_act.linear_glu(x, torch.randn(5, 7), wu)
    with pytest.raises(RuntimeError, match="up_weight dtype"):
        torch_act.linear_glu(x, wg, wu.double())
    with pytest.raises(RuntimeError, match="gate_weight dtype"):
        torch_act.linear_glu(x, wg.half(), wu)
    with pytest.raises(RuntimeError, match="up_bias must be 1-D of size N=5"):
        torch_act.linear_glu(x, wg, wu, bg, bu[:3])
    with pytest.raises(RuntimeError, match="gate_bias dtype"):
        torch_act.linear_glu(x, wg, wu, bg.double(), bu)
    with pytest.raises(RuntimeError, match="up_weight must be 2-D"):
        torch_act.linear_glu(x, wg, wu[0])
    with pytest.raises(RuntimeError, match="up_weight is on meta but input is on cpu"):
        torch_act.linear_glu(x, wg, wu.to("meta"))
    with pytest.raises(RuntimeError, match="input must be float32"):
        torch_act.linear_glu(x.int(), wg, wu)
    with pytest.raises(ValueError, match="takes no alpha"):
        torch_act.linear_glu(x, wg, wu, activation="silu", alpha=1.0)


# ---------------------------------------------------------------- hypothesis sweep
# As tests/test_cpu_isa.py's sweep for linear_act: shapes 0..300 and primes (off
# every register tile and K block), layouts, thread counts, every gate, every
# dtype and ISA path, biases on either half, backward with partial masks.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PRIMES = [1, 2, 3, 5, 7, 13, 17, 31, 61, 97, 127, 131, 211, 257, 293]
_dim = st.one_of(st.integers(1, 300), st.sampled_from(_PRIMES))


@settings(max_examples=int(os.environ.get("TORCH_ACT_HYPOTHESIS_EXAMPLES", "250")) // 2,
          deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(isa=st.sampled_from(ISAS), dtype=st.sampled_from(DTYPES), act=st.sampled_from(ELEMENTWISE),
       M=st.one_of(st.just(0), _dim), N=_dim, K=st.one_of(st.just(0), _dim),
       layout=st.sampled_from(["contig", "t", "slice"]), threads=st.sampled_from([1, 2]),
       bias=st.sampled_from(["both", "gate", "up", None]), backward=st.booleans(),
       mask=st.tuples(*[st.booleans()] * 5))
def test_linear_glu_sweep(isa, dtype, act, M, N, K, layout, threads, bias, backward, mask):
    torch_act.set_cpu_isa(isa)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        alpha = ALPHAS.get(act)
        x, wg, wu, bg, bu = _inputs(M, K, N, dtype, bias, layout)
        out = torch_act.linear_glu(x, wg, wu, bg, bu, act, alpha)
        _close(out, _reference(x, wg, wu, bg, bu, act, alpha), TOL[dtype], f"{act} {(M, K, N)} fwd")
        if not backward or dtype == torch.float16:
            return
        _, z = OPS._linear_glu_fwd(x, wg, wu, bg, bu, act, alpha)
        g = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(M + N)).to(dtype)
        m5 = [mask[0], mask[1], mask[2], mask[3] and bg is not None, mask[4] and bu is not None]
        grads = OPS._linear_glu_bwd(g, x, wg, wu, z, act, alpha, m5)
        refs = _backward_reference(x, wg, wu, bg, bu, act, alpha, g, z)
        tol = TOL[dtype] * (4 if dtype == torch.bfloat16 else 1)
        if dtype == torch.float64 and act in ("celu", "hardsigmoid"):
            tol = 1e-6  # torch's float64 references round 1/alpha, 1/6 to float32
        for i, name in enumerate(("input", "gate_weight", "up_weight", "gate_bias", "up_bias")):
            if m5[i]:
                _close(grads[i], refs[i], tol * (1 if i == 0 else 3), f"{act} d{name} {(M, K, N)}")
            else:
                assert grads[i].numel() == 0, name
    finally:
        torch.set_num_threads(prev)
