"""Hypothesis strategies for the op fuzz: one per op family, each drawing a
*case*, plain JSON data (tensor specs from tests/fuzz_tensors.py, activation
names, alphas, lists, masks) that tests/fuzz_families.py turns into a call.

Mostly valid arguments (so values get compared), and with some probability
each: rank 0 or extra ranks, sizes 0..70 and mismatched, every dtype
(integer, bool, complex, float8 too), non-contiguous / expanded / zero-stride /
offset views, meta tensors mixed with CPU ones, NaN / inf / negative / huge /
tiny alphas, unknown activation names, mismatched list lengths (mlp), wrong
grad_out and saved tensors (the backward ops).
"""
import math
import os

from hypothesis import strategies as st

import torch_act
from fuzz_tensors import FLOATS, LAYOUTS, OTHER_DTYPES, spec

ACTS = list(torch_act.ACTIVATIONS)
BAD_NAMES = ["no_such_act", "Relu", "", "relu ", "soft max", "gelu\x00"]
NAN, INF = float("nan"), float("inf")
ALPHAS = [0.2, 0.5, 1.0, 2.5, -0.3, -2.0, 1e-3]
ODD_ALPHAS = [0.0, -0.0, NAN, INF, -INF, 1e30, -1e30, 1e-30, 5e-324, 3.4028234663852886e38,
              3.5e38, -3.5e38, 1e300]
ISAS = torch_act.supported_cpu_isas()


def chance(p):
    """True with probability about p."""
    return st.integers(0, 999).map(lambda i: i < p * 1000)


dim = st.one_of(st.integers(0, 8), st.integers(0, 70), st.sampled_from([1, 2, 16, 17, 33, 64, 65, 70]))
seeds = st.integers(0, 2**31 - 1)


@st.composite
def act_and_alpha(draw):
    name = draw(st.sampled_from(BAD_NAMES)) if draw(chance(0.04)) else draw(st.sampled_from(ACTS))
    has = name in torch_act.ACTIVATIONS and torch_act.ACTIVATIONS[name].has_alpha
    r = draw(st.integers(0, 99))
    if r < (45 if has else 90):
        alpha = None
    elif r < 80:
        alpha = draw(st.sampled_from(ALPHAS))
    elif r < 90:
        alpha = draw(st.floats(-10, 10, allow_nan=False))
    else:
        alpha = draw(st.sampled_from(ODD_ALPHAS))
    return name, alpha


@st.composite
def dtypes(draw, p_other=0.07):
    return draw(st.sampled_from(OTHER_DTYPES)) if draw(chance(p_other)) else draw(st.sampled_from(FLOATS))


@st.composite
def like(draw, dtype, p=0.04):
    """Usually `dtype`, sometimes any other."""
    return draw(st.sampled_from(FLOATS + OTHER_DTYPES)) if draw(chance(p)) else dtype


def fit(shape, cap, keep=()):
    """Shrink the largest dims (not those in `keep`) until prod(shape) <= cap."""
    shape = list(shape)
    while math.prod(shape) > cap:
        i = max((j for j in range(len(shape)) if j not in keep), key=lambda j: shape[j], default=None)
        if i is None or shape[i] <= 1:
            break
        shape[i] //= 2
    return shape


@st.composite
def tensor(draw, shape, dtype, device="cpu", huge=False):
    scales = [0.5, 1.0, 1.0, 3.0] + ([30.0, 1e30] if huge else [])
    # (huge: also values around a large offset, where softmax / log_softmax lose precision
    # unless they subtract the row maximum first)
    shifts = [0.0] * 6 + ([100.0, 1e4, -1e4] if huge else [])
    return spec(shape, dtype, device, layout=draw(st.sampled_from(("c", "c", "c") + LAYOUTS)),
                seed=draw(seeds), scale=draw(st.sampled_from(scales)),
                special=draw(st.sampled_from([0.0, 0.0, 0.0, 0.02, 0.3])), shift=draw(st.sampled_from(shifts)),
                special_set=draw(st.sampled_from(["all", "all", "nan", "inf", "kinks"])))


@st.composite
def devices(draw, n):
    """n devices: all cpu, or (sometimes) a mix of cpu and meta."""
    if draw(chance(0.88)):
        return ["cpu"] * n
    return [draw(st.sampled_from(["cpu", "meta"])) for _ in range(n)]


@st.composite
def other_shape(draw, shape):
    """A shape that is not `shape`: one size changed, or a rank added / removed."""
    shape = list(shape)
    r = draw(st.integers(0, 2))
    if r == 0 and shape:
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = draw(st.sampled_from([d for d in (0, 1, shape[i] - 1, shape[i] + 1, 2 * shape[i] + 3)
                                         if d >= 0 and d != shape[i]]))
    elif r == 1 or not shape:
        shape = shape + [draw(st.integers(1, 3))]
    else:
        shape = shape[:-1]
    return shape


@st.composite
def common(draw, family):
    isa = os.environ.get("TORCH_ACT_CPU_ISA") or draw(st.sampled_from(ISAS))
    return {"family": family, "isa": isa, "threads": draw(st.sampled_from([1, 2])), "gseed": draw(seeds)}


