"""torch.compile(fullgraph=True) and torch.export trace through torch_act ops
(no graph breaks), and compiled results equal eager ones."""
import pytest
import torch

import torch_act
from conftest import randn
from torch_act import nn as tnn
from torch_act.net import Net


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        tnn.Linear(6, 16, activation="gelu"),
        tnn.Linear(16, 8, activation="leaky_relu", alpha=0.1),
        tnn.Softplus(beta=2.0),
        tnn.MLP([8, 12, 4], ["silu", "identity"]),
        tnn.LogSoftmax(dim=-1),
    )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph_forward_backward(backend):
    torch._dynamo.reset()
    model = _model()
    x = randn(5, 3, 6).requires_grad_()
    eager_out = model(x)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()] + [x.grad.clone()]
    model.zero_grad()
    x.grad = None
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    out = compiled(x)
    torch.testing.assert_close(out, eager_out)
    out.sum().backward()
    for g, p in zip(eager_grads, [*model.parameters(), x]):
        torch.testing.assert_close(p.grad, g)


def test_compile_dynamic_shapes():
    torch._dynamo.reset()
    net = Net()
    compiled = torch.compile(net, fullgraph=True, dynamic=True, backend="aot_eager")
    for m in (3, 17, 64):
        x = randn(m, 2)
        torch.testing.assert_close(compiled(x), net(x))


def test_compile_functional_ops():
    torch._dynamo.reset()

    def f(x, w, b):
        return torch_act.activation(torch_act.linear_act(x, w, b, "tanh"), "softmax")

    x, w, b = randn(4, 5), randn(3, 5), randn(3)
    torch.testing.assert_close(torch.compile(f, fullgraph=True, backend="aot_eager")(x, w, b), f(x, w, b))


def test_export_net():
    net = Net(("relu", "sigmoid"))
    x = randn(8, 2)
    ep = torch.export.export(net, (x,))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any("torch_act.linear_act" in t for t in targets), targets
    torch.testing.assert_close(ep.module()(x), net(x))


def test_export_mlp():
    m = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])
    x = randn(8, 2)
    ep = torch.export.export(m, (x,))
    assert sum("torch_act.mlp" in str(n.target) for n in ep.graph.nodes) == 1
    torch.testing.assert_close(ep.module()(x), m(x))


def test_export_flat_mlp():
    m = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"], flat=True)
    x = randn(8, 2)
    ep = torch.export.export(m, (x,))
    assert sum("torch_act.mlp_flat" in str(n.target) for n in ep.graph.nodes) == 1
    assert list(ep.state_dict) == ["flat_params"]
    torch.testing.assert_close(ep.module()(x), m(x))


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_compile_flat_mlp_training_step(dynamic):
    """MLP(flat=True) (the mlp_flat op: one parameter) compiled with fullgraph,
    forward and backward equal to the per-layer MLP in eager."""
    torch.manual_seed(0)
    ref = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])
    flat = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"], flat=True)
    flat.load_state_dict(ref.state_dict())
    compiled = torch.compile(flat, fullgraph=True, dynamic=dynamic)
    for batch in (16, 9):
        x = torch.randn(batch, 2)
        y = compiled(x)
        y.square().sum().backward()
        yr = ref(x)
        yr.square().sum().backward()
        torch.testing.assert_close(y, yr)
        torch.testing.assert_close(flat.flat_params.grad[:20].view(10, 2), ref.layers[0].weight.grad)
        torch.testing.assert_close(flat.flat_params.grad[85:90].view(1, 5), ref.layers[2].weight.grad)
