"""torch_act.define_activation end to end: two activations defined from
expressions (Swish-beta, with a parameter, saving z; a bipolar sigmoid, no
parameter, saving y), compiled once per session into a plugin cache under
build/, then used by every op, dtype, CPU ISA path, torch.compile and opcheck;
the cache in a new process; and each error the definition can raise."""
import glob
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import torch_act
from torch_act import define as tdefine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TORCH_ACT_CACHE_DIR", os.path.join(ROOT, "build", "plugin-cache"))

# Swish-beta z * sigmoid(a z); its derivatives in z
SWISH = dict(
    forward="z*sigmoid(a*z)",
    derivative="sigmoid(a*z) + a*z*sigmoid(a*z)*(1 - sigmoid(a*z))",
    second_derivative="a*sigmoid(a*z)*(1 - sigmoid(a*z))*(2 + a*z*(1 - 2*sigmoid(a*z)))",
    alpha=1.0,
)
# 2 sigmoid(z) - 1 = tanh(z/2); its derivatives in the output y
BIPOLAR = dict(
    forward="2/(1 + exp(-z)) - 1",
    derivative="0.5*(1 - y*y)",
    second_derivative="-0.5*y*(1 - y*y)",
    saves="output",
)

SPECS = {
    "swish_beta": torch_act.define_activation("swish_beta", **SWISH),
    "bipolar_sigmoid": torch_act.define_activation("bipolar_sigmoid", **BIPOLAR),
}
NAMES = list(SPECS)
REFS = {
    "swish_beta": lambda z, a: z * torch.sigmoid(a * z),
    "bipolar_sigmoid": lambda z, a: torch.tanh(z / 2),
}
ALPHA = {"swish_beta": 1.7, "bipolar_sigmoid": None}
TOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.bfloat16: 3e-2}


def _ref(name, z, alpha=None):
    spec = SPECS[name]
    return REFS[name](z, spec.default_alpha if alpha is None else alpha)


def _rand(*shape, gen, dtype=torch.float64, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


# ------------------------------------------------------------------ the registry entry
def test_registered_with_metadata():
    s = torch_act.ACTIVATIONS["swish_beta"]
    assert s is SPECS["swish_beta"] or s == SPECS["swish_beta"]
    assert not s.builtin and s.has_alpha and s.default_alpha == 1.0 and s.saves == "input"
    assert s.formula == SWISH["forward"] and not s.rowwise
    b = torch_act.ACTIVATIONS["bipolar_sigmoid"]
    assert not b.builtin and not b.has_alpha and b.saves == "output"
    assert set(torch_act.supported_cpu_isas()) <= set(s.cpu_isas)


@pytest.mark.parametrize("name", NAMES)
def test_reference_expression_is_the_activation(name):
    """spec.reference (a torch expression in z, a) computes the activation, with a as a float or a tensor."""
    z = _rand(200, gen=torch.Generator().manual_seed(1), scale=3)
    a = ALPHA[name] or 0.0
    want = _ref(name, z, a)
    env = {"torch": torch, "F": torch.nn.functional}
    for av in (a, torch.tensor(a, dtype=torch.float64)):
        got = eval(SPECS[name].reference, env, {"z": z, "a": av})
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ values and gradients
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_values_against_reference(name, dtype):
    g = torch.Generator().manual_seed(2)
    x = _rand(33, 7, gen=g, dtype=dtype, scale=3)
    for alpha in (None, ALPHA[name]):
        tol = TOL[dtype]
        y = torch_act.activation(x, name, alpha)
        assert y.dtype == dtype
        torch.testing.assert_close(y.double(), _ref(name, x.double(), alpha), rtol=tol, atol=tol)
        w, b = _rand(5, 7, gen=g, dtype=dtype, scale=0.4), _rand(5, gen=g, dtype=dtype)
        out = torch_act.linear_act(x, w, b, name, alpha)
        z = x.double() @ w.double().T + b.double()
        torch.testing.assert_close(out.double(), _ref(name, z, alpha), rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_linear_act_and_mlp(name):
    g = torch.Generator().manual_seed(3)
    x = _rand(6, 4, gen=g).requires_grad_()
    w = _rand(3, 4, gen=g).requires_grad_()
    b = _rand(3, gen=g).requires_grad_()
    torch.autograd.gradcheck(lambda x, w, b: torch_act.linear_act(x, w, b, name, ALPHA[name]), (x, w, b))
    torch.autograd.gradcheck(lambda x: torch_act.activation(x, name), (x,))
    w2 = _rand(2, 3, gen=g).requires_grad_()
    b2 = _rand(2, gen=g).requires_grad_()
    other = NAMES[1 - NAMES.index(name)]
    torch.autograd.gradcheck(
        lambda x, w, b, w2, b2: torch_act.mlp(x, [w, w2], [b, b2], [name, other], [ALPHA[name], ALPHA[other]]),
        (x, w, b, w2, b2))
    net = torch_act.nn.MLP([4, 5, 3], [name, other]).double()
    torch.autograd.gradcheck(lambda x, *ps: net(x), (x, *net.parameters()))


@pytest.mark.parametrize("name", NAMES)
def test_opcheck(name):
    g = torch.Generator().manual_seed(4)
    x, w, b = _rand(5, 4, gen=g), _rand(3, 4, gen=g), _rand(3, gen=g)
    for t in (x, w, b):
        t.requires_grad_()
    torch.library.opcheck(torch.ops.torch_act.linear_act.default, (x, w, b, name, ALPHA[name]))
    torch.library.opcheck(torch.ops.torch_act.activation.default, (x, name, None))


def test_compile_fullgraph():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch_act.nn.Linear(3, 8, activation="swish_beta", alpha=1.3),
                                torch_act.nn.Linear(8, 2, activation="bipolar_sigmoid"))
    x = torch.randn(6, 3, requires_grad=True)
    want = model(x)
    want.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    out = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    torch.testing.assert_close(out, want)
    out.sum().backward()
    for p, gw in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, gw)


