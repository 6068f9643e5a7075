"""The agent's config (`ebm agent CONFIG.toml`): what it reads, checked before anything runs. A
setting nothing would read is a located error; the command line's overrides (--planner, ...) are
merged into the file's settings before that check, so they are checked as if written there."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .base import ROOT, declared


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN goal is refused with the config


class CemConfig(_Strict):
    samples: int = Field(200, ge=2)  # action sequences per iteration
    elites: int = Field(20, ge=1)
    iterations: int = Field(5, ge=1)
    momentum: float = Field(0.1, ge=0, lt=1)  # share of the old mean and std kept each iteration


class EnumerateConfig(_Strict):
    levels: int = Field(3, ge=2)  # action values per dimension, the box's low to its high (a discrete
    # environment's n actions: n levels are exactly its actions, and left out, levels is its n)
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
    # (left out on a discrete environment: its n actions)
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


class GradientConfig(_Strict):
    """The gradient planner: the planner file's `infer minimize(...)` over the actions. Its descents
    start from the last plan shifted by one step and, with samples > 0, from the lowest-energy of
    `samples` plans drawn at random in the actions' box (smooth, held segments of `hold` steps), each
    judged once: a descent refines the best of a wide search instead of one guess."""
    samples: int = Field(0, ge=0)  # plans drawn and judged once each (world-model steps: samples * T)
    hold: int = Field(1, ge=1)  # the drawn plans' actions change every `hold` steps


class AgentConfig(_Strict):
    # a gymnasium environment id; "module:Env" imports the module first, which must then be listed in
    # plugins (a config names the Python it runs)
    env: str = "Pendulum-v1"
    env_kwargs: dict[str, Any] = {}  # the environment's own arguments (gym.make(env, **env_kwargs))
    plugins: list[str] = []  # modules imported before the environment is made (their gymnasium ids)
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
    planner_kind: str = "gradient"  # one of PLANNERS (ebmgraph.agent.planners); --planner overrides it
    gradient: GradientConfig = GradientConfig()
    enumerate: EnumerateConfig = EnumerateConfig()
    # "true": the planner's world model is the environment's own dynamics (TRUE_DYNAMICS in torch; for
    # any other environment, or other env_kwargs, copies of the environment itself, for the planners
    # that need no gradient), the upper reference of what the learned one can reach; the world model
    # file is then not trained
    world_model_kind: Literal["learned", "true"] = "learned"
    cem: CemConfig = CemConfig()
    seed: int = Field(0, ge=0, lt=2**63)  # torch's and numpy's generators take up to 64 bits
    random_steps: int = Field(1000, ge=1)  # transitions collected at random first
    # each random action is held this many steps (temporally correlated exploration, as colored-noise
    # CEM and TD-MPC's warm-up do): a car in a valley needs pushes longer than one step to leave it
    random_hold: int = Field(1, ge=1)
    rounds: int = Field(3, ge=0)  # planner-driven rounds of data collection, retraining after each
    episodes_per_round: int = Field(4, ge=1)  # run side by side, one batch row each
    # an episode's step limit; None: the environment's own (its TimeLimit, e.g. 500 for Acrobot-v1)
    episode_steps: int | None = Field(None, ge=1)
    max_env_steps: int = Field(10000, ge=1)  # the budget of steps learned from: collection stops here
    # evaluation episodes, from held-out starts (seeds no episode learned from is drawn from)
    eval_episodes: int = Field(50, ge=1)
    train: WorldModelTraining = WorldModelTraining()
    # Mode-1 (Fig. 5): an actor file trained to imitate Mode-2's actions, then evaluated on its own
    actor: str | None = None  # e.g. "library/agent/actor.ebm"; None: no Mode-1
    actor_epochs: int = Field(200, ge=1)
    dagger_rounds: int = Field(2, ge=0)  # the actor acts, Mode-2 labels the states it visits, retrain
    # also evaluate Mode-2 started, at every step, from the actor's plan (its actions over the predicted
    # states) instead of the last plan shifted by one step (003 sec. 3.1.3)
    actor_proposal: bool = False
    # which world model and critic the evaluation (and Mode-1, the hierarchy) use: "last", those retrained
    # on everything; "best", those that planned the round of highest return (the planning rounds are
    # the test of a retraining: one that made planning worse is not kept). No evaluation episode decides.
    keep: Literal["last", "best"] = "last"
    out_dir: str = "runs/agent"
    resume: bool = True  # a run of the same config found in out_dir goes on from its last saved round
    threads: int | None = Field(None, ge=1, le=256)
    progress: bool = True

    @field_validator("planner_kind")
    @classmethod
    def _known_planner(cls, kind: str) -> str:
        from .planners import PLANNERS
        if kind not in PLANNERS:
            raise ValueError(f"'{kind}' is not a planner; choose one of {', '.join(PLANNERS)}")
        return kind

    @model_validator(mode="after")
    def _check(self) -> AgentConfig:
        if self.cem.elites > self.cem.samples:
            raise ValueError(f"cem.elites ({self.cem.elites}) must not exceed cem.samples ({self.cem.samples})")
        return self


def load_agent_config(path: str | Path, overrides: dict[str, Any] | None = None) -> AgentConfig:
    """The config of a file, with `overrides` (the command line's) merged into its top-level keys
    before it is validated: an override is checked as if the file said it."""
    from ..training.config import parse_toml, read_config_text
    p = Path(path)
    text = read_config_text(p)
    cfg = parse_toml(text, str(path), AgentConfig, overrides=overrides)
    cfg.__dict__["_text"], cfg.__dict__["_file"] = text, str(path)
    _check_used(cfg)
    for key in ("world_model", "planner", "actor", "critic", "cost"):
        if getattr(cfg, key) is not None:
            setattr(cfg, key, resolve_file(cfg, getattr(cfg, key), (key,)))
    if cfg.hierarchy is not None:
        cfg.hierarchy.file = resolve_file(cfg, cfg.hierarchy.file, ("hierarchy", "file"))
    if not Path(cfg.out_dir).is_absolute():
        cfg.out_dir = str(Path.cwd() / cfg.out_dir)
    return cfg


def _check_used(cfg: AgentConfig) -> None:
    """A setting the file makes that nothing would read is a located error, not dropped in silence."""
    from ..training.loop import _config_error
    from .planners import PLANNERS
    unread = {"critic_train": (cfg.critic is None, "no critic is trained", "set critic = \"library/agent/critic.ebm\""),
              "cost": (cfg.critic is None, "only the critic's targets read it (the planner imports its own)",
                       "set critic = ..., or remove cost"),
              **{cls.table: (cfg.planner_kind != kind, f"planner_kind is \"{cfg.planner_kind}\"",
                             f"set planner_kind = \"{kind}\" (--planner {kind} chooses it at the command line)")
                 for kind, cls in PLANNERS.items() if cls.table is not None},
              **{k: (cfg.actor is None, "there is no actor (Mode-1)", "set actor = \"library/agent/actor.ebm\"")
                 for k in ("actor_epochs", "dagger_rounds", "actor_proposal")}}
    module = unlisted_module(cfg)
    if module is not None:
        raise _config_error(cfg, ("env",), f"env = \"{cfg.env}\" imports the module '{module}', which plugins does "
                            "not list", hint=f"add plugins = [\"{module}\"] to run its code")
    for key, (dead, why, hint) in unread.items():
        if dead and key in cfg.model_fields_set:
            raise _config_error(cfg, (key,), f"{key} is set, but nothing reads it: {why}", hint=hint)
    h = cfg.hierarchy
    if h is not None and h.latent == "none" and "latent_samples" in h.model_fields_set:
        raise _config_error(cfg, ("hierarchy", "latent_samples"), "hierarchy.latent_samples is set, but nothing "
                            "reads it: latent = \"none\" draws no z", hint="set latent = \"expected\" or \"worst\", "
                            "or remove latent_samples")


def unlisted_module(cfg: AgentConfig) -> str | None:
    """The module an env id of the form "module:Env" imports, when plugins does not list it."""
    module = cfg.env.split(":")[0] if ":" in cfg.env else None
    return module if module is not None and module not in cfg.plugins else None


def resolve_file(cfg: AgentConfig, name: str, loc: tuple[str, ...]) -> str:
    """A part file's path: as given when absolute, else beside the config, else in the project."""
    f = Path(name)
    config = cfg.__dict__.get("_file")
    here = Path(config).resolve().parent if config else Path.cwd()
    tried = [f] if f.is_absolute() else [here / f, ROOT / f]
    found = next((t for t in tried if t.is_file()), None)
    if found is None:
        from ..training.loop import _config_error
        raise _config_error(cfg, loc, f"{'.'.join(loc)}: no file '{f}' (looked for {' and '.join(map(str, tried))})",
                            hint="a path relative to the config's folder, or to the project (library/agent/...)")
    return str(found)


def quick(cfg: AgentConfig) -> AgentConfig:
    """The same run, small: for the tests and a first look."""
    return cfg.model_copy(update={
        "random_steps": min(cfg.random_steps, 200), "rounds": min(cfg.rounds, 1), "episodes_per_round": 2,
        "episode_steps": min(cfg.episode_steps or 20, 20), "eval_episodes": 2,
        "train": cfg.train.model_copy(update={"epochs": 2}), "actor_epochs": 2, "dagger_rounds": min(cfg.dagger_rounds, 1),
        "params": {**cfg.params, "T": min(int(cfg.params.get("T", 5)), 5), "hidden": 16},
        "cem": cfg.cem.model_copy(update={"samples": 16, "elites": 4, "iterations": 2}),
        "gradient": cfg.gradient.model_copy(update={"samples": min(cfg.gradient.samples, 16)}),
        "enumerate": cfg.enumerate.model_copy(update={"hold": 1}),  # 3^5 plans over the quick T = 5
        "critic_train": cfg.critic_train.model_copy(update={"iterations": 2, "steps": 5, "hold": 2}),
        "hierarchy": None if cfg.hierarchy is None else cfg.hierarchy.model_copy(update={
            "k": min(cfg.hierarchy.k, 5), "horizon": min(cfg.hierarchy.horizon, 3), "epochs": 2, "latent_samples": 2,
            "cem": CemConfig(samples=16, elites=4, iterations=2), "lower_cem": CemConfig(samples=16, elites=4,
                                                                                      iterations=2)})})




def check_params(cfg: AgentConfig) -> None:
    """Every parameter of the config is declared by one of the files it is given to."""
    files = [f for f in (cfg.world_model, cfg.planner, cfg.actor, cfg.critic,
                         cfg.hierarchy.file if cfg.hierarchy else None) if f is not None]
    known = set().union(*(declared(f) for f in files))
    unknown = sorted(set(cfg.params) - known)
    if unknown:
        import difflib

        from ..training.loop import _config_error
        hints = [f"'{k}'" + (f" (did you mean '{c[0]}'?)" if (c := difflib.get_close_matches(k, known, 1)) else "")
                 for k in unknown]
        raise _config_error(cfg, ("params",), f"params: {', '.join(hints)} is declared by none of "
                            f"{', '.join(Path(f).name for f in files)}",
                            hint=f"they declare {', '.join(sorted(known))}")
