"""What a correct torch_act op returns or raises, for the op fuzz.

Two halves:

* **Expectations** (``Expect``): from the arguments alone, the problems the op
  must refuse (unknown activation, bad alpha, non-float dtypes, ranks, sizes,
  mixed devices, wrong saved / grad_out tensors ...), each with the words a
  clear error message names.  A call with a problem must raise one of
  ``ACCEPTED`` with a message that names the op and one of those words; a
  call without must return.  ``maybe`` problems (a tensor the op never reads,
  e.g. identity's ``saved``) may go either way.
* **References** (``EV``): float64 values computed with PyTorch (the
  activation's ``reference`` from tests/reference.py, its autograd for the
  derivative, or torch's own backward formula in terms of the output), each
  carried with a bound on the error a correct float32/float64 kernel makes:
  accumulation (``INT``: the kernels accumulate bf16/fp16/fp32 in float32),
  the activation's slope times the error of its argument, rounding of
  intermediate tensors to the dtype (``ULP``), plus conftest's output
  tolerance ``TOL``.  NaN positions must match exactly, infinities too (up to
  overflow of the dtype's range).
"""
import math

import torch

import torch_act
from conftest import TOL
from fuzz_tensors import FLOATS, describe
from reference import alpha_of, reference_activation

#: exception types a refused call may raise (with a clear message)
ACCEPTED = (RuntimeError, ValueError, TypeError, IndexError)
FLT_MAX = 3.4028234663852886e38
# torch's message for a bool[3] argument given a list of another length (says what is wrong, not where)
TORCH_SCHEMA_MESSAGE = "to a fixed-size array of size"
F64 = torch.float64
# relative precision of what the kernels compute internally, and of one rounding to the dtype
INT = {torch.float64: 1e-10, torch.float32: 2e-5, torch.bfloat16: 2e-5, torch.float16: 2e-5}
TINY = {torch.float64: 1e-300, torch.float32: 1e-30, torch.bfloat16: 1e-30, torch.float16: 1e-30}
ULP = {torch.float64: 2.0**-52, torch.float32: 2.0**-23, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-10}


# --------------------------------------------------------------- expectations
class Expect:
    def __init__(self, op):
        self.op = op  # the word every message must contain ("linear_act", "mlp", "activation")
        self.hard = []  # (keywords, why): must raise
        self.soft = []  # may raise

    def bad(self, why, *keys):
        self.hard.append((keys, why))

    def maybe(self, why, *keys):
        self.soft.append((keys, why))

    @property
    def kind(self):
        return "err" if self.hard else ("either" if self.soft else "ok")

    def why(self):
        return "; ".join(w for _, w in self.hard + self.soft)

    def unclear(self, exc):
        """None if `exc` is an acceptable, clear refusal; else what is wrong with it."""
        msg = str(exc).strip()
        head = f"{type(exc).__name__}: {msg[:300]}"
        if not isinstance(exc, ACCEPTED):
            return f"exception type not accepted: {head}"
        if not msg:
            return f"empty message: {type(exc).__name__}"
        low = msg.lower()
        if TORCH_SCHEMA_MESSAGE in msg:  # torch's own argument conversion, before any torch_act code
            return None
        if self.op not in low:
            return f"message does not name the op '{self.op}': {head}"
        keys = [k for ks, _ in self.hard + self.soft for k in ks]
        if keys and not any(k.lower() in low for k in keys):
            return f"message names none of {sorted(set(keys))}: {head}"
        return None


def is_float(t):
    return str(t.dtype).replace("torch.", "") in FLOATS


def check_activation_args(ex, name, alpha, where=""):
    """Problems with an activation name and alpha; returns the spec or None."""
    if name not in torch_act.ACTIVATIONS:
        ex.bad(f"{where}unknown activation {name!r}", "unknown activation")
        return None
    spec = torch_act.ACTIVATIONS[name]
    if alpha is not None:
        if not spec.has_alpha:
            ex.bad(f"{where}{name} takes no alpha", "alpha")
        elif not math.isfinite(alpha):
            ex.bad(f"{where}alpha={alpha} not finite", "alpha")
        elif abs(alpha) > FLT_MAX:
            ex.bad(f"{where}alpha={alpha} overflows float32", "alpha")
        elif alpha == 0 and spec.alpha_nonzero:
            ex.bad(f"{where}alpha=0 for {name}", "alpha")
    return spec


