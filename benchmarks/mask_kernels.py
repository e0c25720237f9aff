"""The save="mask" kernels alone, next to the activation's own backward pass.

    python benchmarks/mask_kernels.py [threads]     (default 1 thread)

Times torch_act's _act_mask (pack one bit per element), _mask_grad (expand
g * slope(bit)) and _activation_bwd (the pass they replace) on [512, 3072]
for relu, leaky_relu and hardsigmoid in float32 and bfloat16: median of
torch.utils.benchmark blocked_autorange (0.5 s each), in ms.
"""
import sys

import torch
from torch.utils import benchmark

import torch_act  # noqa: F401  (loads the ops)

torch.manual_seed(0)
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
ops = torch.ops.torch_act


def ms(f):
    return benchmark.Timer("f()", globals={"f": f}, num_threads=torch.get_num_threads()).blocked_autorange(
        min_run_time=0.5).median * 1e3


for dt in (torch.float32, torch.bfloat16):
    y = torch.randn(512, 3072).relu().to(dt)
    z = torch.randn(512, 3072).to(dt)
    g = torch.randn(512, 3072).to(dt)
    for act in ("relu", "leaky_relu", "hardsigmoid"):
        s = y if act == "relu" else z  # what the policy "output" / "input" keeps
        bits = ops._act_mask(s, act, None)
        print(f"{str(dt):15s} {act:12s} _act_mask {ms(lambda: ops._act_mask(s, act, None)):.3f} ms  "
              f"_mask_grad {ms(lambda: ops._mask_grad(g, bits, act, None)):.3f} ms  "
              f"activation backward {ms(lambda: ops._activation_bwd(g, s, act, None)):.3f} ms")
