"""The agent that learns its world from pixels (003 sec. 4.4-4.8; issue 24): `ebm agent
examples/agent/tworooms.toml`, a config with `kind = "pixels"`.

1. data: random-exploration trajectories collected once (PLDM's offline data), kept under the run
   as data.npz (the true positions and the actions; the frames are drawn from the positions).
2. world model: the JEPA file (library/agent/pixel_jepa.ebm, PixelJEPA) trained by the ordinary
   trainer on those sequences, for `minutes` of wall-clock or `epochs`, whichever ends first, with the
   collapse monitor on the representations; kept as jepa.pt.
3. what it learned: a linear probe from the frozen representation of a frame to the agent's true
   position (R^2 on frames of trajectories it never saw).
4. planning in representation space on the held-out tasks (tworooms.held_out_tasks, seeds no data
   collection draws): the planner file's Lower (flat) and Upper over Lower (hierarchical), each
   towards the goal image's representation; beside them the same planners over the true state, and
   random actions, as the config's `planners` lists.
5. report.json, and what people look at: success.png (each planner's success rate), task.png (a
   typical held-out task: the frames seen beside the goal image, the path on the map with the
   subgoals' positions by the probe).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import AgentError
from .config import CemConfig, _Strict

PLANNER_KINDS = ("flat", "hierarchical", "true_flat", "true_hierarchical", "random")


class ExploreConfig(_Strict):
    trajectories: int = Field(1000, ge=2)  # random-exploration trajectories
    hold: int = Field(4, ge=1)  # each random action is held this many steps (the coarse predictor's K)


class JepaConfig(_Strict):
    file: str = "library/agent/pixel_jepa.ebm"
    model: str = "PixelJEPA"
    params: dict[str, int | float] = {}  # T (rollout steps: trajectories of T + 1 frames), K, ds, hidden, ...
    minutes: float = Field(15.0, gt=0)  # the training's wall-clock budget ...
    epochs: int = Field(200, ge=1)  # ... or its epochs, whichever ends first
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0)


class PlanningConfig(_Strict):
    file: str = "library/agent/pixel_planner.ebm"  # models Lower (and Upper for the hierarchy)
    params: dict[str, int | float] = {}  # Lower's T, Upper's U
    lower: CemConfig = CemConfig(samples=128, elites=12, iterations=3)
    upper: CemConfig = CemConfig(samples=128, elites=12, iterations=4)
    subgoal: int = Field(1, ge=1)  # the upper plan's jump whose predicted state is the subgoal
    best: bool = True  # the upper level keeps its best drawn plan, not the elites' mean


class PixelAgentConfig(_Strict):
    kind: Literal["pixels"]
    env: Literal["ebmgraph/TwoRooms-v0"] = "ebmgraph/TwoRooms-v0"
    seed: int = 0
    out_dir: str = "runs/agent_tworooms"
    data: ExploreConfig = ExploreConfig()
    world_model: JepaConfig = JepaConfig()
    planner: PlanningConfig = PlanningConfig()
    planners: list[Literal["flat", "hierarchical", "true_flat", "true_hierarchical", "random"]] = [
        "flat", "hierarchical", "random"]
    tasks: int = Field(100, ge=1)  # held-out tasks evaluated
    episode_steps: int = Field(200, ge=1)
    threads: int | None = Field(None, ge=1)
    resume: bool = True  # reuse the run's data and trained world model when its settings are the same
    progress: bool = True  # the training's progress bar

    @model_validator(mode="after")
    def _check(self) -> PixelAgentConfig:
        for name in ("lower", "upper"):
            c = getattr(self.planner, name)
            if c.elites > c.samples:
                raise ValueError(f"planner.{name}.elites ({c.elites}) must not exceed its samples ({c.samples})")
        if len(set(self.planners)) != len(self.planners):
            raise ValueError(f"planners lists one twice: {self.planners}")
        return self


def is_pixel_config(path: str | Path) -> bool:
    """Whether an agent config is a pixel agent's (kind = "pixels"); an unreadable one is left to the loader."""
    import tomllib
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("kind") == "pixels"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_pixel_config(path: str | Path) -> PixelAgentConfig:
    from ..training.config import parse_toml, read_config_text
    from .config import resolve_file
    text = read_config_text(Path(path))
    cfg = parse_toml(text, str(path), PixelAgentConfig)
    cfg.__dict__["_text"], cfg.__dict__["_file"] = text, str(path)
    cfg.world_model.file = resolve_file(cfg, cfg.world_model.file, ("world_model", "file"))  # type: ignore[arg-type]
    cfg.planner.file = resolve_file(cfg, cfg.planner.file, ("planner", "file"))  # type: ignore[arg-type]
    if not Path(cfg.out_dir).is_absolute():
        cfg.out_dir = str(Path.cwd() / cfg.out_dir)
    return cfg


