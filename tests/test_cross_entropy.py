"""torch_act.linear_cross_entropy against torch's
cross_entropy(linear(...)) in float64, for every option combination, edge
cases (all rows ignored, empty batch, 1-D input, huge and tiny logits), every
dtype and CPU ISA path, gradcheck, opcheck, torch.compile, bad input, and what
the autograd saves (never a tokens x vocab tensor).

TORCH_ACT_LCE_BLOCK_BYTES=SMALL forces many token blocks and single-row
sub-blocks on these small shapes; the default budget covers them with one
block."""
import pytest
import torch
import torch.nn.functional as F

import torch_act

OPS = torch.ops.torch_act
SMALL = "1500"  # bytes: 3 token rows per block, 1-row sub-blocks
BLOCKS = [SMALL, ""]
REDUCTIONS = ["mean", "sum", "none"]
ISAS = torch_act.supported_cpu_isas()


@pytest.fixture(autouse=True)
def _restore_isa_and_threads():
    isa, threads = torch_act.cpu_isa(), torch.get_num_threads()
    yield
    torch_act.set_cpu_isa(isa)
    torch.set_num_threads(threads)


def _block(monkeypatch, value):
    if value:
        monkeypatch.setenv("TORCH_ACT_LCE_BLOCK_BYTES", value)
    else:
        monkeypatch.delenv("TORCH_ACT_LCE_BLOCK_BYTES", raising=False)


def _problem(M=37, K=19, V=53, dtype=torch.float64, bias=True, weight=False, ignore=0.2, ignore_index=-100,
             seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(M, K, generator=g, dtype=torch.float64) * scale).to(dtype)
    w = (torch.randn(V, K, generator=g, dtype=torch.float64) / K ** 0.5).to(dtype)
    b = torch.randn(V, generator=g, dtype=torch.float64).to(dtype) if bias else None
    cw = (torch.rand(V, generator=g, dtype=torch.float64) + 0.5).to(dtype) if weight else None
    t = torch.randint(0, V, (M,), generator=g)
    t[torch.rand(M, generator=g) < ignore] = ignore_index
    return x, w, b, cw, t


def _reference(x, w, b, cw, t, **kw):
    """torch's own ops in float64 from the same (rounded) inputs."""
    d = lambda v: None if v is None else v.detach().double().requires_grad_(v.requires_grad)  # noqa: E731
    x64, w64, b64 = d(x), d(w), d(b)
    loss = F.cross_entropy(F.linear(x64, w64, b64), t, weight=None if cw is None else cw.double(), **kw)
    return loss, (x64, w64, b64)


def _grads(loss, params, go):
    params = [p for p in params if p is not None]
    return torch.autograd.grad(loss, params, go)


def _compare(x, w, b, cw, t, tol, grad=True, **kw):
    for p in (x, w, b):
        if p is not None:
            p.requires_grad_(grad)
    ref, (x64, w64, b64) = _reference(x, w, b, cw, t, **kw)
    got = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, **kw)
    assert got.dtype == x.dtype and got.shape == ref.shape
    torch.testing.assert_close(got.double(), ref, rtol=tol, atol=tol, equal_nan=True)
    if not grad:
        return
    go = torch.randn(ref.shape, dtype=torch.float64)
    gref = _grads(ref, (x64, w64, b64), go)
    ggot = _grads(got, (x, w, b), go.to(x.dtype))
    for name, a, r in zip("xwb", ggot, gref):
        assert a.dtype == x.dtype
        scale = max(1.0, r.abs().max().item()) if r.numel() else 1.0
        torch.testing.assert_close(a.double(), r, rtol=tol, atol=tol * scale, msg=lambda m: f"d{name}: {m}")


