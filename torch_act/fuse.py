"""torch_act.fuse: run an existing model's Linear + activation layers on torch_act's fused ops.

``fuse(model)`` reads each submodule's ``forward`` with ``torch.fx`` (one module at a
time, every submodule it calls kept as a call) and rewrites what it can prove equal:

* an ``nn.Linear`` whose output goes only into an activation (a module such as
  ``nn.GELU`` or transformers' ``GELUActivation``, a function such as ``F.relu`` or
  ``torch.sigmoid``, a method such as ``x.relu()``) becomes a ``torch_act.nn.Linear``
  with that activation, sharing the parameters;
* a chain of such layers, each output used only by the next Linear, runs as one
  ``torch_act.mlp`` op (the op ``torch_act.nn.MLP`` runs).

The module tree keeps its names, so ``state_dict`` keys do not change.  Where only
modules need swapping (the activation module becomes ``nn.Identity``) the module's own
``forward`` keeps running; otherwise the instance's ``forward`` is replaced by the
rewritten graph.  A module whose forward cannot be traced is left as it is, and its
children are tried one by one.  The report says what was fused and why the rest was
left.  docs/fuse.md describes the rules and limits.
"""
import ast
import copy
import functools
import inspect
import math
import operator
import sys
import textwrap
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from . import ACTIVATIONS
from . import nn as tnn

__all__ = ["fuse", "FuseReport", "Fused", "Left"]

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
_FLT_MAX = 3.4028234663852886e38


# ------------------------------------------------------------------------ report
@dataclass(frozen=True)
class Fused:
    """Linears now computed by one torch_act op."""
    layers: Tuple[str, ...]                 # qualified names of the Linears, in order
    activations: Tuple[str, ...]            # one per layer
    alphas: Tuple[Optional[float], ...]
    op: str                                 # "linear_act" or "mlp"
    owner: str                              # the module whose forward holds them ("" = the model)
    forward_rewritten: bool                 # False: modules swapped, the owner's forward unchanged

    def __str__(self):
        acts = ", ".join(a if al is None else f"{a}({al:g})" for a, al in zip(self.activations, self.alphas))
        how = "forward rewritten" if self.forward_rewritten else "modules swapped"
        return f"{' -> '.join(self.layers)}: {self.op} [{acts}] ({how} in {self.owner or '<model>'})"


@dataclass(frozen=True)
class Left:
    """Something fuse did not rewrite, and why."""
    name: str                               # qualified name ("" = the model)
    kind: str                               # "Linear", a module class name, or "gated MLP"
    reason: str

    def __str__(self):
        return f"{self.name or '<model>'} ({self.kind}): {self.reason}"


class FuseReport:
    """What ``fuse`` did: ``fused`` (list of ``Fused``), ``left`` (list of ``Left``) and
    ``rewritten`` (names of the modules whose ``forward`` was replaced)."""

    def __init__(self):
        self.fused: List[Fused] = []
        self.left: List[Left] = []
        self.rewritten: List[str] = []

    def reason(self, name: str) -> Optional[str]:
        """Why ``name`` (a Linear or module) was left, or None."""
        for entry in self.left:
            if entry.name == name:
                return entry.reason
        return None

    def fused_layers(self) -> Dict[str, str]:
        """Every fused Linear's name -> its activation."""
        return {l: a for f in self.fused for l, a in zip(f.layers, f.activations)}

    def __str__(self):
        lines = [f"torch_act.fuse: {sum(len(f.layers) for f in self.fused)} Linear(s) fused in "
                 f"{len(self.fused)} op(s); {len(self.left)} item(s) left"]
        lines += ["fused:"] + [f"  {f}" for f in self.fused]
        lines += ["left:"] + [f"  {l}" for l in self.left]
        return "\n".join(lines)

    __repr__ = __str__


# ------------------------------------------------------------ activation matching
class _Act(NamedTuple):
    name: str
    alpha: Optional[float] = None
    dim: Optional[int] = None               # rowwise only: -1, or a fixed dim >= 0 (checked at run time)


def _make_act(name, alpha=None, dim=-1) -> Union[_Act, str]:
    """The torch_act activation, or a reason it cannot be used."""
    if name not in ACTIVATIONS:
        return f"activation '{name}' is not in torch_act.ACTIVATIONS"
    spec = ACTIVATIONS[name]
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            return f"{name}: parameter {alpha!r} is not a number"
        alpha = float(alpha)
        if not math.isfinite(alpha) or abs(alpha) > _FLT_MAX:
            return f"{name}: parameter {alpha} is not a finite float32"
        if spec.alpha_nonzero and alpha == 0.0:
            return f"{name}: parameter 0 is not allowed"
    if not spec.rowwise:
        return _Act(name, alpha)
    if dim is None:
        return f"{name} with an implicit dim (PyTorch picks it from the rank)"
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < -1:
        return f"{name} over dim={dim!r}, not the last dim"
    return _Act(name, alpha, dim)


