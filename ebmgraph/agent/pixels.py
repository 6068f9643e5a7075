"""Pendulum-v1 from pixels (PlaNet's setting, issue 24): what the agent sees is gymnasium's own
rendering of the pendulum (pygame, 500x500 RGB), made grey and downscaled to 64x64 in [0, 1], the
last `frames` frames stacked so that the velocity can be seen. The true state (angle, velocity)
stays in `info["state"]` for evaluation and probes; `goal_image` is the pendulum upright, at rest.
Built from gymnasium's wrappers (AddRenderObservation, GrayscaleObservation, FrameStackObservation);
the downscaling is Pillow's box filter (gymnasium's ResizeObservation needs OpenCV).

    import ebmgraph.agent.pixels        # registers ebmgraph/PendulumPixels-v0
    gym.make("ebmgraph/PendulumPixels-v0", size=64, frames=3)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ID = "ebmgraph/PendulumPixels-v0"


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


if ID not in gym.registry:
    gym.register(id=ID, entry_point="ebmgraph.agent.pixels:pendulum_pixels", max_episode_steps=200)
