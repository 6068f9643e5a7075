"""The agent of 003 (sec. 3, Fig. 2-4): a world model learned from an environment, and Mode-2
planning by energy minimization over the world model unrolled in a `.ebm` planner.

    ebm agent examples/agent/pendulum.toml [--quick]

The loop: act at random to collect transitions; train the world model (its `.ebm` file, the
existing trainer, the energy loss) on every transition so far; then act with the planner in a
receding horizon (perceive, plan, act with the first action, store, repeat), retraining after each
round of episodes; at the end, evaluate the planner over N episodes run side by side (one batch
row each). Planners are interchangeable: `gradient` infers the actions as the planner file
declares (its `infer minimize(...)` over the latents a[t], within their box), `cem` is the
cross-entropy method over the same energy (the gradient-free baseline of PETS and TD-MPC).
The configurator (003 sec. 3.2) sets the cost terms' weights with `weights = {"c[0].C" = ...}` (one
step's term) or `{"C" = ...}` (that term at every step), and which state entries the intrinsic cost
weighs with `goal_weights`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ROOT = Path(__file__).resolve().parent.parent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CemConfig(_Strict):
    samples: int = Field(200, ge=2)  # action sequences per iteration
    elites: int = Field(20, ge=1)
    iterations: int = Field(5, ge=1)
    momentum: float = Field(0.1, ge=0, lt=1)  # share of the old mean and std kept each iteration


class EnumerateConfig(_Strict):
    levels: int = Field(3, ge=2)  # action values per dimension, the box's low to its high (a discrete
    # environment's n actions: n levels are exactly its actions)
    hold: int = Field(10, ge=1)  # steps each action is held: levels^(da * T / hold) sequences in all


class WorldModelTraining(_Strict):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)


class CriticTraining(_Strict):
    """How the critic learns the intrinsic cost to come from the short-term memory (003 sec. 3.3).
    target = "memory": along each remembered episode, the discounted sum of the intrinsic costs that
    followed each state (0 after the episode ended at its goal; the critic's own value of the last
    state when the episode was cut at its step limit). target = "model": dynamic programming over
    the world model, V(s) <- min over enumerated action sequences of the planner's energy over
    `hold * segments` steps from s, its end judged by gamma^(steps) V (a Bellman backup, repeated),
    and never above the "memory" target: what the agent did from s bounds what it can do."""
    target: Literal["memory", "model"] = "memory"
    gamma: float = Field(0.99, gt=0, le=1)  # the discount per step of the cost to come
    levels: int = Field(3, ge=2)  # "model": action values per dimension enumerated, the box's low to high
    hold: int = Field(10, ge=1)  # steps each enumerated action is held
    segments: int = Field(2, ge=1)  # held actions in a row: levels^(da * segments) sequences per state
    iterations: int = Field(20, ge=1)  # fits per training, each with targets from the critic so far
    steps: int = Field(200, ge=1)  # gradient steps on the critic per backup
    batch_size: int = Field(512, ge=1)
    lr: float = Field(1e-3, gt=0)


class HierarchyConfig(_Strict):
    """Hierarchical Mode-2 (003 Fig. 16-17): a coarse world model whose step is k steps of the lower
    one, planned over `horizon` such steps; the state it predicts after its first step is the
    subgoal the lower planner (the planner file, horizon k) plans its actions towards."""
    file: str = "library/agent/hierarchy.ebm"  # models Coarse, CoarseModel and Upper
    k: int = Field(20, ge=1)  # lower steps per upper step
    horizon: int = Field(5, ge=1)  # upper steps planned: k * horizon steps ahead in all
    latent: Literal["none", "expected", "worst"] = "expected"  # Fig. 17: what the coarse model cannot predict
    latent_samples: int = Field(4, ge=1)  # draws of z per candidate plan (the model's residual spread)
    cem: CemConfig = CemConfig(samples=100, elites=10, iterations=5)  # the upper level's search
    lower_cem: CemConfig = CemConfig(samples=100, elites=10, iterations=5)  # the lower level's
    epochs: int = Field(100, ge=1)  # the coarse model's training on the memory's pairs k steps apart


class AgentConfig(_Strict):
    env: str = "Pendulum-v1"  # a gymnasium environment id
    world_model: str = "library/agent/world_model.ebm"  # relative to the config's folder, else the project's
    planner: str = "library/agent/planner.ebm"
    params: dict[str, int | float] = {}  # parameters of both files (T, hidden, ...)
    obs_scale: list[float] | None = None  # observation -> state, entry by entry (None: as it is)
    goal: list[float]  # the goal state the intrinsic cost measures against (in state units)
    # the weight of each state entry in the intrinsic cost (the planner's observed w): the parts of the
    # state the task is about; None: all of them, weight 1
    goal_weights: list[float] | None = None
    # the critic (003 sec. 3.3): e.g. "library/agent/critic.ebm", trained from the memory; None: the
    # planner's term V (the critic at the horizon's end) is given weight 0
    critic: str | None = None
    cost: str = "library/agent/cost.ebm"  # the intrinsic cost (model Cost) the critic's memory targets add up
    critic_train: CriticTraining = CriticTraining()
    # also plan hierarchically at the evaluation (trained on the memory once the rounds are done)
    hierarchy: HierarchyConfig | None = None
    weights: dict[str, float] = {}  # the configurator: an energy term's weight in the planner (set_weight)
    # gradient: the planner file's minimize; cem: the cross-entropy method; enumerate: every sequence of
    # held actions (`enumerate`), the exact search over a discrete action set (e.g. MountainCar-v0's)
    planner_kind: Literal["gradient", "cem", "enumerate"] = "gradient"
    enumerate: EnumerateConfig = EnumerateConfig()
    # "true": the planner's world model is the environment's own dynamics (TRUE_DYNAMICS), the upper
    # reference of what the learned one can reach; the world model file is then not trained
    world_model_kind: Literal["learned", "true"] = "learned"
    cem: CemConfig = CemConfig()
    seed: int = 0
    random_steps: int = Field(1000, ge=1)  # transitions collected at random first
    # each random action is held this many steps (temporally correlated exploration, as colored-noise
    # CEM and TD-MPC's warm-up do): a car in a valley needs pushes longer than one step to leave it
    random_hold: int = Field(1, ge=1)
    rounds: int = Field(3, ge=0)  # planner-driven rounds of data collection, retraining after each
    episodes_per_round: int = Field(4, ge=1)  # run side by side, one batch row each
    episode_steps: int = Field(200, ge=1)
    max_env_steps: int = Field(10000, ge=1)  # data budget: collection stops here
    eval_episodes: int = Field(20, ge=1)
    train: WorldModelTraining = WorldModelTraining()
    # Mode-1 (Fig. 5): an actor file trained to imitate Mode-2's actions, then evaluated on its own
    actor: str | None = None  # e.g. "library/agent/actor.ebm"; None: no Mode-1
    actor_epochs: int = Field(200, ge=1)
    dagger_rounds: int = Field(2, ge=0)  # the actor acts, Mode-2 labels the states it visits, retrain
    # also evaluate Mode-2 started, at every step, from the actor's plan (its actions over the predicted
    # states) instead of the last plan shifted by one step (003 sec. 3.1.3)
    actor_proposal: bool = False
    out_dir: str = "runs/agent"
    resume: bool = True  # a run of the same config found in out_dir goes on from its last saved round
    threads: int | None = Field(None, ge=1)
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> AgentConfig:
        if self.cem.elites > self.cem.samples:
            raise ValueError(f"cem.elites ({self.cem.elites}) must not exceed cem.samples ({self.cem.samples})")
        return self


class AgentError(RuntimeError):
    """A problem the agent cannot go on from (a NaN, an environment that does not fit the model)."""


def load_agent_config(path: str | Path) -> AgentConfig:
    from .training.config import parse_toml, read_config_text
    p = Path(path)
    text = read_config_text(p)
    cfg = parse_toml(text, str(path), AgentConfig)
    cfg.__dict__["_text"], cfg.__dict__["_file"] = text, str(path)
    _check_used(cfg)
    for key in ("world_model", "planner", "actor", "critic", "cost"):
        if getattr(cfg, key) is not None:
            setattr(cfg, key, _resolve(cfg, getattr(cfg, key), (key,)))
    if cfg.hierarchy is not None:
        cfg.hierarchy.file = _resolve(cfg, cfg.hierarchy.file, ("hierarchy", "file"))
    if not Path(cfg.out_dir).is_absolute():
        cfg.out_dir = str(Path.cwd() / cfg.out_dir)
    return cfg


def _check_used(cfg: AgentConfig) -> None:
    """A setting the file makes that nothing would read is a located error, not dropped in silence."""
    from .training.loop import _config_error
    unread = {"critic_train": (cfg.critic is None, "no critic is trained", "set critic = \"library/agent/critic.ebm\""),
              "cost": (cfg.critic is None, "only the critic's targets read it (the planner imports its own)",
                       "set critic = ..., or remove cost"),
              "cem": (cfg.planner_kind != "cem", f"planner_kind is \"{cfg.planner_kind}\"",
                      "set planner_kind = \"cem\" (--planner cem chooses it at the command line)"),
              "enumerate": (cfg.planner_kind != "enumerate", f"planner_kind is \"{cfg.planner_kind}\"",
                            "set planner_kind = \"enumerate\""),
              **{k: (cfg.actor is None, "there is no actor (Mode-1)", "set actor = \"library/agent/actor.ebm\"")
                 for k in ("actor_epochs", "dagger_rounds", "actor_proposal")}}
    for key, (dead, why, hint) in unread.items():
        if dead and key in cfg.model_fields_set:
            raise _config_error(cfg, (key,), f"{key} is set, but nothing reads it: {why}", hint=hint)
    h = cfg.hierarchy
    if h is not None and h.latent == "none" and "latent_samples" in h.model_fields_set:
        raise _config_error(cfg, ("hierarchy", "latent_samples"), "hierarchy.latent_samples is set, but nothing "
                            "reads it: latent = \"none\" draws no z", hint="set latent = \"expected\" or \"worst\", "
                            "or remove latent_samples")


def _resolve(cfg: AgentConfig, name: str, loc: tuple[str, ...]) -> str:
    """A part file's path: as given when absolute, else beside the config, else in the project."""
    f = Path(name)
    config = cfg.__dict__.get("_file")
    here = Path(config).resolve().parent if config else Path.cwd()
    tried = [f] if f.is_absolute() else [here / f, ROOT / f]
    found = next((t for t in tried if t.is_file()), None)
    if found is None:
        from .training.loop import _config_error
        raise _config_error(cfg, loc, f"{'.'.join(loc)}: no file '{f}' (looked for {' and '.join(map(str, tried))})",
                            hint="a path relative to the config's folder, or to the project (library/agent/...)")
    return str(found)


