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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import AgentError
from .config import CemConfig, _Strict

PLANNER_KINDS = ("flat", "hierarchical", "hierarchical_macro", "true_flat", "true_hierarchical", "random")


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
    file: str = "library/agent/pixel_planner.ebm"  # models Lower (Upper, Macro for the hierarchies)
    params: dict[str, int | float] = {}  # Lower's T, Upper's U
    lower: CemConfig = CemConfig(samples=128, elites=12, iterations=3)
    upper: CemConfig = CemConfig(samples=128, elites=12, iterations=4)
    subgoal: int = Field(1, ge=1)  # the upper plan's jump whose predicted state is the subgoal
    best: bool = True  # the upper level keeps its best drawn plan, not the elites' mean


class PixelAgentConfig(_Strict):
    kind: Literal["pixels"]
    env: Literal["ebmgraph/TwoRooms-v0", "ebmgraph/PendulumPixels-v0"] = "ebmgraph/TwoRooms-v0"
    seed: int = Field(0, ge=0, lt=2**63)  # torch's and numpy's generators take up to 64 bits
    out_dir: str = "runs/agent_tworooms"
    data: ExploreConfig = ExploreConfig()
    world_model: JepaConfig = JepaConfig()
    planner: PlanningConfig = PlanningConfig()
    planners: list[Literal["flat", "hierarchical", "hierarchical_macro", "true_flat", "true_hierarchical",
                           "random"]] = ["flat", "hierarchical", "random"]
    tasks: int = Field(100, ge=1)  # held-out tasks evaluated
    episode_steps: int = Field(200, ge=1)
    threads: int | None = Field(None, ge=1, le=256)
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
        if self.env == "ebmgraph/PendulumPixels-v0" and "true_hierarchical" in self.planners:
            raise ValueError("true_hierarchical is Two Rooms' (its true world jumps K steps on a held action); "
                             "Pendulum's true world plans flat: list true_flat")
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
            "params": {**cfg.world_model.params, "T": 4, "K": 2, "hidden": 16, "jhidden": 16}, "epochs": 1, "batch_size": 8}),
        "planner": cfg.planner.model_copy(update={"params": {**cfg.planner.params, "T": 3, "U": 2, "hidden": 16, "jhidden": 16},
                                                  "lower": small, "upper": small}),
        "tasks": 2, "episode_steps": 5})


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


_LEVELS = ("Lower", "Upper", "Macro")  # the planner file's models


def _params(cfg: PixelAgentConfig) -> tuple[dict[str, Any], int, int]:
    """The world model's parameters and its T and K; a parameter neither file declares is a located
    error (the planner's are checked against its Lower and Upper), not dropped."""
    from ..training.loop import _config_error
    from .base import declared
    checks = (("world_model", cfg.world_model.params, declared(cfg.world_model.file, cfg.world_model.model),
               cfg.world_model.model),
              ("planner", cfg.planner.params, set().union(*(declared(cfg.planner.file, m) for m in _LEVELS)),
               " or ".join(_LEVELS)))
    for table, given, have, what in checks:
        unknown = sorted(set(given) - have)
        if unknown:
            raise _config_error(cfg, (table, "params"), f"{table}.params: {', '.join(unknown)} is not a parameter of "
                                f"{what}", hint=f"they declare {', '.join(sorted(have))}")
    p = {k: v for k, v in cfg.world_model.params.items() if k in checks[0][2]}
    return p, int(p.get("T", 16)), int(p.get("K", 4))


def sequences(rows: int, make: Callable[[Any], dict[str, Any]]) -> Any:
    """Training rows whose tensors are made when a batch asks for them (`make(rows) -> {variable:
    tensor}`): Two Rooms' frames are drawn from the stored positions, so the data's size is not
    bounded by the memory its frames would take (10,000 trajectories of 17 frames: 2.2 GB as floats).
    A Dataset for the ordinary trainer (torch is imported here, not with the module)."""
    from ..training.data import Dataset

    class Sequences(Dataset):
        def __len__(self) -> int:
            return rows

        def batch(self, idx: Any) -> dict[str, Any]:
            return make(idx)

    return Sequences({}, {})

def suite_of(cfg: PixelAgentConfig) -> Any:
    from .suites import SUITES
    return SUITES[cfg.env]


