"""``python -m torch_act demo``: the document's network on torch_act's fused ops.

Prints the input and output as the document does, checks the output and every
gradient against the same network in eager PyTorch, then trains a few hundred
steps on a small 2-D task and prints the loss.
"""
import math

import torch

from .define import add_define_argument, define_all
from .net import EagerNet, Net


def add_arguments(p):
    p.add_argument("--act1", default="relu", help="activation after fc1 (default relu)")
    p.add_argument("--act2", default="sigmoid", help="activation after fc2 (default sigmoid)")
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    add_define_argument(p)


def two_moons(n: int, generator: torch.Generator):
    """A small 2-D two-class dataset (interleaved half circles), made here."""
    t = torch.rand(n, generator=generator) * math.pi
    label = torch.randint(0, 2, (n,), generator=generator)
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    x = torch.where(label[:, None] == 1, torch.stack([1 - x[:, 0], 0.5 - x[:, 1]], 1), x)
    x = x + 0.1 * torch.randn(n, 2, generator=generator)
    return x, label.float()[:, None]


def main(args):
    import torch_act

    define_all(getattr(args, "define", None))
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    acts = (args.act1, args.act2)
    net = Net(acts).to(dev)
    ref = EagerNet(acts).to(dev)
    ref.load_state_dict(net.state_dict())

    print(f"torch_act {torch_act.__version__} on {dev} (CPU path: {torch_act.cpu_isa()})")
    print(net)
    x = torch.randn(1, 2, device=dev)
    out = net(x)
    print("input: ", x)
    print("output:", out)
    expected = ref(x)
    print("eager PyTorch output:", expected)
    ok = torch.allclose(out, expected, rtol=1e-5, atol=1e-6)

    xb = torch.randn(64, 2, device=dev)
    net(xb).pow(2).sum().backward()
    ref(xb).pow(2).sum().backward()
    grads_ok = all(
        torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6)
        for p, q in zip(net.parameters(), ref.parameters())
    )
    print(f"same output as eager PyTorch: {ok}; same gradients: {grads_ok}")

    g = torch.Generator().manual_seed(args.seed)
    data, target = two_moons(512, g)
    data, target = data.to(dev), target.to(dev)
    net.zero_grad()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    print(f"training {args.steps} steps on two moons (512 points, full batch, Adam lr 0.05)")
    for step in range(1, args.steps + 1):
        opt.zero_grad()
        loss = loss_fn(net(data), target)
        loss.backward()
        opt.step()
        if step == 1 or step % max(1, args.steps // 6) == 0 or step == args.steps:
            acc = ((net(data) > 0).float() == target).float().mean().item()
            print(f"  step {step:4d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    return 0 if (ok and grads_ok) else 1
