"""Pendulum-v1 from pixels (PlaNet's setting, issue 24): what the agent sees is gymnasium's own
rendering of the pendulum (pygame, 500x500 RGB), made grey and downscaled to 64x64 in [0, 1], the
last `frames` frames stacked so that the velocity can be seen (at a reset, the first frame fills
the stack, as gymnasium's FrameStackObservation pads). The action is the torque over its maximum
(2), in [-1, 1] (gymnasium's RescaleAction), as every pixel agent's box is. The true state (angle,
velocity) stays in `info["state"]` for evaluation and probes; `goal_image` is the pendulum upright,
at rest. `explore` collects the pixel agent's offline data; `true_world` is its planners' world over
the true state (the upper reference).
Built from gymnasium's wrappers (AddRenderObservation, GrayscaleObservation, FrameStackObservation);
the downscaling is Pillow's box filter (gymnasium's ResizeObservation needs OpenCV).

    import ebmgraph.agent.pixels        # registers ebmgraph/PendulumPixels-v0
    gym.make("ebmgraph/PendulumPixels-v0", size=64, frames=3)
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

ID = "ebmgraph/PendulumPixels-v0"
MAX_TORQUE = 2.0  # Pendulum-v1's; the agent's action in [-1, 1] is the torque over it
MAX_SPEED = 8.0
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off screen; no display is needed
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def _shrink(size: int) -> Any:
    from PIL import Image

    def f(frame: Any) -> Any:
        img = Image.fromarray(np.asarray(frame, dtype=np.uint8)).resize((size, size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float32) / 255.0
    return f


class _State(gym.Wrapper[Any, Any, Any, Any]):
    """Keeps the true state of the wrapped classic-control environment in info["state"]."""

    def reset(self, **kw: Any) -> Any:
        obs, info = self.env.reset(**kw)
        return obs, {**info, "state": np.array(getattr(self.env.unwrapped, "state"), dtype=np.float64)}  # noqa: B009

    def step(self, action: Any) -> Any:
        obs, r, term, trunc, info = self.env.step(action)
        state = np.array(getattr(self.env.unwrapped, "state"), dtype=np.float64)  # noqa: B009
        return obs, r, term, trunc, {**info, "state": state}


def pendulum_pixels(size: int = 64, frames: int = 3, **kwargs: Any) -> Any:
    """Pendulum-v1 (with its own arguments, e.g. g) seen as `frames` stacked grey size x size images."""
    env: Any = _State(gym.make("Pendulum-v1", render_mode="rgb_array", **kwargs))
    env = gym.wrappers.RescaleAction(env, np.full(1, -1.0, np.float32), np.full(1, 1.0, np.float32))
    env = gym.wrappers.AddRenderObservation(env, render_only=True)
    env = gym.wrappers.GrayscaleObservation(env, keep_dim=False)
    space = gym.spaces.Box(0.0, 1.0, (size, size), dtype=np.float32)
    env = gym.wrappers.TransformObservation(env, _shrink(size), space)
    return gym.wrappers.FrameStackObservation(env, frames)


def goal_image(size: int = 64, frames: int = 3) -> Any:
    """What the agent sees of the pendulum upright and at rest (`frames` steps of no torque from there,
    through the same wrappers): the goal a planner in representation space aims at."""
    env = pendulum_pixels(size, frames)
    try:
        env.reset(seed=0)
        env.unwrapped.state = np.array([0.0, 0.0])
        for _ in range(frames):
            obs, *_ = env.step(np.zeros(1, dtype=np.float32))
    finally:
        env.close()
    return np.asarray(obs)


def frame_of(state: Any, size: int = 64) -> Any:
    """One grey frame of the pendulum at a true state (th, th'), as the agent's observation draws it
    (gymnasium's renderer and grey weights, the same downscaling): for figures of a path."""
    env: Any = gym.make("Pendulum-v1", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        env.unwrapped.state = np.asarray(state, dtype=np.float64)
        rgb = np.asarray(env.render(), dtype=np.float64)
    finally:
        env.close()
    grey = np.sum(rgb * np.array([0.2125, 0.7154, 0.0721]), axis=-1).astype(np.uint8)
    return _shrink(size)(grey)


def explore(n: int, steps: int = 17, seed: int = 0, hold: int = 1, frames: int = 3, size: int = 64) -> dict[str, Any]:
    """The pixel agent's offline data: n random-exploration trajectories of `steps` observations, each
    from a start of the run's RANDOM stream (seeds below HELD_OUT) drawn over every angle and every
    speed (Pendulum-v1's reset options x_init = pi, y_init = 8: its own starts reach 1 rad/s only),
    with uniform random torques each held `hold` steps. The first `frames - 1` steps after the reset
    are a warm-up (their torques kept as `warmup`), so that every observation's frames are the
    pendulum's true recent past, the velocity in them. Returns the grey frames as uint8 (n, steps +
    frames - 1, size, size: observation t is frames t .. t + frames - 1), the true states (n, steps,
    2), the actions (n, steps - 1, 1), the warm-up torques and the start seeds."""
    from .envs import Purpose, start_seeds
    seeds = start_seeds(seed, Purpose.RANDOM, 0, n)
    env = pendulum_pixels(size, frames)
    out = np.zeros((n, steps + frames - 1, size, size), dtype=np.uint8)
    states = np.zeros((n, steps, 2))
    acts = np.zeros((n, steps - 1, 1), dtype=np.float32)
    warm = np.zeros((n, frames - 1, 1), dtype=np.float32)
    try:
        for i, s in enumerate(seeds):
            rng = np.random.default_rng(s)
            obs, info = env.reset(seed=s, options={"x_init": np.pi, "y_init": MAX_SPEED})
            out[i, 0] = np.round(np.asarray(obs)[-1] * 255)
            for w in range(frames - 1):
                warm[i, w] = rng.uniform(-1.0, 1.0, 1)
                obs, _, _, _, info = env.step(warm[i, w])
                out[i, w + 1] = np.round(np.asarray(obs)[-1] * 255)
            states[i, 0] = info["state"]
            for t in range(steps - 1):
                if t % hold == 0:
                    a = rng.uniform(-1.0, 1.0, 1).astype(np.float32)
                acts[i, t] = a
                obs, _, _, _, info = env.step(a)
                out[i, frames + t] = np.round(np.asarray(obs)[-1] * 255)
                states[i, t + 1] = info["state"]
    finally:
        env.close()
    return {"frames": out, "states": states, "actions": acts, "warmup": warm,
            "seeds": np.asarray(seeds, dtype=np.int64)}


def stacked(frames: Any, t: int, k: int = 3) -> Any:
    """Observation t of trajectories' frames (n, steps + k - 1, h, w) as the agent saw it: (n, k, h, w)
    in [0, 1] (uint8 frames as torch or numpy arrays)."""
    return frames[:, t:t + k] / 255.0


def features(state: Any) -> Any:
    """What a probe reads and the true planner's state: (cos th, sin th, th' / MAX_SPEED), (n, 3)."""
    import torch
    th, thdot = state[..., 0], state[..., 1]
    return torch.stack([torch.cos(th), torch.sin(th), thdot / MAX_SPEED], -1)


def step_torch(state: Any, a: Any, g: float = 10.0) -> Any:
    """Pendulum-v1's own step, batched in torch: states (n, 2) = (th, th') and actions (n, 1) in [-1, 1]."""
    import torch
    th, thdot = state[:, 0], state[:, 1]
    u = (a[:, 0] * MAX_TORQUE).clamp(-MAX_TORQUE, MAX_TORQUE)
    thdot = (thdot + (3 * g / 2 * torch.sin(th) + 3.0 * u) * 0.05).clamp(-MAX_SPEED, MAX_SPEED)
    return torch.stack([th + thdot * 0.05, thdot], 1)


def true_world(T: int = 20) -> Any:
    """The planners' world over the true state (th, th'): the environment's own dynamics, and the cost
    at every step the squared distance of (cos th, sin th, th' / 8) to the goal's, the same distance the
    state-based agent plans with (examples/agent/pendulum.toml, with its own velocity scale)."""
    import torch

    from .latent import World

    def roll(s: Any, goal: Any, acts: Any) -> Any:
        cost, gf = torch.zeros(len(s)), features(goal)
        for t in range(acts.shape[1]):
            s = step_torch(s, acts[:, t])
            cost = cost + ((features(s) - gf) ** 2).sum(1)
        return cost

    return World(lambda state: state, roll, None, None, T=T, U=0, K=1, da=1, reads="state")


if ID not in gym.registry:
    gym.register(id=ID, entry_point="ebmgraph.agent.pixels:pendulum_pixels", max_episode_steps=200)