# ------------------------------------------------------------- every option
@pytest.mark.parametrize("block", BLOCKS, ids=["small_blocks", "one_block"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [0.0, 0.3], ids=["no_ignored", "ignored_rows"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_matches_torch_float64(monkeypatch, block, reduction, weight, ignore, label_smoothing, bias):
    _block(monkeypatch, block)
    x, w, b, cw, t = _problem(bias=bias, weight=weight, ignore=ignore)
    _compare(x, w, b, cw, t, 1e-10, reduction=reduction, label_smoothing=label_smoothing)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_every_output_element_written(monkeypatch, poison, reduction):
    # fresh allocations are NaN-filled: an element the op forgot shows up
    _block(monkeypatch, SMALL)
    x, w, b, cw, t = _problem(weight=True)
    _compare(x, w, b, cw, t, 1e-10, reduction=reduction, label_smoothing=0.1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_inside_the_class_range(monkeypatch, reduction):
    _block(monkeypatch, SMALL)
    x, w, b, cw, t = _problem(weight=True, ignore=0.0)
    t[::3] = 4  # class 4 is ignored
    _compare(x, w, b, cw, t, 1e-10, reduction=reduction, ignore_index=4, label_smoothing=0.1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True], ids=["unweighted", "weighted"])
def test_all_rows_ignored(reduction, weight):
    x, w, b, cw, t = _problem(M=6, weight=weight, ignore=1.0)
    for p in (x, w, b):
        p.requires_grad_()
    got = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=reduction,
                                         label_smoothing=0.1)
    ref, _ = _reference(x, w, b, cw, t, reduction=reduction, label_smoothing=0.1)
    torch.testing.assert_close(got, ref, equal_nan=True)
    if reduction == "mean":
        assert torch.isnan(got)  # 0 / 0, as torch
    got.sum().backward()
    for p in (x, w, b):  # ignored rows contribute nothing, not NaN
        assert torch.equal(p.grad, torch.zeros_like(p))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batch(reduction):
    x, w, b, cw, t = _problem(M=0)
    _compare(x, w, b, cw, t, 1e-12, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_dimensional_input(reduction):
    x, w, b, cw, t = _problem(M=1, weight=True, ignore=0.0)
    _compare(x[0], w, b, cw, t[0], 1e-10, reduction=reduction, label_smoothing=0.2)


def test_one_class_and_no_features():
    x, w, b, cw, t = _problem(V=1, ignore=0.0)
    _compare(x, w, b, cw, t, 1e-10, label_smoothing=0.3)
    x, w, b, cw, t = _problem(K=0)
    _compare(x, w, b, cw, t, 1e-10, reduction="sum")


def test_negative_label_smoothing_means_none():
    x, w, b, cw, t = _problem()
    _compare(x, w, b, cw, t, 1e-10, label_smoothing=-0.5)  # torch ignores it too


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e3, 1e-6], ids=["huge_logits", "tiny_logits"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huge_and_tiny_logits(monkeypatch, dtype, scale, reduction):
    _block(monkeypatch, SMALL)
    # logits of order 1e4 (exp overflows without the max shift) and of 1e-5
    x, w, b, cw, t = _problem(dtype=dtype, scale=scale, bias=False)
    ref, _ = _reference(x, w, b, cw, t, reduction=reduction, label_smoothing=0.1)
    tol = 1e-10 if dtype == torch.float64 else 3e-6 * max(1.0, ref.abs().max().item())
    _compare(x, w, b, cw, t, tol, reduction=reduction, label_smoothing=0.1)


# ------------------------------------------------------------- dtypes, ISAs
DTYPE_TOL = {torch.float32: 2e-5, torch.bfloat16: 3e-2, torch.float16: 5e-3}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", list(DTYPE_TOL))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dtypes_on_every_isa(monkeypatch, isa, dtype, reduction):
    torch_act.set_cpu_isa(isa)
    _block(monkeypatch, "20000")  # several token blocks and sub-blocks at this size
    x, w, b, cw, t = _problem(M=90, K=70, V=130, dtype=dtype, weight=True)
    _compare(x, w, b, cw, t, DTYPE_TOL[dtype], reduction=reduction, label_smoothing=0.1)


@pytest.mark.parametrize("dtype", list(DTYPE_TOL))
def test_16bit_weight_grad_accumulation_error(monkeypatch, dtype):
    # d_weight of 16-bit inputs is accumulated over token blocks in its own
    # dtype; with many blocks its error stays within a few times eager's.
    _block(monkeypatch, "2000")  # 16 rows x 30 classes per block: 16 blocks
    x, w, b, cw, t = _problem(M=256, K=64, V=30, dtype=dtype, bias=False, ignore=0.0)
    w.requires_grad_()
    ref, (_, w64, _) = _reference(x, w.detach().requires_grad_(), None, None, t)
    (gref,) = torch.autograd.grad(ref, [w64])
    eager = F.cross_entropy(F.linear(x, w), t)
    (geager,) = torch.autograd.grad(eager, [w])
    (got,) = torch.autograd.grad(torch_act.linear_cross_entropy(x, w, t), [w])
    err = lambda g: ((g.double() - gref).norm() / gref.norm()).item()  # noqa: E731
    assert err(got) <= 4 * err(geager) + 1e-6, (err(got), err(geager))


@pytest.mark.parametrize("threads", [1, 2])
def test_deterministic(monkeypatch, threads):
    torch.set_num_threads(threads)
    _block(monkeypatch, "20000")
    x, w, b, cw, t = _problem(M=90, K=70, V=130, dtype=torch.float32, weight=True)
    runs = []
    for _ in range(2):
        xs, ws, bs = (p.clone().requires_grad_() for p in (x, w, b))
        loss = torch_act.linear_cross_entropy(xs, ws, t, linear_bias=bs, weight=cw, label_smoothing=0.1)
        loss.backward()
        runs.append((loss, xs.grad, ws.grad, bs.grad))
    for a, c in zip(*runs):
        assert torch.equal(a, c)


def test_layouts(monkeypatch):
    # a transposed weight (e.g. a tied embedding stored the other way) and a sliced input
    _block(monkeypatch, SMALL)
    x, w, b, cw, t = _problem()
    big = torch.randn(x.shape[0], 2 * x.shape[1], dtype=torch.float64)
    big[:, ::2] = x
    wt = w.t().contiguous().t()
    _compare(big[:, ::2], wt, b, cw, t, 1e-10, label_smoothing=0.1)


# ------------------------------------------------------------- autograd
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_gradcheck(monkeypatch, reduction, weight, label_smoothing):
    _block(monkeypatch, "300")
    x, w, b, cw, t = _problem(M=7, K=4, V=6, weight=weight, ignore=0.25, seed=3)
    t[0] = -100

    def f(x, w, b):
        return torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=reduction,
                                              label_smoothing=label_smoothing)

    inputs = tuple(p.requires_grad_() for p in (x, w, b))
    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_partial_grads(which, reduction):
    x, w, b, cw, t = _problem()
    params = [x, w, b]
    params[which].requires_grad_()
    loss = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, reduction=reduction)
    (g,) = torch.autograd.grad(loss.sum(), [params[which]])
    ref, p64 = _reference(x, w, b, cw, t, reduction=reduction)
    (gr,) = torch.autograd.grad(ref.sum(), [p64[which]])
    torch.testing.assert_close(g, gr)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_retain_graph_backward_twice(reduction):
    # the first backward hands over the gradients computed in the forward;
    # the second recomputes them
    x, w, b, cw, t = _problem(weight=True)
    for p in (x, w, b):
        p.requires_grad_()
    loss = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=reduction)
    g1 = torch.autograd.grad(loss * 3, [x, w, b], retain_graph=True)
    g2 = torch.autograd.grad(loss * 3, [x, w, b])
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


