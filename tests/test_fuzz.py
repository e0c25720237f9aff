"""Property-based fuzz of the op boundary: nothing breaks.

Every public op (torch.ops.torch_act.linear_act / activation / mlp and the
torch_act wrappers, with autograd) and every internal op (_linear_act_fwd,
_linear_act_bwd, _mlp_fwd, _mlp_bwd, _activation_bwd) gets random arguments:
ranks 0-4, sizes 0-70 and mismatched, every dtype (integer, bool, complex,
float8 too), non-contiguous / expanded / zero-stride / offset views, meta
tensors mixed with CPU ones, NaN / inf / negative / huge / tiny alphas,
unknown activation names, lists of the wrong length, wrong grad_out and
saved tensors (tests/fuzz_cases.py).  Each call must return what a float64
PyTorch reference computes (within conftest's TOL plus a bound on the
kernels' float32 arithmetic), or raise RuntimeError / ValueError / TypeError
/ IndexError with a message naming the op and the argument at fault
(tests/fuzz_oracle.py).  The same call on meta tensors must agree: both
raise, or the same output shapes and dtypes (opcheck-style agreement, for bad
inputs too).

The examples run in a worker process per op family (tests/fuzz_worker.py)
that prints each example before calling, so a crash is reported with the
arguments that caused it, and ``python tests/fuzz_worker.py --replay JSON``
reruns one.  Fixed seed: the same examples every run.

Environment: TORCH_ACT_FUZZ_EXAMPLES (total examples over all families,
default 2000), TORCH_ACT_FUZZ_SEED (default 0), TORCH_ACT_CPU_ISA (one CPU
path for every example; by default each example draws one of
torch_act.supported_cpu_isas()).
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "fuzz_worker.py")
# share of the examples per family (sums to 1)
SHARE = {"activation": 0.17, "activation_bwd": 0.12, "linear": 0.22, "linear_bwd": 0.17,
         "mlp": 0.15, "mlp_bwd": 0.14, "argtypes": 0.03}
TOTAL = int(os.environ.get("TORCH_ACT_FUZZ_EXAMPLES", "2000"))
SEED = int(os.environ.get("TORCH_ACT_FUZZ_SEED", "0"))
TIMEOUT = int(os.environ.get("TORCH_ACT_FUZZ_TIMEOUT", "1800"))
MAX_LINES = 40


def run_worker(*args, timeout=TIMEOUT):
    """Runs the worker; returns (returncode or 'timeout', stdout lines, stderr)."""
    try:
        r = subprocess.run([sys.executable, WORKER, *args], capture_output=True, text=True, timeout=timeout,
                           cwd=HERE)
        return r.returncode, r.stdout.splitlines(), r.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return "timeout", out.splitlines(), err


def explain(rc, lines, stderr):
    """None when the worker ran every example cleanly; else the report."""
    done = [l for l in lines if l.startswith("DONE ")]
    if rc == 0 and done:
        return None
    if not done:  # died: name the example it was running
        last = next((l for l in reversed(lines) if l.startswith("EX ")), "(no example started)")
        how = ("timed out" if rc == "timeout" else
               f"died of signal {-rc}" if isinstance(rc, int) and rc < 0 else f"exited with status {rc}")
        return (f"fuzz worker {how} during example {last.split(' ', 2)[1] if last.startswith('EX') else '-'}:\n"
                f"{last}\nreplay: python tests/fuzz_worker.py --replay '<the JSON above>'\n"
                f"--- stderr (tail) ---\n{stderr[-4000:]}")
    kinds = [l for l in lines if l.startswith("KIND ")]
    fails = [l for l in lines if l.startswith("FAIL ")]
    return "\n".join([done[-1]] + kinds + fails[:MAX_LINES] + [f"... {len(fails) - MAX_LINES} more"] *
                     (len(fails) > MAX_LINES))


@pytest.mark.parametrize("family", sorted(SHARE))
def test_fuzz(family):
    n = max(1, round(TOTAL * SHARE[family]))
    rc, lines, stderr = run_worker("--family", family, "--examples", str(n), "--seed", str(SEED))
    report = explain(rc, lines, stderr)
    assert report is None, report
    ran = int(next(l for l in lines if l.startswith("DONE ")).split()[1])
    assert ran >= n // 2, f"only {ran} of {n} examples ran (hypothesis gave up on the rest)"


def test_worker_reports_a_crash():
    """A worker that dies is reported with the example it was running."""
    rc, lines, stderr = run_worker("--crash", timeout=300)
    report = explain(rc, lines, stderr)
    assert report is not None and "during example 1" in report and "selftest" in report, report
