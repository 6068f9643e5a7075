"""Shared by the reproduction scripts (examples/reproduce/*.py, `make reproduce`).

Each script trains a library model with its config through `ebm train` -- the user's path: a .ebm
file and a TOML config, no Python between them and the result -- then runs the peer (scikit-learn)
in the same process on the same data and the same held-out split (the run's split.json), prints
one row (metric, ours, peer, ratio, the bar, our time, the peer's time), saves the figure the seed
shows, and keeps the row as JSON for docs/reproductions.md (table.py)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOCS = ROOT / "docs" / "reproductions"


@dataclass
class Row:
    name: str  # the seed's item, e.g. "002 sec. 4.2.1 k-means, 10"
    metric: str
    ours: float
    peer: float
    bar: str  # e.g. "<= 1.01 x peer"
    passed: bool
    ours_s: float
    peer_s: float
    figure: str | None = None
    quick: bool = False
    torch_s: float | None = None  # a plain-torch script of the same math, run as a process as ours is
    note: str = ""  # what else the row shows (e.g. the share of zeros, a second metric)

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else float("nan")


def args(doc: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few epochs, to check the script runs (the tests)")
    ap.add_argument("--out", type=Path, default=None, help="where rows and figures go (default: docs/reproductions)")
    return ap.parse_args()


def config_text(config: Path, out_dir: Path, quick: bool, seed: int | None = None) -> str:
    """The config as written, with its out_dir set to this run's (and, quick, one or two epochs;
    with `seed`, that seed)."""
    text = config.read_text()
    if seed is not None:
        text = re.sub(r"(?m)^seed\s*=.*$", f"seed = {seed}", text)
    text = re.sub(r'(?m)^out_dir\s*=.*$', f'out_dir = "{out_dir.as_posix()}"', text)
    if quick:
        text = re.sub(r"(?m)^epochs\s*=\s*(\d+)", lambda m: f"epochs = {min(int(m.group(1)), 2)}", text)
    return text


def _write_data(where: Path, data: dict[str, Any] | None) -> None:
    """NAME.npy for an array, NAME.npz for a dict of arrays."""
    for name, arr in (data or {}).items():
        if isinstance(arr, dict):
            np.savez(where / f"{name}.npz", **arr)
        else:
            np.save(where / f"{name}.npy", arr)


def train(model: str, config: str, quick: bool, *extra: str,
          data: dict[str, Any] | None = None, seed: int | None = None) -> tuple[Path, float]:
    """`ebm train MODEL --config CONFIG` in a fresh run folder; (the run folder, seconds). `data`:
    arrays the config reads (NAME.npy), written beside it first."""
    run = Path(tempfile.mkdtemp(prefix="ebm-reproduce-")) / "run"
    cfg = run.parent / Path(config).name
    cfg.write_text(config_text(HERE / config, run, quick, seed))
    _write_data(run.parent, data)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ebmgraph.cli", "train", str(ROOT / model), "--config", str(cfg), *extra],
                   check=True, cwd=ROOT)
    return run, time.perf_counter() - t0


def evaluate(model: str, config: str, *extra: str, command: str = "eval",
             data: dict[str, Any] | None = None, replace: tuple[str, str] | None = None) -> tuple[Path, float]:
    """`ebm eval MODEL --config CONFIG --out RUN` (no training: fixed parts, or a checkpoint in
    `extra`), or `ebm infer` with command="infer"; (the folder with eval.json and latents.npz, or
    infer.npz, seconds). `data`: arrays the config reads (NAME.npy), written beside it first;
    `replace`: (old, new) in the config's text (the same run's config, pointed at other rows)."""
    run = Path(tempfile.mkdtemp(prefix="ebm-reproduce-")) / "eval"
    cfg = run.parent / Path(config).name
    text = config_text(HERE / config, run, False)
    if replace is not None:
        assert replace[0] in text, f"{config} has no {replace[0]!r}"
        text = text.replace(*replace)
    cfg.write_text(text)
    _write_data(run.parent, data)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ebmgraph.cli", command, str(ROOT / model), "--config", str(cfg),
                    "--out", str(run), *extra], check=True, cwd=ROOT)
    return run, time.perf_counter() - t0


def baseline(script: str, *argv: str) -> tuple[dict[str, Any], float]:
    """A plain-torch script of the same math (baselines/SCRIPT), run as a process as `ebm` is (the
    interpreter and torch's import in both times); (the JSON it prints last, seconds)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(HERE / "baselines" / script), *argv], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def plain_small(kind: str, data: np.ndarray, run: Path, epochs: int, quick: bool) -> tuple[dict[str, Any], float]:
    """baselines/small.py KIND on the run's training rows (all rows without a split); (its JSON, seconds)."""
    tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
    if (run / "split.json").exists():
        tr, te = split_rows(run, len(data))
    else:
        tr = te = np.arange(len(data))
    np.save(tmp / "data.npy", data)
    np.save(tmp / "tr.npy", tr)
    np.save(tmp / "te.npy", te)
    return baseline("small.py", kind, str(tmp / "data.npy"), str(tmp / "tr.npy"), str(tmp / "te.npy"),
                    str(min(epochs, 2) if quick else epochs))


def split_rows(run: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) of the run's held-out split."""
    test = np.asarray(json.loads((run / "split.json").read_text())["test_rows"], dtype=int)
    train = np.setdiff1d(np.arange(n), test)
    return train, test


def held_out_free_energy(run: Path) -> float:
    return float(json.loads((run / "test.json").read_text())["F_test"])


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def report(row: Row, out: Path | None, figure: Any = None) -> Row:
    """Print the row; keep it (and its figure) where table.py reads them."""
    where = out or DOCS
    where.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "_", row.name.lower()).strip("_")
    if figure is not None:
        path = where / f"{slug}.png"
        figure.savefig(path, dpi=90)
        row.figure = path.name
    (where / f"{slug}.json").write_text(json.dumps({**asdict(row), "ratio": row.ratio}, indent=1) + "\n")
    mark = "pass" if row.passed else ("quick" if row.quick else "FAIL")
    torch = f" | plain torch {row.torch_s:.1f} s ({row.ours_s / row.torch_s:.2f}x)" if row.torch_s else ""
    note = f" | {row.note}" if row.note else ""
    print(f"{row.name} | {row.metric} | ours {row.ours:.4f} | peer {row.peer:.4f} | ratio {row.ratio:.4f} | "
          f"bar {row.bar} | {mark} | ours {row.ours_s:.1f} s | peer {row.peer_s:.2f} s{torch}{note}", flush=True)
    return row


def digits(scale: float = 1 / 16) -> np.ndarray:
    from sklearn.datasets import load_digits
    return load_digits().data.astype(np.float32) * np.float32(scale)


def figure(w: float = 8, h: float = 3.2) -> tuple[Any, Any]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(1, 2, figsize=(w, h))
