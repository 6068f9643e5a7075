"""Planning in representation space (003 sec. 3.1.2, 4.7-4.8, Fig. 15-17): a world model learned
from pixels (pixel_jepa.ebm) is planned with no state given and no cost written by hand. The planner
file's Lower model unrolls the predictor over T steps from the representation of what the agent sees;
its energy is the distance of each predicted representation to the goal image's. Hierarchically, the
file's Upper model unrolls the coarse predictor (K steps a jump, on an action held over them) over U
jumps; the representation it predicts after its first jump is the subgoal Lower plans towards.

The same planners run over the true state where the world is given as functions (a `World`): the
upper reference of what a learned world model can reach (tworooms.true_world).

    world = learned_world(jepa, lower, upper, K)   # the compiled files, the JEPA's weights shared
    result = evaluate(world, tasks, Search(...), hierarchical=True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import AgentError, share_weights
from .config import CemConfig
from .planners import cem


@dataclass
class World:
    """What the planners need of a world model: the state of observations (the encoder, or the true
    state), the planning energy of action sequences from states towards goals at each level, and the
    state the upper level predicts after its first jump (the subgoal)."""

    encode: Callable[[Any], Any]  # observations (rows, ...) -> states (rows, ds)
    lower: Callable[[Any, Any, Any], Any]  # (s (n, ds), goal (n, ds), actions (n, T, da)) -> energy (n,)
    upper: Callable[[Any, Any, Any], Any] | None  # the same over U jumps; None: no hierarchy
    first_jump: Callable[[Any, Any], Any] | None  # (s (n, ds), A (n, da)) -> the state after one jump
    T: int  # the lower horizon
    U: int  # the upper horizon (jumps)
    K: int  # lower steps per jump
    da: int
    box: tuple[float, float] = (-1.0, 1.0)
    reads: str = "obs"  # what encode takes: the observation ("obs") or the true state ("state", a reference)


@dataclass
class Search:
    """How the planners search: CEM at each level, replanning every step (receding horizon)."""

    lower: CemConfig = field(default_factory=lambda: CemConfig(samples=128, elites=12, iterations=3))
    upper: CemConfig = field(default_factory=lambda: CemConfig(samples=128, elites=12, iterations=4))
    subgoal: int = 1  # the upper plan's jump whose predicted state is the lower level's subgoal
    best: bool = True  # the upper level keeps its best drawn plan, not the elites' mean (cem's best)


def _energy_fn(model: Any, actions: list[str]) -> Callable[[Any, Any, Any], Any]:
    def energy(s: Any, goal: Any, acts: Any) -> Any:
        vals = {"s[0]": s, "goal": goal, **{a: acts[:, t] for t, a in enumerate(actions)}}
        return model.energy(**vals).total
    return energy


def _actions(model: Any, file: str) -> list[str]:
    names = [v.name for v in model.graph.variables if v.role == "latent" and v.name.startswith("a[")]
    if not names or not model.graph.has_var("s[0]") or not model.graph.has_var("goal"):
        raise AgentError(f"{file} must declare observed s[0], observed goal and latent actions a[0..T - 1]")
    return sorted(names, key=lambda n: int(n[2:-1]))


def _first_jump_state(upper: Any, U: int) -> str:
    """The upper model's state after its first jump: the output (`inst[i].s_next`) of the chained
    instance that ends it, whether a jump is one coarse step (Upper: j[0]) or K lower ones (Macro:
    f[K - 1]); the chain's length over the U abstract actions is the steps per jump."""
    import re
    chain = sorted((int(m.group(2)), v.name) for v in upper.graph.variables
                   if (m := re.fullmatch(r"(\w+)\[(\d+)\]\.s_next", v.name)))
    if not chain or len(chain) % U:
        raise AgentError(f"the planner's upper level must chain U = {U} jumps (or U * K steps) of instances "
                         f"whose output is s_next; it chains {len(chain)}")
    return chain[len(chain) // U - 1][1]


def learned_world(jepa: Any, lower: Any, upper: Any | None, K: int) -> World:
    """The world of a trained JEPA (pixel_jepa.ebm's PixelJEPA): its encoder e[0], and the planner
    file's Lower (and Upper) with the JEPA's trained predictors (Step's pred, Jump's jump)."""
    import torch
    share_weights(jepa, lower)
    acts = _actions(lower, "the planner's Lower")
    box = lower.graph.var(acts[0]).domain.box or (-1.0, 1.0)

    def encode(obs: Any) -> Any:
        with torch.no_grad():
            return jepa.partial({"o[0]": obs})["e[0].s"]

    up = first = None
    U = 0
    if upper is not None:
        share_weights(jepa, upper)
        uacts = _actions(upper, "the planner's Upper")
        up, U = _energy_fn(upper, uacts), len(uacts)

        after = _first_jump_state(upper, U)

        def first(s: Any, A: Any) -> Any:
            with torch.no_grad():
                return upper.partial({"s[0]": s, "goal": s, **{a: A for a in uacts}})[after]
    return World(encode, _energy_fn(lower, acts), up, first, T=len(acts), U=U, K=K,
                 da=int(lower.graph.var(acts[0]).domain.shape[-1]), box=(float(box[0]), float(box[1])))


@dataclass
class Episode:
    """One held-out task as the agent did it: its true path, subgoals (as states) and outcome."""

    start: Any
    goal: Any
    path: list[Any]
    subgoals: list[Any]
    success: bool
    steps: int
    ret: float = 0.0  # the sum of the environment's rewards


@dataclass
class Outcome:
    episodes: list[Episode]
    evaluations_per_action: float  # predictor steps per action, per task
    ms_per_action: float  # wall-clock per action, per task (the batch's time over its rows)

    @property
    def success(self) -> float:
        return sum(e.success for e in self.episodes) / max(1, len(self.episodes))

    @property
    def mean_return(self) -> float:
        return sum(e.ret for e in self.episodes) / max(1, len(self.episodes))


class Agent:
    """Receding-horizon planning for a batch of tasks: each step, each running task's plan from what
    it sees, started from its last plan shifted by one step."""

    def __init__(self, world: World, search: Search, hierarchical: bool) -> None:
        if hierarchical and world.upper is None:
            raise AgentError("hierarchical planning needs the planner file's Upper model and the JEPA's Jump")
        self.world, self.search, self.hierarchical = world, search, hierarchical
        self.evaluations = 0

    def reset(self, rows: int) -> None:
        import torch
        w = self.world
        self.warm = torch.zeros(rows, w.T, w.da)
        self.warm_up = torch.zeros(rows, w.U, w.da) if self.hierarchical else None

    def keep(self, idx: Any) -> None:
        self.warm = self.warm[idx]
        if self.warm_up is not None:
            self.warm_up = self.warm_up[idx]

    def act(self, s: Any, goal: Any) -> tuple[Any, Any]:
        """Actions (rows, da) for states s (rows, ds) towards goals (rows, ds); and the subgoals."""
        import torch
        w, rows = self.world, len(s)
        target = goal
        if self.hierarchical:
            c = self.search.upper
            mean = cem(lambda A: self._score(w.upper, s, goal, A), self.warm_up, c, *w.box,  # type: ignore[arg-type]
                       best=self.search.best)
            self.evaluations += rows * c.samples * c.iterations * w.U
            with torch.no_grad():
                st = s
                for u in range(self.search.subgoal):
                    st = w.first_jump(st, mean[:, u])  # type: ignore[misc]
            target = st
            self.warm_up = mean  # a jump is K steps: the plan still starts here next step
        c = self.search.lower
        mean = cem(lambda a: self._score(w.lower, s, target, a), self.warm, c, *w.box)
        self.evaluations += rows * c.samples * c.iterations * w.T
        self.warm = torch.cat([mean[:, 1:], mean[:, -1:]], 1)
        return mean[:, 0], target

    @staticmethod
    def _score(fn: Callable[[Any, Any, Any], Any], s: Any, goal: Any, samples: Any) -> Any:
        rows, n = samples.shape[:2]
        return fn(s.repeat_interleave(n, 0), goal.repeat_interleave(n, 0),
                  samples.reshape(rows * n, *samples.shape[2:])).reshape(rows, n)


@dataclass
class Tasks:
    """How an environment's held-out tasks are set up and read: `reset(env, task) -> (obs, info)`,
    the goal image and the goal's true state of a task (the first argument is the reset env), and the
    info key of the true state a path records. The default is Two Rooms' (task = (start, goal))."""

    make_env: Callable[[], Any]
    reset: Callable[[Any, Any], tuple[Any, dict[str, Any]]]
    goal_image: Callable[[Any, Any], Any]
    goal_state: Callable[[Any, Any], Any]
    state: str = "pos"


def tworooms_tasks() -> Tasks:
    from .tworooms import TwoRooms
    return Tasks(TwoRooms, lambda env, task: env.reset(options={"start": task[0], "goal": task[1]}),
                 lambda env, task: env.goal_image(), lambda env, task: task[1])


def evaluate(world: World, tasks: list[Any], search: Search, hierarchical: bool = False,
             setup: Tasks | None = None, limit: int = 200,
             progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Every task run side by side (one batch row each) until it succeeds (the environment
    terminates) or `limit` steps pass: the agent sees the environment's observation and the goal
    image (a world that reads the true state sees those instead). The rewards are summed."""
    setup = setup or tworooms_tasks()
    envs = [setup.make_env() for _ in tasks]
    try:
        return _run(world, tasks, search, hierarchical, setup, envs, limit, progress)
    finally:
        for e in envs:
            if hasattr(e, "close"):
                e.close()


def _run(world: World, tasks: list[Any], search: Search, hierarchical: bool, setup: Tasks, envs: list[Any],
         limit: int, progress: Callable[[int, int], None] | None) -> Outcome:
    import numpy as np
    import torch
    first = [setup.reset(e, task) for e, task in zip(envs, tasks, strict=True)]
    obs = [o for o, _ in first]
    states = [np.asarray(info[setup.state], float) for _, info in first]
    by_state = world.reads == "state"

    def seen(rows: list[int]) -> Any:
        x = np.stack([states[i] if by_state else obs[i] for i in rows])
        return world.encode(torch.tensor(x, dtype=torch.float64 if by_state else torch.float32))

    goal_states = [np.asarray(setup.goal_state(e, t), float) for e, t in zip(envs, tasks, strict=True)]
    goal_x = goal_states if by_state else [setup.goal_image(e, t) for e, t in zip(envs, tasks, strict=True)]
    goals = world.encode(torch.tensor(np.stack(goal_x), dtype=torch.float64 if by_state else torch.float32))
    eps = [Episode(states[i].copy(), goal_states[i], [states[i].copy()], [], False, 0) for i in range(len(tasks))]
    agent = Agent(world, search, hierarchical)
    agent.reset(len(tasks))
    live = list(range(len(tasks)))
    actions = 0
    t0 = time.perf_counter()
    for step in range(limit):
        if not live:
            break
        a, sub = agent.act(seen(live), goals[live])
        actions += len(live)
        keep = []
        for j, i in enumerate(live):
            obs[i], r, done, _, info = envs[i].step(a[j].float().numpy())
            states[i] = np.asarray(info[setup.state], float)
            ep = eps[i]
            ep.path.append(states[i].copy())
            ep.subgoals.append(sub[j].numpy())
            ep.steps, ep.ret = step + 1, ep.ret + float(r)
            if done:
                ep.success = True
            else:
                keep.append(j)
        live = [live[j] for j in keep]
        agent.keep(torch.tensor(keep, dtype=torch.long))
        if progress is not None:
            progress(step + 1, len(tasks) - len(live))
    secs = time.perf_counter() - t0
    return Outcome(eps, agent.evaluations / max(1, actions), 1000 * secs / max(1, actions))