def _simple_modules():
    return {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
            nn.Mish: "mish", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.SELU: "selu",
            nn.Softsign: "softsign", nn.LogSigmoid: "logsigmoid", nn.Tanhshrink: "tanhshrink"}


def _transformers_act(m) -> Union[_Act, str, None]:
    """transformers.activations classes, matched only where the function is exactly ours."""
    mod = sys.modules.get("transformers.activations")
    t = type(m)
    if mod is None or t.__module__ != "transformers.activations" or "forward" not in t.__dict__:
        return None
    if t is getattr(mod, "GELUActivation", None):
        act = getattr(m, "act", None)
        if act is F.gelu or getattr(act, "__func__", None) is getattr(t, "_gelu_python", None):
            return _make_act("gelu")
    elif t is getattr(mod, "GELUTanh", None):
        act = getattr(m, "act", None)
        if (isinstance(act, functools.partial) and act.func is F.gelu and not act.args
                and act.keywords == {"approximate": "tanh"}) \
                or getattr(act, "__func__", None) is getattr(t, "_gelu_tanh_python", None):
            return _make_act("gelu_tanh")
    elif t is getattr(mod, "NewGELUActivation", None):
        return _make_act("gelu_tanh")
    elif t is getattr(mod, "AccurateGELUActivation", None):
        if getattr(m, "precomputed_constant", None) == math.sqrt(2 / math.pi):
            return _make_act("gelu_tanh")
    elif t is getattr(mod, "SiLUActivation", None):
        return _make_act("silu")
    elif t is getattr(mod, "MishActivation", None):
        act = getattr(m, "act", None)
        if act is F.mish or getattr(act, "__func__", None) is getattr(t, "_mish_python", None):
            return _make_act("mish")
    elif t is getattr(mod, "ReLUSquaredActivation", None):
        return _make_act("squared_relu")
    elif t is getattr(mod, "QuickGELUActivation", None):
        return _make_act("quick_gelu")
    elif t is getattr(mod, "LinearActivation", None):
        return _make_act("identity")
    elif t is getattr(mod, "FastGELUActivation", None):
        return "FastGELUActivation uses the constant 0.7978845608, not sqrt(2/pi): not exactly gelu_tanh"
    return f"{t.__name__} has no exactly equal torch_act activation"


def _module_act(m) -> Union[_Act, str, None]:
    """An activation module's torch_act activation; a reason; or None (not an activation)."""
    t = type(m)
    if isinstance(m, tnn._ActivationModule) and t.__module__ == tnn.__name__ and t is not tnn.Activation:
        # torch_act's drop-ins carry their torch.nn namesake's attributes: read them the same way
        if hasattr(nn, t.__name__):
            t = getattr(nn, t.__name__)
        else:  # SquaredReLU, Sine, QuickGELU: no torch.nn counterpart
            return _make_act(m.activation, getattr(m, "omega_0", None))
    simple = _simple_modules()
    if t in simple:
        return _make_act(simple[t])
    if t is nn.GELU:
        if m.approximate not in ("none", "tanh"):
            return f"GELU(approximate={m.approximate!r})"
        return _make_act("gelu" if m.approximate == "none" else "gelu_tanh")
    if t is nn.LeakyReLU:
        return _make_act("leaky_relu", m.negative_slope)
    if t is nn.ELU:
        return _make_act("elu", m.alpha)
    if t is nn.CELU:
        return _make_act("celu", m.alpha)
    if t is nn.Softplus:
        if m.threshold != 20:
            return f"Softplus(threshold={m.threshold}): torch_act's softplus uses threshold 20"
        return _make_act("softplus", m.beta)
    if t in (nn.Softmax, nn.LogSoftmax):
        return _make_act("softmax" if t is nn.Softmax else "log_softmax", dim=m.dim)
    if isinstance(m, tnn.Activation) and t.__module__ == tnn.__name__:
        return _make_act(m.activation, m.alpha, m.dim)
    if t.__module__ == "transformers.activations":
        return _transformers_act(m)
    if t in (nn.PReLU, nn.RReLU, nn.GLU, nn.Hardtanh, nn.Threshold, nn.Softshrink, nn.Hardshrink, nn.Softmin):
        return f"{t.__name__} has no torch_act activation"
    return None