def check_float(ex, arg, t, where=""):
    if not is_float(t):
        ex.bad(f"{where}{arg} dtype {t.dtype}", arg, "dtype", "float32")


def check_like(ex, arg, t, ref, refname, where="", soft=False):
    """t must have ref's dtype and device (a problem of `arg`)."""
    add = ex.maybe if soft else ex.bad
    if t.dtype != ref.dtype:
        add(f"{where}{arg} dtype {t.dtype} != {refname} {ref.dtype}", arg, "dtype")
    if t.device != ref.device:
        add(f"{where}{arg} on {t.device}, {refname} on {ref.device}", arg, "device")


def check_layer(ex, x, k, w, b, where=""):
    """check_layer of csrc/ops.cpp: weight [N, k] and bias [N] against the layer input x."""
    check_float(ex, "weight", w, where)
    if w.dim() != 2:
        ex.bad(f"{where}weight is {w.dim()}-D", "weight")
    elif k is not None and w.shape[1] != k:
        ex.bad(f"{where}weight.size(1)={w.shape[1]} != K={k}", "weight")
    check_like(ex, "weight", w, x, "input", where)
    if b is not None:
        if b.dim() != 1 or (w.dim() == 2 and b.shape[0] != w.shape[0]):
            ex.bad(f"{where}bias shape {tuple(b.shape)}", "bias")
        check_like(ex, "bias", b, x, "input", where)


def check_linear(ex, x, w, b, where=""):
    check_float(ex, "input", x, where)
    if x.dim() == 0:
        ex.bad(f"{where}input is 0-d", "input", "dimension")
    check_layer(ex, x, x.shape[-1] if x.dim() else None, w, b, where)


def check_saved(ex, arg, t, shape, ref, where="", soft=False):
    """A tensor the backward reads (or, soft, may ignore): shape, dtype, device of ref."""
    add = ex.maybe if soft else ex.bad
    if list(t.shape) != list(shape):
        add(f"{where}{arg} shape {tuple(t.shape)} != {tuple(shape)}", arg, "shape")
    check_like(ex, arg, t, ref, "input", where, soft)


def uses_output(name, alpha):
    spec = torch_act.ACTIVATIONS[name]
    a = alpha_of(name, alpha)
    return spec.saves in ("output", "nothing") or (spec.saves == "output_if_alpha_nonneg" and a >= 0)


# --------------------------------------------------------------- references
def fin(t):
    """|t| with NaN and infinities as 0 (for error bounds)."""
    return torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0).abs()


def bound(e):
    """An error bound with inf * 0 = NaN read as inf (unbounded)."""
    return torch.nan_to_num(e, nan=math.inf, posinf=math.inf)


class EV:
    """A float64 reference value `v` and a bound `e` on a correct kernel's absolute error
    (e = inf: any value is acceptable there, e.g. where float32 legitimately overflows)."""

    def __init__(self, v, e=None):
        self.v = v
        self.e = torch.zeros_like(v) if e is None else e
        self.alt = None  # where not NaN: a second acceptable value (torch itself has two)

    @staticmethod
    def exact(t):
        return EV(t.detach().to("cpu", F64))

    def rounded(self, dt):
        """The value as stored in dtype dt (what the next layer reads)."""
        return EV(self.v.to(dt).double(), self.e + ULP[dt] * fin(self.v))


def _rowmax(t):
    if t.numel() == 0 or t.dim() == 0:
        return t
    return t.amax(-1, keepdim=True).expand_as(t)


def _rowsum(t):
    if t.dim() == 0:
        return t
    return t.sum(-1, keepdim=True).expand_as(t)


