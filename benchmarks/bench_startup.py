"""Start-up, where people wait before anything happens: whole processes, as a user runs them.

- `ebm check library/jepa.ebm` (target <= 0.4 s: check, fmt, show and render import no torch),
  beside `python -c "import torch"` for reference;
- `ebm train` until its first step is done (a 1-step run of library/energy_net.ebm on the moons),
  minus torch's own import (target <= 2 s beyond it).
Medians (and best) of interleaved runs.

    python benchmarks/bench_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = """max_steps = 1
batch_size = 64
progress = false
plot = false
out_dir = "{out}"

[data]
source = "moons"
map = {{ x = "data[:, 0:1]", y = "data[:, 1:2]" }}
n_samples = 256

[loss]
kind = "pairwise_hinge"
target = "y"

[sampler]
kind = "corruption"
noise = 0.5
"""


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    ebm = str(BIN / "ebm")
    rows: dict[str, list[float]] = {"check": [], "torch": [], "train": []}
    for r in range(args.rounds + 1):  # the first round warms the file caches
        cfg = tmp / f"c{r}.toml"
        cfg.write_text(CONFIG.format(out=tmp / f"run{r}"))
        times = {"check": wall([ebm, "check", "library/jepa.ebm"]),
                 "torch": wall([sys.executable, "-c", "import torch"]),
                 "train": wall([ebm, "train", "library/energy_net.ebm", "--config", str(cfg)])}
        if r:
            for k, v in times.items():
                rows[k].append(v)
    med = {k: statistics.median(v) for k, v in rows.items()}
    best = {k: min(v) for k, v in rows.items()}
    print(f"{'start-up':46} {'median s':>9} {'best s':>8} {'target':>8}")
    print(f"{'ebm check library/jepa.ebm (whole process)':46} {med['check']:9.3f} {best['check']:8.3f} {'<= 0.4':>8}")
    ref = 'python -c "import torch" (reference)'
    print(f"{ref:46} {med['torch']:9.3f} {best['torch']:8.3f}")
    print(f"{'ebm train to its first step':46} {med['train']:9.3f} {best['train']:8.3f}")
    print(f"{'  of which beyond importing torch':46} {med['train'] - med['torch']:9.3f} "
          f"{best['train'] - best['torch']:8.3f} {'<= 2':>8}")


if __name__ == "__main__":
    main()
