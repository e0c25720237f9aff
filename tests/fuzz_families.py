"""The op families of the fuzz: for a case (tests/fuzz_cases.py), build the
arguments, say what the op must do (fuzz_oracle.Expect), make the call, and
check what it returned against float64 references (fuzz_oracle.EV).

``prepare(case, meta)`` returns ``(call, expect, check)``: ``call()`` runs the
op and returns its outputs as a list; ``check(outputs)`` returns a list of
problems.  ``meta=True`` builds every tensor on the meta device instead (the
meta twin: it must agree with the CPU call).
"""
import math

import torch

import torch_act
from fuzz_oracle import (EV, Expect, check_activation_args, check_float, check_layer, check_like,
                         check_linear, check_saved, compare, ref_act, ref_dz, ref_linear, ref_matmul_bwd,
                         uses_output)
from fuzz_tensors import build, to_meta

OPS = torch.ops.torch_act
EMPTY = EV(torch.zeros(0, dtype=torch.float64))
F64 = torch.float64


def _t(s, meta):
    return None if s is None else build(s, "meta" if meta else None)


def _out_device(*ts):
    devs = {t.device.type for t in ts if isinstance(t, torch.Tensor)}
    return devs.pop() if len(devs) == 1 else None  # None: mixed, accept either


def _unknown(shape):
    """Shape known, values not (any value passes)."""
    return EV(torch.zeros(shape, dtype=F64), torch.full(shape, math.inf, dtype=F64))


def _grad_for(out, seed):
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(out.shape, dtype=F64, generator=gen)
    return g.to(out.dtype).to(out.device) if out.device.type != "meta" else torch.empty_like(out)


def _leaf(t, flag):
    if flag and t is not None and (t.dtype.is_floating_point or t.dtype.is_complex):
        t.requires_grad_(True)
    return t


def _check_many(what, outs, refs, dt, device):
    if len(outs) != len(refs):
        return [f"{what}: {len(outs)} outputs, expected {len(refs)}"]
    return [p for i, (o, r) in enumerate(zip(outs, refs))
            if (p := compare(f"{what}[{i}]", o, r, dt, device)) is not None]


# ------------------------------------------------------------------ activation
def prep_activation(c, meta):
    x = _t(c["x"], meta)
    name, alpha = c["act"], c["alpha"]
    ex = Expect("activation")
    spec = check_activation_args(ex, name, alpha)
    check_float(ex, "input", x)
    if spec is not None and spec.rowwise and x.dim() == 0:
        ex.bad("0-d input to a row activation", "dimension", "input")
    entry = c["entry"]

    def call():
        if entry == "wrapper":
            return [torch_act.activation(x, name, alpha)]
        if entry == "op":
            return [OPS.activation(x, name, alpha)]
        xx = _leaf(x, True)
        out = OPS.activation(xx, name, alpha)
        if out.requires_grad:
            out.backward(_grad_for(out, c["gseed"]))
        return [out, xx.grad]

    def check(outs):
        dt, dev = x.dtype, x.device.type
        ref = ref_act(name, alpha, EV.exact(x), dt) if dev != "meta" else None
        probs = [p for p in [compare("out", outs[0], ref or _unknown(x.shape), dt, dev)] if p]
        if entry == "grad":
            g = _grad_for(outs[0], c["gseed"])
            if dev == "meta":
                ref_g = _unknown(x.shape)
            else:
                s = x if not uses_output(name, alpha) else outs[0].detach()
                ref_g = ref_dz(name, alpha, s.double(), EV.exact(g), dt) or _unknown(x.shape)
            probs += [p for p in [compare("x.grad", outs[1], ref_g, dt, dev)] if p]
        return probs

    return call, ex, check


def prep_activation_bwd(c, meta):
    g = _t(c["grad_out"], meta)
    s = _t(c["saved"], False)
    name, alpha = c["act"], c["alpha"]
    ex = Expect("activation")
    spec = check_activation_args(ex, name, alpha)
    check_float(ex, "grad_out", g)
    if (spec is not None and c["saved_from_fwd"] and s.device.type == "cpu" and list(s.shape) == list(g.shape)
            and uses_output(name, alpha) and spec.saves != "nothing"):
        try:  # the output as the forward computes it
            s = OPS.activation(s, name, alpha)
        except Exception:  # noqa: BLE001  (refused: keep the random one)
            pass
    if meta or c["saved"]["device"] == "meta":
        s = to_meta(s)
    if spec is not None:
        if spec.saves != "nothing":
            check_saved(ex, "saved", s, g.shape, g)
        elif s.device != g.device:
            ex.maybe("identity ignores saved (on another device)", "saved", "device")
        if spec.rowwise and g.dim() == 0:
            ex.maybe("0-d gradient of a row activation", "dimension", "grad_out", "saved")

    def call():
        return [OPS._activation_bwd(g, s, name, alpha)]

    def check(outs):
        dt, dev = g.dtype, _out_device(g, s) if spec.saves != "nothing" else g.device.type
        ref = None
        if dev == "cpu":
            ref = ref_dz(name, alpha, s.double() if spec.saves != "nothing" else None, EV.exact(g), dt)
        return [p for p in [compare("dx", outs[0], ref or _unknown(g.shape), dt, dev)] if p]

    return call, ex, check


