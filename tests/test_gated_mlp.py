"""torch_act.nn.GatedMLP: the LLaMA-style MLP down(act(gate(x)) * up(x)) on
linear_glu, against its eager definition and against a real client,
transformers' LlamaMLP and a tiny LlamaForCausalLM (built from a small
LlamaConfig, no downloads) with its MLPs swapped: outputs, loss and every
gradient equal in float64, close in bfloat16.  transformers is a test-only
dependency: these tests skip when it cannot be imported.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

import torch_act
from conftest import ELEMENTWISE
from optional_deps import require
from reference import reference_activation
from torch_act.nn import GatedMLP


def _eager(m, x):
    g, u, d = m.gate_proj, m.up_proj, m.down_proj
    return d(reference_activation(m.activation, g(x), m.alpha) * u(x))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("act", ["silu", "gelu", "relu"] + [a for a in ELEMENTWISE if not torch_act.ACTIVATIONS[a].builtin])
def test_matches_eager_float64(act, bias):
    torch.manual_seed(0)
    m = GatedMLP(12, 20, 9, activation=act, bias=bias, dtype=torch.float64)
    x = torch.randn(2, 5, 12, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert y.shape == (2, 5, 9)
    x2 = x.detach().clone().requires_grad_()
    ref = _eager(m, x2)
    torch.testing.assert_close(y, ref)
    gy = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x, *m.parameters()], gy)
    grads_ref = torch.autograd.grad(ref, [x2, *m.parameters()], gy)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b)


def test_state_dict_keys_and_defaults():
    m = GatedMLP(8, 16)
    assert list(m.state_dict()) == ["gate_proj.weight", "up_proj.weight", "down_proj.weight"]
    assert m.down_proj.out_features == 8 and m.activation == "silu"
    mb = GatedMLP(8, 16, 4, bias=True)
    assert set(mb.state_dict()) == {f"{p}.{w}" for p in ("gate_proj", "up_proj", "down_proj") for w in ("weight", "bias")}
    with pytest.raises(ValueError, match="unknown activation"):
        GatedMLP(8, 16, activation="nope_not_one")
    with pytest.raises(ValueError, match="must be elementwise"):
        GatedMLP(8, 16, activation="softmax")


def test_compiles_fullgraph():
    torch.manual_seed(0)
    m = GatedMLP(8, 16, bias=True)
    x = torch.randn(4, 8)
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), m(x))


def _tf():
    """transformers, or skip the calling test (a test-only dependency)."""
    return require("transformers", "LlamaConfig", "LlamaForCausalLM")


def _llama_mlp(cfg):
    from transformers.models.llama.modeling_llama import LlamaMLP

    return LlamaMLP(cfg)


def _config(**kw):
    base = dict(vocab_size=61, hidden_size=32, intermediate_size=44, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=32, hidden_act="silu")
    base.update(kw)
    return _tf().LlamaConfig(**base)


@pytest.mark.parametrize("mlp_bias", [False, True])
def test_llama_mlp_state_dict_and_from_module(mlp_bias):
    torch.manual_seed(0)
    cfg = _config(mlp_bias=mlp_bias)
    llama = _llama_mlp(cfg).double()
    x = torch.randn(3, 7, 32, dtype=torch.float64)
    ours = GatedMLP(32, 44, bias=mlp_bias, dtype=torch.float64)
    ours.load_state_dict(llama.state_dict())  # unchanged keys
    torch.testing.assert_close(ours(x), llama(x))
    shared = GatedMLP.from_module(llama)  # activation read from act_fn
    assert shared.activation == "silu" and shared.gate_proj.weight is llama.gate_proj.weight
    torch.testing.assert_close(shared(x), llama(x))


def test_from_module_errors():
    _tf()
    with pytest.raises(ValueError, match="has no nn.Linear 'gate_proj'"):
        GatedMLP.from_module(torch.nn.Linear(3, 4))
    llama = _llama_mlp(_config())
    llama.act_fn = torch.nn.Softsign()
    with pytest.raises(ValueError, match="pass activation="):
        GatedMLP.from_module(llama)
    assert GatedMLP.from_module(llama, activation="softsign").activation == "softsign"
    # CLIP's QuickGELU, as transformers' class and as torch_act's module
    llama.act_fn = require("transformers.activations", "QuickGELUActivation").QuickGELUActivation()
    assert GatedMLP.from_module(llama).activation == "quick_gelu"
    llama.act_fn = torch_act.nn.QuickGELU()
    assert GatedMLP.from_module(llama).activation == "quick_gelu"


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=str)
def test_llama_for_causal_lm_with_swapped_mlps(dtype):
    torch.manual_seed(0)
    model = _tf().LlamaForCausalLM(_config()).to(dtype)
    ours = copy.deepcopy(model)
    for layer in ours.model.layers:
        layer.mlp = GatedMLP.from_module(layer.mlp)
    assert all(isinstance(l.mlp, GatedMLP) for l in ours.model.layers)
    ids = torch.randint(0, 61, (2, 11))
    out, out2 = model(input_ids=ids, labels=ids), ours(input_ids=ids, labels=ids)
    tol = dict(rtol=0, atol=0) if dtype == torch.float64 else dict(rtol=2e-2, atol=2e-2)
    if dtype == torch.float64:
        tol = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out2.logits, out.logits, **tol)
    torch.testing.assert_close(out2.loss, out.loss, **tol)
    out.loss.backward()
    out2.loss.backward()
    p_ref, p_ours = dict(model.named_parameters()), dict(ours.named_parameters())
    assert p_ref.keys() == p_ours.keys()
    for name, p in p_ref.items():
        g, g2 = p.grad, p_ours[name].grad
        assert g2 is not None, name
        if dtype == torch.float64:
            torch.testing.assert_close(g2, g, **tol, msg=name)
        else:  # bf16: relative to the gradient's scale
            err = (g2.double() - g.double()).abs().max().item()
            assert err <= 5e-2 * max(g.double().abs().max().item(), 1e-3), (name, err)
