"""The agent of 003 against its reference points, measured honestly (issue 23): every agent is trained
at several seeds and evaluated on held-out starts no episode it learned from started at (the same
starts for every run, so rows compare on the same episodes).

1. Pendulum-v1 (target >= -180, SAC zoo about -176 at 20k steps): random actions; Mode-2 by CEM
   (examples/agent/pendulum.toml); Mode-1, the actor it distilled with DAgger (target within 10% of
   Mode-2 at >= 50x less compute); Mode-2 by gradient descent on the actions alone, the seed's own
   planner (examples/agent/pendulum_gradient.toml, target >= -200 at no more world-model steps per
   action than CEM); CEM over the environment's own dynamics (the upper reference).
2. MountainCarContinuous-v0 (target >= 90, the task's 'solved'): random (held) actions; Mode-2 (CEM)
   with the critic learned from the memory; hierarchical Mode-2 (Fig. 16-17) in the same run; the
   same over the environment's own dynamics.
3. MountainCar-v0 (three actions): enumeration with the critic, and the hierarchy.
4. CartPole-v1 and Acrobot-v1 (--only classic): enumeration over their own actions, against random.
5. Speed (--only speed): one planning call of our gradient planner against a hand-written PyTorch one
   over the same trained network, the same steps, lr, box and warm start.

    python benchmarks/bench_agent.py [--seeds 0 1 2] [--episodes 50] [--only pendulum|mountaincar|speed]
                                     [--workers 2] [--reuse] [--tables] [--quick]
    (--only discrete: MountainCar-v0, its three actions enumerated, with the critic and the hierarchy)

Each cell is the mean over the training seeds of each seed's mean return over the held-out starts,
± the standard error of those seed means; then each seed's mean, and the standard error of one seed's
mean over its episodes (the spread of the starts). Runs go to runs/bench_agent_<row>_s<seed>/; --reuse
reads a run's results.json when it is there instead of running it again. One torch thread per run;
--workers runs go side by side (these machines have 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AGENT = ROOT / "examples" / "agent"

# (name, config, changes to it): each a run per seed; the rows read its scores
RUNS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "pendulum": [("pendulum_cem", "pendulum.toml", {}),
                 ("pendulum_gradient", "pendulum_gradient.toml", {}),
                 ("pendulum_true", "pendulum.toml", {"world_model_kind": "true", "rounds": 0, "actor": None})],
    "mountaincar": [("mountaincar_critic", "mountaincar.toml", {}),
                    ("mountaincar_true", "mountaincar.toml", {"world_model_kind": "true", "rounds": 0,
                                                              "hierarchy": None})],
    "discrete": [("discrete_critic", "mountaincar_discrete.toml", {})],
    "classic": [("cartpole", "cartpole.toml", {}), ("acrobot", "acrobot.toml", {})],
}
# (label, run, score)
ROWS: dict[str, list[tuple[str, str, str]]] = {
    "pendulum": [("random actions", "pendulum_cem", "random"),
                 ("Mode-2, learned model, cem", "pendulum_cem", "mode2"),
                 ("Mode-1 actor (from cem, DAgger)", "pendulum_cem", "mode1"),
                 ("Mode-2, learned model, gradient", "pendulum_gradient", "mode2"),
                 ("Mode-2, true dynamics, cem (upper ref.)", "pendulum_true", "mode2")],
    "mountaincar": [("random actions (held)", "mountaincar_critic", "random"),
                    ("Mode-2, learned model, cem + critic", "mountaincar_critic", "mode2"),
                    ("hierarchical Mode-2, learned (Fig. 16-17)", "mountaincar_critic", "hierarchy"),
                    ("Mode-2, true dynamics, cem + critic", "mountaincar_true", "mode2")],
    "discrete": [("random actions (held)", "discrete_critic", "random"),
                 ("Mode-2, learned model, enumerate + critic", "discrete_critic", "mode2"),
                 ("hierarchical Mode-2, learned (Fig. 16-17)", "discrete_critic", "hierarchy")],
    "classic": [("CartPole-v1, random actions", "cartpole", "random"),
                ("CartPole-v1, Mode-2, learned model, enumerate", "cartpole", "mode2"),
                ("Acrobot-v1, random actions", "acrobot", "random"),
                ("Acrobot-v1, Mode-2, learned model, enumerate", "acrobot", "mode2")],
}
TITLES = {"pendulum": "Pendulum-v1, target >= -180 (Mode-2 cem), Mode-1 within 10%, gradient >= -200",
          "mountaincar": "MountainCarContinuous-v0, target >= 90 (with the critic, and with the hierarchy)",
          "discrete": "MountainCar-v0, three actions, -110 counts as solved",
          "classic": "CartPole-v1 (500 at most) and Acrobot-v1 (-500 at worst), any gymnasium task by configuration"}


def _one(job: tuple[str, str, dict[str, Any], int, int, bool, bool]) -> tuple[str, int, dict[str, Any], float]:
    """One run (in its own process): its results.json and the seconds it took."""
    name, config, update, seed, episodes, quick_run, reuse = job
    import torch
    torch.set_num_threads(1)
    from ebmgraph.agent import load_agent_config, quick, run
    out = ROOT / "runs" / f"bench_agent_{name}_s{seed}"
    done = out / "results.json"
    if reuse and done.exists():
        return name, seed, json.loads(done.read_text()), float("nan")
    cfg = load_agent_config(AGENT / config)
    if quick_run:
        cfg = quick(cfg)
    cfg = cfg.model_copy(update={**update, "seed": seed, "eval_episodes": 2 if quick_run else episodes,
                                 "out_dir": str(out), "resume": False, "progress": False, "threads": 1})
    t0 = time.perf_counter()
    lines: list[str] = []
    run(cfg, log=lines.append)
    secs = time.perf_counter() - t0
    print(f"  {name} seed {seed}: {secs:.0f} s a run; " + lines[-1] if lines else "", flush=True)
    return name, seed, json.loads(done.read_text()), secs


def _cell(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:8.1f}" if values else ""
    return f"{statistics.mean(values):8.1f} ± {statistics.stdev(values) / len(values) ** 0.5:5.1f}"


def table(task: str, results: dict[tuple[str, int], tuple[dict[str, Any], float]], seeds: list[int]) -> None:
    print()
    print(TITLES[task] + f"; {len(seeds)} training seeds x held-out starts")
    print(f"{'agent':46} {'mean ± se (seeds)':>17}  {'each seed':>{9 * len(seeds)}}  {'se (starts)':>11} "
          f"{'learned':>8} {'wm steps/act':>12} {'ms/call':>8}")
    for label, run_name, score in ROWS[task]:
        got = [results[(run_name, s)] for s in seeds if (run_name, s) in results]
        scores = [r["scores"][score] for r, _ in got if score in r["scores"]]
        if not scores:
            print(f"{label:46} (not run)")
            continue
        means = [sc["mean"] for sc in scores]
        se = statistics.mean([sc["stderr"] or 0.0 for sc in scores])
        ms = [sc["seconds_per_action"] for sc in scores if sc.get("seconds_per_action") is not None]
        evals = scores[0].get("evaluations_per_action")
        learned = statistics.mean([r["learned_steps"] for r, _ in got])
        print(f"{label:46} {_cell(means):>17}  {''.join(f'{m:9.1f}' for m in means):>{9 * len(seeds)}}  "
              f"{se:11.1f} {learned:8.0f} {'' if evals is None else evals:>12} "
              f"{1000 * statistics.median(ms) if ms else float('nan'):8.1f}")
    n = len(scores[0]["returns"]) if scores else 0
    print(f"(held-out starts per seed: {n}; 'learned': environment steps the run learned from, mean over seeds)")
    if task == "pendulum":
        m2 = [results[("pendulum_cem", s)][0]["scores"] for s in seeds if ("pendulum_cem", s) in results]
        if m2 and all("mode1" in x for x in m2):
            a, b = statistics.mean(x["mode2"]["mean"] for x in m2), statistics.mean(x["mode1"]["mean"] for x in m2)
            speed = statistics.median(x["mode2"]["seconds_per_action"] / x["mode1"]["seconds_per_action"] for x in m2)
            print(f"Mode-1 within {100 * abs(b - a) / abs(a):.0f}% of Mode-2 (cem) at {speed:.0f}x less time per "
                  "action (target within 10%, >= 50x)")


def plot(tasks: list[str], results: dict[tuple[str, int], tuple[dict[str, Any], float]], seeds: list[int],
         path: Path) -> None:
    """Each agent's mean return over the seeds (bar, ± the standard error of the seed means), each
    seed's mean (dots): one panel per task."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(tasks), 1, figsize=(8, 3.2 * len(tasks)), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        labels, means, ses, dots = [], [], [], []
        for label, run_name, score in ROWS[task]:
            per = [results[(run_name, s)][0]["scores"][score]["mean"] for s in seeds
                   if (run_name, s) in results and score in results[(run_name, s)][0]["scores"]]
            if per:
                labels.append(label)
                means.append(statistics.mean(per))
                ses.append(statistics.stdev(per) / len(per) ** 0.5 if len(per) > 1 else 0.0)
                dots.append(per)
        y = list(range(len(labels)))[::-1]
        ax.barh(y, means, xerr=ses, color="#9ecae1", capsize=4)
        for i, per in zip(y, dots, strict=True):
            ax.plot(per, [i] * len(per), "o", color="#08519c", ms=4)
            ax.annotate(f"{statistics.mean(per):.1f}", (statistics.mean(per), i), textcoords="offset points",
                        xytext=(0, 9), ha="center", fontsize=7)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel("mean return on the held-out starts (bar: over seeds; dots: each seed)")
        ax.set_title(TITLES[task].split(",")[0] + f": {len(seeds)} training seeds", fontsize=10)
        ax.axvline(0, color="grey", lw=0.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


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


def speed(calls: int, quick_run: bool, state_dir: Path) -> None:
    import torch

    from ebmgraph.agent import load_agent_config, make_planner, quick
    from ebmgraph.agent.base import compiled, share_weights
    cfg = load_agent_config(AGENT / "pendulum.toml")
    if quick_run:
        cfg = quick(cfg)
    # one start per row on both sides (R = 1), so that both find the same plan from the same warm start
    c = cfg.model_copy(update={"planner_kind": "gradient", "params": {**cfg.params, "R": 1}})
    planner: Any = make_planner(compiled(c.planner, c.params), c)
    wm = compiled(c.world_model, c.params, "WorldModel")
    state = state_dir / "agent_state.pt"
    try:  # the trained network when the Pendulum run saved one of this size; the speed is the same
        wm.load_state_dict(torch.load(state, weights_only=True)["parts"]["world_model"])
    except (OSError, RuntimeError, KeyError):
        print(f"(no trained world model of this size in {state_dir}: timing an untrained one)")
    share_weights(wm, planner.model)
    pred = planner.model.fns["f[0].pred"]
    opts = dict(planner.model.graph.var("a[0]").infer.options)
    lo, hi = planner.box
    print()
    print(f"one planning call, gradient, {planner.steps} steps x T = {planner.horizon} (median of {calls})")
    print(f"{'rows':>5} {'ours':>10} {'hand-written':>13} {'ratio':>7} {'same energy':>13} {'same plan':>10}")
    for rows_n in (20, 1):
        g = torch.Generator().manual_seed(0)
        s0 = torch.randn(rows_n, planner.ds, generator=g) * 0.5
        goal = torch.tensor([cfg.goal]).expand(rows_n, -1)
        warm = torch.rand(rows_n, planner.horizon, planner.da, generator=g) * (hi - lo) + lo
        ours, hand = [], []
        for _ in range(calls):
            t0 = time.perf_counter()
            p = planner.plan(s0, warm)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            acts, e = handwritten_plan(pred, s0, goal, warm, planner.steps, float(opts["lr"]), lo, hi)
            hand.append(time.perf_counter() - t0)
        same = torch.allclose(planner.energy_of(s0, acts).detach(), e, rtol=1e-4, atol=1e-4)
        rows_same = int(torch.isclose(p.energy, e, rtol=1e-3, atol=1e-4).sum())
        mo, mh = statistics.median(ours), statistics.median(hand)
        print(f"{rows_n:5d} {1000 * mo:8.1f}ms {1000 * mh:11.1f}ms {mo / mh:7.2f} {'yes' if same else 'no':>13} "
              f"{rows_same:>4d} of {rows_n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the small run of each (a check that it works)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    ap.add_argument("--episodes", type=int, default=50, help="held-out starts per run (default 50)")
    ap.add_argument("--workers", type=int, default=2, help="runs side by side (default 2)")
    ap.add_argument("--reuse", action="store_true", help="read a run's results.json when it is there")
    ap.add_argument("--tables", action="store_true", help="only print the tables of the runs saved (none run)")
    ap.add_argument("--calls", type=int, default=20, help="planning calls timed per row of the speed table")
    ap.add_argument("--only", choices=["pendulum", "mountaincar", "discrete", "classic", "speed"], default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    tasks = [t for t in RUNS if args.only in (None, t)]
    jobs = [(name, config, update, seed, args.episodes, args.quick, args.reuse)
            for t in tasks for name, config, update in RUNS[t] for seed in args.seeds]
    jobs.sort(key=lambda j: "_true" in j[0])  # the learning agents first, the upper references last
    if args.tables:
        jobs = [j for j in jobs if (ROOT / "runs" / f"bench_agent_{j[0]}_s{j[3]}" / "results.json").exists()]
        jobs = [(*j[:6], True) for j in jobs]
    results: dict[tuple[str, int], tuple[dict[str, Any], float]] = {}
    if jobs:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for name, seed, res, secs in pool.map(_one, jobs):
                results[(name, seed)] = (res, secs)
    for t in tasks:
        table(t, results, args.seeds)
    if tasks and not args.quick:
        plot(tasks, results, args.seeds, ROOT / "docs" / "agent" / "seeds.png")
    if args.only in (None, "speed") and not args.tables:
        speed(args.calls, args.quick, ROOT / "runs" / f"bench_agent_pendulum_gradient_s{args.seeds[0]}")
    print(f"\nbench_agent: {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
