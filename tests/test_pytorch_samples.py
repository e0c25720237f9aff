"""PyTorch's own test samples, run through torch_act.

Nobody on this team wrote these inputs: they are the OpInfo samples PyTorch's
test suite feeds its own operators (``torch.testing._internal``:
``op_db`` with ``reference_inputs`` -- the ``sample_inputs`` plus extremal
values, NaN and infinities, large and small magnitudes, non-contiguous and
expanded tensors) and the ModuleInfo samples of its modules (``module_db``).
Each is run through the torch_act function or module that stands in for the
torch one, and values and gradients are compared with torch's on the same
input:

* every activation with a torch counterpart (``torch_act.activation``), and
  each of them behind a linear layer on ``nn.functional.linear``'s samples;
* ``nn.functional.linear`` itself (``linear_act`` with identity);
* ``softmax`` / ``log_softmax`` over the last dimension;
* every variant of ``nn.functional.linear_cross_entropy``;
* the drop-in modules (``torch_act.nn.Linear``, ``ReLU``, ``ELU``, ...) on
  the samples of the torch module of the same name.

Samples outside what an op takes (softmax over another dimension or with a
dtype argument, in-place variants) are counted and skipped; softplus samples
(all with threshold 0.2) are compared with torch's softplus at torch_act's
threshold, 20.  Every test asserts how many samples it ran, so a PyTorch
release that renames or empties a sample set fails here instead of passing
vacuously.

Gradients at NaN inputs: torch's CPU kernels disagree with themselves there
(the vectorised loop of elu_backward gives NaN, its scalar tail g * scale;
hardtanh_backward 0 against g), so at NaN positions ours are compared with
what torch gives on a tensor long enough for its vector loop, the path every
real workload takes (test_nan_gradients_follow_torchs_vector_path).
"""
import math
import os

import pytest
import torch
import torch.nn.functional as F

import torch_act
import torch_act.nn as tnn

common = pytest.importorskip("torch.testing._internal.common_methods_invocations",
                             reason="PyTorch's OpInfo database is not importable")
OPS = {}
for _op in common.op_db:
    OPS.setdefault(_op.name, []).append(_op)

# (rtol, atol) against torch's own result on the same input.  float64 gradients
# get 1e-6: torch's float64 hardsigmoid and celu backward use float32 constants
# (1/6 as 0.16666667163, celu's 1/alpha), ours the double ones.
VALUE_TOL = {torch.float64: (1e-10, 1e-10), torch.float32: (2e-5, 2e-5),
             torch.bfloat16: (2e-2, 2e-2), torch.float16: (4e-3, 4e-3)}
GRAD_TOL = {torch.float64: (1e-6, 1e-9), torch.float32: (5e-5, 5e-5)}


def _leaf(t):
    """A fresh leaf with the sample's strides and values (samples may be
    views whose graph PyTorch's generators built)."""
    if not isinstance(t, torch.Tensor):
        return t
    return t.detach().requires_grad_(t.requires_grad)


# ------------------------------------------------------------- activations
def _alpha_of(kwargs, name, default):
    return kwargs.pop(name, default)


