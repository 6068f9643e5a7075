"""The environment's own dynamics in the place of the learned world model (`--world-model true`):
the upper reference of what a learned model can reach. Batched torch copies of gymnasium's
classic-control steps where we have them (TRUE_DYNAMICS, with the environment's default arguments);
for any other environment, copies of the environment itself (EnvCopies), stepped one row at a time:
slower, and with no gradient, so that only the planners that need none (cem, enumerate) use them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import AgentError
from .config import AgentConfig
from .planners import Planner


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


def in_torch(cfg: AgentConfig) -> bool:
    """Whether the environment's dynamics are one of TRUE_DYNAMICS: its id with its default arguments
    (env_kwargs may change the physics, e.g. Pendulum-v1's g, which the copies in torch do not take)."""
    return cfg.env in TRUE_DYNAMICS and not cfg.env_kwargs


def use_true_dynamics(cfg: AgentConfig, wm: Any, model: Any, pred: Any = None) -> None:
    """The planner's copy of the world model's predictor becomes the environment's own dynamics
    (`pred`: the module that takes its place; by default the torch simulator of TRUE_DYNAMICS)."""
    from ..compiled import _key
    trained = {n.rsplit(".", 1)[-1] for n in wm.graph.fns if _key(n) in wm.fns and "." in n}
    names = [n for n in model.graph.fns if "." in n and n.rsplit(".", 1)[-1] in trained and _key(n) in model.fns]
    if len(names) != 1:
        raise AgentError("world_model_kind = \"true\" replaces the world model's one predictor (fn pred); "
                         f"{Path(cfg.world_model).name} trains {', '.join(sorted(trained)) or 'none'}")
    ds = int(model.graph.var("s[0]").domain.shape[-1])
    if pred is None and not in_torch(cfg):
        raise AgentError(f"world_model_kind = \"true\": {cfg.env}" + (f" with env_kwargs {cfg.env_kwargs}"
                         if cfg.env in TRUE_DYNAMICS else "") + " has no simulator in torch; only the planner "
                         "(planner_kind = \"cem\" or \"enumerate\") plans over copies of the environment itself")
    model.fns[names[0]] = pred if pred is not None else true_pred(cfg.env, cfg.obs_scale, ds)


def check_true_world(cfg: AgentConfig, kind: str) -> None:
    """world_model_kind = "true" without a simulator in torch: what copies of the environment cannot do,
    a located error naming the option to change. The copies start from the environments a plan is made
    in; they give no gradient, and they cannot start from a remembered state or step k at once."""
    if cfg.world_model_kind != "true" or in_torch(cfg):
        return
    why = (f"world_model_kind = \"true\" on {cfg.env}" + (f" with env_kwargs {cfg.env_kwargs}" if cfg.env_kwargs
           else "") + " plans over copies of the environment itself (there is a simulator in torch only for "
           f"{', '.join(sorted(TRUE_DYNAMICS))} with their default arguments)")
    if kind == "gradient":
        raise AgentError(f"{why}, which give the planner no gradient: set planner_kind = \"cem\" or "
                         "\"enumerate\" (--planner cem), or world_model_kind = \"learned\"")
    if cfg.critic is not None and cfg.critic_train.target == "model":
        raise AgentError(f"{why}, which cannot start the critic's backups from remembered states: set "
                         "critic_train.target = \"memory\", or world_model_kind = \"learned\"")
    if cfg.hierarchy is not None:
        raise AgentError(f"{why}, which cannot step the hierarchy's coarse model k steps at once from states no "
                         "environment is in: remove [hierarchy], or set world_model_kind = \"learned\"")


def true_world(cfg: AgentConfig, wm: Any, planner: Planner) -> None:
    """The planner's world model becomes the environment's own dynamics: the simulator in torch where
    there is one (in_torch), else copies of the environments the planner is shown (EnvCopies). What
    the copies cannot do is refused before (check_true_world, by parts.build)."""
    if in_torch(cfg):
        use_true_dynamics(cfg, wm, planner.model)
        return
    copies = EnvCopies(cfg.env, planner.ds)
    use_true_dynamics(cfg, wm, planner.model, copies)
    planner.world = copies


def _mirror(env: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """What the wrappers of `env` do to an action on its way in (each ActionWrapper's `action`, the
    outermost first: CentredDiscrete's nearest action, ClipAction's box) and to an observation on its
    way out (each ObservationWrapper's `observation`, the innermost first: obs_scale)."""
    import gymnasium as gym
    acts, obs = [], []
    e = env
    while isinstance(e, gym.Wrapper):
        if isinstance(e, gym.ActionWrapper):
            acts.append(e.action)
        if isinstance(e, gym.ObservationWrapper):
            obs.append(e.observation)
        e = e.env

    def action(a: Any) -> Any:
        for f in acts:
            a = f(a)
        return a

    def observation(o: Any) -> Any:
        for f in reversed(obs):
            o = f(o)
        return o

    return action, observation


def _env_copies_module() -> type:
    import torch

    class _EnvCopies(torch.nn.Module):
        """The environment's own step in the place of the world model's `pred` (s_next = s + pred(s, a)),
        for any gymnasium environment: copies (copy.deepcopy) of the environments the plan is made in.

        `observe(envs)` shows it those environments (an `Envs`, its rows' states `envs.last`). A call
        whose states are not the ones the last call led to (or the first after `restart`, which the
        planner calls before each evaluation of its energy) is a plan's step 0: each row is matched to
        the environment whose state it is (a search repeats each row for its candidates), and gets a copy
        of that environment. Each call then steps every row's copy with the row's action, as the
        environment's wrappers take it (_mirror), and returns the observation it led to, in state units,
        less the state. A copy whose episode terminated keeps its state (the goal, or the failure, is
        absorbing). Returns no gradient."""

        def __init__(self, env_id: str, ds: int) -> None:
            super().__init__()
            self.env_id, self.ds = env_id, ds
            self.envs: Any = None  # the environments the next plans are made in
            self.copies: list[Any] = []  # each row's copy, as the last call left it
            self.ended: Any = None  # whose copy's episode has terminated
            self.expected: Any = None  # the states the last call led to (the next step's, unless a new plan)
            self.fresh = True
            self.mirror: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None

        def observe(self, envs: Any) -> None:
            self.envs, self.fresh = envs, True
            self.mirror = _mirror(envs.envs[0])

        def restart(self) -> None:
            self.fresh = True

        def start(self, s: Any) -> None:
            """Each row's copy of the environment whose state it is."""
            import copy

            import numpy as np
            if self.envs is None or self.envs.last is None:
                raise AgentError(f"world_model_kind = \"true\" ({self.env_id}: copies of the environment) plans "
                                 "only from the states of the environments it is shown (Planner.observe)")
            real = torch.as_tensor(np.asarray(self.envs.last, dtype=np.float32))
            n, rows = len(real), len(s)
            gap = (s[:, None] - real[None]).abs().amax(-1)  # (rows, n)
            near = gap <= 1e-5 * (1 + real.abs().amax(-1))[None]
            if not bool(near.any(1).all()):
                bad = int((~near.any(1)).nonzero()[0, 0])
                raise AgentError(f"world_model_kind = \"true\" ({self.env_id}: copies of the environment): a plan "
                                 f"from the state {s[bad].tolist()}, which is none of the {n} environments' own; "
                                 "the copies plan only from the states the environments are in")
            idx = near.float().argmax(1)  # the first environment in that state
            if rows % n == 0:  # a search's candidates, each row repeated: the row's own environment first
                own = torch.arange(rows) // (rows // n)
                idx = torch.where(near[torch.arange(rows), own], own, idx)
            protos = [e.unwrapped for e in self.envs.envs]
            self.copies = []
            for i in idx.tolist():
                u = protos[i]  # the spaces and the spec are shared, the state copied
                memo = {id(v): v for k, v in vars(u).items() if k in ("action_space", "observation_space", "spec")}
                c = copy.deepcopy(u, memo)
                if getattr(c, "render_mode", None) is not None:
                    c.render_mode = None
                self.copies.append(c)
            # a row whose episode has ended is not planned for (its actions are not taken): its copy stays
            ended = getattr(self.envs, "ended", None)
            self.ended = np.zeros(rows, dtype=bool) if ended is None else np.asarray(ended, dtype=bool)[idx.numpy()]

        def forward(self, sa: Any) -> Any:
            import numpy as np
            s, a = sa[:, :self.ds].detach(), sa[:, self.ds:].detach()
            if self.fresh or self.expected is None or self.expected.shape != s.shape or \
                    not torch.allclose(s, self.expected, rtol=1e-6, atol=1e-6):
                self.start(s)
                self.fresh = False
            assert self.mirror is not None
            action, observation = self.mirror
            nxt = s.numpy().copy()
            acts = a.numpy()
            for i, c in enumerate(self.copies):
                if self.ended[i]:
                    continue
                o, _, terminated, _, _ = c.step(action(acts[i].copy()))
                nxt[i] = np.asarray(observation(o), dtype=np.float32).reshape(-1)
                self.ended[i] = bool(terminated)
            out = torch.as_tensor(nxt) - s
            self.expected = s + out
            return out

    return _EnvCopies


def EnvCopies(env_id: str, ds: int) -> Any:  # noqa: N802 - a class, made when torch is imported
    """A module of copies of the environment in the place of `pred` (see _env_copies_module)."""
    return _env_copies_module()(env_id, ds)
