"""torch_act's fused layer against eager at a few GEMM shapes, for one
setting of the environment (TORCH_ACT_L2_BYTES, TORCH_ACT_CPU_ISA, ...).

    TORCH_ACT_L2_BYTES=1048576 python benchmarks/gemm_shapes.py [float32,bfloat16]

Per shape: our time and eager's (F.linear + the activation), each the median
of 3 interleaved torch.utils.benchmark runs (0.3 s each), GFLOP/s and the
ratio.  Run it once per setting (the settings are read once per process).
"""
import os
import statistics
import sys

import torch
from torch.utils import benchmark

import torch_act
import torch.nn.functional as F
torch.manual_seed(0)
nt = torch.get_num_threads()
def tm(f):
    return benchmark.Timer("f()", globals={"f": f}, num_threads=nt).blocked_autorange(min_run_time=0.3).median * 1e3
dts = [getattr(torch, d) for d in (sys.argv[1] if len(sys.argv) > 1 else "float32").split(",")]
shapes = [(2048, 2048, 2048, "identity", False), (512, 3072, 768, "identity", False), (512, 768, 3072, "gelu", False),
          (512, 768, 3072, "gelu", True), (512, 3072, 768, "identity", True), (77, 1000, 3000, "relu", False), (1000, 1000, 3000, "relu", True)]
print("L2", os.environ.get("TORCH_ACT_L2_BYTES", "default (2 MiB)"), "isa", torch_act.cpu_isa())
for dt in dts:
    for M, K, N, act, bwd in shapes:
        x = torch.randn(M, K, dtype=dt, requires_grad=bwd)
        w = (torch.randn(N, K) / K**0.5).to(dt).requires_grad_(bwd)
        b = torch.randn(N, dtype=dt, requires_grad=bwd)
        g = torch.randn(M, N, dtype=dt)
        ea = {"identity": lambda z: z, "gelu": F.gelu, "relu": F.relu}[act]
        if bwd:
            fo = lambda: torch_act.linear_act(x, w, b, act).backward(g)
            fe = lambda: ea(F.linear(x, w, b)).backward(g)
        else:
            fo = lambda: torch_act.linear_act(x, w, b, act)
            fe = lambda: ea(F.linear(x, w, b))
        to, te = [], []
        for _ in range(3):
            to.append(tm(fo)); te.append(tm(fe))
        o, e = statistics.median(to), statistics.median(te)
        fl = 2 * M * N * K * (3 if bwd else 1)
        print(f"{str(dt)[6:]:9s} {M}x{K}->{N} {act:8s} {'fwd+bwd' if bwd else 'fwd':7s} ours {o:8.2f} ms ({fl/o/1e6:6.1f} GF/s) eager {e:8.2f} ms  ratio {e/o:5.2f}x", flush=True)