def _activation_of(opname, args, kwargs):
    """(torch_act activation name, alpha) for an OpInfo sample of ``opname``,
    or None when the sample uses an argument torch_act does not take."""
    kwargs = dict(kwargs)
    if kwargs.pop("inplace", False):
        return None
    simple = {"nn.functional.relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "nn.functional.silu": "silu",
              "nn.functional.mish": "mish", "nn.functional.hardswish": "hardswish",
              "nn.functional.relu6": "relu6", "nn.functional.hardsigmoid": "hardsigmoid",
              "nn.functional.selu": "selu", "nn.functional.logsigmoid": "logsigmoid",
              "nn.functional.tanhshrink": "tanhshrink", "nn.functional.softsign": "softsign", "sin": "sin"}
    if opname in simple:
        return (simple[opname], None) if not args and not kwargs else None
    positional = {"nn.functional.leaky_relu": "negative_slope", "nn.functional.elu": "alpha",
                  "nn.functional.celu": "alpha", "nn.functional.softplus": "beta"}
    if opname in positional and args:
        if len(args) > 1:
            return None
        kwargs[positional[opname]] = args[0]
    elif args:
        return None
    if opname == "nn.functional.leaky_relu":
        a = kwargs.pop("negative_slope", 0.01)
        return None if kwargs else ("leaky_relu", a)
    if opname == "nn.functional.gelu":
        approximate = kwargs.pop("approximate", "none")
        return None if kwargs else ("gelu_tanh" if approximate == "tanh" else "gelu", None)
    if opname in ("nn.functional.elu", "nn.functional.celu"):
        a = kwargs.pop("alpha", 1.0)
        return None if kwargs else (opname.rsplit(".", 1)[1], a)
    if opname == "nn.functional.softplus":
        # torch_act's softplus has torch's default threshold (20) only: samples
        # with another one are compared with torch's at 20 (see the test)
        a = kwargs.pop("beta", 1.0)
        kwargs.pop("threshold", None)
        return None if kwargs else ("softplus", a)
    return None


ACTIVATION_OPS = ["nn.functional.relu", "sigmoid", "tanh", "nn.functional.silu", "nn.functional.mish",
                  "nn.functional.hardswish", "nn.functional.relu6", "nn.functional.hardsigmoid",
                  "nn.functional.selu", "nn.functional.logsigmoid", "nn.functional.tanhshrink",
                  "nn.functional.softsign", "sin", "nn.functional.leaky_relu", "nn.functional.gelu",
                  "nn.functional.elu", "nn.functional.celu", "nn.functional.softplus"]


