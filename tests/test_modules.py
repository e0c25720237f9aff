"""Drop-in modules: state_dict compatibility with nn.Linear, activation modules
against their torch.nn namesakes, the document's Net against eager PyTorch."""
import pytest
import torch

import torch_act
from conftest import ACTS, randn
from torch_act import nn as tnn
from torch_act.net import EagerNet, Net

MODULE_PAIRS = [
    (tnn.ReLU(), torch.nn.ReLU()),
    (tnn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (tnn.LeakyReLU(), torch.nn.LeakyReLU()),
    (tnn.Sigmoid(), torch.nn.Sigmoid()),
    (tnn.Tanh(), torch.nn.Tanh()),
    (tnn.Softmax(dim=-1), torch.nn.Softmax(dim=-1)),
    (tnn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (tnn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)),
    (tnn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
    (tnn.GELU(), torch.nn.GELU()),
    (tnn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh")),
    (tnn.SiLU(), torch.nn.SiLU()),
    (tnn.ELU(alpha=0.5), torch.nn.ELU(alpha=0.5)),
    (tnn.Softplus(beta=2.0), torch.nn.Softplus(beta=2.0)),
    (tnn.Mish(), torch.nn.Mish()),
    (tnn.Hardswish(), torch.nn.Hardswish()),
    (tnn.Identity(54, unused="x"), torch.nn.Identity(54, unused="x")),
    (tnn.ReLU6(), torch.nn.ReLU6()),
    (tnn.Hardsigmoid(), torch.nn.Hardsigmoid()),
    (tnn.SELU(), torch.nn.SELU()),
    (tnn.CELU(alpha=0.5), torch.nn.CELU(alpha=0.5)),
    (tnn.Softsign(), torch.nn.Softsign()),
    (tnn.LogSigmoid(), torch.nn.LogSigmoid()),
    (tnn.Tanhshrink(), torch.nn.Tanhshrink()),
    (tnn.SquaredReLU(), tnn.Activation("squared_relu")),  # (no torch.nn counterpart: see
    (tnn.Sine(2.0), tnn.Activation("sin", 2.0)),          # test_modules_parity.py)
    (tnn.QuickGELU(), tnn.Activation("quick_gelu")),
]


@pytest.mark.parametrize("ours,theirs", MODULE_PAIRS, ids=lambda m: repr(m))
def test_activation_modules_match_torch_nn(ours, theirs):
    x = randn(3, 4, 5, dtype=torch.float64, scale=3).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y1, y2 = ours(x), theirs(x2)
    torch.testing.assert_close(y1, y2)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x.grad, x2.grad)


def test_every_activation_has_a_module():
    covered = {m.activation for m, _ in MODULE_PAIRS}
    assert covered == {a for a in ACTS if torch_act.ACTIVATIONS[a].builtin}  # (user ones: Activation(name))


def test_linear_is_nn_linear_and_loads_its_state_dict():
    ref = torch.nn.Linear(7, 4)
    ours = tnn.Linear(7, 4, activation="gelu")
    assert isinstance(ours, torch.nn.Linear)
    assert set(ours.state_dict()) == {"weight", "bias"}
    ours.load_state_dict(ref.state_dict())
    x = randn(5, 7)
    torch.testing.assert_close(ours(x), torch.nn.functional.gelu(ref(x)))
    # and back
    ref2 = torch.nn.Linear(7, 4)
    ref2.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ref2.weight, ref.weight)


def test_linear_without_bias_and_dtype_device_kwargs():
    m = tnn.Linear(3, 2, bias=False, activation="leaky_relu", alpha=0.3, dtype=torch.float64)
    assert m.bias is None and m.weight.dtype == torch.float64
    x = randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(m(x), torch.nn.functional.leaky_relu(x @ m.weight.T, 0.3))
    assert "activation=leaky_relu" in repr(m) and "alpha=0.3" in repr(m)


def test_from_linear_shares_parameters():
    ref = torch.nn.Linear(4, 3)
    ours = tnn.Linear.from_linear(ref, activation="tanh")
    assert ours.weight is ref.weight and ours.bias is ref.bias
    x = randn(2, 4)
    torch.testing.assert_close(ours(x), torch.tanh(ref(x)))
    with pytest.raises(TypeError):
        tnn.Linear.from_linear(torch.nn.Conv1d(1, 1, 1))


def test_unknown_activation_in_module():
    with pytest.raises(ValueError, match="unknown activation 'no_such_act'"):
        tnn.Linear(2, 2, activation="no_such_act")
    with pytest.raises(ValueError, match="approximate"):
        tnn.GELU(approximate="fast")


def test_net_matches_eager_output_and_training_step():
    torch.manual_seed(0)
    net, ref = Net(), EagerNet()
    ref.load_state_dict(net.state_dict())
    x = torch.randn(1, 2)
    torch.testing.assert_close(net(x), ref(x))
    xb, yb = torch.randn(64, 2), torch.randn(64, 1)
    opt1 = torch.optim.SGD(net.parameters(), lr=0.1)
    opt2 = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(5):
        for m, o in ((net, opt1), (ref, opt2)):
            o.zero_grad()
            torch.nn.functional.mse_loss(m(xb), yb).backward()
            o.step()
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("acts", [("relu", "sigmoid"), ("tanh", "gelu"), ("leaky_relu", "softmax")])
def test_net_with_any_activation(acts):
    torch.manual_seed(1)
    net, ref = Net(acts), EagerNet(acts)
    ref.load_state_dict(net.state_dict())
    x = randn(16, 2)
    torch.testing.assert_close(net(x), ref(x))


def test_mlp_module_is_the_net_as_one_op():
    torch.manual_seed(0)
    ref = EagerNet().double()
    mlp = tnn.MLP.from_linears([ref.fc1, ref.fc2, ref.fc3], ["relu", "sigmoid", "identity"])
    x = randn(32, 2, dtype=torch.float64)
    torch.testing.assert_close(mlp(x), ref(x))
    mlp(x).sum().backward()
    grads = [p.grad.clone() for p in ref.parameters()]
    ref.zero_grad()
    ref(x).sum().backward()
    for g, p in zip(grads, ref.parameters()):
        torch.testing.assert_close(g, p.grad)
    # built from sizes; state_dict keys follow nn.Sequential-like naming
    m = tnn.MLP([2, 10, 5, 1], ["relu", "sigmoid", "identity"])
    assert list(m.state_dict()) == [f"layers.{i}.{k}" for i in range(3) for k in ("weight", "bias")]
    with pytest.raises(ValueError, match="one activation per layer"):
        tnn.MLP([2, 3, 4], ["relu"])
    with pytest.raises(ValueError, match="do not chain"):
        tnn.MLP.from_linears([torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)], "relu")