def quick(cfg: AgentConfig) -> AgentConfig:
    """The same run, small: for the tests and a first look."""
    return cfg.model_copy(update={
        "random_steps": min(cfg.random_steps, 200), "rounds": min(cfg.rounds, 1), "episodes_per_round": 2,
        "episode_steps": min(cfg.episode_steps, 20), "eval_episodes": 2,
        "train": cfg.train.model_copy(update={"epochs": 2}), "actor_epochs": 2, "dagger_rounds": min(cfg.dagger_rounds, 1),
        "params": {**cfg.params, "T": min(int(cfg.params.get("T", 5)), 5), "hidden": 16},
        "cem": cfg.cem.model_copy(update={"samples": 16, "elites": 4, "iterations": 2}),
        "enumerate": cfg.enumerate.model_copy(update={"hold": 1}),  # 3^5 plans over the quick T = 5
        "critic_train": cfg.critic_train.model_copy(update={"iterations": 2, "steps": 5, "hold": 2}),
        "hierarchy": None if cfg.hierarchy is None else cfg.hierarchy.model_copy(update={
            "k": min(cfg.hierarchy.k, 5), "horizon": min(cfg.hierarchy.horizon, 3), "epochs": 2, "latent_samples": 2,
            "cem": CemConfig(samples=16, elites=4, iterations=2), "lower_cem": CemConfig(samples=16, elites=4,
                                                                                      iterations=2)})})


# --------------------------------------------------------------------------- environments
class Envs:
    """N gymnasium environments stepped side by side; observations scaled into state units."""

    def __init__(self, cfg: AgentConfig, n: int, seed: int) -> None:
        import gymnasium as gym
        import numpy as np
        try:
            self.envs = [gym.make(cfg.env) for _ in range(n)]
        except gym.error.Error as exc:
            raise AgentError(f"environment '{cfg.env}': {exc}") from None
        self.scale = cfg.obs_scale
        self.seed = seed
        space = self.envs[0].action_space
        # a discrete set of n actions is the number a in R[1], centred: the action i is a = i - (n - 1) / 2
        # (MountainCar-v0: -1 left, 0 none, 1 right), so that a planner's box(-amax, amax) holds them
        self.discrete = int(space.n) if isinstance(space, gym.spaces.Discrete) else None
        if self.discrete is not None:
            self.high = (self.discrete - 1) / 2
            self.low = -self.high
            self.act_shape: tuple[int, ...] = (1,)
        else:
            self.low, self.high = float(getattr(space, "low").min()), float(getattr(space, "high").max())  # noqa: B009
            self.act_shape = tuple(space.shape or ())
        self.obs_shape = tuple(self.envs[0].observation_space.shape or ())
        obs = self.envs[0].observation_space  # the observation box in state units (infinite where unbounded)
        k = np.asarray(self.scale if self.scale is not None else 1.0, dtype=np.float64)
        self.obs_box = (np.asarray(getattr(obs, "low", -np.inf), dtype=np.float64) * k,  # noqa: B009
                        np.asarray(getattr(obs, "high", np.inf), dtype=np.float64) * k)  # noqa: B009
        self.ended = np.zeros(n, dtype=bool)  # whose episode has ended (reset clears it)
        self.terminated = np.zeros(n, dtype=bool)  # ended at its goal (or failure), not cut at a step limit
        self.last: Any = None  # the states of the last step

    def _state(self, obs: Any) -> Any:
        import numpy as np
        s = np.asarray(obs, dtype=np.float32)
        return s * np.asarray(self.scale, dtype=np.float32) if self.scale is not None else s

    def applied(self, a: Any) -> Any:
        """The actions as the environments take them: within the box, and one of the n for a discrete set
        (what the world model learns from)."""
        import numpy as np
        a = np.clip(np.asarray(a, dtype=np.float32), self.low, self.high)
        return (np.rint(a + self.high) - self.high).astype(np.float32) if self.discrete is not None else a

    def reset(self, episode: int) -> Any:
        import numpy as np
        self.ended = np.zeros(len(self.envs), dtype=bool)
        self.terminated = np.zeros(len(self.envs), dtype=bool)
        self.last = np.stack([self._state(e.reset(seed=self.seed + 1000 * episode + i)[0])
                              for i, e in enumerate(self.envs)])
        return self.last

    def step(self, actions: Any) -> tuple[Any, Any, Any]:
        """(states, rewards, ended): an environment whose episode ended (terminated, e.g. the car at
        the flag, or truncated) is not stepped again until the next reset; its reward is 0 after."""
        import numpy as np
        obs, rew = [], []
        for i, (e, a) in enumerate(zip(self.envs, actions, strict=True)):
            if self.ended[i]:
                obs.append(self.last[i])
                rew.append(0.0)
                continue
            act = np.clip(a, self.low, self.high)
            act = int(np.rint(act[0] + self.high)) if self.discrete is not None else act.astype(np.float32)
            o, r, term, trunc, _ = e.step(act)
            obs.append(self._state(o))
            rew.append(float(r))
            self.ended[i] = bool(term or trunc)
            self.terminated[i] = bool(term)
        self.last = np.stack(obs)
        return self.last, np.asarray(rew), self.ended.copy()

    def close(self) -> None:
        for e in self.envs:
            e.close()


# --------------------------------------------------------------------------- the true simulators
def _pendulum(obs: Any, a: Any) -> Any:
    """Pendulum-v1's step (gymnasium/envs/classic_control/pendulum.py), batched in torch."""
    import torch
    g, m, length, dt = 10.0, 1.0, 1.0, 0.05
    th, thdot = torch.atan2(obs[:, 1], obs[:, 0]), obs[:, 2]
    u = a[:, 0].clamp(-2.0, 2.0)
    thdot = (thdot + (3 * g / (2 * length) * torch.sin(th) + 3.0 / (m * length ** 2) * u) * dt).clamp(-8.0, 8.0)
    th = th + thdot * dt
    return torch.stack([torch.cos(th), torch.sin(th), thdot], dim=1)


