"""Benchmark torch_act's CUDA kernels (one process, torch.utils.benchmark).

Fused linear + activation, bf16 and fp16, forward and forward+backward, against
  eager      act(F.linear(x, w, b)) (cuBLAS GEMM + a separate activation kernel)
  addmm_act  torch._addmm_activation (cuBLASLt epilogue; relu, and gelu -- which
             is the tanh approximation there; forward only: it has no derivative)
  compile    torch.compile of the eager function (Inductor)
  torch_act  torch_act.linear_act
on 8192x4096->4096 gelu, 4096^3 relu and 64x4096->4096 silu; then every
activation alone on 2^28 elements, in GB/s and as a fraction of the measured
device-to-device copy bandwidth.

  python benchmarks/bench_cuda.py [--quick] [--no-compile] [--markdown FILE]
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils import benchmark

import torch_act

SHAPES = [(8192, 4096, 4096, "gelu"), (4096, 4096, 4096, "relu"), (64, 4096, 4096, "silu")]
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EAGER_ACT = {
    "identity": lambda z: z.clone(),
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, -1),
    "log_softmax": lambda z: torch.log_softmax(z, -1),
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
    "silu": F.silu,
    "elu": F.elu,
    "softplus": F.softplus,
    "mish": F.mish,
    "hardswish": F.hardswish,
}
ADDMM_GELU = {"relu": False, "gelu": True}


def measure(fn, min_run_time):
    """Median seconds per call (CUDA-synchronised by torch.utils.benchmark)."""
    fn()
    torch.cuda.synchronize()
    t = benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time)
    return t.median


def fmt_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def fmt_markdown(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def linear_contenders(act, use_compile):
    fn = EAGER_ACT[act]

    def eager(x, w, b):
        return fn(F.linear(x, w, b))

    c = {"eager": eager}
    if act in ADDMM_GELU:
        use_gelu = ADDMM_GELU[act]
        c["addmm_act"] = lambda x, w, b: torch._addmm_activation(b, x, w.t(), use_gelu=use_gelu)
    if use_compile:
        c["compile"] = torch.compile(eager, dynamic=False)
    c["torch_act"] = lambda x, w, b: torch_act.linear_act(x, w, b, act)
    return c


def bench_linear(args):
    rows = []
    for (M, K, N, act) in SHAPES:
        for dname in args.dtypes:
            dtype = DTYPES[dname]
            g = torch.Generator(device="cuda").manual_seed(0)
            x = torch.randn(M, K, device="cuda", dtype=dtype, generator=g)
            w = torch.randn(N, K, device="cuda", dtype=dtype, generator=g) / K**0.5
            b = torch.randn(N, device="cuda", dtype=dtype, generator=g)
            gy = torch.randn(M, N, device="cuda", dtype=dtype, generator=g)
            ref = EAGER_ACT[act](F.linear(x.float(), w.float(), b.float()))
            for mode in ("fwd", "fwd+bwd"):
                flops = (2 if mode == "fwd" else 6) * M * N * K
                base = None
                for name, fn in linear_contenders(act, args.compile).items():
                    if mode == "fwd+bwd" and name == "addmm_act":
                        continue
                    try:
                        if mode == "fwd":
                            xs, ws, bs = x, w, b
                            call = lambda: fn(xs, ws, bs)  # noqa: E731
                        else:
                            xs, ws, bs = (t.detach().requires_grad_(True) for t in (x, w, b))
                            call = lambda: torch.autograd.grad(fn(xs, ws, bs), (xs, ws, bs), gy)  # noqa: E731
                        with torch.no_grad():
                            err = (fn(x, w, b).float() - ref).abs().max().item()
                        t = measure(call, args.min_run_time)
                    except Exception as e:  # report and go on
                        rows.append([f"{M}x{K}->{N}", act, dname, mode, name, "error", "", "", type(e).__name__])
                        print(f"  {name} {mode} failed: {e}", file=sys.stderr)
                        continue
                    base = t if name == "eager" else base
                    rows.append([
                        f"{M}x{K}->{N}", act, dname, mode, name, f"{t * 1e3:.3f}",
                        f"{flops / t / 1e12:.0f}", f"{base / t:.2f}x" if base else "", f"{err:.2g}",
                    ])
                    print("  " + " ".join(rows[-1]), file=sys.stderr, flush=True)
            del x, w, b, gy, ref
            torch.cuda.empty_cache()
    headers = ["shape", "act", "dtype", "mode", "contender", "ms", "TFLOP/s", "vs eager", "max|err|"]
    return headers, rows


def bench_elementwise(args):
    n = args.numel
    rows = []
    for dname in args.elem_dtypes:
        dtype = DTYPES[dname]
        esize = torch.finfo(dtype).bits // 8
        x = torch.randn(n, device="cuda", dtype=dtype)
        y = torch.empty_like(x)
        t_copy = measure(lambda: y.copy_(x), args.min_run_time)
        copy_bw = 2 * n * esize / t_copy
        rows.append(["copy", dname, f"{copy_bw / 1e9:.0f}", "100%", "", "", ""])
        g = torch.randn_like(x)
        for act, spec in torch_act.ACTIVATIONS.items():
            xin = x.view(-1, 4096) if spec.rowwise else x
            gin = g.view_as(xin)
            fwd = measure(lambda: torch_act.activation(xin, act), args.min_run_time)
            eager = measure(lambda: EAGER_ACT[act](xin), args.min_run_time)
            saved = xin if spec.saves != "nothing" else xin.new_empty(0)
            bwd = measure(lambda: torch.ops.torch_act._activation_bwd(gin, saved, act, None), args.min_run_time)
            fwd_bw = 2 * n * esize / fwd
            bwd_bw = (2 if spec.saves == "nothing" else 3) * n * esize / bwd
            rows.append([
                act, dname, f"{fwd_bw / 1e9:.0f}", f"{fwd_bw / copy_bw:.0%}", f"{2 * n * esize / eager / 1e9:.0f}",
                f"{bwd_bw / 1e9:.0f}", f"{bwd_bw / copy_bw:.0%}",
            ])
            print("  " + " ".join(rows[-1]), file=sys.stderr, flush=True)
        del x, y, g
        torch.cuda.empty_cache()
    headers = ["activation", "dtype", "fwd GB/s", "fwd % copy", "eager fwd GB/s", "bwd GB/s", "bwd % copy"]
    return headers, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as markdown")
    p.add_argument("--quick", action="store_true", help="shorter timings, elementwise in bf16 only")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    p.add_argument("--dtypes", default="bf16,fp16", help="GEMM dtypes (bf16,fp16)")
    p.add_argument("--numel", type=int, default=2**28, help="elements for the activation benchmark")
    p.add_argument("--skip-linear", action="store_true")
    p.add_argument("--skip-elementwise", action="store_true")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_cuda.py needs a CUDA device")
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    args.elem_dtypes = ["bf16"] if args.quick else list(DTYPES)
    args.min_run_time = 0.1 if args.quick else 0.5
    for attr in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, attr):
            setattr(torch._dynamo.config, attr, 64)

    dev = torch.cuda.get_device_name()
    head = (f"torch_act {torch_act.__version__} on {dev}, torch {torch.__version__}, "
            f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}")
    print(head)
    sections = []
    t0 = time.time()
    if not args.skip_linear:
        sections.append(("linear_act (ms: median per call; TFLOP/s: 2MNK fwd, 6MNK fwd+bwd)", *bench_linear(args)))
    if not args.skip_elementwise:
        sections.append((f"activation on {args.numel} elements (bytes moved / time)", *bench_elementwise(args)))
    for title, headers, rows in sections:
        print(f"\n{title}\n" + fmt_table(headers, rows))
    print(f"\n({time.time() - t0:.0f} s)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"# torch_act CUDA benchmark\n\n{head}\n")
            for title, headers, rows in sections:
                f.write(f"\n## {title}\n\n{fmt_markdown(headers, rows)}\n")


if __name__ == "__main__":
    main()
