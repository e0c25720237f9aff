"""Tests for torch_act.fuse: a model rewritten to torch_act's fused ops computes the same
outputs and gradients as before (float64 and float32), shares its parameters, keeps its
state_dict keys, and reports what it fused and what it left.  Real clients: the document's
Net written with F.relu / F.sigmoid, torchvision.ops.MLP, transformers' BertModel and
LlamaForCausalLM (tiny configs, no weights downloaded), and a model fx cannot trace."""
import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import torch_act
from torch_act import nn as tnn
from torch_act.fuse import FuseReport, fuse
from optional_deps import require

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-11), torch.float32: dict(rtol=2e-4, atol=3e-5)}
DTYPES = [torch.float64, torch.float32]


# ----------------------------------------------------------------- helpers
def _tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _tensors(v)]
    return []


def _run(model, inputs, params):
    """Outputs, and the gradients of a random projection of them w.r.t. params and float inputs."""
    inputs = [x.detach().clone().requires_grad_(x.is_floating_point()) if isinstance(x, torch.Tensor) else x
              for x in inputs]
    outs = _tensors(model(*inputs))
    g = torch.Generator().manual_seed(1)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs if o.is_floating_point())
    wrt = list(params) + [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [o.detach() for o in outs], list(grads)


def assert_same(orig, fused, inputs, dtype, scale=1.0):
    params = list(orig.parameters())
    assert [id(p) for p in fused.parameters()] == [id(p) for p in params], "parameters must be shared"
    o1, g1 = _run(orig, inputs, params)
    o2, g2 = _run(fused, inputs, params)
    tol = {k: v * scale for k, v in TOL[dtype].items()}
    assert len(o1) == len(o2) and len(o1) > 0
    for a, b in zip(o1, o2):
        assert a.dtype == b.dtype
        torch.testing.assert_close(b, a, **tol)
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, **tol)


def assert_state_dict_round_trip(make, inputs):
    """A checkpoint of the original loads into the fused model and the other way round."""
    torch.manual_seed(1)
    fused = fuse(make())
    torch.manual_seed(2)
    other = make()
    assert list(fused.state_dict()) == list(other.state_dict())
    fused.load_state_dict(other.state_dict())                   # original -> fused
    for a, b in zip(_tensors(fused(*inputs)), _tensors(other(*inputs))):
        torch.testing.assert_close(a, b, **TOL[torch.float32])
    torch.manual_seed(3)
    fresh = fuse(make())
    fresh_orig = make()
    fresh_orig.load_state_dict(fresh.state_dict())              # fused -> original
    for a, b in zip(_tensors(fresh(*inputs)), _tensors(fresh_orig(*inputs))):
        torch.testing.assert_close(a, b, **TOL[torch.float32])


