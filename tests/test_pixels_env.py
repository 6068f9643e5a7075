"""Pendulum-v1 from pixels (issue 24): gymnasium's own rendering, grey, 64x64, frames stacked; the
pendulum's angle is in the picture, its true state in info."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from ebmgraph.agent import pixels as px

YS, XS = np.mgrid[0:64, 0:64] + 0.5


def _angle(frame: np.ndarray) -> float:
    """The rod's direction from the pivot (the image's centre), read from the dark pixels' centroid."""
    d = 1.0 - frame
    cx, cy = (d * XS).sum() / d.sum() - 32, (d * YS).sum() / d.sum() - 32
    return float(np.arctan2(-cx, -cy))


def test_the_observation_is_stacked_grey_frames_with_the_state_in_info() -> None:
    env = gym.make(px.ID)
    assert env.spec is not None and env.spec.max_episode_steps == 200
    obs, info = env.reset(seed=1)
    assert obs.shape == (3, 64, 64) and obs.dtype == np.float32 and 0.0 <= obs.min() < obs.max() <= 1.0
    assert np.array_equal(obs[0], obs[2])  # at reset the stack is the first frame, repeated
    for _ in range(3):
        obs, _, _, _, info = env.step(np.array([2.0], dtype=np.float32))
    assert info["state"].shape == (2,) and not np.array_equal(obs[0], obs[2])  # it moved: the frames differ


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.5, -2.0, 3.0])
def test_the_picture_shows_the_pendulums_angle(theta: float) -> None:
    env = px.pendulum_pixels()
    env.reset(seed=0)
    env.unwrapped.state = np.array([theta, 0.0])
    obs, *_, info = env.step(np.zeros(1, dtype=np.float32))
    assert _angle(obs[-1]) == pytest.approx(np.arctan2(np.sin(info["state"][0]), np.cos(info["state"][0])), abs=0.02)


def test_the_goal_image_is_the_pendulum_upright_at_rest() -> None:
    goal = px.goal_image()
    assert goal.shape == (3, 64, 64) and all(np.array_equal(goal[0], g) for g in goal)
    assert _angle(goal[0]) == pytest.approx(0.0, abs=0.02)


def test_the_environments_own_arguments_pass_through() -> None:
    env = gym.make(px.ID, g=9.81, frames=2, size=32)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 32, 32) and env.unwrapped.g == 9.81
