"""torch_act.define_activation: a new activation from two expressions.

``define_activation("swish_beta", "z*sigmoid(a*z)",
"sigmoid(a*z) + a*z*sigmoid(a*z)*(1 - sigmoid(a*z))", alpha=1.0)`` parses the
forward and its derivative (a small expression language, a subset of Python's
expression grammar, parsed with :mod:`ast`), checks the derivative against
finite differences of the forward, writes a C++ activation functor
(``torch_act/activation.h``) and its PyTorch reference from them, and compiles
the functor with :func:`torch_act.plugin.build` into every CPU ISA path of
torch_act (and CUDA where a GPU is present).  The name then works in every op
and module, like a built-in.  Compiled plugins are cached
($TORCH_ACT_CACHE_DIR): the same definition in a new process only loads the
library.  See docs/custom_activations.md.

The language: ``z`` (the pre-activation), ``y`` (the output; only in the
derivatives of a ``saves="output"`` activation, which are written in y), ``a``
(the parameter; only when ``alpha`` gives its default), numbers, ``+ - * /``,
unary ``-``, parentheses, the functions below, and ``where(cond, x, y)`` whose
condition is one comparison (``< <= > >= == !=``).
"""
import ast
import hashlib
import math
import os
import re
import threading
from collections import namedtuple

import torch

__all__ = ["define_activation", "parse_define", "add_define_argument", "define_from_argv"]

