"""torch.library.opcheck for every op: schema, fake (meta) kernel, autograd
registration, and (for the public ops) AOT dispatch."""
import pytest
import torch

import torch_act
from conftest import ACTS, ALL_DEVICES, ALPHAS, randn

OPS = torch.ops.torch_act


def _args_linear(act, device, requires_grad, bias=True):
    x = randn(3, 4, 5, dtype=torch.float64, device=device).requires_grad_(requires_grad)
    w = randn(6, 5, dtype=torch.float64, device=device).requires_grad_(requires_grad)
    b = randn(6, dtype=torch.float64, device=device).requires_grad_(requires_grad) if bias else None
    return x, w, b


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "nograd"])
def test_opcheck_linear_act(act, device, requires_grad):
    x, w, b = _args_linear(act, device, requires_grad)
    torch.library.opcheck(OPS.linear_act.default, (x, w, b, act, ALPHAS.get(act)))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ACTS)
def test_opcheck_linear_act_internal(act, device):
    x, w, b = _args_linear(act, device, False)
    alpha = ALPHAS.get(act)
    out, saved = OPS._linear_act_fwd(x, w, b, act, alpha)
    torch.library.opcheck(OPS._linear_act_fwd.default, (x, w, b, act, alpha))
    s = out if saved.numel() == 0 else saved
    for mask in ([True, True, True], [False, True, False], [True, False, False]):
        torch.library.opcheck(OPS._linear_act_bwd.default, (torch.randn_like(out), x, w, s, act, alpha, mask))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "nograd"])
def test_opcheck_activation(act, device, requires_grad):
    x = randn(4, 7, dtype=torch.float64, device=device).requires_grad_(requires_grad)
    alpha = ALPHAS.get(act)
    torch.library.opcheck(OPS.activation.default, (x, act, alpha))
    y = OPS.activation(x.detach(), act, alpha)
    torch.library.opcheck(OPS._activation_bwd.default, (torch.randn_like(y), y, act, alpha))


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("requires_grad", [True, False], ids=["grad", "nograd"])
def test_opcheck_mlp(device, requires_grad):
    sizes = [5, 8, 4, 3]
    acts = ["relu", "gelu", "softmax"]
    alphas = [None, None, None]
    x = randn(6, 5, dtype=torch.float64, device=device).requires_grad_(requires_grad)
    ws = [randn(sizes[i + 1], sizes[i], dtype=torch.float64, device=device).requires_grad_(requires_grad)
          for i in range(3)]
    bs = [randn(sizes[1], dtype=torch.float64, device=device).requires_grad_(requires_grad), None,
          randn(sizes[3], dtype=torch.float64, device=device).requires_grad_(requires_grad)]
    torch.library.opcheck(OPS.mlp.default, (x, ws, bs, acts, alphas))
    d = [t.detach() if t is not None else None for t in [x, *ws, *bs]]
    x0, ws0, bs0 = d[0], d[1:4], d[4:]
    torch.library.opcheck(OPS._mlp_fwd.default, (x0, ws0, bs0, acts, alphas))
    saved = OPS._mlp_fwd(x0, ws0, bs0, acts, alphas)
    for input_grad in (True, False):
        torch.library.opcheck(OPS._mlp_bwd.default,
                              (torch.randn(6, 3, dtype=torch.float64, device=device), x0, ws0, bs0, saved, acts,
                               alphas, input_grad))