def _func_table():
    """call_function / call_method target -> (parameter names after the input, defaults, make)."""
    plain = lambda name: (lambda kw: _make_act(name))                        # noqa: E731

    def gelu(kw):
        a = kw["approximate"]
        return _make_act("gelu" if a == "none" else "gelu_tanh") if a in ("none", "tanh") else \
            f"gelu(approximate={a!r})"

    def softplus(kw):
        if kw["threshold"] != 20:
            return f"softplus(threshold={kw['threshold']}): torch_act's softplus uses threshold 20"
        return _make_act("softplus", kw["beta"])

    def rowwise(name):
        def make(kw):
            if kw.get("dtype") is not None:
                return f"{name}(dtype={kw['dtype']})"
            return _make_act(name, dim=kw["dim"])
        return make

    ip = (["inplace"], {"inplace": False})
    sm = (["dim", "_stacklevel", "dtype"], {"dim": None, "_stacklevel": 3, "dtype": None})
    tsm = (["dim", "dtype"], {"dtype": None})
    fn = {
        F.relu: (*ip, plain("relu")), torch.relu: ([], {}, plain("relu")), torch.relu_: ([], {}, plain("relu")),
        F.relu_: ([], {}, plain("relu")), F.relu6: (*ip, plain("relu6")),
        torch.sigmoid: ([], {}, plain("sigmoid")), torch.tanh: ([], {}, plain("tanh")),
        F.gelu: (["approximate"], {"approximate": "none"}, gelu),
        F.silu: (*ip, plain("silu")), F.mish: (*ip, plain("mish")), F.hardswish: (*ip, plain("hardswish")),
        F.hardsigmoid: (*ip, plain("hardsigmoid")), F.selu: (*ip, plain("selu")),
        torch.selu: ([], {}, plain("selu")),
        F.leaky_relu: (["negative_slope", "inplace"], {"negative_slope": 0.01, "inplace": False},
                       lambda kw: _make_act("leaky_relu", kw["negative_slope"])),
        F.elu: (["alpha", "inplace"], {"alpha": 1.0, "inplace": False}, lambda kw: _make_act("elu", kw["alpha"])),
        F.celu: (["alpha", "inplace"], {"alpha": 1.0, "inplace": False}, lambda kw: _make_act("celu", kw["alpha"])),
        F.softplus: (["beta", "threshold"], {"beta": 1.0, "threshold": 20.0}, softplus),
        F.softsign: ([], {}, plain("softsign")), F.logsigmoid: ([], {}, plain("logsigmoid")),
        F.tanhshrink: ([], {}, plain("tanhshrink")),
        F.softmax: (*sm, rowwise("softmax")), F.log_softmax: (*sm, rowwise("log_softmax")),
        torch.softmax: (*tsm, rowwise("softmax")), torch.log_softmax: (*tsm, rowwise("log_softmax")),
    }
    meth = {"relu": plain("relu"), "relu_": plain("relu"), "sigmoid": plain("sigmoid"),
            "sigmoid_": plain("sigmoid"), "tanh": plain("tanh"), "tanh_": plain("tanh")}
    meth = {k: ([], {}, v) for k, v in meth.items()}
    meth["softmax"] = (*tsm, rowwise("softmax"))
    meth["log_softmax"] = (*tsm, rowwise("log_softmax"))
    return fn, meth


_FUNCS, _METHODS = _func_table()


def _node_act(node: fx.Node, owner: nn.Module, inp: fx.Node) -> Union[_Act, str, None]:
    """The activation ``node`` applies to ``inp``; a reason; or None (not an activation)."""
    if not node.args or node.args[0] is not inp:
        return None
    if node.op == "call_module":
        m = owner.get_submodule(node.target)
        act = _module_act(m)
        if act is None or isinstance(act, str):
            return act
        if len(node.args) != 1 or node.kwargs:
            return f"{type(m).__name__} called with extra arguments"
        if _hooks(m) or "forward" in m.__dict__:
            return f"{type(m).__name__} has hooks or a patched forward"
        return act
    if node.op == "call_function":
        entry = _FUNCS.get(node.target)
    elif node.op == "call_method":
        entry = _METHODS.get(node.target)
    else:
        return None
    if entry is None:
        return None
    params, defaults, make = entry
    rest = node.args[1:]
    if len(rest) > len(params) or any(k not in params for k in node.kwargs):
        return f"{_describe(node, owner)} with arguments fuse does not know"
    kw = dict(defaults)
    kw.update(zip(params, rest))
    kw.update(node.kwargs)
    if any(p not in kw for p in params):
        return f"{_describe(node, owner)} with missing arguments"
    if any(isinstance(v, fx.Node) for v in kw.values()) or inp in node.args[1:]:
        return f"{_describe(node, owner)} with an argument computed at run time"
    return make(kw)


def _is_transparent(node: fx.Node, owner: nn.Module) -> bool:
    """Nodes that return their input unchanged: nn.Identity, Dropout(p=0), F.dropout(p=0)."""
    if node.op == "call_module":
        m = owner.get_submodule(node.target)
        if _hooks(m) or "forward" in m.__dict__ or len(node.args) != 1 or node.kwargs:
            return False
        if type(m) is nn.Identity:
            return True
        return type(m) in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout) and m.p == 0
    if node.op == "call_function" and node.target is F.dropout and len(node.args) == 1:
        return node.kwargs.get("p", 0.5) == 0 and not any(isinstance(v, fx.Node) for v in node.kwargs.values())
    return False


