"""What the pixel agent (pixel_agent.py) needs of each environment that gives pixels, one `Suite`
each: its offline data (collected once, kept as .npz), the training batches made from it, what a
probe reads (the true state of an observation), its held-out tasks and how they are set up and
scored, and its true world (the planners' upper reference).

- Two Rooms (tworooms.py): the data keeps positions and the frames are drawn per batch; a task is
  (start, goal), scored by success; the probe reads the position.
- Pendulum from pixels (pixels.py): the data keeps gymnasium's rendered frames (uint8); a task is a
  held-out start (the seed the state-based agent's evaluation uses: the same starts), scored by the
  return over the episode; the probe reads (cos th, sin th, th' / 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Suite:
    env: str
    metric: str  # "success" (a rate) or "return" (a mean)
    channels: int
    da: int
    probe_target: str  # what the probe reads, in words
    collect: Callable[[int, int, int, int], dict[str, Any]]  # (n, steps, seed, hold) -> arrays (npz)
    batches: Callable[[dict[str, Any], int], Callable[[Any], dict[str, Any]]]  # (data, T) -> rows -> tensors
    first_obs: Callable[[dict[str, Any]], Any]  # data -> each trajectory's first observation (n, c, 64, 64)
    targets: Callable[[dict[str, Any]], Any]  # data -> the true state of those observations (n, k)
    pixels: Callable[[Any], Any]  # observations -> what PCA of the pixels sees (n, d)
    tasks: Callable[[int], list[Any]]  # the n held-out tasks
    setup: Callable[[], Any]  # latent.Tasks
    true_world: Callable[[int, int, int], Any]  # (T, U, K) -> latent.World over the true state


# ---- Two Rooms -------------------------------------------------------------------------------

def _tr_collect(n: int, steps: int, seed: int, hold: int) -> dict[str, Any]:
    from . import tworooms as tr
    return tr.explore(n, steps=steps, seed=seed, hold=hold)


def _tr_batches(data: dict[str, Any], T: int) -> Callable[[Any], dict[str, Any]]:
    import torch

    from . import tworooms as tr
    pos, acts = torch.tensor(data["pos"], dtype=torch.float32), torch.tensor(data["actions"])

    def make(idx: Any) -> dict[str, Any]:
        obs = tr.draw_torch(pos[idx].reshape(-1, 2)).reshape(len(idx), T + 1, 2, tr.SIZE, tr.SIZE)
        return {**{f"o[{t}]": obs[:, t] for t in range(T + 1)}, **{f"a[{t}]": acts[idx, t] for t in range(T)}}
    return make


def _tr_first(data: dict[str, Any]) -> Any:
    from . import tworooms as tr
    return tr.observations(data["pos"][:, 0])


def _tr_true(T: int, U: int, K: int) -> Any:
    from .tworooms import true_world
    return true_world(T=T, U=U or 1, K=K)


def _tr_tasks(n: int) -> list[Any]:
    from .tworooms import held_out_tasks
    return held_out_tasks(n)


def _tr_setup() -> Any:
    from .latent import tworooms_tasks
    return tworooms_tasks()


TWO_ROOMS = Suite("ebmgraph/TwoRooms-v0", "success", 2, 2, "the agent's position (x, y)", _tr_collect, _tr_batches,
                  _tr_first, lambda data: data["pos"][:, 0], lambda obs: np.asarray(obs)[:, 0].reshape(len(obs), -1),
                  _tr_tasks, _tr_setup, _tr_true)


# ---- Pendulum from pixels ----------------------------------------------------------------------

FRAMES = 3  # stacked frames per observation (pixels.pendulum_pixels' default)


def _pe_collect(n: int, steps: int, seed: int, hold: int) -> dict[str, Any]:
    from . import pixels
    return pixels.explore(n, steps=steps, seed=seed, hold=hold, frames=FRAMES)


def _pe_batches(data: dict[str, Any], T: int) -> Callable[[Any], dict[str, Any]]:
    import torch
    frames, acts = torch.from_numpy(data["frames"]), torch.tensor(data["actions"])

    def make(idx: Any) -> dict[str, Any]:
        f = frames[idx].float() / 255.0
        return {**{f"o[{t}]": f[:, t:t + FRAMES] for t in range(T + 1)}, **{f"a[{t}]": acts[idx, t] for t in range(T)}}
    return make


def _pe_targets(data: dict[str, Any]) -> Any:
    import torch

    from .pixels import features
    return features(torch.tensor(data["states"][:, 0])).numpy()


def _pe_tasks(n: int) -> list[Any]:
    from .envs import held_out
    return held_out(n)


def _pe_setup() -> Any:
    from . import pixels
    from .latent import Tasks
    goal = pixels.goal_image(frames=FRAMES)
    return Tasks(lambda: pixels.pendulum_pixels(frames=FRAMES), lambda env, seed: env.reset(seed=seed),
                 lambda env, seed: goal, lambda env, seed: np.zeros(2), state="state")


def _pe_true(T: int, U: int, K: int) -> Any:
    from .pixels import true_world
    return true_world(T)


PENDULUM = Suite("ebmgraph/PendulumPixels-v0", "return", FRAMES, 1, "(cos th, sin th, th' / 8)", _pe_collect,
                 _pe_batches, lambda data: data["frames"][:, :FRAMES].astype(np.float32) / 255.0, _pe_targets,
                 lambda obs: np.asarray(obs).reshape(len(obs), -1), _pe_tasks, _pe_setup, _pe_true)

SUITES = {s.env: s for s in (TWO_ROOMS, PENDULUM)}


def random_outcome(suite: Suite, tasks: list[Any], seed: int, steps: int, first: int = 0) -> Any:
    """Uniform random actions, each task's own stream (seeded by its index, the first one's `first`)."""
    import time

    from .latent import Episode, Outcome
    setup = suite.setup()
    eps, n, t0 = [], 0, time.perf_counter()
    for i, task in enumerate(tasks):
        env, rng = setup.make_env(), np.random.default_rng(seed * 1000 + first + i)
        try:
            obs, info = setup.reset(env, task)
            state = np.asarray(info[setup.state], float)
            ep = Episode(state, np.asarray(setup.goal_state(env, task), float), [state], [], False, 0)
            for _ in range(steps):
                obs, r, done, _, info = env.step(rng.uniform(-1, 1, suite.da).astype(np.float32))
                ep.path.append(np.asarray(info[setup.state], float))
                ep.ret, ep.steps, n = ep.ret + float(r), ep.steps + 1, n + 1
                if done:
                    ep.success = True
                    break
        finally:
            env.close()
        eps.append(ep)
    return Outcome(eps, 0.0, 1000 * (time.perf_counter() - t0) / max(1, n))