def collect(cfg: PixelAgentConfig, out: Path, T: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The offline data: random-exploration trajectories of T + 1 observations, kept as data.npz."""
    import numpy as np

    from ..files import write_atomic
    key = _fingerprint(cfg.env, cfg.seed, cfg.data.model_dump(), T)
    path = out / "data.npz"
    if cfg.resume and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    data = {k: z[k] for k in z.files if k != "key"}
                    log(f"data: {len(data['seeds'])} trajectories from {path}")
                    return data
        except (OSError, ValueError, KeyError, EOFError):
            log(f"data: {path} cannot be read; collected again")
    t0 = time.perf_counter()
    data = suite_of(cfg).collect(cfg.data.trajectories, T + 1, cfg.seed, cfg.data.hold)
    write_atomic(path, lambda fh: np.savez_compressed(fh, key=np.array(key), **data))  # type: ignore[arg-type]
    log(f"data: {cfg.data.trajectories} random-exploration trajectories of {T + 1} observations "
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
    key = _fingerprint(cfg.env, cfg.seed, cfg.data.model_dump(), cfg.world_model.model_dump(),
                       Path(cfg.world_model.file).read_text(encoding="utf-8"))
    path = out / "jepa.pt"
    if cfg.resume and path.exists():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == key:
            jepa.load_state_dict(saved["state"])
            log(f"world model: trained before ({saved['steps']} steps, {saved['seconds']:.0f} s), from {path}")
            return float(saved["seconds"]), int(saved["steps"])
    rows = len(data["seeds"])
    run_dir = out / "world_model"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    w = cfg.world_model
    t0 = time.perf_counter()
    budget = 60.0 * w.minutes

    def on_step(row: dict[str, float]) -> bool:
        return time.perf_counter() - t0 < budget

    log(f"world model: training {Path(w.file).name} ({w.model}) for {w.minutes:g} min or {w.epochs} epochs")
    res = train(jepa, {"loss": {"kind": "energy"}, "epochs": w.epochs, "batch_size": min(w.batch_size, rows),
                       "optimizer": {"kind": "adam", "lr": w.lr}, "seed": cfg.seed, "out_dir": str(run_dir),
                       "progress": cfg.progress}, sequences(rows, suite_of(cfg).batches(data, T)), on_step=on_step)
    secs, steps = time.perf_counter() - t0, len(res.history)
    write_atomic(path, lambda fh: torch.save({"key": key, "state": jepa.state_dict(), "seconds": secs,
                                               "steps": steps}, fh))
    log(f"world model: {steps} steps in {secs:.0f} s, kept in {path}")
    return secs, steps


def _represent(model: Any, obs: Any) -> Any:
    import numpy as np
    import torch
    out = []
    for i in range(0, len(obs), 256):
        with torch.no_grad():
            out.append(model.partial({"o[0]": torch.tensor(obs[i:i + 256], dtype=torch.float32)})["e[0].s"].numpy())
    return np.concatenate(out)


def probe(cfg: PixelAgentConfig, jepa: Any, untrained: Any, data: dict[str, Any]) -> tuple[dict[str, float], Any]:
    """R^2 of a linear probe (ridge) from an observation's representation to the true state (Two Rooms:
    the position; Pendulum: cos, sin and speed): fitted on the training trajectories' first
    observations, scored on those of trajectories no training saw; for the trained encoder, the same
    encoder untrained, and PCA of the pixels to the same width. Returns the scores and the trained
    probe (representation -> true state)."""
    import warnings

    from scipy.linalg import LinAlgWarning
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge
    with warnings.catch_warnings():  # a tiny run's few frames make ill-conditioned fits: its R^2 says so
        warnings.simplefilter("ignore", LinAlgWarning)
        suite = suite_of(cfg)
        fit_obs, fit = suite.first_obs(data), suite.targets(data)
        held_data = suite.collect(min(max(200, len(fit)), 2000), 2, cfg.seed + 10_000, 1)
        held_obs, held = suite.first_obs(held_data), suite.targets(held_data)
        scores = {}
        to_state = Ridge(1e-6).fit(_represent(jepa, fit_obs), fit)
        scores["trained"] = float(to_state.score(_represent(jepa, held_obs), held))
        scores["untrained"] = float(Ridge(1e-6).fit(_represent(untrained, fit_obs), fit)
                                    .score(_represent(untrained, held_obs), held))
        ds = int(jepa.graph.var("e[0].s").domain.shape[0])
        pix_fit, pix_held = suite.pixels(fit_obs), suite.pixels(held_obs)
        pca = PCA(min(ds, len(fit))).fit(pix_fit)
        scores["pca"] = float(Ridge(1e-6).fit(pca.transform(pix_fit), fit).score(pca.transform(pix_held), held))
    return scores, to_state


def worlds(cfg: PixelAgentConfig, jepa: Any, K: int) -> dict[str, Any]:
    """The planners' worlds: the learned one (the planner file over the trained JEPA) and the true one."""
    from .base import compiled
    from .latent import learned_world
    p = cfg.planner
    lower = compiled(p.file, p.params, "Lower")
    upper = compiled(p.file, p.params, "Upper") if "hierarchical" in cfg.planners else None
    learned = learned_world(jepa, lower, upper, K)
    if learned.da != suite_of(cfg).da:
        raise AgentError(f"the planner's actions are {learned.da}-dimensional; {cfg.env} takes "
                         f"{suite_of(cfg).da}: set da = {suite_of(cfg).da} in planner.params")
    out = {"learned": learned, "true": suite_of(cfg).true_world(learned.T, learned.U, K)}
    if "hierarchical_macro" in cfg.planners:  # the upper level through the lower predictor (Macro)
        out["macro"] = learned_world(jepa, lower, compiled(p.file, p.params, "Macro", K=K), K)
    return out