def test_no_grad_computes_no_gradients():
    x, w, b, cw, t = _problem()
    w.requires_grad_()
    with torch.no_grad():
        loss = torch_act.linear_cross_entropy(x, w, t, linear_bias=b)
    assert loss.grad_fn is None
    _, dx, dw, db = OPS._linear_cross_entropy_fwd(x, w, t, b, None, "mean", -100, 0.0, [False, False, False])
    assert dx.numel() == dw.numel() == db.numel() == 0


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad"])
def test_inference_mode(monkeypatch, mode):
    # the element-wise work runs on the intra-op threads: they see the caller's mode
    _block(monkeypatch, SMALL)
    torch.set_num_threads(2)
    x, w, b, cw, t = _problem(weight=True)
    with getattr(torch, mode)():
        got = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, label_smoothing=0.1)
    ref, _ = _reference(x, w, b, cw, t, label_smoothing=0.1)
    torch.testing.assert_close(got, ref)


def test_class_weight_gradient_is_not_implemented():
    x, w, b, cw, t = _problem(weight=True)
    cw.requires_grad_()
    w.requires_grad_()
    loss = torch_act.linear_cross_entropy(x, w, t, weight=cw)
    with pytest.raises(RuntimeError, match="class weights"):
        loss.backward()


def test_nothing_tokens_by_vocab_is_saved():
    # M*V far larger than every input: the autograd must save only the inputs
    # and per-row vectors (the gradients it precomputes are inputs' shapes)
    M, K, V = 64, 8, 512
    x, w, b, cw, t = _problem(M=M, K=K, V=V, weight=True)
    for p in (x, w, b):
        p.requires_grad_()
    saved = []

    def pack(t_):
        saved.append(t_.numel())
        return t_

    for reduction in REDUCTIONS:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t_: t_):
            loss = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=reduction,
                                                  label_smoothing=0.1)
        loss.sum().backward()
    assert saved and max(saved) <= V * K < M * V, saved


