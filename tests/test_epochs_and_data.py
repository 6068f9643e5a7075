"""Defaults that match torch and the field, and the data options of the config: an epoch covers
every sample, SGD has no momentum unless set, persistent contrastive divergence is `pcd`, `scale`
and a held-out split kept with the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ebmgraph
from ebmgraph.training.config import SamplerConfig, TrainConfig
from ebmgraph.training.data import Dataset

from .conftest import LIBRARY


def _ellipse() -> ebmgraph.CompiledModel:
    torch.manual_seed(0)
    return ebmgraph.compile(ebmgraph.load(LIBRARY / "ellipse.ebm"))


@pytest.mark.parametrize("n, batch, sizes", [(10, 4, [4, 4, 2]), (9, 4, [4, 5]), (8, 4, [4, 4]), (3, 8, [3]),
                                             (1797, 256, [256] * 6 + [261]), (1797, 20, [20] * 89 + [17])])
def test_an_epoch_covers_every_sample(tmp_path: Path, n: int, batch: int, sizes: list[int]) -> None:
    model = _ellipse()
    data = Dataset({"y": torch.randn(n, 2)}, {})
    cfg = {"epochs": 1, "batch_size": batch, "progress": False, "plot": False, "out_dir": str(tmp_path / "r")}
    from ebmgraph.training import loop
    calls: list[int] = []
    real = loop.free_energy

    def counting(m, values, **kw):  # type: ignore[no-untyped-def]
        calls.append(int(values["y"].shape[0]))
        return real(m, values, **kw)

    loop.free_energy = counting  # type: ignore[assignment]
    try:
        r = ebmgraph.train(model, cfg, data)
    finally:
        loop.free_energy = real  # type: ignore[assignment]
    assert len(r.history) == len(sizes)
    assert calls == sizes and sum(calls) == n  # every sample once, none dropped


def test_sgd_has_no_momentum_unless_set(tmp_path: Path) -> None:
    assert TrainConfig().optimizer.momentum == 0.0 == torch.optim.SGD([torch.zeros(1, requires_grad=True)]).defaults[
        "momentum"]
    from ebmgraph.training.loop import Trainer
    model = _ellipse()
    t = Trainer(model, TrainConfig.model_validate({"optimizer": {"kind": "sgd", "lr": 0.1}}),
                Dataset({"y": torch.randn(8, 2)}, {}))
    assert t.opt.param_groups[0]["momentum"] == 0.0
    t2 = Trainer(model, TrainConfig.model_validate({"optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.9}}),
                 Dataset({"y": torch.randn(8, 2)}, {}))
    assert t2.opt.param_groups[0]["momentum"] == 0.9


def test_pcd_keeps_its_chains_and_langevin_restarts_some() -> None:
    assert SamplerConfig(kind="pcd").restart_fraction() == 0.0
    assert SamplerConfig(kind="langevin").restart_fraction() == 0.05
    assert SamplerConfig(kind="pcd", reinit=0.2).restart_fraction() == 0.2
    from ebmgraph.training.samplers import ContrastiveSampler
    torch.manual_seed(0)
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "rbm.ebm", params={"nv": 6, "nh": 3}))
    s = ContrastiveSampler(model, SamplerConfig(kind="pcd", steps=1, buffer_size=8), "v")
    batch = {"v": (torch.rand(8, 6) > 0.5).float()}
    s(batch)
    first = s.buffer.clone()  # type: ignore[union-attr]
    s(batch)
    assert s.buffer is not None and s.buffer.shape == (8, 6)
    assert set(torch.unique(s.buffer).tolist()) <= {0.0, 1.0}
    # a chain moves from where it was, never from fresh noise: every row of the buffer after the
    # second call came from the first call's rows by one Gibbs sweep (checked: the buffer was reused)
    assert s.buffer is not first


def test_pcd_trains_an_rbm_from_a_config(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "rbm.ebm"))
    cfg = {"epochs": 1, "batch_size": 100, "progress": False, "plot": False, "out_dir": str(tmp_path / "r"),
           "optimizer": {"kind": "sgd", "lr": 0.05},
           "loss": {"kind": "contrastive_divergence", "target": "v"}, "sampler": {"kind": "pcd", "steps": 1},
           "data": {"source": "digits", "map": {"v": "data"}, "scale": 0.0625, "binarize": 0.5}}
    r = ebmgraph.train(model, cfg)
    assert len(r.history) == 18 and all(torch.isfinite(torch.tensor(h["loss"])) for h in r.history)


def test_scale_multiplies_the_bundled_data(tmp_path: Path) -> None:
    from ebmgraph.training.config import DataConfig
    from ebmgraph.training.data import make_dataset
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "autoencoder.ebm"))
    raw = make_dataset(model, DataConfig(source="digits", map={"y": "data"}))
    scaled = make_dataset(model, DataConfig(source="digits", map={"y": "data"}, scale=1 / 16))
    assert float(raw.tensors["y"].max()) == 16.0 and float(scaled.tensors["y"].max()) == 1.0
    torch.testing.assert_close(scaled.tensors["y"] * 16, raw.tensors["y"])


def test_a_held_out_split_is_kept_with_the_run_and_evaluated(tmp_path: Path) -> None:
    def run(out: Path, resume: bool = False) -> ebmgraph.training.loop.TrainResult:  # type: ignore[name-defined]
        model = _ellipse()
        cfg = {"epochs": 1, "batch_size": 64, "progress": False, "plot": False, "out_dir": str(out), "seed": 3,
               "data": {"source": "moons", "map": {"y": "data"}, "n_samples": 200, "test_fraction": 0.25}}
        return ebmgraph.train(model, cfg, resume=resume)

    r = run(tmp_path / "a")
    split = json.loads((tmp_path / "a" / "split.json").read_text())
    assert split["train_rows"] == 150 and len(split["test_rows"]) == 50 and len(set(split["test_rows"])) == 50
    assert len(r.history) == 2  # 150 training rows in 64s: 64, then 86 (a remainder of 22 joins the last)
    test = json.loads((tmp_path / "a" / "test.json").read_text())
    assert test == r.test and test["test_rows"] == 50.0 and test["F_test"] >= 0
    again = run(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "split.json").read_text()) == split  # the seed fixes the split
    assert again.test == pytest.approx(r.test)


def test_a_split_that_leaves_nothing_to_train_on_is_a_message(tmp_path: Path) -> None:
    from ebmgraph.training.data import DataError
    model = _ellipse()
    cfg = {"epochs": 1, "progress": False, "plot": False, "out_dir": str(tmp_path / "r"),
           "data": {"source": "moons", "map": {"y": "data"}, "n_samples": 3, "test_fraction": 0.1}}
    with pytest.raises(DataError, match="test_fraction = 0.1 of 3 rows holds out 0"):
        ebmgraph.train(model, cfg)


def test_kmeans_started_from_the_data_matches_scikit_learn(tmp_path: Path) -> None:
    """002 sec. 4.2.1: k-means as an EBM, its prototypes started at data rows by the config alone,
    reaches scikit-learn's KMeans(n_init=10) inertia on the digits / 16 (within 1%)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits
    X = load_digits().data / 16
    peer = KMeans(10, n_init=10, random_state=0).fit(X).inertia_ / len(X)
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "kmeans.ebm", params={"dy": 64, "K": 10}))
    cfg = {"epochs": 30, "batch_size": 256, "progress": False, "plot": False, "out_dir": str(tmp_path / "km"),
           "optimizer": {"lr": 0.01}, "data": {"source": "digits", "map": {"y": "data"}, "scale": 0.0625},
           "init": [{"fn": "centers", "from": "y", "method": "data"}]}
    ebmgraph.train(m, cfg)
    with torch.no_grad():
        ours = float(m.free_energy(y=torch.tensor(X, dtype=torch.float32)).free_energy.mean())
    assert ours <= 1.01 * peer, (ours, peer)
    assert np.isfinite(ours)


