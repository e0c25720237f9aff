"""Where the backward of one fused layer spends its time, next to the eager ops.

    python benchmarks/backward_breakdown.py [float32|bfloat16] [M,K,N] [act ...]

For out = act(x @ w.T + b) with x [M, K], w [N, K], times torch_act's backward
op asking for every gradient, for dx only, dw only and db only, and eager's
pieces (g @ w, g.T @ x, the activation's backward).  Best of 5 runs of 3 calls,
intra-op threads as set (torch.get_num_threads()).
"""
import sys
import timeit

import torch

import torch_act  # noqa: F401  (loads the ops)

EAGER_BWD = {"gelu": lambda g, s: torch.ops.aten.gelu_backward(g, s),
             "relu": lambda g, s: torch.ops.aten.threshold_backward(g, s, 0.0),
             "identity": lambda g, s: g}


def best_ms(f):
    return min(timeit.repeat(f, number=3, repeat=5)) / 3 * 1e3


def main(argv):
    dt = getattr(torch, argv[1]) if len(argv) > 1 else torch.float32
    M, K, N = (int(v) for v in (argv[2] if len(argv) > 2 else "512,768,3072").split(","))
    acts = argv[3:] or ["identity", "relu", "gelu"]
    torch.manual_seed(0)
    x = torch.randn(M, K, dtype=dt)
    w = torch.randn(N, K, dtype=dt) / K**0.5
    g = torch.randn(M, N, dtype=dt)
    s = torch.randn(M, N, dtype=dt)
    op = torch.ops.torch_act._linear_act_bwd.default
    print(f"{dt} M={M} K={K} N={N}, {torch.get_num_threads()} threads, ms")
    print("| act | all grads | dx only | dw only | db only | eager g@w | eager g.T@x | eager act bwd |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for act in acts:
        t = [best_ms(lambda m=m: op(g, x, w, s, act, None, m))
             for m in ([True, True, True], [True, False, False], [False, True, False], [False, False, True])]
        e = [best_ms(lambda: g.mm(w)), best_ms(lambda: g.t().mm(x)),
             best_ms(lambda: EAGER_BWD[act](g, s)) if act in EAGER_BWD else float("nan")]
        print(f"| {act} | " + " | ".join(f"{v:.2f}" for v in t + e) + " |")


if __name__ == "__main__":
    main(sys.argv)
