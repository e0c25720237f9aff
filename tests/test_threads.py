"""torch_act from many Python threads, and across intra-op thread counts.

* 8 Python threads call forward and backward of linear_act / activation / mlp
  at the same time, on different shapes, activations and dtypes (the direct
  small-shape path, the packed GEMM path, the narrow-layer backward, rowwise
  softmax), and get bit for bit what the same calls give made one at a time.
* Forward outputs and every gradient are bitwise the same with
  torch.set_num_threads(1) and (2): the kernels' reductions do not depend on
  how many threads ran them.
"""
import threading

import pytest
import torch

import torch_act

# (op, shape, activation, dtype): linear_act shape = (M, K, N), activation (M, N), mlp (M, sizes...)
CASES = [
    ("linear_act", (64, 2, 10), "relu", torch.float32),            # the document's first layer (narrow)
    ("linear_act", (64, 10, 5), "sigmoid", torch.float32),
    ("linear_act", (4096, 10, 5), "tanh", torch.float32),          # narrow layer, many row blocks
    ("linear_act", (300, 96, 80), "gelu", torch.float32),          # packed GEMM path
    ("linear_act", (257, 130, 70), "leaky_relu", torch.float32),   # odd tile edges
    ("linear_act", (128, 64, 96), "softmax", torch.float32),       # rowwise epilogue
    ("linear_act", (96, 48, 40), "log_softmax", torch.float64),
    ("linear_act", (200, 72, 136), "silu", torch.bfloat16),
    ("linear_act", (33, 17, 9), "elu", torch.float64),
    ("linear_act", (512, 128, 64), "identity", torch.float32),
    ("activation", (300, 70), "mish", torch.float32),
    ("activation", (64, 129), "softmax", torch.float32),
    ("activation", (1000, 33), "hardswish", torch.bfloat16),
    ("mlp", (256, 2, 10, 5, 1), ("relu", "sigmoid", "identity"), torch.float32),
    ("mlp", (128, 40, 64, 32), ("gelu_tanh", "log_softmax"), torch.float32),
    ("mlp", (77, 16, 24, 8), ("softplus", "tanh"), torch.float64),
]


def _inputs(case, seed):
    op, shape, act, dtype = case
    g = torch.Generator().manual_seed(seed)

    def rnd(*s, scale=1.0):
        return (torch.randn(*s, generator=g, dtype=torch.float64) * scale).to(dtype).requires_grad_()

    if op == "linear_act":
        m, k, n = shape
        return [rnd(m, k), rnd(n, k, scale=k ** -0.5), rnd(n)]
    if op == "activation":
        return [rnd(*shape, scale=2.0)]
    m, *sizes = shape
    ts = [rnd(m, sizes[0])]
    for a, b in zip(sizes, sizes[1:]):
        ts += [rnd(b, a, scale=a ** -0.5), rnd(b)]
    return ts


def run_case(case, seed):
    """Forward, then backward with a fixed upstream gradient: (out, *grads)."""
    op, _, act, _ = case
    ts = _inputs(case, seed)
    if op == "linear_act":
        out = torch_act.linear_act(*ts, act)
    elif op == "activation":
        out = torch_act.activation(ts[0], act)
    else:
        out = torch_act.mlp(ts[0], ts[1::2], ts[2::2], list(act))
    g = torch.Generator().manual_seed(seed + 1)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype)
    out.backward(grad)
    return [out.detach()] + [t.grad for t in ts]


def bits(t):
    """The tensor's raw bits (so NaN equals itself, and -0.0 differs from 0.0)."""
    return t.contiguous().view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def assert_bitwise(got, want, what):
    assert len(got) == len(want), what
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape, what
        assert torch.equal(bits(a), bits(b)), \
            f"{what}: tensor {i} differs (max abs diff {(a.double() - b.double()).abs().max().item():.3g})"


def test_eight_threads_match_one_at_a_time():
    serial = [run_case(c, seed) for seed, c in enumerate(CASES)]
    n_threads, rounds = 8, 2
    results = {}
    errors = []
    start = threading.Barrier(n_threads)

    def worker(tid):
        try:
            start.wait(timeout=60)
            for r in range(rounds):
                # each thread walks the cases from its own starting point, so at
                # any moment different shapes / activations run side by side
                for j in range(len(CASES)):
                    i = (j + tid * 2 + r) % len(CASES)
                    results[(tid, r, i)] = run_case(CASES[i], i)
        except Exception as e:  # reported below, with the thread id
            errors.append((tid, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    assert not errors, errors
    assert len(results) == n_threads * rounds * len(CASES)
    for (tid, r, i), got in sorted(results.items()):
        assert_bitwise(got, serial[i], f"thread {tid} round {r} case {CASES[i]}")


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}-{'x'.join(map(str, c[1]))}-{str(c[3])[6:]}")
def test_gradients_bitwise_equal_across_thread_counts(case, restore_threads):
    seed = CASES.index(case)
    torch.set_num_threads(1)
    one = run_case(case, seed)
    torch.set_num_threads(2)
    two = run_case(case, seed)
    assert_bitwise(two, one, f"{case}: 2 threads vs 1")


def test_kernels_really_use_two_threads(restore_threads):
    # the comparison above means something only if a parallel region really
    # runs on two threads when asked to
    torch.set_num_threads(2)
    width = torch_act._C.cpu_parallel_width()
    if width < 2:
        pytest.skip(f"a parallel region runs on {width} thread(s) here")
    assert width == 2
