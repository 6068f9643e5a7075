"""How a training run spends its time and ends: checkpoints on a step or time interval (always at
the end), metrics written with them, Ctrl-C finishing the step and saving, threads and device."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

import ebmgraph
from ebmgraph.training import loop as training_loop
from ebmgraph.training import parse_config

from .conftest import LIBRARY


def _cfg(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"data": {"source": "moons", "map": {"x": "data[:, 0:1]", "y": "data[:, 1:2]"}, "n_samples": 256},
            "loss": {"kind": "pairwise_hinge", "target": "y"}, "sampler": {"kind": "corruption", "noise": 0.5},
            "epochs": 4, "batch_size": 32, "progress": False, "plot": False, "out_dir": str(tmp_path / "run"),
            **extra}


def _count_saves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    steps: list[int] = []
    real = training_loop.save

    def counting(model, path, extra=None, standardization=None):  # type: ignore[no-untyped-def]
        steps.append(extra["step"])
        return real(model, path, extra=extra, standardization=standardization)

    monkeypatch.setattr(training_loop, "save", counting)
    return steps


def test_checkpoints_follow_the_step_interval_and_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saves = _count_saves(monkeypatch)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    result = ebmgraph.train(m, _cfg(tmp_path, checkpoint_every=10))  # 8 steps per epoch, 32 in all
    assert saves == [10, 20, 30, 32]  # not one per epoch: a short epoch no longer costs a save
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 33)) == [h["step"] for h in result.history]


def test_a_time_interval_saves_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saves = _count_saves(monkeypatch)
    clock = iter(float(i) for i in range(10_000))  # one "second" per reading of the clock
    monkeypatch.setattr(training_loop.time, "monotonic", lambda: next(clock))
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    ebmgraph.train(m, _cfg(tmp_path, checkpoint_every=1000, checkpoint_seconds=5.0, epochs=1))
    assert len(saves) >= 2 and saves[-1] == 8 and saves == sorted(saves)


def test_ctrl_c_finishes_the_step_saves_and_resumes_to_the_same_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    full = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    ebmgraph.train(full, _cfg(tmp_path, out_dir=str(tmp_path / "full"), checkpoint_every=1000))
    torch.manual_seed(0)
    part = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))

    def press_ctrl_c(row: dict[str, float]) -> None:
        if row["step"] == 5:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="interrupted after step 5; the checkpoint .* is complete"):
        ebmgraph.train(part, _cfg(tmp_path, checkpoint_every=1000), on_step=press_ctrl_c)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["extra"]["step"] == 5
    resumed = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    ebmgraph.train(resumed, _cfg(tmp_path, checkpoint_every=1000), resume=True)
    for (n, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=n)


def test_threads_and_device_come_from_the_config(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
        ebmgraph.train(m, _cfg(tmp_path, threads=1, epochs=1, device="cpu"))
        assert torch.get_num_threads() == 1
        assert training_loop.set_threads(None) == (1 if (os.cpu_count() or 1) <= 4 else min(8, os.cpu_count() or 1))
    finally:
        torch.set_num_threads(before)
    text = ('out_dir = "%s"\nepochs = 1\ndevice = "cuda:7"\n[data]\nsource = "moons"\n'
            'map = { x = "data[:, 0:1]", y = "data[:, 1:2]" }\n[loss]\nkind = "pairwise_hinge"\ntarget = "y"\n'
            '[sampler]\nkind = "corruption"\n') % (tmp_path / "gpu")
    cfg = parse_config(text, "gpu.toml")
    cfg.__dict__["_text"], cfg.__dict__["_file"] = text, "gpu.toml"
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.train(ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm")), cfg)
    err = info.value.diagnostics[0]
    assert (err.file, err.line, err.code) == ("gpu.toml", 3, "C001") and 'device = "cuda:7"' in err.message
    assert not (tmp_path / "gpu").exists()


def test_bundled_sets_are_cached_once_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ebmgraph.training.config import DataConfig
    from ebmgraph.training.data import cache_dir, load_arrays

    monkeypatch.setenv("EBMGRAPH_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(source="moons", map={"x": "data"}, n_samples=100, noise=0.1)
    first = load_arrays(cfg, seed=3)
    files = list(cache_dir().glob("moons-n100-noise0.1-seed3-sklearn*.npz"))
    assert len(files) == 1
    from sklearn.datasets import make_moons
    x, t = make_moons(100, noise=0.1, random_state=3)
    assert (first["data"] == x.astype("float32")).all() and (first["target"] == t).all()
    again = load_arrays(cfg, seed=3)
    assert (again["data"] == first["data"]).all()
    files[0].write_bytes(b"not an npz")  # a broken cache file is made again, never an error
    assert (load_arrays(cfg, seed=3)["data"] == first["data"]).all()
    assert load_arrays(DataConfig(source="moons", map={"x": "data"}, n_samples=100, noise=0.1), seed=4)["data"].shape \
        == (100, 2)
    assert len(list(cache_dir().glob("moons-*.npz"))) == 2  # another seed, another file


def test_a_device_that_is_not_there_on_the_command_line_is_named_as_such(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ebmgraph.cli import app

    (tmp_path / "c.toml").write_text(f'epochs = 1\nout_dir = "{tmp_path / "run"}"\n[data]\nsource = "moons"\n'
                                     'map = { x = "data[:, 0:1]", y = "data[:, 1:2]" }\n[loss]\n'
                                     'kind = "pairwise_hinge"\ntarget = "y"\n[sampler]\nkind = "corruption"\n')
    r = CliRunner().invoke(app, ["train", str(LIBRARY / "energy_net.ebm"), "-c", str(tmp_path / "c.toml"),
                                 "--device", "cuda:7"])
    assert r.exit_code == 2 and "error: --device: " in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()
