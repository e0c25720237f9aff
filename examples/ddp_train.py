"""Data-parallel training of the document's network on torch_act's fused ops.

    torchrun --nproc-per-node 2 examples/ddp_train.py [--steps 300] [--mlp [--flat]] [--check]

Each process (rank) trains a replica of ``torch_act.net.Net``
(Linear(2,10)+relu -> Linear(10,5)+sigmoid -> Linear(5,1), every activation
fused into its Linear) -- or, with ``--mlp``, a wider ``torch_act.nn.MLP`` run
as one op (``--flat``: its parameters in one tensor, ``MLP(flat=True)``, which
DDP sees as one parameter) -- under ``DistributedDataParallel`` on its own shard of a two-moons
dataset; DDP averages the gradients, so every replica takes the same steps.
The backend is nccl on GPUs (one per rank, ``LOCAL_RANK``) when CUDA is
available, gloo on CPU otherwise (``--backend`` overrides).  Rank 0 prints one
JSON line per report: step, loss, accuracy.  ``--check`` also checks, at the
end, that every rank holds the same parameters.
"""
import argparse
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import torch_act
from torch_act.demo import two_moons
from torch_act.net import Net


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64, help="per-rank batch size")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--backend", default=None, help="gloo or nccl (default: nccl with CUDA, else gloo)")
    p.add_argument("--mlp", action="store_true", help="train MLP([2, 64, 64, 1]) (one fused op) instead of Net")
    p.add_argument("--flat", action="store_true", help="with --mlp: MLP(flat=True), one parameter tensor")
    p.add_argument("--check", action="store_true", help="at the end, check that all replicas are equal")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.steps < 1:
        raise SystemExit("--steps must be at least 1")
    if "RANK" not in os.environ:
        raise SystemExit("run me with torchrun, e.g. torchrun --nproc-per-node 2 examples/ddp_train.py")
    use_cuda = torch.cuda.is_available() and args.backend != "gloo"
    backend = args.backend or ("nccl" if use_cuda else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()

    torch.manual_seed(args.seed)    # same initial parameters on every rank (DDP also broadcasts rank 0's)
    if args.mlp:
        model = torch_act.nn.MLP([2, 64, 64, 1], ["relu", "tanh", "identity"], flat=args.flat)
    else:
        model = Net(("relu", "sigmoid"))
    model = DDP(model.to(device), device_ids=[local_rank] if use_cuda else None)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    # each rank draws its own shard of the data
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank + 1)
    x_all, y_all = two_moons(args.batch * 16, gen)
    x_all, y_all = x_all.to(device), y_all.to(device)

    def report(step, loss):
        with torch.no_grad():
            acc = ((model(x_all) > 0).float() == y_all).float().mean()
        stats = torch.stack([loss.detach(), acc]).to(device)
        dist.all_reduce(stats)          # mean over the ranks
        stats = (stats / world).tolist()
        if rank == 0:
            print(json.dumps({"step": step, "loss": round(stats[0], 6), "accuracy": round(stats[1], 4)}), flush=True)
        return stats[0]

    first = None
    for step in range(args.steps):
        idx = torch.randint(0, x_all.shape[0], (args.batch,), generator=gen).to(device)
        loss = loss_fn(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()                 # DDP all-reduces (averages) the gradients here
        opt.step()
        if step == 0 or step == args.steps - 1 or (step + 1) % max(1, args.steps // 10) == 0:
            mean_loss = report(step, loss)
            first = mean_loss if first is None else first

    summary = {"world_size": world, "backend": backend, "device": str(device), "first_loss": first,
               "final_loss": mean_loss}
    if args.check:
        flat = torch.cat([p.detach().reshape(-1) for p in model.module.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        summary["replicas_equal"] = all(torch.equal(g, gathered[0]) for g in gathered)
    if rank == 0:
        print(json.dumps(summary), flush=True)
    # Shut down in order: every rank past its last collective, the DDP reducer (which
    # holds the process group and its pending work) gone, then the group. Under load,
    # a rank tearing gloo down while its peer still had work in flight was seen to
    # abort at exit ("terminate called without an active exception").
    dist.barrier()
    ok = summary.get("replicas_equal", True)
    del model, opt
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