# function -> (C++ name, torch name); all take one argument
_FUNCS = {
    "exp": ("t_exp", "torch.exp"), "expm1": ("t_expm1", "torch.expm1"), "log": ("t_log", "torch.log"),
    "log1p": ("t_log1p", "torch.log1p"), "tanh": ("t_tanh", "torch.tanh"), "erf": ("t_erf", "torch.erf"),
    "sigmoid": ("t_sigmoid", "torch.sigmoid"), "abs": ("t_abs", "torch.abs"), "sin": ("t_sin", "torch.sin"),
    "cos": ("t_cos", "torch.cos"), "sqrt": ("t_sqrt", "torch.sqrt"),
}
_ALLOWED_FUNCS = ", ".join(list(_FUNCS) + ["where(cond, x, y)"])
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_UNARY, _ATOM = 3, 4
_SAVES = {"input": "Input", "output": "Output"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# a translated (sub)expression: C++ text, torch text, precedence, whether the
# torch text is surely a tensor (depends on z or y), and whether it is a mask
_Code = namedtuple("_Code", "cpp py prec tensor mask")


class _Expr:
    """One parsed, validated expression and its C++ / torch translations."""

    def __init__(self, ctx, what, text, var, names):
        if not isinstance(text, str):
            raise TypeError(f"{ctx}: {what} must be a string expression, got {type(text).__name__}")
        self.ctx, self.what, self.var, self.names = ctx, what, var, names
        if "#" in text or "\\" in text:
            raise ValueError(f"{ctx}: {what}: comments (#) and backslashes are not supported\n    {text.strip()}")
        self.text = " ".join(text.split())  # one line (newlines inside parentheses are only spaces)
        if not self.text:
            raise ValueError(f"{ctx}: {what} is empty")
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as e:
            line = (e.text or self.text).rstrip("\n")
            col = max(0, (e.offset or 1) - 1)
            end = max(col + 1, (e.end_offset or col + 2) - 1) if e.end_lineno in (None, e.lineno) else col + 1
            msg = "invalid syntax" + ("" if e.msg == "invalid syntax" else f": {e.msg}")
            raise ValueError(self._point(msg, line, col, end)) from None
        self.tree = tree.body
        self.used = set()
        code = self._visit(self.tree)
        if code.mask:
            self._fail(self.tree, "a comparison gives a mask, usable only as where()'s first argument; "
                                  "write where(cond, 1, 0) for a 0/1 value")
        self.cpp = code.cpp
        self.py = code.py if code.tensor else f"torch.zeros_like({var}) + {_paren(code, 2)}"
        self.key = ast.dump(self.tree, annotate_fields=False)

    # ---- errors: the expression, a caret under the offending piece
    def _point(self, msg, line, col, end):
        return (f"{self.ctx}: {self.what}: {msg}\n    {line}\n    {' ' * col}{'^' * max(1, end - col)}")

    def _fail(self, node, msg):
        lines = self.text.splitlines() or [self.text]
        lineno = getattr(node, "lineno", 1)
        line = lines[lineno - 1]
        b = line.encode()
        col = len(b[:node.col_offset].decode(errors="ignore"))
        end_off = node.end_col_offset if getattr(node, "end_lineno", lineno) == lineno else len(b)
        end = len(b[:end_off].decode(errors="ignore"))
        raise ValueError(self._point(msg, line, col, end))

    def _allowed(self):
        return ", ".join(self.names.values()) + "; functions: " + _ALLOWED_FUNCS

    # ---- translation
    def _visit(self, n):
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self._fail(n, f"only numbers are allowed as constants, not {v!r}")
            return self._number(n, float(v))
        if isinstance(n, ast.Name):
            return self._name(n)
        if isinstance(n, ast.BinOp):
            if isinstance(n.op, ast.Pow):
                self._fail(n, "'**' is not supported: write powers as products (z*z, z*z*z) or exp(p*log(z))")
            op = _ARITH.get(type(n.op))
            if op is None:
                self._fail(n, f"operator {_opname(n.op)} is not supported; use + - * /")
            l, r = self._value(n.left), self._value(n.right)
            p = _PREC[op]
            # left-associative: the right operand of - and / needs parentheses at equal precedence
            rp = p + 1 if op in "-/" else p
            return _Code(f"{_paren(l, p, 'cpp')} {op} {_paren(r, rp, 'cpp')}",
                         f"{_paren(l, p)} {op} {_paren(r, rp)}", p, l.tensor or r.tensor, False)
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.USub):
                o = n.operand
                if isinstance(o, ast.Constant) and isinstance(o.value, (int, float)) and not isinstance(o.value, bool):
                    return self._number(n, -float(o.value))
                c = self._value(n.operand)
                return _Code(f"-{_paren(c, _UNARY, 'cpp')}", f"-{_paren(c, _UNARY)}", _UNARY, c.tensor, False)
            if isinstance(n.op, ast.UAdd):
                return self._value(n.operand)
            self._fail(n, "'not' is not supported (and, or, not have no element-wise meaning here); "
                          "use where(cond, x, y)" if isinstance(n.op, ast.Not)
                       else f"operator {_opname(n.op)} is not supported")
        if isinstance(n, ast.Compare):
            if len(n.ops) != 1:
                self._fail(n, "chained comparisons (a < b < c) are not supported; nest where() instead")
            op = _CMP.get(type(n.ops[0]))
            if op is None:
                self._fail(n, f"comparison {_opname(n.ops[0])} is not supported; use < <= > >= == !=")
            l, r = self._value(n.left), self._value(n.comparators[0])
            lpy = l.py if (l.tensor or r.tensor) else f"torch.zeros_like({self.var}) + {_paren(l, 2)}"
            return _Code(f"{l.cpp} {op} {r.cpp}", f"{lpy} {op} {r.py}", 0, True, True)
        if isinstance(n, ast.Call):
            return self._call(n)
        if isinstance(n, ast.BoolOp):
            self._fail(n, f"'{'and' if isinstance(n.op, ast.And) else 'or'}' is not supported; "
                          "nest where() instead, e.g. where(z > 0, where(z < 1, x, y), w)")
        if isinstance(n, ast.IfExp):
            self._fail(n, "'x if cond else y' is not supported; write where(cond, x, y)")
        if isinstance(n, ast.Attribute):
            self._fail(n, f"attribute access is not supported; write the bare function name "
                          f"(e.g. exp(z), not math.exp(z)); allowed names: {self._allowed()}")
        if isinstance(n, ast.Subscript):
            self._fail(n, "subscripts (x[i]) are not supported")
        self._fail(n, f"{type(n).__name__.lower()} expressions are not supported; allowed: numbers, "
                      f"{self._allowed()}, + - * /, unary -, comparisons inside where()")

    def _value(self, n):
        c = self._visit(n)
        if c.mask:
            self._fail(n, "a comparison gives a mask, usable only as where()'s first argument")
        return c

    def _number(self, n, v):
        if not math.isfinite(v):
            self._fail(n, "the constant is not finite in double precision")
        s = str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
        return _Code(f"T({s})", s, _UNARY if s.startswith("-") else _ATOM, False, False)

    def _name(self, n):
        i = n.id
        if i in self.names:
            self.used.add(i)
            return _Code(i, i, _ATOM, i != "a", False)
        if i in _FUNCS or i == "where":
            self._fail(n, f"{i} is a function: call it, as in {i}(z)" if i != "where"
                       else "where is a function: where(cond, x, y)")
        if i == "y" and self.what == "forward":
            msg = "y (the output) cannot be used in forward"
        elif i == "y":
            msg = "y (the output) is only available with saves='output' (then the derivatives are written in y)"
        elif i == "z" and self.var == "y":
            msg = "with saves='output' the derivatives are written in y (the output), not z"
        elif i == "a":
            msg = "uses the parameter a, but alpha=None (no parameter): pass alpha=<its default value>"
        elif i in ("x", "input"):
            msg = f"unknown name '{i}' (the pre-activation is called z); allowed names: {self._allowed()}"
        else:
            msg = f"unknown name '{i}'; allowed names: {self._allowed()}"
        self._fail(n, msg)

    def _call(self, n):
        f = n.func
        if not isinstance(f, ast.Name):
            if isinstance(f, ast.Attribute):
                self._fail(f, f"attribute access is not supported; write the bare function name "
                              f"(e.g. exp(z), not math.exp(z)); functions: {_ALLOWED_FUNCS}")
            self._fail(f, f"only the functions {_ALLOWED_FUNCS} can be called")
        if f.id not in _FUNCS and f.id != "where":
            self._fail(f, f"unknown function '{f.id}'; functions: {_ALLOWED_FUNCS}"
                       + ("; use where(cond, x, y) for max/min" if f.id in ("max", "min") else "")
                       + ("; write powers as products (z*z)" if f.id == "pow" else ""))
        if n.keywords:
            self._fail(n.keywords[0].value, f"{f.id}() takes no keyword arguments")
        for arg in n.args:
            if isinstance(arg, ast.Starred):
                self._fail(arg, "*args are not supported")
        if f.id == "where":
            if len(n.args) != 3:
                self._fail(n, f"where takes 3 arguments (cond, x, y), got {len(n.args)}")
            cond = n.args[0]
            if not isinstance(cond, ast.Compare):
                self._fail(cond, "where's first argument must be one comparison such as z > 0")
            c = self._visit(cond)
            x, y = self._value(n.args[1]), self._value(n.args[2])
            xpy = x.py if (x.tensor or y.tensor) else f"torch.zeros_like({self.var}) + {_paren(x, 2)}"
            return _Code(f"where({c.cpp}, {x.cpp}, {y.cpp})", f"torch.where({c.py}, {xpy}, {y.py})",
                         _ATOM, True, False)
        if len(n.args) != 1:
            self._fail(n, f"{f.id} takes 1 argument, got {len(n.args)}")
        x = self._value(n.args[0])
        cpp, tname = _FUNCS[f.id]
        xpy = x.py if x.tensor else f"torch.zeros_like({self.var}) + {_paren(x, 2)}"
        return _Code(f"{cpp}({x.cpp})", f"{tname}({xpy})", _ATOM, True, False)

    def torch_fn(self):
        """A callable (s, a) -> tensor evaluating this expression with torch (s is z or y)."""
        code = compile(self.py, f"<define_activation {self.what}>", "eval")
        var = self.var
        return lambda s, a: eval(code, {"torch": torch, "__builtins__": {}}, {var: s, "a": a})


