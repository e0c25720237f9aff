"""The op fuzz's worker process (run by tests/test_fuzz.py, one process per op family).

    python tests/fuzz_worker.py --family linear --examples 400 --seed 0
    python tests/fuzz_worker.py --replay '<the JSON of one example>'

Runs `examples` hypothesis examples (fixed seed: the same examples every run)
of one family (tests/fuzz_cases.py).  Each example's case is printed as one
``EX <n> <json>`` line *before* the call, so when the process dies (segfault,
abort, sanitizer report) the parent names the example that killed it, and
``--replay`` runs it again.  Every example is judged (fuzz_oracle): a call
must return what the float64 reference computes or raise a clear error, and
the same call on meta tensors must agree (both raise, or the same output
shapes and dtypes).  Failures are collected, not raised, so one run reports
every kind it found: ``FAIL <kind> | <detail> | <json>``; the last line is
``DONE <examples> <failures>``.  Exit status 0 only without failures.
"""
import argparse
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.utils.deterministic  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

import torch_act  # noqa: E402
import conftest  # noqa: E402,F401  (user activations registered, as in the test session)
from fuzz_cases import STRATEGIES  # noqa: E402
from fuzz_families import PREPARE  # noqa: E402
from fuzz_oracle import ACCEPTED  # noqa: E402

MAX_REPORTS_PER_KIND = 3


def _invoke(call):
    try:
        return "ok", call()
    except Exception as e:  # noqa: BLE001  (judged by the caller)
        return "err", e


def _short(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"


def judge(tag, ex, res, check):
    """Problems of one call's outcome against its expectation: [(kind, detail)]."""
    status, val = res
    if status == "err":
        if ex.kind == "ok":
            return [(f"{tag}: raised on valid arguments: {type(val).__name__}", _short(val))]
        why = ex.unclear(val)
        return [(f"{tag}: unclear error ({ex.why()})", why)] if why else []
    if ex.kind == "err":
        return [(f"{tag}: accepted invalid arguments", ex.why())]
    try:
        return [(f"{tag}: wrong result", p) for p in check(val)]
    except Exception:  # noqa: BLE001
        return [(f"{tag}: checker failed", traceback.format_exc(limit=3).replace("\n", " / "))]


def agree(res, res_meta):
    """The meta twin must raise when CPU raises, else give the same shapes and dtypes."""
    (s, v), (sm, vm) = res, res_meta
    if s != sm:
        what = _short(vm) if sm == "err" else "returned"
        return [(f"meta disagrees: CPU {'raised' if s == 'err' else 'returned'}, meta {what.split(':')[0]}",
                 f"cpu: {_short(v) if s == 'err' else 'ok'}; meta: {what}")]
    if s == "err":
        return []
    got = [(tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else type(t).__name__ for t in vm]
    want = [(tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else type(t).__name__ for t in v]
    bad = [t for t in vm if isinstance(t, torch.Tensor) and t.device.type != "meta"]
    if got != want or bad:
        return [("meta disagrees: outputs", f"cpu {want}, meta {got}" + (" (non-meta outputs)" if bad else ""))]
    return []


def _devices(case):
    devs = set()

    def walk(o):
        if isinstance(o, dict):
            if "device" in o and "shape" in o:
                devs.add(o["device"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(case)
    return devs


def run_case(case):
    """All problems of one example: the call as drawn, and its meta twin when it is all CPU."""
    if torch_act.cpu_isa() != case["isa"]:
        torch_act.set_cpu_isa(case["isa"])
    torch.set_num_threads(case["threads"])
    prep = PREPARE[case["family"]]
    try:
        call, ex, check = prep(case, False)
    except Exception:  # noqa: BLE001
        return [("harness: prepare failed", traceback.format_exc(limit=4).replace("\n", " / "))]
    res = _invoke(call)
    problems = judge("cpu" if _devices(case) <= {"cpu"} else "mixed", ex, res, check)
    if _devices(case) <= {"cpu"}:
        call_m, ex_m, check_m = prep(case, True)
        res_m = _invoke(call_m)
        problems += agree(res, res_m)
        if res_m[0] == "err" and isinstance(res_m[1], ACCEPTED) and ex_m.kind != "ok":
            why = ex_m.unclear(res_m[1])
            if why:
                problems.append((f"meta: unclear error ({ex_m.why()})", why))
    return problems


def run_family(family, examples, seed_value, out=sys.stdout):
    counts, shown, n = {}, {}, [0]
    strategy = STRATEGIES[family]()

    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @seed(seed_value)
    @given(strategy)
    def body(case):
        n[0] += 1
        line = json.dumps(case)
        print(f"EX {n[0]} {line}", file=out, flush=True)
        for kind, detail in run_case(case):
            counts[kind] = counts.get(kind, 0) + 1
            if shown.get(kind, 0) < MAX_REPORTS_PER_KIND:
                shown[kind] = shown.get(kind, 0) + 1
                print(f"FAIL {kind} | {detail} | {line}", file=out, flush=True)

    body()
    for kind, k in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"KIND {k} x {kind}", file=out, flush=True)
    print(f"DONE {n[0]} {sum(counts.values())}", file=out, flush=True)
    return n[0], counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=sorted(STRATEGIES))
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replay", help="the JSON of one EX line: run that example and print its problems")
    p.add_argument("--crash", action="store_true", help="(self-test) die of SIGSEGV after printing an example")
    a = p.parse_args(argv)
    # every fresh allocation is NaN: an output element a kernel forgot to write shows up
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    if a.crash:
        print('EX 1 {"family": "selftest"}', flush=True)
        import ctypes
        ctypes.string_at(0)
    if a.replay:
        case = json.loads(a.replay)
        problems = run_case(case)
        for kind, detail in problems:
            print(f"FAIL {kind} | {detail}")
        print(f"DONE 1 {len(problems)}")
        return 1 if problems else 0
    if not a.family:
        p.error("--family or --replay is required")
    _, counts = run_family(a.family, a.examples, a.seed)
    return 1 if counts else 0


if __name__ == "__main__":
    sys.exit(main())
