"""Front-end scaling: parse + elaborate + check time of unrolled models of 1k..16k nodes.

Prints, per size, the time for a model written flat (every step spelled out, the parser's
worst case) and for the same model written as a loop, and the ratio between consecutive
sizes (target: each doubling costs at most 2.2x; a 10,000-node model under 1 s).

    python benchmarks/bench_frontend.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import time

import ebmgraph
from ebmgraph.limits import Limits

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


def best_time(text: str, repeat: int) -> tuple[float, int]:
    best, nodes = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        g = ebmgraph.loads(text, limits=NO_WORK_LIMIT)
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
    print(f"10k-node model ({n10} nodes), flat text: {t10:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