def world_of(kind: str) -> str:
    """Which of worlds()' worlds a planner kind plans in."""
    return "true" if kind.startswith("true") else "macro" if kind == "hierarchical_macro" else "learned"


def is_hierarchical(kind: str) -> bool:
    return "hierarchical" in kind


@dataclass
class PlannerScore:
    name: str
    successes: list[bool]
    evaluations_per_action: float
    ms_per_action: float
    returns: list[float] = field(default_factory=list)
    metric: str = "success"

    @property
    def rate(self) -> float:
        return sum(self.successes) / max(1, len(self.successes))

    @property
    def mean_return(self) -> float:
        return sum(self.returns) / max(1, len(self.returns))

    @property
    def value(self) -> float:
        """What the planner is judged by: its success rate, or its mean return."""
        return self.rate if self.metric == "success" else self.mean_return

    @property
    def stderr(self) -> float:
        n = len(self.successes)
        if self.metric == "success":
            p = self.rate
            return (p * (1 - p) / n) ** 0.5 if n > 1 else float("nan")
        if n < 2:
            return float("nan")
        import statistics
        return statistics.stdev(self.returns) / n ** 0.5

    def __str__(self) -> str:
        cost = f"{self.evaluations_per_action:.0f} model steps and {self.ms_per_action:.1f} ms per action"
        if self.metric == "return":
            return f"mean return {self.mean_return:.1f} ± {self.stderr:.1f} over {len(self.returns)} starts, {cost}"
        return f"{100 * self.rate:5.1f}% ± {100 * self.stderr:.1f} ({sum(self.successes)}/{len(self.successes)}), {cost}"


@dataclass
class PixelResult:
    scores: dict[str, PlannerScore]
    probe: dict[str, float]  # R^2 of the true state: trained, untrained, pca
    train_seconds: float
    train_steps: int
    files: list[Path]
    probe_target: str = "the agent's position (x, y)"


