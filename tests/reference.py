"""The one PyTorch reference for every activation, shared by all the tests.

The registry is the single source: ``torch_act.ACTIVATIONS[name].reference``
is a Python expression in ``z`` (the pre-activation) and ``a`` (the
activation's parameter) with ``torch`` and ``F`` (torch.nn.functional) in
scope, e.g. ``"F.leaky_relu(z, a)"``.  ``a`` is the alpha given, or the
spec's ``default_alpha`` when alpha is None.  A new activation (built-in,
plugin or ``define_activation``) is therefore tested against its reference
without editing the tests.

The reference is evaluated on the tensor given, in its dtype (pass a float64
tensor for a float64 reference) and with autograd, so its gradient is
PyTorch's gradient.
"""
import torch
import torch.nn.functional as F

import torch_act

_SCOPE = {"torch": torch, "F": F}
_compiled = {}  # reference source -> code object


def _code(name):
    spec = torch_act.ACTIVATIONS[name]
    src = spec.reference
    if not src:
        raise AssertionError(f"activation {name!r} has no PyTorch reference (ActivationSpec.reference is empty)")
    code = _compiled.get(src)
    if code is None:
        code = _compiled[src] = compile(src, f"<reference of {name}>", "eval")
    return spec, code


def alpha_of(name, alpha=None):
    """The alpha an activation runs with: the one given, or its default."""
    return torch_act.ACTIVATIONS[name].default_alpha if alpha is None else alpha


def reference_activation(name, z, alpha=None):
    """``name``'s activation of ``z`` computed by PyTorch (``spec.reference``)."""
    spec, code = _code(name)
    a = spec.default_alpha if alpha is None else alpha
    return eval(code, _SCOPE, {"z": z, "a": a})


def reference_linear_act(x, w, b, name, alpha=None):
    """``act(x @ w.T + b)`` in float64 with PyTorch's own functions."""
    z = x.double() @ w.double().T
    if b is not None:
        z = z + b.double()
    return reference_activation(name, z, alpha)