# ------------------------------------------------------------------ linear_act
def _forward_ref(x, layers, dt):
    """[(y_i, z_i)] EVs of the stack (x, [(w, b, act, alpha)]) with y_i stored in dt; None past
    a layer whose reference cannot be evaluated."""
    h, res = EV.exact(x), []
    for w, b, name, alpha in layers:
        z = ref_linear(h, w.double(), None if b is None else b.double(), dt)
        y = ref_act(name, alpha, z, dt)
        if y is None:
            res += [None] * (len(layers) - len(res))
            break
        res.append((y, z))
        h = y.rounded(dt)
    return res


def prep_linear(c, meta):
    x, w, b = _t(c["x"], meta), _t(c["w"], meta), _t(c["b"], meta)
    name, alpha, entry = c["act"], c["alpha"], c["entry"]
    ex = Expect("linear_act")
    check_activation_args(ex, name, alpha)
    check_linear(ex, x, w, b)
    rx, rw, rb = c["requires_grad"]

    def call():
        if entry == "op":
            return [OPS.linear_act(x, w, b, name, alpha)]
        if entry == "wrapper":
            return [torch_act.linear_act(x, w, b, name, alpha)]
        if entry == "fwd":
            return list(OPS._linear_act_fwd(x, w, b, name, alpha))
        xx, ww, bb = _leaf(x, rx), _leaf(w, rw), _leaf(b, rb)
        out = OPS.linear_act(xx, ww, bb, name, alpha)
        if out.requires_grad:
            out.backward(_grad_for(out, c["gseed"]))
        return [out, xx.grad, ww.grad, None if bb is None else bb.grad]

    def check(outs):
        dt, dev = x.dtype, _out_device(x, w, b)
        shape = list(x.shape[:-1]) + [w.shape[0]]
        ys = _forward_ref(x, [(w, b, name, alpha)], dt) if dev == "cpu" else [None]
        y, z = ys[0] if ys[0] is not None else (_unknown(shape), _unknown(shape))
        probs = [p for p in [compare("out", outs[0], y, dt, dev)] if p]
        if entry == "fwd":
            probs += [p for p in [compare("saved", outs[1], EMPTY if uses_output(name, alpha) else z, dt, dev)] if p]
        if entry == "grad":
            g = _grad_for(outs[0], c["gseed"])
            fwd_out, pre = OPS._linear_act_fwd(x.detach(), w.detach(), None if b is None else b.detach(), name, alpha)
            s = fwd_out if uses_output(name, alpha) else pre
            refs = _linear_bwd_ref(name, alpha, g, x, w, s, [True] * 3, dt, dev)
            for what, o, r, flag in zip(["x.grad", "w.grad", "b.grad"], outs[1:], refs, [rx, rw, rb]):
                if what == "b.grad" and b is None:
                    continue
                if flag:
                    probs += [p for p in [compare(what, o, r, dt, dev)] if p]
                elif o is not None:
                    probs.append(f"{what}: set although requires_grad=False")
        return probs

    return call, ex, check


def _linear_bwd_ref(name, alpha, g, x, w, s, mask, dt, dev):
    n, k = w.shape
    shapes = [list(x.shape), [n, k], [n]]
    if dev != "cpu":
        return [_unknown(sh) if m else EMPTY for sh, m in zip(shapes, mask)]
    spec = torch_act.ACTIVATIONS[name]
    m = x.numel() // k if k else math.prod(x.shape[:-1])
    dz = ref_dz(name, alpha, s.double().reshape(m, n) if spec.saves != "nothing" else None,
                EV(g.detach().double().reshape(m, n)), dt)
    if dz is None:
        return [_unknown(sh) if mk else EMPTY for sh, mk in zip(shapes, mask)]
    dx, dw, db = ref_matmul_bwd(dz, x.double().reshape(m, k), w.double(), dt)
    dx = EV(dx.v.reshape(x.shape), dx.e.reshape(x.shape))
    return [r if mk else EMPTY for r, mk in zip([dx, dw, db], mask)]