def _describe(node: fx.Node, owner: nn.Module) -> str:
    if node.op == "call_module":
        m = owner.get_submodule(node.target)
        return f"{type(m).__name__}(p={m.p})" if hasattr(m, "p") and "Dropout" in type(m).__name__ \
            else type(m).__name__
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op == "output":
        return "the module's output"
    return node.op


def _hooks(m: nn.Module) -> bool:
    return any(getattr(m, h, None) for h in (
        "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
        "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"))


# ------------------------------------------------------------ what fuse runs
class _LastDimLinear(tnn.Linear):
    """A torch_act Linear with softmax/log_softmax over a fixed ``dim`` >= 0 (``nn.Softmax(dim=1)``):
    fused when ``dim`` is the input's last dim, PyTorch's functions otherwise."""
    dim: int = -1

    def forward(self, input):
        if input.dim() - 1 == self.dim:
            return super().forward(input)
        z = F.linear(input, self.weight, self.bias)
        return torch.softmax(z, self.dim) if self.activation == "softmax" else torch.log_softmax(z, self.dim)

    def extra_repr(self):
        return super().extra_repr() + f", dim={self.dim}"


class _FusedForward:
    """An instance's replacement ``forward``: the rewritten graph's code run with self = the module.
    The GraphModule only carries the code (it pickles and deep-copies); its attributes are dummies."""

    def __init__(self, owner: nn.Module, gm: fx.GraphModule):
        self.owner = owner
        self.gm = gm

    def __call__(self, *args, **kwargs):
        return type(self.gm).forward(self.owner, *args, **kwargs)

    @property
    def code(self) -> str:
        return self.gm.code

    def __repr__(self):
        return f"<torch_act fused forward of {type(self.owner).__name__}>"


# ------------------------------------------------------------ tracing
class _CallTracer(fx.Tracer):
    """Traces one module's own forward; every submodule it calls stays one call_module node."""

    def is_leaf_module(self, m, qualname):
        return True


def _rooted_at(node, name) -> bool:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and node.id == name


def _forward_problem(m: nn.Module) -> Optional[str]:
    """Why tracing ``m.forward`` could silently specialise it (so fuse will not), or None."""
    if "forward" in m.__dict__:
        return "forward is replaced on the instance (already fused?)"
    fwd = type(m).forward
    try:
        sig = inspect.signature(fwd)
        src = textwrap.dedent(inspect.getsource(fwd))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError, ValueError) as e:
        return f"forward's source is not available ({type(e).__name__})"
    params = list(sig.parameters.values())
    if not params:
        return "forward takes no self"
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return f"forward takes {'*' if p.kind is p.VAR_POSITIONAL else '**'}{p.name}; fuse rewrites " \
                   "only forwards whose arguments are all required"
        if p.default is not p.empty:
            return f"forward has an optional argument ({p.name}={p.default!r}); fuse rewrites only " \
                   "forwards whose arguments are all required"
    fdef = tree.body[0] if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if fdef is None:
        return "forward's source is not a plain function"
    if fdef.decorator_list:
        return "forward is decorated (a trace would drop the decorator)"
    me = params[0].name
    for node in ast.walk(fdef):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            return "forward uses a `with` block (a trace would drop the context manager)"
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            if any(not (_rooted_at(v, me) or isinstance(v, ast.Constant)) for v in [node.left, *node.comparators]):
                return "forward tests `is`/`is not` on a value tracing would replace by a proxy"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args and \
                node.func.id in ("isinstance", "type", "hasattr", "callable", "issubclass", "id") and \
                not _rooted_at(node.args[0], me):
            return f"forward calls {node.func.id}() on a value tracing would replace by a proxy"
    return None


def _trace(m: nn.Module) -> Union[fx.Graph, str]:
    problem = _forward_problem(m)
    if problem:
        return problem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _CallTracer().trace(m)
    except Exception as e:  # any failure means: not traceable; try the children
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return f"untraceable: {type(e).__name__}: {msg[:160]}"


def _resolve(owner: nn.Module, target: str):
    obj = owner
    for p in target.split("."):
        obj = getattr(obj, p, None)
    return obj


def _code(graph: fx.Graph) -> str:
    return graph.python_code(root_module="self").src


def _training_independent(m: nn.Module, graph: fx.Graph) -> bool:
    old = m.training
    try:
        m.training = not old
        other = _trace(m)
    finally:
        m.training = old
    return isinstance(other, fx.Graph) and _code(other) == _code(graph)


# ------------------------------------------------------------ the rewrite
_MODULE_FIELDS = None