def test_no_allocation_of_tokens_by_vocab(monkeypatch):
    # every tensor the op allocates (ATen's allocator, seen by the profiler)
    # is bounded by the block budget or the inputs' sizes, never M x V
    monkeypatch.setenv("TORCH_ACT_LCE_BLOCK_BYTES", str(64 * 1024))
    M, K, V = 512, 16, 2048  # logits: 4 MiB in float32, 16x the budget
    x, w, b, cw, t = _problem(M=M, K=K, V=V, dtype=torch.float32, weight=True)
    for p in (x, w, b):
        p.requires_grad_()
    with torch.profiler.profile(profile_memory=True, record_shapes=False) as prof:
        torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, label_smoothing=0.1).backward()
    sizes = [e.self_cpu_memory_usage for e in prof.events() if e.self_cpu_memory_usage > 0]
    assert sizes and max(sizes) <= max(64 * 1024, V * K * 4), max(sizes)


# ------------------------------------------------------------- registration
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "nograd"])
def test_opcheck(reduction, requires_grad):
    x, w, b, cw, t = _problem(M=9, K=5, V=7, weight=True)
    for p in (x, w, b):
        p.requires_grad_(requires_grad)
    kwargs = dict(linear_bias=b, weight=cw, reduction=reduction, ignore_index=-100, label_smoothing=0.1)
    torch.library.opcheck(OPS.linear_cross_entropy.default, (x, w, t), kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_opcheck_internal(reduction):
    x, w, b, cw, t = _problem(M=9, K=5, V=7, weight=True)
    for mask in ([True, True, True], [False, True, False]):
        args = (x, w, t, b, cw, reduction, -100, 0.1, mask)
        torch.library.opcheck(OPS._linear_cross_entropy_fwd.default, args)
        loss, *_ = OPS._linear_cross_entropy_fwd(*args)
        torch.library.opcheck(OPS._linear_cross_entropy_bwd.default,
                              (torch.randn_like(loss), x, w, t, b, cw, reduction, -100, 0.1, mask))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_compile_fullgraph(reduction):
    x, w, b, cw, t = _problem(M=12, K=6, V=9, weight=True)

    def f(x, w, b):
        return torch_act.linear_cross_entropy(x, w, t, linear_bias=b, weight=cw, reduction=reduction,
                                              label_smoothing=0.1).sum()

    eager_in = [p.clone().requires_grad_() for p in (x, w, b)]
    comp_in = [p.clone().requires_grad_() for p in (x, w, b)]
    f(*eager_in).backward()
    torch.compile(f, fullgraph=True, backend="aot_eager")(*comp_in).backward()
    for a, c in zip(eager_in, comp_in):
        torch.testing.assert_close(c.grad, a.grad)


def test_autocast_runs_the_linear_in_bfloat16():
    x, w, b, cw, t = _problem(M=16, K=32, V=40, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = torch_act.linear_cross_entropy(x, w, t, linear_bias=b)
        ref = F.cross_entropy(F.linear(x, w, b), t)
    assert got.dtype == ref.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=2e-2, atol=2e-2)


@pytest.mark.skipif(not hasattr(F, "linear_cross_entropy"), reason="torch has no F.linear_cross_entropy")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_same_as_torch_linear_cross_entropy(reduction):
    x, w, b, cw, t = _problem(weight=True)
    kw = dict(linear_bias=b, weight=cw, reduction=reduction, label_smoothing=0.1)
    torch.testing.assert_close(torch_act.linear_cross_entropy(x, w, t, **kw),
                               F.linear_cross_entropy(x, w, t, **kw))
    # ignore_index=None means -100, as in torch
    torch.testing.assert_close(torch_act.linear_cross_entropy(x, w, t, ignore_index=None),
                               F.linear_cross_entropy(x, w, t, ignore_index=None))


def test_functional_and_cpp_api_names():
    assert torch_act.functional.linear_cross_entropy is torch_act.linear_cross_entropy
    x, w, b, cw, t = _problem()
    torch.testing.assert_close(OPS.linear_cross_entropy(x, w, t, linear_bias=b),
                               torch_act.linear_cross_entropy(x, w, t, linear_bias=b))


# ------------------------------------------------------------- bad input
def _bad(match, exc=RuntimeError, **changes):
    x, w, b, cw, t = _problem(M=5, K=4, V=6, weight=True)
    args = dict(input=x, linear_weight=w, target=t, linear_bias=b, weight=cw)
    args.update(changes)
    with pytest.raises(exc, match=match):
        torch_act.linear_cross_entropy(args.pop("input"), args.pop("linear_weight"), args.pop("target"), **args)


def test_target_out_of_range():
    t = torch.tensor([0, 1, 6, 2, 3])
    _bad(r"target 6 is out of bounds.*\[0, 6\)", IndexError, target=t)
    _bad(r"target -3 is out of bounds", IndexError, target=torch.tensor([0, 1, -3, 2, 3]))


def test_bad_arguments_name_themselves():
    x, w, b, cw, t = _problem(M=5, K=4, V=6, weight=True)
    _bad(r"input must be 1-D \[K\] or 2-D", input=x.unsqueeze(0))
    _bad(r"linear_weight.size\(1\)", linear_weight=w[:, :3])
    _bad(r"linear_weight must be 2-D", linear_weight=w[0])
    _bad(r"linear_weight dtype", linear_weight=w.float())
    _bad(r"linear_bias must be 1-D of size C=6", linear_bias=b[:5])
    _bad(r"linear_bias dtype", linear_bias=b.float())
    _bad(r"weight \(the class weights\) must be 1-D of size C=6", weight=cw[:4])
    _bad(r"target must be 1-D of size N=5", target=t[:4])
    _bad(r"target must hold class indices as int64", target=t.float())
    _bad(r"target must hold class indices as int64", target=t.int())
    _bad(r"target must be 0-d for 1-D input", input=x[0], target=t[:1])
    _bad(r"input must be float32", input=x.int(), linear_weight=w.int())
    _bad(r"reduction must be 'none', 'mean' or 'sum', got 'avg'", ValueError, reduction="avg")
    _bad(r"label_smoothing must be between 0.0 and 1.0", ValueError, label_smoothing=1.5)


def test_bad_block_budget(monkeypatch):
    x, w, b, cw, t = _problem()
    monkeypatch.setenv("TORCH_ACT_LCE_BLOCK_BYTES", "lots")
    with pytest.raises(ValueError, match="TORCH_ACT_LCE_BLOCK_BYTES must be a positive number"):
        torch_act.linear_cross_entropy(x, w, t)