def prep_linear_bwd(c, meta):
    x, w, g = _t(c["x"], False), _t(c["w"], False), _t(c["grad_out"], False)
    s = _t(c["saved"], False)
    name, alpha, mask = c["act"], c["alpha"], c["mask"]
    ex = Expect("linear_act")
    spec = check_activation_args(ex, name, alpha)
    check_linear(ex, x, w, None)
    shape = list(x.shape[:-1]) + [w.shape[0]] if x.dim() and w.dim() == 2 else None
    if spec is not None and c["saved_from_fwd"] and shape is not None:
        try:  # what the autograd saves: the output or the pre-activation
            b = _t(c["b"], False)
            ok = b is not None and b.shape == (w.shape[0],) and b.device == x.device and b.dtype == x.dtype
            out, pre = OPS._linear_act_fwd(x, w, b if ok else None, name, alpha)
            if out.device.type == "cpu":
                s = out if uses_output(name, alpha) else pre
        except Exception:  # noqa: BLE001
            pass
    if meta:
        x, w, g, s = to_meta(x), to_meta(w), to_meta(g), to_meta(s)
    elif c["saved"]["device"] == "meta":
        s = to_meta(s)
    if shape is not None:
        if list(g.shape) != shape:
            ex.bad(f"grad_out shape {tuple(g.shape)} != {tuple(shape)}", "grad_out")
        check_like(ex, "grad_out", g, x, "input")
        if spec is not None and spec.saves != "nothing":
            check_saved(ex, "saved", s, shape, x)
        elif s.device != x.device:
            ex.maybe("identity ignores saved (on another device)", "saved", "device")

    def call():
        return list(OPS._linear_act_bwd(g, x, w, s, name, alpha, mask))

    def check(outs):
        dt = x.dtype
        dev = _out_device(x, w, g, s) if spec.saves != "nothing" else _out_device(x, w, g)
        return _check_many("grads", outs, _linear_bwd_ref(name, alpha, g, x, w, s, mask, dt, dev), dt, dev)

    return call, ex, check


# ------------------------------------------------------------------ mlp
def _mlp_expect(ex, x, ws, bs, acts, alphas):
    """check_mlp_args of csrc/ops.cpp; True when the layer structure is sound."""
    L = len(ws)
    if L == 0:
        ex.bad("no layers", "layer")
        return False
    if not len(bs) == len(acts) == len(alphas) == L:
        ex.bad(f"list lengths {L}, {len(bs)}, {len(acts)}, {len(alphas)}", "layer", "entry")
        return False
    k = None
    for i in range(L):
        where = f"layer {i}: "
        check_activation_args(ex, acts[i], alphas[i], where)
        if i == 0:
            check_linear(ex, x, ws[0], bs[0], where)
        else:
            check_layer(ex, x, k, ws[i], bs[i], where)
        k = ws[i].shape[0] if ws[i].dim() == 2 else None
    return x.dim() >= 1 and all(w.dim() == 2 for w in ws)


def _mlp_bwd_ref(g, x, ws, bs, saved, acts, alphas, input_grad, dt, dev):
    L = len(ws)
    shapes = ([list(x.shape) if input_grad else [0]] + [list(w.shape) for w in ws]
              + [[w.shape[0]] if b is not None else [0] for w, b in zip(ws, bs)])
    refs = [_unknown(sh) for sh in shapes]
    if not input_grad:
        refs[0] = EMPTY
    for i, b in enumerate(bs):
        if b is None:
            refs[1 + L + i] = EMPTY
    if dev != "cpu":
        return refs
    m = math.prod(x.shape[:-1])
    gev = EV(g.detach().double().reshape(m, ws[-1].shape[0]))
    for j in reversed(range(L)):
        w = ws[j].detach().double()
        n, k = w.shape
        xj = x if j == 0 else saved[2 * (j - 1)]
        spec = torch_act.ACTIVATIONS[acts[j]]
        s = None if spec.saves == "nothing" else saved[2 * j] if uses_output(acts[j], alphas[j]) else saved[2 * j + 1]
        dz = ref_dz(acts[j], alphas[j], None if s is None else s.detach().double().reshape(m, n), gev, dt)
        if dz is None:
            break
        dx, dw, db = ref_matmul_bwd(dz, xj.detach().double().reshape(m, k), w, dt)
        refs[1 + j] = dw
        if bs[j] is not None:
            refs[1 + L + j] = db
        if j == 0 and input_grad:
            refs[0] = EV(dx.v.reshape(x.shape), dx.e.reshape(x.shape))
        gev = dx.rounded(dt)
    return refs