def _share_copy(m: nn.Module, memo: dict) -> nn.Module:
    """A new module tree with the same parameters and buffers (the same tensors)."""
    global _MODULE_FIELDS
    if _MODULE_FIELDS is None:
        _MODULE_FIELDS = [k for k, v in vars(nn.Module()).items() if isinstance(v, (dict, set))]
    if id(m) in memo:
        return memo[id(m)]
    new = copy.copy(m)
    memo[id(m)] = new
    for k in _MODULE_FIELDS:
        if k in new.__dict__:
            new.__dict__[k] = type(new.__dict__[k])(new.__dict__[k])
    for k, child in m._modules.items():
        new._modules[k] = None if child is None else _share_copy(child, memo)
    fwd = m.__dict__.get("forward")
    if isinstance(fwd, _FusedForward):
        new.__dict__["forward"] = _FusedForward(new, fwd.gm)
    return new


class _Layer(NamedTuple):
    lin: fx.Node          # the call_module node of the Linear
    act_node: Optional[fx.Node]
    act: _Act             # identity where none follows
    new: bool             # an activation is fused into it now


class _Fuser:
    def __init__(self, root: nn.Module):
        self.root = root
        self.report = FuseReport()
        self.names, self.places = {}, Counter()
        for name, m in root.named_modules(remove_duplicate=False):
            self.places[id(m)] += 1
            self.names.setdefault(id(m), name)
        self.modules = {id(m): m for m in root.modules()}
        self.status: Dict[int, Union[str, fx.Graph]] = {}
        self.calls = Counter()
        self.linear_reason: Dict[int, str] = {}
        self.done = set()

    def qual(self, owner, target):
        base = self.names[id(owner)]
        return f"{base}.{target}" if base else target

    # pass 1: trace every module whose forward is its own code; count who calls / reads what
    def classify(self):
        for name, m in self.root.named_modules():
            t = type(m)
            if t.forward is nn.Module.forward:
                self.status[id(m)] = "container"
            elif t is nn.Sequential or not (t.__module__.startswith("torch.") or t.__module__ == tnn.__name__
                                             or isinstance(m, nn.Linear)):
                self.status[id(m)] = _trace(m)
            else:
                self.status[id(m)] = "leaf"     # PyTorch's and torch_act's own modules
        for mid, g in self.status.items():
            if isinstance(g, fx.Graph):
                for n in g.nodes:
                    if n.op in ("call_module", "get_attr"):
                        tgt = self._module_at(self.modules[mid], n.target)
                        if tgt is not None:
                            self.calls[id(tgt)] += 1

    @staticmethod
    def _module_at(owner, target):
        """The module a node's target names (or, for a get_attr of a tensor, its module)."""
        obj, parts = owner, target.split(".")
        for i, p in enumerate(parts):
            nxt = obj._modules.get(p) if isinstance(obj, nn.Module) else None
            if nxt is None:
                return obj if i > 0 else None
            obj = nxt
        return obj

    @staticmethod
    def _path_modules(owner, target):
        obj, out = owner, []
        for p in target.split(".")[:-1]:
            obj = obj._modules.get(p) if isinstance(obj, nn.Module) else None
            if obj is None:
                break
            out.append(obj)
        return out

    def _eligible(self, owner, node, what) -> Optional[str]:
        """Why the module a call_module node calls may not be replaced, or None."""
        m = owner.get_submodule(node.target)
        if self.places[id(m)] > 1:
            return f"{what} is shared ({self.places[id(m)]} places in the model)"
        if self.calls[id(m)] > 1:
            return f"{what} is called or read {self.calls[id(m)]} times"
        for mid in self._path_modules(owner, node.target):
            st = self.status.get(id(mid))
            if not (isinstance(st, fx.Graph) or st == "container"):
                return f"{what} sits in {self.names[id(mid)]}, whose forward is not traced"
        if _hooks(m) or "forward" in m.__dict__:
            return f"{what} has hooks or a patched forward"
        return None

    def _linear_problem(self, owner, node, m) -> Optional[str]:
        if type(m) not in (nn.Linear, tnn.Linear, _LastDimLinear):
            return f"{type(m).__name__} is a Linear subclass fuse does not rewrite"
        if type(m) is _LastDimLinear:
            return "already fused"
        w = m._parameters.get("weight")
        if not isinstance(w, torch.Tensor) or w.dtype not in _FLOAT_DTYPES or w.dim() != 2:
            return "weight is not a float32/float64/bfloat16/float16 matrix"
        if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
            return "called with extra arguments"
        return self._eligible(owner, node, "the Linear")

    # pass 2: each traced module's Linears
    def rewrite(self, owner: nn.Module, graph: fx.Graph):
        oname = self.names[id(owner)]
        layers: Dict[fx.Node, _Layer] = {}
        for n in list(graph.nodes):
            if n.op != "call_module":
                continue
            m = owner.get_submodule(n.target)
            if not isinstance(m, nn.Linear):
                continue
            problem = self._linear_problem(owner, n, m)
            if problem:
                self.linear_reason.setdefault(id(m), problem)
                continue
            base = _make_act(m.activation, m.alpha) if isinstance(m, tnn.Linear) else _Act("identity")
            users = list(n.users)
            act = _node_act(users[0], owner, n) if len(users) == 1 else None
            if isinstance(act, _Act) and base.name == "identity":
                layers[n] = _Layer(n, users[0], act, True)
                continue
            layers[n] = _Layer(n, None, base, False)
            if isinstance(act, _Act):
                reason = f"already fused with {base.name}, followed by {act.name}"
            elif isinstance(act, str):
                reason = act
            elif base.name != "identity":
                reason = f"already fused ({base.name})"
            elif not users:
                reason = "output unused"
            elif len(users) > 1:
                reason = f"Linear output used {len(users)} times"
            elif users[0].op == "output":
                reason = "no activation after it (the forward returns its output)"
            else:
                reason = f"Linear followed by {_describe(users[0], owner)}"
            self.linear_reason.setdefault(id(m), reason)
        glus = self._gated(owner, graph, layers)
        for unit in glus:  # their Linears are not chain material
            layers.pop(unit.gate.lin)
            layers.pop(unit.up.lin)
        chains = self._chains(owner, graph, layers)
        todo = [c for c in chains if len(c) > 1 or c[0].new]
        if not todo and not glus:
            return
        if not _training_independent(owner, graph):
            for c in todo:
                for l in c:
                    self.linear_reason[id(owner.get_submodule(l.lin.target))] = \
                        f"forward of {oname or '<model>'} depends on self.training"
            for unit in glus:
                for l in (unit.gate, unit.up):
                    self.linear_reason[id(owner.get_submodule(l.lin.target))] = \
                        f"forward of {oname or '<model>'} depends on self.training"
            return
        rewritten = False
        for unit in glus:
            rewritten |= self._apply_glu(owner, graph, unit)
        for chain in todo:
            rewritten |= self._apply(owner, graph, chain)
        if rewritten:
            graph.lint()
            dummies = {}
            for n in graph.nodes:
                if n.op in ("call_module", "get_attr"):
                    real = _resolve(owner, n.target)
                    # placeholders: the code runs with self = owner; these only let the GraphModule
                    # carry (pickle, re-trace) the code
                    dummies[n.target] = nn.Module() if isinstance(real, nn.Module) else \
                        nn.Parameter(torch.empty(0), requires_grad=False)
            gm = fx.GraphModule(dummies, graph, class_name=f"{type(owner).__name__}Fused")
            owner.forward = _FusedForward(owner, gm)
            self.report.rewritten.append(oname)

    def _chains(self, owner, graph, layers):
        """Group layers into chains: each output used only by the next Linear (through Identity/Dropout(0))."""
        nxt = {}
        for n, layer in layers.items():
            out = layer.act_node or n
            path = []
            while len(out.users) == 1:
                u = next(iter(out.users))
                if u in layers:
                    if self._chainable(owner, layer, layers[u]):
                        nxt[n] = (u, path)
                    break
                if not _is_transparent(u, owner):
                    break
                path.append(u)
                out = u
            if n not in nxt and len(out.users) > 1 and any(u in layers for u in out.users):
                self.report.left.append(Left(self.qual(owner, n.target), "Linear",
                                             f"not joined into an MLP: {'activation' if layer.act_node else 'Linear'}"
                                             f" output used {len(out.users)} times"))
        heads = [n for n in layers if n not in {v[0] for v in nxt.values()}]
        chains = []
        for h in sorted(heads, key=lambda n: list(graph.nodes).index(n)):
            chain, n = [layers[h]], h
            while n in nxt:
                n, path = nxt[n]
                chain.append(path)
                chain.append(layers[n])
            chains.append(chain)
        # chain = [layer, [transparent nodes], layer, ...]; keep only the layers, remember the paths
        return [_Chain(c) for c in chains]

    def _chainable(self, owner, a: _Layer, b: _Layer) -> bool:
        if a.act.dim not in (None, -1) or b.act.dim not in (None, -1):
            return False
        wa = owner.get_submodule(a.lin.target).weight
        wb = owner.get_submodule(b.lin.target).weight
        return wa.dtype == wb.dtype and wa.device == wb.device and wa.shape[0] == wb.shape[1]

    def _gated(self, owner, graph, layers) -> List["_Glu"]:
        """act(gate(x)) * up(x) (then a down projection): the gated units that can run as one
        torch_act.linear_glu op (the op torch_act.nn.GatedMLP runs); the others are reported."""
        def source(v):
            for n, layer in layers.items():
                if v is n or v is layer.act_node:
                    return n
            return None
        units = []
        for n in graph.nodes:
            if not ((n.op == "call_function" and n.target in (operator.mul, torch.mul)) or
                    (n.op == "call_method" and n.target == "mul")) or len(n.args) != 2 or n.kwargs:
                continue
            a, b = (source(v) if isinstance(v, fx.Node) else None for v in n.args)
            if a is None or b is None or a is b or a.args[0] is not b.args[0] or len(n.users) != 1:
                continue
            if (layers[a].act_node is None) == (layers[b].act_node is None):
                continue  # both or neither activated: not a gate and an up projection
            gate, up = (a, b) if layers[a].act_node is not None else (b, a)
            down = next(iter(n.users))
            names = [self.qual(owner, gate.target), self.qual(owner, up.target)]
            has_down = down.op == "call_module" and isinstance(owner.get_submodule(down.target), nn.Linear)
            if has_down:
                names.append(self.qual(owner, down.target))
            reason = self._glu_problem(owner, layers[gate], layers[up], n)
            if reason is None:
                units.append(_Glu(layers[gate], layers[up], n))
                if has_down:
                    self.linear_reason[id(owner.get_submodule(down.target))] = \
                        "the down projection of a gated MLP (a plain linear after linear_glu, as in GatedMLP)"
                continue
            reason = f"gated MLP not fused: {reason}"
            for node in (up,) + ((down,) if has_down else ()):
                self.linear_reason[id(owner.get_submodule(node.target))] = reason
            self.report.left.append(Left(", ".join(names), "gated MLP", reason))
        return units

    def _glu_problem(self, owner, gate: _Layer, up: _Layer, mul: fx.Node) -> Optional[str]:
        """Why act(gate(x)) * up(x) cannot run as linear_glu, or None."""
        if not gate.new or up.new or up.act.name != "identity":
            return "a projection is already fused with an activation"
        if ACTIVATIONS[gate.act.name].rowwise or gate.act.dim not in (None, -1):
            return f"the gate's activation {gate.act.name} is not elementwise"
        if len(gate.act_node.users) != 1 or len(up.lin.users) != 1:
            return "the gate's or the up projection's output is used elsewhere"
        mg, mu = owner.get_submodule(gate.lin.target), owner.get_submodule(up.lin.target)
        if mg.weight.shape != mu.weight.shape or mg.weight.dtype != mu.weight.dtype or \
                mg.weight.device != mu.weight.device:
            return "gate and up projections differ in shape, dtype or device"
        for b in (mg.bias, mu.bias):
            if b is not None and (b.dtype != mg.weight.dtype or b.device != mg.weight.device):
                return "a bias differs from the weights in dtype or device"
        if gate.act_node.op == "call_module" and self._eligible(owner, gate.act_node, "the activation"):
            return self._eligible(owner, gate.act_node, "the activation")
        return None

    def _apply_glu(self, owner, graph, unit: "_Glu") -> bool:
        """Replace the gated unit's nodes by one linear_glu call (the owner's forward is rewritten)."""
        gate, up, mul = unit.gate, unit.up, unit.mul
        mg, mu = owner.get_submodule(gate.lin.target), owner.get_submodule(up.lin.target)
        args = []
        for target in (gate.lin.target, up.lin.target):
            with graph.inserting_before(mul):
                args.append(graph.get_attr(target + ".weight"))
        biases = []
        for m, target in ((mg, gate.lin.target), (mu, up.lin.target)):
            if m.bias is None:
                biases.append(None)
                continue
            with graph.inserting_before(mul):
                biases.append(graph.get_attr(target + ".bias"))
        with graph.inserting_before(mul):
            call = graph.call_function(torch.ops.torch_act.linear_glu.default, (
                gate.lin.args[0], args[0], args[1], biases[0], biases[1], gate.act.name, gate.act.alpha))
        mul.replace_all_uses_with(call)
        for node in (mul, gate.act_node, gate.lin, up.lin):
            graph.erase_node(node)
        names = (self.qual(owner, gate.lin.target), self.qual(owner, up.lin.target))
        self.done.update((id(mg), id(mu)))
        self.report.fused.append(Fused(names, (gate.act.name, "identity"), (gate.act.alpha, None), "linear_glu",
                                       self.names[id(owner)], True))
        return True

    def _apply(self, owner, graph, chain: "_Chain") -> bool:
        """Swap the chain's modules; edit the graph where needed.  True: the forward must be replaced."""
        oname = self.names[id(owner)]
        rewrite = len(chain.layers) > 1
        swaps = []
        for layer in chain.layers:
            m = owner.get_submodule(layer.lin.target)
            if layer.new or type(m) is nn.Linear:
                cls = _LastDimLinear if layer.act.dim not in (None, -1) else tnn.Linear
                new = cls.from_linear(m, layer.act.name, layer.act.alpha)
                if cls is _LastDimLinear:
                    new.dim = layer.act.dim
                new.train(m.training)
                swaps.append((layer.lin.target, new))
            if layer.act_node is not None:
                a = layer.act_node
                if a.op != "call_module" or self._eligible(owner, a, "the activation"):
                    rewrite = True      # functional, or a shared module: only a new forward skips it
                else:
                    swaps.append((a.target, nn.Identity().train(owner.get_submodule(a.target).training)))
        for target, new in swaps:
            parent, _, leaf = target.rpartition(".")
            setattr(owner.get_submodule(parent), leaf, new)
        if rewrite and len(chain.layers) == 1:
            act = chain.layers[0].act_node
            if act is not None:
                act.replace_all_uses_with(chain.layers[0].lin)
                graph.erase_node(act)
        elif rewrite:
            last = chain.layers[-1]
            out = prev = last.act_node or last.lin
            weights, biases = [], []
            for layer in chain.layers:
                m = owner.get_submodule(layer.lin.target)
                with graph.inserting_after(prev):
                    prev = graph.get_attr(layer.lin.target + ".weight")
                weights.append(prev)
                if m.bias is None:
                    biases.append(None)
                    continue
                with graph.inserting_after(prev):
                    prev = graph.get_attr(layer.lin.target + ".bias")
                biases.append(prev)
            with graph.inserting_after(prev):
                call = graph.call_function(torch.ops.torch_act.mlp.default, (
                    chain.layers[0].lin.args[0], weights, biases, [l.act.name for l in chain.layers],
                    [l.act.alpha for l in chain.layers]))
            out.replace_all_uses_with(call)
            for n in reversed(chain.nodes()):
                graph.erase_node(n)
        names = tuple(self.qual(owner, l.lin.target) for l in chain.layers)
        for l in chain.layers:
            self.done.add(id(owner.get_submodule(l.lin.target)))
        self.report.fused.append(Fused(
            names, tuple(l.act.name for l in chain.layers), tuple(l.act.alpha for l in chain.layers),
            "mlp" if len(names) > 1 else "linear_act", oname, rewrite))
        return rewrite

    def run(self) -> FuseReport:
        self.classify()
        for name, m in list(self.root.named_modules()):
            g = self.status.get(id(m))
            if isinstance(g, fx.Graph):
                self.rewrite(m, g)
        self._left()
        return self.report

    def _left(self):
        for name, m in self.root.named_modules():
            st = self.status.get(id(m))
            if isinstance(st, str) and st not in ("leaf", "container") and \
                    any(isinstance(c, nn.Linear) for c in m.modules()):
                self.report.left.append(Left(name, type(m).__name__, st))
        for name, m in self.root.named_modules():
            if not isinstance(m, nn.Linear) or id(m) in self.done:
                continue
            reason = self.linear_reason.get(id(m))
            parent_name = name.rpartition(".")[0]
            parent = self.root.get_submodule(parent_name) if name else None
            if reason is None and (isinstance(getattr(parent, "__dict__", {}).get("forward"), _FusedForward)
                                   or (type(m) is tnn.Linear and m.activation != "identity")):
                reason = "already fused"
            if reason is None:
                pst = self.status.get(id(parent)) if parent is not None else None
                if parent is None:
                    reason = "the model is a Linear"
                elif isinstance(pst, fx.Graph):
                    reason = "not called by its parent's forward"
                elif pst == "leaf":
                    reason = f"inside {type(parent).__name__}, which fuse does not rewrite"
                else:
                    reason = f"its parent {parent_name or '<model>'} is not traced"
            self.report.left.append(Left(name, type(m).__name__, reason))


