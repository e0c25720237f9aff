"""Bad input gets a clear error naming the argument, never a crash or garbage."""
import pytest
import torch

import torch_act
from conftest import randn

la = torch_act.linear_act


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: la(randn(2, 3), randn(4, 3), None, "no_such_act"), ValueError, "unknown activation 'no_such_act'.*relu"),
        (lambda: torch_act.activation(randn(3), "Relu"), ValueError, "unknown activation 'Relu'"),
        (lambda: la(randn(2, 3), randn(4, 5)), RuntimeError, "weight.size\\(1\\).*K=3"),
        (lambda: la(randn(2, 3), randn(4, 3), randn(5)), RuntimeError, "bias must be 1-D of size N=4"),
        (lambda: la(randn(2, 3), randn(4, 3), randn(4, 1)), RuntimeError, "bias must be 1-D"),
        (lambda: la(randn(2, 3), randn(4, 3, 1)), RuntimeError, "weight must be 2-D"),
        (lambda: la(randn(2, 3), randn(3)), RuntimeError, "weight must be 2-D"),
        (lambda: la(torch.tensor(1.0), randn(4, 1)), RuntimeError, "input must have at least 1 dimension"),
        (lambda: la(randn(2, 3), randn(4, 3, dtype=torch.float64)), RuntimeError, "weight dtype .* must match input"),
        (lambda: la(randn(2, 3), randn(4, 3), randn(4, dtype=torch.float16)), RuntimeError, "bias dtype"),
        (lambda: la(torch.ones(2, 3, dtype=torch.int64), torch.ones(4, 3, dtype=torch.int64)), RuntimeError,
         "input must be float32, float64, bfloat16 or float16, got Long"),
        (lambda: torch_act.activation(torch.ones(3, dtype=torch.int32), "relu"), RuntimeError,
         "input must be float32, float64, bfloat16 or float16"),
        (lambda: la(randn(2, 3), randn(4, 3), None, "relu", 0.5), ValueError, "'relu' takes no alpha"),
        (lambda: la(randn(2, 3), randn(4, 3), None, "softplus", 0.0), ValueError, "alpha must be non-zero"),
        (lambda: la(randn(2, 3), randn(4, 3), None, "elu", float("nan")), ValueError, "alpha must be finite"),
        (lambda: torch_act.activation(torch.tensor(1.0), "softmax"), RuntimeError, "at least 1 dimension"),
        (lambda: torch_act.mlp(randn(2, 3), [], [], []), ValueError, "at least one layer"),
        (lambda: torch_act.mlp(randn(2, 3), [randn(4, 3), randn(2, 5)], [None, None], ["relu", "relu"]),
         RuntimeError, "layer 1.*weight.size\\(1\\).*K=4"),
        (lambda: torch_act.mlp(randn(2, 3), [randn(4, 3)], [None, None], ["relu"]), ValueError, "one entry per layer"),
        (lambda: torch_act.mlp(randn(2, 3), [randn(4, 3)], [None], ["nope"]), ValueError, "layer 0: unknown activation"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_mixed_devices():
    with pytest.raises(RuntimeError, match="weight is on cuda.*input is on cpu"):
        la(randn(2, 3), randn(4, 3).cuda())
    with pytest.raises(RuntimeError, match="bias is on"):
        la(randn(2, 3).cuda(), randn(4, 3).cuda(), randn(4))


def test_mixed_devices_meta():
    """The device check itself, exercised with a meta tensor where there is no GPU."""
    with pytest.raises(RuntimeError, match="weight is on meta but input is on cpu"):
        la(randn(2, 3), torch.empty(4, 3, device="meta"))


def test_errors_leave_no_partial_state():
    x, w = randn(2, 3).requires_grad_(), randn(4, 3).requires_grad_()
    with pytest.raises(ValueError):
        la(x, w, None, "bogus")
    assert x.grad is None and w.grad is None
    # and the op still works afterwards
    la(x, w, None, "relu").sum().backward()
    assert w.grad is not None