def _mlp_args(c, meta):
    x = _t(c["x"], meta)
    return x, [_t(w, meta) for w in c["ws"]], [_t(b, meta) for b in c["bs"]], list(c["acts"]), list(c["alphas"])


def prep_mlp(c, meta):
    x, ws, bs, acts, alphas = _mlp_args(c, meta)
    ex = Expect("mlp")
    _mlp_expect(ex, x, ws, bs, acts, alphas)
    entry = c["entry"]
    rx, rw, rb = c["requires_grad"]

    def call():
        if entry == "op":
            return [OPS.mlp(x, ws, bs, acts, alphas)]
        if entry == "wrapper":
            default = len(alphas) == len(ws) and all(a is None for a in alphas)
            return [torch_act.mlp(x, ws, bs, acts, None if default else alphas)]
        if entry == "fwd":
            return list(OPS._mlp_fwd(x, ws, bs, acts, alphas))
        xx, ww, bb = _leaf(x, rx), [_leaf(w, rw) for w in ws], [_leaf(b, rb) for b in bs]
        out = OPS.mlp(xx, ww, bb, acts, alphas)
        if out.requires_grad:
            out.backward(_grad_for(out, c["gseed"]))
        return [out, xx.grad] + [w.grad for w in ww] + [b.grad for b in bb if b is not None]

    def check(outs):
        dt, dev = x.dtype, _out_device(x, *ws, *bs)
        L, lead = len(ws), list(x.shape[:-1])
        refs = _forward_ref(x, list(zip(ws, bs, acts, alphas)), dt) if dev == "cpu" else [None] * L
        ys = [r[0] if r else _unknown(lead + [w.shape[0]]) for r, w in zip(refs, ws)]
        zs = [r[1] if r else _unknown(lead + [w.shape[0]]) for r, w in zip(refs, ws)]
        if entry in ("op", "wrapper"):
            return [p for p in [compare("out", outs[0], ys[-1], dt, dev)] if p]
        if entry == "fwd":
            want = [r for y, z, a, al in zip(ys, zs, acts, alphas) for r in (y, EMPTY if uses_output(a, al) else z)]
            return _check_many("outputs", outs, want, dt, dev)
        probs = [p for p in [compare("out", outs[0], ys[-1], dt, dev)] if p]
        g = _grad_for(outs[0], c["gseed"])
        d = lambda t: None if t is None else t.detach()  # noqa: E731
        saved = OPS._mlp_fwd(d(x), [d(w) for w in ws], [d(b) for b in bs], acts, alphas)
        refs = _mlp_bwd_ref(g, x, ws, bs, saved, acts, alphas, True, dt, dev)
        got = iter(outs[2:])
        for i, (what, r, flag) in enumerate([("x.grad", refs[0], rx)] + [(f"w{i}.grad", r, rw) for i, r in
                                             enumerate(refs[1:1 + L])]):
            o = outs[1] if i == 0 else next(got)
            if flag:
                probs += [p for p in [compare(what, o, r, dt, dev)] if p]
        for i, b in enumerate(bs):
            if b is not None:
                o = next(got)
                if rb:
                    probs += [p for p in [compare(f"b{i}.grad", o, refs[1 + L + i], dt, dev)] if p]
        return probs

    return call, ex, check


