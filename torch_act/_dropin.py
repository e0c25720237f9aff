"""How torch_act.nn's activation modules run a registry activation with the
semantics of their torch.nn namesakes.

Each module takes the constructor arguments of its torch.nn namesake (same
names, defaults and attributes, read at every forward as torch's are) and
returns what torch's returns; the helpers here do the work:

* The kernels take floating-point (float32/64, bfloat16, float16) strided
  tensors on the devices this build has kernels for, and finite alphas
  (non-zero where ACTIVATIONS[name].alpha_nonzero).  Anything else (an
  integer or complex tensor, Softplus(beta=0), CELU(alpha=0), ...) goes to
  torch's own function, so it gives torch's result or torch's error.
* inplace=True writes the result into the input with ``input.copy_()`` and
  returns the input, under autograd's rules for in-place ops, as torch's
  relu_ & co: a leaf that requires grad is refused ("a leaf Variable that
  requires grad is being used in an in-place operation"), a view rebases
  its base's history.  Differences: the result is computed out of place
  first (no memory is saved; where the op saves its input for backward it
  runs on a copy of it), and where torch refuses the backward of an in-place
  call (LeakyReLU / ELU with a negative slope) the gradient here is the
  correct one.
* Softplus(beta, threshold): the kernel is torch's softplus with threshold
  20.  threshold 20 runs on the kernel alone; a smaller threshold selects
  the input where beta*x > threshold (torch.where around the kernel: below
  it the kernel already computes torch's formula); a larger one also keeps
  torch's log1p(exp(beta*x))/beta for 20 < beta*x <= threshold, where the
  kernel is linear.  Comparisons are made in torch's compute type (float32
  for bfloat16/float16), so the switch happens at the same elements.
* Softmax / LogSoftmax: any dim (moved last and back), dim=None as torch's
  legacy implicit choice (with its deprecation warning), a 0-d input as one
  element (softmax 1, log_softmax 0); under CUDA autocast they and
  Softplus run in float32, as torch's autocast does.
"""
import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from . import ACTIVATIONS, _C

activation_op = torch.ops.torch_act.activation.default

_KERNEL_DTYPES = frozenset((torch.float32, torch.float64, torch.bfloat16, torch.float16))
_WITH_CUDA = bool(_C.build_info()["with_cuda"])
_FLOAT32_MAX = 3.4028234663852886e38
_REDUCED = (torch.float16, torch.bfloat16)


def kernel_takes(input, alpha=None, nonzero=False) -> bool:
    """Whether torch_act's kernels compute this (else torch's function does)."""
    if not isinstance(input, Tensor) or input.dtype not in _KERNEL_DTYPES or input.layout != torch.strided:
        return False
    if not (input.is_cpu or (_WITH_CUDA and input.is_cuda) or input.is_meta):
        return False
    if alpha is None:
        return True
    return math.isfinite(alpha) and abs(alpha) <= _FLOAT32_MAX and not (nonzero and alpha == 0.0)


def _saves_input(spec, alpha) -> bool:
    if spec.saves == "output_if_alpha_nonneg":
        return (spec.default_alpha if alpha is None else alpha) < 0
    return spec.saves not in ("output", "nothing")


def elementwise(input: Tensor, name: str, alpha, inplace: bool, fallback, *args) -> Tensor:
    """``name`` on the kernel (in place into ``input`` when ``inplace``), or
    ``fallback(input, *args)`` (torch's function) where the kernel cannot."""
    if alpha is not None:
        alpha = float(alpha)
    if not kernel_takes(input, alpha, alpha is not None and ACTIVATIONS[name].alpha_nonzero):
        return fallback(input, *args)
    if not inplace:
        return activation_op(input, name, alpha)
    if torch.is_grad_enabled() and input.requires_grad and _saves_input(ACTIVATIONS[name], alpha):
        # the op saves its input for backward and copy_ overwrites it: give it a copy
        out = activation_op(input.clone(), name, alpha)
    else:
        out = activation_op(input, name, alpha)
    return input.copy_(out)


def autocast_float32(input: Tensor) -> Tensor:
    # torch's CUDA autocast runs softmax, log_softmax and softplus in float32
    if input.dtype in _REDUCED and input.device.type == "cuda" and torch.is_autocast_enabled("cuda"):
        return input.float()
    return input


def implicit_softmax_dim(name: str, ndim: int) -> int:
    # torch.nn.functional._get_softmax_dim: the legacy choice for dim=None
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def rowwise(input: Tensor, name: str, dim: int) -> Tensor:
    """softmax / log_softmax of ``input`` over ``dim`` on the kernel (rows = last dim)."""
    nd = input.dim()
    n = max(nd, 1)  # torch treats a 0-d tensor as one element
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    if nd == 0:
        return activation_op(input.reshape(1), name, None).reshape(())
    if dim % nd == nd - 1:
        return activation_op(input, name, None)
    # normalise over another dim: move it last and back (a view each way)
    return activation_op(input.movedim(dim, -1), name, None).movedim(-1, dim)


def softplus(input: Tensor, beta, threshold) -> Tensor:
    beta = float(beta)
    if not kernel_takes(input, beta, nonzero=True) or math.isnan(threshold):
        return F.softplus(input, beta, threshold)
    input = autocast_float32(input)
    out = activation_op(input, "softplus", beta)  # torch's softplus with threshold 20
    if threshold == 20.0:
        return out
    bx = (input.float() if input.dtype in _REDUCED else input) * beta  # torch's compute type
    if threshold < 20.0:
        return torch.where(bx > threshold, input, out)
    mid = (bx > 20.0) & (bx <= threshold)
    # exp of a zero where mid is false: no overflow whose (discarded) gradient would be NaN
    soft = (torch.log1p(torch.exp(torch.where(mid, bx, torch.zeros_like(bx)))) / beta).to(input.dtype)
    return torch.where(bx > threshold, input, torch.where(mid, soft, out))


# torch's functions for the modules whose fallback is not one torch function call

def gelu(input, approximate):
    return F.gelu(input, approximate=approximate)


def squared_relu(input):
    return torch.relu(input) ** 2


def sine(input, omega_0):
    return torch.sin(omega_0 * input)


def quick_gelu(input):
    return input * torch.sigmoid(1.702 * input)