@pytest.mark.parametrize("isa", torch_act.supported_cpu_isas())
@pytest.mark.parametrize("name", NAMES)
def test_every_cpu_isa(isa, name):
    prev = torch_act.cpu_isa()
    torch_act.set_cpu_isa(isa)
    try:
        g = torch.Generator().manual_seed(5)
        for dtype in (torch.float32, torch.float64):
            tol = TOL[dtype]
            # big enough for the blocked GEMM path too, odd sizes for the vector tails
            for M, K, N in [(7, 5, 3), (130, 70, 97)]:
                x = _rand(M, K, gen=g, dtype=dtype).requires_grad_()
                w = _rand(N, K, gen=g, dtype=dtype, scale=K ** -0.5).requires_grad_()
                b = _rand(N, gen=g, dtype=dtype).requires_grad_()
                y = torch_act.linear_act(x, w, b, name, ALPHA[name])
                xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, w, b))
                ref = _ref(name, xd @ wd.T + bd, ALPHA[name])
                torch.testing.assert_close(y.double(), ref, rtol=tol, atol=tol)
                gy = _rand(M, N, gen=g)
                got = torch.autograd.grad(y, (x, w, b), gy.to(dtype))
                want = torch.autograd.grad(ref, (xd, wd, bd), gy)
                for a, e in zip(got, want):
                    torch.testing.assert_close(a.double(), e, rtol=tol * 4, atol=tol * 4 * (K if e is want[1] else 1))
    finally:
        torch_act.set_cpu_isa(prev)


# ------------------------------------------------------------------ definitions and the cache
def test_same_definition_again_returns_the_entry():
    # whitespace differences are the same expression; no rebuild
    again = torch_act.define_activation("swish_beta", "z * sigmoid(a * z)", SWISH["derivative"],
                                        alpha=1.0, second_derivative=SWISH["second_derivative"])
    assert again == SPECS["swish_beta"]


