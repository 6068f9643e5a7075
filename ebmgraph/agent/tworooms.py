"""Two Rooms: the wall task of PLDM (Sobal et al. 2025, "Planning with Latent Dynamics Models",
kevinghst/HWM_PLDM environments/wall), rebuilt small, as a gymnasium environment that gives pixels.

A point agent in a 64x64 arena split by a vertical wall (3 px thick, x in [31, 34)) with one door
(10 px, y in [27, 37)). The action is a velocity in [-1, 1]^2, times SPEED = 2.5 px per step; a
move that would enter the wall (outside the door) or leave the arena is not made (no sliding).
The observation is what the agent sees: two 64x64 channels in [0, 1], the agent (a Gaussian blob
at its position, sub-pixel) and the walls. The true position stays in `info["pos"]` (for
evaluation and probes), with the goal and whether it is reached. A task starts in the left room
with its goal in the right one; success is being within RADIUS = 4 px of the goal (the episode
then terminates), within the 200 steps of its TimeLimit. `held_out_tasks(100)` are the fixed
evaluation tasks, drawn from seeds no data collection uses (see envs.HELD_OUT).

    import ebmgraph.agent.tworooms      # registers it (the agent's configs need not: env = "ebmgraph/TwoRooms-v0")
    gym.make("ebmgraph/TwoRooms-v0")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .envs import HELD_OUT

SIZE = 64
WALL = (31.0, 34.0)  # the wall's x range
DOOR = (27.0, 37.0)  # the door's y range
SPEED = 2.5  # px per step at |a| = 1 on an axis
RADIUS = 4.0  # success: within this distance of the goal
MARGIN = 4.0  # starts and goals keep this far from the walls and the arena's edge
BLOB = 1.2  # the agent's drawn radius (the Gaussian's sigma, px)
ID = "ebmgraph/TwoRooms-v0"


def free(x: float, y: float) -> bool:
    """A point the agent may be at: inside the arena, not in the wall unless in the door."""
    if not (0.0 <= x < SIZE and 0.0 <= y < SIZE):
        return False
    return not (WALL[0] <= x < WALL[1] and not DOOR[0] <= y < DOOR[1])


def walls() -> Any:
    """The walls' channel: 1 on every pixel whose centre is not free."""
    c = np.arange(SIZE) + 0.5
    return np.array([[0.0 if free(x, y) else 1.0 for x in c] for y in c], dtype=np.float32)


_WALLS = walls()
_GRID = np.arange(SIZE, dtype=np.float32) + 0.5


def draw(pos: Any) -> Any:
    """The observation of the agent at pos: (2, 64, 64), the agent's blob and the walls."""
    gx = np.exp(-0.5 * ((_GRID - pos[0]) / BLOB) ** 2)
    gy = np.exp(-0.5 * ((_GRID - pos[1]) / BLOB) ** 2)
    return np.stack([np.outer(gy, gx).astype(np.float32), _WALLS])


def draw_torch(pos: Any) -> Any:
    """`draw` batched in torch: positions (n, 2) -> observations (n, 2, 64, 64), float32."""
    import torch
    g = torch.arange(SIZE, dtype=torch.float32) + 0.5
    p = torch.as_tensor(pos, dtype=torch.float32)
    gx = torch.exp(-0.5 * ((g - p[:, :1]) / BLOB) ** 2)
    gy = torch.exp(-0.5 * ((g - p[:, 1:]) / BLOB) ** 2)
    blob = gy[:, :, None] * gx[:, None, :]
    return torch.stack([blob, torch.from_numpy(_WALLS).expand_as(blob)], 1)


def draw_task(rng: Any) -> tuple[Any, Any]:
    """A start in the left room and a goal in the right one, each at least MARGIN from any wall."""
    def room(lo: float, hi: float) -> Any:
        return np.array([rng.uniform(lo + MARGIN, hi - MARGIN), rng.uniform(MARGIN, SIZE - MARGIN)])
    return room(0.0, WALL[0]), room(WALL[1], SIZE)


def held_out_tasks(n: int = 100) -> list[tuple[Any, Any]]:
    """The fixed evaluation tasks: task i from the seed HELD_OUT + i, never a data collection's."""
    return [draw_task(np.random.default_rng(HELD_OUT + i)) for i in range(n)]


def explore(n: int, steps: int = 17, seed: int = 0, hold: int = 1) -> dict[str, Any]:
    """The offline data of a world model (PLDM's): n random-exploration trajectories of `steps` frames,
    each from a free start anywhere in the arena (a seed of the run's RANDOM stream, below HELD_OUT),
    with uniform random actions each held `hold` steps. Returns positions (n, steps, 2), actions
    (n, steps - 1, 2) and the start seeds; `observations` draws what the agent saw."""
    from .envs import Purpose, start_seeds
    seeds = start_seeds(seed, Purpose.RANDOM, 0, n)
    env = TwoRooms()
    pos = np.zeros((n, steps, 2))
    acts = np.zeros((n, steps - 1, 2), dtype=np.float32)
    for i, s in enumerate(seeds):
        rng = np.random.default_rng(s)
        start = np.array([rng.uniform(0, SIZE), rng.uniform(0, SIZE)])
        while not free(*start) or min(start.min(), SIZE - start.max()) < MARGIN / 2:
            start = np.array([rng.uniform(0, SIZE), rng.uniform(0, SIZE)])
        env.reset(seed=s, options={"start": start, "goal": start})
        pos[i, 0] = env.pos
        for t in range(steps - 1):
            if t % hold == 0:
                a = rng.uniform(-1.0, 1.0, 2).astype(np.float32)
            acts[i, t] = a
            env.step(a)
            pos[i, t + 1] = env.pos
    return {"pos": pos, "actions": acts, "seeds": np.asarray(seeds, dtype=np.int64)}