def _mountain_car(obs: Any, a: Any) -> Any:
    """MountainCarContinuous-v0's step (gymnasium/envs/classic_control/continuous_mountain_car.py),
    batched in torch."""
    import torch
    x, v = obs[:, 0], obs[:, 1]
    force = a[:, 0].clamp(-1.0, 1.0)
    v = (v + force * 0.0015 - 0.0025 * torch.cos(3 * x)).clamp(-0.07, 0.07)
    x = (x + v).clamp(-1.2, 0.6)
    v = torch.where((x <= -1.2) & (v < 0), torch.zeros_like(v), v)
    return torch.stack([x, v], dim=1)


TRUE_DYNAMICS: dict[str, Callable[[Any, Any], Any]] = {"Pendulum-v1": _pendulum,
                                                       "MountainCarContinuous-v0": _mountain_car}


def true_pred(env: str, scale: list[float] | None, ds: int) -> Any:
    """The environment's own dynamics in the place of the world model's `pred` (s_next = s + pred(s, a)):
    the planner over the true simulator, the upper reference of a learned world model."""
    if env not in TRUE_DYNAMICS:
        raise AgentError(f"world_model_kind = \"true\": no simulator of '{env}' in torch; there is one for "
                         f"{', '.join(sorted(TRUE_DYNAMICS))}")
    import torch
    step = TRUE_DYNAMICS[env]
    k = torch.tensor(scale if scale is not None else [1.0] * ds, dtype=torch.float32)

    class TruePred(torch.nn.Module):
        def forward(self, sa: Any) -> Any:
            s, a = sa[:, :ds], sa[:, ds:]
            return step(s / k, a) * k - s

    return TruePred()


def true_coarse(env: str, scale: list[float] | None, ds: int, k: int) -> Any:
    """The environment's own k steps with the action held, in the place of the coarse model's `g`
    (s_k = s + g(s, A)): the upper reference of a hierarchy over a learned coarse model."""
    import torch
    one = true_pred(env, scale, ds)

    class TrueCoarse(torch.nn.Module):
        def forward(self, sa: Any) -> Any:
            s, a = sa[:, :ds], sa[:, ds:]
            x = s
            for _ in range(k):
                x = x + one(torch.cat([x, a], dim=1))
            return x - s

    return TrueCoarse()


# --------------------------------------------------------------------------- the planner
CRITIC_TERM = "V"  # the planner's energy term that holds the critic
@dataclass
class Plan:
    actions: Any  # (rows, T, da): the plan, a[0] first
    energy: Any  # (rows,): the planning energy of the plan


