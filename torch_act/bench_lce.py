"""The ``lce`` benchmark case: linear + cross-entropy forward+backward on an
LLM-head shape (4096 tokens x 1024 hidden -> 32000 classes by default), time
and peak memory, for

  * eager ``F.cross_entropy(F.linear(x, w), t)`` (materialises the logits),
  * torch's chunked ``F.linear_cross_entropy(..., options=LinearCrossEntropyOptions())``
    (its automatic chunk size and accumulation policy), when torch has it,
  * ``torch_act.linear_cross_entropy``.

Each contender runs in its own subprocess (``python -m torch_act.bench_lce
--child ...``), so one's allocations cannot hide in another's heap.  Peak
memory is the kernel's own count: the subprocess creates x, w, t, reads its
resident set size (VmRSS), resets the peak (writing 5 to
/proc/self/clear_refs resets VmHWM), runs a warm-up step and a timed step
(the gradients of each step set to None first) and reads the peak resident
size (VmHWM).  "Peak above inputs" is that peak minus the RSS with the
inputs alone: it counts everything a step allocates, the gradients
included, plus what stays resident from the warm-up (caches, thread-local
workspaces).  ATen's CPU allocator frees large blocks to the OS, so RSS sees
each step's real high-water mark.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONTENDERS = ["eager", "torch chunked", "torch_act"]


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def child(contender, dtype_name, M, K, V, steps, threads):
    import torch
    import torch.nn.functional as F

    import torch_act

    if threads:
        torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(M, K, generator=g).to(dtype).requires_grad_()
    w = (torch.randn(V, K, generator=g) / K ** 0.5).to(dtype).requires_grad_()
    t = torch.randint(0, V, (M,), generator=g)
    if contender == "eager":
        def loss():
            return F.cross_entropy(F.linear(x, w), t)
    elif contender == "torch chunked":
        opts = torch.nn.LinearCrossEntropyOptions()

        def loss():
            return F.linear_cross_entropy(x, w, t, options=opts)
    else:
        def loss():
            return torch_act.linear_cross_entropy(x, w, t)
    base = _status("VmRSS")
    _reset_peak()
    times, value = [], None
    for _ in range(1 + steps):
        x.grad = w.grad = None
        t0 = time.perf_counter()
        out = loss()
        out.backward()
        times.append(time.perf_counter() - t0)
        value = out.item()
    peak = _status("VmHWM")
    grads = x.grad.nbytes + w.grad.nbytes
    return {"times": times[1:], "peak_extra": peak - base, "grads": grads, "loss": value,
            "inputs": x.nbytes + w.nbytes + t.nbytes}


def run_contender(contender, dtype_name, M, K, V, steps, threads):
    cmd = [sys.executable, "-m", "torch_act.bench_lce", "--child", contender, "--dtype", dtype_name,
           "--shape", f"{M},{K},{V}", "--steps", str(steps), "--threads", str(threads or 0)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"lce benchmark child {contender} {dtype_name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def has_torch_chunked():
    import torch

    return hasattr(torch.nn, "LinearCrossEntropyOptions")


def run(dtype_names, rounds, threads, quick=False):
    """One row per (dtype, contender): dict with time (median s), peak memory, loss."""
    M, K, V = (512, 256, 4000) if quick else (4096, 1024, 32000)
    contenders = [c for c in CONTENDERS if c != "torch chunked" or has_torch_chunked()]
    rows = []
    for dn in dtype_names:
        load0 = os.getloadavg()[0]
        res = {c: [] for c in contenders}
        for _ in range(max(1, rounds)):  # rounds interleave the contenders
            for c in contenders:
                res[c].append(run_contender(c, dn, M, K, V, 1, threads))
        base = statistics.median(t for r in res["eager"] for t in r["times"])
        base_peak = max(r["peak_extra"] for r in res["eager"])
        for c in contenders:
            t = statistics.median(x for r in res[c] for x in r["times"])
            peak = max(r["peak_extra"] for r in res[c])
            r0 = res[c][0]
            rows.append(dict(dtype=dn, contender=c, shape=(M, K, V), time=t, vs_eager=base / t,
                             gflops=6 * M * K * V / t / 1e9, peak_extra=peak, grads=r0["grads"],
                             peak_vs_eager=peak / base_peak,
                             peak_beyond_grads_vs_eager=(peak - r0["grads"]) / (base_peak - r0["grads"]),
                             loss=r0["loss"], load=(load0, os.getloadavg()[0]), rounds=max(1, rounds)))
            print(f"{dn:9s} lce {M}x{K}->{V} fwd+bwd  {c:14s} {t * 1e3:9.1f} ms ({base / t:4.2f}x)  "
                  f"peak above inputs {peak / 2**20:7.1f} MiB ({100 * peak / base_peak:5.1f}% of eager; "
                  f"gradients {r0['grads'] / 2**20:.1f} MiB)  loss {r0['loss']:.5f}", flush=True)
    return rows


def markdown(rows):
    if not rows:
        return []
    M, K, V = rows[0]["shape"]
    out = ["", f"## Linear + cross-entropy ({M} tokens x {K} hidden -> {V} classes, forward+backward)", "",
           "Each contender in its own process, one warm-up and one timed step per round "
           f"({rows[0]['rounds']} round(s), median); peak = VmHWM minus the RSS with the inputs alone "
           "(torch_act/bench_lce.py), gradients included (they are the same for all). "
           f"Load average (1 min) at the start and end of the {rows[0]['dtype']} runs: "
           f"{rows[0]['load'][0]:.1f}, {rows[0]['load'][1]:.1f}; of the last: "
           f"{rows[-1]['load'][0]:.1f}, {rows[-1]['load'][1]:.1f}.", "",
           "| dtype | contender | time (ms) | vs eager | GFLOP/s | peak above inputs (MiB) | % of eager | "
           "beyond the gradients: % of eager's |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['dtype']} | {r['contender']} | {r['time'] * 1e3:.1f} | {r['vs_eager']:.2f}x | "
                   f"{r['gflops']:.1f} | {r['peak_extra'] / 2**20:.1f} | {100 * r['peak_vs_eager']:.1f}% | "
                   f"{100 * r['peak_beyond_grads_vs_eager']:.1f}% |")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="one lce benchmark contender (used by torch_act.bench)")
    p.add_argument("--child", required=True, choices=CONTENDERS)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--shape", default="4096,1024,32000")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    M, K, V = (int(v) for v in a.shape.split(","))
    print(json.dumps(child(a.child, a.dtype, M, K, V, a.steps, a.threads)))
