"""What a run reports: every agent's return on the held-out starts (each episode's, their mean and
its standard error), the environment steps (all, and those learned from), and the files: results.json,
metrics.jsonl, the returns and a typical episode plotted."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import AgentConfig


@dataclass
class Score:
    """One agent over the held-out starts."""
    returns: list[float]  # each evaluation episode's, in the order of its start seed
    seconds_per_action: float | None = None  # median time of one call choosing every episode's action
    evaluations_per_action: int | None = None  # world-model steps per action and row

    @property
    def mean(self) -> float:
        return float(sum(self.returns) / len(self.returns)) if self.returns else float("nan")

    @property
    def stderr(self) -> float:
        """The standard error of the mean (sample standard deviation / sqrt(n))."""
        n = len(self.returns)
        return statistics.stdev(self.returns) / math.sqrt(n) if n > 1 else float("nan")

    def summary(self) -> dict[str, Any]:
        """For results.json: a standard error that does not exist (one episode) is null, not NaN."""
        se = self.stderr
        return {**asdict(self), "mean": self.mean, "stderr": None if math.isnan(se) else se}

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.stderr:.1f}"


@dataclass
class AgentResult:
    """A run's numbers: `scores` by agent ("mode2", "random", "mode1", "proposal", "hierarchy"), all on
    the same held-out starts (`eval_seeds`), which no episode the run learned from started at."""
    scores: dict[str, Score]
    eval_seeds: list[int]
    env_steps: int  # every environment step the run took, evaluations included
    learned_steps: int  # the steps of the episodes learned from (the memory's)
    history: list[dict[str, float]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    episode: dict[str, list[Any]] = field(default_factory=dict)  # Mode-2's evaluation episodes, step by step
    hier_episode: dict[str, list[Any]] = field(default_factory=dict)
    hier_subgoals: list[tuple[int, list[list[float]]]] = field(default_factory=list)  # (step set for, a row each)

    @property
    def eval_return(self) -> float:
        return self.scores["mode2"].mean

    @property
    def eval_returns(self) -> list[float]:
        return self.scores["mode2"].returns

    @property
    def random_return(self) -> float:
        return self.scores["random"].mean

    def score(self, name: str) -> Score | None:
        return self.scores.get(name)


def typical_episode(cfg: AgentConfig, trace: dict[str, list[Any]], rets: list[float], what: str,
                    subgoals: list[tuple[int, list[list[float]]]] | None = None) -> Any:
    """The episode of the median return, plotted up to its end (with a hierarchy's subgoals)."""
    import numpy as np

    from ..plots import agent_episode
    pick = int(np.argsort(rets)[len(rets) // 2])
    ep = {k: np.asarray(v)[:, pick] for k, v in trace.items()}
    steps = int(ep.pop("live").sum()) if "live" in ep else len(ep["reward"])
    marks = None if subgoals is None else [(t, g[pick]) for t, g in subgoals if t <= steps]
    return agent_episode({k: v[:steps] for k, v in ep.items()}, cfg.goal,
                         f"{cfg.env}: {what} {pick}, return {rets[pick]:.1f}", marks)


def write(cfg: AgentConfig, result: AgentResult, out: Path) -> list[Path]:
    """results.json, metrics.jsonl, the returns and a typical episode plotted, each written whole."""
    from ..files import write_atomic
    files = []
    summary = {"env": cfg.env, "planner": cfg.planner_kind, "world_model_kind": cfg.world_model_kind,
               "critic": cfg.critic is not None, "env_steps": result.env_steps, "learned_steps": result.learned_steps,
               "eval_seeds": result.eval_seeds, "scores": {k: s.summary() for k, s in result.scores.items()}}
    write_atomic(out / "results.json", json.dumps(summary, indent=1))
    write_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in result.history))
    files += [out / "results.json", out / "metrics.jsonl"]
    import matplotlib.pyplot as plt

    from ..plots import agent_returns
    figs = [("returns.png", agent_returns(result.eval_returns, result.random_return,
                                          f"{cfg.env}: {cfg.planner_kind} planning, held-out starts"))]
    if result.episode:
        figs.append(("episode.png", typical_episode(cfg, result.episode, result.eval_returns, "episode")))
    hier = result.scores.get("hierarchy")
    if result.hier_episode and hier is not None:
        figs.append(("hierarchy_episode.png", typical_episode(cfg, result.hier_episode, hier.returns,
                                                              "hierarchical, episode", result.hier_subgoals)))
    for name, fig in figs:
        write_atomic(out / name, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=110))  # type: ignore[misc]
        plt.close(fig)
        files.append(out / name)
    return files
