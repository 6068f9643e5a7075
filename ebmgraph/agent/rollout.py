"""Episodes run side by side, one batch row each: perceive, choose the action (a planner's receding
horizon plan, the actor's one pass, or random actions), act, repeat until every episode has ended.
Each episode is kept whole, with the seed it started from."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import finite
from .config import AgentConfig
from .envs import Envs, Purpose
from .memory import Episode
from .planners import Plan, Planner


@dataclass
class Rollout:
    returns: list[float]
    episodes: list[Episode]  # each episode whole (its live steps)
    energy: float  # the mean planning energy over the steps (nan without a planner)
    seconds: list[float] = field(default_factory=list)  # each step's time to choose the actions of every row
    trace: dict[str, list[Any]] = field(default_factory=dict)  # step by step, every row (trace=True)

    @property
    def steps(self) -> int:
        return sum(len(e.actions) for e in self.episodes)


class RandomActions:
    """Random actions within the box, each held `hold` steps (temporally correlated exploration, as
    colored-noise CEM and TD-MPC's warm-up do); a discrete set's actions drawn among its n."""

    def __init__(self, envs: Envs, hold: int, rng: Any) -> None:
        self.envs, self.hold, self.rng, self.t, self.a = envs, hold, rng, 0, None

    def __call__(self, s: Any) -> Any:
        import numpy as np
        import torch
        e = self.envs
        if self.t % self.hold == 0:
            shape = (len(s), *e.act_shape)
            self.a = (self.rng.integers(0, e.discrete, size=shape) - e.high if e.discrete is not None else
                      self.rng.uniform(e.low, e.high, size=shape)).astype(np.float32)
        self.t += 1
        return torch.as_tensor(self.a)


def rollout(cfg: AgentConfig, agent: Any, seeds: list[int], purpose: Purpose | None,
            trace: bool = False, proposal: Callable[[Any], Any] | None = None,
            random_hold: int | None = None, rng: Any = None, label: str | None = None) -> Rollout:
    """len(seeds) episodes side by side from those starts. `agent`: a Planner or HierPlanner (warm-started
    from its last plan shifted by one step, or from the actor's plan with `proposal`), a policy
    (states -> actions), or None with `random_hold` and `rng` for random actions. `purpose` None: an
    evaluation (its episodes carry no purpose and are never learned from)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from .hierarchy import HierPlanner
    n = len(seeds)
    envs = Envs(cfg, n)
    try:
        s = envs.reset(seeds)
        policy: Any = RandomActions(envs, random_hold or 1, rng) if agent is None else agent
        plans = hasattr(policy, "plan")  # a Planner, a HierPlanner, Mode-1 with DAgger's labelling
        if isinstance(policy, HierPlanner):
            policy.reset()
        rets = np.zeros(n)
        energies: list[float] = []
        out = Rollout([], [], float("nan"))
        lived: list[tuple[list[Any], list[Any]]] = [([x], []) for x in s]  # each episode's states and actions
        warm = None
        what = label or ("planning" if plans else "acting")
        bar = tqdm(range(envs.limit), desc=f"{what}, {n} episodes", leave=False, disable=not cfg.progress)
        for _ in bar:
            st = torch.tensor(s, dtype=torch.float32)
            t0 = time.perf_counter()
            if plans:
                policy.observe(envs)
                if proposal is not None and isinstance(policy, Planner):
                    warm = policy.propose(proposal, st)
                p = policy.plan(st, warm)
            else:  # Mode-1 or random: the action in one pass, no planning
                with torch.no_grad():
                    p = Plan(policy(st)[:, None], torch.zeros(n))
            out.seconds.append(time.perf_counter() - t0)  # the time to choose the action, environment aside
            finite(p.actions.numpy(), "the planned action")
            a = envs.applied(p.actions[:, 0].numpy())
            live = ~envs.ended
            s1, r, ended = envs.step(a)
            finite(s1, "the environment's observation")
            for i in np.flatnonzero(live):
                lived[i][0].append(s1[i])
                lived[i][1].append(a[i])
            rets += r
            if trace:  # every episode, step by step: state, action, reward, planning energy
                for key, v in (("state", s), ("action", a), ("reward", r), ("energy", p.energy), ("live", live)):
                    out.trace.setdefault(key, []).append(np.asarray(v).tolist())
            if plans:
                energies.append(float(p.energy[torch.as_tensor(live)].mean()))
            if ended.all():
                break
            warm = torch.cat([p.actions[:, 1:], p.actions[:, -1:]], dim=1)
            s = s1
            bar.set_postfix(ret=f"{rets.mean():.0f}", refresh=False)
        out.episodes = [Episode(np.stack(st_), np.stack(ac), bool(envs.terminated[i]), seeds[i],
                                purpose if purpose is not None else Purpose.RANDOM)
                        for i, (st_, ac) in enumerate(lived) if ac]  # an evaluation's carry held-out seeds
    finally:
        envs.close()
    out.returns = [float(x) for x in rets]
    out.energy = float(np.mean(energies)) if energies else float("nan")
    return out