def _unsure(ev):
    """1 where the sign of ev's value is not certain (|v| <= its error bound), else 0."""
    return ((ev.v.abs() <= ev.e) & (ev.e > 0)).double()


def _inf_products(unsure_a, b_inf, e):
    """e, unbounded where a sum has a term (value of uncertain sign) * inf: +inf or -inf or NaN."""
    return torch.where(unsure_a @ b_inf > 0, torch.full_like(e, math.inf), e)


def ref_linear(x, w, b, dt):
    """z = x @ w.T + b: x an EV [..., K], w [N, K], b [N] or None (float64)."""
    v = (x.v.unsqueeze(-2) * w).sum(-1)
    mag = (fin(x.v).unsqueeze(-2) * fin(w)).sum(-1)
    e = (x.e.unsqueeze(-2) * fin(w)).sum(-1)
    if b is not None:
        v, mag = v + b, mag + fin(b)
    e = bound(e + (INT[dt] + ULP[dt]) * mag)
    if w.numel():
        e = _inf_products(_unsure(x), torch.isinf(w).double().T, e)
    return EV(v, e)


def _alpha_overflow(name, alpha, z, dt):
    """Elements where float32 arithmetic with alpha overflows (a*z, z/a) although float64 does not,
    or where alpha underflows float32 (|alpha| < 1e-45 becomes 0, as in torch's float32 opmath) and
    z is infinite: a*z is then 0*inf = NaN in the kernels, +-inf in float64."""
    spec = torch_act.ACTIVATIONS[name]
    if dt == F64 or not spec.has_alpha:
        return torch.zeros_like(z, dtype=torch.bool)
    a = abs(alpha_of(name, alpha))
    with torch.no_grad():
        big = fin(z) * max(a, 1.0 / a if a else math.inf)
        out = big > 1e37
        if a != 0.0 and float(torch.tensor(a, dtype=torch.float32)) == 0.0:
            out = out | torch.isinf(z)
    return out


def ref_act(name, alpha, z, dt):
    """y = act(z) for an EV z; None when the reference cannot be evaluated."""
    spec = torch_act.ACTIVATIONS[name]
    zz = z.v.clone().requires_grad_(True)
    try:
        y = reference_activation(name, zz, alpha)
    except Exception:  # noqa: BLE001  (torch refuses this alpha: nothing to compare against)
        return None
    a = abs(alpha_of(name, alpha)) if spec.has_alpha else 0.0
    if spec.rowwise:
        # (z - max) - log(sum(exp(z - max))): a few roundings of |y|-sized values, whatever max is
        e = 2 * _rowmax(z.e) + INT[dt] * (2 * fin(y.detach()) + 2)
    else:
        (d,) = torch.autograd.grad(y.sum(), zz) if y.requires_grad else (torch.zeros_like(zz),)
        d = fin(d)
        e = 2 * (1 + d + a) * z.e + INT[dt] * (fin(y.detach()) + 1 + (d + a) * torch.clamp(fin(z.v), min=1))
    e = torch.where(_alpha_overflow(name, alpha, z.v, dt), torch.full_like(e, math.inf), e)
    return EV(y.detach(), bound(e))


def _dz_formula(name, a, s, g):
    """dL/dz from the saved tensor s (y or z) as torch's own backward computes it."""
    if name == "identity":
        return g
    if uses_output(name, a):
        y = s
        zero = torch.zeros_like(g)
        formulas = {
            "relu": lambda: torch.where(y <= 0, zero, g),
            "leaky_relu": lambda: torch.where(y > 0, g, g * a),
            "sigmoid": lambda: g * (1 - y) * y,
            "tanh": lambda: g * (1 - y * y),
            "softmax": lambda: y * (g - (g * y).sum(-1, keepdim=True)),
            "log_softmax": lambda: g - torch.exp(y) * g.sum(-1, keepdim=True),
            "relu6": lambda: torch.where((y > 0) & (y < 6), g, zero),  # NaN: 0, as torch's vector loop
            "hardsigmoid": lambda: torch.where((y > 0) & (y < 1), g / 6, zero),
        }
        return formulas[name]() if name in formulas else None
    if name == "celu":  # torch's float64 celu backward rounds 1/alpha to float32: the formula instead
        return torch.where(s <= 0, g * torch.exp(s / a), g)
    z = s.clone().requires_grad_(True)
    try:
        y = reference_activation(name, z, a)
        (dz,) = torch.autograd.grad(y, z, g)
    except Exception:  # noqa: BLE001
        return None
    return dz