def _paren(c, prec, which="py"):
    text = c.cpp if which == "cpp" else c.py
    return f"({text})" if c.prec < prec else text


def _opname(op):
    return {"Mod": "'%'", "FloorDiv": "'//'", "MatMul": "'@'", "BitAnd": "'&'", "BitOr": "'|'", "BitXor": "'^'",
            "LShift": "'<<'", "RShift": "'>>'", "Invert": "'~'", "Is": "'is'", "IsNot": "'is not'",
            "In": "'in'", "NotIn": "'not in'"}.get(type(op).__name__, type(op).__name__)


class _Definition:
    """A define_activation call, parsed: the expressions, saves, alpha and the generated texts."""

    def __init__(self, name, forward, derivative, saves, alpha, second_derivative):
        ctx = f"torch_act.define_activation({name!r})"
        if saves not in _SAVES:
            raise ValueError(f"{ctx}: saves must be 'input' (derivatives in z) or 'output' "
                             f"(derivatives in y), got {saves!r}")
        if alpha is not None:
            if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
                raise ValueError(f"{ctx}: alpha must be a finite number (the parameter's default) "
                                 f"or None (no parameter), got {alpha!r}")
            alpha = float(alpha)
        self.name, self.saves, self.alpha = name, saves, alpha
        self.var = "y" if saves == "output" else "z"
        self.forward = _Expr(ctx, "forward", forward, "z", _names("z", alpha))
        self.derivative = _Expr(ctx, "derivative", derivative, self.var, _names(self.var, alpha))
        self.second = None if second_derivative is None else \
            _Expr(ctx, "second_derivative", second_derivative, self.var, _names(self.var, alpha))
        self.functor = f"torch_act_user::Act_{name}"
        self.key = (self.forward.key, self.derivative.key, self.second and self.second.key, saves, alpha)

    def exprs(self):
        return [e for e in (self.forward, self.derivative, self.second) if e is not None]

    def describe(self):
        s = f"  forward:    {self.forward.text}\n  derivative: {self.derivative.text}"
        if self.second is not None:
            s += f"\n  second_derivative: {self.second.text}"
        return s + f"\n  (saves={self.saves!r}, alpha={self.alpha!r})"


