"""Training that must work, exact resume, guards, located config errors, data checks."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ebmgraph
from ebmgraph.training import CollapseWarning, TrainingStopped, parse_config
from ebmgraph.training.data import DataError

from .conftest import LIBRARY


def _model(name: str, **replace: str) -> ebmgraph.CompiledModel:
    text = (LIBRARY / f"{name}.ebm").read_text()
    for a, b in replace.items():
        text = text.replace(a, b)
    return ebmgraph.compile(ebmgraph.loads(text))


JE_DATA = {"source": "digits", "map": {"x": "data", "y": "data"}, "standardize": True,
           "augment": {"x": [{"kind": "noise", "std": 0.5}], "y": [{"kind": "mask", "p": 0.3}]}}


def test_joint_embedding_collapses_without_vicreg_and_not_with_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = {"data": JE_DATA, "epochs": 12, "batch_size": 256, "progress": False, "monitor": ["sx", "sy"],
            "optimizer": {"lr": 1e-2}}
    plain = _model("joint_embedding")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the model file's `regularize V = vicreg(sx, sy)` applies unless the config switches it off
        r1 = ebmgraph.train(plain, {**base, "out_dir": str(tmp_path / "plain"),
                                    "regularizers": [{"name": "V", "weight": 0}]})
    std_first = r1.history[0]["collapse.sx.std_mean"]
    std_plain = r1.history[-1]["collapse.sx.std_mean"]
    assert std_plain < 0.1 * std_first, "the invariance term alone collapses both encoders (003 Fig. 10d)"
    assert any(issubclass(w.category, CollapseWarning) for w in caught) and r1.collapse
    torch.manual_seed(0)
    reg = _model("joint_embedding")
    r2 = ebmgraph.train(reg, {**base, "out_dir": str(tmp_path / "vicreg")})  # the file's own VICReg
    last = r2.history[-1]
    assert last["collapse.sx.std_mean"] > 0.5 > 20 * std_plain and last["collapse.sx.effective_rank"] > 5
    assert not r2.collapse
    assert (tmp_path / "vicreg" / "metrics.png").stat().st_size > 1000


def test_sigreg_in_place_of_vicreg_keeps_the_joint_embedding_from_collapsing(tmp_path: Path) -> None:
    """One line of the file swaps the anti-collapse term: SIGReg on each embedding (LeJEPA) instead of
    VICReg on the pair; the same training that collapses without either keeps both spread out, near
    the isotropic Gaussian SIGReg asks for (std 1 per dimension, full rank)."""
    torch.manual_seed(0)
    model = _model("joint_embedding", **{"regularize V = vicreg(sx, sy)":
                                         "regularize S = sigreg(sx)\n  regularize S2 = sigreg(sy)"})
    r = ebmgraph.train(model, {"data": JE_DATA, "epochs": 12, "batch_size": 256, "progress": False,
                               "monitor": ["sx", "sy"], "optimizer": {"lr": 1e-2}, "out_dir": str(tmp_path)})
    last = r.history[-1]
    assert "S.sigreg" in last and "S2.sigreg" in last
    for v in ("sx", "sy"):
        assert 0.7 < last[f"collapse.{v}.std_mean"] < 1.3 and last[f"collapse.{v}.effective_rank"] > 12
    assert not r.collapse


def test_ellipse_learns_its_radii(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    angle = rng.uniform(-math.pi, math.pi, 400)
    pts = np.stack([1.5 * np.sin(angle), 0.7 * np.cos(angle)], 1) + rng.normal(0, 0.02, (400, 2))
    np.save(tmp_path / "ellipse.npy", pts.astype(np.float32))
    model = _model("ellipse")  # starts from r1 = 1, r2 = 2
    torch.manual_seed(0)
    ebmgraph.train(model, {"data": {"source": str(tmp_path / "ellipse.npy"), "map": {"y": "data"}},
                           "epochs": 15, "batch_size": 100, "optimizer": {"lr": 0.05}, "progress": False,
                           "out_dir": str(tmp_path / "run")})
    r1, r2 = abs(float(model.fns["dec"].r1.detach())), abs(float(model.fns["dec"].r2.detach()))
    assert r1 == pytest.approx(1.5, rel=0.05) and r2 == pytest.approx(0.7, rel=0.05)


def test_pairwise_hinge_shapes_the_parabola(tmp_path: Path) -> None:
    x = np.linspace(-1, 1, 512, dtype=np.float32)
    np.savez(tmp_path / "parabola.npz", x=x[:, None], y=(x**2)[:, None])
    torch.manual_seed(0)
    model = _model("energy_net")
    ebmgraph.train(model, {"data": {"source": str(tmp_path / "parabola.npz"), "map": {"x": "x", "y": "y"}},
                           "loss": {"kind": "pairwise_hinge", "target": "y", "margin": 1.0},
                           "sampler": {"kind": "corruption", "noise": 0.5, "n": 4},
                           "epochs": 30, "batch_size": 64, "optimizer": {"lr": 3e-3}, "progress": False,
                           "out_dir": str(tmp_path / "run")})
    xs = torch.linspace(-0.9, 0.9, 19)[:, None]
    with torch.no_grad():
        on = model.energy(x=xs, y=xs**2).total
        off_up = model.energy(x=xs, y=xs**2 + 0.5).total
        off_down = model.energy(x=xs, y=xs**2 - 0.5).total
    assert torch.all(on < off_up) and torch.all(on < off_down)


def test_cd1_rbm_on_digits_lowers_data_free_energy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _model("rbm", **{"nh = 32": "nh = 16"})
    before_data = model.free_energy(v=(torch.rand(64, 64) > 0.5).float()).free_energy.detach().mean()
    result = ebmgraph.train(model, {"data": {"source": "digits", "map": {"v": "data"}, "binarize": 8.0},
                                    "loss": {"kind": "contrastive_divergence", "target": "v"},
                                    "sampler": {"kind": "cd", "steps": 1},
                                    "epochs": 3, "batch_size": 64, "optimizer": {"kind": "sgd", "lr": 0.05},
                                    "progress": False, "out_dir": str(tmp_path / "run")})
    from sklearn.datasets import load_digits
    d = torch.tensor(load_digits().data, dtype=torch.float32)
    data = (d > 8.0).float()[:200]
    noise = (torch.rand(200, 64) > 0.5).float()
    with torch.no_grad():
        f_data = model.free_energy(v=data).free_energy.mean()
        f_noise = model.free_energy(v=noise).free_energy.mean()
    assert f_data < f_noise - 5, "CD-1 makes the digits more probable than noise"
    assert result.history[-1]["loss"] < 50 and math.isfinite(float(before_data))


def test_resume_gives_the_same_parameters(tmp_path: Path) -> None:
    cfg = {"data": JE_DATA, "epochs": 2, "batch_size": 128, "progress": False, "checkpoint_every": 3,
           "regularizers": [{"kind": "vicreg", "on": ["sx", "sy"]}]}
    torch.manual_seed(0)
    full = _model("joint_embedding")
    ebmgraph.train(full, {**cfg, "out_dir": str(tmp_path / "full")})
    torch.manual_seed(0)
    part = _model("joint_embedding")
    ebmgraph.train(part, {**cfg, "out_dir": str(tmp_path / "part"), "max_steps": 9})
    resumed = _model("joint_embedding")  # a fresh process: different initial weights, restored from disk
    result = ebmgraph.train(resumed, {**cfg, "out_dir": str(tmp_path / "part")}, resume=True)
    for (n, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=n)
    steps = [h["step"] for h in result.history]
    assert steps == list(range(1, steps[-1] + 1))
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == steps


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    model = _model("regression")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(256, 8)).astype(np.float32),
             y=(rng.normal(size=(256, 2)) * 100).astype(np.float32))
    cfg = {"data": {"source": str(tmp_path / "d.npz"), "map": {"x": "x", "y": "y"}}, "batch_size": 64,
           "epochs": 50, "optimizer": {"kind": "sgd", "lr": 5.0, "momentum": 0.0}, "checkpoint_every": 1,
           "divergence": 1e8, "progress": False, "out_dir": str(tmp_path / "run")}
    with pytest.raises(TrainingStopped, match="last good checkpoint is kept at") as info:
        ebmgraph.train(model, cfg)
    assert "Lower optimizer.lr" in str(info.value)
    ck = ebmgraph.load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(torch.isfinite(p).all() for p in ck.parameters())


def test_existing_runs_are_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="nothing there is overwritten"):
        ebmgraph.train(_model("regression"), {"data": {"source": "iris", "map": {"x": "data"}}, "out_dir": str(out)})
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_data_shape_mismatch_names_both_shapes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"rows of shape \(4,\) .* variable 'x' is R\[8\], shape \(8,\)"):
        ebmgraph.train(_model("regression"), {"data": {"source": "iris", "map": {"x": "data", "y": "data[:, 0:2]"}},
                                              "out_dir": str(tmp_path / "r"), "progress": False})
    assert not (tmp_path / "r").exists()


CONFIG = """epochs = 2
batch_size = 32