def run_pixels(cfg: PixelAgentConfig, log: Callable[[str], None] = print) -> PixelResult:
    """The whole run (see the module's docstring); its files under cfg.out_dir."""
    import copy

    import torch

    from ..training.loop import set_threads
    from .base import compiled
    from .latent import Search, evaluate
    from .suites import random_outcome
    set_threads(cfg.threads)
    out = Path(cfg.out_dir)
    suite = suite_of(cfg)
    params, T, K = _params(cfg)
    torch.manual_seed(cfg.seed)
    jepa = compiled(cfg.world_model.file, params, cfg.world_model.model)
    for name in ("o[0]", "e[0].s", "a[0]"):
        if not jepa.graph.has_var(name):
            raise AgentError(f"{Path(cfg.world_model.file).name}: {cfg.world_model.model} must declare observed "
                             "o[0..T], a[0..T - 1] and an encoder instance e[t] with its representation s (PixelJEPA is one)")
    shape = tuple(jepa.graph.var("o[0]").domain.shape)
    if shape[:1] != (suite.channels,) or int(jepa.graph.var("a[0]").domain.shape[-1]) != suite.da:
        raise AgentError(f"{cfg.env} shows {suite.channels} channels of 64x64 and takes {suite.da}-dimensional "
                         f"actions; {cfg.world_model.model} declares o[0] : R{list(shape)} and a[0] : "
                         f"R{list(jepa.graph.var('a[0]').domain.shape)}: set c = {suite.channels} and "
                         f"da = {suite.da} in world_model.params")
    untrained = copy.deepcopy(jepa)
    out.mkdir(parents=True, exist_ok=True)  # after the checks: a refused config leaves no empty folder
    data = collect(cfg, out, T, log)
    secs, steps = train_world_model(cfg, jepa, data, out, T, log)
    scores_probe, to_state = probe(cfg, jepa, untrained, data)
    log(f"probe R^2 of {suite.probe_target}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores_probe.items()))
    tasks = suite.tasks(cfg.tasks)
    w = worlds(cfg, jepa, K)
    p = cfg.planner
    search = Search(lower=p.lower, upper=p.upper, subgoal=p.subgoal, best=p.best)
    outcomes: dict[str, Any] = {}
    setup = suite.setup()
    for kind in cfg.planners:
        t0 = time.perf_counter()
        if kind == "random":
            outcomes[kind] = random_outcome(suite, tasks, cfg.seed, cfg.episode_steps)
        else:
            outcomes[kind] = evaluate(w[world_of(kind)], tasks, search, hierarchical=is_hierarchical(kind),
                                      setup=setup, limit=cfg.episode_steps)
        o = outcomes[kind]
        what = (f"{100 * o.success:.0f}% of {len(tasks)} held-out tasks" if suite.metric == "success"
                else f"mean return {o.mean_return:.1f} over {len(tasks)} held-out starts")
        log(f"{kind}: {what} ({time.perf_counter() - t0:.0f} s)")
    scores = {k: PlannerScore(k, [e.success for e in o.episodes], o.evaluations_per_action, o.ms_per_action,
                              [e.ret for e in o.episodes], suite.metric) for k, o in outcomes.items()}
    files = write_report(cfg, out, scores, scores_probe, secs, steps, outcomes, to_state)
    return PixelResult(scores, scores_probe, secs, steps, files, suite.probe_target)


def write_report(cfg: PixelAgentConfig, out: Path, scores: dict[str, PlannerScore], probe_scores: dict[str, float],
                 secs: float, steps: int, outcomes: dict[str, Any], to_state: Any) -> list[Path]:
    from ..files import write_atomic
    report = {"env": cfg.env, "seed": cfg.seed, "tasks": cfg.tasks, "metric": suite_of(cfg).metric,
              "probe_r2": probe_scores, "train_seconds": secs, "train_steps": steps,
              "planners": {k: {"success": s.rate, "mean_return": s.mean_return, "stderr": s.stderr,
                               "successes": s.successes, "returns": s.returns,
                               "evaluations_per_action": s.evaluations_per_action, "ms_per_action": s.ms_per_action}
                           for k, s in scores.items()}}
    path = out / "report.json"
    write_atomic(path, lambda fh: fh.write(json.dumps(report, indent=1).encode()))  # type: ignore[arg-type]
    return [path, *plot_pixels(cfg, out, scores, outcomes, to_state)]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..files import write_atomic
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))  # type: ignore[arg-type]
    plt.close(fig)
    return path