def test_functional_api_by_name():
    from torch_act import functional as F

    x = randn(3, 8)
    torch.testing.assert_close(F.gelu_tanh(x), torch.nn.functional.gelu(x, approximate="tanh"))
    torch.testing.assert_close(F.leaky_relu(x, alpha=0.2), torch.nn.functional.leaky_relu(x, 0.2))
    for name in ACTS:
        assert callable(getattr(F, name))


def test_linear_and_mlp_follow_parametrized_weights():
    # The modules read parameters from _parameters for speed; a parametrization
    # moves "weight" out of it (into a property), and must still be honoured.
    from torch.nn.utils import parametrize

    class Double(torch.nn.Module):
        def forward(self, w):
            return 2 * w

    torch.manual_seed(0)
    lin = tnn.Linear(3, 4, activation="tanh")
    parametrize.register_parametrization(lin, "weight", Double())
    x = torch.randn(5, 3)
    ref = torch.tanh(x @ (2 * lin.parametrizations.weight.original).T + lin.bias)
    torch.testing.assert_close(lin(x), ref)
    mlp = tnn.MLP([3, 4, 2], ["relu", "identity"])
    parametrize.register_parametrization(mlp.layers[1], "weight", Double())
    l0, l1 = mlp.layers
    ref = torch.relu(x @ l0.weight.T + l0.bias) @ (2 * l1.parametrizations.weight.original).T + l1.bias
    torch.testing.assert_close(mlp(x), ref)
