"""Mode-2's planners (003 sec. 3.1.2, Fig. 4): each finds the actions a[0..T-1] of the planner file
that make its energy (the unrolled world model's cost, the critic at the end) low, from the state
s[0]. They are interchangeable objects: `PLANNERS` names them for the config, the CLI and the app,
and each declares the config table it reads (`table`), so that a table of another planner is a
located error rather than dropped.

    gradient   the planner file's own `infer minimize(...)` (the seed's method), its descents
               started from the last plan shifted and from the best of drawn plans ([gradient])
    cem        the cross-entropy method over the same energy (PETS, TD-MPC's baseline) ([cem])
    enumerate  every sequence of held actions from the box's levels: the exact search over a
               discrete set (MountainCar-v0) ([enumerate])
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .base import CRITIC_TERM, AgentError, addressed
from .config import AgentConfig, CemConfig


@dataclass
class Plan:
    actions: Any  # (rows, T, da): the plan, a[0] first
    energy: Any  # (rows,): the planning energy of the plan


def cem(energy: Callable[[Any], Any], mean: Any, c: CemConfig, lo: float, hi: float, std: Any | None = None,
        best: bool = False) -> Any:
    """The cross-entropy method: `c.iterations` times, draw `c.samples` candidates per row around the
    mean (rows, ...), keep the `c.elites` of lowest `energy` (candidates (rows, samples, ...) ->
    (rows, samples)) and move the mean and spread towards theirs. Returns the final mean; with `best`,
    the lowest-energy candidate drawn instead (where good plans differ, e.g. around either side of an
    obstacle, the elites' mean can be none of them)."""
    import torch
    span = (hi - lo) / 2 if math.isfinite(hi - lo) else 1.0
    std = torch.full_like(mean, span) if std is None else std
    rows, shape = mean.shape[0], mean.shape[1:]
    top, top_e = mean, torch.full((rows,), math.inf)
    with torch.no_grad():
        for _ in range(c.iterations):
            samples = (mean[:, None] + std[:, None] * torch.randn(rows, c.samples, *shape)).clamp(lo, hi)
            e = energy(samples)
            val, idx = e.topk(c.elites, dim=1, largest=False)
            elite = torch.gather(samples, 1, idx.reshape(rows, c.elites, *([1] * len(shape))).expand(-1, -1, *shape))
            better = val[:, 0] < top_e
            top = torch.where(better.reshape(rows, *([1] * len(shape))), elite[:, 0], top)
            top_e = torch.where(better, val[:, 0], top_e)
            mean = c.momentum * mean + (1 - c.momentum) * elite.mean(1)
            std = c.momentum * std + (1 - c.momentum) * elite.std(1)
    return top if best else mean


def enumerate_actions(lo: float, hi: float, da: int, levels: int, hold: int, segments: int) -> Any:
    """Every sequence of `segments` actions, each held `hold` steps, each action one of `levels`
    values per dimension from lo to hi: a tensor (levels^(da * segments), hold * segments, da)."""
    import itertools

    import torch
    values = torch.linspace(lo, hi, levels)
    one = torch.tensor(list(itertools.product(values.tolist(), repeat=da)))  # (levels^da, da)
    idx = torch.tensor(list(itertools.product(range(len(one)), repeat=segments)))  # (n, segments)
    return one[idx].repeat_interleave(hold, dim=1)


class Planner(ABC):
    """The compiled planner file: its state input s[0], the task's inputs (goal, w) and the actions
    a[0..T-1]; the configurator's weights set on its terms. A subclass plans (`plan`)."""

    kind: ClassVar[str] = ""
    table: ClassVar[str | None] = None  # the config table this planner reads

    def __init__(self, model: Any, cfg: AgentConfig) -> None:
        self.model = model
        self.cfg = cfg
        names = [v.name for v in model.graph.variables if v.role == "latent" and v.name.startswith("a[")]
        self.actions = sorted(names, key=lambda n: int(n[2:-1]))
        g = model.graph
        if not self.actions or not g.has_var("s[0]") or not g.has_var("goal"):
            raise AgentError(f"{cfg.planner} must declare observed s[0], observed goal and latent actions "
                             "a[0..T - 1] (library/agent/planner.ebm is one)")
        import torch
        ds = int(g.var("s[0]").domain.shape[-1])
        self.task = {"goal": torch.tensor([cfg.goal], dtype=torch.float32)}  # the observed inputs of the task
        if g.has_var("w"):
            self.task["w"] = torch.tensor([cfg.goal_weights or [1.0] * ds], dtype=torch.float32)
        elif cfg.goal_weights is not None:
            raise AgentError(f"goal_weights: {Path(cfg.planner).name} declares no observed w to take them")
        v = model.graph.var(self.actions[0])
        self.box = v.domain.box or (-math.inf, math.inf)
        self.da = int(v.domain.shape[-1])
        self.ds = ds
        self.calls = self.unconverged = 0  # planning calls, and those that stopped at the step budget
        self.override: dict[str, Any] | None = None
        # the environment's own dynamics the model steps in the place of its predictor, where they are
        # copies of the environments (simulators.EnvCopies): shown the environments before each plan,
        # restarted before each evaluation of the energy
        self.world: Any | None = None
        from ..diagnostics import InputError
        if CRITIC_TERM in model.weights and cfg.critic is None:
            if cfg.weights.get(CRITIC_TERM, 0.0) != 0.0:
                raise AgentError(f"weights: '{CRITIC_TERM}' (the critic at the horizon's end) has weight "
                                 f"{cfg.weights[CRITIC_TERM]}, but no critic is trained: set critic = "
                                 "\"library/agent/critic.ebm\" in the config")
            model.set_weight(CRITIC_TERM, 0.0)  # an untrained critic judges nothing
        for term, w in cfg.weights.items():  # the configurator
            try:
                for name in addressed(model, term) or [term]:  # none: set_weight names the mistake
                    model.set_weight(name, w)
            except InputError as exc:
                raise AgentError(f"weights: {exc} (in {Path(cfg.planner).name})") from None

    @property
    def horizon(self) -> int:
        return len(self.actions)

    @property
    @abstractmethod
    def evaluations_per_action(self) -> int:
        """World-model steps one planning call evaluates per row."""

    @abstractmethod
    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        """The plan from the states s (rows, ds), its search started from `warm` where given."""

    def observe(self, envs: Any) -> None:
        """The environments the next plan is made in (their states are the rows'): copies of them are the
        world model where `world` is set; a learned world model needs nothing of them."""
        if self.world is not None:
            self.world.observe(envs)

    def given(self, rows: int) -> dict[str, Any]:
        """The task's inputs (goal, w), one row per state; `override` gives them row by row (the
        subgoals of a hierarchical plan), repeated as the states are for a search's candidates."""
        out = {k: v.expand(rows, -1) for k, v in self.task.items()}
        for k, v in (self.override or {}).items():
            out[k] = v if len(v) == rows else v.repeat_interleave(rows // len(v), 0)
        return out

    def energy_of(self, s: Any, acts: Any) -> Any:
        if self.world is not None:
            self.world.restart()
        vals = {"s[0]": s, **self.given(len(s)), **{a: acts[:, t] for t, a in enumerate(self.actions)}}
        return self.model.energy(**vals).total

    def candidates(self, s: Any, samples: Any) -> Any:
        """The energies (rows, n) of n candidate plans per row, samples (rows, n, T, da)."""
        rows, n = samples.shape[:2]
        return self.energy_of(s.repeat_interleave(n, 0), samples.reshape(rows * n, *samples.shape[2:])).reshape(rows, n)

    def propose(self, policy: Callable[[Any], Any], s: Any) -> Any:
        """The actor's plan (003 sec. 3.1.3: Mode-1 as Mode-2's initial proposal): each action the
        actor's for the state the planner's world model predicts, over the horizon."""
        import torch
        with torch.no_grad():
            vals = {"s[0]": s, **self.given(len(s))}
            acts, st = [], s
            for t, name in enumerate(self.actions):
                vals[name] = policy(st)
                acts.append(vals[name])
                if t + 1 < self.horizon:
                    known = self.model.partial(vals)
                    nxt = next((n for n in (f"s[{t + 1}]", f"f[{t}].s_next") if n in known), None)
                    if nxt is None:
                        raise AgentError(f"{Path(self.cfg.planner).name}: the actor's plan needs the predicted "
                                         f"state s[{t + 1}], as f[{t}].s_next of a Dynamics instance f[t]")
                    st = known[nxt]
            return torch.stack(acts, dim=1)

    def _finite_box(self, what: str) -> tuple[float, float]:
        lo, hi = self.box
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise AgentError(f"{what} takes its action values from the actions' box: declare them `in box(lo, hi)` "
                             "in the planner")
        return lo, hi


class GradientPlanner(Planner):
    """The planner file's `infer minimize(...)` over the actions, within their box. Its restarts (the
    file's `restarts`) start from the last plan shifted by one step, and from the lowest-energy of
    `[gradient] samples` plans drawn in the box (random otherwise)."""

    kind = "gradient"
    table = "gradient"

    def __init__(self, model: Any, cfg: AgentConfig) -> None:
        super().__init__(model, cfg)
        from ..inference import resolve
        opts = resolve(model.graph, model.graph.var(self.actions[0])).options  # as declared, over the defaults
        self.steps = int(opts.get("steps", 1))
        self.restarts = int(opts.get("restarts", 1))
        self.settings = cfg.gradient
        if self.settings.samples and self.horizon % self.settings.hold:
            raise AgentError(f"gradient.hold = {self.settings.hold} must divide the planner's horizon T = {self.horizon}")
        if self.settings.samples:
            self._finite_box("gradient.samples")

    @property
    def evaluations_per_action(self) -> int:
        return self.settings.samples * self.horizon + self.restarts * self.steps * self.horizon

    def drawn(self, s: Any, warm: Any | None) -> Any:
        """The restarts' starts (rows * R, T, da): the warm plan first, then the lowest-energy drawn plans."""
        import torch
        g, rows, R, T = self.settings, len(s), self.restarts, self.horizon
        lo, hi = self.box
        keep = R - (warm is not None)
        n = max(g.samples, keep)
        segs = torch.rand(rows, n, T // g.hold, self.da) * (hi - lo) + lo
        samples = segs.repeat_interleave(g.hold, dim=2)
        with torch.no_grad():
            best = self.candidates(s, samples).topk(keep, dim=1, largest=False).indices
        picked = torch.gather(samples, 1, best[:, :, None, None].expand(-1, -1, T, self.da))
        if warm is not None:
            picked = torch.cat([warm[:, None], picked], dim=1)
        return picked.reshape(rows * R, T, self.da)

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        import warnings

        import torch

        from ..inference import ConvergenceWarning
        start = warm
        if self.settings.samples:
            start = self.drawn(s, warm)
        init = None if start is None else {a: start[:, t] for t, a in enumerate(self.actions)}
        with warnings.catch_warnings(record=True) as caught:  # MPC plans within a fixed budget of steps:
            warnings.simplefilter("always", ConvergenceWarning)  # counted and said once by the run
            r = self.model.infer(self.actions, init=init, **{"s[0]": s, **self.given(len(s))})
        self.unconverged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.calls += 1
        acts = torch.stack([r.values[a] for a in self.actions], dim=1)
        return Plan(acts.detach(), r.free_energy.detach())


class CemPlanner(Planner):
    """The cross-entropy method over the planner file's energy, from the last plan shifted."""

    kind = "cem"
    table = "cem"

    def __init__(self, model: Any, cfg: AgentConfig, settings: CemConfig | None = None) -> None:
        super().__init__(model, cfg)
        self.settings = settings or cfg.cem

    @property
    def evaluations_per_action(self) -> int:
        return self.settings.samples * self.settings.iterations * self.horizon

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        import torch
        rows, T, da = s.shape[0], self.horizon, self.da
        mean = torch.zeros(rows, T, da) if warm is None else warm.clone()
        mean = cem(lambda x: self.candidates(s, x), mean, self.settings, *self.box)
        with torch.no_grad():
            return Plan(mean, self.energy_of(s, mean))


class EnumeratePlanner(Planner):
    """The exact minimum over every sequence of held actions from the box's levels ([enumerate])."""

    kind = "enumerate"
    table = "enumerate"

    @property
    def evaluations_per_action(self) -> int:
        return len(self.sequences()) * self.horizon

    def sequences(self) -> Any:
        """The action sequences searched: every choice of levels for each held segment."""
        e = self.cfg.enumerate
        if self.horizon % e.hold:
            raise AgentError(f"enumerate.hold = {e.hold} must divide the planner's horizon T = {self.horizon}")
        lo, hi = self._finite_box("planner_kind = \"enumerate\"")
        n = e.levels ** (self.da * self.horizon // e.hold)
        if n > 65536:
            raise AgentError(f"enumerate: {n} sequences of {self.horizon // e.hold} held actions; raise hold or "
                             "lower levels")
        if getattr(self, "_sequences", None) is None:
            self._sequences = enumerate_actions(lo, hi, self.da, e.levels, e.hold, self.horizon // e.hold)
        return self._sequences

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        """The energies of every sequence from each row in turn (in batches of 8192)."""
        import torch
        seqs = self.sequences()
        best_e, best_i = [], []
        rows = self.override  # a row's own inputs (a hierarchy's subgoal), for each row in turn
        try:
            with torch.no_grad():
                for i in range(len(s)):
                    if rows is not None:
                        self.override = {k: v[i:i + 1] for k, v in rows.items()}
                    e = torch.cat([self.energy_of(s[i:i + 1].expand(len(chunk), -1), chunk)
                                   for chunk in seqs.split(8192)])
                    j = int(e.argmin())
                    best_e.append(e[j])
                    best_i.append(j)
        finally:
            self.override = rows
        return Plan(seqs[best_i].clone(), torch.stack(best_e))


PLANNERS: dict[str, type[Planner]] = {p.kind: p for p in (GradientPlanner, CemPlanner, EnumeratePlanner)}


def make_planner(model: Any, cfg: AgentConfig, kind: str | None = None) -> Planner:
    """The planner of `kind` (the config's planner_kind by default) over the compiled planner file."""
    return PLANNERS[kind or cfg.planner_kind](model, cfg)
