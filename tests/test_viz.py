"""The visualisation commands (plot, playground) end to end, through the CLI's main()."""
import argparse
import glob
import os
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import torch_act  # noqa: E402
from torch_act.__main__ import main as cli  # noqa: E402
from torch_act.viz import datasets, playground, plot  # noqa: E402


def assert_png_has_content(path, min_colours=4, max_bytes=None):
    """The PNG exists, decodes, is not blank: pixel variance and several distinct colours."""
    import matplotlib.image as mpimg

    assert os.path.isfile(path), f"{path} was not written"
    if max_bytes is not None:
        assert os.path.getsize(path) < max_bytes, f"{path} is {os.path.getsize(path)} bytes"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, img.shape
    rgb = img[..., :3]
    assert rgb.std() > 0.02, f"{path} looks blank (std {rgb.std():.4f})"
    colours = np.unique((rgb.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert len(colours) >= min_colours, f"{path} has only {len(colours)} colours"
    return img


# ------------------------------------------------------------------ plot
def test_plot_all_activations(tmp_path, capsys):
    out = tmp_path / "act.png"
    assert cli(["plot", "--points", "101", "--out", str(out)]) == 0
    assert_png_has_content(str(out), min_colours=8)
    text = capsys.readouterr().out
    assert f"{len(torch_act.ACTIVATIONS)} activation(s)" in text


def test_plot_subset_range_alpha(tmp_path):
    out = tmp_path / "sub.png"
    assert cli(["plot", "--activations", "leaky_relu,softmax,elu", "--range", "-3", "2",
                "--alpha", "leaky_relu=0.2", "elu=0.5", "--points", "51", "--out", str(out)]) == 0
    assert_png_has_content(str(out))


@pytest.mark.parametrize("name", [n for n, s in torch_act.ACTIVATIONS.items() if not s.rowwise])
def test_plot_derivative_is_torch_act_backward(name):
    """The plotted derivative (autograd through torch_act) agrees with central differences of the plotted value."""
    x = torch.linspace(-4, 4, 81, dtype=torch.float64) + 0.013  # off the kinks at 0 and +-3
    y, dy = plot.curves(name, x)
    h = 1e-5
    fd = (plot.curves(name, x + h)[0] - plot.curves(name, x - h)[0]) / (2 * h)
    torch.testing.assert_close(dy, fd, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(y, torch_act.activation(x, name))


def test_plot_row_activations_diagonal():
    x = torch.linspace(-5, 5, 41, dtype=torch.float64)
    y, dy = plot.curves("softmax", x)
    assert y.shape == dy.shape == (41, 3)
    torch.testing.assert_close(y.sum(1), torch.ones(41, dtype=torch.float64))
    torch.testing.assert_close(dy, y * (1 - y))  # d softmax_i / d z_i
    ly, ldy = plot.curves("log_softmax", x)
    torch.testing.assert_close(ldy, 1 - ly.exp())  # d log_softmax_i / d z_i


def test_plot_bad_names(tmp_path):
    out = str(tmp_path / "x.png")
    with pytest.raises(ValueError, match="unknown activation.*nope"):
        cli(["plot", "--activations", "relu,nope", "--out", out])
    with pytest.raises(ValueError, match="takes no parameter"):
        cli(["plot", "--activations", "relu", "--alpha", "relu=0.1", "--out", out])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        cli(["plot", "--alpha", "leaky_relu", "--out", out])
    with pytest.raises(ValueError, match="LO < HI"):
        cli(["plot", "--range", "2", "-2", "--out", out])
    assert not os.path.exists(out)


# ------------------------------------------------------------------ datasets
@pytest.mark.parametrize("name", list(datasets.DATASETS))
def test_datasets_shapes_and_seed(name):
    x, y = datasets.make_dataset(name, n=101, seed=3)
    assert x.shape == (101, 2) and x.dtype == torch.float32
    assert y.shape == (101,) and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1}
    assert x.abs().max() < 3
    x2, y2 = datasets.make_dataset(name, n=101, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, datasets.make_dataset(name, n=101, seed=4)[0])


def test_datasets_multiclass_and_errors():
    x, y = datasets.make_dataset("spiral", n=90, classes=3)
    assert sorted(torch.bincount(y).tolist()) == [30, 30, 30]
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.make_dataset("mnist")
    with pytest.raises(ValueError, match="2 classes"):
        datasets.make_dataset("moons", classes=3)


# ------------------------------------------------------------------ playground
def _final_accuracy(text, label):
    m = re.search(rf"final accuracy \({re.escape(label)}\): ([0-9.]+)", text)
    assert m, text
    return float(m.group(1))


def test_playground_tiny(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert cli(["playground", "--dataset", "circles", "--steps", "15", "--no-progress", "--out", str(tmp_path)]) == 0
    for f in ("decision_boundary.png", "loss.png"):
        assert_png_has_content(str(tmp_path / f))
    assert 0 <= _final_accuracy(capsys.readouterr().out, "relu") <= 1
    assert torch.get_num_threads() == threads  # --threads is restored afterwards


def test_playground_moons_relu_learns_with_defaults(tmp_path, capsys):
    """A real learning check: the DEFAULT run (moons, relu, default steps/lr/seed) reaches >= 95%."""
    assert cli(["playground", "--dataset", "moons", "--activation", "relu", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"{playground.DEFAULTS['steps']} Adam steps" in text
    assert _final_accuracy(text, "relu") >= 0.95
    assert_png_has_content(str(tmp_path / "decision_boundary.png"))


def test_playground_multiclass_softmax(tmp_path):
    args = argparse.Namespace(dataset="gauss", classes=3, activation="tanh", hidden="8", steps=150,
                              out=str(tmp_path), progress=False)
    (r,) = playground.run(args)
    assert r["net"].fc2.activation == "log_softmax" and r["net"].fc2.out_features == 3
    assert r["accuracy"] >= 0.9
    assert_png_has_content(str(tmp_path / "decision_boundary.png"))


def test_playground_compare(tmp_path, capsys):
    assert cli(["playground", "--dataset", "xor", "--steps", "20", "--compare", "relu,tanh", "--no-progress",
                "--out", str(tmp_path)]) == 0
    assert_png_has_content(str(tmp_path / "compare.png"))
    assert not (tmp_path / "decision_boundary.png").exists()
    text = capsys.readouterr().out
    _final_accuracy(text, "relu"), _final_accuracy(text, "tanh")


def test_playground_same_seed_same_result(tmp_path):
    kw = dict(dataset="moons", steps=10, progress=False)
    a = playground.run(argparse.Namespace(out=str(tmp_path / "a"), **kw))[0]
    b = playground.run(argparse.Namespace(out=str(tmp_path / "b"), **kw))[0]
    assert a["losses"] == b["losses"]


def test_playground_tensorboard(tmp_path):
    tb = tmp_path / "tb"
    assert cli(["playground", "--steps", "10", "--no-progress", "--out", str(tmp_path),
                "--tensorboard", str(tb)]) == 0
    events = glob.glob(str(tb / "events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tb), size_guidance={"histograms": 0, "images": 0})
    ea.Reload()
    tags = ea.Tags()
    assert {"loss", "accuracy"} <= set(tags["scalars"])
    assert {"pre_activation/fc1", "pre_activation/fc2", "pre_activation/fc3"} <= set(tags["histograms"])
    assert "decision_boundary" in tags["images"]
    assert len(ea.Scalars("loss")) == 10


def test_playground_bad_names(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(["playground", "--dataset", "mnist", "--out", str(tmp_path)])
    assert "invalid choice: 'mnist'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["playground", "--activation", "rleu", "--out", str(tmp_path)])
    assert "unknown activation 'rleu'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["playground", "--compare", "relu,bogus", "--out", str(tmp_path)])
    assert "unknown activation 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["playground", "--hidden", "10,x", "--out", str(tmp_path)])
    # called directly (no argparse): ValueError
    with pytest.raises(ValueError, match="unknown dataset"):
        playground.run(argparse.Namespace(dataset="mnist", out=str(tmp_path)))
    with pytest.raises(ValueError, match="unknown activation"):
        playground.run(argparse.Namespace(activation="nope", out=str(tmp_path)))
    with pytest.raises(ValueError, match="2 classes"):
        playground.run(argparse.Namespace(dataset="moons", classes=3, out=str(tmp_path)))