def observations(pos: Any) -> Any:
    """What the agent saw at each position: (..., 2) -> (..., 2, 64, 64)."""
    flat = np.asarray(pos).reshape(-1, 2)
    return np.stack([draw(p) for p in flat]).reshape(*np.shape(pos)[:-1], 2, SIZE, SIZE)


class TwoRooms(gym.Env[Any, Any]):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2, SIZE, SIZE), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.render_mode = render_mode
        self.pos = np.zeros(2)
        self.goal = np.zeros(2)

    def _info(self) -> dict[str, Any]:
        d = float(np.linalg.norm(self.pos - self.goal))
        return {"pos": self.pos.copy(), "goal": self.goal.copy(), "distance": d, "success": d < RADIUS}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """A task drawn from the seed, or the one options gives ({"start": (x, y), "goal": (x, y)})."""
        super().reset(seed=seed)
        options = options or {}
        start, goal = draw_task(self.np_random)
        self.pos = np.asarray(options.get("start", start), dtype=np.float64)
        self.goal = np.asarray(options.get("goal", goal), dtype=np.float64)
        for name, p in (("start", self.pos), ("goal", self.goal)):
            if p.shape != (2,) or not free(*p):
                raise ValueError(f"TwoRooms: the {name} {p.tolist()} is not a free point of the arena")
        return draw(self.pos), self._info()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        new = self.pos + SPEED * a
        # the move is made only if every point along it is free (0.25 px apart: the wall is 3 px thick)
        if all(free(*(self.pos + t * (new - self.pos))) for t in np.linspace(0.0, 1.0, 11)):
            self.pos = new
        info = self._info()
        return draw(self.pos), -info["distance"] / SIZE, bool(info["success"]), False, info

    def goal_image(self) -> Any:
        """The observation of the agent at the goal: what a planner in representation space aims at."""
        return draw(self.goal)

    def render(self) -> Any:
        """RGB 64x64: walls grey, the goal red, the agent white."""
        img = np.zeros((SIZE, SIZE, 3), dtype=np.float32)
        img += _WALLS[:, :, None] * 0.5
        img[:, :, 0] = np.maximum(img[:, :, 0], draw(self.goal)[0])
        img = np.maximum(img, draw(self.pos)[0][:, :, None])
        return (np.clip(img, 0, 1) * 255).astype(np.uint8)


if ID not in gym.registry:
    gym.register(id=ID, entry_point="ebmgraph.agent.tworooms:TwoRooms", max_episode_steps=200)


def step_torch(pos: Any, a: Any) -> Any:
    """The environment's own step, batched in torch: positions (n, 2) and actions (n, 2) -> (n, 2)."""
    import torch
    a = a.clamp(-1.0, 1.0)
    new = pos + SPEED * a
    t = torch.linspace(0.0, 1.0, 11, dtype=pos.dtype)
    pts = pos[:, None] + t[None, :, None] * (new - pos)[:, None]  # (n, 11, 2)
    x, y = pts[..., 0], pts[..., 1]
    inside = (x >= 0) & (x < SIZE) & (y >= 0) & (y < SIZE)
    in_wall = (x >= WALL[0]) & (x < WALL[1]) & ~((y >= DOOR[0]) & (y < DOOR[1]))
    ok = (inside & ~in_wall).all(1, keepdim=True)
    return torch.where(ok, new, pos)


def true_world(T: int = 12, U: int = 8, K: int = 4) -> Any:
    """The planners' world over the true position (the upper reference): the state is the position
    (px / SIZE), stepped by the environment's own dynamics; a jump is K steps of one held action. The
    cost is the same as the learned world's, the squared distance to the goal's state at every step."""
    import torch

    from .latent import World

    def encode(obs: Any) -> Any:  # the position is where the agent's channel is brightest (sub-pixel: its mean)
        blob = obs[:, 0]
        w = blob / blob.sum((1, 2), keepdim=True)
        g = torch.arange(SIZE, dtype=obs.dtype) + 0.5
        return torch.stack([(w.sum(1) * g).sum(1), (w.sum(2) * g).sum(1)], 1) / SIZE

    def roll(s: Any, goal: Any, acts: Any, hold: int, squared: bool) -> Any:
        pos, cost = s * SIZE, torch.zeros(len(s))
        for t in range(acts.shape[1]):
            for _ in range(hold):
                pos = step_torch(pos, acts[:, t])
            d = ((pos / SIZE - goal) ** 2).sum(1)
            cost = cost + (d if squared else (d + 1e-8).sqrt())
        return cost

    def first(s: Any, A: Any) -> Any:
        pos = s * SIZE
        for _ in range(K):
            pos = step_torch(pos, A)
        return pos / SIZE

    return World(encode, lambda s, g, a: roll(s, g, a, 1, True), lambda s, g, a: roll(s, g, a, K, False), first,
                 T=T, U=U, K=K, da=2)