def quick_pixels(cfg: PixelAgentConfig) -> PixelAgentConfig:
    """The same run, small: for the tests and a first look."""
    small = CemConfig(samples=16, elites=4, iterations=2)
    return cfg.model_copy(update={
        "data": cfg.data.model_copy(update={"trajectories": 16, "hold": 2}),
        "world_model": cfg.world_model.model_copy(update={
            "params": {**cfg.world_model.params, "T": 4, "K": 2, "hidden": 16}, "epochs": 1, "batch_size": 8}),
        "planner": cfg.planner.model_copy(update={"params": {**cfg.planner.params, "T": 3, "U": 2, "hidden": 16},
                                                  "lower": small, "upper": small}),
        "tasks": 2, "episode_steps": 5})


@dataclass
class PlannerScore:
    name: str
    successes: list[bool]
    evaluations_per_action: float
    ms_per_action: float

    @property
    def rate(self) -> float:
        return sum(self.successes) / max(1, len(self.successes))

    @property
    def stderr(self) -> float:
        n, p = len(self.successes), self.rate
        return (p * (1 - p) / n) ** 0.5 if n > 1 else float("nan")

    def __str__(self) -> str:
        return (f"{100 * self.rate:5.1f}% ± {100 * self.stderr:.1f} ({sum(self.successes)}/{len(self.successes)}), "
                f"{self.evaluations_per_action:.0f} model steps and {self.ms_per_action:.1f} ms per action")


@dataclass
class PixelResult:
    scores: dict[str, PlannerScore]
    probe: dict[str, float]  # R^2 of the agent's position: trained, untrained, pca
    train_seconds: float
    train_steps: int
    files: list[Path]


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _params(cfg: PixelAgentConfig) -> tuple[dict[str, Any], int, int]:
    """The world model's parameters and its T and K; a parameter neither file declares is a located
    error (the planner's are checked against its Lower and Upper), not dropped."""
    from ..training.loop import _config_error
    from .base import declared
    checks = (("world_model", cfg.world_model.params, declared(cfg.world_model.file, cfg.world_model.model),
               cfg.world_model.model),
              ("planner", cfg.planner.params, declared(cfg.planner.file, "Lower") | declared(cfg.planner.file, "Upper"),
               "Lower or Upper"))
    for table, given, have, what in checks:
        unknown = sorted(set(given) - have)
        if unknown:
            raise _config_error(cfg, (table, "params"), f"{table}.params: {', '.join(unknown)} is not a parameter of "
                                f"{what}", hint=f"they declare {', '.join(sorted(have))}")
    p = {k: v for k, v in cfg.world_model.params.items() if k in checks[0][2]}
    return p, int(p.get("T", 16)), int(p.get("K", 4))


