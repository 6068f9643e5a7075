"""The agent that learns its world from pixels (issue 24): planning in representation space, flat
and hierarchical, the true-state references, and `ebm agent` on a pixel config end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ebmgraph
from ebmgraph.agent import latent
from ebmgraph.agent import tworooms as tr
from ebmgraph.agent.config import CemConfig
from ebmgraph.agent.planners import cem
from ebmgraph.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "agent" / "tworooms.toml"


def test_the_true_step_in_torch_is_the_environments_step() -> None:
    rng = np.random.default_rng(0)
    env = tr.TwoRooms()
    env.reset(options={"start": (28.0, 20.0), "goal": (50.0, 50.0)})
    pos = torch.tensor([[28.0, 20.0]], dtype=torch.float64)
    for _ in range(200):  # random moves, many into the wall and through the door
        a = rng.uniform(-1, 1, 2) * np.array([1.0, 0.3])
        *_, info = env.step(a)
        pos = tr.step_torch(pos, torch.tensor(a[None]))
        assert pos[0].tolist() == pytest.approx(info["pos"].tolist())


def test_the_true_world_reads_the_position_from_the_frame() -> None:
    p = np.array([[10.3, 40.7], [50.0, 5.2]])
    got = tr.true_world().encode(torch.tensor(tr.observations(p))) * tr.SIZE
    assert got.numpy() == pytest.approx(p, abs=0.05)


def test_cem_best_keeps_a_mode_where_the_elites_mean_falls_between_two() -> None:
    # two equally good plans, -0.8 and +0.8, with a wall of cost between them: the elites' mean lands
    # near 0 (the worst place); `best` returns the best drawn candidate, near one of the modes
    def energy(x: torch.Tensor) -> torch.Tensor:
        v = x[..., 0]
        return torch.minimum((v - 0.8) ** 2, (v + 0.8) ** 2) + 5.0 * (v.abs() < 0.3)
    torch.manual_seed(0)
    c = CemConfig(samples=200, elites=40, iterations=1, momentum=0.0)
    mean = cem(energy, torch.zeros(64, 1), c, -1.0, 1.0)
    torch.manual_seed(0)
    best = cem(energy, torch.zeros(64, 1), c, -1.0, 1.0, best=True)
    assert energy(best).mean() < 0.01 < energy(mean).mean()
    assert (best.abs() - 0.8).abs().max() < 0.1


def test_macros_subgoal_is_the_lower_predictor_k_steps_on_the_held_action() -> None:
    """pixel_planner.ebm's Macro: the upper level through the JEPA's Step itself; its first jump's
    state (the subgoal) is the trained Step applied K times to the abstract action (here through
    Lower over K steps, the same weights), not the coarse predictor's jump."""
    torch.manual_seed(0)
    small = {"ds": 4, "hidden": 8}
    jepa = ebmgraph.compile(ebmgraph.load(ROOT / "library/agent/pixel_jepa.ebm", params={"T": 3, "K": 3, **small}))
    for p in jepa.parameters():
        torch.nn.init.normal_(p, std=0.5)
    planner = ROOT / "library/agent/pixel_planner.ebm"
    lower = ebmgraph.compile(ebmgraph.load(planner, model="Lower", params={"T": 3, **small}))
    macro = ebmgraph.compile(ebmgraph.load(planner, model="Macro", params={"U": 2, "K": 3, **small}))
    w = latent.learned_world(jepa, lower, macro, K=3)
    assert w.U == 2
    s, A = torch.randn(5, 4), torch.rand(5, 2) * 2 - 1
    with torch.no_grad():
        by_hand = lower.partial({"s[0]": s, "goal": s, **{f"a[{t}]": A for t in range(3)}})["f[2].s_next"]
        one_step = lower.partial({"s[0]": s, "goal": s, **{f"a[{t}]": A for t in range(3)}})["f[0].s_next"]
    torch.testing.assert_close(w.first_jump(s, A), by_hand)  # type: ignore[misc]
    assert not torch.allclose(by_hand, one_step)


def test_the_dist_energy_is_the_euclidean_distance(tmp_path: Path) -> None:
    f = tmp_path / "d.ebm"
    f.write_text("model D {\n  observed a : R[3]\n  observed b : R[3]\n  energy E = dist(a, b)\n}\n")
    m = ebmgraph.compile(ebmgraph.load(f))
    a, b = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[4.0, 6.0, 3.0]])
    assert float(m.energy(a=a, b=b).total) == pytest.approx(5.0)