[data]
source = "digits"
map = { x = "data", y = "data" }

[loss]
kind = "pairwise_hing"
target = "y"

[sampler]
kind = "corruption"
nois = 0.2

[[regularizers]]
kind = "vicreg"
on = ["sx", "sz"]

[optimizer]
lr = "fast"
"""


def test_config_typos_are_located_with_choices() -> None:
    with pytest.raises(ebmgraph.EbmError) as info:
        parse_config(CONFIG, "train.toml")
    errs = {(e.line, e.message): e for e in info.value.errors}
    kinds = [m for (_, m) in errs]
    assert any("'loss.kind' cannot be 'pairwise_hing'" in m for m in kinds)
    hinge = next(e for e in info.value.errors if "pairwise_hing" in e.message)
    assert hinge.line == 9 and hinge.hint == "did you mean 'pairwise_hinge'?"
    nois = next(e for e in info.value.errors if "unknown key 'nois'" in e.message)
    assert nois.line == 14 and "did you mean 'noise'?" in (nois.hint or "")
    lr = next(e for e in info.value.errors if "optimizer.lr" in e.message)
    assert lr.line == 21 and "'fast'" in lr.message
    fixed = CONFIG.replace("pairwise_hing", "pairwise_hinge").replace("nois ", "noise ").replace('"fast"', "0.01")
    cfg = parse_config(fixed, "train.toml")
    cfg.__dict__["_text"], cfg.__dict__["_file"] = fixed, "train.toml"
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.train(_model("joint_embedding"), cfg)
    err = info.value.errors[0]
    assert (err.file, err.line) == ("train.toml", 18) and "names 'sz'" in err.message
    assert err.hint is not None and err.hint.startswith("did you mean") and "'sy'" in err.hint


def test_cli_train_from_the_readme(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ebmgraph.cli import app
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'epochs = 1\nbatch_size = 256\nout_dir = "{tmp_path / "run"}"\n\n[data]\nsource = "digits"\n'
                   'map = { x = "data", y = "data" }\n\n[[regularizers]]\nkind = "vicreg"\non = ["sx", "sy"]\n')
    r = CliRunner().invoke(app, ["train", str(LIBRARY / "joint_embedding.ebm"), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "metrics.png").exists()
    again = CliRunner().invoke(app, ["train", str(LIBRARY / "joint_embedding.ebm"), "--config", str(cfg)])
    assert again.exit_code == 1 and "already holds a run" in again.output
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 1\n[loss]\nkind = \"nope\"\n")
    r = CliRunner().invoke(app, ["train", str(LIBRARY / "joint_embedding.ebm"), "--config", str(bad)])
    assert r.exit_code == 1 and f"{bad}:3:1" in r.output and "Traceback" not in r.output


def test_the_training_plot_draws_one_curve_per_distinct_series() -> None:
    """Issue 27.5: a model with one energy term logged loss, F and E as the same numbers, drawn as
    identical curves with one legend entry each; now one curve, labelled with every name it stands for."""
    from ebmgraph.plots import training_curves
    history = [{"step": s, "loss": 2.0 / (s + 1), "energy.E": 2.0 / (s + 1), "F": 2.0 / (s + 1),
                "R": 0.1 * s} for s in range(4)]
    fig = training_curves(history)
    assert fig is not None
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert labels == ["F = energy.E = loss", "R"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [2.0, 1.0, 2.0 / 3, 0.5]
