"""Data-parallel runs that always exit cleanly: N consecutive `torchrun --nproc_per_node 2 ebm train`
runs of library/joint_embedding.ebm (2 steps on the digits, VICReg), counting the runs that exit
non-zero or print "terminate called" (target: 0 of 20).

    python benchmarks/bench_distributed.py [--runs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """epochs = 1
batch_size = 128
max_steps = 2
progress = false
plot = false
out_dir = "{out}"

[data]
source = "digits"
map = {{ x = "data", y = "data" }}
standardize = true

[loss]
kind = "energy"

[[regularizers]]
kind = "vicreg"
on = ["sx", "sy"]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    torchrun = str(Path(sys.executable).parent / "torchrun")
    failed, times = [], []
    for i in range(args.runs):
        cfg = tmp / f"c{i}.toml"
        cfg.write_text(CONFIG.format(out=tmp / f"run{i}"))
        t0 = time.perf_counter()
        r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "ebmgraph.cli", "train",
                            str(ROOT / "library" / "joint_embedding.ebm"), "--config", str(cfg)],
                           capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0 or "terminate called" in r.stderr:
            failed.append((i, r.returncode, r.stderr.strip().splitlines()[-1:] or [""]))
    print(f"2-process runs: {args.runs - len(failed)} of {args.runs} exited cleanly, {len(failed)} failed "
          f"(target 0); {sum(times) / len(times):.1f} s per run")
    for i, rc, last in failed:
        print(f"  run {i}: exit {rc}: {last[0]}")


if __name__ == "__main__":
    main()
