"""Our own attack suite (issue 14): every bad input gets one located message, work is bounded before it
is done, and failures leave nothing in the way. Mutation fuzzing runs through compile and free_energy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ebmgraph
from ebmgraph.checkpoint import CheckpointError
from ebmgraph.cli import app
from ebmgraph.limits import DEFAULT, Limits
from ebmgraph.limits import NAMES as LIMIT_NAMES
from ebmgraph.training import DataError, TrainingStopped

from .conftest import LIBRARY
from .pipeline_fuzz import cases, guarded

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::ebmgraph.inference.ConvergenceWarning")


# ------------------------------------------------------------------ mutation fuzzing, whole pipeline
def test_mutants_through_compile_and_free_energy_give_only_located_errors() -> None:
    # each mutant in a forked process under a 6 GiB memory limit and a 10 s hang detector
    outcomes = [(c, guarded(c.text, 6.0, 10.0, c.file, c.model)) for c in cases(120, seed=20261201)]
    findings = [(c.name, out, c.text) for c, out in outcomes if out.startswith("FINDING")]
    assert not findings, findings[:3]
    assert {out for _, out in outcomes} >= {"ok", "located"}
    assert any(c.model and c.file.endswith(".ebm") and "/agent/" in c.file for c, _ in outcomes)  # agent files too
    probes = [out for c, out in outcomes if c.name.startswith("categorical into")]
    assert len(probes) >= 12 and {"ok", "located"} <= set(probes)  # bias(y) works, sq_dist(y, r) is located


# ------------------------------------------------------------------ resource bombs: refused, located
BOMBS = [
    ("model M {\n  observed y : R[65536]\n  fn f = linear(65536, 65536)\n  energy E = sq_dist(y, f(y))\n}\n",
     3, "max_params", "--max-params"),
    ("model M {\n  observed y : R[8]\n  fn f = mlp(8, 40000, 40000, 8)\n  energy E = sq_dist(y, f(y))\n}\n",
     3, "max_params", "--max-params"),
    ("model M {\n  observed y : R[16384, 16384]\n  energy E = l2(y)\n}\n", 2, "max_sample_mb", "--max-sample-mb"),
    ("model M {\n  observed y : R[1000000, 8]\n  fn a = attention(8, 2)\n  energy E = sq_dist(y, a(y))\n}\n",
     4, "max_sample_mb", "MB per sample"),
    ("model M {\n  observed y : R[1]\n  latent z : R[1] infer minimize(steps = 100000000)\n  energy E = sq_dist(y, z)\n}\n",
     3, "max_steps", "steps = 100000000"),
    ("model M {\n  observed y : R[1]\n  latent z : R[1] infer sample(steps = 100000000)\n  energy E = sq_dist(y, z)\n}\n",
     3, "max_steps", "--max-steps"),
    ("model M {\n  observed y : R[1]\n  latent z : R[1] infer amortized(proposal = h, refine = 100000000)\n"
     "  fn e = linear(1, 1)\n  h = e(y)\n  energy E = sq_dist(y, z)\n}\n", 3, "max_steps", "refine"),
    ("model M {\n  observed y : R[1]\n  latent z : R[1] infer marginal(samples = 100000000)\n  energy E = sq_dist(y, z)\n}\n",
     3, "max_draws", "samples"),
    ("model M {\n  observed y : R[1]\n  latent z : R[1] infer minimize(restarts = 100000000)\n  energy E = sq_dist(y, z)\n}\n",
     3, "max_draws", "restarts"),
    ("model M {\n  observed y : R[1]\n  for t in 0..1000000 {\n    energy E[t] = l2(y)\n  }\n}\n", 3, "max_nodes",
     "--max-nodes"),
]


@pytest.mark.parametrize("src,line,limit,needle", BOMBS, ids=[f"{b[2]}-{i}" for i, b in enumerate(BOMBS)])
def test_resource_bombs_are_refused_before_any_work(src: str, line: int, limit: str, needle: str) -> None:
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(src, file="bomb.ebm")
    err = info.value.errors[0]
    assert err.line == line and err.code in ("E022", "E023") and needle in err.render()
    assert limit in err.render() and "raise it with" in err.render()


def test_a_long_unrolled_inference_is_refused_and_the_limit_can_be_raised(tmp_path: Path) -> None:
    src = (LIBRARY / "planner.ebm").read_text().replace("model Planner(T = 5", "model Planner(T = 1000")
    assert "model Planner(T = 1000" in src
    with pytest.raises(ebmgraph.EbmError, match=r"about 255,000 times per call, more than the limit max_work"):
        ebmgraph.loads(src)
    g = ebmgraph.loads(src, limits=Limits(max_work=300_000))
    assert len(g.energies) == 2000
    (tmp_path / "p.ebm").write_text(src)
    assert runner.invoke(app, ["check", str(tmp_path / "p.ebm")]).exit_code == 1
    assert runner.invoke(app, ["check", str(tmp_path / "p.ebm"), "--max-work", "300000"]).exit_code == 0


def test_the_estimate_counts_what_compile_builds() -> None:
    from ebmgraph.check import estimate
    for path in sorted(LIBRARY.glob("*.ebm")):
        g = ebmgraph.load(path)
        assert estimate(g)["params"] == ebmgraph.compile(g).parameter_count(), path.name


def test_config_sampler_sizes_have_limits(tmp_path: Path) -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    text = ('out_dir = "x"\n[data]\nsource = "moons"\nmap = { x = "data[:, 0:1]", y = "data[:, 1:2]" }\n'
            '[loss]\nkind = "pairwise_hinge"\ntarget = "y"\n[sampler]\nkind = "corruption"\nn = 100000000\n')
    from ebmgraph.training.config import parse_config
    cfg = parse_config(text, "c.toml")
    cfg.__dict__["_text"], cfg.__dict__["_file"] = text, "c.toml"
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.train(m, cfg)
    err = info.value.errors[0]
    assert (err.file, err.line) == ("c.toml", 10) and "max_draws" in err.message
    assert "[limits] max_draws" in (err.hint or "")


# ------------------------------------------------------------------ what check accepts, compile builds
@pytest.mark.parametrize("src,needle", [
    ("model M {\n  observed y : R[2]\n  latent z : R[1]\n  fn dec = ellipse(r1 = nope)\n  energy E = sq_dist(y, dec(z))\n}\n",
     "option 'r1' of ellipse must be a number, got 'nope'"),
    ("model M {\n  observed y : R[2]\n  fn f = linear(2, 2, bogus = 1)\n  energy E = l2(y)\n}\n",
     "linear has no option 'bogus'"),
    ("model M {\n  observed y : R[2]\n  fn f = mlp(2, 3, activation = nope)\n  energy E = l2(y)\n}\n",
     "option 'activation' of mlp must be one of"),
    ("model M {\n  observed y : R[2]\n  fn f = linear(2.5, 2)\n  energy E = l2(y)\n}\n", "sizes must be positive integers"),
    ("model M(lam = 1e308) {\n  observed y : R[2]\n  energy E = lam * l2(y)\n}\n", "float32"),
    ("model M {\n  observed y : R[2]\n  latent z : R[2] infer minimize(optimizer = 1000)\n  energy E = sq_dist(y, z)\n}\n",
     "must be one of auto"),
])
def test_bad_options_are_located_whether_applied_or_not(src: str, needle: str) -> None:
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(src)
    err = info.value.errors[0]
    assert needle in err.message and err.source_line is not None and err.column >= 1


def test_a_part_that_cannot_be_built_is_a_located_error() -> None:
    def broken(n: int) -> torch.nn.Module:
        raise ValueError("this factory refuses")

    ebmgraph.register("test_broken", broken, shape=lambda shapes, cfg: shapes[0], replace=True)
    g = ebmgraph.loads("model M {\n  observed y : R[2]\n  fn f = test_broken(n = 2)\n  energy E = sq_dist(y, f(y))\n}\n")
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.compile(g)
    err = info.value.errors[0]
    assert err.line == 3 and "cannot build fn 'f' = test_broken: ValueError: this factory refuses" in err.message


# ------------------------------------------------------------------ front-end boundaries
def test_front_end_faults_are_located(tmp_path: Path) -> None:
    (tmp_path / "x.ebm").mkdir()
    body = "model M {\n  observed x : R[1]\n  energy E = l2(x)\n}\n"
    cases_ = {
        'import "a\x00b.ebm"\n' + body: "contains a NUL byte",
        'import "' + "a" * 5000 + '.ebm"\n' + body: "is too long",
        'import "x.ebm"\n' + body: "is a directory, not a .ebm file",
        "model M {\n  observed x : R[" + "9" * 5000 + "]\n  energy E = l2(x)\n}\n": "integer is too large",
    }
    for text, needle in cases_.items():
        (tmp_path / "m.ebm").write_text(text)
        with pytest.raises(ebmgraph.EbmError) as info:
            ebmgraph.load(tmp_path / "m.ebm")
        assert needle in info.value.errors[0].message
        assert len(info.value.render()) < 2000  # a 5,000-character line is shown around the mistake
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads("")
    assert "1 | \n  | ^" in info.value.render()  # E012 has its caret


# ------------------------------------------------------------------ CLI outputs
def test_render_output_faults_are_messages(tmp_path: Path) -> None:
    jepa = str(LIBRARY / "jepa.ebm")
    r = runner.invoke(app, ["render", jepa, "-o", str(tmp_path / "no" / "dir" / "x.svg")])
    assert r.exit_code == 1 and "does not exist; create it first" in r.output and not (tmp_path / "no").exists()
    (tmp_path / "d.svg").mkdir()
    r = runner.invoke(app, ["render", jepa, "-o", str(tmp_path / "d.svg")])
    assert r.exit_code == 1 and "is a directory" in r.output
    r = runner.invoke(app, ["render", jepa, "-o", "/proc/ebm-test.svg"])  # not writable, even for root
    assert r.exit_code == 1 and "cannot write '/proc/ebm-test.svg'" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_outputs_keep_the_files_mode_and_honour_the_umask(tmp_path: Path) -> None:
    f = tmp_path / "m.ebm"
    f.write_text("model M {\n  observed x : R[1]\n  energy E = l2(x)\n}\n\n\n")
    f.chmod(0o644)
    assert runner.invoke(app, ["fmt", "--write", str(f)]).exit_code == 0
    assert (f.stat().st_mode & 0o777) == 0o644 and f.read_text().endswith("}\n")
    old = os.umask(0o022)
    try:
        assert runner.invoke(app, ["render", str(f), "-o", str(tmp_path / "m.svg")]).exit_code == 0
    finally:
        os.umask(old)
    assert ((tmp_path / "m.svg").stat().st_mode & 0o777) == 0o644


# ------------------------------------------------------------------ malformed checkpoints
def _saved(tmp_path: Path) -> Path:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "regression.ebm"))
    return ebmgraph.save(m, tmp_path / "good.pt")


@pytest.mark.parametrize("damage,needle", [
    (lambda p: p.pop("state_dict"), "its 'state_dict' is missing"),
    (lambda p: p.pop("source"), "its 'source' is missing"),
    (lambda p: p.update(weights=[1, 2]), "its 'weights' is a list"),
    (lambda p: p.update(model=3), "its 'model' is a int"),
    (lambda p: p["state_dict"].update({"x": 3}), "entry 'x' is not a tensor"),
    (lambda p: [t.fill_(float("nan")) for t in p["state_dict"].values()], "holds NaN or infinite values"),
    (lambda p: p["weights"].update(E=float("inf")), "the weight of energy term 'E' is inf"),
    (lambda p: p.update(format="other"), "is not an ebmgraph checkpoint"),
    (lambda p: p.update(standardization={"x": 1}), "standardization is not mean/std tensors"),
])
def test_damaged_checkpoints_are_refused_with_what_is_wrong(tmp_path: Path, damage, needle: str) -> None:  # type: ignore[no-untyped-def]
    payload = torch.load(_saved(tmp_path), weights_only=True)
    damage(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=needle.replace("(", r"\(")):
        ebmgraph.load_checkpoint(tmp_path / "bad.pt")


def test_foreign_truncated_empty_and_random_files_are_refused(tmp_path: Path) -> None:
    good = _saved(tmp_path).read_bytes()
    files = {"truncated.pt": good[: len(good) // 2], "empty.pt": b"", "random.pt": os.urandom(4096)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save({"weights": torch.nn.Linear(2, 2)}, tmp_path / "foreign.pt")  # a pickled module: never unpickled
    for name in [*files, "foreign.pt"]:
        with pytest.raises(CheckpointError):
            ebmgraph.load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="is a directory"):
        ebmgraph.load_checkpoint(tmp_path)


def test_a_crafted_checkpoint_with_a_huge_model_is_refused_before_it_is_built(tmp_path: Path) -> None:
    payload = torch.load(_saved(tmp_path), weights_only=True)
    payload["source"] = "model Big {\n  observed y : R[65536]\n  fn f = linear(65536, 65536)\n  energy E = sq_dist(y, f(y))\n}\n"
    payload["model"] = "Big"
    torch.save(payload, tmp_path / "big.pt")
    with pytest.raises(CheckpointError, match="max_params"):
        ebmgraph.load_checkpoint(tmp_path / "big.pt")


def _train_cfg(tmp_path: Path, name: str = "run", **extra: object) -> dict[str, object]:
    return {"data": {"source": "moons", "map": {"x": "data[:, 0:1]", "y": "data[:, 1:2]"}, "n_samples": 256},
            "loss": {"kind": "pairwise_hinge", "target": "y"}, "sampler": {"kind": "corruption", "noise": 0.5},
            "epochs": 2, "batch_size": 64, "checkpoint_every": 3, "progress": False, "plot": False,
            "out_dir": str(tmp_path / name), **extra}


def _toml(cfg: dict[str, object]) -> str:
    lines = [f'out_dir = "{cfg["out_dir"]}"', "epochs = 2", "batch_size = 64", "checkpoint_every = 3", "progress = false",
             "plot = false", "[data]", 'source = "moons"', 'map = { x = "data[:, 0:1]", y = "data[:, 1:2]" }',
             "n_samples = 256", "[loss]", 'kind = "pairwise_hinge"', 'target = "y"', "[sampler]", 'kind = "corruption"',
             "noise = 0.5"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content,needle", [
    (b"", "is empty"), (b"not a checkpoint at all", "not a readable ebmgraph checkpoint"), (None, "no training state")])
def test_resume_reads_through_the_safe_loader(tmp_path: Path, content: bytes | None, needle: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if content is None:
        _saved(tmp_path)
        shutil.copy(tmp_path / "good.pt", run / "checkpoint.pt")  # weights only, no optimizer state
    else:
        (run / "checkpoint.pt").write_bytes(content)
    (tmp_path / "c.toml").write_text(_toml(_train_cfg(tmp_path)))
    r = runner.invoke(app, ["train", str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml"),
                            "--resume"])
    assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------ data files, out_dir, disk
def test_empty_data_and_columns_past_the_end_are_data_errors(tmp_path: Path) -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2), dtype=np.float32))
    with pytest.raises(DataError, match="has no rows"):
        ebmgraph.train(m, {**_train_cfg(tmp_path), "data": {"source": str(tmp_path / "empty.npy"),
                                                             "map": {"x": "data[:, 0:1]", "y": "data[:, 1:2]"}}})
    with pytest.raises(DataError, match="has 2 columns .* column 4 is past the end"):
        ebmgraph.train(m, {**_train_cfg(tmp_path), "data": {"source": "moons", "map": {"x": "data[:, 4]",
                                                                                        "y": "data[:, 1:2]"}}})
    assert not (tmp_path / "run").exists()


def test_an_out_dir_that_is_a_file_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("x")
    (tmp_path / "c.toml").write_text(_toml(_train_cfg(tmp_path)))
    r = runner.invoke(app, ["train", str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml")])
    assert r.exit_code == 1 and "is a file, not a folder" in r.output


def test_a_run_that_fails_before_its_first_checkpoint_leaves_its_out_dir_rerunnable(tmp_path: Path) -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    with pytest.raises(TrainingStopped, match="no checkpoint was written"):
        ebmgraph.train(m, _train_cfg(tmp_path, divergence=1e-12))
    assert not (tmp_path / "run").exists()
    result = ebmgraph.train(m, _train_cfg(tmp_path))  # the rerun is not refused
    assert result.checkpoint is not None


def test_resume_drops_the_rows_of_the_replayed_steps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    ebmgraph.train(m, _train_cfg(tmp_path, max_steps=5))  # checkpoint at step 3 and at the end (5)
    metrics = tmp_path / "run" / "metrics.jsonl"
    rows = metrics.read_text().splitlines()
    # a run killed after step 7, whose last checkpoint was at step 5: rows 6 and 7 will be replayed
    extra = [json.dumps({**json.loads(rows[-1]), "step": s}) for s in (6, 7)]
    metrics.write_text("\n".join(rows + extra) + "\n{\"step\": 8, \"lo")  # and a torn last line
    m2 = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
    ebmgraph.train(m2, _train_cfg(tmp_path, max_steps=9), resume=True)
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(1, 10))


def _tmpfs(size: str) -> tuple[Path | None, str]:
    """A small tmpfs, or None and why it cannot be mounted here."""
    mnt = Path(f"/tmp/ebm-tmpfs-{uuid.uuid4().hex[:8]}")
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        mnt.rmdir()
        return None, r.stderr.strip() or f"mount exited {r.returncode}"
    return mnt, ""


def test_a_full_disk_says_no_space_left_and_which_checkpoint_is_kept(tmp_path: Path) -> None:
    mnt, why = _tmpfs("200k")
    if mnt is None:  # issue 14 allows this one skip, with its reason: a full disk needs a mount
        pytest.skip(f"cannot mount a tmpfs on this machine: {why}")
    try:
        torch.manual_seed(0)
        g = ebmgraph.loads("model Big {\n  observed x : R[1]\n  observed y : R[1]\n  fn f = mlp(2, 64, 64, 1)\n"
                           "  energy E = f(cat(x, y))\n}\n")  # ~18 KB of weights per checkpoint
        probe = ebmgraph.train(ebmgraph.compile(g), _train_cfg(tmp_path, "probe", max_steps=1))
        assert probe.checkpoint is not None
        size = probe.checkpoint.stat().st_size + probe.metrics.stat().st_size * 4
        m = ebmgraph.compile(g)
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"x" * (free - int(1.6 * size)))  # room for one checkpoint, not two
        with pytest.raises(TrainingStopped) as info:
            ebmgraph.train(m, _train_cfg(mnt, "run", max_steps=400, checkpoint_every=1))
        msg = str(info.value)
        assert "no space left on the device" in msg and "is kept" in msg and str(mnt / "run") in msg
        ckpt = mnt / "run" / "checkpoint.pt"
        assert ckpt.exists() and ebmgraph.load_checkpoint(ckpt) is not None  # the last good one loads
        assert not [p for p in (mnt / "run").iterdir() if p.name.endswith(".tmp")]  # no half-written file
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()


# ------------------------------------------------------------------ long work stops cleanly
def test_ctrl_c_during_minimization_returns_the_best_point_so_far() -> None:
    calls = {"n": 0}

    class Interrupting(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            calls["n"] += 1
            if calls["n"] == 40:
                raise KeyboardInterrupt
            return (z - 3).pow(2).sum(1)

    ebmgraph.register("test_interrupting", Interrupting, energy=True, replace=True)
    m = ebmgraph.compile(ebmgraph.loads("model M {\n  observed y : R[1]\n  latent z : R[1] infer minimize(optimizer = "
                                        "adam, steps = 1000, lr = 0.1)\n  energy E = test_interrupting(z)\n"
                                        "  energy Y = l2(y)\n}\n"))
    calls["n"] = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = m.free_energy(y=torch.zeros(1, 1))
    assert any("interrupted (Ctrl-C)" in str(w.message) for w in caught)
    assert r.diagnostics["z"]["steps"] < 1000 and 0 < float(r.values["z"]) < 3


def test_limits_defaults_are_documented_in_the_readme() -> None:
    readme = (LIBRARY.parent / "README.md").read_text()
    section = readme[readme.index("## Limits and errors"):]
    for name in DEFAULT.__dataclass_fields__:
        assert name in section and Limits.flag(name) in section


# ------------------------------------------------------------------ settings from outside (part of issue 9)
def test_model_parameters_set_from_python_the_cli_and_a_config(tmp_path: Path) -> None:
    g = ebmgraph.load(LIBRARY / "rbm.ebm", params={"nh": 8})
    assert g.var("h").domain.shape == (8,) and g.params["nh"] == 8
    with pytest.raises(ebmgraph.EbmError, match="model 'RBM' has no parameter 'nhh' to set") as info:
        ebmgraph.load(LIBRARY / "rbm.ebm", params={"nhh": 8})
    assert info.value.errors[0].hint == "did you mean 'nh'?"
    r = runner.invoke(app, ["show", str(LIBRARY / "rbm.ebm"), "--param", "nh=8"])
    assert r.exit_code == 0 and "bits[8]" in r.output
    assert runner.invoke(app, ["show", str(LIBRARY / "rbm.ebm"), "--param", "nh"]).exit_code == 2
    m = ebmgraph.compile(g)  # the checkpoint remembers the parameters the text does not say
    ebmgraph.save(m, tmp_path / "rbm8.pt")
    assert ebmgraph.load_checkpoint(tmp_path / "rbm8.pt").graph.var("h").domain.shape == (8,)
    (tmp_path / "c.toml").write_text('epochs = 1\nbatch_size = 64\nprogress = false\nplot = false\n'
                                     f'out_dir = "{tmp_path / "run"}"\nparams = {{ nh = 4 }}\n[data]\n'
                                     'source = "digits"\nmap = { v = "data" }\nbinarize = 8.0\n[loss]\n'
                                     'kind = "contrastive_divergence"\ntarget = "v"\n[sampler]\nkind = "cd"\n')
    r = runner.invoke(app, ["train", str(LIBRARY / "rbm.ebm"), "--config", str(tmp_path / "c.toml")])
    assert r.exit_code == 0, r.output
    assert ebmgraph.load_checkpoint(tmp_path / "run" / "checkpoint.pt").graph.var("h").domain.shape == (4,)


def test_functions_are_found_by_the_names_users_see() -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "hjepa.ebm"))
    assert "lo.enc_x" in m.fns and m.fns["lo.enc_x"] is m.fns["lo__enc_x"]
    assert m.parameter_count("lo.enc_x") == sum(p.numel() for p in m.fns["lo.enc_x"].parameters())


# ------------------------------------------------------------------ issue 26.3: categorical into energies
@pytest.mark.parametrize("energy", ["bias", "hopfield"])
def test_a_categorical_variable_enters_bias_and_hopfield_as_its_one_hot_vector(energy: str) -> None:
    m = ebmgraph.compile(ebmgraph.loads(f"model M {{\n  observed y : {{3}}\n  energy E = {energy}(y)\n}}\n"))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) + 1)
    e = m.energy(y=torch.tensor([0, 1, 2])).total
    one_hot = torch.eye(3)
    if energy == "bias":  # -b . one_hot(y)
        want = -(one_hot @ torch.tensor([1.0, 2.0, 3.0]))
    else:  # -y^T W y, W symmetric with a zero diagonal: a one-hot state has no pair, so 0
        sym = m.energy_terms["E"].symmetric().detach()
        want = -torch.einsum("bi,ij,bj->b", one_hot, sym, one_hot)
        assert float(sym.abs().sum()) > 0 and float(want.abs().max()) == 0.0
    torch.testing.assert_close(e, want)


def test_cross_entropy_logits_must_have_one_entry_per_category() -> None:
    src = ("model M {\n  observed x : R[2]\n  observed y : {3}\n  fn f = linear(2, 1)\n"
           "  energy E = cross_entropy(f(x), y)\n}\n")
    with pytest.raises(ebmgraph.EbmError) as exc:
        ebmgraph.loads(src)
    d = exc.value.diagnostics[0]
    assert (d.code, d.line) == ("E042", 5)
    assert "logits have 1 entries but the categorical target has 3 categories" in d.message
    m = ebmgraph.compile(ebmgraph.loads(src.replace("linear(2, 1)", "linear(2, 3)")))
    assert m.free_energy(x=torch.zeros(2, 2), y=torch.tensor([2, 0])).energy.shape == (2,)


# ------------------------------------------------------------------ issue 26.4-5: every count and file a user gives
@pytest.mark.parametrize("flag,value,needle", [
    *[(Limits.flag(n), "nan", f"{Limits.flag(n)} must be a positive") for n in LIMIT_NAMES],
    ("--max-params", "nan", "--max-params must be a positive whole number, got nan"),
    ("--max-work", "-5", "--max-work must be a positive whole number, got -5"),
    ("--max-rows", "2.5", "--max-rows must be a positive whole number, got 2.5"),
    ("--max-sample-mb", "inf", "--max-sample-mb must be a positive number, got inf"),
    ("--max-train-steps", "0", "--max-train-steps must be a positive whole number, got 0")])
def test_every_limit_flag_takes_positive_finite_numbers_only(flag: str, value: str, needle: str) -> None:
    r = runner.invoke(app, ["check", str(LIBRARY / "pca.ebm"), flag, value])
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output
    with pytest.raises(ValueError, match="must be a positive number"):
        Limits(max_work=-5)


def test_devices_and_pipes_are_refused_before_they_are_read(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(_toml(_train_cfg(tmp_path)))
    for args in (["check", "/dev/zero"], ["train", "/dev/zero", "--config", str(tmp_path / "c.toml")],
                 ["train", str(LIBRARY / "energy_net.ebm"), "--config", "/dev/zero"]):
        r = runner.invoke(app, args)  # /dev/zero never ends: reading it first would hang here
        assert r.exit_code != 0 and "not a regular file" in r.output and "Traceback" not in r.output, args
        assert r.output.count("not a regular file") == 1  # one located line
    with pytest.raises(ebmgraph.EbmError, match=r"E004.*not a regular file"):
        ebmgraph.load("/dev/zero")


def test_npy_headers_are_checked_before_the_data_is_read(tmp_path: Path) -> None:
    from numpy.lib import format as npformat
    with (tmp_path / "huge.npy").open("wb") as fh:  # a header promising 10^12 rows, 64 bytes of data
        npformat.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 2)})
        fh.write(b"\0" * 64)
    np.save(tmp_path / "complex.npy", np.ones((300, 2), complex))
    np.savez(tmp_path / "complex.npz", data=np.ones((300, 2), complex))
    for name, needle in [("huge.npy", "its header promises shape (1000000000000, 2) (8,000,000,000,000 bytes) but "
                                      "it holds 64"),
                         ("complex.npy", "holds complex numbers; give real numbers"),
                         ("complex.npz", "member 'data' holds complex numbers")]:
        cfg = _train_cfg(tmp_path)
        cfg["data"] = {"source": str(tmp_path / name), "map": {"x": "data[:, 0:1]", "y": "data[:, 1:2]"}}
        m = ebmgraph.compile(ebmgraph.load(LIBRARY / "energy_net.ebm"))
        with pytest.raises(DataError, match=re.escape(needle)):
            ebmgraph.train(m, cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("line,where,needle", [
    ("max_steps = 9223372036854775807", 1, "max_steps = 9223372036854775807 asks for more optimizer steps than the "
                                           "limit max_train_steps = 10000000"),
    ("epochs = 100000000000", 1, "epochs = 100000000000 asks for more epochs"),
    ("threads = 100000", 1, "'threads': Input should be less than or equal to 256"),
    ("seed = 1180591620717411303424", 1, "'seed': Input should be less than 9223372036854775808"),
    ("n_samples = 10000000000", 10, "data.n_samples = 10000000000 asks for more generated rows than the limit max_rows")])
def test_counts_in_a_config_go_through_the_limits(tmp_path: Path, line: str, where: int, needle: str) -> None:
    text = _toml(_train_cfg(tmp_path)).replace("epochs = 2\n", "")
    text = (line + "\n" + text) if where == 1 else text.replace("n_samples = 256", line)
    (tmp_path / "c.toml").write_text(text)
    r = runner.invoke(app, ["train", str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml")])
    assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, r.output
    assert f"c.toml:{text.splitlines().index(line) + 1}:1: error" in r.output  # at the line that says it
    assert not (tmp_path / "run").exists()


def test_infer_repeats_past_max_rows_are_refused_before_any_allocation(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('batch_size = 64\n[data]\nsource = "moons"\nmap = { x = "data[:, 0:1]" }\n')
    r = runner.invoke(app, ["infer", str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml"),
                            "--target", "y", "--repeats", "1000000000", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "1000 rows x 1000000000 repeats" in r.output and "max_rows" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o" / "infer.npz").exists()


def test_an_out_dir_that_is_a_device_is_a_message(tmp_path: Path) -> None:
    cfg = _train_cfg(tmp_path)
    cfg["out_dir"] = "/dev/null"
    (tmp_path / "c.toml").write_text(_toml(cfg))
    r = runner.invoke(app, ["train", str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml")])
    assert r.exit_code == 1 and "out_dir '/dev/null' is a device, a pipe or a socket, not a folder" in r.output


# ------------------------------------------------------------------ issue 26.5: the agent and atomic writes
def test_a_nan_goal_is_refused_with_the_config_and_a_failed_agent_leaves_no_empty_out_dir(tmp_path: Path) -> None:
    from ebmgraph.agent import load_agent_config
    bad = tmp_path / "bad.toml"
    bad.write_text(f'env = "Pendulum-v1"\ngoal = [nan, 0.0, 0.0]\nout_dir = "{tmp_path / "run"}"\n')
    with pytest.raises(ebmgraph.EbmError) as caught:
        load_agent_config(bad)  # before any training: the config itself is refused
    assert "bad.toml:2:1: error[C001]: 'goal.0': Input should be a finite number" in caught.value.render()
    bad.write_text(f'env = "NoSuchEnv-v0"\ngoal = [1.0, 0.0, 0.0]\nout_dir = "{tmp_path / "run"}"\n')
    r = runner.invoke(app, ["agent", str(bad), "--quick"])
    assert r.exit_code != 0 and "NoSuchEnv-v0" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()


def test_the_temporary_file_of_a_killed_write_is_removed_by_the_next_write(tmp_path: Path) -> None:
    from ebmgraph.files import write_atomic
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid names no process now
    dead.wait()
    target = tmp_path / "agent_state.pt"
    stale = tmp_path / f".agent_state.pt.{dead.pid}.k1ll.tmp"  # what kill -9 mid-write leaves: 0 bytes
    stale.write_bytes(b"")
    live = tmp_path / f".agent_state.pt.{os.getppid()}.busy.tmp"  # a write still going on in a live process
    live.write_bytes(b"")
    write_atomic(target, b"state")
    assert target.read_bytes() == b"state" and not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "agent_state.pt"]


def test_memory_and_os_errors_past_every_check_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import ebmgraph.cli as cli
    for exc, needle in [(MemoryError(), "error: out of memory: lower the batch size"),
                        (OSError(28, "No space left on device", "/tmp/x"), "error: /tmp/x: No space left on device")]:
        def boom(exc: BaseException = exc) -> None:
            raise exc
        monkeypatch.setattr(cli, "app", boom)
        with pytest.raises(SystemExit) as out:
            cli.main()
        assert out.value.code == 1
        err = capsys.readouterr().err
        assert err.strip() == err.strip().splitlines()[0] and needle in err


@pytest.mark.parametrize("command", ["train", "eval", "infer"])
def test_every_data_command_refuses_a_lying_npy_header_in_one_line(tmp_path: Path, command: str) -> None:
    from numpy.lib import format as npformat
    with (tmp_path / "huge.npy").open("wb") as fh:
        npformat.write_array_header_2_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 2)})
        fh.write(b"\0" * 64)
    (tmp_path / "c.toml").write_text(f'out_dir = "{tmp_path / "run"}"\nprogress = false\n[data]\n'
                                     f'source = "{tmp_path / "huge.npy"}"\nmap = {{ x = "data[:, 0:1]" }}\n')
    extra = {"train": [], "eval": ["--out", str(tmp_path / "e")], "infer": ["--target", "y", "--out", str(tmp_path / "i")]}
    r = runner.invoke(app, [command, str(LIBRARY / "energy_net.ebm"), "--config", str(tmp_path / "c.toml"),
                            *extra[command]])
    assert r.exit_code == 1 and "its header promises shape (1000000000000, 2)" in r.output, r.output
    assert "Traceback" not in r.output and len([ln for ln in r.output.splitlines() if ln.strip()]) == 1


def test_an_unknown_model_in_a_loop_of_use_is_one_error_not_a_cascade_of_cycles() -> None:
    src = ("model P(T = 3) {\n  observed s[0] : R[2]\n  latent a[0..T - 1] : R[1]\n\n  for t in 0..T - 1 {\n"
           "    use f[t] = Stepp(ds = 2) { s = s[t], a = a[t] } shares f[0]\n\n    s[t + 1] = f[t].s_next\n  }\n}\n")
    with pytest.raises(ebmgraph.EbmError) as exc:
        ebmgraph.loads(src)
    assert [(d.code, d.line) for d in exc.value.diagnostics if d.severity == "error"] == [("E030", 6)]
    assert "unknown model 'Stepp'" in exc.value.diagnostics[0].message
