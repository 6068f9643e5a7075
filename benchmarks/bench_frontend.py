"""Front-end scaling: parse + elaborate + check time of unrolled models of 1k..16k nodes.

Prints, per size, the time for a model written flat (every step spelled out, the parser's
worst case) and for the same model written as a loop, and the ratio between consecutive
sizes (target: each doubling costs at most 2.1x; a 10,000-node model written flat in at most 0.5 s). Then the
library's planner, which `use`s library/world_model.ebm inside its loop, at T = 125 .. 1,000
steps (target: at most 2.2x per doubling).

    python benchmarks/bench_frontend.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import ebmgraph
from ebmgraph.limits import Limits

LIBRARY = Path(__file__).resolve().parent.parent / "library"

NO_WORK_LIMIT = Limits(max_work=10**12)  # the front end is measured here; the models are never inferred

NODES_PER_STEP = 7  # s[t+1], pred@s[t+1], cat var, cat app, a[t], energy C[t], ... (measured below)


def flat_model(steps: int) -> str:
    lines = ["model Chain(ds = 4, da = 2) {", "  observed s[0] : R[ds]", "  observed goal : R[ds]",
             f"  latent a[0..{steps - 1}] : R[da]", "  fn pred = mlp(ds + da, 8, ds)"]
    for t in range(steps):
        lines.append(f"  s[{t + 1}] = pred(cat(s[{t}], a[{t}]))")
        lines.append(f"  energy C[{t}] = sq_dist(s[{t + 1}], goal)")
    lines.append("}")
    return "\n".join(lines) + "\n"


def loop_model(steps: int) -> str:
    return f"""model Chain(ds = 4, da = 2, T = {steps}) {{
  observed s[0] : R[ds]
  observed goal : R[ds]
  latent a[0..T - 1] : R[da]
  fn pred = mlp(ds + da, 8, ds)
  for t in 0..T - 1 {{
    s[t + 1] = pred(cat(s[t], a[t]))
    energy C[t] = sq_dist(s[t + 1], goal)
  }}
}}
"""


def best_time(text: str, repeat: int, file: str = "<string>") -> tuple[float, int]:
    best, nodes = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        g = ebmgraph.loads(text, limits=NO_WORK_LIMIT, file=file)
        best = min(best, time.perf_counter() - t0)
        nodes = len(g)
    return best, nodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    per_step = best_time(flat_model(10), 1)[1] / 10
    print(f"{'nodes':>7} {'flat text s':>12} {'ratio':>6} {'loop s':>9} {'ratio':>6}")
    prev: tuple[float, float] | None = None
    results = []
    for target in (1000, 2000, 4000, 8000, 16000):
        steps = round(target / per_step)
        tf, n = best_time(flat_model(steps), args.repeat)
        tl, _ = best_time(loop_model(steps), args.repeat)
        rf = f"{tf / prev[0]:.2f}" if prev else "-"
        rl = f"{tl / prev[1]:.2f}" if prev else "-"
        print(f"{n:>7} {tf:>12.3f} {rf:>6} {tl:>9.3f} {rl:>6}", flush=True)
        results.append((n, tf, tl))
        prev = (tf, tl)
    steps = round(10000 / per_step)
    t10, n10 = best_time(flat_model(steps), args.repeat)
    print(f"10k-node model ({n10} nodes), flat text: {t10:.3f} s (target <= 0.5 s)")
    print(f"\n{'planner T':>9} {'nodes':>7} {'use in loop s':>14} {'ratio':>6}")
    src = (LIBRARY / "planner.ebm").read_text()
    last = None
    for T in (125, 250, 500, 1000):
        text = src.replace("model Planner(T = 5", f"model Planner(T = {T}")
        t, n = best_time(text, args.repeat, file=str(LIBRARY / "planner.ebm"))
        print(f"{T:>9} {n:>7} {t:>14.3f} {t / last if last else float('nan'):>6.2f}", flush=True)
        last = t


if __name__ == "__main__":
    main()