def _torch_nan_grad(opinfo, args, kwargs, dtype, g):
    """torch's gradient at NaN inputs on its vector path: ``g`` (the incoming
    gradients at those positions) placed in a tensor of NaNs long enough for
    the vector loop."""
    n = 4096 + -(-g.numel() // 64) * 64  # whole vectors: no scalar tail
    x = torch.full((n,), math.nan, dtype=dtype, requires_grad=True)
    gg = torch.zeros(n, dtype=dtype)
    gg[:g.numel()] = g
    (dx,) = torch.autograd.grad(opinfo(x, *args, **kwargs), x, gg)
    return dx[:g.numel()]


def _check_grads(ours, theirs, x, dtype, opinfo=None, args=(), kwargs=None):
    if not (x.requires_grad and theirs.numel() and dtype in GRAD_TOL):
        return
    g = torch.randn_like(theirs)
    (d_ours,) = torch.autograd.grad(ours, x, g)
    (d_theirs,) = torch.autograd.grad(theirs, x, g)
    nan = torch.isnan(x.detach()).expand_as(d_theirs) if opinfo is not None else None
    if nan is not None and nan.any():
        d_theirs = d_theirs.clone()
        d_theirs[nan] = _torch_nan_grad(opinfo, args, kwargs or {}, dtype, g[nan])
    rtol, atol = GRAD_TOL[dtype]
    torch.testing.assert_close(d_ours, d_theirs, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("opname", ACTIVATION_OPS)
def test_activation_on_pytorch_reference_inputs(opname, dtype):
    ran = skipped = 0
    for opinfo in OPS[opname]:
        for sample in opinfo.reference_inputs("cpu", dtype, requires_grad=dtype != torch.bfloat16):
            act = _activation_of(opname, sample.args, sample.kwargs)
            if act is None:
                skipped += 1
                continue
            name, alpha = act
            args, kwargs = sample.args, dict(sample.kwargs)
            if name == "softplus" and kwargs.get("threshold", 20) != 20:
                kwargs["threshold"] = 20  # PyTorch's samples all use 0.2
            x = _leaf(sample.input)
            ours = torch_act.activation(x, name, alpha)
            theirs = opinfo(x, *args, **kwargs)
            rtol, atol = VALUE_TOL[dtype]
            if name == "gelu" and dtype == torch.float32:
                # torch's float32 vector gelu turns +inf into NaN (its scalar path
                # and float64 give +inf, as we do)
                theirs = torch.where(x.detach() == math.inf, x.detach(), theirs)
            torch.testing.assert_close(ours, theirs, rtol=rtol, atol=atol, equal_nan=True,
                                       msg=lambda m: f"{name} on {tuple(x.shape)}: {m}")
            _check_grads(ours, theirs, x, dtype, opinfo, args, kwargs)
            ran += 1
    assert ran >= 4, (ran, skipped)


def test_nan_gradients_follow_torchs_vector_path():
    """A NaN input's gradient is what torch's vectorised backward gives:
    NaN for the elu family and hardswish, 0 for relu6 / hardsigmoid, g for
    relu / leaky_relu -- the same for any length and position."""
    for name, spec in torch_act.ACTIVATIONS.items():
        if spec.rowwise or not spec.builtin:
            continue
        from reference import reference_activation
        for n in (1, 5, 4096):
            x = torch.randn(n, dtype=torch.float64)
            x[n // 2] = math.nan
            x.requires_grad_()
            g = torch.rand(n, dtype=torch.float64) + 0.5
            (ours,) = torch.autograd.grad(torch_act.activation(x, name), x, g)
            big = torch.full((4096,), math.nan, dtype=torch.float64, requires_grad=True)
            (theirs,) = torch.autograd.grad(reference_activation(name, big), big, torch.full((4096,), 0.75,
                                                                                          dtype=torch.float64))
            expected = theirs[0] / 0.75 * g[n // 2]
            torch.testing.assert_close(ours[n // 2], expected, equal_nan=True, msg=f"{name}, n={n}")


# ------------------------------------------------------------- linear
def _linear_samples(dtype):
    for opinfo in OPS["nn.functional.linear"]:
        for sample in opinfo.sample_inputs("cpu", dtype, requires_grad=dtype != torch.bfloat16):
            x = _leaf(sample.input)
            w = _leaf(sample.args[0])
            b = _leaf(sample.args[1] if len(sample.args) > 1 else sample.kwargs.get("bias"))
            yield x, w, b


def _grads_close(ours, theirs, inputs, tol):
    inputs = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not inputs or not theirs.numel():
        return
    g = torch.randn_like(theirs)
    d_ours = torch.autograd.grad(ours, inputs, g)
    d_theirs = torch.autograd.grad(theirs, inputs, g)
    for a, b in zip(d_ours, d_theirs):
        torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_linear_on_pytorch_samples(dtype):
    ran = 0
    for x, w, b in _linear_samples(dtype):
        theirs = F.linear(x, w, b)
        ours = torch_act.linear_act(x, w, b, "identity")
        tol = (1e-5, 1e-5) if dtype != torch.bfloat16 else (2e-2, 2e-2)
        torch.testing.assert_close(ours, theirs, rtol=tol[0], atol=tol[1])
        _grads_close(ours, theirs, (x, w, b), tol)
        ran += 1
    assert ran >= 10


@pytest.mark.parametrize("act", [a for a, s in torch_act.ACTIVATIONS.items() if not s.rowwise and s.reference])
def test_linear_act_on_pytorch_linear_samples(act):
    from reference import reference_activation
    ran = 0
    for dtype in (torch.float32, torch.float64):
        for x, w, b in _linear_samples(dtype):
            theirs = reference_activation(act, F.linear(x, w, b))
            ours = torch_act.linear_act(x, w, b, act)
            tol = (1e-5, 1e-5) if dtype == torch.float32 else (1e-9, 1e-9)
            torch.testing.assert_close(ours, theirs, rtol=tol[0], atol=tol[1])
            _grads_close(ours, theirs, (x, w, b), GRAD_TOL[dtype])
            ran += 1
    assert ran >= 20


# ------------------------------------------------------------- softmax
@pytest.mark.parametrize("opname", ["softmax", "log_softmax"])
def test_row_activations_on_pytorch_samples(opname):
    ran = skipped = 0
    for opinfo in OPS[opname]:
        for dtype in (torch.float32, torch.float64):
            for sample in opinfo.sample_inputs("cpu", dtype, requires_grad=True):
                x = _leaf(sample.input)
                dim = sample.args[0] if sample.args else sample.kwargs.get("dim")
                if sample.kwargs.get("dtype") is not None or x.dim() == 0 or dim not in (-1, x.dim() - 1):
                    skipped += 1  # torch_act normalises over the last dimension, in the input's dtype
                    continue
                theirs = opinfo(x, *sample.args, **sample.kwargs)
                ours = torch_act.activation(x, opname)
                tol = VALUE_TOL[dtype]
                torch.testing.assert_close(ours, theirs, rtol=tol[0], atol=tol[1])
                _check_grads(ours, theirs, x, dtype)
                ran += 1
    assert ran >= 8, (ran, skipped)


# ------------------------------------------------------------- linear_cross_entropy
@pytest.mark.filterwarnings("ignore:linear_cross_entropy.*options.*ignored")  # torch's, on its fallbacks
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_linear_cross_entropy_on_pytorch_samples(dtype):
    """Every variant of torch's ``linear_cross_entropy`` samples: class indices
    (fused), K-dimensional losses and class probabilities, with and without
    ``options``; values and the gradients of every tensor that needs one."""
    if "nn.functional.linear_cross_entropy" not in OPS:
        pytest.skip("this PyTorch has no nn.functional.linear_cross_entropy")
    ran = 0
    kinds = set()
    for opinfo in OPS["nn.functional.linear_cross_entropy"]:
        for sample in opinfo.sample_inputs("cpu", dtype, requires_grad=True):
            x = _leaf(sample.input)
            args = [_leaf(a) for a in sample.args]
            kwargs = {k: _leaf(v) for k, v in sample.kwargs.items()}
            theirs = opinfo(x, *args, **kwargs)
            ours = torch_act.linear_cross_entropy(x, *args, **kwargs)
            tol = VALUE_TOL[dtype] if dtype == torch.float64 else (1e-5, 1e-5)
            torch.testing.assert_close(ours, theirs, rtol=tol[0], atol=tol[1])
            tensors = [x, *args, *kwargs.values()]
            _grads_close(ours, theirs, tensors, GRAD_TOL[dtype] if dtype == torch.float64 else (1e-5, 1e-5))
            w, t = args[0], args[1]
            kinds.add("k-dim" if w.dim() > 2 else "probabilities" if t.is_floating_point() else "indices")
            ran += 1
    assert ran >= 50 and kinds == {"k-dim", "probabilities", "indices"}, (ran, kinds)


def test_linear_cross_entropy_other_forms_refuse_what_torch_refuses():
    x, w, t = torch.randn(4, 3), torch.randn(2, 5, 3), torch.randint(0, 2, (4, 5))
    with pytest.raises(RuntimeError, match="K-dimensional loss .* needs batched input"):
        torch_act.linear_cross_entropy(x[0], w, t[0])
    with pytest.raises(RuntimeError, match=r"linear_bias must have shape \(2, 5\)"):
        torch_act.linear_cross_entropy(x, w, t, linear_bias=torch.randn(2))
    with pytest.raises(RuntimeError, match="last dimension"):
        torch_act.linear_cross_entropy(x, torch.randn(2, 5, 4), t)
    probs = torch.softmax(torch.randn(4, 2), -1)
    with pytest.raises(RuntimeError, match="ignore_index cannot be given when target holds class probabilities"):
        torch_act.linear_cross_entropy(x, w[:, 0], probs, ignore_index=-100)
    # a K-dimensional loss trains: weight and bias get torch's gradients
    w.requires_grad_()
    b = torch.randn(2, 5, requires_grad=True)
    ours = torch_act.linear_cross_entropy(x, w, t, linear_bias=b, label_smoothing=0.1)
    theirs = F.linear_cross_entropy(x, w, t, linear_bias=b, label_smoothing=0.1)
    torch.testing.assert_close(ours, theirs)
    _grads_close(ours, theirs, (w, b), (1e-5, 1e-5))


def test_linear_cross_entropy_other_forms_compile_and_transform():
    """The K-dimensional and class-probability forms under torch.compile
    (fullgraph) and torch.func.grad give torch's results."""
    x = torch.randn(8, 5, requires_grad=True)
    w3, t3 = torch.randn(4, 3, 5), torch.randint(0, 4, (8, 3))
    w2, probs = torch.randn(4, 5), torch.softmax(torch.randn(8, 4), -1)
    f = torch.compile(lambda x, w, t: torch_act.linear_cross_entropy(x, w, t, label_smoothing=0.1),
                      fullgraph=True, backend="aot_eager")
    for w, t in ((w3, t3), (w2, probs)):
        torch.testing.assert_close(f(x, w, t), F.linear_cross_entropy(x, w, t, label_smoothing=0.1))
        ours = torch.func.grad(lambda w: torch_act.linear_cross_entropy(x, w, t))(w)
        theirs = torch.func.grad(lambda w: F.linear_cross_entropy(x, w, t))(w)
        torch.testing.assert_close(ours, theirs)


# ------------------------------------------------------------- modules
def _copies(tensors):
    return [t.detach().clone().requires_grad_(t.requires_grad) for t in tensors]


def _module_infos():
    modules = pytest.importorskip("torch.testing._internal.common_modules")
    for info in modules.module_db:
        ours = getattr(tnn, info.module_cls.__name__, None)
        if ours is not None and issubclass(ours, torch.nn.Module):
            yield pytest.param(info, ours, id=info.module_cls.__name__)


@pytest.mark.parametrize("info,ours_cls", list(_module_infos()))
def test_drop_in_modules_on_pytorch_module_samples(info, ours_cls):
    """torch_act's module of the same name as a torch module, built with the
    same constructor arguments and given the torch module's state, returns
    torch's outputs and gradients on PyTorch's ModuleInfo samples -- or, for a
    constructor argument it does not take, refuses it by name."""
    ran = refused = 0
    for dtype in (torch.float32, torch.float64):
        for sample in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True, training=True):
            cargs, ckwargs = sample.constructor_input.args, sample.constructor_input.kwargs
            torch.manual_seed(0)
            theirs_mod = info.module_cls(*cargs, **ckwargs).to(dtype)
            try:
                ours_mod = ours_cls(*cargs, **ckwargs).to(dtype)
            except (ValueError, TypeError, RuntimeError, NotImplementedError) as e:
                assert str(e), "a refused constructor argument must say why"
                refused += 1
                continue
            ours_mod.load_state_dict(theirs_mod.state_dict())
            # each module gets its own copies (in-place modules overwrite them)
            leaves_t, leaves_o = _copies(sample.forward_input.args), _copies(sample.forward_input.args)
            if sample.forward_input.kwargs:
                assert list(sample.forward_input.kwargs) == ["input"], sample.forward_input.kwargs
                leaves_t += _copies([sample.forward_input.kwargs["input"]])
                leaves_o += _copies([sample.forward_input.kwargs["input"]])
            theirs = theirs_mod(*[t * 1 if t.requires_grad else t.clone() for t in leaves_t])
            ours = ours_mod(*[t * 1 if t.requires_grad else t.clone() for t in leaves_o])
            tol = (2e-5, 2e-5) if dtype == torch.float32 else (1e-9, 1e-9)
            torch.testing.assert_close(ours, theirs, rtol=tol[0], atol=tol[1], equal_nan=True)
            if theirs.requires_grad and theirs.numel():
                g = torch.randn_like(theirs)
                wrt_t = [t for t in leaves_t if t.requires_grad] + list(theirs_mod.parameters())
                wrt_o = [t for t in leaves_o if t.requires_grad] + list(ours_mod.parameters())
                d_theirs = torch.autograd.grad(theirs, wrt_t, g)
                d_ours = torch.autograd.grad(ours, wrt_o, g)
                for a, b in zip(d_ours, d_theirs):
                    torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1], equal_nan=True)
            ran += 1
    assert ran >= 1, (info.module_cls.__name__, ran, refused)


@pytest.mark.parametrize("info,ours_cls", list(_module_infos()))
def test_drop_in_modules_gradcheck_on_pytorch_module_samples(info, ours_cls):
    """gradcheck and gradgradcheck (float64, with respect to the inputs and
    every parameter) of the drop-in modules on the same ModuleInfo samples, as
    PyTorch's test_modules runs them on its own modules."""
    ran = 0
    for sample in info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True,
                                          training=True):
        cargs, ckwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        if ckwargs.get("inplace") or any(a is True for a in cargs[1:]):
            continue  # an in-place module's input is not a function input
        try:
            module = ours_cls(*cargs, **ckwargs).to(torch.float64)
        except (ValueError, TypeError, RuntimeError, NotImplementedError):
            continue  # refused (checked by the test above)
        inputs = [t.detach().clone().requires_grad_() for t in
                  [*sample.forward_input.args, *sample.forward_input.kwargs.values()] if isinstance(t, torch.Tensor)]
        if not inputs or not all(t.numel() for t in inputs):
            continue
        names, params = zip(*module.named_parameters()) if list(module.parameters()) else ((), ())
        n = len(inputs)

        def fn(*flat, names=names, n=n, module=module):
            state = dict(zip(names, flat[n:]))
            return torch.func.functional_call(module, state, tuple(flat[:n]))

        flat = (*inputs, *(p.detach().clone().requires_grad_() for p in params))
        # kinks (relu at 0, hardswish at +-3, ...) are measure-zero for random samples
        assert torch.autograd.gradcheck(fn, flat)
        assert torch.autograd.gradgradcheck(fn, flat)
        ran += 1
    assert ran >= 1, info.module_cls.__name__


# ------------------------------------------------------------- opcheck
# (fake kernels and AOT tracing, Python-side: run by make test, not again under
# the sanitizers, where they are the slowest part of this file)
_not_under_sanitizers = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                           reason="opcheck is run by make test, not under the sanitizers")


@_not_under_sanitizers
@pytest.mark.parametrize("opname,act", [("nn.functional.relu", "relu"), ("nn.functional.gelu", "gelu"),
                                        ("nn.functional.elu", "elu"), ("softmax", "softmax")])
def test_opcheck_activation_on_pytorch_reference_inputs(opname, act):
    """torch.library.opcheck (schema, autograd registration, fake tensor,
    AOT dispatch with dynamic shapes) on PyTorch's samples: non-contiguous,
    expanded, empty and 0-d inputs included.  Inputs holding NaN are left out:
    opcheck compares eager and traced outputs without equal_nan, so aten.relu
    itself fails it there."""
    ran = 0
    for dtype in (torch.float32, torch.float64):
        for sample in OPS[opname][0].reference_inputs("cpu", dtype, requires_grad=True):
            x = _leaf(sample.input)
            if x.numel() > 5000 or torch.isnan(x).any() or (act == "softmax" and x.dim() == 0):
                continue
            torch.library.opcheck(torch.ops.torch_act.activation, (x, act, None))
            ran += 1
    assert ran >= 10


@_not_under_sanitizers
@pytest.mark.parametrize("act", ["identity", "relu", "gelu", "softmax"])
def test_opcheck_linear_act_on_pytorch_linear_samples(act):
    ran = 0
    for dtype in (torch.float32, torch.float64):
        for x, w, b in _linear_samples(dtype):
            torch.library.opcheck(torch.ops.torch_act.linear_act, (x, w, b, act, None, "auto"))
            ran += 1
    assert ran >= 20