class OpLog(TorchDispatchMode):
    """Names of the operators a forward runs (below autograd)."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func._schema.name)
        return func(*args, **(kwargs or {}))


# ----------------------------------------------------------------- the document's Net
class DocNet(nn.Module):
    """The document's network, written as users write it: Linear layers and F.relu / F.sigmoid."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 10)
        self.fc2 = nn.Linear(10, 5)
        self.fc3 = nn.Linear(5, 1)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.sigmoid(self.fc2(x))
        return self.fc3(x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_doc_net_becomes_one_mlp_op(dtype):
    torch.manual_seed(0)
    net = DocNet().to(dtype)
    fused, rep = fuse(net, report=True)
    assert isinstance(rep, FuseReport) and fused._torch_act_fuse_report is rep
    assert len(rep.fused) == 1 and not rep.left
    f = rep.fused[0]
    assert (f.layers, f.activations, f.op, f.forward_rewritten) == (
        ("fc1", "fc2", "fc3"), ("relu", "sigmoid", "identity"), "mlp", True)
    assert rep.rewritten == [""]
    # the original is untouched; the fused tree shares its parameters
    assert type(net.fc1) is nn.Linear and "forward" not in net.__dict__
    assert type(fused.fc1) is tnn.Linear and fused.fc1.activation == "relu"
    assert fused.fc1.weight is net.fc1.weight and fused.fc3.bias is net.fc3.bias
    x = torch.randn(33, 2, dtype=dtype)
    with OpLog() as log:
        fused(x)
    ours = [o for o in log.ops if o.startswith("torch_act::")]
    assert ours == ["torch_act::_mlp_fwd"], log.ops
    assert not any(o in ("aten::addmm", "aten::mm", "aten::linear") for o in log.ops)
    assert_same(net, fused, [x], dtype)


def test_doc_net_state_dict_round_trip():
    assert_state_dict_round_trip(DocNet, [torch.randn(9, 2)])


def test_inplace_rewrites_the_model_itself():
    torch.manual_seed(0)
    net = DocNet()
    ref = copy.deepcopy(net)
    out = fuse(net, inplace=True)
    assert out is net and type(net.fc2) is tnn.Linear and net.fc2.activation == "sigmoid"
    x = torch.randn(5, 2)
    torch.testing.assert_close(net(x), ref(x), **TOL[torch.float32])


def test_fused_model_deepcopies_pickles_and_refuses_refusing():
    torch.manual_seed(0)
    fused = fuse(DocNet())
    x = torch.randn(6, 2)
    d = copy.deepcopy(fused)
    assert d.forward.owner is d and d.fc1.weight is not fused.fc1.weight
    torch.testing.assert_close(d(x), fused(x))
    buf = io.BytesIO()
    torch.save(fused, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert loaded.forward.owner is loaded
    torch.testing.assert_close(loaded(x), fused(x))
    again, rep = fuse(fused, report=True)                        # idempotent: nothing more to do
    assert not rep.fused and "already fused" in rep.reason("")
    assert rep.reason("fc1") == "already fused"
    torch.testing.assert_close(again(x), fused(x))


def test_torch_act_net_chains_into_one_mlp():
    from torch_act.net import Net
    torch.manual_seed(0)
    net = Net(("tanh", "leaky_relu"), alphas=[None, 0.3])
    fused, rep = fuse(net, report=True)
    assert [(f.activations, f.alphas) for f in rep.fused] == [
        (("tanh", "leaky_relu", "identity"), (None, 0.3, None))]
    assert_same(net, fused, [torch.randn(8, 2)], torch.float32)


# ----------------------------------------------------------------- activations
ACT_CASES = [  # (activation after the Linear, expected torch_act name, alpha)
    (nn.ReLU(), "relu", None), (nn.GELU(), "gelu", None), (nn.GELU(approximate="tanh"), "gelu_tanh", None),
    (nn.SiLU(), "silu", None), (nn.Tanh(), "tanh", None), (nn.Sigmoid(), "sigmoid", None),
    (nn.LeakyReLU(0.3), "leaky_relu", 0.3), (nn.ELU(0.7), "elu", 0.7), (nn.Softplus(2.0), "softplus", 2.0),
    (nn.Mish(), "mish", None), (nn.Hardswish(), "hardswish", None), (nn.Softmax(dim=-1), "softmax", None),
    (nn.LogSoftmax(dim=-1), "log_softmax", None), (nn.ReLU6(), "relu6", None),
    (nn.Hardsigmoid(), "hardsigmoid", None), (nn.SELU(), "selu", None), (nn.CELU(1.5), "celu", 1.5),
    (nn.Softsign(), "softsign", None), (nn.LogSigmoid(), "logsigmoid", None),
    (nn.Tanhshrink(), "tanhshrink", None), (tnn.LeakyReLU(0.1), "leaky_relu", 0.1),
    (F.relu, "relu", None), (torch.sigmoid, "sigmoid", None), (torch.tanh, "tanh", None),
    (lambda h: h.relu(), "relu", None), (lambda h: F.gelu(h, approximate="tanh"), "gelu_tanh", None),
    (lambda h: F.leaky_relu(h, 0.2), "leaky_relu", 0.2), (lambda h: F.elu(h, alpha=0.5), "elu", 0.5),
    (lambda h: F.softplus(h, 3.0), "softplus", 3.0), (lambda h: torch.softmax(h, -1), "softmax", None),
    (lambda h: F.log_softmax(h, dim=-1), "log_softmax", None), (lambda h: h.tanh(), "tanh", None),
    (F.silu, "silu", None), (F.mish, "mish", None), (F.selu, "selu", None), (F.logsigmoid, "logsigmoid", None),
]


class Many(nn.Module):
    """One Linear + activation per case, the activation a module or a function."""

    def __init__(self, acts):
        super().__init__()
        self.lins = nn.ModuleList(nn.Linear(6, 7) for _ in acts)
        self.mods = nn.ModuleList(a for a in acts if isinstance(a, nn.Module))
        self.fns = [a for a in acts if not isinstance(a, nn.Module)]

    def forward(self, x):
        outs = [m(self.lins[i](x)) for i, m in enumerate(self.mods)]
        outs += [f(self.lins[len(self.mods) + i](x)) for i, f in enumerate(self.fns)]
        return outs


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_activation_form_fuses_exactly(dtype):
    cases = [c for c in ACT_CASES if c[1] in torch_act.ACTIVATIONS]
    if dtype == torch.float64:
        # PyTorch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32 (torch_act
        # uses the exact 1/6): 3e-8 apart, so it is compared in float32 only
        cases = [c for c in cases if c[1] != "hardsigmoid"]
    mods = [c for c in cases if isinstance(c[0], nn.Module)]
    fns = [c for c in cases if not isinstance(c[0], nn.Module)]
    torch.manual_seed(0)
    model = Many([c[0] for c in mods + fns]).to(dtype)
    fused, rep = fuse(model, report=True)
    got = {f.layers[0]: (f.activations[0], f.alphas[0]) for f in rep.fused}
    want = {f"lins.{i}": (c[1], c[2]) for i, c in enumerate(mods + fns)}
    assert got == want, rep
    assert not [l for l in rep.left if l.kind == "Linear"], rep
    # activation modules called once were swapped for Identity; the functions need the new forward
    assert all(type(m) is nn.Identity for m in fused.mods)
    assert rep.rewritten == [""]
    x = torch.randn(4, 3, 6, dtype=dtype)
    assert_same(model, fused, [x], dtype)


def test_chain_with_a_bias_free_layer():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(3, 5, bias=False), nn.ELU(0.5), nn.Identity(), nn.Linear(5, 2)).double()
    fused, rep = fuse(seq, report=True)
    assert [(f.op, f.activations, f.alphas) for f in rep.fused] == [("mlp", ("elu", "identity"), (0.5, None))]
    assert "[None, _3_bias]" in fused.forward.code                   # the missing bias passed as None
    assert_same(seq, fused, [torch.randn(4, 3, dtype=torch.float64)], torch.float64)


def test_modules_only_keep_the_original_forward():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.3), nn.Linear(8, 8), nn.Softplus(0.5), nn.Dropout(0.3))
    fused, rep = fuse(seq, report=True)
    assert [f.op for f in rep.fused] == ["linear_act", "linear_act"] and not rep.rewritten
    assert "forward" not in fused.__dict__ and type(fused[1]) is nn.Identity
    x = torch.randn(16, 4)
    for mode in (True, False):                                   # dropout runs as before, in both modes
        seq.train(mode)
        fused.train(mode)
        torch.manual_seed(5)
        a = seq(x)
        torch.manual_seed(5)
        torch.testing.assert_close(fused(x), a, **TOL[torch.float32])