class Planner:
    """The compiled planner file: its state input s[0], goal, and the actions a[0..T-1]."""

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
        self.ds = int(g.var("s[0]").domain.shape[-1])
        from .inference import resolve
        opts = resolve(g, v).options  # as declared, over the method's defaults
        self.steps = int(opts.get("steps", 1))
        self.restarts = int(opts.get("restarts", 1))
        self.calls = self.unconverged = 0  # planning calls, and those that stopped at the step budget
        self.override: dict[str, Any] | None = None
        from .diagnostics import InputError
        if CRITIC_TERM in model.weights and cfg.critic is None:
            if cfg.weights.get(CRITIC_TERM, 0.0) != 0.0:
                raise AgentError(f"weights: '{CRITIC_TERM}' (the critic at the horizon's end) has weight "
                                 f"{cfg.weights[CRITIC_TERM]}, but no critic is trained: set critic = "
                                 "\"library/agent/critic.ebm\" in the config")
            model.set_weight(CRITIC_TERM, 0.0)  # an untrained critic judges nothing
        for term, w in cfg.weights.items():  # the configurator
            try:
                for name in _addressed(model, term) or [term]:  # none: set_weight names the mistake
                    model.set_weight(name, w)
            except InputError as exc:
                raise AgentError(f"weights: {exc} (in {Path(cfg.planner).name})") from None

    @property
    def horizon(self) -> int:
        return len(self.actions)

    @property
    def evaluations_per_action(self) -> int:
        """World-model steps one planning call evaluates per row."""
        if self.cfg.planner_kind == "cem":
            return self.cfg.cem.samples * self.cfg.cem.iterations * self.horizon
        if self.cfg.planner_kind == "enumerate":
            return len(self.sequences()) * self.horizon
        return self.restarts * self.steps * self.horizon

    def given(self, rows: int) -> dict[str, Any]:
        """The task's inputs (goal, w), one row per state; `override` gives them row by row (the
        subgoals of a hierarchical plan), repeated as the states are for CEM's samples."""
        out = {k: v.expand(rows, -1) for k, v in self.task.items()}
        for k, v in (self.override or {}).items():
            out[k] = v if len(v) == rows else v.repeat_interleave(rows // len(v), 0)
        return out

    def plan(self, s: Any, warm: Any | None = None) -> Plan:
        import torch
        if self.cfg.planner_kind == "cem":
            return self._cem(s, warm)
        if self.cfg.planner_kind == "enumerate":
            return self._enumerate(s)
        import warnings

        from .inference import ConvergenceWarning
        init = None if warm is None else {a: warm[:, t] for t, a in enumerate(self.actions)}
        with warnings.catch_warnings(record=True) as caught:  # MPC plans within a fixed budget of steps:
            warnings.simplefilter("always", ConvergenceWarning)  # counted and said once by the run
            r = self.model.infer(self.actions, init=init, **{"s[0]": s, **self.given(len(s))})
        self.unconverged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        self.calls += 1
        acts = torch.stack([r.values[a] for a in self.actions], dim=1)
        return Plan(acts.detach(), r.free_energy.detach())

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

    def energy_of(self, s: Any, acts: Any) -> Any:
        vals = {"s[0]": s, **self.given(len(s)), **{a: acts[:, t] for t, a in enumerate(self.actions)}}
        return self.model.energy(**vals).total

    def sequences(self) -> Any:
        """The action sequences `enumerate` searches: every choice of levels for each held segment."""
        e = self.cfg.enumerate
        if self.horizon % e.hold:
            raise AgentError(f"enumerate.hold = {e.hold} must divide the planner's horizon T = {self.horizon}")
        lo, hi = self.box
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise AgentError("planner_kind = \"enumerate\" takes its action values from the actions' box: declare "
                             "them `in box(lo, hi)` in the planner")
        n = e.levels ** (self.da * self.horizon // e.hold)
        if n > 65536:
            raise AgentError(f"enumerate: {n} sequences of {self.horizon // e.hold} held actions; raise hold or "
                             "lower levels")
        if getattr(self, "_sequences", None) is None:
            self._sequences = enumerate_actions(lo, hi, self.da, e.levels, e.hold, self.horizon // e.hold)
        return self._sequences

    def _enumerate(self, s: Any) -> Plan:
        """The exact minimum over the enumerated sequences (their energies in batches of rows)."""
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

    def _cem(self, s: Any, warm: Any | None) -> Plan:
        import torch
        c = self.cfg.cem
        rows, T, da = s.shape[0], self.horizon, self.da
        lo, hi = self.box
        span = (hi - lo) / 2 if math.isfinite(hi - lo) else 1.0
        mean = torch.zeros(rows, T, da) if warm is None else warm.clone()
        std = torch.full((rows, T, da), span)
        with torch.no_grad():
            for _ in range(c.iterations):
                samples = (mean[:, None] + std[:, None] * torch.randn(rows, c.samples, T, da)).clamp(lo, hi)
                e = self.energy_of(s.repeat_interleave(c.samples, 0),
                                   samples.reshape(rows * c.samples, T, da)).reshape(rows, c.samples)
                idx = e.topk(c.elites, dim=1, largest=False).indices
                elite = torch.gather(samples, 1, idx[:, :, None, None].expand(-1, -1, T, da))
                mean = c.momentum * mean + (1 - c.momentum) * elite.mean(1)
                std = c.momentum * std + (1 - c.momentum) * elite.std(1)
            best = self.energy_of(s, mean)
        return Plan(mean, best)


def enumerate_actions(lo: float, hi: float, da: int, levels: int, hold: int, segments: int) -> Any:
    """Every sequence of `segments` actions, each held `hold` steps, each action one of `levels`
    values per dimension from lo to hi: a tensor (levels^(da * segments), hold * segments, da)."""
    import itertools

    import torch
    values = torch.linspace(lo, hi, levels)
    one = torch.tensor(list(itertools.product(values.tolist(), repeat=da)))  # (levels^da, da)
    idx = torch.tensor(list(itertools.product(range(len(one)), repeat=segments)))  # (n, segments)
    return one[idx].repeat_interleave(hold, dim=1)


@dataclass
class Episode:
    """One remembered episode: its states s[0..L], actions a[0..L-1], and whether it ended at its goal
    (terminated) rather than at its step limit."""
    states: Any  # (L + 1, ds)
    actions: Any  # (L, da)
    terminated: bool


class Critic:
    """The critic of 003 sec. 3.3 (Fig. 7), learned from the short-term memory: the episodes the
    agent lived, each state with the intrinsic cost that followed it (CriticTraining says how)."""

    def __init__(self, cfg: AgentConfig, planner: Planner) -> None:
        import torch

        from . import compile as compile_graph
        from . import load
        assert cfg.critic is not None
        c = cfg.critic_train
        self.cfg = cfg
        self.planner = planner
        self.fit_model = compile_graph(load(cfg.critic, model="CriticFit",
                                            params=_for(cfg.critic, cfg.params, "CriticFit")))
        self.opt = torch.optim.Adam(self.fit_model.parameters(), lr=c.lr)
        self.cost = compile_graph(load(cfg.cost, model="Cost", params=_for(cfg.cost, cfg.params, "Cost")))
        for term in self.cost.weights:  # weighed as the configurator weighs the planner's copy of it
            self.cost.set_weight(term, planner.model.weights.get(f"c[0].{term}", 1.0))
        self.backup: Planner | None = None
        if c.target == "model":
            if "T" not in _declared(cfg.planner):
                raise AgentError(f"{Path(cfg.planner).name} must declare its horizon as a parameter T for the "
                                 "critic's backups (library/agent/planner.ebm does)")
            m = c.hold * c.segments
            backup = compile_graph(load(cfg.planner, params={**_for(cfg.planner, cfg.params), "T": m}))
            self.backup = Planner(backup, cfg.model_copy(update={"planner_kind": "cem"}))
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
            _share_weights(wm, self.backup.model)
        sums = self._memory_sums(episodes, [self.costs(ep) for ep in episodes])  # the same for every fit
        g = torch.Generator().manual_seed(seed)
        loss = torch.tensor(float("nan"))
        for _ in range(c.iterations):
            states, target = self._with_values(sums)
            if self.backup is not None:  # never above the cost to come the memory shows reachable: a
                _share_weights(self.fit_model, self.backup.model)  # model's error cannot make a state dear
                target = torch.minimum(self.model_targets(states), target)
            _finite(target.numpy(), "the critic's target")
            for _ in range(c.steps):
                idx = torch.randint(len(states), (min(c.batch_size, len(states)),), generator=g)
                loss = self.fit_model.energy(s=states[idx], target=target[idx]).total.mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
        _share_weights(self.fit_model, self.planner.model)
        return float(loss.detach())


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

        from . import compile as compile_graph
        from . import load
        assert cfg.hierarchy is not None
        h = self.h = cfg.hierarchy
        self.cfg = cfg
        file = _resolve(cfg, h.file, ("hierarchy", "file"))
        params = {**_for(file, cfg.params), "U": h.horizon}
        self.upper = compile_graph(load(file, model="Upper", params=params))
        self.fit = compile_graph(load(file, model="CoarseModel", params=_for(file, cfg.params, "CoarseModel")))
        lower_cfg = cfg.model_copy(update={"planner_kind": "cem", "cem": h.lower_cem, "critic": None, "weights": {}})
        self.lower = Planner(compile_graph(load(cfg.planner, params={**_for(cfg.planner, cfg.params), "T": h.k})),
                             lower_cfg)
        if cfg.world_model_kind == "learned":
            _share_weights(wm, self.lower.model)
        else:
            _use_true_dynamics(cfg, wm, self.lower.model)
        for term, w in cfg.weights.items():  # the configurator weighs the upper level's cost as the planner's
            for name in _addressed(self.upper, term):  # a step the upper level has not: the planner's alone
                self.upper.set_weight(name, w)
        if critic is not None:
            _share_weights(critic.fit_model, self.upper)
        else:
            self.upper.set_weight(CRITIC_TERM, 0.0)
        self.ds, self.da, self.box = self.lower.ds, self.lower.da, self.lower.box
        self.sigma = torch.zeros(self.ds)  # the coarse model's residual spread, per state entry
        envs = Envs(cfg, 1, cfg.seed)  # the observation box the coarse model's predictions are held in
        try:
            box = [torch.tensor(np.broadcast_to(b, (self.ds,)), dtype=torch.float32)[None] for b in envs.obs_box]
        finally:
            envs.close()
        self.task = {"goal": self.lower.task["goal"], "w": self.lower.task.get("w", torch.ones(1, self.ds)),
                     "lo": box[0], "hi": box[1]}
        # the lower level's cost of each step's state (c[j].C), in step order: one counts at a time
        self.reach = sorted(_addressed(self.lower.model, "C"), key=lambda n: int(n.split("[")[1].split("]")[0]))
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

        from .training import train as train_model
        from .training.data import Dataset
        data = self.pairs(episodes, seed)
        data["z"] = torch.zeros_like(data["s"])
        data["lo"], data["hi"] = (self.task[b].expand(len(data["s"]), -1) for b in ("lo", "hi"))
        run_dir = out / "coarse_model"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        res = train_model(self.fit, {"loss": {"kind": "energy"}, "epochs": self.h.epochs, "batch_size": 256,
                                     "optimizer": {"kind": "adam", "lr": 1e-3}, "seed": seed, "out_dir": str(run_dir),
                                     "progress": progress, "plot": False}, Dataset(data, {}))
        _share_weights(self.fit, self.upper)
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
        lo, hi = self.box
        mean = torch.zeros(rows, U, da) if self.upper_warm is None or len(self.upper_warm) != rows \
            else self.upper_warm
        std = torch.full((rows, U, da), (hi - lo) / 2)
        z = (torch.randn(rows, 1, m, U, ds) * self.sigma) if m > 1 else torch.zeros(rows, 1, 1, U, ds)
        with torch.no_grad():
            for _ in range(c.iterations):
                A = (mean[:, None] + std[:, None] * torch.randn(rows, c.samples, U, da)).clamp(lo, hi)
                big_s = s[:, None, None].expand(rows, c.samples, m, ds).reshape(-1, ds)
                big_a = A[:, :, None].expand(rows, c.samples, m, U, da).reshape(-1, U, da)
                big_z = z.expand(rows, c.samples, m, U, ds).reshape(-1, U, ds)
                e = self.upper_energy(big_s, big_a, big_z).total.reshape(rows, c.samples, m)
                e = e.max(2).values if self.h.latent == "worst" else e.mean(2)
                idx = e.topk(c.elites, dim=1, largest=False).indices
                elite = torch.gather(A, 1, idx[:, :, None, None].expand(-1, -1, U, da))
                mean = c.momentum * mean + (1 - c.momentum) * elite.mean(1)
                std = c.momentum * std + (1 - c.momentum) * elite.std(1)
            self.upper_warm = mean
            known = self.upper_energy(s, mean, torch.zeros(rows, U, ds)).values
        return known["F[0].s_next"]

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


# --------------------------------------------------------------------------- the run
@dataclass
class AgentResult:
    eval_return: float
    eval_returns: list[float]
    random_return: float
    env_steps: int
    seconds_per_action: float
    evaluations_per_action: int
    history: list[dict[str, float]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    episode: dict[str, list[Any]] = field(default_factory=dict)  # the evaluation episodes, step by step
    mode1_return: float | None = None  # the distilled actor's mean return over the evaluation episodes
    mode1_returns: list[float] = field(default_factory=list)
    mode1_seconds_per_action: float | None = None  # one forward pass for every episode's action
    proposal_return: float | None = None  # Mode-2 started from the actor's plan (actor_proposal)
    hier_return: float | None = None  # hierarchical Mode-2 (hierarchy), over the same evaluation episodes
    hier_returns: list[float] = field(default_factory=list)
    hier_evaluations_per_action: int | None = None
    hier_seconds_per_action: float | None = None
    hier_episode: dict[str, list[Any]] = field(default_factory=dict)  # its evaluation episodes, step by step
    hier_subgoals: list[tuple[int, list[list[float]]]] = field(default_factory=list)  # (step set for, a row each)
    proposal_returns: list[float] = field(default_factory=list)


def _check_shapes(envs: Envs, wm: Any, planner: Planner, cfg: AgentConfig) -> None:
    """The environment's observation and action against the state and action of both files."""
    problems = []
    ds_wm, da_wm = tuple(wm.graph.var("s").domain.shape), tuple(wm.graph.var("a").domain.shape)
    if envs.obs_shape != ds_wm:
        problems.append(f"observations have shape {envs.obs_shape} but 's' of {Path(cfg.world_model).name} is "
                        f"R{list(ds_wm)}")
    if envs.act_shape != da_wm:
        problems.append(f"actions have shape {envs.act_shape} but 'a' of {Path(cfg.world_model).name} is "
                        f"R{list(da_wm)}")
    if (planner.ds,) != ds_wm or (planner.da,) != da_wm:
        problems.append(f"{Path(cfg.planner).name} plans states R[{planner.ds}] and actions R[{planner.da}], the "
                        f"world model has R{list(ds_wm)} and R{list(da_wm)}")
    if cfg.obs_scale is not None and len(cfg.obs_scale) != (envs.obs_shape or (1,))[0]:
        problems.append(f"obs_scale has {len(cfg.obs_scale)} entries, observations {envs.obs_shape}")
    for key in ("goal", "goal_weights"):
        if getattr(cfg, key) is not None and len(getattr(cfg, key)) != planner.ds:
            problems.append(f"{key} has {len(getattr(cfg, key))} entries, the state is R[{planner.ds}]")
    if problems:
        raise AgentError(f"{cfg.env} does not fit the model: " + "; ".join(problems) +
                         " (set params, e.g. ds and da, in the config)")


def _share_weights(wm: Any, planner: Any) -> int:
    """The planner's unrolled world model takes the trained world model's weights: each trainable
    function of the planner's Dynamics instance (f[0].pred) from the one of the same name in the
    world model's (f.pred). Returns how many were copied; none is an error (the files do not match)."""
    from .compiled import _key

    def own(name: str) -> str:  # the function's name inside its sub-model: f[0].pred -> pred
        return name.rsplit(".", 1)[-1]

    trained = {own(n): wm.fns[_key(n)] for n in wm.graph.fns if _key(n) in wm.fns and "." in n}
    copied = 0
    for n in planner.graph.fns:
        if "." in n and own(n) in trained and _key(n) in planner.fns:
            planner.fns[_key(n)].load_state_dict(trained[own(n)].state_dict())
            copied += 1
    if not copied:
        raise AgentError("the planner shares no trained function with the world model: its Dynamics instance "
                         "must declare the functions the world model trains (e.g. fn pred)")
    return copied


def _addressed(model: Any, term: str) -> list[str]:
    """The energy terms a configurator's key names: the term itself ("c[0].C"), else that term at
    every step ("C" for c[0].C, c[1].C, ...)."""
    if term in model.weights:
        return [term]
    return [n for n in model.weights if n.rsplit(".", 1)[-1] == term]


def _use_true_dynamics(cfg: AgentConfig, wm: Any, model: Any) -> None:
    """The planner's copy of the world model's predictor becomes the environment's own dynamics."""
    from .compiled import _key
    trained = {n.rsplit(".", 1)[-1] for n in wm.graph.fns if _key(n) in wm.fns and "." in n}
    names = [n for n in model.graph.fns if "." in n and n.rsplit(".", 1)[-1] in trained and _key(n) in model.fns]
    if len(names) != 1:
        raise AgentError("world_model_kind = \"true\" replaces the world model's one predictor (fn pred); "
                         f"{Path(cfg.world_model).name} trains {', '.join(sorted(trained)) or 'none'}")
    model.fns[names[0]] = true_pred(cfg.env, cfg.obs_scale, int(model.graph.var("s[0]").domain.shape[-1]))


def _fingerprint(cfg: AgentConfig) -> str:
    """What a saved run must share with the config to resume it: all but where it writes and how it shows."""
    import hashlib
    keep = cfg.model_dump(exclude={"out_dir", "progress", "threads", "resume"})
    folders = {Path(getattr(cfg, k)).parent for k in ("world_model", "planner", "actor", "critic", "cost")
               if getattr(cfg, k)} | ({Path(cfg.hierarchy.file).parent} if cfg.hierarchy else set())
    keep["files"] = {str(f): f.read_text(encoding="utf-8") for d in sorted(folders) for f in sorted(d.glob("*.ebm"))}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def _finite(x: Any, what: str) -> None:
    import numpy as np
    if not np.all(np.isfinite(x)):
        raise AgentError(f"{what} is not finite (NaN or inf); the episode is stopped, the checkpoints are kept")


def run(cfg: AgentConfig, log: Callable[[str], None] = print) -> AgentResult:
    """Collect, learn the world model, plan in a receding horizon, evaluate; files in cfg.out_dir."""
    import numpy as np
    import torch

    from . import compile as compile_graph
    from . import load
    from .training import train as train_model
    from .training.data import Dataset
    from .training.loop import set_threads

    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_params(cfg)
    wm = compile_graph(load(cfg.world_model, model="WorldModel", params=_for(cfg.world_model, cfg.params, "WorldModel")))
    planner = Planner(compile_graph(load(cfg.planner, params=_for(cfg.planner, cfg.params))), cfg)
    probe = Envs(cfg, 1, cfg.seed)
    _check_shapes(probe, wm, planner, cfg)
    probe.close()
    critic = Critic(cfg, planner) if cfg.critic is not None else None
    learned = cfg.world_model_kind == "learned"
    if not learned:  # the environment's dynamics in the place of the world model's predictor
        for m in [planner.model] + ([critic.backup.model] if critic is not None and critic.backup is not None else []):
            _use_true_dynamics(cfg, wm, m)
    data: dict[str, list[Any]] = {"s": [], "a": [], "s1": []}
    history: list[dict[str, float]] = []
    labels: list[tuple[Any, Any]] = []  # (state, Mode-2's action) pairs
    memory: list[Episode] = []  # the short-term memory (003 sec. 3.3): every episode lived, step by step
    env_steps = 0
    random_return = float("nan")
    parts = {"world_model": wm} if learned else {}
    if critic is not None:
        parts["critic"] = critic.fit_model

    def store(s: Any, a: Any, s1: Any) -> None:
        data["s"].append(s)
        data["a"].append(a)
        data["s1"].append(s1)

    def fit(round_: int) -> float:
        loss = float("nan")
        if learned:
            tensors = {k: torch.tensor(np.concatenate(v), dtype=torch.float32) for k, v in data.items()}
            run_dir = out / f"world_model_{round_}"
            if run_dir.exists():
                import shutil
                shutil.rmtree(run_dir)
            res = train_model(wm, {"loss": {"kind": "energy"}, "epochs": cfg.train.epochs,
                                   "batch_size": cfg.train.batch_size,
                                   "optimizer": {"kind": "adam", "lr": cfg.train.lr}, "seed": cfg.seed + round_,
                                   "out_dir": str(run_dir), "progress": cfg.progress, "plot": False},
                            Dataset(tensors, {}))
            _share_weights(wm, planner.model)
            loss = float(res.history[-1]["loss"]) if res.history else float("nan")
        if critic is not None:  # the critic learns the cost to come of the remembered states
            err = critic.train(memory, wm if learned else None, cfg.seed + round_)
            log(f"critic trained on {sum(len(e.actions) for e in memory)} remembered states of {len(memory)} "
                f"episodes ({cfg.critic_train.iterations} fits, error {err:.4g})")
        return loss

    state_file = out / "agent_state.pt"

    def save(round_: int) -> None:
        """Everything the run needs to go on after round_ (0: the random steps), written whole: a run
        killed later resumes from here and gives the same metrics."""
        from .files import write_atomic
        state = {"fingerprint": _fingerprint(cfg), "round": round_, "env_steps": env_steps,
                 "random_return": random_return, "history": history,
                 "data": {k: torch.tensor(np.concatenate(v)) for k, v in data.items()},
                 "labels": [(torch.tensor(x), torch.tensor(y)) for x, y in labels],
                 "memory": [(torch.tensor(e.states), torch.tensor(e.actions), e.terminated) for e in memory],
                 "parts": {k: m.state_dict() for k, m in parts.items()},
                 "critic_opt": critic.opt.state_dict() if critic is not None else None,
                 "torch_rng": torch.get_rng_state(), "np_rng": json.dumps(rng.bit_generator.state)}
        write_atomic(state_file, lambda fh: torch.save(state, fh))  # type: ignore[misc]

    def restore() -> int:
        """The round the saved state ends at; -1 when there is none to resume."""
        nonlocal env_steps, random_return, history, labels, data, memory
        if not state_file.exists() or not cfg.resume:
            return -1
        try:
            state = torch.load(state_file, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged file is said, and the run starts over
            log(f"{state_file} cannot be read ({exc}); starting over")
            return -1
        if state.get("fingerprint") != _fingerprint(cfg):
            raise AgentError(f"{out} holds a run of another config (its agent_state.pt); give another out_dir, "
                             "or --fresh to start this one over there")
        env_steps, random_return, history = int(state["env_steps"]), float(state["random_return"]), state["history"]
        data = {k: [v.numpy()] for k, v in state["data"].items()}
        labels = [(x.numpy(), y.numpy()) for x, y in state["labels"]]
        memory = [Episode(s.numpy(), a.numpy(), bool(term)) for s, a, term in state["memory"]]
        for k, m in parts.items():
            m.load_state_dict(state["parts"][k])
        if learned:
            _share_weights(wm, planner.model)
        if critic is not None:
            critic.opt.load_state_dict(state["critic_opt"])
            _share_weights(critic.fit_model, planner.model)
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = json.loads(state["np_rng"])
        return int(state["round"])

    def model_error(s: Any, a: Any, s1: Any) -> float:
        with torch.no_grad():
            e = wm.energy(s=torch.tensor(s), a=torch.tensor(a), s1=torch.tensor(s1)).total
        return float(e.mean())

    done = restore()
    if done >= 0:
        log(f"resuming {out} after {'round ' + str(done) if done else 'the random steps'} ({env_steps} environment "
            "steps so far; --fresh starts over)")
    # 1. random actions
    if done < 0:
        envs = Envs(cfg, 1, cfg.seed)
        s = envs.reset(0)
        random_returns, ret, episode, steps_in = [], 0.0, 0, 0
        lived: tuple[list[Any], list[Any]] = ([s[0]], [])
        for _ in range(min(cfg.random_steps, cfg.max_env_steps)):
            if steps_in % cfg.random_hold == 0:
                a = (rng.integers(0, envs.discrete, size=(1, 1)) - envs.high if envs.discrete is not None else
                     rng.uniform(envs.low, envs.high, size=(1, *envs.act_shape))).astype(np.float32)
            s1, r, ended = envs.step(a)
            _finite(s1, "the environment's observation")
            store(s, a, s1)
            lived[0].append(s1[0])
            lived[1].append(a[0])
            ret += float(r[0])
            s = s1
            env_steps += 1
            steps_in += 1
            if ended[0] or steps_in == cfg.episode_steps:
                memory.append(Episode(np.stack(lived[0]), np.stack(lived[1]), bool(envs.terminated[0])))
                random_returns.append(ret)
                ret, episode, steps_in = 0.0, episode + 1, 0
                s = envs.reset(episode)
                lived = ([s[0]], [])
        if lived[1]:  # the budget ended it: cut, not at its goal
            memory.append(Episode(np.stack(lived[0]), np.stack(lived[1]), False))
        envs.close()
        random_return = float(np.mean(random_returns)) if random_returns else float("nan")
        loss = fit(0)
        save(0)
        log(f"random: {env_steps} steps, mean return {random_return:.1f} over {len(random_returns)} episode(s); "
            + (f"world model trained (energy {loss:.4g})" if learned else "the planner's world model is the "
               "environment's own dynamics"))

    # 2. planner-driven rounds, retraining after each
    for k in range(max(done, 0) + 1, cfg.rounds + 1):
        n = cfg.episodes_per_round
        if env_steps + n * cfg.episode_steps > cfg.max_env_steps:
            log(f"round {k}: the data budget of {cfg.max_env_steps} environment steps is reached")
            break
        rets, energy, trans = _episodes(cfg, planner, n, 100 * k, log=None, memory=memory)
        env_steps += sum(len(x) for x in trans[0])
        err = model_error(*(np.concatenate(x) for x in trans)) if learned else float("nan")
        for s_, a_, s1_ in zip(*trans, strict=True):
            store(s_, a_, s1_)
            labels.append((s_, a_))  # Mode-2's actions, what the actor imitates
        loss = fit(k)
        row = {"round": k, "env_steps": env_steps, "return": float(np.mean(rets)), "planning_energy": energy}
        if learned:
            row |= {"world_model_error": err, "world_model_energy": loss}
        history.append(row)
        save(k)
        log(f"round {k}: return {row['return']:.1f}, planning energy {energy:.4g}, "
            + (f"world-model error on the new data {err:.4g} (before retraining), " if learned else "")
            + f"{env_steps} env steps")

    # 3. evaluation: every episode side by side, one batch row each
    trace: dict[str, list[Any]] = {}
    timing: list[float] = []
    rets, energy, ev = _episodes(cfg, planner, cfg.eval_episodes, 10_000, log=log, trace=trace, timing=timing)
    labels += list(zip(ev[0], ev[1], strict=True))
    per_action = float(np.median(timing))  # one planning call plans every episode's action
    result = AgentResult(float(np.mean(rets)), [float(x) for x in rets], random_return, env_steps, per_action,
                         planner.evaluations_per_action, history, episode=trace)
    if planner.unconverged:
        log(f"note: {planner.unconverged} of {planner.calls} planning calls stopped at the planner's budget of "
            f"steps = {planner.steps} before converging (tol); MPC acts on the plan so far and plans again next step")
    log(f"evaluation: mean return {result.eval_return:.1f} over {cfg.eval_episodes} episodes "
        f"({cfg.planner_kind} planner, {result.evaluations_per_action} world-model steps per action, "
        f"{1000 * per_action:.0f} ms per planning call for {cfg.eval_episodes} episodes, median)")
    if cfg.hierarchy is not None:
        hp = HierPlanner(cfg, wm, critic)
        hp.train(memory, out, cfg.seed, cfg.progress)
        timing = []
        rets, _, _ = _episodes(cfg, hp, cfg.eval_episodes, 10_000, log=log, timing=timing, trace=result.hier_episode)
        result.hier_subgoals = [(t, g.tolist()) for t, g in hp.decisions]
        result.hier_returns, result.hier_return = [float(x) for x in rets], float(np.mean(rets))
        result.hier_evaluations_per_action = hp.evaluations_per_action
        result.hier_seconds_per_action = float(np.median(timing))
        log(f"hierarchical Mode-2: mean return {result.hier_return:.1f} ({hp.evaluations_per_action} world-model steps "
            f"per action, the flat planner {result.eval_return:.1f} at {result.evaluations_per_action})")
    if cfg.actor is not None:
        env_steps = _mode1(cfg, planner, labels, out, result, env_steps, log)
        result.env_steps = env_steps
    result.files = _write(cfg, result, out)
    return result


def load_planner(cfg: AgentConfig, state_file: str | Path) -> Planner:
    """The planner of `cfg` over the world model (and critic) a saved run learned."""
    return _load_parts(cfg, state_file)[1]


def _load_parts(cfg: AgentConfig, state_file: str | Path) -> tuple[Any, Planner, Critic | None, dict[str, Any]]:
    """The world model, the planner and the critic of `cfg` with the weights a saved run learned, and
    the saved state itself."""
    import torch

    from . import compile as compile_graph
    from . import load
    wm = compile_graph(load(cfg.world_model, model="WorldModel", params=_for(cfg.world_model, cfg.params, "WorldModel")))
    planner = Planner(compile_graph(load(cfg.planner, params=_for(cfg.planner, cfg.params))), cfg)
    state = torch.load(state_file, weights_only=True)
    critic = None
    try:
        if cfg.world_model_kind == "learned":
            wm.load_state_dict(state["parts"]["world_model"])
            _share_weights(wm, planner.model)
        else:
            _use_true_dynamics(cfg, wm, planner.model)
        if cfg.critic is not None:
            critic = Critic(cfg, planner)
            critic.fit_model.load_state_dict(state["parts"]["critic"])
            _share_weights(critic.fit_model, planner.model)
    except (KeyError, RuntimeError) as exc:
        raise AgentError(f"{state_file} was not saved by a run of these files: {exc}") from None
    return wm, planner, critic, state


def evaluate_hierarchy(cfg: AgentConfig, state_file: str | Path, log: Callable[[str], None] | None = None,
                       plot: str | Path | None = None) -> tuple[list[float], float, int]:
    """The hierarchical planner of `cfg` ([hierarchy]) over the world model (and the critic, unless
    cfg.critic is None) a saved run learned, its coarse model trained on the run's memory: the
    returns of cfg.eval_episodes episodes, the median seconds per planning call, and the world-model
    steps per action. `plot`: a PNG of the typical episode with its subgoals, written there."""
    import tempfile

    import numpy as np
    if cfg.hierarchy is None:
        raise AgentError("evaluate_hierarchy needs the config's [hierarchy]")
    import torch
    wm, _, critic, state = _load_parts(cfg, state_file)
    memory = [Episode(s.numpy(), a.numpy(), bool(term)) for s, a, term in state["memory"]]
    torch.manual_seed(cfg.seed)  # the coarse model's start and the upper level's samples
    hp = HierPlanner(cfg, wm, critic)
    with tempfile.TemporaryDirectory() as tmp:
        hp.train(memory, Path(tmp), cfg.seed, cfg.progress)
    timing: list[float] = []
    trace: dict[str, list[Any]] = {}
    rets, _, _ = _episodes(cfg, hp, cfg.eval_episodes, 10_000, log=log, timing=timing, trace=trace)
    if plot is not None:
        import matplotlib.pyplot as plt

        from .files import write_atomic
        fig = _typical_episode(cfg, trace, rets, "hierarchical, episode",
                               [(t, g.tolist()) for t, g in hp.decisions])
        write_atomic(Path(plot), lambda fh: fig.savefig(fh, format="png", dpi=110))
        plt.close(fig)
    return rets, float(np.median(timing)), hp.evaluations_per_action


def evaluate(cfg: AgentConfig, state_file: str | Path, log: Callable[[str], None] | None = None,
             trace: dict[str, list[Any]] | None = None,
             actor_checkpoint: str | Path | None = None) -> tuple[list[float], float]:
    """The planner of `cfg` (its kind, budget, horizon) over the world model and critic a run saved
    in `state_file` learned: the returns of cfg.eval_episodes episodes, and the median seconds one
    planning call takes for all of them. Used to compare planners on one learned model. With
    `actor_checkpoint` (a trained actor file, cfg.actor), Mode-2 starts from the actor's plan."""
    import numpy as np
    import torch

    from . import compile as compile_graph
    from . import load
    planner = load_planner(cfg, state_file)
    torch.manual_seed(cfg.seed)  # the planner's random starts: the same returns on every call
    policy = None
    if actor_checkpoint is not None:
        from .checkpoint import load_into
        if cfg.actor is None:
            raise AgentError("actor_checkpoint needs the config's actor file (actor = ...)")
        actor = load_into(compile_graph(load(cfg.actor, params=_for(cfg.actor, cfg.params))), actor_checkpoint)

        def policy(s: Any) -> Any:
            return actor.partial({"s": s})["a_hat"]
    timing: list[float] = []
    rets, _, _ = _episodes(cfg, planner, cfg.eval_episodes, 10_000, log=log, trace=trace, timing=timing,
                           proposal=policy)
    return rets, float(np.median(timing))


def episode_detail(cfg: AgentConfig, state_file: str | Path, episode: int = 0,
                   on_step: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """One episode of receding-horizon planning, told step by step for the app's Planning panel:
    the states visited, the actions and rewards, and at each step the plan made there, as the states
    the world model predicts for it ("plans", (L, T + 1, ds)) and its energy by term ("terms": a
    term's name without its step, C for c[0].C ... c[T-1].C, each a list over the steps)."""
    import numpy as np
    import torch
    planner = load_planner(cfg, state_file)
    envs = Envs(cfg, 1, cfg.seed + 30_000)
    s = envs.reset(episode)
    out: dict[str, Any] = {"state": [s[0].tolist()], "action": [], "reward": [], "plans": [], "terms": {}}
    warm = None
    try:
        for step in range(cfg.episode_steps):
            st = torch.tensor(s, dtype=torch.float32)
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
            _finite(s, "the environment's observation")
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


def _mode1(cfg: AgentConfig, planner: Planner, labels: list[tuple[Any, Any]], out: Path,
           result: AgentResult, env_steps: int, log: Callable[[str], None]) -> int:
    """Mode-1 (003 Fig. 5): train the actor file on Mode-2's actions (its energy: the distance of the
    planner's action to the actor's), then let it act, label the states it visits with Mode-2 and
    train again (DAgger), and evaluate it alone. Returns the environment steps used."""
    import shutil

    import numpy as np
    import torch

    from . import compile as compile_graph
    from . import load
    from .training import train as train_model
    from .training.data import Dataset

    assert cfg.actor is not None
    actor = compile_graph(load(cfg.actor, params=_for(cfg.actor, cfg.params)))
    for name in ("s", "a"):
        if tuple(actor.graph.var(name).domain.shape) != ((planner.ds,) if name == "s" else (planner.da,)):
            raise AgentError(f"{Path(cfg.actor).name}: '{name}' is R{list(actor.graph.var(name).domain.shape)}, "
                             f"the planner's is R[{planner.ds if name == 's' else planner.da}]")
    outputs = [v.name for v in actor.graph.variables if v.computed and not v.anonymous]
    if "a_hat" not in outputs:
        raise AgentError(f"{Path(cfg.actor).name} must compute a_hat, the proposed action, from s")

    def policy(s: Any) -> Any:
        return actor.partial({"s": s})["a_hat"]

    def fit(k: int) -> None:
        st = torch.tensor(np.concatenate([x for x, _ in labels]), dtype=torch.float32)
        at = torch.tensor(np.concatenate([y for _, y in labels]), dtype=torch.float32)
        run_dir = out / f"actor_{k}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        train_model(actor, {"loss": {"kind": "energy"}, "epochs": cfg.actor_epochs, "batch_size": cfg.train.batch_size,
                            "optimizer": {"kind": "adam", "lr": cfg.train.lr}, "seed": cfg.seed + k,
                            "out_dir": str(run_dir), "progress": cfg.progress, "plot": False},
                    Dataset({"s": st, "a": at}, {}))

    fit(0)
    for k in range(1, cfg.dagger_rounds + 1):
        n = cfg.episodes_per_round
        if env_steps + n * cfg.episode_steps > cfg.max_env_steps:
            log(f"Mode-1 round {k}: the data budget of {cfg.max_env_steps} environment steps is reached")
            break
        rets, _, trans = _episodes(cfg, policy, n, 20_000 + 100 * k, log=None)
        visited = np.concatenate(trans[0])
        env_steps += len(visited)
        acts = []
        for i in range(0, len(visited), 100):  # Mode-2 labels every visited state, a batch at a time
            chunk = torch.tensor(visited[i:i + 100], dtype=torch.float32)
            acts.append(planner.plan(chunk).actions[:, 0].numpy())
        labels.append((visited, np.concatenate(acts)))
        fit(k)
        log(f"Mode-1 round {k}: the actor's return {np.mean(rets):.1f}; {len(visited)} visited states labelled "
            f"by Mode-2, {sum(len(x) for x, _ in labels)} in all")
    timing: list[float] = []
    rets, _, _ = _episodes(cfg, policy, cfg.eval_episodes, 10_000, log=log, timing=timing)
    result.mode1_seconds_per_action = float(np.median(timing))
    result.mode1_returns = [float(x) for x in rets]
    result.mode1_return = float(np.mean(rets))
    log(f"Mode-1 evaluation: mean return {result.mode1_return:.1f} (Mode-2 {result.eval_return:.1f}); "
        f"{1000 * result.mode1_seconds_per_action:.2f} ms to choose the actions of {cfg.eval_episodes} episodes, "
        f"against {1000 * result.seconds_per_action:.0f} ms for Mode-2 "
        f"({result.seconds_per_action / max(result.mode1_seconds_per_action, 1e-9):.0f}x less)")
    if cfg.actor_proposal:
        rets, _, _ = _episodes(cfg, planner, cfg.eval_episodes, 10_000, log=log, proposal=policy)
        result.proposal_returns = [float(x) for x in rets]
        result.proposal_return = float(np.mean(rets))
        log(f"Mode-2 started from the actor's plan: mean return {result.proposal_return:.1f} (from the shifted "
            f"last plan {result.eval_return:.1f})")
    return env_steps


def _declared(path: str, model: str | None = None) -> set[str]:
    """The parameters a model of the file declares (by default its last, the one the agent loads)."""
    from .syntax import parse
    models = parse(Path(path).read_text(encoding="utf-8"), path).models
    pick = [m for m in models if m.name == model] if model else models[-1:]
    return {p.name for p in pick[0].params} if pick else set()


def _for(path: str, params: dict[str, int | float], model: str | None = None) -> dict[str, int | float]:
    """The config's parameters that this file's model declares (the planner's T is not the world model's)."""
    names = _declared(path, model)
    return {k: v for k, v in params.items() if k in names}


def _check_params(cfg: AgentConfig) -> None:
    """Every parameter of the config is declared by one of the files it is given to."""
    files = [f for f in (cfg.world_model, cfg.planner, cfg.actor, cfg.critic,
                         cfg.hierarchy.file if cfg.hierarchy else None) if f is not None]
    known = set().union(*(_declared(f) for f in files))
    unknown = sorted(set(cfg.params) - known)
    if unknown:
        import difflib

        from .training.loop import _config_error
        hints = [f"'{k}'" + (f" (did you mean '{c[0]}'?)" if (c := difflib.get_close_matches(k, known, 1)) else "")
                 for k in unknown]
        raise _config_error(cfg, ("params",), f"params: {', '.join(hints)} is declared by none of "
                            f"{', '.join(Path(f).name for f in files)}",
                            hint=f"they declare {', '.join(sorted(known))}")


def _episodes(cfg: AgentConfig, planner: Planner | HierPlanner | Callable[[Any], Any], n: int, seed_offset: int,
              log: Callable[[str], None] | None, trace: dict[str, list[Any]] | None = None,
              timing: list[float] | None = None, proposal: Callable[[Any], Any] | None = None,
              memory: list[Episode] | None = None) -> tuple[list[float], float, tuple[list[Any], list[Any], list[Any]]]:
    """n episodes of receding-horizon planning side by side: perceive, plan (warm-started from the
    last plan shifted by one step), act with the first action, store, repeat."""
    import numpy as np
    import torch
    from tqdm import tqdm

    envs = Envs(cfg, n, cfg.seed + seed_offset)
    s = envs.reset(0)
    rets = np.zeros(n)
    energies = []
    trans: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    warm = None
    lived: list[tuple[list[Any], list[Any]]] = [([x], []) for x in s]  # each episode's states and actions
    what = ("hierarchical planning" if isinstance(planner, HierPlanner) else f"{cfg.planner_kind} planning"
            if isinstance(planner, Planner) else "Mode-1 actor")
    if isinstance(planner, HierPlanner):
        planner.reset()
    bar = tqdm(range(cfg.episode_steps), desc=f"{what}, {n} episodes", leave=False,
               disable=not cfg.progress)
    try:
        for _ in bar:
            st = torch.tensor(s, dtype=torch.float32)
            t0 = time.perf_counter()
            if isinstance(planner, Planner | HierPlanner):
                if proposal is not None and isinstance(planner, Planner):
                    warm = planner.propose(proposal, st)
                p = planner.plan(st, warm)
            else:  # Mode-1: the actor's action in one pass, no planning
                with torch.no_grad():
                    p = Plan(planner(st)[:, None], torch.zeros(n))
            if timing is not None:
                timing.append(time.perf_counter() - t0)  # the time to choose the action, environment aside
            _finite(p.actions.numpy(), "the planned action")
            a = envs.applied(p.actions[:, 0].numpy())
            live = ~envs.ended
            s1, r, ended = envs.step(a)
            _finite(s1, "the environment's observation")
            for i in np.flatnonzero(live):
                lived[i][0].append(s1[i])
                lived[i][1].append(a[i])
            trans[0].append(s[live])  # what the world model learns from: the steps actually taken
            trans[1].append(a[live])
            trans[2].append(s1[live])
            rets += r
            if trace is not None:  # every episode, step by step: state, action, reward, planning energy
                trace.setdefault("state", []).append(s.tolist())
                trace.setdefault("action", []).append(a.tolist())
                trace.setdefault("reward", []).append(r.tolist())
                trace.setdefault("energy", []).append(p.energy.tolist())
                trace.setdefault("live", []).append(live.tolist())  # before this step, not ended
            if ended.all():
                break
            energies.append(float(p.energy.mean()))
            warm = torch.cat([p.actions[:, 1:], p.actions[:, -1:]], dim=1)
            s = s1
            bar.set_postfix(ret=f"{rets.mean():.0f}", refresh=False)
        if memory is not None:  # the short-term memory keeps each episode whole
            memory += [Episode(np.stack(st), np.stack(ac), bool(envs.terminated[i]))
                       for i, (st, ac) in enumerate(lived) if ac]
    finally:
        envs.close()
    return [float(x) for x in rets], float(np.mean(energies)), trans


def _typical_episode(cfg: AgentConfig, trace: dict[str, list[Any]], rets: list[float], what: str,
                     subgoals: list[tuple[int, list[list[float]]]] | None = None) -> Any:
    """The episode of the median return, plotted up to its end (with a hierarchy's subgoals)."""
    import numpy as np

    from .plots import agent_episode
    pick = int(np.argsort(rets)[len(rets) // 2])
    ep = {k: np.asarray(v)[:, pick] for k, v in trace.items()}
    steps = int(ep.pop("live").sum()) if "live" in ep else len(ep["reward"])
    marks = None if subgoals is None else [(t, g[pick]) for t, g in subgoals if t <= steps]
    return agent_episode({k: v[:steps] for k, v in ep.items()}, cfg.goal,
                         f"{cfg.env}: {what} {pick}, return {rets[pick]:.1f}", marks)


def _write(cfg: AgentConfig, result: AgentResult, out: Path) -> list[Path]:
    """results.json, metrics.jsonl, the returns and a typical episode plotted (ebmgraph.plots), each
    written whole."""
    from .files import write_atomic
    files = []
    summary = {"env": cfg.env, "planner": cfg.planner_kind, "eval_return": result.eval_return,
               "eval_returns": result.eval_returns, "random_return": result.random_return,
               "env_steps": result.env_steps, "seconds_per_action": result.seconds_per_action,
               "evaluations_per_action": result.evaluations_per_action, "mode1_return": result.mode1_return,
               "mode1_returns": result.mode1_returns, "mode1_seconds_per_action": result.mode1_seconds_per_action,
               "proposal_return": result.proposal_return, "proposal_returns": result.proposal_returns,
               "hier_return": result.hier_return, "hier_returns": result.hier_returns,
               "hier_evaluations_per_action": result.hier_evaluations_per_action,
               "world_model_kind": cfg.world_model_kind, "critic": cfg.critic is not None}
    write_atomic(out / "results.json", json.dumps(summary, indent=1))
    write_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in result.history))
    files += [out / "results.json", out / "metrics.jsonl"]
    import matplotlib.pyplot as plt

    from .plots import agent_returns
    figs = [("returns.png", agent_returns(result.eval_returns, result.random_return,
                                          f"{cfg.env}: {cfg.planner_kind} planning with the learned world model"))]
    if result.episode:
        figs.append(("episode.png", _typical_episode(cfg, result.episode, result.eval_returns, "episode")))
    if result.hier_episode:
        figs.append(("hierarchy_episode.png", _typical_episode(cfg, result.hier_episode, result.hier_returns,
                                                               "hierarchical, episode", result.hier_subgoals)))
    for name, fig in figs:
        write_atomic(out / name, lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=110))  # type: ignore[misc]
        plt.close(fig)
        files.append(out / name)
    return files
