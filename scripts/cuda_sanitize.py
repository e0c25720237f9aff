"""Small workload that reaches every torch_act CUDA kernel, for compute-sanitizer.

  compute-sanitizer --tool memcheck  python scripts/cuda_sanitize.py
  compute-sanitizer --tool racecheck python scripts/cuda_sanitize.py --quick

Both tensor-core tile shapes (TORCH_ACT_CUDA_TILE), every operand layout,
fused / unfused softmax, TF32 on and off, ragged sizes, the misaligned and
vectorised elementwise paths, warp- and block-per-row softmax, linear_glu's
fused forward (interleaved weights, GLU epilogue; N % 8 == 0 and not).  Checks results
loosely against float64 so a silent wrong answer also fails.  Exit status 0 on
success (the sanitizer's own error exit code reports memory / race errors).
"""
import os
import sys

import torch
import torch.nn.functional as F

import torch_act

QUICK = "--quick" in sys.argv
DEV = "cuda"
failures = []


def check(name, got, ref, tol):
    err = (got.double() - ref).abs().max().item() if ref.numel() else 0.0
    scale = max(ref.abs().max().item() if ref.numel() else 0.0, 1e-3)
    if not err <= tol * scale:
        failures.append(f"{name}: err {err:.3g} > {tol} * {scale:.3g}")


def ref_act(z, name):
    return {"gelu": F.gelu, "relu": F.relu, "identity": lambda t: t, "tanh": torch.tanh,
            "softmax": lambda t: torch.softmax(t, -1), "log_softmax": lambda t: torch.log_softmax(t, -1)}[name](z)


def linear_case(M, K, N, dtype, act, layout="nn", tol=3e-2):
    x = torch.randn(M, K, device=DEV, dtype=dtype)
    w = torch.randn(N, K, device=DEV, dtype=dtype) / K**0.5
    b = torch.randn(N, device=DEV, dtype=dtype)
    if layout[0] == "t":
        x = x.t().contiguous().t()
    if layout[1] == "t":
        w = w.t().contiguous().t()
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    y = torch_act.linear_act(x, w, b, act)
    gy = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad(y, (x, w, b), gy)
    x64, w64, b64 = (t.detach().double().requires_grad_(True) for t in (x, w, b))
    y64 = ref_act(F.linear(x64, w64, b64), act)
    r = torch.autograd.grad(y64, (x64, w64, b64), gy.double())
    tag = f"{act} {dtype} {(M, K, N)} {layout} tile={os.environ.get('TORCH_ACT_CUDA_TILE', 'auto')}"
    check(tag + " y", y, y64.detach(), tol)
    for n, g, g64 in zip(("dx", "dw", "db"), (gx, gw, gb), r):
        check(f"{tag} {n}", g, g64, tol * 3)


def glu_case(M, K, N, dtype, act, tol=3e-2):
    x = torch.randn(M, K, device=DEV, dtype=dtype)
    wg = torch.randn(N, K, device=DEV, dtype=dtype) / K**0.5
    wu = torch.randn(N, K, device=DEV, dtype=dtype) / K**0.5
    bg = torch.randn(N, device=DEV, dtype=dtype)
    bu = torch.randn(N, device=DEV, dtype=dtype)
    out, z = torch.ops.torch_act._linear_glu_fwd(x, wg, wu, bg, bu, act, None)
    out2 = torch.ops.torch_act.linear_glu(x, wg, wu, None, bu, act, None)  # no z, no gate bias
    x64, wg64, wu64, bg64, bu64 = (t.double() for t in (x, wg, wu, bg, bu))
    zg, zu = F.linear(x64, wg64, bg64), F.linear(x64, wu64, bu64)
    tag = f"glu {act} {dtype} {(M, K, N)} tile={os.environ.get('TORCH_ACT_CUDA_TILE', 'auto')}"
    check(tag + " out", out, ref_act(zg, act) * zu, tol)
    check(tag + " z", z, torch.cat([zg, zu], -1), tol)
    check(tag + " out (no z, no gate bias)", out2, ref_act(F.linear(x64, wg64), act) * zu, tol)


def main():
    torch.manual_seed(0)
    lowp = [torch.float16, torch.bfloat16]
    tiles = ["small", "big"]
    shapes = [(33, 40, 72), (17, 17, 129)] if QUICK else [(33, 40, 72), (17, 17, 129), (130, 64, 200)]
    for tile in tiles:
        os.environ["TORCH_ACT_CUDA_TILE"] = tile
        for dtype in lowp + [torch.float32]:
            torch.backends.cuda.matmul.allow_tf32 = dtype == torch.float32
            for (M, K, N) in shapes:
                for layout in (["nn", "tt"] if QUICK else ["nn", "tn", "nt", "tt"]):
                    linear_case(M, K, N, dtype, "gelu", layout)
            linear_case(40, 24, 100, dtype, "softmax")      # fused with big tiles (N <= 128), not small
            linear_case(40, 24, 300, dtype, "log_softmax")  # row kernel after the GEMM
            glu_case(33, 40, 72, dtype, "gelu")   # vector stores; 2 column tiles when small
            glu_case(17, 17, 129, dtype, "relu")  # scalar stores, a ragged last tile
    os.environ.pop("TORCH_ACT_CUDA_TILE")
    torch.backends.cuda.matmul.allow_tf32 = False
    for dtype in (torch.float32, torch.float64):  # CUDA-core GEMM
        linear_case(33, 40, 72, dtype, "tanh", "tn", tol=1e-4)
        linear_case(20, 9, 50, dtype, "softmax", "nt", tol=1e-4)
        linear_case(20, 9, 70, dtype, "identity", "nn", tol=1e-4)
        glu_case(33, 40, 72, dtype, "tanh", tol=1e-4)
        glu_case(20, 9, 45, dtype, "gelu", tol=1e-4)

    for dtype in (torch.float16, torch.float32, torch.float64):
        for name, spec in torch_act.ACTIVATIONS.items():
            for n in ((5, 1003), (2, 1500)) if spec.rowwise else ((1003,), (4096,)):
                base = torch.randn(n[0] * (n[1] if len(n) > 1 else 1) + 1, device=DEV, dtype=dtype)
                for x in (base[:-1].view(n), base[1:].view(n)):  # aligned, misaligned
                    x = x.detach().requires_grad_(True)
                    y = torch_act.activation(x, name)
                    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
                    if not torch.isfinite(gx).all() and name not in ("softplus",):
                        failures.append(f"activation {name} {dtype}: non-finite gradient")
    torch.cuda.synchronize()
    if failures:
        print("\n".join(failures))
        print(f"FAILED: {len(failures)} checks")
        sys.exit(1)
    print("cuda_sanitize: all checks passed")


if __name__ == "__main__":
    main()
