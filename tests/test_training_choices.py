"""Every loss and every contrastive sampler trains end to end (a few steps, finite, loss going down
where it must), and every data source and augmentation loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ebmgraph
from ebmgraph.training.config import Augment, DataConfig
from ebmgraph.training.data import apply_augment, load_arrays

from .conftest import LIBRARY

MOONS = {"source": "moons", "map": {"x": "data[:, 0]", "y": "data[:, 1]"}, "n_samples": 256}


def _energy_net() -> ebmgraph.CompiledModel:
    torch.manual_seed(0)
    return ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))


@pytest.mark.parametrize("loss,sampler", [
    ("nll_mc", "langevin"), ("contrastive_divergence", "cd"), ("pairwise_hinge", "most_offending"),
    ("min_hinge", "corruption"), ("square_square", "batch"), ("square_exp", "corruption"), ("logistic", "batch"),
    ("gan", None),
])
def test_contrastive_losses_train(tmp_path: Path, loss: str, sampler: str | None) -> None:
    model = _energy_net()
    cfg: dict[str, object] = {"data": MOONS, "loss": {"kind": loss, "target": "y"}, "epochs": 3, "batch_size": 64,
                              "progress": False, "plot": False, "out_dir": str(tmp_path / "r"),
                              "optimizer": {"lr": 3e-3}}
    if sampler:
        cfg["sampler"] = {"kind": sampler, "n": 2, "steps": 5, "step_size": 0.05, "noise": 0.5, "buffer_size": 128}
    result = ebmgraph.train(model, cfg)
    hist = result.history
    assert all(np.isfinite(h["loss"]) for h in hist)
    if loss in ("pairwise_hinge", "min_hinge", "square_square", "logistic"):
        first = np.mean([h["loss"] for h in hist[:3]])
        last = np.mean([h["loss"] for h in hist[-3:]])
        assert last < first
    if loss == "gan":
        assert "generator_loss" in hist[-1] and "F_contrastive" in hist[-1]
    if sampler == "langevin":
        state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["extra"]["sampler"]
        assert state["buffer"].shape == (128, 1)  # the replay buffer is saved for an exact resume


def test_nll_exhaustive_classifies_iris(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = ebmgraph.loads("model Classifier {\n  observed x : R[4]\n  observed y : {3}\n\n  fn net = mlp(4, 32, 3)\n"
                       "  fn onehot = embedding(3, 3)\n\n  energy E = sq_dist(net(x), onehot(y))\n}\n")
    m = ebmgraph.compile(g)
    ebmgraph.train(m, {"data": {"source": "iris", "map": {"x": "data", "y": "target"}, "standardize": True},
                       "loss": {"kind": "nll_exhaustive", "target": "y"}, "epochs": 60, "batch_size": 50,
                       "optimizer": {"lr": 1e-2}, "progress": False, "plot": False, "out_dir": str(tmp_path / "r")})
    from sklearn.datasets import load_iris
    d = load_iris()
    x = torch.tensor(d.data, dtype=torch.float32)  # raw features: the model standardizes them as in training
    pred = m.infer(["y"], x=x).values["y"]
    assert (pred.numpy() == d.target).mean() > 0.9


def test_infonce_and_denoising_and_score_matching(tmp_path: Path) -> None:
    je = ebmgraph.compile(ebmgraph.load(LIBRARY / "joint_embedding.ebm"))
    r = ebmgraph.train(je, {"data": {"source": "digits", "map": {"x": "data", "y": "data"}, "standardize": True,
                                     "augment": {"x": [{"kind": "noise", "std": 0.3}]}},
                            "loss": {"kind": "infonce", "pair": ["x", "y"], "temperature": 0.5}, "epochs": 2,
                            "batch_size": 128, "progress": False, "plot": False, "out_dir": str(tmp_path / "a")})
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    dae = ebmgraph.loads("model DAE {\n  observed y_in : R[2]\n  observed y : R[2]\n\n  fn enc = mlp(2, 32, 1)\n"
                         "  fn dec = mlp(1, 32, 2)\n\n  energy D = sq_dist(y, dec(enc(y_in)))\n}\n")
    m = ebmgraph.compile(dae)
    r = ebmgraph.train(m, {"data": {"source": "swiss_roll", "map": {"y_in": "data[:, 0:2]", "y": "data[:, 0:2]"},
                                    "n_samples": 512, "standardize": True},
                           "loss": {"kind": "denoising", "corrupt": "y_in"}, "sampler": {"kind": "corruption",
                                                                                       "noise": 0.2},
                           "epochs": 3, "batch_size": 64, "progress": False, "plot": False,
                           "out_dir": str(tmp_path / "b")})
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    sm = _energy_net()
    r = ebmgraph.train(sm, {"data": MOONS, "loss": {"kind": "energy"}, "epochs": 2, "batch_size": 64,
                            "regularizers": [{"kind": "score_matching", "on": ["y"], "sigma": 0.1}],
                            "progress": False, "plot": False, "out_dir": str(tmp_path / "c")})
    assert "score_matching.score_matching" in r.history[-1]


def test_data_sources_and_augmentations(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "d.csv", np.arange(12.0).reshape(4, 3), delimiter=",", header="a,b,c", comments="")
    arrays = load_arrays(DataConfig(source=str(tmp_path / "d.csv"), map={"x": "data"}))
    assert arrays["data"].shape == (4, 3) and arrays["data"][1, 2] == 5.0
    for name in ("digits", "iris", "moons", "swiss_roll"):
        a = load_arrays(DataConfig(source=name, map={}, n_samples=50))
        assert a["data"].shape[0] in (50, 150, 1797)
    img = torch.arange(64.0).reshape(1, 64)
    torch.manual_seed(0)
    crop = apply_augment(img, Augment(kind="crop", size=4))
    assert crop.shape == (1, 64) and not torch.equal(crop, img)
    masked = apply_augment(torch.ones(1000, 8), Augment(kind="mask", p=0.25))
    assert 0.2 < float((masked == 0).float().mean()) < 0.3
    with pytest.raises(ebmgraph.training.DataError, match="NaN"):
        bad = np.ones((10, 1), dtype=np.float32)
        bad[3] = np.nan
        np.save(tmp_path / "nan.npy", bad)
        ebmgraph.train(ebmgraph.compile(ebmgraph.load(LIBRARY / "parabola.ebm")),
                       {"data": {"source": str(tmp_path / "nan.npy"), "map": {"x": "data", "y": "data"}},
                        "out_dir": str(tmp_path / "n"), "progress": False})