class _Glu(NamedTuple):
    """act(gate(x)) * up(x): the gate layer (its activation node set), the up layer, the mul node."""
    gate: _Layer
    up: _Layer
    mul: fx.Node


class _Chain:
    """Layers joined output -> next Linear, with the transparent nodes between them."""

    def __init__(self, parts):
        self.layers = [p for p in parts if isinstance(p, _Layer)]
        self.paths = [p for p in parts if not isinstance(p, _Layer)]

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def nodes(self):
        """Every node of the chain, in graph order."""
        out = []
        for i, layer in enumerate(self.layers):
            out.append(layer.lin)
            if layer.act_node is not None:
                out.append(layer.act_node)
            if i < len(self.paths):
                out.extend(self.paths[i])
        return out


# ------------------------------------------------------------ entry point
def fuse(model: nn.Module, *, inplace: bool = False, report: bool = False):
    """Rewrite ``model`` to run its Linear+activation layers (and chains of them) on torch_act's ops.

    ``inplace=False`` (default) leaves ``model`` untouched and returns a new module tree sharing
    its parameters and buffers (the same tensors); ``inplace=True`` rewrites ``model`` itself.
    ``state_dict`` keys do not change.  Returns the model, or ``(model, report)`` with
    ``report=True``; the report (a ``FuseReport``) is also ``model._torch_act_fuse_report``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"fuse: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inplace, bool):
        raise TypeError(f"fuse: inplace must be a bool, got {type(inplace).__name__}")
    if not isinstance(report, bool):
        raise TypeError(f"fuse: report must be a bool, got {type(report).__name__}")
    root = model if inplace else _share_copy(model, {})
    rep = _Fuser(root).run()
    root._torch_act_fuse_report = rep
    return (root, rep) if report else root
