"""The agent's compiled parts from its config: the world model, the planner over it (or over the
environment's own dynamics), and the critic; with the weights of a saved run when one is given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import AgentError, compiled, share_weights
from .config import AgentConfig, check_params
from .critic import Critic
from .envs import Envs
from .planners import Planner, make_planner
from .simulators import check_true_world, true_world, use_true_dynamics


@dataclass
class Parts:
    wm: Any  # the world model file's WorldModel, trained on the memory (unused with the true dynamics)
    planner: Planner
    critic: Critic | None

    @property
    def learned(self) -> bool:
        return self.planner.cfg.world_model_kind == "learned"

    def trained(self) -> dict[str, Any]:
        """The modules a run trains and saves, by name."""
        out = {"world_model": self.wm} if self.learned else {}
        if self.critic is not None:
            out["critic"] = self.critic.fit_model
        return out

    def shared(self) -> None:
        """The planner takes the trained weights of the world model and the critic."""
        if self.learned:
            share_weights(self.wm, self.planner.model)
        if self.critic is not None:
            share_weights(self.critic.fit_model, self.planner.model)


def build(cfg: AgentConfig, kind: str | None = None) -> Parts:
    """The parts of `cfg` (its planner of `kind`, the config's by default), checked against the
    environment: the shapes of its observations and actions against both files'."""
    check_params(cfg)
    check_true_world(cfg, kind or cfg.planner_kind)
    wm = compiled(cfg.world_model, cfg.params, "WorldModel")
    planner = make_planner(compiled(cfg.planner, cfg.params), cfg, kind)
    probe = Envs(cfg.model_copy(update={"obs_scale": None}), 1)  # obs_scale's length is checked with the rest
    try:
        check_shapes(probe, wm, planner, cfg)
        discrete_levels(cfg, probe, planner, kind or cfg.planner_kind)
    finally:
        probe.close()
    critic = Critic(cfg, planner) if cfg.critic is not None else None
    if cfg.world_model_kind == "true":  # the environment's dynamics in the place of the world model's predictor
        true_world(cfg, wm, planner)  # in torch, else copies of the environments it plans in
        if critic is not None and critic.backup is not None:  # in torch alone (check_true_world)
            use_true_dynamics(cfg, wm, critic.backup.model)
    return Parts(wm, planner, critic)


def load_parts(cfg: AgentConfig, state_file: str | Path, kind: str | None = None) -> tuple[Parts, dict[str, Any]]:
    """The parts of `cfg` with the weights a saved run learned, and the saved state itself."""
    import torch
    parts = build(cfg, kind)
    state = torch.load(state_file, weights_only=True)
    try:
        best = state.get("best") if cfg.keep == "best" else None  # the parts the run kept (config keep)
        for name, m in parts.trained().items():
            m.load_state_dict((best or state)["parts"][name])
        if not isinstance(state.get("memory"), list) or any(not isinstance(e, dict) for e in state["memory"]):
            raise KeyError("its memory is not the episodes this version saves")
    except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise AgentError(f"{state_file} was not saved by a run of these files (or by this version): {exc}; run the "
                         "agent again (--fresh)") from None
    parts.shared()
    return parts, state


def check_shapes(envs: Envs, wm: Any, planner: Planner, cfg: AgentConfig) -> None:
    """The environment's observation and action against the state and action of both files."""
    problems = []
    ds_wm, da_wm = tuple(wm.graph.var("s").domain.shape), tuple(wm.graph.var("a").domain.shape)
    if envs.obs_shape != ds_wm:
        problems.append(f"{cfg.env} observes shape {envs.obs_shape} but 's' of {Path(cfg.world_model).name} is "
                        f"R{list(ds_wm)}")
    if envs.act_shape != da_wm:
        problems.append(f"{cfg.env} acts with shape {envs.act_shape} but 'a' of {Path(cfg.world_model).name} is "
                        f"R{list(da_wm)}")
    if (planner.ds,) != ds_wm or (planner.da,) != da_wm:
        problems.append(f"{Path(cfg.planner).name} plans states R[{planner.ds}] and actions R[{planner.da}], the "
                        f"world model has R{list(ds_wm)} and R{list(da_wm)}")
    if cfg.obs_scale is not None and (len(cfg.obs_scale),) != envs.obs_shape:
        problems.append(f"obs_scale has {len(cfg.obs_scale)} entries for {cfg.env}'s observations of shape "
                        f"{envs.obs_shape}")
    for key in ("goal", "goal_weights"):
        if getattr(cfg, key) is not None and len(getattr(cfg, key)) != planner.ds:
            problems.append(f"{key} has {len(getattr(cfg, key))} entries, the state is R[{planner.ds}]")
    if problems:
        hint = (f"set params = {{ ds = {envs.obs_shape[0] if envs.obs_shape else 1}, da = "
                f"{envs.act_shape[0] if envs.act_shape else 1}, ... }} in the config, and goal (and goal_weights, "
                "obs_scale) with one entry per observation")
        raise AgentError(f"{cfg.env} does not fit the model: " + "; ".join(problems) + f" ({hint})")


def discrete_levels(cfg: AgentConfig, envs: Envs, planner: Planner, kind: str) -> None:
    """The levels an enumeration takes from the actions' box (enumerate.levels for the planner,
    critic_train.levels for the critic's backups) on an environment of n discrete actions: n where the
    config leaves them out (set in `cfg`), so that they are exactly its actions. (The default 3 on
    CartPole-v1's two actions, a = -0.5, 0, 0.5, takes the left push for two of the three levels: the
    search leans left and the agent does worse than random actions.) Levels of which two are the same
    action are a located error."""
    import numpy as np
    if envs.discrete is None:
        return
    n = envs.discrete
    tables = ["enumerate"] if kind == "enumerate" else []
    if cfg.critic is not None and cfg.critic_train.target == "model":
        tables.append("critic_train")
    lo, hi = planner.box
    for name in tables:
        table = getattr(cfg, name)
        if "levels" not in table.model_fields_set:  # the environment's own actions
            table = table.model_copy(update={"levels": n})
            setattr(cfg, name, table)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue  # the enumeration says so itself
        values = np.linspace(lo, hi, table.levels, dtype=np.float32)
        actions = np.rint(envs.applied(values[:, None])[:, 0] + envs.high).astype(int).tolist()
        if len(set(actions)) < len(actions):
            fix = (f"set {name}.levels = {n}, or leave it out" if table.levels != n else
                   f"declare the actions' box to cover +-{envs.high:g} (params amax = {envs.high:g})")
            raise AgentError(f"{name}.levels = {table.levels}: the planner's levels {[round(float(v), 3) for v in values]} "
                             f"are {cfg.env}'s actions {actions} (of its {n}), some the same action, which the "
                             f"search then leans to: {fix}, so that the levels are its {n} actions")
