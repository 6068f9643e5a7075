"""Parts registered from Python, usable by every command: entry points (group ebmgraph.parts)
and a training config's `plugins = [...]`. Each case runs in a fresh process, as a user's would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PARTS = '''import torch
import ebmgraph
from ebmgraph.catalogue import fmt_shape

def _twice_shape(shapes, cfg):
    return shapes[0]

ebmgraph.register("twice", lambda: (lambda x: 2 * x), shape=_twice_shape, doc="2 x")
ebmgraph.register("half_sq", lambda: (lambda a: 0.5 * a.pow(2).reshape(a.shape[0], -1).sum(1)), energy=True,
                  shape=lambda shapes, cfg: None, doc="1/2 |a|^2")
'''
MODEL = '''model P {
  observed x : R[1]
  observed y : R[1]

  fn t = twice()
  fn net = mlp(2, 8, 1)

  energy E = net(cat(t(x), y))
  energy Q = half_sq(y)
}
'''
CONFIG = '''epochs = 1
batch_size = 50
out_dir = "{out}"
plugins = ["{module}"]
progress = false
plot = false

[data]
source = "moons"
map = {{ x = "data[:, 0]", y = "data[:, 1]" }}
n_samples = 100

[loss]
kind = "pairwise_hinge"
target = "y"

[sampler]
kind = "corruption"
noise = 0.5
'''


def _run(args: list[str], path: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _ebm(*args: str) -> list[str]:
    return ["-c", "from ebmgraph.cli import main; main()", *args]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An installed package `myparts` declaring the entry point myparts = myparts.parts."""
    site = tmp_path / "site"
    (site / "myparts").mkdir(parents=True)
    (site / "myparts" / "__init__.py").write_text("")
    (site / "myparts" / "parts.py").write_text(PARTS)
    info = site / "myparts-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myparts\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ebmgraph.parts]\nmyparts = myparts.parts\n")
    (tmp_path / "p.ebm").write_text(MODEL)
    return site