_AT_NAN = {}


def _derivative_at_nan(name, a):
    """act'(NaN) on torch's scalar path (a 1-element tensor).  For the activations whose
    backward branches on z (elu, selu, celu, hardswish, ...) torch's vectorised float64
    kernels give NaN there and its scalar (and float32) ones the branch's slope: both are
    torch's answer."""
    key = (name, a)
    if key not in _AT_NAN:
        z = torch.full((1,), math.nan, dtype=F64, requires_grad=True)
        try:
            (d,) = torch.autograd.grad(reference_activation(name, z, a).sum(), z)
            _AT_NAN[key] = d.item()
        except Exception:  # noqa: BLE001
            _AT_NAN[key] = math.nan
    return _AT_NAN[key]


def ref_dz(name, alpha, s, g, dt):
    """dL/dz for the saved tensor s (float64, exact) and an EV gradient g; None if unknown."""
    spec = torch_act.ACTIVATIONS[name]
    a = alpha_of(name, alpha)
    s = s if s is not None else torch.zeros_like(g.v)
    v = _dz_formula(name, a, s, g.v)
    if v is None:
        return None
    if name == "identity":
        return EV(v, g.e.clone())
    if spec.rowwise:
        gm = fin(g.v)
        if name == "softmax":
            ys = fin(s)
            e = ys * (g.e + _rowsum(ys * g.e)) + 2 * INT[dt] * ys * (gm + _rowsum(gm * ys))
        else:
            ex = torch.exp(torch.clamp(s, max=700.0))
            e = g.e + ex * _rowsum(g.e) + 2 * INT[dt] * (gm + ex * _rowsum(gm))
            if dt != F64:  # exp(y) overflows float32
                e = torch.where(_rowmax(torch.nan_to_num(s, nan=0.0)) > 80, torch.full_like(e, math.inf), e)
        return EV(v, bound(e))
    d = fin(_dz_formula(name, a, s, torch.ones_like(s)))
    am = abs(a) if spec.has_alpha else 0.0
    e = d * g.e + INT[dt] * fin(g.v) * (1 + d) * torch.clamp(fin(s), min=1) * (1 + am) ** 2
    e = torch.where(_alpha_overflow(name, alpha, s, dt), torch.full_like(e, math.inf), e)
    # an infinite gradient times a slope that underflows in the kernel's precision (gelu'(-20)
    # is 1e-91 in float64, 0 in float32): inf or NaN
    e = torch.where(torch.isinf(g.v) & (d < TINY[dt]), torch.full_like(e, math.inf), e)
    ev = EV(v, bound(e))
    if not uses_output(name, a):
        alt = torch.full_like(v, math.nan)
        nan_s = torch.isnan(s)
        c = _derivative_at_nan(name, a) if nan_s.any() else math.nan
        if not math.isnan(c):
            ev.v = torch.where(nan_s, alt, v)
            alt = torch.where(nan_s, g.v * c, alt)
        # an infinite gradient: g * act'(s) (torch's autograd of a reference expression such as
        # z * sigmoid(a * z) may give inf - inf = NaN instead)
        inf_g = torch.isinf(g.v) & ~nan_s
        if inf_g.any():
            alt = torch.where(inf_g, g.v * _dz_formula(name, a, s, torch.ones_like(s)), alt)
        if not torch.isnan(alt).all():
            ev.alt = alt
    return ev


