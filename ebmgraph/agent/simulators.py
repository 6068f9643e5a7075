"""The environment's own dynamics in the place of the learned world model (`--world-model true`):
the upper reference of what a learned model can reach. Batched torch copies of gymnasium's
classic-control steps where we have them (TRUE_DYNAMICS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import AgentError
from .config import AgentConfig


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


def use_true_dynamics(cfg: AgentConfig, wm: Any, model: Any) -> None:
    """The planner's copy of the world model's predictor becomes the environment's own dynamics."""
    from ..compiled import _key
    trained = {n.rsplit(".", 1)[-1] for n in wm.graph.fns if _key(n) in wm.fns and "." in n}
    names = [n for n in model.graph.fns if "." in n and n.rsplit(".", 1)[-1] in trained and _key(n) in model.fns]
    if len(names) != 1:
        raise AgentError("world_model_kind = \"true\" replaces the world model's one predictor (fn pred); "
                         f"{Path(cfg.world_model).name} trains {', '.join(sorted(trained)) or 'none'}")
    model.fns[names[0]] = true_pred(cfg.env, cfg.obs_scale, int(model.graph.var("s[0]").domain.shape[-1]))