def test_the_hierarchy_sets_the_first_jumps_state_as_the_subgoal() -> None:
    w = tr.true_world(T=3, U=2, K=4)
    agent = latent.Agent(w, latent.Search(lower=CemConfig(samples=8, elites=2, iterations=1),
                                          upper=CemConfig(samples=8, elites=2, iterations=1)), hierarchical=True)
    agent.reset(1)
    s = torch.tensor([[10.0, 10.0]]) / tr.SIZE
    a, sub = agent.act(s, torch.tensor([[50.0, 50.0]]) / tr.SIZE)
    assert a.shape == (1, 2) and sub.shape == (1, 2)
    jumped = w.first_jump(s, agent.warm_up[:, 0])  # type: ignore[misc]
    assert sub.tolist() == jumped.tolist()
    assert float((sub - s).norm()) * tr.SIZE <= 4 * tr.SPEED * math.sqrt(2) + 1e-6  # one jump: K steps at most


def test_the_pixel_planner_files_check_and_draw() -> None:
    r = CliRunner().invoke(app, ["check", str(ROOT / "library/agent/pixel_planner.ebm"),
                                 str(ROOT / "library/agent/pixel_jepa.ebm")])
    assert r.exit_code == 0, r.output
    for model, params in (("Lower", {"T": 3}), ("Upper", {"U": 2}), ("Macro", {"U": 2, "K": 3})):
        m = ebmgraph.load(ROOT / "library/agent/pixel_planner.ebm", model=model, params=params)
        assert any(v.role == "latent" and v.name.startswith("a[") for v in m.variables)


def test_ebm_agent_on_tworooms_quick_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["agent", str(CONFIG), "--quick", "--out", str(out)])
    assert r.exit_code == 0, r.output
    kinds = {"flat", "hierarchical", "hierarchical_macro", "true_flat", "true_hierarchical", "random"}
    assert kinds <= {line.split()[0] for line in r.stdout.splitlines() if line.strip()}  # a row each
    report = json.loads((out / "report.json").read_text())
    assert set(report["planners"]) == kinds
    assert len(report["planners"]["flat"]["successes"]) == 2  # --quick: two held-out tasks
    assert set(report["probe_r2"]) == {"trained", "untrained", "pca"}
    for f in ("data.npz", "jepa.pt", "success.png", "task.png"):
        assert (out / f).stat().st_size > 0
    with np.load(out / "data.npz") as z:  # the offline data: positions and actions of the trajectories
        assert z["pos"].shape == (16, 5, 2) and z["actions"].shape == (16, 4, 2)
        assert int(z["seeds"].max()) < ebmgraph.agent.HELD_OUT  # never a held-out task's seed
    again = CliRunner().invoke(app, ["agent", str(CONFIG), "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "trained before" in again.stderr and "from" in again.stderr  # the data and world model reused


def test_a_pixel_config_refuses_a_state_agents_flags_and_unknown_settings(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["agent", str(CONFIG), "--quick", "--planner", "cem"])
    assert r.exit_code == 2 and "pixel agent" in r.stderr and "planners" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.read_text().replace("tasks = 100", "tasks = 100\nhorizon = 3")
                   .replace('"../../library', f'"{ROOT}/library'))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "horizon" in r.stderr and "bad.toml" in r.stderr
    bad.write_text(CONFIG.read_text().replace("ds = 16, hidden = 128 }\nminutes", "ds = 16, hiden = 128 }\nminutes")
                   .replace('"../../library', f'"{ROOT}/library'))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 1 and "hiden" in r.stderr


def test_the_training_plot_groups_an_unrolled_models_terms() -> None:
    from ebmgraph.plots import training_curves
    history = [{"step": s, "loss": 1.0, **{f"E.d[{t}].D": 0.5 for t in range(16)},
                **{f"collapse.e[{t}].s.std_mean": float(t) for t in range(17)}} for s in range(3)]
    fig = training_curves(history)
    assert fig is not None
    loss_ax, col_ax = fig.axes
    lines = {ln.get_label(): ln for ln in loss_ax.lines}
    assert set(lines) == {"loss", "E.d[*].D"}
    assert list(lines["E.d[*].D"].get_ydata()) == [8.0, 8.0, 8.0]  # the 16 steps' energies, summed
    assert [ln.get_label() for ln in col_ax.lines] == ["e[*].s.std_mean"]
    assert list(col_ax.lines[0].get_ydata()) == [8.0, 8.0, 8.0]  # the collapse measure, averaged over the 17


def test_a_planner_parameter_no_planner_model_declares_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.read_text().replace("params = { T = 12, U = 12,", "params = { T = 12, UU = 12,")
                   .replace('"../../library', f'"{ROOT}/library'))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "planner.params: UU" in r.stderr and "bad.toml" in r.stderr


# ---- Pendulum from pixels ----------------------------------------------------------------------