def ref_matmul_bwd(dz, x2, w, dt):
    """(dx [M, K], dw [N, K], db [N]) from dz [M, N] (an EV), x2 [M, K], w [N, K]."""
    if dz.alt is not None:  # two acceptable dz there: whatever follows from them is not checked
        dz = EV(dz.v, torch.where(torch.isnan(dz.alt), dz.e, torch.full_like(dz.e, math.inf)))
    t = INT[dt] + ULP[dt]
    dx = EV((dz.v.unsqueeze(-1) * w).sum(-2),
            bound((dz.e.unsqueeze(-1) * fin(w)).sum(-2) + t * (fin(dz.v).unsqueeze(-1) * fin(w)).sum(-2)))
    dw = EV((dz.v.unsqueeze(-1) * x2.unsqueeze(-2)).sum(0),
            bound((dz.e.unsqueeze(-1) * fin(x2).unsqueeze(-2)).sum(0)
                  + t * (fin(dz.v).unsqueeze(-1) * fin(x2).unsqueeze(-2)).sum(0)))
    db = EV(dz.v.sum(0), bound(dz.e.sum(0) + t * fin(dz.v).sum(0)))
    unsure = _unsure(dz)
    dx.e = _inf_products(unsure, torch.isinf(w).double(), dx.e)
    dw.e = _inf_products(unsure.T, torch.isinf(x2).double(), dw.e)
    return dx, dw, db


# --------------------------------------------------------------- comparison
def compare(what, actual, ref, dt, device):
    """None if `actual` (dtype dt, on `device`) matches the EV `ref`; else a description.
    Meta outputs are compared by shape, dtype and device only."""
    if not isinstance(actual, torch.Tensor):
        return f"{what}: not a tensor: {actual!r}"
    if tuple(actual.shape) != tuple(ref.v.shape) or actual.dtype != dt or actual.device.type != device:
        return (f"{what}: got {describe(actual)}, expected shape {tuple(ref.v.shape)} "
                f"{str(dt).replace('torch.', '')} on {device}")
    if actual.device.type == "meta" or actual.numel() == 0:
        return None
    rtol, atol = TOL[dt]
    a = actual.detach().double()
    v, e = ref.v, ref.e
    free = torch.isinf(e)  # unchecked elements
    vr = v.to(dt).double()
    nan_bad = (torch.isnan(a) != torch.isnan(vr)) & ~free
    fmax = torch.finfo(dt).max
    inf_a, inf_r = torch.isinf(a), torch.isinf(vr)
    same = (a == vr) | (torch.isnan(a) & torch.isnan(vr))
    # a finite value past the dtype's range may round to inf (or stay at the largest finite value)
    near_edge = (fin(v) + torch.nan_to_num(e, posinf=0.0) + rtol * fin(v)) >= fmax * (1 - 2 * ULP[dt])
    inf_bad = (inf_a | inf_r) & ~same & ~near_edge & ~free & ~torch.isnan(a) & ~torch.isnan(vr)
    finite = ~(inf_a | inf_r | torch.isnan(a) | torch.isnan(vr) | free)
    tol = e + atol + rtol * fin(v)
    err = torch.where(finite, (a - v).abs(), torch.zeros_like(a))
    val_bad = finite & (err > tol)
    bad = nan_bad | inf_bad | val_bad
    if ref.alt is not None:  # matching the alternative is as good
        alt = ref.alt
        alt_ok = ~torch.isnan(alt) & (((a - alt).abs() <= e + atol + rtol * fin(alt)) | (a == alt.to(dt).double()))
        bad = bad & ~alt_ok
    if not bad.any():
        return None
    i = tuple(int(j) for j in bad.nonzero()[0])
    kind = "NaN positions differ" if nan_bad.any() else ("infinity differs" if inf_bad.any() else "values differ")
    return (f"{what}: {kind} at {int(bad.sum())} of {a.numel()} elements; first {list(i)}: "
            f"got {a[i].item():.6g}, reference {v[i].item():.6g} (allowed error {tol[i].item():.3g})")