class Softmaxes(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(5, 4)
        self.sm1, self.sm = nn.Softmax(dim=1), nn.Softmax()

    def forward(self, x):
        return self.sm1(self.a(x)), self.sm(self.b(x))


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("shape", [(6, 5), (3, 6, 5)])
def test_softmax_over_a_fixed_dim(shape):
    torch.manual_seed(0)
    m = Softmaxes().double()
    fused, rep = fuse(m, report=True)
    assert rep.fused_layers() == {"a": "softmax"}
    assert "implicit dim" in rep.reason("b")
    assert_same(m, fused, [torch.randn(*shape, dtype=torch.float64)], torch.float64)


# ----------------------------------------------------------------- what is left, and why
class Awkward(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop_first = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.2)
        self.twice = nn.Linear(4, 4)
        self.shared = nn.Linear(4, 4)
        self.soft = nn.Linear(4, 4)
        self.softplus10 = nn.Softplus(threshold=10.0)
        self.quick = nn.Linear(4, 4)
        self.c1, self.c2 = nn.Linear(4, 4), nn.Linear(4, 4)
        self.act = nn.Tanh()                                     # one module applied after two Linears
        self.t1, self.t2 = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        a = self.drop(self.drop_first(x))
        h = self.twice(x)
        b = torch.relu(h) + h
        c = torch.relu(self.shared(x)) + self.shared(a)
        d = self.softplus10(self.soft(x))
        e = self.quick(x) * torch.sigmoid(1.702 * self.quick(x))
        r = torch.relu(self.c1(x))                               # used by c2 and again below
        f = self.c2(r) + r
        g = self.act(self.t1(x)) + self.act(self.t2(x))
        return a + b + c + d + e + f + g


def test_reasons_for_what_is_left():
    torch.manual_seed(0)
    m = Awkward().double().eval()
    fused, rep = fuse(m, report=True)
    assert rep.fused_layers() == {"c1": "relu", "t1": "tanh", "t2": "tanh"}
    assert rep.reason("drop_first") == "Linear followed by Dropout(p=0.2)"
    assert rep.reason("twice") == "Linear output used 2 times"
    assert "called or read 2 times" in rep.reason("shared")
    assert "threshold 20" in rep.reason("soft")
    assert "called or read 2 times" in rep.reason("quick")
    assert rep.reason("c1") == "not joined into an MLP: activation output used 2 times"
    assert type(fused.act) is nn.Tanh                           # shared: skipped by the new forward
    assert_same(m, fused, [torch.randn(3, 4, dtype=torch.float64)], torch.float64)


class Branchy(nn.Module):
    """fx cannot trace this forward (data-dependent control flow); its children still fuse."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.block = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = F.relu(self.fc(x))
        if h.sum() > 0:
            h = self.block(h)
        return self.head(h)


@pytest.mark.parametrize("dtype", DTYPES)
def test_untraceable_model_falls_back_per_submodule(dtype):
    torch.manual_seed(0)
    m = Branchy().to(dtype)
    fused, rep = fuse(m, report=True)
    assert rep.reason("").startswith("untraceable: TraceError")
    assert rep.reason("fc") == "its parent <model> is not traced"
    assert [(f.layers, f.activations) for f in rep.fused] == [(("block.0", "block.2"), ("tanh", "relu"))]
    assert type(fused.fc) is nn.Linear
    for sign in (1, -1):                                         # both branches
        x = sign * (torch.rand(5, 4, dtype=dtype) + 0.5)
        assert_same(m, fused, [x], dtype)


class Optional_(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x, mask=None):
        h = torch.relu(self.fc(x))
        return h if mask is None else h * mask


class TrainingDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x)
        if self.training:
            return h
        return torch.relu(h)


class Identity_(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x, y):
        if y is not None:
            x = x + y
        return torch.relu(self.fc(x))


@pytest.mark.parametrize("cls, reason", [
    (Optional_, "optional argument (mask=None)"),
    (TrainingDependent, "depends on self.training"),
    (Identity_, "`is`/`is not`"),
])
def test_forwards_a_trace_would_specialise_are_left(cls, reason):
    m = cls().eval()
    fused, rep = fuse(m, report=True)
    assert not rep.fused
    assert reason in (rep.reason("") or "") + (rep.reason("fc") or ""), rep
    assert type(fused.fc) is nn.Linear and "forward" not in fused.__dict__


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fuse(lambda x: x)
    with pytest.raises(TypeError, match="inplace must be a bool"):
        fuse(DocNet(), inplace=1)
    with pytest.raises(TypeError, match="report must be a bool"):
        fuse(DocNet(), report="yes")


# ----------------------------------------------------------------- torchvision
def test_torchvision_mlp():
    tv = require("torchvision", "ops")
    make = lambda: tv.ops.MLP(8, [16, 16, 4])                    # noqa: E731  Linear, ReLU, Dropout(0) x2, Linear, Dropout(0)
    for dtype in DTYPES:
        torch.manual_seed(0)
        m = make().to(dtype)
        fused, rep = fuse(m, report=True)
        assert [(f.op, f.layers, f.activations) for f in rep.fused] == [
            ("mlp", ("0", "3", "6"), ("relu", "relu", "identity"))]
        assert_same(m, fused, [torch.randn(2, 5, 8, dtype=dtype)], dtype)
    assert_state_dict_round_trip(make, [torch.randn(3, 8)])
    # with dropout between the layers: each Linear+ReLU fuses, the chain is broken
    torch.manual_seed(0)
    m = tv.ops.MLP(8, [16, 4], activation_layer=nn.GELU, dropout=0.25)
    fused, rep = fuse(m, report=True)
    assert [(f.op, f.activations) for f in rep.fused] == [("linear_act", ("gelu",))]
    x = torch.randn(10, 8)
    torch.manual_seed(3)
    a = m(x)
    torch.manual_seed(3)
    torch.testing.assert_close(fused(x), a, **TOL[torch.float32])


# ----------------------------------------------------------------- transformers
def _bert(hidden_act="gelu"):
    transformers = require("transformers", "BertConfig", "BertModel")
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=24, max_position_embeddings=16, hidden_act=hidden_act)
    return transformers.BertModel(cfg).eval()


@pytest.mark.parametrize("hidden_act, act, dtypes", [
    ("gelu", "gelu", DTYPES), ("gelu_new", "gelu_tanh", [torch.float32])])
def test_bert(hidden_act, act, dtypes):
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(0))
    for dtype in dtypes:
        torch.manual_seed(0)
        m = _bert(hidden_act).to(dtype)
        fused, rep = fuse(m, report=True)
        assert rep.fused_layers() == {"encoder.layer.0.intermediate.dense": act,
                                      "encoder.layer.1.intermediate.dense": act, "pooler.dense": "tanh"}
        assert type(fused.encoder.layer[1].intermediate.intermediate_act_fn) is torch.nn.Identity
        assert rep.reason("encoder.layer.0.output.dense") == "Linear followed by Dropout(p=0.1)"
        assert "not traced" in rep.reason("encoder.layer.0.attention.self.query")
        assert_same(m, fused, [ids], dtype)
    if hidden_act == "gelu":
        assert_state_dict_round_trip(lambda: _bert(hidden_act), [ids])


def _llama():
    transformers = require("transformers", "LlamaConfig", "LlamaForCausalLM")
    cfg = transformers.LlamaConfig(vocab_size=48, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_llama():
    ids = torch.randint(0, 48, (2, 7), generator=torch.Generator().manual_seed(0))
    for dtype in DTYPES:
        torch.manual_seed(0)
        m = _llama().to(dtype)
        fused, rep = fuse(m, report=True)
        # each gated MLP: gate, act and up as one linear_glu op (the op GatedMLP runs)
        expect = {}
        for i in range(2):
            expect.update({f"model.layers.{i}.mlp.gate_proj": "silu", f"model.layers.{i}.mlp.up_proj": "identity"})
        assert rep.fused_layers() == expect
        assert [f.op for f in rep.fused] == ["linear_glu"] * 2
        assert rep.rewritten == ["model.layers.0.mlp", "model.layers.1.mlp"]
        assert "down projection of a gated MLP" in rep.reason("model.layers.0.mlp.down_proj")
        assert type(m.model.layers[0].mlp.forward) is not type(fused.model.layers[0].mlp.forward)
        x = torch.randn(3, 16, dtype=dtype)
        with OpLog() as log:
            fused.model.layers[0].mlp(x)
        assert {"torch_act::linear_glu", "torch_act::_linear_glu_fwd"} & set(log.ops), log.ops
        assert not any("silu" in n for n in log.ops)
        assert not any(l.kind == "gated MLP" for l in rep.left)
        # Llama's RMSNorm computes in float32 even in a float64 model
        assert_same(m, fused, [ids], dtype, scale=1e4 if dtype == torch.float64 else 1.0)
    assert_state_dict_round_trip(_llama, [ids])



def test_every_transformers_activation_fuses_exactly_or_says_why():
    """Each class of transformers.activations after a Linear: fused with values and gradients equal to
    transformers' own (float64), or left with a reason; the ones known to be exact must fuse."""
    acts = require("transformers.activations", "ACT2CLS", "ACT2FN")
    exact = {"gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
             "gelu_python_tanh": "gelu_tanh", "gelu_accurate": "gelu_tanh", "silu": "silu", "swish": "silu",
             "mish": "mish", "relu": "relu", "relu2": "squared_relu", "relu6": "relu6", "sigmoid": "sigmoid",
             "tanh": "tanh", "leaky_relu": "leaky_relu", "hardswish": "hardswish", "quick_gelu": "quick_gelu",
             "linear": "identity"}
    seen = 0
    for key in sorted(acts.ACT2CLS):
        try:
            act = acts.ACT2FN[key]
        except Exception:   # noqa: BLE001 -- one needing an optional package of its own
            continue
        if not isinstance(act, nn.Module):
            continue
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(6, 7), act, nn.Linear(7, 3)).double()
        fused, rep = fuse(m, report=True)
        got = rep.fused_layers().get("0")
        if key in exact:
            assert got == exact[key], (key, got, str(rep))
        if got is None:
            assert rep.reason("0"), key
            continue
        seen += 1
        x = torch.randn(5, 6, dtype=torch.float64) * 3
        assert_same(m, fused, [x], torch.float64)
    assert seen >= len(exact), seen


