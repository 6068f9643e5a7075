"""The agent of 003 against its reference points, side by side in one run (issue 12):

1. Pendulum-v1, mean return over the evaluation episodes with the world model learned from at most
   10,000 environment steps: random actions, Mode-2 by gradient descent on the actions (the seed's
   method, as library/agent/planner.ebm declares it) and by CEM (the PETS / TD-MPC baseline), each
   with its world-model evaluations per action and its wall time per planning call.
2. Speed: one planning call of our gradient planner (the compiled planner's inference) against a
   hand-written PyTorch gradient planner over the same trained network, the same steps, lr, box
   and warm start, at the evaluation's batch (one row per episode) and at one row; median of N.

    python benchmarks/bench_agent.py [--quick] [--calls 20]

Reference points quoted from the issue, not run here: random about -1,200 and stable-baselines3's
zoo SAC about -176 after 20,000 steps. One torch thread (these machines are small and shared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def handwritten_plan(pred, s0, goal, warm, steps: int, lr: float, lo: float, hi: float):  # type: ignore[no-untyped-def]
    """Projected Adam on the actions through the unrolled residual model, the lowest energy kept per row."""
    import torch
    acts = [warm[:, t].clone().requires_grad_(True) for t in range(warm.shape[1])]
    opt = torch.optim.Adam(acts, lr=lr)
    best_e = torch.full((s0.shape[0],), float("inf"))
    best = [a.detach().clone() for a in acts]
    for _ in range(steps):
        s, e = s0, 0.0
        for a in acts:
            s = s + pred(torch.cat([s, a], dim=1))
            e = e + ((s - goal) ** 2).sum(1) + 0.001 * (a ** 2).sum(1)
        better = e.detach() < best_e
        best_e = torch.where(better, e.detach(), best_e)
        for b, a in zip(best, acts, strict=True):
            b[better] = a.detach()[better]
        grads = torch.autograd.grad(e.sum(), acts)
        for a, g in zip(acts, grads, strict=True):
            a.grad = g
        opt.step()
        with torch.no_grad():
            for a in acts:
                a.clamp_(lo, hi)
    return torch.stack(best, dim=1), best_e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the small run of each (a check that it works)")
    ap.add_argument("--calls", type=int, default=20, help="planning calls timed per row of the speed table")
    args = ap.parse_args()
    import torch

    from ebmgraph.agent import Planner, load_agent_config, quick, run

    torch.set_num_threads(1)
    cfg = load_agent_config(ROOT / "examples" / "agent" / "pendulum.toml")
    if args.quick:
        cfg = quick(cfg)
    cfg.progress = False
    rows = []
    for kind in ("gradient", "cem"):
        c = cfg.model_copy(update={"planner_kind": kind, "out_dir": str(ROOT / "runs" / f"bench_agent_{kind}")})
        t0 = time.perf_counter()
        res = run(c, log=lambda m: print("  " + m, flush=True))
        rows.append((kind, res, time.perf_counter() - t0))
    print()
    print(f"Pendulum-v1, {cfg.eval_episodes} evaluation episodes, target >= -180 (SAC zoo about -176 at 20k steps)")
    print(f"{'agent':34} {'return':>9} {'env steps':>10} {'wm steps/action':>16} {'ms/call':>9} {'run':>8}")
    print(f"{'random actions':34} {rows[0][1].random_return:9.1f} {'':>10} {'':>16} {'':>9} {'':>8}")
    for kind, res, secs in rows:
        print(f"{'Mode-2, learned model, ' + kind:34} {res.eval_return:9.1f} {res.env_steps:10d} "
              f"{res.evaluations_per_action:16d} {1000 * res.seconds_per_action:9.0f} {secs:7.0f}s")

    # the speed of one planning call against a hand-written planner over the same trained network
    # one start per row on both sides (R = 1), so that both find the same plan from the same warm start
    c = cfg.model_copy(update={"planner_kind": "gradient", "params": {**cfg.params, "R": 1}})
    import ebmgraph
    from ebmgraph.agent import _for, _share_weights
    planner = Planner(ebmgraph.compile(ebmgraph.load(c.planner, params=_for(c.planner, c.params))), c)
    wm = ebmgraph.compile(ebmgraph.load(c.world_model, model="WorldModel", params=_for(c.world_model, c.params)))
    from ebmgraph.checkpoint import load_into
    load_into(wm, ROOT / "runs" / "bench_agent_gradient" / f"world_model_{rows[0][1].history[-1]['round'] if rows[0][1].history else 0}" / "checkpoint.pt")
    _share_weights(wm, planner.model)
    pred = planner.model.fns["f_0___pred"]
    opts = dict(planner.model.graph.var("a[0]").infer.options)
    lo, hi = planner.box
    print()
    print(f"one planning call, gradient, {planner.steps} steps x T = {planner.horizon} (median of {args.calls})")
    print(f"{'rows':>5} {'ours':>10} {'hand-written':>13} {'ratio':>7} {'same plan':>10}")
    for rows_n in (cfg.eval_episodes, 1):
        g = torch.Generator().manual_seed(0)
        s0 = torch.randn(rows_n, planner.ds, generator=g) * 0.5
        goal = torch.tensor([cfg.goal]).expand(rows_n, -1)
        warm = torch.rand(rows_n, planner.horizon, planner.da, generator=g) * (hi - lo) + lo
        ours, hand = [], []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            p = planner.plan(s0, warm)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            acts, e = handwritten_plan(pred, s0, goal, warm, planner.steps, float(opts["lr"]), lo, hi)
            hand.append(time.perf_counter() - t0)
        same = torch.allclose(p.energy, e, rtol=1e-3, atol=1e-4)
        mo, mh = statistics.median(ours), statistics.median(hand)
        print(f"{rows_n:5d} {1000 * mo:8.1f}ms {1000 * mh:11.1f}ms {mo / mh:7.2f} {'yes' if same else 'no':>10}")


if __name__ == "__main__":
    main()
