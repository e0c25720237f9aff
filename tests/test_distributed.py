"""torch_act under torch.distributed, with real processes (2 ranks, gloo, CPU, 127.0.0.1).

One launch of two worker processes (this file, run as a script) runs every
scenario and saves what each rank computed; the tests compare it with the
same computation made here in one process, in float64:

* DDP: a model of torch_act.nn.Linear layers (with activations) and a
  torch_act.nn.MLP trained several steps on half a batch per rank equals the
  model trained on the whole batch, with find_unused_parameters off and on,
  and with no_sync gradient accumulation.
* FSDP2 (fully_shard): the same, and its sharded checkpoint, saved with
  torch.distributed.checkpoint, loads into a plain (non-sharded) model here.
* Tensor parallel (DTensor, torch_act/distributed.py's strategies):
  Colwise -> Rowwise plans with identity, non-linear and softmax activations
  on the row-parallel layer, forward and gradients; ColwiseParallel keeps the
  fused op local (no collective, output Shard(-1)); activation / mlp on
  sharded DTensors; the public ops under inference_mode; every plan counts
  the collectives it issues, so a plan that should stay local is proven to.
* examples/ddp_train.py runs under torchrun (its MLP(flat=True): one flat
  parameter under DDP; the Net's DDP runs are the workers' above).

Skips cleanly without torch.distributed or gloo.  Every launch has a timeout.
"""
import json
import os
import socket
import subprocess
import sys
import time

T_START = time.time()     # (a worker records how long its start-up took)
import pytest  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORLD = 2
TIMEOUT_S = 300          # a whole launch, on a loaded 2-core machine
STEPS, BATCH, IN, HID, OUT = 4, 8, 6, 12, 3
LR, MOMENTUM = 0.1, 0.9
DT = torch.float64


# ----------------------------------------------------------------- shared by workers and tests
def make_model(unused=False):
    """Linear+relu -> Linear+leaky_relu(0.2) -> MLP(gelu, identity); float64; seeded."""
    import torch_act.nn as tnn

    torch.manual_seed(0)
    body = torch.nn.Sequential(
        tnn.Linear(IN, HID, activation="relu", dtype=DT),
        tnn.Linear(HID, HID, activation="leaky_relu", alpha=0.2, dtype=DT),
        tnn.MLP([HID, 8, OUT], ["gelu", "identity"], dtype=DT),
    )
    return WithUnused(body) if unused else body


class WithUnused(torch.nn.Module):
    """The model plus a layer that is never called (DDP's find_unused_parameters)."""

    def __init__(self, body):
        import torch_act.nn as tnn

        super().__init__()
        self.body = body
        self.unused = tnn.Linear(IN, 4, activation="sigmoid", dtype=DT)

    def forward(self, x):
        return self.body(x)


def make_data():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(STEPS, BATCH, IN, generator=g, dtype=DT),
            torch.randn(STEPS, BATCH, OUT, generator=g, dtype=DT))


def train(model, batches, step_fn=None):
    """SGD with momentum (torch.optim.SGD's update, written out: importing
    torch.optim imports torch._dynamo, seconds per process); ``step_fn(model,
    x, y)`` does forward+backward (default: MSE)."""
    params = list(model.parameters())
    bufs = [None] * len(params)
    X, Y = batches
    for s in range(STEPS):
        for p in params:
            p.grad = None
        if step_fn is None:
            torch.nn.functional.mse_loss(model(X[s]), Y[s]).backward()
        else:
            step_fn(model, X[s], Y[s])
        with torch.no_grad():
            for i, p in enumerate(params):
                if p.grad is None:
                    continue
                bufs[i] = p.grad.clone() if bufs[i] is None else bufs[i].mul_(MOMENTUM).add_(p.grad)
                p.sub_(LR * bufs[i])
    return model


def reference_params(unused=False):
    return {k: v.detach() for k, v in train(make_model(unused), make_data()).state_dict().items()}


def tp_model(act2, act1="gelu"):
    import torch_act.nn as tnn

    torch.manual_seed(2)
    return torch.nn.Sequential(tnn.Linear(8, 16, activation=act1, dtype=DT),
                               tnn.Linear(16, 8, activation=act2, dtype=DT))


