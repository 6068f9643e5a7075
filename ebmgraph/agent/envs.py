"""The agent's environments: gymnasium's own, made from the config (its id, its arguments, its step
limit), wrapped so that observations come in state units and actions go out as the planner plans
them, and stepped side by side by gymnasium's vector env, one batch row each.

Where episodes start. Every episode the run learns from (random, planning rounds, DAgger) starts
from a seed drawn from the run's own stream below HELD_OUT; every evaluation episode starts from a
seed at HELD_OUT or above. The two sets are disjoint by construction, and the memory refuses an
episode from the held-out set (`memory.Memory.add`)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from .base import AgentError
from .config import AgentConfig

HELD_OUT = 2 ** 31  # the first evaluation start's seed; every learned-from start is below it


class Purpose(IntEnum):
    """Why an episode is run: each draws its starts from its own stream of the run's seed."""
    RANDOM = 0
    ROUND = 1
    DAGGER = 2


def start_seeds(run_seed: int, purpose: Purpose, first: int, n: int) -> list[int]:
    """The starts of n episodes the run learns from: seeds below HELD_OUT, a stream per purpose."""
    import numpy as np
    return [int(np.random.SeedSequence([run_seed, int(purpose), first + i]).generate_state(1)[0]) & (HELD_OUT - 1)
            for i in range(n)]


def held_out(n: int, first: int = 0) -> list[int]:
    """The starts of n evaluation episodes: the same for every run (so seeds and planners compare on the
    same starts), and never one a run learns from."""
    return [HELD_OUT + first + i for i in range(n)]


def make_env(cfg: AgentConfig) -> Any:
    """One environment of the config, wrapped: observations times obs_scale, as float32; a discrete set
    of n actions as the number a in R[1], centred (action i is a = i - (n - 1) / 2: MountainCar-v0's
    -1 left, 0 none, 1 right), the nearest one taken; a box's actions clipped into it."""
    import gymnasium as gym
    import numpy as np

    from .config import unlisted_module
    module = unlisted_module(cfg)
    if module is not None:
        raise AgentError(f"env = \"{cfg.env}\" imports the module '{module}': list it in plugins = [\"{module}\"] "
                         "to run its code")
    if cfg.plugins:
        from ..plugins import PluginError, import_modules
        try:
            import_modules(cfg.plugins)
        except PluginError as exc:
            raise AgentError(str(exc)) from None
    from . import pixels, tworooms  # noqa: F401 - register the project's own environments (ebmgraph/...)
    kwargs: dict[str, Any] = dict(cfg.env_kwargs)
    if cfg.episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.episode_steps
    try:
        env = gym.make(cfg.env, **kwargs)
    except (gym.error.Error, TypeError, ModuleNotFoundError, AttributeError, ValueError) as exc:
        raise AgentError(f"environment '{cfg.env}' with env_kwargs {cfg.env_kwargs}: {exc}") from None
    if env.spec is None or env.spec.max_episode_steps is None:
        env.close()
        raise AgentError(f"'{cfg.env}' has no step limit of its own (no TimeLimit): set episode_steps in the config")
    obs = env.observation_space
    if not isinstance(obs, gym.spaces.Box):
        env.close()
        raise AgentError(f"'{cfg.env}' observes {obs}; the agent's world model takes a box of numbers")
    k = np.asarray(cfg.obs_scale if cfg.obs_scale is not None else 1.0, dtype=np.float32)
    if cfg.obs_scale is not None and k.shape != obs.shape:
        env.close()
        raise AgentError(f"obs_scale has {k.size} entries, but {cfg.env} observes shape {obs.shape}: give obs_scale "
                         "one entry per observation")
    space = gym.spaces.Box((obs.low * k).astype(np.float32), (obs.high * k).astype(np.float32), dtype=np.float32)
    env = gym.wrappers.TransformObservation(env, lambda o: (np.asarray(o, dtype=np.float32) * k), space)
    act = env.action_space
    if isinstance(act, gym.spaces.Discrete):
        env = _centred_discrete()(env)
    elif isinstance(act, gym.spaces.Box):
        env = gym.wrappers.ClipAction(env)
    else:
        env.close()
        raise AgentError(f"'{cfg.env}' acts in {act}; the agent plans a box of numbers or a discrete set")
    return env