def _names(var, alpha):
    """The names an expression in ``var`` may use: {identifier: description}."""
    out = {var: "y (the output)" if var == "y" else "z (the pre-activation)"}
    if alpha is not None:
        out["a"] = "a (the parameter)"
    return out


def _cstr(s):
    return '"' + " ".join(s.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _functor_source(d):
    """The C++ functor header for definition ``d`` (torch_act/activation.h)."""
    v = d.var

    def par(e, n):  # unused parameters go unnamed
        return f"T {n}" if n in e.used else "T"

    comment = "\n".join(f"//   {e.what}: {' '.join(e.text.split())}" for e in d.exprs())
    lines = [
        "// Generated by torch_act.define_activation; do not edit (regenerated from the expressions).",
        comment,
        "#pragma once",
        "",
        "#include <torch_act/activation.h>",
        "",
        "namespace torch_act_user {",
        "using namespace torch_act::act_math;",
        "",
        f"struct Act_{d.name} : torch_act::ActivationBase {{",
        f"  static constexpr const char* kName = {_cstr(d.name)};",
        f"  static constexpr const char* kFormula = {_cstr(d.forward.text)};",
        f"  static constexpr const char* kReference = {_cstr(d.forward.py)};",
        f"  static constexpr bool kHasAlpha = {'true' if d.alpha is not None else 'false'};",
        f"  static constexpr double kDefaultAlpha = {repr(d.alpha or 0.0)};",
        f"  static constexpr torch_act::Saves kSaves = torch_act::Saves::{_SAVES[d.saves]};",
        f"  template <class T> TA_HD static T forward({par(d.forward, 'z')}, {par(d.forward, 'a')}) {{ return {d.forward.cpp}; }}",
        f"  template <class T> TA_HD static T backward(T g, {par(d.derivative, v)}, {par(d.derivative, 'a')}) {{ return g * ({d.derivative.cpp}); }}",
    ]
    if d.second is not None:
        # D_2 (kernels/activations.h): d/ds of act' written in s.  In z that is the
        # second derivative itself; in y it is act''/act' (dy/dz = act'), taken
        # as 0 where act' = 0 (the chain rule multiplies it by act' there).
        if v == "z":
            body = f"return g * ({d.second.cpp});"
        else:
            body = (f"const T d1 = ({d.derivative.cpp}); "
                    f"return where(d1 == T(0), T(0), g * ({d.second.cpp}) / where(d1 == T(0), T(1), d1));")
        used = set(d.second.used) | (set(d.derivative.used) if v == "y" else set())
        pv = f"T {v}" if v in used else "T"
        pa = "T a" if "a" in used else "T"
        lines += [f"  // d2 act / dz2 in {v}, and D_2 for double backward",
                  f"  template <class T> TA_HD static T second_derivative({par(d.second, v)}, {par(d.second, 'a')}) "
                  f"{{ return {d.second.cpp}; }}",
                  f"  template <class T> TA_HD static T backward2(T g, {pv}, {pa}) {{ {body} }}"]
    lines += ["};", "", "}  // namespace torch_act_user", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# checks: the derivatives against finite differences (before building, with
# torch), the compiled kernels against the torch reference (after)

def _sample_points():
    g = torch.Generator().manual_seed(1234)
    # a grid offset off the integers (where branches usually sit) plus random points
    grid = torch.linspace(-8.0, 8.0, 641, dtype=torch.float64) + 0.00731
    return torch.cat([grid, torch.randn(640, generator=g, dtype=torch.float64) * 2.5])


def _alphas(d):
    if d.alpha is None:
        return [None]
    return [d.alpha, d.alpha * 1.5 if d.alpha != 0 else 0.5]


def _fd_mismatch(f, deriv, z):
    """Compares deriv(z) with the central finite differences of f at the points z
    where f is finite and smooth (a Richardson pair of steps tells kinks and jumps
    apart from rounding); returns (number checked, first bad index or None, D, C)."""
    h = 1e-4 * torch.clamp(z.abs(), min=1.0)
    with torch.no_grad():
        fp, fm, fp2, fm2 = f(z + h), f(z - h), f(z + h / 2), f(z - h / 2)
        c1 = (fp - fm) / (2 * h)
        c2 = (fp2 - fm2) / h
        c = (4 * c2 - c1) / 3
        spread = (c1 - c2).abs()
        ok = torch.isfinite(fp) & torch.isfinite(fm) & torch.isfinite(fp2) & torch.isfinite(fm2) & torch.isfinite(c)
        smooth = ok & (spread <= 1e-4 * (1 + c.abs()))
        dv = deriv(z)
        dv = torch.broadcast_to(torch.as_tensor(dv, dtype=z.dtype), z.shape)
        good = (dv - c).abs() <= 1e-6 * (1 + c.abs()) + 10 * spread
        bad = smooth & ~good
        idx = torch.nonzero(bad).flatten()
    return int(smooth.sum()), (int(idx[0]) if idx.numel() else None), dv, c


def _check_math(d):
    """Raises ValueError when a derivative disagrees with finite differences of the forward."""
    z = _sample_points()
    fwd, der = d.forward.torch_fn(), d.derivative.torch_fn()
    out = d.saves == "output"
    for a in _alphas(d):
        av = 0.0 if a is None else a
        f = lambda t: fwd(t, av)  # noqa: E731
        d1 = (lambda t: der(fwd(t, av), av)) if out else (lambda t: der(t, av))
        pairs = [("derivative", "forward", f, d1)]
        if d.second is not None:
            sec = d.second.torch_fn()
            d2 = (lambda t: sec(fwd(t, av), av)) if out else (lambda t: sec(t, av))
            pairs.append(("second_derivative", "derivative", d1, d2))
        for what, of, fn, dn in pairs:
            n, bad, dv, c = _fd_mismatch(fn, dn, z)
            at = f"z = {float(z[bad or 0]):.6g}" + (f", a = {a:g}" if a is not None else "")
            if n < len(z) // 10:
                raise ValueError(
                    f"torch_act.define_activation({d.name!r}): cannot check the {what}: the {of} is "
                    f"non-finite or not smooth at almost every sample point in [-8, 8]"
                    f"{'' if a is None else f' (a = {a:g})'}; pass check=False to skip the check\n"
                    + d.describe())
            if bad is not None:
                yv = f" (y = {float(fwd(z[bad:bad + 1], av)[0]):.6g})" if out else ""
                raise ValueError(
                    f"torch_act.define_activation({d.name!r}): the {what} does not match the {of}: at {at}{yv} "
                    f"the {what} gives {float(dv[bad]):.8g} but finite differences of the {of} give "
                    f"{float(c[bad]):.8g}\n{d.describe()}\n"
                    f"(pass check=False to skip this check)")


def _check_kernels(d):
    """The compiled activation (float64, current CPU path) against the torch reference."""
    import torch_act

    z = _sample_points().requires_grad_()
    g = torch.rand(z.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64) + 0.5
    fwd, der = d.forward.torch_fn(), d.derivative.torch_fn()
    for a in _alphas(d):
        av = 0.0 if a is None else a
        y = torch_act.activation(z, d.name, a)
        # (a scalar root: autograd.grad with a grad_outputs tensor imports sympy, ~1 s)
        (dz,) = torch.autograd.grad((y * g).sum(), z)
        with torch.no_grad():
            yr = fwd(z, av)
            dr = g * der(yr if d.saves == "output" else z, av)
        for what, got, want in (("forward", y.detach(), yr), ("backward", dz, dr)):
            close = torch.isclose(got, want, rtol=1e-8, atol=1e-10, equal_nan=True)
            if not bool(close.all()):
                i = int(torch.nonzero(~close)[0])
                raise ValueError(
                    f"torch_act.define_activation({d.name!r}): the compiled {what} disagrees with its torch "
                    f"reference at z = {float(z[i]):.6g}{'' if a is None else f', a = {a:g}'}: "
                    f"{float(got[i]):.10g} vs {float(want[i]):.10g} (a bug in torch_act: please report it; "
                    f"the activation stays registered)\n{d.describe()}")


# ---------------------------------------------------------------------------
_DEFINED = {}  # name -> _Definition, those this process defined
_LOCK = threading.RLock()


def define_activation(name, forward, derivative, *, saves="input", alpha=None, second_derivative=None,
                      check=True):
    """Defines the activation ``name`` from expressions and compiles it into torch_act.

    ``forward``: the activation as an expression in ``z`` (the pre-activation)
    and ``a`` (the parameter), e.g. ``"z*sigmoid(a*z)"``.  ``derivative``:
    d act / dz as an expression in ``z`` -- or, with ``saves="output"``, in
    ``y`` (the output; the backward then reads y instead of z, e.g.
    ``"y*(1 - y)"`` for a sigmoid); the backward computes
    ``g * (derivative)``.  ``alpha``: the parameter's default; None (default)
    makes an activation without a parameter (then ``a`` is an error).
    ``second_derivative``: optional d2 act / dz2 (in z, or y), checked like
    the derivative; with it the activation has double backward (gradient
    penalties, Hessians, ``torch.func.hessian``; docs/autograd.md), without
    it differentiating a gradient through it raises NotImplementedError.  The expressions use numbers,
    ``+ - * /``, unary ``-``, parentheses, exp, expm1, log, log1p, tanh, erf,
    sigmoid, abs, sin, cos, sqrt and ``where(cond, x, y)`` with one comparison
    (``< <= > >= == !=``) as ``cond``; anything else is a ValueError pointing
    at it.

    ``check``: compare the derivatives with finite differences of the forward
    (float64, many points, kinks skipped) before building, and the compiled
    kernels with the torch reference after; a mismatch is a ValueError.

    Defining a name again with the same expressions returns the same entry;
    with other expressions (or a built-in's or a plugin's name) it is a
    ValueError.  The compiled plugin is cached under $TORCH_ACT_CACHE_DIR
    (default ~/.cache/torch_act/plugins).  Returns torch_act.ACTIVATIONS[name].
    """
    from . import ACTIVATIONS, plugin

    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"torch_act.define_activation: name must be an identifier (letters, digits, _; "
                         f"at most 64 characters), got {name!r}")
    with _LOCK:
        spec = ACTIVATIONS.get(name)
        if spec is not None and spec.builtin:
            raise ValueError(f"torch_act.define_activation: '{name}' is a built-in activation; choose another name")
        d = _Definition(name, forward, derivative, saves, alpha, second_derivative)
        old = _DEFINED.get(name)
        if old is not None:
            if old.key == d.key:
                return ACTIVATIONS[name]
            raise ValueError(f"torch_act.define_activation: '{name}' is already defined in this process with "
                             f"other expressions:\n{old.describe()}\nnow:\n{d.describe()}\n"
                             f"an activation cannot be redefined; choose another name")
        if spec is not None:
            raise ValueError(f"torch_act.define_activation: an activation named '{name}' is already registered "
                             f"(by a plugin: {spec.origin}); choose another name")
        if check:
            _check_math(d)
        text = _functor_source(d)
        folder = os.path.join(plugin.cache_dir(), "define")
        os.makedirs(folder, exist_ok=True)
        header = os.path.join(folder, f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.h")
        if not os.path.exists(header) or open(header).read() != text:
            tmp = f"{header}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, header)
        try:
            plugin.build(header, d.functor, source=text, name=name)
        except plugin.PluginBuildError as e:
            raise ValueError(f"torch_act.define_activation({name!r}): the generated C++ did not compile "
                             f"(please report this: the expressions passed validation)\n{d.describe()}\n"
                             f"first compiler error:\n{_first_compiler_error(e.log)}\n"
                             f"(generated header: {header})") from None
        _DEFINED[name] = d
        if check:
            _check_kernels(d)
        return ACTIVATIONS[name]


def _first_compiler_error(log):
    """The first 'error:' line of a compiler log, with the source line and caret gcc prints after it."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"\berror\b", line) and ("error:" in line):
            m = re.match(r"^(?:.*?[/\\])?([^/\\:]+:\d+:\d+: .*)$", line.strip())
            head = m.group(1) if m else line.strip()
            out = [head]
            for nxt in lines[i + 1:i + 3]:
                if re.match(r"^\s*(\d+\s*)?\|", nxt):
                    out.append(nxt)
            return "\n".join("    " + x for x in out)
    tail = [x for x in lines if x.strip()][-5:]
    return "\n".join("    " + x for x in tail)


# ---------------------------------------------------------------------------
# command line: --define "NAME=FORWARD;DERIVATIVE[;alpha=A][;saves=output][;second=D2]"

DEFINE_SYNTAX = "NAME=FORWARD;DERIVATIVE[;alpha=A][;saves=input|output][;second=D2]"


def parse_define(text):
    """``"swish_beta=z*sigmoid(a*z);<derivative>;alpha=1.5"`` -> keyword arguments of define_activation."""
    parts = [p.strip() for p in str(text).split(";")]
    parts = [p for p in parts if p]
    if len(parts) < 2 or "=" not in parts[0]:
        raise ValueError(f"--define: expected {DEFINE_SYNTAX}, got {text!r}")
    name, fwd = (s.strip() for s in parts[0].split("=", 1))
    kw = dict(name=name, forward=fwd, derivative=parts[1])
    for p in parts[2:]:
        key, _, val = (s.strip() for s in p.partition("="))
        if not _ or key not in ("alpha", "saves", "second"):
            raise ValueError(f"--define {name}: unknown option {p!r}; expected alpha=NUMBER, saves=input|output "
                             f"or second=EXPRESSION ({DEFINE_SYNTAX})")
        if key == "alpha":
            try:
                kw["alpha"] = float(val)
            except ValueError:
                raise ValueError(f"--define {name}: alpha must be a number, got {val!r}") from None
        elif key == "saves":
            kw["saves"] = val
        else:
            kw["second_derivative"] = val
    return kw


def add_define_argument(p):
    """Adds ``--define`` (repeatable) to an argparse parser."""
    p.add_argument("--define", action="append", default=[], metavar="SPEC",
                   help=f"define an activation first, {DEFINE_SYNTAX} (expressions in z, a, or y with "
                        f"saves=output; see docs/custom_activations.md), then use NAME like a built-in")


def define_all(specs):
    """Defines each ``--define`` spec; returns their names."""
    return [define_activation(**parse_define(s)).name for s in (specs or [])]


def define_from_argv(argv, prog="python -m torch_act"):
    """Defines the activations of the ``--define`` options in ``argv`` (before the
    full parse, so the other options can name them); exits with an argparse error."""
    import argparse

    pre = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False,
                                  usage=f"%(prog)s ... --define {DEFINE_SYNTAX} ...")
    pre.add_argument("--define", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    for s in known.define:
        try:
            define_all([s])
        except ValueError as e:
            pre.error(f"--define {s!r}:\n{e}")