def tp_data():
    g = torch.Generator().manual_seed(3)
    return torch.randn(3, 5, 8, generator=g, dtype=DT), torch.randn(3, 5, 8, generator=g, dtype=DT)


TP_PLANS = {  # name -> (act1, act2, row-parallel on layer 1)
    "colrow_identity": ("gelu", "identity", True),
    "colrow_tanh": ("gelu", "tanh", True),
    "colrow_softmax": ("silu", "softmax", True),
    "col_softmax": ("softmax", "identity", False),
}


COLLECTIVES = {"all_gather_into_tensor", "all_gather_into_tensor_coalesced", "all_reduce", "all_reduce_coalesced",
               "all_to_all_single", "broadcast", "reduce_scatter_tensor", "reduce_scatter_tensor_coalesced",
               "_allgather_base_", "_reduce_scatter_base_", "allgather_", "allreduce_", "alltoall_base_",
               "broadcast_", "reduce_scatter_"}


class CountComms:
    """Counts the collectives DTensor issues while active (by name); a small
    stand-in for CommDebugMode, whose module imports torch._dynamo."""

    def __init__(self):
        from torch.distributed.tensor import DTensor
        from torch.utils._python_dispatch import TorchDispatchMode

        counts = self.counts = {}

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if any(t is DTensor for t in types):
                    return NotImplemented      # let DTensor run first and issue its collectives
                name = func.name().split("::")[-1].split(".")[0]
                if func.namespace in ("_c10d_functional", "c10d_functional", "c10d") and name in COLLECTIVES:
                    counts[name] = counts.get(name, 0) + 1
                return func(*args, **(kwargs or {}))

        self._mode = _Mode()

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)


