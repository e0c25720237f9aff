"""Under torch.autocast the linear ops run in the autocast dtype, like F.linear."""
import pytest
import torch

import torch_act
from conftest import ALL_DEVICES, randn
from reference import reference_linear_act


@pytest.mark.parametrize("device", ALL_DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_autocast_linear_act_and_mlp(dtype, device):
    x = randn(8, 6, device=device)
    w = randn(4, 6, device=device).requires_grad_()
    b = randn(4, device=device).requires_grad_()
    with torch.autocast(device, dtype=dtype):
        y = torch_act.linear_act(x, w, b, "gelu")
        ref_dtype = torch.nn.functional.linear(x, w, b).dtype
        m = torch_act.mlp(x, [w, randn(3, 4, device=device)], [b, None], ["relu", "identity"])
    assert y.dtype == ref_dtype == dtype and m.dtype == dtype
    torch.testing.assert_close(y.double(), reference_linear_act(x.to(dtype), w.to(dtype), b.to(dtype), "gelu"),
                               rtol=2e-2, atol=2e-2)
    y.float().sum().backward()
    assert w.grad.dtype == torch.float32 and b.grad.dtype == torch.float32


def test_activation_keeps_input_dtype_under_autocast():
    x = randn(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch_act.activation(x, "gelu").dtype == torch.float32