PENDULUM = ROOT / "examples" / "agent" / "pendulum_pixels.toml"


def test_pendulum_data_frames_are_what_the_environment_showed() -> None:
    from ebmgraph.agent import pixels
    from ebmgraph.agent.envs import Purpose, start_seeds
    data = pixels.explore(2, steps=5, seed=0, hold=2)
    assert data["frames"].dtype == np.uint8 and data["frames"].shape == (2, 7, 64, 64)
    seed = start_seeds(0, Purpose.RANDOM, 0, 2)[1]
    env = pixels.pendulum_pixels()
    env.reset(seed=seed, options={"x_init": np.pi, "y_init": pixels.MAX_SPEED})
    for w in range(2):  # the warm-up: observation 0 shows two real steps of motion, not the reset's padding
        obs, _, _, _, info = env.step(data["warmup"][1, w])
    assert np.abs(pixels.stacked(data["frames"][1:], 0)[0] - obs).max() < 1e-6
    assert np.array_equal(info["state"], data["states"][1, 0])
    for t in range(4):
        obs, _, _, _, info = env.step(data["actions"][1, t])
        assert np.abs(pixels.stacked(data["frames"][1:], t + 1)[0] - obs).max() < 1e-6
        assert np.array_equal(info["state"], data["states"][1, t + 1])
    env.close()
    assert np.abs(data["states"][:, :, 1]).max() <= pixels.MAX_SPEED


def test_pendulums_true_step_in_torch_is_the_environments_step() -> None:
    from ebmgraph.agent import pixels
    env = pixels.pendulum_pixels()
    _, info = env.reset(seed=5)
    rng = np.random.default_rng(0)
    state = torch.tensor(info["state"])[None]
    for _ in range(30):
        a = rng.uniform(-1, 1, 1).astype(np.float32)  # the env's action: the torque over 2
        _, _, _, _, info = env.step(a)
        state = pixels.step_torch(state, torch.tensor(a, dtype=torch.float64)[None])
        assert torch.allclose(state[0], torch.tensor(info["state"]), atol=1e-5)
    env.close()


def test_pendulums_held_out_starts_are_the_state_agents() -> None:
    import gymnasium as gym

    from ebmgraph.agent.envs import held_out
    from ebmgraph.agent.suites import PENDULUM as SUITE
    setup = SUITE.setup()
    for seed in SUITE.tasks(3):
        assert seed in held_out(3)
        env, plain = setup.make_env(), gym.make("Pendulum-v1")
        _, info = setup.reset(env, seed)
        plain.reset(seed=seed)
        assert np.array_equal(info["state"], plain.unwrapped.state)  # the same start as `ebm agent pendulum.toml`'s
        env.close()


def test_ebm_agent_on_pendulum_pixels_quick_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["agent", str(PENDULUM), "--quick", "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["metric"] == "return" and set(report["planners"]) == {"flat", "true_flat", "random"}
    for v in report["planners"].values():
        assert len(v["returns"]) == 2 and all(-16.3 * 5 <= x <= 0 for x in v["returns"])  # 5 steps, cost <= 16.3
        assert math.isclose(v["mean_return"], sum(v["returns"]) / 2)
    assert "mean return" in r.stdout and "(cos th, sin th, th' / 8)" in r.stdout
    for f in ("data.npz", "jepa.pt", "returns.png", "task.png"):
        assert (out / f).stat().st_size > 0
    with np.load(out / "data.npz") as z:  # gymnasium's frames, three stacked per observation
        assert z["frames"].shape == (16, 5 + 2, 64, 64) and z["actions"].shape == (16, 4, 1)
        assert int(z["seeds"].max()) < ebmgraph.agent.HELD_OUT


def test_a_pendulum_config_that_does_not_fit_the_environment_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = PENDULUM.read_text().replace('"../../library', f'"{ROOT}/library')
    bad.write_text(text.replace('planners = ["flat", "true_flat", "random"]', 'planners = ["flat", "true_hierarchical"]'))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "true_hierarchical" in r.stderr and "true_flat" in r.stderr
    bad.write_text(text.replace("c = 3, ds = 3", "c = 2, ds = 3"))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 1 and "set c = 3" in r.stderr, r.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()  # no empty run folder left


def test_a_planner_sized_unlike_the_trained_world_model_is_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.read_text().replace("params = { T = 12, U = 12, ds = 16,", "params = { T = 12, U = 12, ds = 8,")
                   .replace('"../../library', f'"{ROOT}/library'))
    r = CliRunner().invoke(app, ["agent", str(bad), "--quick", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "does not fit the trained world model's" in r.stderr and "sizes (ds, hidden, ...)" in r.stderr
