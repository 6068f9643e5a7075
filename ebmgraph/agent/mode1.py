"""Mode-1 (003 sec. 3.1.3, Fig. 5): the actor file, trained to imitate Mode-2 (its energy: the
distance of the planner's action to the actor's proposal), then made robust by DAgger (Ross et al.
2011): the actor acts from fresh starts, Mode-2 plans (receding horizon, warm-started) at every state
it visits, and the actor learns Mode-2's actions there too. It is then evaluated alone."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import AgentError, compiled
from .config import AgentConfig
from .envs import Purpose, episode_limit, start_seeds
from .memory import Memory
from .planners import Plan, Planner
from .rollout import rollout


class Actor:
    """The compiled actor file: its proposal a_hat for the states s."""

    def __init__(self, cfg: AgentConfig, planner: Planner) -> None:
        assert cfg.actor is not None
        self.model = compiled(cfg.actor, cfg.params)
        g = self.model.graph
        for name, want in (("s", planner.ds), ("a", planner.da)):
            if tuple(g.var(name).domain.shape) != (want,):
                raise AgentError(f"{Path(cfg.actor).name}: '{name}' is R{list(g.var(name).domain.shape)}, the "
                                 f"planner's is R[{want}]")
        if "a_hat" not in [v.name for v in g.variables if v.computed and not v.anonymous]:
            raise AgentError(f"{Path(cfg.actor).name} must compute a_hat, the proposed action, from s")

    def __call__(self, s: Any) -> Any:
        return self.model.partial({"s": s})["a_hat"]


class Dagger:
    """Acts with the actor (with probability `beta` a row takes Mode-2's action instead) while Mode-2
    plans at every visited state from its last plan shifted: `labels` holds Mode-2's first actions."""

    def __init__(self, actor: Actor, planner: Planner, beta: float, rng: Any) -> None:
        self.actor, self.planner, self.beta, self.rng = actor, planner, beta, rng
        self.labels: list[Any] = []

    def observe(self, envs: Any) -> None:
        self.planner.observe(envs)

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        import torch
        p = self.planner.plan(s, warm)
        expert = p.actions[:, 0]
        self.labels.append(expert.numpy().copy())
        with torch.no_grad():
            own = self.actor(s)
        mix = torch.as_tensor(self.rng.random(len(s)) < self.beta)[:, None]
        acts = p.actions.clone()
        acts[:, 0] = torch.where(mix, expert, own)
        return Plan(acts, p.energy)


def train_mode1(cfg: AgentConfig, planner: Planner, memory: Memory, out: Path, log: Callable[[str], None],
                rng: Any) -> Actor:
    """The actor trained on Mode-2's actions in the memory, then `dagger_rounds` of DAgger, each adding
    its episodes (from fresh starts, within the budget of steps learned from) to the memory."""
    import numpy as np

    from ..training import train as train_model
    from ..training.data import Dataset
    actor = Actor(cfg, planner)

    def fit(k: int) -> None:
        run_dir = out / f"actor_{k}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        train_model(actor.model, {"loss": {"kind": "energy"}, "epochs": cfg.actor_epochs,
                                  "batch_size": cfg.train.batch_size, "optimizer": {"kind": "adam", "lr": cfg.train.lr},
                                  "seed": cfg.seed + k, "out_dir": str(run_dir), "progress": cfg.progress,
                                  "plot": False}, Dataset(memory.labels(), {}))

    fit(0)
    n = cfg.episodes_per_round
    for k in range(1, cfg.dagger_rounds + 1):
        if memory.steps() + n * episode_limit(cfg) > cfg.max_env_steps:
            log(f"Mode-1 round {k}: the budget of {cfg.max_env_steps} environment steps learned from is reached")
            break
        beta = 0.5 ** k  # Mode-2 steers less each round: the actor meets its own mistakes
        dagger = Dagger(actor, planner, beta, rng)
        r = rollout(cfg, dagger, start_seeds(cfg.seed, Purpose.DAGGER, 1000 * k, n), Purpose.DAGGER,
                    label=f"DAgger round {k}")
        labels = np.stack(dagger.labels, axis=1)  # (rows, steps, da)
        for i, ep in enumerate(r.episodes):
            ep.labels = labels[i, :len(ep.actions)]
        memory.add(r.episodes)
        fit(k)
        log(f"Mode-1 round {k}: return {np.mean(r.returns):.1f} acting (beta = {beta:.2f}); {r.steps} visited states "
            f"labelled by Mode-2, {len(memory.labels()['s'])} labels in all")
    return actor
