"""What save="mask" costs a layer against save="output" (forward + backward).

    python benchmarks/mask_cost.py

For relu and leaky_relu layers from the document's Net (64x2->10) to a
transformer MLP (512x768->3072), float32 and bfloat16: one layer's
linear_act(...).backward(g) under each policy, 5 interleaved rounds of
torch.utils.benchmark (0.4 s each), median in us, and the ratio mask/output.
This is what save="auto"'s size threshold (csrc/save_policy.h) rests on.
"""
import statistics

import torch
from torch.utils import benchmark

import torch_act
torch.manual_seed(0)
nt = torch.get_num_threads()
def tm(f):
    return benchmark.Timer("f()", globals={"f": f}, num_threads=nt).blocked_autorange(min_run_time=0.4).median * 1e6
shapes = [(64, 2, 10), (64, 10, 5), (256, 512, 512), (512, 768, 3072), (77, 1000, 3000)]
for dt in (torch.float32, torch.bfloat16):
    for (M, K, N) in shapes:
        for act in ("relu", "leaky_relu"):
            x = torch.randn(M, K, dtype=dt, requires_grad=True)
            w = (torch.randn(N, K) / K**0.5).to(dt).requires_grad_()
            b = torch.randn(N, dtype=dt, requires_grad=True)
            g = torch.randn(M, N, dtype=dt)
            fs = {s: (lambda s=s: torch_act.linear_act(x, w, b, act, save=s).backward(g)) for s in ("output", "mask")}
            res = {s: [] for s in fs}
            for _ in range(5):
                for s, f in fs.items():
                    res[s].append(tm(f))
            o, m = statistics.median(res["output"]), statistics.median(res["mask"])
            print(f"{str(dt)[6:]:9s} {M}x{K}->{N} {act:10s} output {o:9.1f} us  mask {m:9.1f} us  mask/output {m/o:5.3f}", flush=True)