def prep_mlp_bwd(c, meta):
    x, ws, bs, acts, alphas = _mlp_args(c, False)
    g = _t(c["grad_out"], False)
    saved = [_t(s, False) for s in c["saved"]]
    ex = Expect("mlp")
    sound = _mlp_expect(ex, x, ws, bs, acts, alphas)
    L = len(ws)
    lead = list(x.shape[:-1])
    outs = [lead + [w.shape[0]] for w in ws] if sound else []
    if sound and c["saved_from_fwd"] and not ex.hard and len(saved) == 2 * L:
        try:
            fwd = OPS._mlp_fwd(x, ws, bs, acts, alphas)
            for i, (sp, f) in enumerate(zip(c["saved"], fwd)):
                if sp["shape"] == outs[i // 2] and sp["dtype"] == c["x"]["dtype"] and f.device.type == "cpu":
                    saved[i] = f
        except Exception:  # noqa: BLE001
            pass
    if meta:
        x, g = to_meta(x), to_meta(g)
        ws, bs, saved = [to_meta(w) for w in ws], [to_meta(b) for b in bs], [to_meta(s) for s in saved]
    else:
        saved = [to_meta(s) if sp["device"] == "meta" else s for s, sp in zip(saved, c["saved"])]
    if len(saved) != 2 * L:
        ex.bad(f"{len(saved)} saved tensors for {L} layers", "saved")
    if sound and L:
        if list(g.shape) != outs[-1]:
            ex.bad(f"grad_out shape {tuple(g.shape)} != {tuple(outs[-1])}", "grad_out")
        check_like(ex, "grad_out", g, x, "input")
        for j in range(min(L, len(saved) // 2)):
            if acts[j] not in torch_act.ACTIVATIONS:
                continue
            uses_y = uses_output(acts[j], alphas[j])
            strict_y = j < L - 1 or (uses_y and torch_act.ACTIVATIONS[acts[j]].saves != "nothing")
            check_saved(ex, "saved", saved[2 * j], outs[j], x, soft=not strict_y)
            if not uses_y:
                check_saved(ex, "saved", saved[2 * j + 1], outs[j], x)
            elif saved[2 * j + 1].device != x.device:
                ex.maybe("unused saved tensor on another device", "saved", "device")
    input_grad = c["input_grad"]

    def call():
        return list(OPS._mlp_bwd(g, x, ws, bs, saved, acts, alphas, input_grad))

    def check(outs_):
        dt, dev = x.dtype, _out_device(x, g, *ws, *bs, *saved)
        return _check_many("grads", outs_, _mlp_bwd_ref(g, x, ws, bs, saved, acts, alphas, input_grad, dt, dev),
                           dt, dev)

    return call, ex, check


# ------------------------------------------------------------------ schema-level type confusion
SCHEMA_ARGS = {
    "linear_act": ["input", "weight", "bias", "activation", "alpha"],
    "_linear_act_fwd": ["input", "weight", "bias", "activation", "alpha"],
    "_linear_act_bwd": ["grad_out", "input", "weight", "saved", "activation", "alpha", "output_mask"],
    "activation": ["input", "activation", "alpha"],
    "_activation_bwd": ["grad_out", "saved", "activation", "alpha"],
    "mlp": ["input", "weights", "biases", "activations", "alphas"],
    "_mlp_fwd": ["input", "weights", "biases", "activations", "alphas"],
    "_mlp_bwd": ["grad_out", "input", "weights", "biases", "saved", "activations", "alphas", "input_grad"],
    "mlp_flat": ["input", "params", "sizes", "bias", "activations", "alphas"],
    "_mlp_flat_bwd": ["grad_out", "input", "params", "sizes", "bias", "saved", "activations", "alphas",
                      "input_grad"],
}


def prep_argtypes(c, meta):
    dev = "meta" if meta else "cpu"
    gen = torch.Generator().manual_seed(c["gseed"])
    r = lambda *s: torch.randn(*s, generator=gen).to(dev)  # noqa: E731
    x, w, b, g = r(3, 4), r(5, 4), r(5), r(3, 5)
    act = c["act"]
    args = {"input": x, "weight": w, "bias": b, "activation": act, "alpha": None, "grad_out": g,
            "saved": r(3, 5), "output_mask": [True, True, True], "weights": [w], "biases": [b],
            "activations": [act], "alphas": [None], "input_grad": True,
            "params": torch.cat([w.reshape(-1), b]), "sizes": [4, 5], "bias": [True]}
    if c["op"] in ("_mlp_bwd", "_mlp_flat_bwd"):
        args["saved"] = list(OPS._mlp_fwd(x, [w], [b], [act], [None]))
    if c["op"] in ("activation", "_activation_bwd"):
        args["grad_out"] = g
    args[c["arg"]] = c["value"]
    op = getattr(OPS, c["op"])
    ex = Expect(c["op"].strip("_").replace("_fwd", "").replace("_bwd", ""))
    if c["arg"] == "saved" and c["op"] not in ("_mlp_bwd", "_mlp_flat_bwd") and act == "identity":
        ex.maybe("identity ignores saved", "saved")  # (None is an undefined tensor)
    else:
        ex.bad(f"{c['arg']}={c['value']!r}", c["arg"])

    def call():
        res = op(*[args[a] for a in SCHEMA_ARGS[c["op"]]])
        return list(res) if isinstance(res, (tuple, list)) else [res]

    return call, ex, lambda outs: []


PREPARE = {
    "activation": prep_activation, "activation_bwd": prep_activation_bwd, "linear": prep_linear,
    "linear_bwd": prep_linear_bwd, "mlp": prep_mlp, "mlp_bwd": prep_mlp_bwd, "argtypes": prep_argtypes,
}