def _per_layer(fmt, acts, n=2):
    """{fmt.format(i) + suffix: act} for layers i < n: the Linears fuse should rewrite in each block."""
    return {fmt.format(i) + k: a for i in range(n) for k, a in acts.items()}


def _tiny(name):
    """Small configurations of real transformers models (random weights), their inputs, and what fuse makes
    of their MLPs: (model, inputs, ops, {fused Linear: activation}, tolerance scale in float64 --
    RMSNorm-style norms compute in float32 even in a float64 model)."""
    T = require("transformers", "GemmaConfig", "Qwen2Config", "MistralConfig", "GPTNeoXConfig", "T5Config",
                "DistilBertConfig", "ViTConfig", "RobertaConfig", "CLIPTextConfig")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 50, (2, 7), generator=g)
    dec = dict(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
               num_key_value_heads=1, max_position_embeddings=32)
    glu = lambda act: _per_layer("model.layers.{}.mlp.", {"gate_proj": act, "up_proj": "identity"})  # noqa: E731
    if name == "gemma":
        return T.GemmaForCausalLM(T.GemmaConfig(head_dim=8, **dec)), [ids], ["linear_glu"] * 2, glu("gelu_tanh"), 1e4
    if name == "qwen2":
        return T.Qwen2ForCausalLM(T.Qwen2Config(**dec)), [ids], ["linear_glu"] * 2, glu("silu"), 1e4
    if name == "mistral":
        return T.MistralForCausalLM(T.MistralConfig(**dec)), [ids], ["linear_glu"] * 2, glu("silu"), 1e4
    if name == "gpt_neox":
        cfg = T.GPTNeoXConfig(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                              num_attention_heads=2, max_position_embeddings=32)
        return T.GPTNeoXForCausalLM(cfg), [ids], ["mlp"] * 2, _per_layer(
            "gpt_neox.layers.{}.mlp.", {"dense_h_to_4h": "gelu", "dense_4h_to_h": "identity"}), 1.0
    if name in ("t5_gated_gelu", "t5_relu"):
        gated = name == "t5_gated_gelu"
        cfg = T.T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=24, num_layers=2, num_heads=2,
                         feed_forward_proj="gated-gelu" if gated else "relu")
        dec_ids = torch.randint(2, 50, (2, 5), generator=g)
        acts = {"wi_0": "gelu_tanh", "wi_1": "identity"} if gated else {"wi": "relu"}
        layers = {**_per_layer("encoder.block.{}.layer.1.DenseReluDense.", acts),
                  **_per_layer("decoder.block.{}.layer.2.DenseReluDense.", acts)}
        return T.T5Model(cfg), [ids, None, dec_ids], ["linear_glu" if gated else "linear_act"] * 4, layers, 1e4
    if name == "distilbert":
        cfg = T.DistilBertConfig(vocab_size=50, dim=16, hidden_dim=24, n_layers=2, n_heads=2, max_position_embeddings=32)
        return T.DistilBertModel(cfg), [ids], ["mlp"] * 2, _per_layer(
            "transformer.layer.{}.ffn.", {"lin1": "gelu", "lin2": "identity"}), 1.0
    if name == "vit":
        cfg = T.ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
                          image_size=8, patch_size=4)
        layers = {**_per_layer("layers.{}.mlp.", {"fc1": "gelu", "fc2": "identity"}), "pooler.dense": "tanh"}
        return T.ViTModel(cfg), [torch.randn(2, 3, 8, 8, generator=g)], ["mlp", "mlp", "linear_act"], layers, 1.0
    if name == "roberta":
        cfg = T.RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=24, max_position_embeddings=40)
        layers = {**_per_layer("encoder.layer.{}.", {"intermediate.dense": "gelu"}), "pooler.dense": "tanh"}
        return T.RobertaModel(cfg), [ids], ["linear_act"] * 3, layers, 1.0
    if name == "clip":  # OpenAI CLIP's MLP: fc1 -> QuickGELU -> fc2, one mlp op with torch_act's quick_gelu
        cfg = T.CLIPTextConfig(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                               num_attention_heads=2, max_position_embeddings=16, hidden_act="quick_gelu",
                               bos_token_id=0, eos_token_id=1, pad_token_id=1)
        return T.CLIPTextModel(cfg), [ids], ["mlp"] * 2, _per_layer(
            "encoder.layers.{}.mlp.", {"fc1": "quick_gelu", "fc2": "identity"}), 1.0
    raise AssertionError(name)