def _centred_discrete() -> Any:
    import gymnasium as gym
    import numpy as np

    class _CentredDiscrete(gym.ActionWrapper):
        """Discrete(n) as the box [-(n - 1) / 2, (n - 1) / 2] in R[1]: the nearest action is taken."""

        def __init__(self, env: Any) -> None:
            super().__init__(env)
            self.n = int(env.action_space.n)
            self.half = (self.n - 1) / 2
            self.action_space = gym.spaces.Box(-self.half, self.half, (1,), dtype=np.float32)

        def action(self, a: Any) -> int:
            return int(np.clip(np.rint(np.asarray(a, dtype=np.float64).reshape(-1)[0] + self.half), 0, self.n - 1))

    return _CentredDiscrete


def episode_limit(cfg: AgentConfig) -> int:
    """The episode's step limit: the config's episode_steps, else the environment's own TimeLimit."""
    env = make_env(cfg)
    try:
        return int(env.spec.max_episode_steps)
    finally:
        env.close()


class Envs:
    """n environments of the config stepped side by side (gymnasium's SyncVectorEnv); an episode
    that has ended is not stepped on (its rows stay as they ended) until the next reset."""

    def __init__(self, cfg: AgentConfig, n: int) -> None:
        import gymnasium as gym
        import numpy as np
        first = make_env(cfg)
        self.vec = gym.vector.SyncVectorEnv([lambda: first] + [lambda: make_env(cfg)] * (n - 1))
        one = first.unwrapped
        raw = one.action_space
        self.discrete = int(raw.n) if isinstance(raw, gym.spaces.Discrete) else None
        space = first.action_space if self.discrete is not None else raw  # ClipAction's own is unbounded
        self.low, self.high = float(space.low.min()), float(space.high.max())
        self.act_shape: tuple[int, ...] = tuple(space.shape or ())
        self.obs_shape = tuple(first.observation_space.shape or ())
        obs = first.observation_space  # the observation box in state units (infinite where unbounded)
        self.obs_box = (np.asarray(obs.low, dtype=np.float64), np.asarray(obs.high, dtype=np.float64))
        self.limit = int(first.spec.max_episode_steps)  # the episode's step limit (its TimeLimit)
        self.n = n
        self.ended = np.zeros(n, dtype=bool)  # whose episode has ended (reset clears it)
        self.terminated = np.zeros(n, dtype=bool)  # ended at its goal (or failure), not cut at a step limit
        self.last: Any = None  # the states of the last step

    @property
    def envs(self) -> list[Any]:
        """The environments themselves, one a row (their state is the episode's)."""
        return list(self.vec.envs)

    def applied(self, a: Any) -> Any:
        """The actions as the environments take them: within the box, and one of the n for a discrete set
        (what the world model learns from)."""
        import numpy as np
        a = np.clip(np.asarray(a, dtype=np.float32), self.low, self.high)
        return (np.rint(a + self.high) - self.high).astype(np.float32) if self.discrete is not None else a

    def reset(self, seeds: list[int]) -> Any:
        import numpy as np
        if len(seeds) != self.n:
            raise ValueError(f"{len(seeds)} seeds for {self.n} environments")
        self.ended = np.zeros(self.n, dtype=bool)
        self.terminated = np.zeros(self.n, dtype=bool)
        obs, _ = self.vec.reset(seed=[int(x) for x in seeds])
        self.last = np.asarray(obs, dtype=np.float32)
        return self.last

    def step(self, actions: Any) -> tuple[Any, Any, Any]:
        """(states, rewards, ended): an environment whose episode ended (terminated, e.g. the car at the
        flag, or truncated at its limit) keeps its last state and reward 0 until the next reset."""
        import numpy as np
        obs, rew, term, trunc, _ = self.vec.step(np.asarray(actions, dtype=np.float32).reshape(self.n, *self.act_shape))
        live = ~self.ended
        states = np.where(live[:, None], np.asarray(obs, dtype=np.float32), self.last)
        rewards = np.where(live, np.asarray(rew, dtype=np.float64), 0.0)
        self.terminated |= live & np.asarray(term, dtype=bool)
        self.ended |= live & (np.asarray(term, dtype=bool) | np.asarray(trunc, dtype=bool))
        self.last = states
        return states, rewards, self.ended.copy()

    def close(self) -> None:
        self.vec.close()
