"""Data-parallel training: 2 processes (torchrun, gloo on CPU) equal one process on the same global batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from .conftest import LIBRARY

CONFIG = """epochs = 1
batch_size = 128
max_steps = 5
progress = false
out_dir = "{out}"

[data]
source = "digits"
map = {{ x = "data", y = "data" }}
standardize = true

[[data.augment.x]]
kind = "noise"
std = 0.2

[loss]
kind = "energy"

[[regularizers]]
kind = "vicreg"
on = ["sx", "sy"]
"""


def _run(cmd: list[str]) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_two_processes_equal_one(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    model = str(LIBRARY / "joint_embedding.ebm")
    for name in ("one", "two"):
        (tmp_path / f"{name}.toml").write_text(CONFIG.format(out=tmp_path / name))
    _run([str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "ebmgraph.cli", "train", model,
          "--config", str(tmp_path / "two.toml")])
    _run([str(bin_dir / "ebm"), "train", model, "--config", str(tmp_path / "one.toml")])
    one = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert one["extra"]["step"] == two["extra"]["step"] == 5
    for k, a in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][k], a, atol=1e-5, rtol=1e-4, msg=k)


def test_two_process_runs_exit_cleanly_every_time(tmp_path: Path) -> None:
    """The process group is left on every path, so no run ends in SIGABRT ('terminate called without
    an active exception'); a failure on one rank stops the run with its message."""
    bin_dir = Path(sys.executable).parent
    model = str(LIBRARY / "joint_embedding.ebm")
    for i in range(3):
        (tmp_path / f"r{i}.toml").write_text(CONFIG.format(out=tmp_path / f"r{i}").replace("max_steps = 5",
                                                                                           "max_steps = 2"))
        out = subprocess.run([str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "ebmgraph.cli",
                              "train", model, "--config", str(tmp_path / f"r{i}.toml")],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "terminate called" not in out.stderr, out.stderr
    # a config error on every rank: each says it, the run exits non-zero, and nothing hangs
    (tmp_path / "bad.toml").write_text(CONFIG.format(out=tmp_path / "bad").replace("max_steps = 5", "max_steps = 0"))
    out = subprocess.run([str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "ebmgraph.cli",
                          "train", model, "--config", str(tmp_path / "bad.toml")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "max_steps" in out.stderr and "terminate called" not in out.stderr
