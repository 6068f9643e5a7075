"""Hierarchical Mode-2 (003 sec. 4.7, Fig. 16-17): a coarse world model whose step is k steps of the
lower one; the upper level's plan sets the subgoals the lower planner plans its actions towards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import CRITIC_TERM, AgentError, addressed, params_for, share_weights
from .config import AgentConfig, resolve_file
from .critic import Critic
from .envs import Envs
from .memory import Episode
from .planners import CemPlanner, Plan, cem
from .simulators import true_coarse, use_true_dynamics


class HierPlanner:
    """Two-level Mode-2 (003 sec. 4.7, Fig. 16-17). The upper level searches (CEM) the abstract
    actions A[0..U-1] of the hierarchy file's Upper model, each k steps of the lower world model,
    and judges a candidate by its expected (or worst) energy over sampled z, what the coarse model
    cannot predict (Fig. 17). It decides every k steps; the state it predicts after its first step
    is the subgoal, and until then the lower planner plans the actions towards it (goal = subgoal,
    every entry weighed, at the subgoal's own step) and the agent acts with the first."""

    t: int  # the steps since reset
    goal: Any  # the subgoal the lower level aims at, the upper level's last decision
    upper_warm: Any  # the upper level's last plan, its next search's start
    decisions: list[tuple[int, Any]]  # each subgoal, with the step it is set for

    def __init__(self, cfg: AgentConfig, wm: Any, critic: Critic | None) -> None:
        import numpy as np
        import torch

        from .. import compile as compile_graph
        from .. import load
        assert cfg.hierarchy is not None
        h = self.h = cfg.hierarchy
        self.cfg = cfg
        file = resolve_file(cfg, h.file, ("hierarchy", "file"))
        params = {**params_for(file, cfg.params), "U": h.horizon}
        self.upper = compile_graph(load(file, model="Upper", params=params))
        self.fit = compile_graph(load(file, model="CoarseModel", params=params_for(file, cfg.params, "CoarseModel")))
        lower_cfg = cfg.model_copy(update={"critic": None, "weights": {}})
        self.lower = CemPlanner(compile_graph(load(cfg.planner, params={**params_for(cfg.planner, cfg.params),
                                                                         "T": h.k})), lower_cfg, h.lower_cem)
        if cfg.world_model_kind == "learned":
            share_weights(wm, self.lower.model)
        else:
            use_true_dynamics(cfg, wm, self.lower.model)
        for term, w in cfg.weights.items():  # the configurator weighs the upper level's cost as the planner's
            for name in addressed(self.upper, term):  # a step the upper level has not: the planner's alone
                self.upper.set_weight(name, w)
        if critic is not None:
            share_weights(critic.fit_model, self.upper)
        else:
            self.upper.set_weight(CRITIC_TERM, 0.0)
        self.ds, self.da, self.box = self.lower.ds, self.lower.da, self.lower.box
        self.sigma = torch.zeros(self.ds)  # the coarse model's residual spread, per state entry
        envs = Envs(cfg, 1)  # the observation box the coarse model's predictions are held in
        try:
            box = [torch.tensor(np.broadcast_to(b, (self.ds,)), dtype=torch.float32)[None] for b in envs.obs_box]
        finally:
            envs.close()
        self.task = {"goal": self.lower.task["goal"], "w": self.lower.task.get("w", torch.ones(1, self.ds)),
                     "lo": box[0], "hi": box[1]}
        # the lower level's cost of each step's state (c[j].C), in step order: one counts at a time
        self.reach = sorted(addressed(self.lower.model, "C"), key=lambda n: int(n.split("[")[1].split("]")[0]))
        if len(self.reach) != h.k:
            raise AgentError(f"hierarchy: {Path(cfg.planner).name} must cost each step's state in a term C "
                             f"(c[t].C of library/agent/cost.ebm), found {len(self.reach)} for k = {h.k} steps")
        if cfg.world_model_kind == "true":  # the upper reference: the environment's k steps, held action
            self.upper.fns["F[0].g"] = true_coarse(cfg.env, cfg.obs_scale, self.ds, h.k)
        self.reset()

    @property
    def evaluations_per_action(self) -> int:
        c, m = self.h.cem, (self.h.latent_samples if self.h.latent != "none" else 1)  # the upper level's, once
        return -(-c.samples * c.iterations * self.h.horizon * m // self.h.k) + self.lower.evaluations_per_action  # per k

    def train(self, episodes: list[Episode], out: Path, seed: int, progress: bool) -> float:
        """The coarse model on the memory's pairs (`pairs`). z's spread (Fig. 17) is what it misses of
        them: what it cannot predict of the world."""
        import shutil

        import torch

        from ..training import train as train_model
        from ..training.data import Dataset
        data = self.pairs(episodes, seed)
        data["z"] = torch.zeros_like(data["s"])
        data["lo"], data["hi"] = (self.task[b].expand(len(data["s"]), -1) for b in ("lo", "hi"))
        run_dir = out / "coarse_model"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        res = train_model(self.fit, {"loss": {"kind": "energy"}, "epochs": self.h.epochs, "batch_size": 256,
                                     "optimizer": {"kind": "adam", "lr": 1e-3}, "seed": seed, "out_dir": str(run_dir),
                                     "progress": progress, "plot": False}, Dataset(data, {}))
        share_weights(self.fit, self.upper)
        with torch.no_grad():
            pred = self.fit.partial({k_: v for k_, v in data.items() if k_ != "sk"})["F.s_next"]
        self.sigma = (pred - data["sk"]).pow(2).mean(0).sqrt()
        return float(res.history[-1]["loss"]) if res.history else float("nan")

    def pairs(self, episodes: list[Episode], seed: int) -> dict[str, Any]:
        """The coarse model's data: each remembered state s, the mean A of the k actions after it and
        the state sk k steps later. After an episode that ended at its goal come 2k steps of random
        actions in which the state stays: the goal is absorbing. (Without them the coarse model, which
        never saw a state past the flag, has a plan that reaches it roll back down into the valley, and
        its cost go on: the upper level then prefers to push on the spot.)"""
        import numpy as np
        import torch
        k = self.h.k
        lo, hi = self.box
        rng = np.random.default_rng(seed)
        s, a, sk = [], [], []
        for ep in episodes:
            acts, states = np.asarray(ep.actions), np.asarray(ep.states)
            if ep.terminated:
                acts = np.concatenate([acts, rng.uniform(lo, hi, size=(2 * k, acts.shape[1]))])
                states = np.concatenate([states, np.repeat(states[-1:], 2 * k, 0)])
            csum = np.concatenate([np.zeros((1, acts.shape[1])), np.cumsum(acts, 0)])
            for i in range(0, len(acts) - k + 1):
                s.append(states[i])
                a.append((csum[i + k] - csum[i]) / k)
                sk.append(states[i + k])
        if not s:
            raise AgentError(f"hierarchy: no remembered episode is k = {k} steps long to learn the coarse model from")
        return {"s": torch.tensor(np.stack(s), dtype=torch.float32), "A": torch.tensor(np.stack(a), dtype=torch.float32),
                "sk": torch.tensor(np.stack(sk), dtype=torch.float32)}

    def upper_energy(self, s: Any, A: Any, z: Any) -> Any:
        U = self.h.horizon
        vals = {"s[0]": s, **{k: v.expand(len(s), -1) for k, v in self.task.items()},
                **{f"A[{u}]": A[:, u] for u in range(U)}, **{f"z[{u}]": z[:, u] for u in range(U)}}
        return self.upper.energy(**vals)

    def subgoal(self, s: Any) -> Any:
        """The upper level's plan from s: the state its coarse model predicts after the first step."""
        import torch
        c, U, da, ds = self.h.cem, self.h.horizon, self.da, self.ds
        m = self.h.latent_samples if self.h.latent != "none" else 1
        rows = len(s)
        mean = torch.zeros(rows, U, da) if self.upper_warm is None or len(self.upper_warm) != rows \
            else self.upper_warm
        z = (torch.randn(rows, 1, m, U, ds) * self.sigma) if m > 1 else torch.zeros(rows, 1, 1, U, ds)

        def energy(A: Any) -> Any:  # (rows, samples, U, da) -> the expected or worst energy over z
            n = A.shape[1]
            big_s = s[:, None, None].expand(rows, n, m, ds).reshape(-1, ds)
            big_a = A[:, :, None].expand(rows, n, m, U, da).reshape(-1, U, da)
            big_z = z.expand(rows, n, m, U, ds).reshape(-1, U, ds)
            e = self.upper_energy(big_s, big_a, big_z).total.reshape(rows, n, m)
            return e.max(2).values if self.h.latent == "worst" else e.mean(2)

        mean = cem(energy, mean, c, *self.box)
        with torch.no_grad():
            self.upper_warm = mean
            known = self.upper_energy(s, mean, torch.zeros(rows, U, ds)).values
        return known["F[0].s_next"]

    def observe(self, envs: Any) -> None:
        """The environments the plan is made in: the lower planner's (a true world model copies them)."""
        self.lower.observe(envs)

    def reset(self) -> None:
        """A new set of episodes: the upper level decides at their first step."""
        self.t, self.goal, self.upper_warm, self.decisions = 0, None, None, []

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        """The upper level decides every k steps and its subgoal holds until its time; at each step
        between, the lower level plans towards the subgoal at the subgoal's own time, r steps ahead
        (the cost of its state r steps ahead alone: how it gets there is the lower level's choice)."""
        import torch
        k = self.h.k
        r = k - self.t % k
        if self.goal is None or r == k or len(self.goal) != len(s):
            if self.upper_warm is not None and len(self.upper_warm) == len(s):  # k steps on: one upper step
                self.upper_warm = torch.cat([self.upper_warm[:, 1:], self.upper_warm[:, -1:]], dim=1)
            self.goal = self.subgoal(s)
            self.decisions.append((self.t + r, self.goal.clone()))
        for j, name in enumerate(self.reach):
            self.lower.model.set_weight(name, 1.0 if j == r - 1 else 0.0)
        self.lower.override = {"goal": self.goal, "w": torch.ones_like(self.goal)}  # reach all of it
        try:
            return self.lower.plan(s, warm)
        finally:
            self.lower.override = None
            self.t += 1