@st.composite
def activation_case(draw):
    c = draw(common("activation"))
    c["act"], c["alpha"] = draw(act_and_alpha())
    dt = draw(dtypes())
    rank = draw(st.integers(0, 4))
    shape = fit([draw(dim) for _ in range(rank)], 4096)
    c["x"] = draw(tensor(shape, dt, huge=True))
    c["entry"] = draw(st.sampled_from(["op", "wrapper", "grad"]))
    return c


@st.composite
def activation_bwd_case(draw):
    c = draw(common("activation_bwd"))
    c["act"], c["alpha"] = draw(act_and_alpha())
    dt = draw(dtypes())
    rank = draw(st.integers(0, 4))
    shape = fit([draw(dim) for _ in range(rank)], 4096)
    dev = draw(devices(2))
    c["grad_out"] = draw(tensor(shape, dt, dev[0]))
    sshape = draw(other_shape(shape)) if draw(chance(0.06)) else shape
    c["saved"] = draw(tensor(sshape, draw(like(dt)), dev[1], huge=True))
    # the saved tensor as the forward makes it (the output, for activations that save it)
    c["saved_from_fwd"] = draw(chance(0.5))
    return c


@st.composite
def linear_shapes(draw):
    """(input shape, N, K)."""
    if draw(chance(0.04)):
        return [], draw(dim), draw(dim)
    k, n = draw(dim), draw(dim)
    lead = [draw(dim) for _ in range(draw(st.integers(0, 3)))]
    lead = fit(lead, max(1, min(2000, 20000 // max(k, n, 1), 400000 // max(k * n, 1))))
    return lead + [k], n, k


@st.composite
def weight_and_bias(draw, n, k, dt, devs, bias_p=0.7):
    wshape = [n, k]
    if draw(chance(0.06)):
        wshape = draw(st.one_of(st.just([n, k + 1]), st.just([n, max(k - 1, 0)]), st.just([n]), st.just([]),
                                st.just([1, n, k]), st.just([k, n])))
    w = draw(tensor(wshape, draw(like(dt)), devs[0]))
    b = None
    if draw(chance(bias_p)):
        bshape = [n]
        if draw(chance(0.06)):
            bshape = draw(st.sampled_from([[n + 1], [1, n], [], [n, 1], [0]]))
        b = draw(tensor(bshape, draw(like(dt)), devs[1]))
    return w, b


@st.composite
def linear_case(draw):
    c = draw(common("linear"))
    c["act"], c["alpha"] = draw(act_and_alpha())
    xshape, n, k = draw(linear_shapes())
    dt = draw(dtypes())
    dev = draw(devices(3))
    c["x"] = draw(tensor(xshape, dt, dev[0]))
    c["w"], c["b"] = draw(weight_and_bias(n, k, dt, dev[1:]))
    c["entry"] = draw(st.sampled_from(["op", "wrapper", "fwd", "grad"]))
    c["requires_grad"] = [draw(st.booleans()) for _ in range(3)]
    return c


@st.composite
def linear_bwd_case(draw):
    c = draw(common("linear_bwd"))
    c["act"], c["alpha"] = draw(act_and_alpha())
    xshape, n, k = draw(linear_shapes())
    dt = draw(dtypes())
    dev = draw(devices(4))
    c["x"] = draw(tensor(xshape, dt, dev[0]))
    c["w"], c["b"] = draw(weight_and_bias(n, k, dt, [dev[1], dev[1]], bias_p=0.5))  # b: for saved only
    oshape = xshape[:-1] + [n]
    gshape = draw(other_shape(oshape)) if draw(chance(0.06)) else oshape
    c["grad_out"] = draw(tensor(gshape, draw(like(dt)), dev[2]))
    sshape = draw(other_shape(oshape)) if draw(chance(0.06)) else oshape
    c["saved"] = draw(tensor(sshape, draw(like(dt)), dev[3]))
    c["saved_from_fwd"] = draw(chance(0.5))
    c["mask"] = [draw(st.booleans()) for _ in range(3)]
    return c


@st.composite
def mlp_layers(draw, dt, devs):
    """(input spec, weights, biases, activations, alphas) with occasional faults."""
    L = 0 if draw(chance(0.03)) else draw(st.integers(1, 4))
    sizes = [draw(dim) for _ in range(L + 1)]
    if draw(chance(0.04)):
        xshape = []
    else:
        lead = [draw(dim) for _ in range(draw(st.integers(0, 3)))]
        widest = max(sizes + [1])
        lead = fit(lead, max(1, min(1000, 20000 // widest, 200000 // max(widest * widest, 1))))
        xshape = lead + [sizes[0]]
    x = draw(tensor(xshape, dt, devs[0]))
    ws, bs, acts, alphas = [], [], [], []
    for i in range(L):
        w, b = draw(weight_and_bias(sizes[i + 1], sizes[i], dt, [devs[1], devs[2]], bias_p=0.6))
        # keep later layers' values moderate: w scaled like nn.Linear's init
        w["scale"] = min(w["scale"], 1.0) / max(1.0, math.sqrt(sizes[i]))
        ws.append(w)
        bs.append(b)
        a, al = draw(act_and_alpha())
        acts.append(a)
        alphas.append(al)
    if draw(chance(0.05)):  # one list of the wrong length
        which = draw(st.sampled_from([bs, acts, alphas]))
        if which and draw(st.booleans()):
            which.pop()
        else:
            which.append(None if which is not acts else "relu")
    return x, ws, bs, acts, alphas


@st.composite
def mlp_case(draw):
    c = draw(common("mlp"))
    dt = draw(dtypes())
    c["x"], c["ws"], c["bs"], c["acts"], c["alphas"] = draw(mlp_layers(dt, draw(devices(3))))
    c["entry"] = draw(st.sampled_from(["op", "wrapper", "fwd", "grad"]))
    c["requires_grad"] = [draw(st.booleans()) for _ in range(3)]  # input, weights, biases
    return c


@st.composite
def mlp_bwd_case(draw):
    c = draw(common("mlp_bwd"))
    dt = draw(dtypes(p_other=0.03))
    dev = draw(devices(5))
    c["x"], c["ws"], c["bs"], c["acts"], c["alphas"] = draw(mlp_layers(dt, dev))
    lead = c["x"]["shape"][:-1]
    outs = [lead + [w["shape"][0] if w["shape"] else 0] for w in c["ws"]]
    oshape = outs[-1] if outs else lead + [1]
    gshape = draw(other_shape(oshape)) if draw(chance(0.05)) else oshape
    c["grad_out"] = draw(tensor(gshape, draw(like(dt, 0.03)), dev[3]))
    # saved: [y_0, s_0, y_1, s_1, ...] from the real forward, or random tensors of those
    # shapes; sometimes one entry wrong, or one entry too many / few
    saved = []
    for i, shape in enumerate(outs):
        for j in range(2):
            t = draw(tensor(shape, dt, dev[4]))
            if draw(chance(0.03)):
                t["shape"] = draw(other_shape(shape))
            if draw(chance(0.03)):
                t["dtype"] = draw(st.sampled_from(FLOATS + OTHER_DTYPES))
            saved.append(t)
    if draw(chance(0.04)):
        if saved and draw(st.booleans()):
            saved.pop()
        else:
            saved.append(draw(tensor(oshape, dt)))
    c["saved"] = saved
    c["saved_from_fwd"] = draw(chance(0.6))
    c["input_grad"] = draw(st.booleans())
    return c


# argument type confusion at the schema: (op, argument, replacement)
BAD_ARGS = [
    ("linear_act", "input", None), ("linear_act", "input", 3), ("linear_act", "weight", "w"),
    ("linear_act", "weight", None), ("linear_act", "activation", 3), ("linear_act", "activation", None),
    ("linear_act", "alpha", "x"), ("linear_act", "alpha", [1.0]), ("linear_act", "bias", 2),
    ("activation", "input", [1.0]), ("activation", "activation", 1.5), ("activation", "alpha", "1"),
    ("_linear_act_fwd", "bias", "b"), ("_linear_act_fwd", "activation", ["relu"]),
    ("_linear_act_bwd", "output_mask", [True, False]), ("_linear_act_bwd", "output_mask", None),
    ("_linear_act_bwd", "output_mask", [True] * 4), ("_linear_act_bwd", "saved", None),
    ("_linear_act_bwd", "grad_out", 1.0),
    ("_activation_bwd", "saved", None), ("_activation_bwd", "grad_out", "g"),
    ("mlp", "weights", None), ("mlp", "weights", "w"), ("mlp", "weights", [None]),
    ("mlp", "activations", "relu"), ("mlp", "activations", [3]), ("mlp", "alphas", ["x"]),
    ("mlp", "biases", [3]), ("mlp", "biases", None),
    ("_mlp_fwd", "alphas", None), ("_mlp_fwd", "weights", [1.0]),
    ("_mlp_bwd", "saved", None), ("_mlp_bwd", "saved", [None, None]), ("_mlp_bwd", "input_grad", "yes"),
    ("_mlp_bwd", "grad_out", None),
    ("mlp_flat", "params", None), ("mlp_flat", "params", [1.0]), ("mlp_flat", "sizes", None),
    ("mlp_flat", "sizes", ["a", "b"]), ("mlp_flat", "bias", None), ("mlp_flat", "bias", ["x"]),
    ("mlp_flat", "activations", "relu"), ("_mlp_flat_bwd", "saved", None),
    ("_mlp_flat_bwd", "params", "p"), ("_mlp_flat_bwd", "input_grad", "yes"),
]


@st.composite
def argtypes_case(draw):
    c = draw(common("argtypes"))
    c["op"], c["arg"], c["value"] = draw(st.sampled_from(BAD_ARGS))
    c["act"] = draw(st.sampled_from(ACTS))
    return c


STRATEGIES = {
    "activation": activation_case, "activation_bwd": activation_bwd_case, "linear": linear_case,
    "linear_bwd": linear_bwd_case, "mlp": mlp_case, "mlp_bwd": mlp_bwd_case, "argtypes": argtypes_case,
}