def collect(cfg: PixelAgentConfig, out: Path, T: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The offline data: random-exploration trajectories of T + 1 frames, kept as data.npz."""
    import numpy as np

    from ..files import write_atomic
    from . import tworooms as tr
    key = _fingerprint(cfg.env, cfg.seed, cfg.data.model_dump(), T)
    path = out / "data.npz"
    if cfg.resume and path.exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) == key:
                log(f"data: {len(z['pos'])} trajectories from {path}")
                return {k: z[k] for k in ("pos", "actions", "seeds")}
    t0 = time.perf_counter()
    data = tr.explore(cfg.data.trajectories, steps=T + 1, seed=cfg.seed, hold=cfg.data.hold)
    write_atomic(path, lambda fh: np.savez(fh, key=np.array(key), **data))  # type: ignore[arg-type]
    log(f"data: {cfg.data.trajectories} random-exploration trajectories of {T + 1} frames "
        f"({time.perf_counter() - t0:.0f} s), kept in {path}")
    return data


def train_world_model(cfg: PixelAgentConfig, jepa: Any, data: dict[str, Any], out: Path, T: int,
                      log: Callable[[str], None]) -> tuple[float, int]:
    """The JEPA trained by the ordinary trainer on the trajectories; kept as jepa.pt (reused when the
    run's settings are the same). Returns the training's seconds and steps."""
    import shutil

    import torch

    from ..files import write_atomic
    from ..training import train
    from ..training.data import Dataset
    from . import tworooms as tr
    key = _fingerprint(cfg.env, cfg.seed, cfg.data.model_dump(), cfg.world_model.model_dump(),
                       Path(cfg.world_model.file).read_text(encoding="utf-8"))
    path = out / "jepa.pt"
    if cfg.resume and path.exists():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == key:
            jepa.load_state_dict(saved["state"])
            log(f"world model: trained before ({saved['steps']} steps, {saved['seconds']:.0f} s), from {path}")
            return float(saved["seconds"]), int(saved["steps"])
    obs = torch.tensor(tr.observations(data["pos"]), dtype=torch.float32)
    tensors = {f"o[{t}]": obs[:, t] for t in range(T + 1)}
    tensors |= {f"a[{t}]": torch.tensor(data["actions"][:, t]) for t in range(T)}
    run_dir = out / "world_model"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    w = cfg.world_model
    t0 = time.perf_counter()
    budget = 60.0 * w.minutes

    def on_step(row: dict[str, float]) -> bool:
        return time.perf_counter() - t0 < budget

    log(f"world model: training {Path(w.file).name} ({w.model}) for {w.minutes:g} min or {w.epochs} epochs")
    res = train(jepa, {"loss": {"kind": "energy"}, "epochs": w.epochs, "batch_size": min(w.batch_size, len(obs)),
                       "optimizer": {"kind": "adam", "lr": w.lr}, "seed": cfg.seed, "out_dir": str(run_dir),
                       "progress": cfg.progress}, Dataset(tensors, {}), on_step=on_step)
    secs, steps = time.perf_counter() - t0, len(res.history)
    write_atomic(path, lambda fh: torch.save({"key": key, "state": jepa.state_dict(), "seconds": secs,
                                               "steps": steps}, fh))
    log(f"world model: {steps} steps in {secs:.0f} s, kept in {path}")
    return secs, steps


def probe(cfg: PixelAgentConfig, jepa: Any, untrained: Any, data: dict[str, Any]) -> tuple[dict[str, float], Any]:
    """R^2 of a linear probe (ridge) from a frame's representation to the agent's true position: fitted
    on the training trajectories' first frames, scored on frames of other trajectories; for the trained
    encoder, the same encoder untrained, and PCA of the pixels to the same width. Returns the scores
    and the trained probe (representation -> position)."""
    import torch
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    from . import tworooms as tr
    fit = data["pos"][:, 0]
    held = tr.explore(max(200, len(fit)), steps=2, seed=cfg.seed + 10_000)["pos"][:, 0]

    def rep(model: Any, pos: Any) -> Any:
        import numpy as np
        out = []
        for i in range(0, len(pos), 256):
            with torch.no_grad():
                o = torch.tensor(tr.observations(pos[i:i + 256]), dtype=torch.float32)
                out.append(model.partial({"o[0]": o})["e[0].s"].numpy())
        return np.concatenate(out)

    scores = {}
    to_pos = Ridge(1e-6).fit(rep(jepa, fit), fit)
    scores["trained"] = float(to_pos.score(rep(jepa, held), held))
    scores["untrained"] = float(Ridge(1e-6).fit(rep(untrained, fit), fit).score(rep(untrained, held), held))

    def pixels(p: Any) -> Any:
        return tr.observations(p)[:, 0].reshape(len(p), -1)

    ds = int(jepa.graph.var("e[0].s").domain.shape[0])
    pca = PCA(min(ds, len(fit))).fit(pixels(fit))
    scores["pca"] = float(Ridge(1e-6).fit(pca.transform(pixels(fit)), fit).score(pca.transform(pixels(held)), held))
    return scores, to_pos


def worlds(cfg: PixelAgentConfig, jepa: Any, K: int) -> dict[str, Any]:
    """The planners' worlds: the learned one (the planner file over the trained JEPA) and the true one."""
    from .base import compiled
    from .latent import learned_world
    from .tworooms import true_world
    p = cfg.planner
    lower = compiled(p.file, p.params, "Lower")
    upper = compiled(p.file, p.params, "Upper") if any("hierarchical" in k for k in cfg.planners) else None
    learned = learned_world(jepa, lower, upper, K)
    return {"learned": learned, "true": true_world(T=learned.T, U=learned.U or 1, K=K)}


def random_outcome(cfg: PixelAgentConfig, tasks: list[Any], first: int = 0) -> Any:
    """Uniform random actions, each task's own stream (seeded by its index, the first one's `first`)."""
    import numpy as np

    from .latent import Episode, Outcome
    from .tworooms import TwoRooms
    eps = []
    t0 = time.perf_counter()
    n = 0
    for i, (s, g) in enumerate(tasks):
        env, rng = TwoRooms(), np.random.default_rng(cfg.seed * 1000 + first + i)
        env.reset(options={"start": s, "goal": g})
        path, done = [np.asarray(s, float)], False
        for _ in range(cfg.episode_steps):
            _, _, done, _, info = env.step(rng.uniform(-1, 1, 2))
            path.append(info["pos"])
            n += 1
            if done:
                break
        eps.append(Episode(np.asarray(s, float), np.asarray(g, float), path, [], bool(done), len(path) - 1))
    return Outcome(eps, 0.0, 1000 * (time.perf_counter() - t0) / max(1, n))


def run_pixels(cfg: PixelAgentConfig, log: Callable[[str], None] = print) -> PixelResult:
    """The whole run (see the module's docstring); its files under cfg.out_dir."""
    import copy

    import torch

    from ..training.loop import set_threads
    from .base import compiled
    from .latent import Search, evaluate
    from .tworooms import held_out_tasks
    set_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params, T, K = _params(cfg)
    torch.manual_seed(cfg.seed)
    jepa = compiled(cfg.world_model.file, params, cfg.world_model.model)
    for name in ("o[0]", "e[0].s", "a[0]"):
        if not jepa.graph.has_var(name):
            raise AgentError(f"{Path(cfg.world_model.file).name}: {cfg.world_model.model} must declare observed "
                             "o[0..T], a[0..T - 1] and an encoder instance e[t] with its representation s (PixelJEPA is one)")
    untrained = copy.deepcopy(jepa)
    data = collect(cfg, out, T, log)
    secs, steps = train_world_model(cfg, jepa, data, out, T, log)
    scores_probe, to_pos = probe(cfg, jepa, untrained, data)
    log("probe R^2 of the position: " + ", ".join(f"{k} {v:.3f}" for k, v in scores_probe.items()))
    tasks = held_out_tasks(cfg.tasks)
    w = worlds(cfg, jepa, K)
    p = cfg.planner
    search = Search(lower=p.lower, upper=p.upper, subgoal=p.subgoal, best=p.best)
    outcomes: dict[str, Any] = {}
    for kind in cfg.planners:
        t0 = time.perf_counter()
        if kind == "random":
            outcomes[kind] = random_outcome(cfg, tasks)
        else:
            world = w["true" if kind.startswith("true") else "learned"]
            outcomes[kind] = evaluate(world, tasks, search, hierarchical=kind.endswith("hierarchical"),
                                      limit=cfg.episode_steps)
        o = outcomes[kind]
        log(f"{kind}: {100 * o.success:.0f}% of {len(tasks)} held-out tasks ({time.perf_counter() - t0:.0f} s)")
    scores = {k: PlannerScore(k, [e.success for e in o.episodes], o.evaluations_per_action, o.ms_per_action)
              for k, o in outcomes.items()}
    files = write_report(cfg, out, scores, scores_probe, secs, steps, outcomes, to_pos, w["learned"])
    return PixelResult(scores, scores_probe, secs, steps, files)


def write_report(cfg: PixelAgentConfig, out: Path, scores: dict[str, PlannerScore], probe_scores: dict[str, float],
                 secs: float, steps: int, outcomes: dict[str, Any], to_pos: Any, world: Any) -> list[Path]:
    from ..files import write_atomic
    report = {"env": cfg.env, "seed": cfg.seed, "tasks": cfg.tasks, "probe_r2": probe_scores,
              "train_seconds": secs, "train_steps": steps,
              "planners": {k: {"success": s.rate, "stderr": s.stderr, "successes": s.successes,
                               "evaluations_per_action": s.evaluations_per_action, "ms_per_action": s.ms_per_action}
                           for k, s in scores.items()}}
    path = out / "report.json"
    write_atomic(path, lambda fh: fh.write(json.dumps(report, indent=1).encode()))  # type: ignore[arg-type]
    files = [path]
    files += plot_pixels(out, scores, outcomes, to_pos)
    return files


def plot_pixels(out: Path, scores: dict[str, PlannerScore], outcomes: dict[str, Any], to_pos: Any) -> list[Path]:
    """success.png: each planner's success rate (with its standard error); task.png: a typical held-out
    task of the first learned planner (the hierarchical one where run): the frames it saw beside the
    goal image, and its path on the map with the subgoals' positions as the probe reads them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import write_atomic
    files = []
    fig, ax = plt.subplots(figsize=(5, 3))
    names = list(scores)
    ax.bar(names, [100 * scores[n].rate for n in names], yerr=[100 * scores[n].stderr for n in names], color="C0")
    ax.set_ylabel("success on held-out tasks (%)")
    ax.set_ylim(0, 100)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    path = out / "success.png"
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))  # type: ignore[arg-type]
    plt.close(fig)
    files.append(path)
    pick = next((k for k in ("hierarchical", "flat") if k in outcomes), None)
    if pick is None:
        return files
    eps = outcomes[pick].episodes
    done = [e for e in eps if e.success] or eps
    ep = sorted(done, key=lambda e: e.steps)[len(done) // 2]  # the median-length one
    fig = task_figure(ep, pick, to_pos)
    path = out / "task.png"
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))  # type: ignore[arg-type]
    plt.close(fig)
    files.append(path)
    return files


def task_figure(ep: Any, kind: str, to_pos: Any) -> Any:
    """A held-out task as the agent did it: five frames it saw beside the goal image; its path on the
    map, with the hierarchy's subgoals at the positions the probe reads from them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from . import tworooms as tr
    fig = plt.figure(figsize=(9, 4))
    grid = fig.add_gridspec(2, 6)
    frames = np.linspace(0, len(ep.path) - 1, 5).astype(int)
    for j, t in enumerate(frames):
        a = fig.add_subplot(grid[0, j])
        a.imshow(tr.draw(ep.path[t]).max(0), cmap="gray", vmin=0, vmax=1)
        a.set_title(f"seen, t={t}", fontsize=8)
        a.axis("off")
    a = fig.add_subplot(grid[0, 5])
    a.imshow(tr.draw(ep.goal).max(0), cmap="gray", vmin=0, vmax=1)
    a.set_title("goal image", fontsize=8)
    a.axis("off")
    m = fig.add_subplot(grid[1, :3])
    m.imshow(tr.walls(), cmap="Greys", vmin=0, vmax=2, extent=(0, tr.SIZE, tr.SIZE, 0))
    path_xy = np.array(ep.path)
    m.plot(path_xy[:, 0], path_xy[:, 1], "-", color="C0", lw=1.5, label="path")
    if ep.subgoals and kind.endswith("hierarchical"):
        sub = np.array(ep.subgoals)
        sub = sub * tr.SIZE if kind.startswith("true") else to_pos.predict(sub)
        m.scatter(sub[:, 0], sub[:, 1], s=6, color="C1", label="subgoals" + ("" if kind.startswith("true") else " (probe)"))
    m.scatter([ep.start[0]], [ep.start[1]], color="C2", label="start")
    m.scatter([ep.goal[0]], [ep.goal[1]], color="C3", marker="*", s=80, label="goal")
    m.set_xlim(0, tr.SIZE)
    m.set_ylim(tr.SIZE, 0)
    m.set_title(f"{kind}: {'reached' if ep.success else 'missed'} in {ep.steps} steps", fontsize=9)
    m.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


def load_run(cfg: PixelAgentConfig) -> tuple[dict[str, Any], Any]:
    """A saved run's planners' worlds (its trained world model) and its probe (representation -> position)."""
    import numpy as np
    import torch

    from .base import compiled
    out = Path(cfg.out_dir)
    params, T, K = _params(cfg)
    jepa = compiled(cfg.world_model.file, params, cfg.world_model.model)
    try:
        jepa.load_state_dict(torch.load(out / "jepa.pt", weights_only=True)["state"])
        with np.load(out / "data.npz", allow_pickle=False) as z:
            data = {k: z[k] for k in ("pos", "actions", "seeds")}
    except (OSError, KeyError, RuntimeError) as exc:
        raise AgentError(f"{out} holds no run of this config ({exc}); run `ebm agent` on it first") from None
    from sklearn.linear_model import Ridge

    from . import tworooms as tr
    fit = data["pos"][:, 0]
    with torch.no_grad():
        rep = jepa.partial({"o[0]": torch.tensor(tr.observations(fit), dtype=torch.float32)})["e[0].s"].numpy()
    return worlds(cfg, jepa, K), Ridge(1e-6).fit(rep, fit)


def run_task(cfg: PixelAgentConfig, index: int, kind: str, world: dict[str, Any] | None = None,
             progress: Callable[[int, int], None] | None = None) -> Any:
    """Held-out task `index` done by the planner `kind` of a saved run: its Episode."""
    from .latent import Search, evaluate
    from .tworooms import held_out_tasks
    if kind not in PLANNER_KINDS:
        raise AgentError(f"'{kind}' is not a planner; choose one of {', '.join(PLANNER_KINDS)}")
    task = held_out_tasks(index + 1)[index:]
    if kind == "random":
        return random_outcome(cfg, task, first=index).episodes[0]
    w = world or load_run(cfg)[0]
    p = cfg.planner
    out = evaluate(w["true" if kind.startswith("true") else "learned"], task,
                   Search(lower=p.lower, upper=p.upper, subgoal=p.subgoal, best=p.best),
                   hierarchical=kind.endswith("hierarchical"), limit=cfg.episode_steps, progress=progress)
    return out.episodes[0]


__all__ = ["PLANNER_KINDS", "PixelAgentConfig", "PixelResult", "PlannerScore", "is_pixel_config", "load_run",
           "run_task", "task_figure",
           "load_pixel_config", "quick_pixels", "run_pixels"]
