"""The critic of 003 sec. 3.3 (Fig. 7): the intrinsic cost to come, learned from the short-term
memory, which the planner adds at its horizon's end (its term V)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .base import CRITIC_TERM, AgentError, declared, finite, params_for, share_weights
from .config import AgentConfig
from .memory import Episode
from .planners import CemPlanner, Planner, enumerate_actions


class Critic:
    """The critic of 003 sec. 3.3 (Fig. 7), learned from the short-term memory: the episodes the
    agent lived, each state with the intrinsic cost that followed it (CriticTraining says how)."""

    def __init__(self, cfg: AgentConfig, planner: Planner) -> None:
        import torch

        from .. import compile as compile_graph
        from .. import load
        assert cfg.critic is not None
        c = cfg.critic_train
        self.cfg = cfg
        self.planner = planner
        self.fit_model = compile_graph(load(cfg.critic, model="CriticFit",
                                            params=params_for(cfg.critic, cfg.params, "CriticFit")))
        self.opt = torch.optim.Adam(self.fit_model.parameters(), lr=c.lr)
        self.cost = compile_graph(load(cfg.cost, model="Cost", params=params_for(cfg.cost, cfg.params, "Cost")))
        for term in self.cost.weights:  # weighed as the configurator weighs the planner's copy of it
            self.cost.set_weight(term, planner.model.weights.get(f"c[0].{term}", 1.0))
        self.backup: Planner | None = None
        if c.target == "model":
            if "T" not in declared(cfg.planner):
                raise AgentError(f"{Path(cfg.planner).name} must declare its horizon as a parameter T for the "
                                 "critic's backups (library/agent/planner.ebm does)")
            m = c.hold * c.segments
            backup = compile_graph(load(cfg.planner, params={**params_for(cfg.planner, cfg.params), "T": m}))
            self.backup = CemPlanner(backup, cfg)  # its energy alone: the backups enumerate
            for term, w in planner.model.weights.items():  # the same cost terms, as the configurator weighs them
                if term in backup.weights and term != CRITIC_TERM:
                    backup.set_weight(term, w)
            backup.set_weight(CRITIC_TERM, c.gamma ** m * planner.model.weights.get(CRITIC_TERM, 1.0))
            lo, hi = planner.box
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise AgentError("the critic's backups enumerate actions within their box: declare the actions "
                                 "`in box(lo, hi)` in the planner")
            self.sequences = enumerate_actions(lo, hi, planner.da, c.levels, c.hold, c.segments)
            if len(self.sequences) > 4096:
                raise AgentError(f"critic_train: {len(self.sequences)} action sequences to enumerate per state; "
                                 "lower levels or segments")

    def costs(self, ep: Episode) -> Any:
        """The intrinsic cost of each step of a remembered episode: of the state it led to, and its action."""
        import torch
        s1 = torch.as_tensor(ep.states[1:], dtype=torch.float32)
        a = torch.as_tensor(ep.actions, dtype=torch.float32)
        with torch.no_grad():
            return self.cost.energy(s=s1, a=a, **self.planner.given(len(s1))).total

    def value(self, s: Any) -> Any:
        import torch
        with torch.no_grad():
            return self.fit_model.partial({"s": s})["k.value"][:, 0]

    def memory_targets(self, episodes: list[Episode], costs: list[Any]) -> tuple[Any, Any]:
        """(states, discounted cost to come) along every remembered episode: 0 after an episode that
        ended at its goal, the critic's value of the last state after one cut at its step limit."""
        return self._with_values(self._memory_sums(episodes, costs))

    def _memory_sums(self, episodes: list[Episode], costs: list[Any]) -> tuple[Any, ...]:
        """What the memory targets take from the episodes alone, the same for every fit: each state,
        its discounted sum of the costs that followed within its episode, gamma to the steps left,
        and the last state of the episode, or nothing where the episode ended at its goal."""
        import torch
        gamma = self.cfg.critic_train.gamma
        states, sums, decay, last = [], [], [], []
        for ep, c in zip(episodes, costs, strict=True):
            s = torch.as_tensor(ep.states, dtype=torch.float32)
            g, after = [0.0] * len(c), 0.0
            for i, ci in zip(range(len(c) - 1, -1, -1), reversed(c.tolist()), strict=True):
                after = ci + gamma * after
                g[i] = after
            states.append(s[:-1])
            sums.append(torch.tensor(g))
            decay.append(gamma ** torch.arange(len(c), 0, -1, dtype=torch.float32))
            last.append(None if ep.terminated else s[-1:])
        return torch.cat(states), sums, decay, last

    def _with_values(self, parts: tuple[Any, ...]) -> tuple[Any, Any]:
        """The memory targets with the critic so far valuing the states after each cut episode."""
        import torch
        states, sums, decay, last = parts
        cut = [s for s in last if s is not None]
        values = iter(self.value(torch.cat(cut)).tolist() if cut else [])
        targets = [g if s is None else g + d * next(values) for g, d, s in zip(sums, decay, last, strict=True)]
        return states, torch.cat(targets)[:, None]

    def model_targets(self, states: Any) -> Any:
        """min over the enumerated sequences of the backup planner's energy, for each state."""
        import torch
        assert self.backup is not None
        k = len(self.sequences)
        out = []
        with torch.no_grad():
            for i in range(0, len(states), max(1, 65536 // k)):
                s = states[i:i + max(1, 65536 // k)]
                rows = s.shape[0]
                e = self.backup.energy_of(s.repeat_interleave(k, 0), self.sequences.repeat(rows, 1, 1))
                out.append(e.reshape(rows, k).min(1).values)
        return torch.cat(out)[:, None]

    def train(self, episodes: list[Episode], wm: Any, seed: int) -> float:
        """Fits of the critic to targets made with the critic so far; the planner's critic takes the
        result. Returns the last fit's mean squared error."""
        import torch
        c = self.cfg.critic_train
        if self.backup is not None and wm is not None:  # no wm: the backup planner runs on the true dynamics
            share_weights(wm, self.backup.model)
        sums = self._memory_sums(episodes, [self.costs(ep) for ep in episodes])  # the same for every fit
        g = torch.Generator().manual_seed(seed)
        loss = torch.tensor(float("nan"))
        for _ in range(c.iterations):
            states, target = self._with_values(sums)
            if self.backup is not None:  # never above the cost to come the memory shows reachable: a
                share_weights(self.fit_model, self.backup.model)  # model's error cannot make a state dear
                target = torch.minimum(self.model_targets(states), target)
            finite(target.numpy(), "the critic's target")
            for _ in range(c.steps):
                idx = torch.randint(len(states), (min(c.batch_size, len(states)),), generator=g)
                loss = self.fit_model.energy(s=states[idx], target=target[idx]).total.mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
        share_weights(self.fit_model, self.planner.model)
        return float(loss.detach())