def test_an_entry_point_registers_parts_for_check_show_and_render(site: Path, tmp_path: Path) -> None:
    r = _run(_ebm("check", "p.ebm"), site, tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(_ebm("show", "p.ebm"), site, tmp_path)
    assert r.returncode == 0 and "= t(x)" in r.stdout
    r = _run(_ebm("show", "--parts"), site, tmp_path)
    assert "twice" in r.stdout and "half_sq" in r.stdout
    r = _run(_ebm("render", "p.ebm", "-o", "p.svg"), site, tmp_path)
    assert r.returncode == 0 and (tmp_path / "p.svg").read_text().startswith("<?xml")
    # without the package installed: the unknown part, located, and no traceback
    r = _run(_ebm("check", "p.ebm"), None, tmp_path)
    assert r.returncode == 1 and "p.ebm:5:3: error[E017]: unknown function 'twice'" in r.stderr
    assert "Traceback" not in r.stderr and "entry-point group ebmgraph.parts" in r.stderr


def test_a_broken_entry_point_is_named_not_a_traceback(site: Path, tmp_path: Path) -> None:
    (site / "myparts" / "parts.py").write_text("raise RuntimeError('the GPU kernel is missing')\n")
    r = _run(_ebm("check", "p.ebm"), site, tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "the ebmgraph plugin 'myparts' (myparts.parts) could not be loaded: RuntimeError" in r.stderr
    assert "a plugin failed to load: myparts (RuntimeError: the GPU kernel is missing)" in r.stderr


def test_a_config_names_plugins_for_train_and_the_checkpoint_loads_with_them(tmp_path: Path) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "cfgparts.py").write_text(PARTS)
    (tmp_path / "p.ebm").write_text(MODEL)
    (tmp_path / "c.toml").write_text(CONFIG.format(out="run", module="cfgparts"))
    r = _run(_ebm("train", "p.ebm", "-c", "c.toml"), mods, tmp_path)
    assert r.returncode == 0, r.stderr
    ckpt = sorted((tmp_path / "run").glob("*.pt"))[-1]
    code = ("import ebmgraph, torch\nm = ebmgraph.load_checkpoint({ckpt!r}, plugins={plugins})\n"
            "print(float(m.energy(x=torch.zeros(1, 1), y=torch.ones(1, 1)).terms['Q']))\n")
    r = _run(["-c", code.format(ckpt=str(ckpt), plugins=["cfgparts"])], mods, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "0.5", r.stderr
    r = _run(["-c", code.format(ckpt=str(ckpt), plugins=[])], mods, tmp_path)
    # the checkpoint imports no code itself, but names the plugin its model needs
    assert r.returncode == 1 and "was saved with parts from the plugin 'cfgparts' (half_sq, twice)" in r.stderr
    assert "plugins=['cfgparts']" in r.stderr and "--plugins cfgparts" in r.stderr
    # a plugin that cannot be imported: a located config error
    (tmp_path / "c.toml").write_text(CONFIG.format(out="run2", module="nowhere.parts"))
    r = _run(_ebm("train", "p.ebm", "-c", "c.toml"), mods, tmp_path)
    assert r.returncode == 1 and "c.toml:4:1: error[C001]: plugin 'nowhere.parts' could not be imported" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run2").exists()
    (tmp_path / "c.toml").write_text(CONFIG.format(out="run3", module="../evil.py"))
    r = _run(_ebm("train", "p.ebm", "-c", "c.toml"), mods, tmp_path)
    assert r.returncode == 1 and "is not a module name" in r.stderr


def test_check_show_and_render_take_plugins_found_beside_the_file(tmp_path: Path) -> None:
    """Issue 25.4: --plugins on check/show/render; the module sits beside the .ebm file, no PYTHONPATH."""
    work = tmp_path / "models"
    work.mkdir()
    (work / "p.ebm").write_text(MODEL)
    (work / "myparts_local.py").write_text(PARTS)
    r = _run(_ebm("check", str(work / "p.ebm"), "--plugins", "myparts_local"), None, tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(_ebm("show", str(work / "p.ebm"), "--plugins", "myparts_local"), None, tmp_path)
    assert r.returncode == 0 and "= t(x)" in r.stdout
    r = _run(_ebm("render", str(work / "p.ebm"), "-o", str(tmp_path / "p.svg"), "--plugins", "myparts_local"),
             None, tmp_path)
    assert r.returncode == 0 and (tmp_path / "p.svg").read_text().startswith("<?xml")
    r = _run(_ebm("check", str(work / "p.ebm")), None, tmp_path)  # without it: the hint says how
    assert r.returncode == 1 and "unknown function 'twice'" in r.stderr and "--plugins mymodule" in r.stderr
    r = _run(_ebm("check", str(work / "p.ebm"), "--plugins", "nowhere_parts"), None, tmp_path)
    assert r.returncode == 2 and "error: --plugins: plugin 'nowhere_parts' could not be imported" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_near_name_hint_still_says_how_plugins_come_in(tmp_path: Path) -> None:
    (tmp_path / "q.ebm").write_text("model Q {\n  observed x : R[2]\n\n  fn f = parm(2)\n\n  energy E = l2(f(x))\n}\n")
    r = _run(_ebm("check", "q.ebm"), None, tmp_path)
    assert r.returncode == 1 and "unknown function 'parm'" in r.stderr
    assert "did you mean 'param'?" in r.stderr and "--plugins" in r.stderr


def test_train_finds_the_plugin_in_the_configs_folder(tmp_path: Path) -> None:
    """Issue 25.4: `ebm train` with plugins = [...] from a config in another folder, no PYTHONPATH."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cfgparts2.py").write_text(PARTS)
    (conf / "c.toml").write_text(CONFIG.format(out=str(tmp_path / "run"), module="cfgparts2"))
    (tmp_path / "p.ebm").write_text(MODEL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run(_ebm("train", str(tmp_path / "p.ebm"), "-c", str(conf / "c.toml")), None, elsewhere)
    assert r.returncode == 0, r.stderr
    assert sorted((tmp_path / "run").glob("*.pt"))