def test_second_define_in_a_new_process_loads_from_the_cache():
    libs = glob.glob(os.path.join(torch_act.plugin.cache_dir(), "swish_beta-*", "torch_act_plugin_*.so"))
    assert len(libs) >= 1
    mtimes = {p: os.path.getmtime(p) for p in libs}
    code = textwrap.dedent(f"""
        import time, torch, torch_act
        t = time.perf_counter()
        spec = torch_act.define_activation("swish_beta", **{SWISH!r})
        dt = time.perf_counter() - t
        x = torch.randn(4, 3, dtype=torch.float64)
        assert torch.allclose(torch_act.activation(x, "swish_beta", 2.0), x * torch.sigmoid(2 * x))
        print(spec.name, dt)
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TORCH_ACT_CACHE_DIR": torch_act.plugin.cache_dir()})
    assert r.returncode == 0, r.stderr[-3000:]
    name, secs = r.stdout.split()
    assert name == "swish_beta"
    assert {p: os.path.getmtime(p) for p in libs} == mtimes, "the cached plugin was rebuilt"
    assert float(secs) < 1.0, f"defining from the cache took {secs} s"


# ------------------------------------------------------------------ errors
def _err(match=None, **kw):
    args = dict(name="never_registered", forward="z", derivative="1")
    args.update(kw)
    with pytest.raises(ValueError) as e:
        torch_act.define_activation(**args)
    assert "never_registered" not in torch_act.ACTIVATIONS
    return str(e.value)


def test_error_unknown_identifier_lists_allowed_names():
    msg = _err(forward="z*sigmoid(b*z)", alpha=1.0)
    assert "unknown name 'b'" in msg and "z*sigmoid(b*z)" in msg
    assert "z (the pre-activation)" in msg and "a (the parameter)" in msg and "sigmoid" in msg and "where" in msg
    # the caret is under the b
    lines = msg.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip() == "z*sigmoid(b*z)")
    assert lines[i + 1].index("^") == lines[i].index("b")
    assert "unknown function 'max'" in _err(forward="max(z, 0)")


@pytest.mark.parametrize("expr, words", [
    ("z*", "invalid syntax"),
    ("z**2", "'**' is not supported"),
    ("math.exp(z)", "attribute access"),
    ("z if z > 0 else 0", "where(cond, x, y)"),
    ("where(z > 0 and z < 1, z, 0)", "one comparison"),
    ("z > 0", "comparison gives a mask"),
    ("z[0]", "subscripts"),
    ("'z'", "only numbers"),
    ("0 < z < 1", "chained comparisons"),
    ("exp(z, 2)", "takes 1 argument"),
])
def test_error_bad_syntax(expr, words):
    msg = _err(forward=expr)
    assert words in msg and expr in msg and "^" in msg


def test_error_parameter_without_alpha():
    msg = _err(forward="a*z", derivative="a")
    assert "alpha=None" in msg and "a*z" in msg


def test_error_y_only_with_saves_output():
    assert "saves='output'" in _err(forward="tanh(z)", derivative="1 - y*y")
    assert "written in y" in _err(forward="tanh(z)", derivative="1 - tanh(z)*tanh(z)", saves="output")
    assert "saves must be" in _err(saves="both")


def test_error_builtin_name():
    with pytest.raises(ValueError, match="'relu' is a built-in activation"):
        torch_act.define_activation("relu", "where(z > 0, z, 0)", "where(z > 0, 1, 0)")


def test_error_same_name_other_expressions():
    with pytest.raises(ValueError, match="already defined in this process with other expressions") as e:
        torch_act.define_activation("swish_beta", "z*sigmoid(a*z)", "sigmoid(a*z)", alpha=1.0)
    assert "sigmoid(a*z)" in str(e.value)
    with pytest.raises(ValueError, match="already defined"):
        torch_act.define_activation("swish_beta", **{**SWISH, "alpha": 2.0})


def test_error_wrong_derivative_caught_by_check():
    msg = _err(forward="z*sigmoid(z)", derivative="sigmoid(z)")
    assert "the derivative does not match the forward" in msg and "sigmoid(z)" in msg and "check=False" in msg
    # a small error in a constant is caught too
    msg = _err(forward="0.5*z*(1 + erf(z*0.7071067811865476))",
               derivative="0.5*(1 + erf(z*0.7071067811865476)) + z*exp(-0.5*z*z)*0.39894")
    assert "does not match" in msg
    msg = _err(forward="z*z*z", derivative="3*z*z", second_derivative="3*z")
    assert "the second_derivative does not match the derivative" in msg
    # y-based derivative of a saves="output" activation
    msg = _err(forward="tanh(z)", derivative="1 - y", saves="output")
    assert "does not match" in msg and "y =" in msg


def test_check_skips_kinks_and_undefined_points():
    # leaky-relu-like kink, log undefined for z <= 0: the checks pass (no build: compare the math only)
    for fwd, der in (("where(z > 0, z, 0.1*z)", "where(z > 0, 1, 0.1)"), ("log(z)", "1/z"),
                     ("abs(z)", "where(z > 0, 1, -1)")):
        tdefine._check_math(tdefine._Definition("kink", fwd, der, "input", None, None))


def test_compile_error_shows_expression_and_first_error(monkeypatch):
    real = tdefine._functor_source
    monkeypatch.setattr(tdefine, "_functor_source",
                        lambda d: real(d).replace("return z * T(3)", "return z * t_not_a_function(T(3))"))
    msg = _err(name="broken_define", forward="z*3", derivative="3")
    assert "did not compile" in msg and "forward:    z*3" in msg
    assert "error:" in msg and "t_not_a_function" in msg
    assert len(msg.splitlines()) < 20, msg
    assert "broken_define" not in torch_act.ACTIVATIONS


def test_error_types():
    with pytest.raises(TypeError, match="forward must be a string"):
        torch_act.define_activation("tt", lambda z: z, "1")
    with pytest.raises(ValueError, match="name must be an identifier"):
        torch_act.define_activation("my act", "z", "1")
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        torch_act.define_activation("tt", "a*z", "a", alpha=float("nan"))


# ------------------------------------------------------------------ command line
def test_parse_define():
    kw = tdefine.parse_define("sb=z*sigmoid(a*z);sigmoid(a*z)+a*z*sigmoid(a*z)*(1-sigmoid(a*z));alpha=1.5")
    assert kw == dict(name="sb", forward="z*sigmoid(a*z)",
                      derivative="sigmoid(a*z)+a*z*sigmoid(a*z)*(1-sigmoid(a*z))", alpha=1.5)
    kw = tdefine.parse_define("t=tanh(z); 1 - y*y; saves=output; second=-2*y*(1 - y*y)")
    assert kw["saves"] == "output" and kw["second_derivative"] == "-2*y*(1 - y*y)"
    for bad in ("no_derivative=z", "z;1", "x=z;1;beta=2", "x=z;1;alpha=one"):
        with pytest.raises(ValueError, match="--define"):
            tdefine.parse_define(bad)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "torch_act", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd,
                          env={**os.environ, "TORCH_ACT_CACHE_DIR": torch_act.plugin.cache_dir(), "MPLBACKEND": "Agg"})


SWISH_CLI = ("swish_beta=" + SWISH["forward"] + ";" + SWISH["derivative"] + ";alpha=1.0;second="
             + SWISH["second_derivative"])


def test_cli_demo_and_playground_with_define(tmp_path):
    r = _cli("demo", "--act1", "swish_beta", "--define", SWISH_CLI, "--steps", "30")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "same output as eager PyTorch: True; same gradients: True" in r.stdout
    r = _cli("playground", "--define", SWISH_CLI, "--activation", "swish_beta", "--steps", "20",
             "--points", "60", "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert os.path.exists(tmp_path / "decision_boundary.png")
    r = _cli("demo", "--define", "bad=z**2;2*z", "--act1", "bad")
    assert r.returncode == 2 and "'**' is not supported" in r.stderr
