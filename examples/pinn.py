"""A physics-informed network on torch_act: 2-D Poisson with a known solution.

    python examples/pinn.py [--steps 3000] [--batch 1024] [--no-compile]

Solves -(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y) on the unit square with
u = 0 on its boundary (exact solution sin(pi x) sin(pi y)) with a
2 -> 64 -> 64 -> 64 -> 1 tanh network (``torch_act.nn.MLP``, one fused op).
The loss holds u_xx and u_yy, so each step differentiates the network three
times through torch_act's higher-order autograd (docs/autograd.md).  Prints
the relative L2 error against the exact solution, and the time per training
step next to the same network in eager PyTorch (and tries torch.compile, printing
why PyTorch refuses it: double backward through compiled code).
"""
import argparse
import time

import torch

from torch_act import pinn


def time_steps(model, inside, boundary, n=20, step_fn=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # timing only: parameters stay put
    step_fn = step_fn or (lambda: pinn.loss(model, inside, boundary))
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        step_fn().backward()
    t = time.perf_counter()
    for _ in range(n):
        opt.zero_grad(set_to_none=True)
        step_fn().backward()
    return (time.perf_counter() - t) / n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=1024, help="collocation points inside per step")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile timing")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = pinn.make_model()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    t0 = time.perf_counter()
    for step in range(args.steps):
        inside, boundary = pinn.sample(args.batch, 256, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = pinn.loss(model, inside, boundary)
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3e}  relative L2 error {pinn.relative_l2(model):.3e}",
                  flush=True)
    train_s = time.perf_counter() - t0
    err = pinn.relative_l2(model)
    print(f"trained {args.steps} steps in {train_s:.1f} s; relative L2 error vs the exact solution: {err:.3e}")

    inside, boundary = pinn.sample(args.batch, 256, generator=gen)
    eager = pinn.eager_model(model)
    rows = [("torch_act MLP", time_steps(model, inside, boundary)),
            ("eager PyTorch", time_steps(eager, inside, boundary))]
    if not args.no_compile:
        twin = pinn.eager_model(model)
        compiled = torch.compile(lambda: pinn.loss(twin, inside, boundary))
        try:
            rows.append(("torch.compile", time_steps(twin, inside, boundary, step_fn=compiled)))
        except Exception as e:  # report, do not hide
            print(f"torch.compile: {type(e).__name__}: {str(e).splitlines()[0]}")
    base = rows[1][1]
    for name, t in rows:
        print(f"{name:14s} {t * 1e3:8.2f} ms per step  ({base / t:.2f}x eager)")


if __name__ == "__main__":
    main()