def plot_pixels(cfg: PixelAgentConfig, out: Path, scores: dict[str, PlannerScore], outcomes: dict[str, Any],
                to_state: Any) -> list[Path]:
    """success.png (Two Rooms: each planner's success rate) or returns.png (Pendulum: each planner's
    mean return), with standard errors; task.png: a typical held-out task of the first learned
    planner (the hierarchical one where run) as task_figure draws it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ret = suite_of(cfg).metric == "return"
    fig, ax = plt.subplots(figsize=(5, 3))
    names = list(scores)
    scale = 1.0 if ret else 100.0
    ax.bar(names, [scale * scores[n].value for n in names], yerr=[scale * scores[n].stderr for n in names], color="C0")
    ax.set_ylabel("mean return on held-out starts" if ret else "success on held-out tasks (%)")
    if not ret:
        ax.set_ylim(0, 100)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    files = [_save(fig, out / ("returns.png" if ret else "success.png"))]
    pick = next((k for k in ("hierarchical", "flat") if k in outcomes), None)
    if pick is None:
        return files
    eps = outcomes[pick].episodes
    if ret:
        ep = sorted(eps, key=lambda e: e.ret)[len(eps) // 2]  # the median return
    else:
        done = [e for e in eps if e.success] or eps
        ep = sorted(done, key=lambda e: e.steps)[len(done) // 2]  # the median-length one
    files.append(_save(task_figure(ep, pick, to_state, cfg.env), out / "task.png"))
    return files


def task_figure(ep: Any, kind: str, to_state: Any, env: str = "ebmgraph/TwoRooms-v0") -> Any:
    """A held-out task as the agent did it: five frames it saw beside the goal image; below, Two Rooms:
    its path on the map, with the hierarchy's subgoals at the positions the probe reads from them;
    Pendulum: the angle and speed over the episode, with its return."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from . import tworooms as tr
    pendulum = env == "ebmgraph/PendulumPixels-v0"
    fig = plt.figure(figsize=(9, 4))
    grid = fig.add_gridspec(2, 6)
    frames = np.linspace(0, len(ep.path) - 1, 5).astype(int)
    if pendulum:
        from .pixels import frame_of
        pictures = [frame_of(ep.path[t]) for t in frames] + [frame_of(np.zeros(2))]
    else:
        pictures = [tr.draw(ep.path[t]).max(0) for t in frames] + [tr.draw(ep.goal).max(0)]
    for j, pic in enumerate(pictures):
        a = fig.add_subplot(grid[0, j])
        a.imshow(pic, cmap="gray", vmin=0, vmax=1)
        a.set_title(f"seen, t={frames[j]}" if j < 5 else "goal image", fontsize=8)
        a.axis("off")
    m = fig.add_subplot(grid[1, :3])
    if pendulum:
        path = np.array(ep.path)
        th = (path[:, 0] + np.pi) % (2 * np.pi) - np.pi
        m.plot(th, label="angle (rad, 0 upright)")
        m.plot(path[:, 1], label="speed (rad/s)")
        m.axhline(0, color="grey", lw=0.5)
        m.set_xlabel("step")
        m.set_title(f"{kind}: return {ep.ret:.0f} over {ep.steps} steps", fontsize=9)
        m.legend(fontsize=6)
        fig.tight_layout()
        return fig
    m.imshow(tr.walls(), cmap="Greys", vmin=0, vmax=2, extent=(0, tr.SIZE, tr.SIZE, 0))
    path_xy = np.array(ep.path)
    m.plot(path_xy[:, 0], path_xy[:, 1], "-", color="C0", lw=1.5, label="path")
    if ep.subgoals and is_hierarchical(kind):
        sub = np.array(ep.subgoals)
        sub = sub * tr.SIZE if kind.startswith("true") else to_state.predict(sub)
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
    """A saved run's planners' worlds (its trained world model) and its probe (representation -> true state)."""
    import numpy as np
    import torch

    from .base import compiled
    out = Path(cfg.out_dir)
    params, T, K = _params(cfg)
    jepa = compiled(cfg.world_model.file, params, cfg.world_model.model)
    try:
        jepa.load_state_dict(torch.load(out / "jepa.pt", weights_only=True)["state"])
        with np.load(out / "data.npz", allow_pickle=False) as z:
            data = {k: z[k] for k in z.files if k != "key"}
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise AgentError(f"{out} holds no run of this config ({exc}); run `ebm agent` on it first") from None
    from sklearn.linear_model import Ridge
    suite = suite_of(cfg)
    return worlds(cfg, jepa, K), Ridge(1e-6).fit(_represent(jepa, suite.first_obs(data)), suite.targets(data))


def run_task(cfg: PixelAgentConfig, index: int, kind: str, world: dict[str, Any] | None = None,
             progress: Callable[[int, int], None] | None = None) -> Any:
    """Held-out task `index` done by the planner `kind` of a saved run: its Episode."""
    from .latent import Search, evaluate
    from .suites import random_outcome
    if kind not in PLANNER_KINDS:
        raise AgentError(f"'{kind}' is not a planner; choose one of {', '.join(PLANNER_KINDS)}")
    suite = suite_of(cfg)
    task = suite.tasks(index + 1)[index:]
    if kind == "random":
        return random_outcome(suite, task, cfg.seed, cfg.episode_steps, first=index).episodes[0]
    w = world or load_run(cfg)[0]
    p = cfg.planner
    out = evaluate(w[world_of(kind)], task, Search(lower=p.lower, upper=p.upper, subgoal=p.subgoal, best=p.best),
                   hierarchical=is_hierarchical(kind), setup=suite.setup(), limit=cfg.episode_steps,
                   progress=progress)
    return out.episodes[0]


__all__ = ["PLANNER_KINDS", "PixelAgentConfig", "PixelResult", "PlannerScore", "is_pixel_config", "load_run",
           "run_task", "task_figure",
           "load_pixel_config", "quick_pixels", "run_pixels"]