MORE_MODELS = ["gemma", "qwen2", "mistral", "gpt_neox", "t5_gated_gelu", "t5_relu", "distilbert", "vit", "roberta",
               "clip"]


@pytest.mark.parametrize("name", MORE_MODELS)
def test_more_transformers_models(name):
    """What fuse makes of more real models' MLPs; values and gradients equal to the original's, and
    checkpoints that load both ways."""
    for dtype in DTYPES:
        torch.manual_seed(0)
        m, inputs, ops, layers, scale = _tiny(name)
        m = m.eval().to(dtype)
        inputs = [x.to(dtype) if x is not None and x.is_floating_point() else x for x in inputs]
        fused, rep = fuse(m, report=True)
        assert sorted(f.op for f in rep.fused) == sorted(ops), str(rep)
        assert rep.fused_layers() == layers, str(rep)
        assert list(fused.state_dict()) == list(m.state_dict())
        assert_same(m, fused, inputs, dtype, scale=scale if dtype == torch.float64 else 1.0)
    assert_state_dict_round_trip(lambda: _tiny(name)[0].eval(), _tiny(name)[1])


# ----------------------------------------------------------------- gated MLPs of one's own
class GegluBlock(nn.Module):
    """A GeGLU MLP written with F.gelu, biases, and the product in the other order."""

    def __init__(self, d=12, h=20, swap=False):
        super().__init__()
        self.w_in = nn.Linear(d, h)
        self.v_in = nn.Linear(d, h)
        self.out = nn.Linear(h, d)
        self.swap = swap

    def forward(self, x):
        g = F.gelu(self.w_in(x), approximate="tanh")
        u = self.v_in(x)
        return self.out(u * g if self.swap else g * u) + x


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_own_gated_mlp_becomes_one_linear_glu(swap, dtype):
    torch.manual_seed(0)
    m = GegluBlock(swap=swap).to(dtype)
    fused, rep = fuse(m, report=True)
    assert rep.fused_layers() == {"w_in": "gelu_tanh", "v_in": "identity"}
    assert rep.fused[0].op == "linear_glu"
    x = torch.randn(2, 5, 12, dtype=dtype)
    with OpLog() as log:
        fused(x)
    assert "torch_act::_linear_glu_fwd" in log.ops and "aten::gelu" not in log.ops
    assert_same(m, fused, [x], dtype)
    assert_state_dict_round_trip(lambda: GegluBlock(swap=swap), [x.float()])


def test_gated_mlp_that_cannot_fuse_says_why():
    m = GegluBlock()
    m.v_in.to(torch.float64)  # gate and up in different dtypes
    fused, rep = fuse(m, report=True)
    assert rep.fused_layers() == {"w_in": "gelu_tanh"}  # gate + activation still fuse into a linear_act
    left = [l for l in rep.left if l.kind == "gated MLP"]
    assert len(left) == 1 and left[0].name == "w_in, v_in, out"
    assert "differ in shape, dtype or device" in left[0].reason
    assert rep.reason("v_in") == left[0].reason
