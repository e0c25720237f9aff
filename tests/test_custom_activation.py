"""The C++ plugin path end to end: examples/custom_activation built with
torch_act.plugin.build (tests/plugins.py, for the whole session) and with its
setup.py, loaded, used by every op, and the registry's errors."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import torch_act
from plugins import ROOT, SWISH_HEADER, USER_ACTIVATIONS

EXAMPLE = os.path.join(ROOT, "examples", "custom_activation")


def swish_ref(z, a):
    return z * torch.sigmoid(a * z)


def test_plugin_registered_with_its_metadata():
    assert USER_ACTIVATIONS == ["swish"]
    spec = torch_act.ACTIVATIONS["swish"]
    assert not spec.builtin and spec.has_alpha and spec.default_alpha == 1.0 and spec.saves == "input"
    assert spec.formula == "z * sigmoid(a*z)"
    # every CPU path of this build, so whatever set_cpu_isa picks has kernels
    assert set(torch_act.supported_cpu_isas()) <= set(spec.cpu_isas)


@pytest.mark.parametrize("isa", torch_act.supported_cpu_isas())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_plugin_every_isa_values_and_grads(isa, dtype):
    prev = torch_act.cpu_isa()
    torch_act.set_cpu_isa(isa)
    try:
        g = torch.Generator().manual_seed(3)
        # big enough for the blocked GEMM path too (not only the small-shape one)
        for M, K, N in [(7, 5, 3), (150, 96, 130)]:
            x = torch.randn(M, K, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
            w = (torch.randn(N, K, generator=g, dtype=torch.float64) * K**-0.5).to(dtype).requires_grad_()
            b = torch.randn(N, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
            y = torch_act.linear_act(x, w, b, "swish", 1.7)
            z = x.double() @ w.double().T + b.double()
            tol = {torch.float64: 1e-10, torch.float32: 2e-5, torch.bfloat16: 3e-2}[dtype]
            torch.testing.assert_close(y.double(), swish_ref(z, 1.7), rtol=tol, atol=tol)
            gy = torch.randn(M, N, generator=g, dtype=torch.float64)
            dx, dw, db = torch.autograd.grad(y, (x, w, b), gy.to(dtype))
            xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, w, b))
            ref = swish_ref(xd @ wd.T + bd, 1.7)
            rdx, rdw, rdb = torch.autograd.grad(ref, (xd, wd, bd), gy)
            scale = 1 if dtype != torch.bfloat16 else K
            for got, want in ((dx, rdx), (dw, rdw), (db, rdb)):
                torch.testing.assert_close(got.double(), want, rtol=tol * 4, atol=tol * 4 * scale)
    finally:
        torch_act.set_cpu_isa(prev)


def test_plugin_in_mlp_and_module_gradcheck():
    torch.manual_seed(0)
    net = torch_act.nn.MLP([2, 10, 5, 1], ["swish", "sigmoid", "identity"], alphas=[1.5, None, None]).double()
    x = torch.randn(16, 2, dtype=torch.float64, requires_grad=True)
    params = [p for p in net.parameters()]
    torch.autograd.gradcheck(lambda x, *ps: net(x), (x, *params))


def _run(code, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=600)


def test_cached_plugin_loads_fast_in_a_new_process():
    r = _run(f"""
        import time, torch_act
        t = time.perf_counter()
        name = torch_act.plugin.build({SWISH_HEADER!r}, "example::Swish")
        print(name, time.perf_counter() - t)
        """)
    assert r.returncode == 0, r.stderr
    name, secs = r.stdout.split()
    assert name == "swish"
    assert float(secs) < 1.0, f"loading the cached plugin took {secs} s"


def test_setup_py_build_and_name_clash(tmp_path):
    """The example's setup.py builds the same functor as a plain library; in a
    fresh process it loads and works, and loading it next to the CMake/cache
    build (another origin, same name) is refused with a clear error."""
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace",
                            "--build-temp", str(tmp_path / "tmp")],
                           cwd=EXAMPLE, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    so = os.path.join(EXAMPLE, "swish_activation.so")
    try:
        r = _run(f"""
            import torch, torch_act
            print(torch_act.load_library({so!r}))
            x = torch.randn(4, 3, dtype=torch.float64)
            y = torch_act.activation(x, "swish", 2.0)
            assert torch.allclose(y, x * torch.sigmoid(2 * x))
            try:
                torch_act.plugin.build({SWISH_HEADER!r}, "example::Swish")
            except ValueError as e:
                print("ERR", e)
            """)
        assert r.returncode == 0, r.stderr
        assert "['swish']" in r.stdout
        assert "ERR" in r.stdout and "already registered with a different definition" in r.stdout
    finally:
        if os.path.exists(so):
            os.remove(so)


def test_compile_error_shows_the_first_error(tmp_path):
    bad = tmp_path / "bad.h"
    bad.write_text(open(SWISH_HEADER).read().replace("t_sigmoid(a * z);", "t_sigmoidd(a * z);", 1))
    with pytest.raises(torch_act.plugin.PluginBuildError) as e:
        torch_act.plugin.build(str(bad), "example::Swish", build_dir=str(tmp_path / "b"))
    msg = str(e.value)
    assert "example::Swish" in msg and "t_sigmoidd" in msg
    assert len(msg.splitlines()) < 12  # the first error, not pages of template errors


def test_unknown_and_builtin_names():
    with pytest.raises(ValueError, match="unknown activation 'no_such'.*swish"):
        torch_act.linear_act(torch.randn(2, 3), torch.randn(4, 3), None, "no_such")
