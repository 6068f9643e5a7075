"""World models from pixels (issue 24), measured: the pixel agent of examples/agent/tworooms.toml (a
JEPA learned from random-exploration frames of Two Rooms, planned in its representation space, flat
and hierarchically) over several training seeds, side by side in one run with:

- the same planners over the true position (the upper reference) and random actions;
- the generative world model (examples/agent/tworooms_generative.toml: the same encoder and
  predictors decoding each predicted frame to pixels), trained for the same wall-clock minutes and
  planned the same way;
- what the representation learned: a linear probe from one frame's representation to the agent's
  true position (R^2 on frames of trajectories no training saw), for the trained JEPA, the same
  encoder untrained, PCA of the pixels to the same width, and the generative model's encoder.

Every success rate is on the 100 held-out tasks (seeds no data collection draws), mean ± standard
error over the seeds; the training time per seed, planning cost per action and peak memory beside.
Writes docs/agent/pixels.png and (with --out) the numbers as JSON.

With --env pendulum: Pendulum-v1 from pixels (examples/agent/pendulum_pixels.toml), its mean return on
50 held-out starts beside, in the same run, the state-based agent (examples/agent/pendulum.toml's
world model learned over the state vector, Mode-2 CEM, no actor) on the same starts, the same planner
over the true state and dynamics, and random torques; the probe of (cos, sin, speed). Writes
docs/agent/pendulum_pixels.png.

    python benchmarks/bench_pixels.py [--seeds 0 1 2] [--minutes 15] [--tasks 100] [--workers 2]
    python benchmarks/bench_pixels.py --env pendulum [--seeds 0 1 2] [--minutes 15] [--tasks 50]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
JEPA = ROOT / "examples" / "agent" / "tworooms.toml"
PENDULUM = ROOT / "examples" / "agent" / "pendulum_pixels.toml"
STATE_AGENT = ROOT / "examples" / "agent" / "pendulum.toml"
GENERATIVE = ROOT / "examples" / "agent" / "tworooms_generative.toml"


def one(config: Path, seed: int, minutes: float, tasks: int, trajectories: int | None, reuse: bool,
        small: bool = False) -> dict[str, Any]:
    """One training seed of one world model, in its own process (1 torch thread)."""
    from ebmgraph.agent.pixel_agent import load_pixel_config, quick_pixels, run_pixels
    cfg = load_pixel_config(config)
    if small:
        cfg = quick_pixels(cfg)
        tasks = min(tasks, cfg.tasks)
    data = cfg.data if trajectories is None else cfg.data.model_copy(update={"trajectories": trajectories})
    cfg = cfg.model_copy(update={
        "seed": seed, "tasks": tasks, "threads": 1, "resume": reuse, "data": data, "progress": False,
        "out_dir": str(ROOT / "runs" / f"bench_pixels_{config.stem}_s{seed}"),
        "world_model": cfg.world_model.model_copy(update={"minutes": minutes})})
    t0 = time.perf_counter()
    res = run_pixels(cfg, log=lambda m: print(f"  [{config.stem} seed {seed}] {m}", flush=True))
    return {"seed": seed, "model": config.stem, "probe": res.probe, "seconds": res.train_seconds,
            "steps": res.train_steps, "wall": time.perf_counter() - t0,
            "planners": {k: {"success": s.rate, "return": s.mean_return, "evals": s.evaluations_per_action,
                             "ms": s.ms_per_action} for k, s in res.scores.items()},
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def state_agent(seed: int, tasks: int, reuse: bool, small: bool = False) -> dict[str, Any]:
    """The state-based agent of examples/agent/pendulum.toml (its world model learned over the state
    vector, Mode-2 CEM, no actor), evaluated on the same held-out starts, in its own process."""
    import torch
    torch.set_num_threads(1)
    from ebmgraph.agent import load_agent_config, quick, run
    out = ROOT / "runs" / f"bench_pixels_state_pendulum_s{seed}"
    done = out / "results.json"
    t0 = time.perf_counter()
    if not (reuse and done.exists()):
        cfg = load_agent_config(STATE_AGENT)
        cfg = (quick(cfg) if small else cfg).model_copy(update={
            "seed": seed, "eval_episodes": tasks, "actor": None, "out_dir": str(out), "resume": False,
            "progress": False, "threads": 1})
        run(cfg, log=lambda m: print(f"  [state agent seed {seed}] {m}", flush=True))
    res = json.loads(done.read_text())
    return {"seed": seed, "model": "state", "returns": res["scores"]["mode2"]["returns"],
            "wall": time.perf_counter() - t0}


def mean_se(v: list[float], scale: float = 1.0, digits: int = 1) -> str:
    m = statistics.mean(v) * scale
    if len(v) < 2:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(v) / len(v) ** 0.5 * scale:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--minutes", type=float, default=15.0, help="each world model's training budget (wall-clock)")
    ap.add_argument("--tasks", type=int, default=100, help="held-out tasks (the first n of tworooms.held_out_tasks)")
    ap.add_argument("--trajectories", type=int, default=None, help="random-exploration trajectories (config's)")
    ap.add_argument("--workers", type=int, default=2, help="runs side by side, one process and thread each")
    ap.add_argument("--no-generative", action="store_true", help="leave the generative world model out")
    ap.add_argument("--reuse", action="store_true", help="reuse runs/bench_pixels_* when their settings are the same")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--diagnose", action="store_true", help="also: the JEPA planner within one room, and how often "
                    "the coarse predictor crosses the wall (pendulum: the probe per target, the distance to the goal "
                    "by angle)")
    ap.add_argument("--env", choices=["tworooms", "pendulum"], default="tworooms")
    ap.add_argument("--diagnose-only", action="store_true", help="pendulum: only the diagnosis of the saved runs")
    ap.add_argument("--quick", action="store_true", help="tiny runs of the same script, to see that it runs")
    args = ap.parse_args()
    if args.env == "pendulum":
        pendulum(args)
        return
    jobs = [(JEPA, s) for s in args.seeds] + ([] if args.no_generative else [(GENERATIVE, s) for s in args.seeds])
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one, c, s, args.minutes, args.tasks, args.trajectories, args.reuse) for c, s in jobs]
        rows = [f.result() for f in futures]
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))
    jepa = [r for r in rows if r["model"] == JEPA.stem]
    gen = [r for r in rows if r["model"] == GENERATIVE.stem]
    n = len(jepa)

    def col(rs: list[dict[str, Any]], planner: str, key: str) -> list[float]:
        return [r["planners"][planner][key] for r in rs if planner in r["planners"]]

    print()
    print(f"Two Rooms from pixels: success on {args.tasks} held-out tasks, mean ± standard error over {n} training "
          f"seeds ({args.minutes:g} min of training each, 1 thread)")
    print(f"{'planner':48} {'success %':>14} {'model steps/action':>19} {'ms/action':>10}")
    table = [("hierarchical JEPA planner", jepa, "hierarchical"),
             ("hierarchical, macro actions through Step", jepa, "hierarchical_macro"),
             ("flat JEPA planner", jepa, "flat"),
             ("hierarchical, true state (upper reference)", jepa, "true_hierarchical"),
             ("flat, true state (upper reference)", jepa, "true_flat"), ("random actions", jepa, "random"),
             ("hierarchical, generative world model", gen, "hierarchical"),
             ("flat, generative world model", gen, "flat")]
    shown = []
    for label, rs, planner in table:
        s = col(rs, planner, "success")
        if not s:
            continue
        shown.append((label, s))
        print(f"{label:48} {mean_se(s, 100):>14} {statistics.mean(col(rs, planner, 'evals')):>19.0f} "
              f"{statistics.mean(col(rs, planner, 'ms')):>10.1f}")
    print()
    print(f"linear probe of the agent's position from one frame (R^2 on frames no training saw), {n} seeds")
    for label, rs, key in (("JEPA, trained", jepa, "trained"), ("the same encoder, untrained", jepa, "untrained"),
                           ("PCA of the pixels, same width", jepa, "pca"), ("generative model's encoder", gen, "trained")):
        if rs:
            print(f"{label:48} {mean_se([r['probe'][key] for r in rs], 1, 4):>14}")
    print()
    for label, rs in (("JEPA", jepa), ("generative", gen)):
        if rs:
            print(f"{label} training: {statistics.mean(r['seconds'] for r in rs):.0f} s and "
                  f"{statistics.mean(r['steps'] for r in rs):.0f} steps a seed; whole run "
                  f"{statistics.mean(r['wall'] for r in rs):.0f} s a seed; peak memory "
                  f"{max(r['peak_mib'] for r in rs):.0f} MiB")
    plot(shown, ROOT / "docs" / "agent" / "pixels.png", args.tasks, n)
    if args.diagnose:
        with ProcessPoolExecutor(args.workers) as pool:
            diags = list(pool.map(diagnose, [r["seed"] for r in jepa]))
        print()
        print("diagnosis of the JEPA planner (the same runs)")
        print(f"{'flat JEPA planner, start and goal in the same room (50 tasks)':64} "
              f"{mean_se([d['same_room'] for d in diags], 100):>14} %")
        print(f"{'coarse predictor, 3 jumps into the wall: predicted across it':64} "
              f"{mean_se([d['tunnel'] for d in diags], 100):>14} %")


def print_pendulum_diagnosis(seeds: list[int], workers: int) -> None:
    with ProcessPoolExecutor(workers) as pool:
        diags = list(pool.map(diagnose_pendulum, seeds))
    print()
    print(f"diagnosis of the pendulum's representation ({len(seeds)} runs; observations no training saw)")
    for i, name in enumerate(("cos th", "sin th", "th' / 8")):
        print(f"{'probe R^2 of ' + name:56} {mean_se([d['r2'][i] for d in diags], 1, 3):>16}")
    for j, label in enumerate(DISTANCE_BINS):
        print(f"{'distance to the goal representation, |th| in ' + label:56} "
              f"{mean_se([d['distance'][j] for d in diags], 1, 2):>16}")


def pendulum(args: Any) -> None:
    if args.diagnose_only:
        print_pendulum_diagnosis(args.seeds, args.workers)
        return
    tasks = 50 if args.tasks == 100 else args.tasks
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one, PENDULUM, s, args.minutes, tasks, args.trajectories, args.reuse, args.quick)
                   for s in args.seeds] + [pool.submit(state_agent, s, tasks, args.reuse, args.quick) for s in args.seeds]
        rows = [f.result() for f in futures]
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))
    pix = [r for r in rows if r["model"] == PENDULUM.stem]
    state = [r for r in rows if r["model"] == "state"]
    n = len(pix)
    print()
    print(f"Pendulum-v1 from pixels: mean return on {tasks} held-out starts (the same for every row), mean ± "
          f"standard error over {n} training seeds ({args.minutes:g} min of training each, 1 thread); target >= -300")
    print(f"{'agent':56} {'return':>16} {'model steps/action':>19} {'ms/action':>10}")
    shown = []
    for label, planner in (("flat JEPA planner, from pixels", "flat"),
                           ("the same planner over the true state and dynamics", "true_flat"),
                           ("random torques", "random")):
        v = [r["planners"][planner]["return"] for r in pix if planner in r["planners"]]
        if v:
            shown.append((label, v))
            print(f"{label:56} {mean_se(v):>16} "
                  f"{statistics.mean(r['planners'][planner]['evals'] for r in pix):>19.0f} "
                  f"{statistics.mean(r['planners'][planner]['ms'] for r in pix):>10.1f}")
    v = [statistics.mean(r["returns"]) for r in state]
    shown.insert(1, ("state-based agent (pendulum.toml, Mode-2 cem)", v))
    print(f"{'state-based agent (pendulum.toml: learned over the state, cem)':56} {mean_se(v):>16}")
    print()
    print("linear probe of (cos th, sin th, th' / 8) from one observation (R^2 on observations no training saw)")
    for label, key in (("JEPA, trained", "trained"), ("the same encoder, untrained", "untrained"),
                       ("PCA of the pixels, same width", "pca")):
        print(f"{label:56} {mean_se([r['probe'][key] for r in pix], 1, 4):>16}")
    print()
    print(f"JEPA training: {statistics.mean(r['seconds'] for r in pix):.0f} s and "
          f"{statistics.mean(r['steps'] for r in pix):.0f} steps a seed; whole run "
          f"{statistics.mean(r['wall'] for r in pix):.0f} s a seed; peak memory {max(r['peak_mib'] for r in pix):.0f} MiB")
    if not args.quick:
        plot_returns(shown, ROOT / "docs" / "agent" / "pendulum_pixels.png", tasks, n)
    if args.diagnose:
        print_pendulum_diagnosis([r["seed"] for r in pix], args.workers)


DISTANCE_BINS = ("[0, 0.3)", "[0.3, 1)", "[1, 2)", "[2, pi]")


def diagnose_pendulum(seed: int) -> dict[str, Any]:
    """For a pendulum run of the benchmark: the probe's R^2 per target, and the mean squared distance
    from an observation's representation to the goal image's, by how far the pendulum is from upright."""
    import numpy as np
    import torch
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    from ebmgraph.agent import pixels
    from ebmgraph.agent.pixel_agent import load_pixel_config, load_run, suite_of
    torch.set_num_threads(1)
    cfg = load_pixel_config(PENDULUM).model_copy(update={
        "out_dir": str(ROOT / "runs" / f"bench_pixels_pendulum_pixels_s{seed}")})
    worlds, _ = load_run(cfg)
    encode = worlds["learned"].encode
    suite = suite_of(cfg)
    with np.load(Path(cfg.out_dir) / "data.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files if k != "key"}
    held = suite.collect(400, 2, seed + 20_000, 1)

    def rep(obs: Any) -> Any:
        return encode(torch.tensor(obs, dtype=torch.float32)).numpy()
    fit_x, fit_y = rep(suite.first_obs(data)), suite.targets(data)
    x, y = rep(suite.first_obs(held)), suite.targets(held)
    pred = Ridge(1e-6).fit(fit_x, fit_y).predict(x)
    goal = rep(pixels.goal_image()[None])
    dist = ((x - goal) ** 2).sum(1)
    th = np.abs(np.arctan2(y[:, 1], y[:, 0]))
    edges = (0.0, 0.3, 1.0, 2.0, np.pi + 1e-9)
    return {"r2": [float(r2_score(y[:, i], pred[:, i])) for i in range(3)],
            "distance": [float(dist[(th >= lo) & (th < hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]}


def plot_returns(shown: list[tuple[str, list[float]]], path: Path, tasks: int, seeds: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3))
    labels = [s[0] for s in shown]
    means = [statistics.mean(s[1]) for s in shown]
    errs = [statistics.stdev(s[1]) / len(s[1]) ** 0.5 if len(s[1]) > 1 else 0.0 for s in shown]
    ax.barh(labels, means, xerr=errs, color="C0")
    for i, s in enumerate(shown):
        ax.scatter(s[1], [i] * len(s[1]), color="k", s=8, zorder=3)
    ax.axvline(-300, color="C3", ls="--", lw=1, label="target -300")
    ax.invert_yaxis()
    ax.set_xlabel(f"mean return on {tasks} held-out starts, {seeds} seeds (dots)")
    ax.set_title("Pendulum-v1 from pixels (benchmarks/bench_pixels.py --env pendulum)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def diagnose(seed: int) -> dict[str, float]:
    """For a JEPA run of the benchmark: (1) the flat planner where no wall is in the way (start and
    goal in the right room, from held-out seeds); (2) how often the coarse predictor, from a point of
    the left room with the action (1, 0) held over 3 jumps towards the wall below or above the door,
    predicts (as the probe reads it) an end past the wall, where the agent stays on its side."""
    import numpy as np
    import torch

    from ebmgraph.agent import tworooms as tr
    from ebmgraph.agent.envs import HELD_OUT
    from ebmgraph.agent.latent import Search, evaluate
    from ebmgraph.agent.pixel_agent import load_pixel_config, load_run
    torch.set_num_threads(1)
    cfg = load_pixel_config(JEPA).model_copy(update={"out_dir": str(ROOT / "runs" / f"bench_pixels_tworooms_s{seed}")})
    worlds, to_pos = load_run(cfg)
    w = worlds["learned"]
    rngs = [np.random.default_rng(HELD_OUT + 100_000 + i) for i in range(50)]
    same = [(np.array([r.uniform(38, 60), r.uniform(4, 60)]), np.array([r.uniform(38, 60), r.uniform(4, 60)]))
            for r in rngs]
    torch.manual_seed(seed)
    same_room = evaluate(w, same, Search(lower=cfg.planner.lower), hierarchical=False).success
    r = np.random.default_rng(HELD_OUT + 200_000)
    ys = np.concatenate([r.uniform(4, 22, 100), r.uniform(42, 60, 100)])  # below and above the door
    starts = np.stack([r.uniform(18, 26, 200), ys], 1)
    with torch.no_grad():
        s = w.encode(torch.tensor(tr.observations(starts), dtype=torch.float32))
        for _ in range(3):
            s = w.first_jump(s, torch.tensor([[1.0, 0.0]]).expand(len(s), -1))  # type: ignore[misc]
    crossed = to_pos.predict(s.numpy())[:, 0] > tr.WALL[1]
    return {"same_room": float(same_room), "tunnel": float(crossed.mean())}


def plot(shown: list[tuple[str, list[float]]], path: Path, tasks: int, seeds: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [s[0] for s in shown]
    means = [100 * statistics.mean(s[1]) for s in shown]
    errs = [100 * statistics.stdev(s[1]) / len(s[1]) ** 0.5 if len(s[1]) > 1 else 0.0 for s in shown]
    ax.barh(labels, means, xerr=errs, color="C0")
    for i, s in enumerate(shown):
        ax.scatter([100 * v for v in s[1]], [i] * len(s[1]), color="k", s=8, zorder=3)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"success on {tasks} held-out tasks (%), {seeds} seeds (dots)")
    ax.set_title("Two Rooms from pixels (benchmarks/bench_pixels.py)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
