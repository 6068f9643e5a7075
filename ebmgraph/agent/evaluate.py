"""A saved run's agents evaluated again: over held-out starts, with another planner or its hierarchy
(the bench compares planners on one learned world model), and one episode told step by step for the
app's Planning panel."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import AgentError, finite
from .config import AgentConfig
from .envs import Envs, held_out
from .hierarchy import HierPlanner
from .loop import evaluate_agent
from .memory import Memory
from .mode1 import Actor
from .parts import load_parts
from .planners import Planner
from .report import Score, typical_episode


def load_planner(cfg: AgentConfig, state_file: str | Path, kind: str | None = None) -> Planner:
    """The planner of `cfg` (of `kind`, the config's by default) over the world model and critic a saved
    run learned."""
    return load_parts(cfg, state_file, kind)[0].planner


def evaluate(cfg: AgentConfig, state_file: str | Path, kind: str | None = None,
             actor_checkpoint: str | Path | None = None, trace: bool = False) -> tuple[Score, Any]:
    """The planner of `cfg` (its kind or `kind`, its budget, its horizon) over the world model and critic
    a saved run learned, on cfg.eval_episodes held-out starts: its Score and the rollout. With
    `actor_checkpoint` (a trained actor file, cfg.actor), Mode-2 starts from the actor's plan."""
    planner = load_planner(cfg, state_file, kind)
    policy = None
    if actor_checkpoint is not None:
        from ..checkpoint import load_into
        if cfg.actor is None:
            raise AgentError("actor_checkpoint needs the config's actor file (actor = ...)")
        actor = Actor(cfg, planner)
        load_into(actor.model, actor_checkpoint)
        policy = actor
    return evaluate_agent(cfg, planner, held_out(cfg.eval_episodes), trace=trace, proposal=policy)


def evaluate_hierarchy(cfg: AgentConfig, state_file: str | Path, plot: str | Path | None = None) -> Score:
    """The hierarchical planner of `cfg` ([hierarchy]) over the world model (and the critic, unless
    cfg.critic is None) a saved run learned, its coarse model trained on the run's memory, on
    cfg.eval_episodes held-out starts. `plot`: a PNG of the typical episode with its subgoals."""
    import torch
    if cfg.hierarchy is None:
        raise AgentError("evaluate_hierarchy needs the config's [hierarchy]")
    parts, state = load_parts(cfg, state_file)
    memory = Memory.from_state(state["memory"])
    torch.manual_seed(cfg.seed)  # the coarse model's start and the upper level's samples
    hp = HierPlanner(cfg, parts.wm, parts.critic)
    with tempfile.TemporaryDirectory() as tmp:
        hp.train(memory.episodes, Path(tmp), cfg.seed, cfg.progress)
    score, r = evaluate_agent(cfg, hp, held_out(cfg.eval_episodes), trace=plot is not None)
    if plot is not None:
        import matplotlib.pyplot as plt

        from ..files import write_atomic
        fig = typical_episode(cfg, r.trace, r.returns, "hierarchical, episode",
                              [(t, g.tolist()) for t, g in hp.decisions])
        write_atomic(Path(plot), lambda fh: fig.savefig(fh, format="png", dpi=110))
        plt.close(fig)
    return score


def episode_detail(cfg: AgentConfig, state_file: str | Path, episode: int = 0,
                   on_step: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """One episode of receding-horizon planning, told step by step for the app's Planning panel:
    the states visited, the actions and rewards, and at each step the plan made there, as the states
    the world model predicts for it ("plans", (L, T + 1, ds)) and its energy by term ("terms": a
    term's name without its step, C for c[0].C ... c[T-1].C, each a list over the steps)."""
    import numpy as np
    import torch
    planner = load_planner(cfg, state_file)
    envs = Envs(cfg, 1)
    s = envs.reset(held_out(1, episode))
    out: dict[str, Any] = {"state": [s[0].tolist()], "action": [], "reward": [], "plans": [], "terms": {}}
    warm = None
    try:
        for step in range(envs.limit):
            st = torch.tensor(s, dtype=torch.float32)
            planner.observe(envs)
            p = planner.plan(st, warm)
            vals = {"s[0]": st, **planner.given(1), **{a: p.actions[:, t] for t, a in enumerate(planner.actions)}}
            with torch.no_grad():
                e = planner.model.energy(**vals)
            known = e.values
            path = [st[0]] + [known[n][0] for n in (f"f[{t}].s_next" for t in range(planner.horizon)) if n in known]
            out["plans"].append(torch.stack(path).tolist())
            for name, v in e.terms.items():
                fam = name.rsplit(".", 1)[-1]
                row = out["terms"].setdefault(fam, [])
                if len(row) <= step:
                    row.append(0.0)
                row[step] += float(v[0])
            a = envs.applied(p.actions[:, 0].numpy())
            s, r, ended = envs.step(a)
            finite(s, "the environment's observation")
            out["state"].append(s[0].tolist())
            out["action"].append(a[0].tolist())
            out["reward"].append(float(r[0]))
            warm = torch.cat([p.actions[:, 1:], p.actions[:, -1:]], dim=1)
            if on_step is not None:
                on_step(step)
            if ended[0]:
                break
    finally:
        envs.close()
    out["return"] = float(np.sum(out["reward"]))
    return out