def test_kmeanspp_seeding_is_scikit_learns(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.cluster import kmeans_plusplus

    from ebmgraph.training.config import InitConfig
    from ebmgraph.training.data import init_from_data
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "kmeans.ebm", params={"dy": 2, "K": 4}))
    rows = torch.randn(50, 2)
    done = init_from_data(m, [InitConfig.model_validate({"fn": "centers", "from": "y", "method": "kmeans++"})],
                          Dataset({"y": rows}, {}), seed=5)
    want, _ = kmeans_plusplus(rows.numpy().astype(np.float64), 4, random_state=5)
    torch.testing.assert_close(m.fns["centers"].weight.T, torch.as_tensor(want, dtype=torch.float32))
    assert done == ["centers: 4 prototypes from 'y' (kmeans++)"]
    init_from_data(m, [InitConfig.model_validate({"fn": "centers", "from": "y"})], Dataset({"y": rows}, {}), seed=1)
    cols = m.fns["centers"].weight.T
    assert all(any(torch.equal(c, r) for r in rows) for c in cols)  # data: distinct rows of the data
    assert len({tuple(c.tolist()) for c in cols}) == 4


def test_init_mistakes_are_messages() -> None:
    from ebmgraph.training.config import InitConfig
    from ebmgraph.training.data import DataError, init_from_data
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "kmeans.ebm", params={"dy": 2, "K": 4}))
    data = Dataset({"y": torch.randn(50, 2)}, {})
    with pytest.raises(DataError, match="init names fn 'centres', which KMeans does not declare"):
        init_from_data(m, [InitConfig.model_validate({"fn": "centres", "from": "y"})], data, 0)
    with pytest.raises(DataError, match="its prototypes have 2 values, the rows of 'y' 3"):
        init_from_data(m, [InitConfig.model_validate({"fn": "centers", "from": "y"})],
                       Dataset({"y": torch.randn(50, 3)}, {}), 0)
    with pytest.raises(DataError, match="4 prototypes from 3 rows"):
        init_from_data(m, [InitConfig.model_validate({"fn": "centers", "from": "y"})],
                       Dataset({"y": torch.randn(3, 2)}, {}), 0)
