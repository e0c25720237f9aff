"""CPU benchmarks: torch_act against eager PyTorch and torch.compile, side by side.

``python -m torch_act bench`` (or ``python benchmarks/bench_cpu.py``).  All
contenders run in this one process with torch.utils.benchmark; rounds
interleave the contenders so drifting clocks hit them alike; the reported
time is the median over all rounds.  Ratios are eager time / contender time
(> 1 means faster than eager).
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.utils import benchmark

import torch_act
from torch_act import nn as tnn
from torch_act.net import EagerNet, Net, eager_activation

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def add_arguments(p):
    p.add_argument("--cases", default="net,mlp,pinn,square,peak",
                   help="comma list of: net, mlp (transformer MLP), glu (LLaMA-style gated MLP), pinn (a physics-informed "
                        "network's training step, fp32), square (2048^3), "
                        "peak (GEMM peak), lce (linear + cross-entropy 4096x1024->32000: time and peak memory, "
                        "one process per contender; slow, not in the default list), save (saved-tensor policies: bytes kept "
                        "per layer and fwd+bwd time per policy; not in the default list)")
    p.add_argument("--dtypes", default="float32,bfloat16", help="comma list of float32,bfloat16")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case (default 5)")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per contender per round")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile contender")
    p.add_argument("--quick", action="store_true", help="smaller shapes, 2 rounds: a smoke run")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for every contender (default: torch.get_num_threads())")
    p.add_argument("--markdown", default=None, help="write the results table to this file (e.g. benchmarks/RESULTS.md)")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bf16_kernel_text():
    """Which kernel our bf16 GEMMs take here (torch_act._C.cpu_bf16_kernel), in words."""
    bk = torch_act._C.cpu_bf16_kernel()
    timed = (f": vdpbf16ps loop {bk['dot_gflops']:.0f} vs FMA loop {bk['fma_gflops']:.0f} GFLOP/s per core"
             if bk.get("dot_gflops") else "")
    return f"{bk['kernel']} ({bk['why']}{timed})"


def eager_blas_path():
    """Which BLAS/oneDNN kernel eager F.linear takes here (from ONEDNN_VERBOSE / MKL_VERBOSE)."""
    code = ("import torch,torch.nn.functional as F;"
            "x=torch.randn(256,256);w=torch.randn(256,256);F.linear(x,w);"
            "F.linear(x.bfloat16(),w.bfloat16())")
    env = dict(os.environ, ONEDNN_VERBOSE="1", MKL_VERBOSE="1", DNNL_VERBOSE="1")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    except Exception as e:  # pragma: no cover
        return f"unknown ({e})"
    lines = [l for l in out.splitlines() if ("exec" in l and ("matmul" in l or "inner_product" in l)) or l.startswith("MKL_VERBOSE SGEMM")]
    found = []
    for l in lines:
        if l.startswith("MKL_VERBOSE"):
            found.append("fp32: MKL " + l.split("(")[0].replace("MKL_VERBOSE ", ""))
        else:
            parts = l.split(",")
            impl = next((p for p in parts if any(k in p for k in ("brg", "gemm", "amx", "jit", "ref"))), "?")
            dt = "bf16" if "bf16" in l else "fp32"
            found.append(f"{dt}: oneDNN {impl}")
    seen = []
    for f in found:
        if f not in seen:
            seen.append(f)
    return "; ".join(seen) if seen else "fp32/bf16: no MKL/oneDNN verbose output (likely PyTorch's own/OpenBLAS gemm)"


class Case:
    def __init__(self, group, name, flops, contenders):
        self.group, self.name, self.flops, self.contenders = group, name, flops, contenders


def _train_step(model, x, gy):
    def run():
        out = model(x)
        out.backward(gy)
    return run


def _zero(params):
    for p in params:
        p.grad = None


def net_cases(batch, dtype, compile_):
    torch.manual_seed(0)
    eager = EagerNet().to(dtype)
    ours = Net().to(dtype)
    ours.load_state_dict(eager.state_dict())
    mlp = tnn.MLP.from_linears([ours.fc1, ours.fc2, ours.fc3], ["relu", "sigmoid", "identity"])
    x = torch.randn(batch, 2, dtype=dtype)
    gy = torch.randn(batch, 1, dtype=dtype)
    fl_f = 2 * batch * (2 * 10 + 10 * 5 + 5 * 1)
    flat = tnn.MLP.from_linears([ours.fc1, ours.fc2, ours.fc3], ["relu", "sigmoid", "identity"], flat=True)
    models = {"eager": eager, "torch_act Linear": ours, "torch_act MLP": mlp, "torch_act MLP(flat=True)": flat}
    if compile_:
        twin = EagerNet().to(dtype)
        twin.load_state_dict(eager.state_dict())
        models["torch.compile"] = torch.compile(twin)
    fwd, step = {}, {}
    for k, m in models.items():
        fwd[k] = (lambda m=m: m(x))
        step[k] = _train_step(m, x, gy)
    return [Case(f"Net 2-10-5-1 batch {batch}", "forward", fl_f, fwd),
            Case(f"Net 2-10-5-1 batch {batch}", "fwd+bwd", 3 * fl_f, step)]


def layer_cases(group, M, K, N, act, dtype, compile_, backward=True):
    torch.manual_seed(0)
    x = torch.randn(M, K, dtype=dtype)
    lin = torch.nn.Linear(K, N).to(dtype)
    ours = tnn.Linear.from_linear(lin, activation=act)
    xg = x.clone().requires_grad_()
    gy = torch.randn(M, N, dtype=dtype)

    def eager_f(x=x):
        return eager_activation(act, F.linear(x, lin.weight, lin.bias))

    fwd = {"eager": eager_f, "torch_act Linear": lambda: ours(x)}
    step = {"eager": lambda: eager_f(xg).backward(gy), "torch_act Linear": lambda: ours(xg).backward(gy)}
    if compile_:
        cf = torch.compile(eager_f)
        fwd["torch.compile"] = lambda: cf(x)
        step["torch.compile"] = lambda: cf(xg).backward(gy)
    fl = 2 * M * N * K
    cases = [Case(group, f"{act} forward", fl, fwd)]
    if backward:
        cases.append(Case(group, f"{act} fwd+bwd", 3 * fl, step))
    return cases


def glu_cases(M, K, H, dtype, compile_):
    """LLaMA-style gated MLP M x K -> H -> K with silu: eager (F.silu(gate(x)) * up(x),
    then down), torch.compile of the same, torch_act GatedMLP (same parameters)."""
    torch.manual_seed(0)
    gate, up, down = (torch.nn.Linear(a, b, bias=False).to(dtype) for a, b in ((K, H), (K, H), (H, K)))

    def eager_f(x):
        return down(F.silu(gate(x)) * up(x))

    ours = tnn.GatedMLP(K, H, activation="silu", dtype=dtype)
    ours.gate_proj, ours.up_proj, ours.down_proj = gate, up, down
    x = torch.randn(M, K, dtype=dtype)
    xg = x.clone().requires_grad_()
    gy = torch.randn(M, K, dtype=dtype)
    fwd = {"eager": lambda: eager_f(x), "torch_act GatedMLP": lambda: ours(x)}
    step = {"eager": lambda: eager_f(xg).backward(gy), "torch_act GatedMLP": lambda: ours(xg).backward(gy)}
    if compile_:
        cf = torch.compile(eager_f)
        fwd["torch.compile"] = lambda: cf(x)
        step["torch.compile"] = lambda: cf(xg).backward(gy)
    fl = 2 * M * K * H * 3
    group = f"gated MLP (silu) {M}x{K}->{H}->{K}"
    return [Case(group, "forward", fl, fwd), Case(group, "fwd+bwd", 3 * fl, step)]


def pinn_cases(batch, compile_):
    """A PINN training step (torch_act/pinn.py): 2->64->64->64->1 tanh, a residual
    with u_xx + u_yy (three differentiations per step), fp32."""
    from . import pinn

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    ours = pinn.make_model()
    eager = pinn.eager_model(ours)
    inside, boundary = pinn.sample(batch, 256, generator=gen)
    models = {"eager": eager, "torch_act MLP": ours}

    def step(m, fn=None):
        params = list(m.parameters())
        fn = fn or (lambda: pinn.loss(m, inside, boundary))

        def run():
            _zero(params)
            fn().backward()
        return run

    contenders = {k: step(m) for k, m in models.items()}
    if compile_:
        twin = pinn.eager_model(ours)
        cf = torch.compile(lambda: pinn.loss(twin, inside, boundary))
        try:
            step(twin, cf)()
            contenders["torch.compile"] = step(twin, cf)
        except Exception as e:  # noqa: BLE001  (reported, the case runs without it)
            print(f"pinn: torch.compile contender skipped: {type(e).__name__}: {str(e).splitlines()[0]}")
    fl = 2 * batch * (2 * 64 + 2 * 64 * 64 + 64) * 9  # ~3 forward-sized passes per differentiation
    return [Case(f"PINN 2-64-64-64-1 tanh batch {batch}", "train step", fl, contenders)]


def _timer(fn):
    # torch.utils.benchmark.Timer runs with num_threads=1 unless told otherwise.
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())


def measure(case, rounds, min_time):
    times = {k: [] for k in case.contenders}
    with torch.no_grad() if case.name.endswith("forward") else torch.enable_grad():
        for fn in case.contenders.values():  # warm up (and compile)
            fn()
            fn()
        for _ in range(rounds):
            for k, fn in case.contenders.items():
                t = _timer(fn).blocked_autorange(min_run_time=min_time)
                times[k].extend(t.times)
    return {k: statistics.median(v) for k, v in times.items()}


def peak_gflops_per_core():
    """Theoretical fp32 peak from the ISA: FMA units x lanes x 2 FLOP x clock."""
    isa = torch_act.cpu_isa()
    lanes = {"amx": 16, "avx512": 16, "avx2": 8}.get(isa, 4)  # fp32 FMA lanes (amx = avx512 + bf16 tiles)
    fma_units = 2
    mhz = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
    except OSError:
        pass
    ghz = (mhz or 2000.0) / 1000.0
    return fma_units * lanes * 2 * ghz, f"{fma_units} FMA units x {lanes} fp32 lanes x 2 FLOP x {ghz:.2f} GHz (cpu MHz from /proc/cpuinfo)"


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [DTYPES[d] for d in args.dtypes.split(",") if d]
    cases_wanted = set(args.cases.split(","))
    compile_ = not args.no_compile
    rounds = 2 if args.quick else args.rounds
    rows = []
    sq = 512 if args.quick else 2048
    print(f"torch_act CPU path {torch_act.cpu_isa()}, {torch.get_num_threads()} threads"
          + (f"; bf16 GEMMs: {bf16_kernel_text()}" if torch.bfloat16 in dtypes else ""))
    for dtype in dtypes:
        dn = str(dtype).replace("torch.", "")
        cases = []
        if "net" in cases_wanted:
            cases += net_cases(64, dtype, compile_) + net_cases(256 if args.quick else 4096, dtype, compile_)
        if "mlp" in cases_wanted:
            M = 64 if args.quick else 512
            cases += layer_cases(f"transformer MLP {M}x768->3072", M, 768, 3072, "gelu", dtype, compile_)
            cases += layer_cases(f"transformer MLP {M}x3072->768", M, 3072, 768, "identity", dtype, compile_)
        if "glu" in cases_wanted:
            cases += glu_cases(64 if args.quick else 512, 256 if args.quick else 1024,
                               704 if args.quick else 2816, dtype, compile_)
        if "pinn" in cases_wanted and dtype == torch.float32:
            cases += pinn_cases(256 if args.quick else 1024, compile_)
        if "square" in cases_wanted:
            for act in ("relu", "sigmoid", "tanh", "gelu", "silu"):
                cases += layer_cases(f"square {sq}^3", sq, sq, sq, act, dtype, compile_, backward=False)
        for c in cases:
            res = measure(c, rounds, args.min_time)
            base = res["eager"]
            for k, t in res.items():
                rows.append((dn, c.group, c.name, k, t, base / t, c.flops / t / 1e9))
            print(f"{dn:9s} {c.group:32s} {c.name:16s} " + "  ".join(
                f"{k}: {t * 1e6:9.1f}us ({base / t:4.2f}x)" for k, t in res.items()), flush=True)
    lce = []
    if "lce" in cases_wanted:
        from . import bench_lce

        lce = bench_lce.run([str(d).replace("torch.", "") for d in dtypes], args.rounds if not args.quick else 1,
                            args.threads, quick=args.quick)
    save = []
    if "save" in cases_wanted:
        from . import bench_save

        save = bench_save.run([str(d).replace("torch.", "") for d in dtypes], rounds, args.min_time, quick=args.quick)
    peak_row = None
    if "peak" in cases_wanted:
        peak, how = peak_gflops_per_core()
        threads = torch.get_num_threads()
        n = 512 if args.quick else 2048
        x, w = torch.randn(n, n), torch.randn(n, n)
        with torch.no_grad():
            t = _timer(lambda: torch_act.linear_act(x, w, None, "identity")).blocked_autorange(min_run_time=1.0).median
            te = _timer(lambda: F.linear(x, w)).blocked_autorange(min_run_time=1.0).median
        g, ge = 2 * n**3 / t / 1e9, 2 * n**3 / te / 1e9
        micro = torch_act._C.cpu_micro_peak(1.0)
        peak_row = (n, g, ge, peak, how, threads, micro)
        print(f"microkernel alone (1 thread): {micro['microkernel_gflops']:.1f} GFLOP/s = "
              f"{100 * micro['microkernel_gflops'] / micro['fma_loop_gflops']:.1f}% of the FMA-loop peak "
              f"{micro['fma_loop_gflops']:.1f}, {100 * micro['microkernel_gflops'] / peak:.1f}% of theoretical {peak:.0f}")
        if micro.get("bf16_dot_loop_gflops"):
            print(f"bf16 pair microkernel alone (1 thread): {micro['bf16_microkernel_gflops']:.1f} GFLOP/s = "
                  f"{100 * micro['bf16_microkernel_gflops'] / micro['bf16_dot_loop_gflops']:.1f}% of the "
                  f"vdpbf16ps-loop peak {micro['bf16_dot_loop_gflops']:.1f}")
        print(f"GEMM {n}^3 fp32, {threads} threads: torch_act {g:.1f} GFLOP/s, eager {ge:.1f} GFLOP/s")
    return rows, peak_row, lce, save


def to_markdown(rows, peak_row, args, lce=(), save=()):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# torch_act CPU benchmark results", "",
           f"- date: {now}",
           f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, threads used: {torch.get_num_threads()}",
           f"- torch_act CPU path: {torch_act.cpu_isa()} (compiled: {', '.join(torch_act.build_info()['cpu_isas'])}); "
           f"bf16 GEMMs: {bf16_kernel_text()}",
           f"- torch: {torch.__version__}; eager BLAS path: {eager_blas_path()}",
           f"- command: `{' '.join(['python -m torch_act bench'] + sys.argv[2:])}`",
           "- time: median over interleaved rounds (torch.utils.benchmark); ratio = eager time / contender time (>1 is faster than eager)"]
    if rows:
        out += ["", "| dtype | case | pass | contender | time (us) | vs eager | GFLOP/s |", "|---|---|---|---|---:|---:|---:|"]
    for dn, group, name, k, t, ratio, gf in rows:
        out.append(f"| {dn} | {group} | {name} | {k} | {t * 1e6:.1f} | {ratio:.2f}x | {gf:.2f} |")
    if peak_row:
        n, g, ge, peak, how, threads, micro = peak_row
        mk, fl = micro["microkernel_gflops"], micro["fma_loop_gflops"]
        out += ["", f"Microkernel alone (`torch_act._C.cpu_micro_peak`: the {micro['isa']} path's fp32 "
                    f"{micro['mr']}x{micro['nr']} register tile over cache-resident kc={micro['kc']} panels, "
                    f"one thread): {mk:.1f} GFLOP/s = {100 * mk / fl:.1f}% of the measured FMA-loop peak "
                    f"({fl:.1f} GFLOP/s per core: independent FMAs, no loads) and {100 * mk / peak:.1f}% of "
                    f"the theoretical {peak:.0f} GFLOP/s per core ({how})."
                    + (f" The bf16 pair kernel (vdpbf16ps, same tile): {micro['bf16_microkernel_gflops']:.1f} "
                       f"GFLOP/s = {100 * micro['bf16_microkernel_gflops'] / micro['bf16_dot_loop_gflops']:.1f}% "
                       f"of a pure vdpbf16ps loop ({micro['bf16_dot_loop_gflops']:.1f} GFLOP/s per core)."
                       if micro.get("bf16_dot_loop_gflops") else ""),
                "", f"Whole GEMM {n}^3 fp32 identity, {threads} threads: torch_act {g:.1f} GFLOP/s = "
                    f"{100 * g / (peak * threads):.1f}% of {threads} x theoretical; eager F.linear {ge:.1f} GFLOP/s."]
    if lce:
        from . import bench_lce

        out += bench_lce.markdown(lce)
    if save:
        from . import bench_save

        out += bench_save.markdown(save)
    return "\n".join(out) + "\n"


def main(args):
    rows, peak_row, lce, save = run(args)
    if args.markdown:
        md = to_markdown(rows, peak_row, args, lce, save)
        with open(args.markdown, "w") as f:
            f.write(md)
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    sys.exit(main(p.parse_args()))