# ----------------------------------------------------------------- the worker (2 processes)
def _worker(rank, port, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    import torch_act
    from torch_act import distributed as tad

    tad.install()   # what torch_act/__init__.py does
    res = {"lazy": {"dtensor_imported_by_torch_act": "torch.distributed.tensor" in sys.modules}}

    from datetime import timedelta

    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor

    res["lazy"]["registered_on_import"] = tad.is_registered()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=120))

    timings = {"start": time.time() - T_START}

    def scenario(name, fn):
        t = time.time()
        try:
            res[name] = fn()
        except Exception as e:  # recorded, so one failure does not hide the others
            import traceback
            res[name] = {"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"}
        dist.barrier()
        timings[name] = round(time.time() - t, 2)

    X, Y = make_data()
    local = (X.chunk(WORLD, dim=1)[rank].contiguous(), Y.chunk(WORLD, dim=1)[rank].contiguous())

    def params(model):
        return {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone()
                for k, v in model.state_dict().items()}

    # ---- DDP
    from torch.nn.parallel import DistributedDataParallel as DDP

    def ddp(unused, no_sync=False):
        model = DDP(make_model(unused), find_unused_parameters=unused)

        def accumulate(m, x, y):
            xs, ys = x.chunk(2), y.chunk(2)
            with m.no_sync():
                (torch.nn.functional.mse_loss(m(xs[0]), ys[0]) / 2).backward()
            (torch.nn.functional.mse_loss(m(xs[1]), ys[1]) / 2).backward()

        train(model, local, accumulate if no_sync else None)
        return {"params": params(model.module)}

    scenario("ddp", lambda: ddp(False))
    scenario("ddp_unused", lambda: ddp(True))
    scenario("ddp_no_sync", lambda: ddp(False, no_sync=True))

    # ---- FSDP2
    def fsdp():
        import torch.distributed.checkpoint as dcp
        from torch.distributed.fsdp import fully_shard

        model = make_model()
        for layer in model:
            fully_shard(layer)
        fully_shard(model)
        train(model, local)
        sharded = {k: type(v).__name__ + str(getattr(v, "placements", "")) for k, v in model.state_dict().items()}
        dcp.save(model.state_dict(), checkpoint_id=os.path.join(out_dir, "fsdp_ckpt"))
        return {"params": params(model), "state_dict_types": sharded}

    scenario("fsdp", fsdp)

    # ---- tensor parallel
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (WORLD,))

    def counts(cm):
        return dict(cm.counts)

    def tp(act1, act2, row):
        model = tp_model(act2, act1)
        plan = {"0": ColwiseParallel(), "1": RowwiseParallel()} if row else {
            "0": ColwiseParallel(output_layouts=Replicate())}
        parallelize_module(model, mesh, plan)
        x, t = tp_data()
        x = x.clone().requires_grad_()
        with CountComms() as cm:
            y = model(x)
        fwd = counts(cm)
        out = y
        with CountComms() as cm_b:
            (out * t).sum().backward()
        grads = {n: (p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad).clone()
                 for n, p in model.named_parameters()}
        return {"out": out.detach(), "grads": grads, "dx": x.grad.clone(), "fwd_comms": fwd,
                "bwd_comms": counts(cm_b)}

    for name, (a1, a2, row) in TP_PLANS.items():
        scenario("tp_" + name, lambda a1=a1, a2=a2, row=row: tp(a1, a2, row))

    def colwise_local():
        lin = torch_act.nn.Linear(8, 16, activation="silu", dtype=DT)
        parallelize_module(lin, mesh, ColwiseParallel(use_local_output=False))
        x, _ = tp_data()
        with CountComms() as cm:
            y = lin(x)
        placements = str(y.placements)
        with CountComms() as cm_b:
            y.to_local().sum().backward()   # the local part of the backward
        return {"placements": placements, "fwd_comms": counts(cm), "bwd_comms": counts(cm_b),
                "out": y.full_tensor().detach(), "w": lin.weight.full_tensor().detach(),
                "b": lin.bias.full_tensor().detach()}

    scenario("tp_colwise_local", colwise_local)

    def dtensor_ops():
        out = {}
        g = torch.Generator().manual_seed(4)
        x = torch.randn(4, 6, 8, generator=g, dtype=DT)
        for act in ("gelu", "softmax", "log_softmax"):
            xd = distribute_tensor(x, mesh, [Shard(2)]).requires_grad_()
            with CountComms() as cm:
                y = torch_act.activation(xd, act)
            (y.full_tensor() * x).sum().backward()
            out[f"activation_{act}"] = {"out": y.full_tensor().detach(), "dx": xd.grad.full_tensor(),
                                        "placements": str(y.placements), "comms": counts(cm)}
        ws = [torch.randn(16, 8, generator=g, dtype=DT), torch.randn(5, 16, generator=g, dtype=DT)]
        bs = [torch.randn(16, generator=g, dtype=DT), None]
        for tag, xp, wp in (("batch", Shard(0), Replicate()), ("weight_sharded", Replicate(), Shard(0))):
            xd = distribute_tensor(x, mesh, [xp]).requires_grad_()
            wd = [distribute_tensor(w, mesh, [wp]).requires_grad_() for w in ws]
            bd = [distribute_tensor(bs[0], mesh, [Replicate()]).requires_grad_(), None]
            with CountComms() as cm:
                y = torch_act.mlp(xd, wd, bd, ["tanh", "softmax"])
            y.full_tensor().pow(2).sum().backward()
            out[f"mlp_{tag}"] = {"out": y.full_tensor().detach(), "dx": xd.grad.full_tensor(),
                                 "dw": [w.grad.full_tensor() for w in wd], "db": bd[0].grad.full_tensor(),
                                 "placements": str(y.placements), "comms": counts(cm)}
        w, b = ws[0], torch.randn(16, generator=g, dtype=DT)
        with torch.inference_mode():
            for act in ("relu", "softmax"):
                y = torch_act.linear_act(distribute_tensor(x, mesh, [Replicate()]),
                                         distribute_tensor(w, mesh, [Shard(0)]),
                                         distribute_tensor(b, mesh, [Shard(0)]), act)
                out[f"inference_{act}"] = {"out": y.full_tensor(), "placements": str(y.placements)}
                # row-parallel (W sharded on K), non-linear: one all-reduce of the partial sums
                args = (distribute_tensor(x, mesh, [Shard(2)]), distribute_tensor(w, mesh, [Shard(1)]),
                        distribute_tensor(b, mesh, [Replicate()]))
                with CountComms() as cm:
                    y = torch_act.linear_act(*args, act)
                out[f"inference_row_{act}"] = {"out": y.full_tensor(), "placements": str(y.placements),
                                               "comms": counts(cm)}
        out["inputs"] = {"x": x, "ws": ws, "bs": bs, "w": w, "b": b}
        return out

    scenario("dtensor_ops", dtensor_ops)

    def mesh_2d():
        # a (1, 2) mesh: every strategy expanded over two mesh dims; x batch-sharded
        # on the first, the layers column- / row-parallel on the second
        mesh2 = init_device_mesh("cpu", (1, WORLD), mesh_dim_names=("dp", "tp"))
        model = tp_model("sigmoid", "relu")
        ws = [(l.weight.detach(), l.bias.detach()) for l in model]
        x, t = tp_data()
        xd = distribute_tensor(x, mesh2, [Shard(0), Replicate()]).requires_grad_()
        p = [distribute_tensor(ws[0][0], mesh2, [Replicate(), Shard(0)]).requires_grad_(),
             distribute_tensor(ws[0][1], mesh2, [Replicate(), Shard(0)]).requires_grad_(),
             distribute_tensor(ws[1][0], mesh2, [Replicate(), Shard(1)]).requires_grad_(),
             distribute_tensor(ws[1][1], mesh2, [Replicate(), Replicate()]).requires_grad_()]
        with CountComms() as cm:
            h = torch_act.linear_act(xd, p[0], p[1], "relu")
            y = torch_act.linear_act(h, p[2], p[3], "sigmoid")
        placements = (str(h.placements), str(y.placements))
        (y.full_tensor() * t).sum().backward()
        return {"out": y.full_tensor().detach(), "dx": xd.grad.full_tensor(),
                "grads": [q.grad.full_tensor() for q in p], "placements": placements, "comms": counts(cm)}

    scenario("mesh_2d", mesh_2d)

    def identity_activation_backward():
        x = torch.randn(4, 8, dtype=DT)
        xd = distribute_tensor(x, mesh, [Shard(0)]).requires_grad_()
        torch_act.activation(xd, "identity").full_tensor().mul(x).sum().backward()
        return {"dx": xd.grad.full_tensor(), "x": x}

    scenario("identity_activation_backward", identity_activation_backward)

    def glu_and_cross_entropy():
        # linear_glu: column-parallel stays local (each rank gates its own
        # columns); training batch-sharded; linear_cross_entropy replicated
        g = torch.Generator().manual_seed(7)
        x = torch.randn(3, 4, 8, generator=g, dtype=DT)
        wg, wu = torch.randn(6, 8, generator=g, dtype=DT), torch.randn(6, 8, generator=g, dtype=DT)
        bg, bu = torch.randn(6, generator=g, dtype=DT), torch.randn(6, generator=g, dtype=DT)
        out = {"inputs": {"x": x, "wg": wg, "wu": wu, "bg": bg, "bu": bu}}
        args = [distribute_tensor(x, mesh, [Replicate()])]
        args += [distribute_tensor(t, mesh, [Shard(0)]) for t in (wg, wu, bg, bu)]
        with torch.inference_mode(), CountComms() as cm:
            y = torch_act.linear_glu(*args)
        out["glu_colwise"] = {"out": y.full_tensor(), "placements": str(y.placements), "comms": counts(cm)}
        xd = distribute_tensor(x, mesh, [Shard(0)]).requires_grad_()
        ps = [distribute_tensor(t, mesh, [Replicate()]).requires_grad_() for t in (wg, wu, bg, bu)]
        y = torch_act.linear_glu(xd, *ps, activation="gelu")
        (y.full_tensor() * x[..., :6]).sum().backward()
        out["glu_batch"] = {"out": y.full_tensor().detach(), "dx": xd.grad.full_tensor(),
                            "grads": [q.grad.full_tensor() for q in ps]}
        h = torch.randn(6, 8, generator=g, dtype=DT)
        w = torch.randn(5, 8, generator=g, dtype=DT)
        tgt = torch.tensor([0, 4, 2, -100, 1, 3])
        hd = distribute_tensor(h, mesh, [Shard(0)]).requires_grad_()
        wd = distribute_tensor(w, mesh, [Shard(0)]).requires_grad_()
        loss = torch_act.linear_cross_entropy(hd, wd, distribute_tensor(tgt, mesh, [Shard(0)]),
                                              label_smoothing=0.1)
        loss.full_tensor().backward()
        out["lce"] = {"loss": loss.full_tensor().detach(), "dh": hd.grad.full_tensor(),
                      "dw": wd.grad.full_tensor(), "h": h, "w": w, "t": tgt}
        return out

    scenario("glu_and_cross_entropy", glu_and_cross_entropy)

    res["lazy"]["dynamo_imported"] = "torch._dynamo" in sys.modules
    res["timings"] = timings
    torch.save(res, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


# ----------------------------------------------------------------- the tests
if __name__ != "__main__" and (not torch.distributed.is_available()
                               or not torch.distributed.is_gloo_available()):
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env():
    import torch_act

    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(torch_act.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1")
    return env


class Launch:
    """A command started in the background, its output in a file, waited for with a timeout."""

    def __init__(self, name, cmd, out_dir):
        self.name, self.cmd, self.out_dir = name, cmd, out_dir
        self.log_path = os.path.join(out_dir, name + ".log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=child_env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     text=True, cwd=out_dir)

    def wait(self, deadline):
        try:
            self.proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            self._log.close()
        with open(self.log_path) as f:
            self.output = f.read()
        return self

    def check(self):
        if self.proc.returncode in (-9, 137) or self.proc.returncode is None:
            pytest.fail(f"{self.name} did not finish in {TIMEOUT_S} s:\n{self.output[-4000:]}")
        assert self.proc.returncode == 0, f"{self.name} exited with {self.proc.returncode}:\n{self.output[-6000:]}"
        return self.output


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    """The two worker ranks and the torchrun example, started together (both are
    mostly process start-up; on two cores they overlap well)."""
    out = str(tmp_path_factory.mktemp("dist"))
    port = free_port()
    runs = [Launch(f"rank{r}", [sys.executable, os.path.abspath(__file__), "--worker", str(r), str(port), out], out)
            for r in range(WORLD)]
    runs.append(Launch("torchrun", [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(WORLD),
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        os.path.join(ROOT, "examples", "ddp_train.py"), "--steps", "30", "--backend", "gloo", "--check",
        "--mlp", "--flat"], out))
    deadline = time.time() + TIMEOUT_S
    for run in runs:
        run.wait(deadline)
    return {run.name: run for run in runs}, out


@pytest.fixture(scope="module")
def ranks(launches):
    runs, out = launches
    for r in range(WORLD):
        runs[f"rank{r}"].check()
    res = [torch.load(os.path.join(out, f"rank{r}.pt"), weights_only=False) for r in range(WORLD)]
    return res, out


def result(ranks, name, rank=0):
    r = ranks[0][rank][name]
    assert "error" not in r, f"{name} failed on rank {rank}:\n{r['error']}"
    return r


def close(a, b, tol=1e-10):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


# ---- lazy registration
def test_torch_act_does_not_import_dtensor_and_registers_when_it_is_imported(ranks):
    lazy = ranks[0][0]["lazy"]
    assert lazy["dtensor_imported_by_torch_act"] is False
    assert lazy["registered_on_import"] is True


def test_install_registers_at_once_when_dtensor_is_already_imported():
    from torch.distributed.tensor import DTensor   # imported before install()

    from torch_act import distributed as tad

    tad.install()
    assert tad.is_registered()
    funcs = DTensor._op_dispatcher.sharding_propagator.op_strategy_funcs
    for name in ("linear_act", "activation", "mlp", "_linear_act_fwd", "_linear_act_bwd",
                 "_activation_bwd", "_mlp_fwd", "_mlp_bwd"):
        assert getattr(torch.ops.torch_act, name).default in funcs, name


# ---- DDP
@pytest.fixture(scope="module")
def ref():
    return reference_params()


@pytest.mark.parametrize("name", ["ddp", "ddp_unused", "ddp_no_sync"])
def test_ddp_equals_one_process(ranks, ref, name):
    got = dict(result(ranks, name)["params"])
    if name == "ddp_unused":
        unused = {k: v for k, v in make_model(True).state_dict().items() if k.startswith("unused.")}
        for k, v in unused.items():     # never used: untouched
            torch.testing.assert_close(got.pop(k), v, rtol=0, atol=0)
        got = {k[len("body."):]: v for k, v in got.items()}
    assert got.keys() == ref.keys()
    for k in ref:
        assert not torch.equal(ref[k], make_model().state_dict()[k]), f"{k} did not train"
        close(got[k], ref[k])
    # both replicas hold the same parameters
    for k, v in result(ranks, name, rank=1)["params"].items():
        torch.testing.assert_close(v, result(ranks, name)["params"][k], rtol=0, atol=0)


# ---- FSDP2
def test_fsdp2_equals_one_process(ranks, ref):
    r = result(ranks, "fsdp")
    assert all(t.startswith("DTensor(Shard(dim=0)") for t in r["state_dict_types"].values()), r["state_dict_types"]
    for k in ref:
        close(r["params"][k], ref[k])


def test_fsdp2_sharded_checkpoint_loads_into_plain_model(ranks, ref):
    import torch.distributed.checkpoint as dcp

    model = make_model()
    sd = model.state_dict()
    dcp.load(sd, checkpoint_id=os.path.join(ranks[1], "fsdp_ckpt"))   # no process group here
    model.load_state_dict(sd)
    for k, v in model.state_dict().items():
        close(v, ref[k])


# ---- tensor parallel
@pytest.mark.parametrize("name", list(TP_PLANS))
def test_tensor_parallel_equals_one_process(ranks, name):
    act1, act2, row = TP_PLANS[name]
    r = result(ranks, "tp_" + name)
    model = tp_model(act2, act1)
    x, t = tp_data()
    x.requires_grad_()
    y = model(x)
    (y * t).sum().backward()
    close(r["out"], y.detach())
    close(r["dx"], x.grad)
    for n, p in model.named_parameters():
        close(r["grads"][n], p.grad)
    # the other rank has the same (replicated) output
    close(result(ranks, "tp_" + name, rank=1)["out"], y.detach())
    if row:
        # column layer local; row layer: one all-reduce of the partial sums, before
        # the activation for a non-linear one (an activation of a partial sum is wrong)
        assert r["fwd_comms"] == {"all_reduce": 1}, r["fwd_comms"]
        # backward: both layers local; only the input's gradient (partial, from the column layer) is reduced
        assert r["bwd_comms"] == {"all_reduce": 1}, r["bwd_comms"]
    else:
        # softmax needs whole rows: the column-sharded weight is gathered
        assert "all_gather_into_tensor" in r["fwd_comms"], r["fwd_comms"]


def test_colwise_parallel_keeps_the_fused_op_local(ranks):
    r = result(ranks, "tp_colwise_local")
    assert r["placements"] == "(Shard(dim=2),)", r["placements"]   # the last dim of the 3-D output
    assert r["fwd_comms"] == {} and r["bwd_comms"] == {}, (r["fwd_comms"], r["bwd_comms"])
    x, _ = tp_data()
    import torch_act

    close(r["out"], torch_act.linear_act(x, r["w"], r["b"], "silu"))


def test_dtensor_activation_mlp_and_inference(ranks):
    import torch_act

    r = result(ranks, "dtensor_ops")
    inp = r["inputs"]
    x = inp["x"]
    for act in ("gelu", "softmax", "log_softmax"):
        o = r[f"activation_{act}"]
        xr = x.clone().requires_grad_()
        y = torch_act.activation(xr, act)
        (y * x).sum().backward()
        close(o["out"], y.detach())
        close(o["dx"], xr.grad)
        if act == "gelu":      # elementwise: stays sharded, no collective
            assert o["placements"] == "(Shard(dim=2),)" and o["comms"] == {}, o
        else:                  # rows must be whole: the sharded last dim is gathered
            assert "Shard(dim=2)" not in o["placements"] and o["comms"], o
    for tag in ("batch", "weight_sharded"):
        o = r[f"mlp_{tag}"]
        xr = x.clone().requires_grad_()
        ws = [w.clone().requires_grad_() for w in inp["ws"]]
        b0 = inp["bs"][0].clone().requires_grad_()
        y = torch_act.mlp(xr, ws, [b0, None], ["tanh", "softmax"])
        y.pow(2).sum().backward()
        close(o["out"], y.detach())
        close(o["dx"], xr.grad)
        close(o["db"], b0.grad)
        for a, w in zip(o["dw"], ws):
            close(a, w.grad)
        if tag == "batch":
            assert o["placements"] == "(Shard(dim=0),)" and o["comms"] == {}, o
    for act in ("relu", "softmax"):
        o = r[f"inference_{act}"]
        close(o["out"], torch_act.linear_act(x, inp["w"], inp["b"], act))
        want = "(Shard(dim=2),)" if act == "relu" else "(Replicate(),)"
        assert o["placements"] == want, o
        o = r[f"inference_row_{act}"]
        close(o["out"], torch_act.linear_act(x, inp["w"], inp["b"], act))
        assert o["placements"] == "(Replicate(),)" and o["comms"] == {"all_reduce": 1}, o


def test_two_dimensional_mesh(ranks):
    r = result(ranks, "mesh_2d")
    model = tp_model("sigmoid", "relu")
    x, t = tp_data()
    x.requires_grad_()
    (model(x) * t).sum().backward()
    close(r["out"], model(x).detach())
    close(r["dx"], x.grad)
    for got, p in zip(r["grads"], model.parameters()):
        close(got, p.grad)
    # column layer local (batch-sharded on dp, column-sharded on tp); row layer: one all-reduce
    assert r["placements"] == ("(Shard(dim=0), Shard(dim=2))", "(Shard(dim=0), Replicate())"), r["placements"]
    assert r["comms"] == {"all_reduce": 1}, r["comms"]


def test_identity_activation_backward_on_dtensor(ranks):
    # the activation that saves nothing saves input.new_empty({0}): a DTensor
    # for a DTensor input (a plain tensor would mix the two in backward)
    r = result(ranks, "identity_activation_backward")
    close(r["dx"], r["x"])


# ---- the example under torchrun
# gloo's teardown at process exit, after the example's last line and its
# destroy_process_group, was seen to abort a rank now and then on the 2-core
# machines ("terminate called without an active exception", after the summary was
# printed: 3 of ~20 runs on 2026-12-02 with that day's build, 0 of 14 with the build
# before its CPU-kernel changes; no cause found in our code, which starts no threads):
# such a run is repeated once, alone; any other failure, or the same one twice, fails.
_GLOO_EXIT_ABORT = "terminate called without an active exception"


def test_ddp_example_runs_under_torchrun(launches):
    run = launches[0]["torchrun"]
    if run.proc.returncode != 0 and _GLOO_EXIT_ABORT in run.output and '"replicas_equal"' in run.output:
        port_at = run.cmd.index("--master-port") + 1
        cmd = run.cmd[:port_at] + [str(free_port())] + run.cmd[port_at + 1:]
        run = Launch("torchrun-again", cmd, run.out_dir).wait(time.time() + TIMEOUT_S)
    out = run.check()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines, out
    last = lines[-1]
    assert last["world_size"] == WORLD and last["backend"] == "gloo", last
    assert last["replicas_equal"] is True, last
    assert last["final_loss"] < last["first_loss"], last


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("usage: test_distributed.py --worker RANK PORT OUT_DIR (run by the tests)")


def test_linear_glu_and_cross_entropy_on_dtensor(ranks):
    import torch.nn.functional as F

    import torch_act

    r = result(ranks, "glu_and_cross_entropy")
    i = r["inputs"]
    c = r["glu_colwise"]
    close(c["out"], torch_act.linear_glu(i["x"], i["wg"], i["wu"], i["bg"], i["bu"]))
    assert c["placements"] == "(Shard(dim=2),)" and c["comms"] == {}, c   # column-parallel: local
    xr = i["x"].clone().requires_grad_()
    ps = [i[k].clone().requires_grad_() for k in ("wg", "wu", "bg", "bu")]
    y = F.gelu(F.linear(xr, ps[0], ps[2])) * F.linear(xr, ps[1], ps[3])
    (y * i["x"][..., :6]).sum().backward()
    b = r["glu_batch"]
    close(b["out"], y.detach())
    close(b["dx"], xr.grad)
    for got, p in zip(b["grads"], ps):
        close(got, p.grad)
    e = r["lce"]
    h, w = e["h"].clone().requires_grad_(), e["w"].clone().requires_grad_()
    loss = F.cross_entropy(F.linear(h, w), e["t"], label_smoothing=0.1)
    loss.backward()
    close(e["loss"], loss.detach())
    close(e["dh"], h.grad)
    close(e["dw"], w.grad)
