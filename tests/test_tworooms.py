"""Two Rooms (PLDM's wall task), the pixel environment of issue 24: its geometry, what it draws, its
held-out tasks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from ebmgraph.agent import HELD_OUT, Purpose, start_seeds
from ebmgraph.agent import tworooms as tr


def _env(start: tuple[float, float], goal: tuple[float, float] = (50.0, 50.0)) -> tr.TwoRooms:
    env = tr.TwoRooms()
    env.reset(seed=0, options={"start": start, "goal": goal})
    return env


def test_it_is_a_gymnasium_environment_with_its_own_step_limit() -> None:
    check_env(gym.make(tr.ID, render_mode="rgb_array").unwrapped)  # gymnasium's checks: spaces, seeding, render
    env = gym.make(tr.ID)
    assert env.spec is not None and env.spec.max_episode_steps == 200
    obs, info = env.reset(seed=3)
    assert obs.shape == (2, 64, 64) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert info["pos"][0] < tr.WALL[0] < tr.WALL[1] < info["goal"][0]  # start left, goal right


def test_the_wall_blocks_and_the_door_lets_through() -> None:
    env = _env((28.0, 10.0))  # below the door, 3 px left of the wall
    for _ in range(5):
        *_, info = env.step(np.array([1.0, 0.0]))
    assert info["pos"].tolist() == [30.5, 10.0]  # one move to the wall's edge; the next would enter it
    env = _env((28.0, 32.0))  # level with the door
    for _ in range(4):
        *_, info = env.step(np.array([1.0, 0.0]))
    assert info["pos"].tolist() == pytest.approx([38.0, 32.0])  # 4 x 2.5 px, through the door
    env = _env((1.0, 1.0))  # the arena's edge blocks too
    *_, info = env.step(np.array([-1.0, -1.0]))
    assert info["pos"].tolist() == [1.0, 1.0]
    *_, info = env.step(np.array([0.4, 2.0]))  # an action is clipped into [-1, 1]
    assert info["pos"].tolist() == pytest.approx([2.0, 3.5])


def test_the_observation_draws_the_agent_where_it_is_and_the_walls() -> None:
    env = _env((12.3, 40.7))
    obs, *_ = env.step(np.zeros(2))
    agent, wall = obs
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    centre = ((agent * xs).sum() / agent.sum(), (agent * ys).sum() / agent.sum())
    assert centre == pytest.approx((12.3, 40.7), abs=0.01)  # sub-pixel: a probe can read it
    assert wall[10, 32] == 1.0 and wall[32, 32] == 0.0 and wall[10, 10] == 0.0  # wall, door, room
    assert wall.sum() == 3 * (64 - 10)  # 3 px thick, but for the 10-px door


def test_reaching_the_goal_ends_the_episode() -> None:
    env = _env((44.0, 20.0), goal=(50.0, 20.0))
    *_, term, trunc, info = env.step(np.array([0.0, 1.0]))  # 6.5 px away: not yet
    assert not term and not info["success"] and info["distance"] == pytest.approx(np.hypot(6.0, 2.5))
    *_, term, trunc, info = env.step(np.array([1.0, -1.0]))  # 3.5 px away: within the radius of 4
    assert info["distance"] == pytest.approx(3.5) and info["success"] and term and not trunc


def test_held_out_tasks_are_fixed_and_from_seeds_no_data_collection_draws() -> None:
    a, b = tr.held_out_tasks(100), tr.held_out_tasks(100)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    for start, goal in a:
        assert tr.free(*start) and tr.free(*goal)
        assert start[0] <= tr.WALL[0] - tr.MARGIN and goal[0] >= tr.WALL[1] + tr.MARGIN
    assert len({tuple(s) for s, _ in a}) == 100
    collected = start_seeds(0, Purpose.RANDOM, 0, 1000)
    assert max(collected) < HELD_OUT  # the tasks' seeds are HELD_OUT + i


def test_a_start_in_the_wall_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"the start \[32.0, 10.0\] is not a free point"):
        tr.TwoRooms().reset(options={"start": (32.0, 10.0)})


def test_the_picture_shows_walls_goal_and_agent() -> None:
    env = _env((10.0, 10.0), goal=(50.0, 50.0))
    img = env.render()
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert img[50, 50][0] > 200 and img[50, 50][1] < 60  # the goal: red
    assert min(img[10, 10]) > 200  # the agent: white
    assert tuple(img[5, 32]) == (127, 127, 127)  # the wall: grey
    assert np.array_equal(env.goal_image()[0], tr.draw(np.array([50.0, 50.0]))[0])


def test_exploration_data_are_trajectories_the_environment_lived() -> None:
    """explore(): random-exploration trajectories from free starts in both rooms, every step one the
    environment made (replayed here), from seeds below HELD_OUT; observations() draws them."""
    data = tr.explore(20, steps=17, seed=3)
    pos, acts = data["pos"], data["actions"]
    assert pos.shape == (20, 17, 2) and acts.shape == (20, 16, 2) and data["seeds"].max() < HELD_OUT
    assert (pos[:, 0, 0] < tr.WALL[0]).any() and (pos[:, 0, 0] > tr.WALL[1]).any()  # both rooms
    for i in range(20):
        env = _env(tuple(pos[i, 0]), goal=tuple(pos[i, 0]))
        for t in range(16):
            *_, info = env.step(acts[i, t])
            assert np.array_equal(info["pos"], pos[i, t + 1])
    again = tr.explore(20, steps=17, seed=3)
    assert np.array_equal(again["pos"], pos)  # the same seed, the same data
    assert not np.array_equal(tr.explore(20, steps=17, seed=4)["pos"], pos)
    obs = tr.observations(pos[:2, :3])
    assert obs.shape == (2, 3, 2, 64, 64) and np.array_equal(obs[1, 2], tr.draw(pos[1, 2]))
