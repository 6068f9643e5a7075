"""The agent of 003: environments, the planner files, planning by gradient and by CEM, the loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ebmgraph
from ebmgraph.agent import (
    HELD_OUT,
    PLANNERS,
    AgentConfig,
    AgentError,
    AgentResult,
    Envs,
    Episode,
    Memory,
    Planner,
    Purpose,
    evaluate_hierarchy,
    held_out,
    load_agent_config,
    make_planner,
    quick,
    run,
    start_seeds,
)
from ebmgraph.agent.base import share_weights

from .conftest import ROOT

PENDULUM = ROOT / "examples" / "agent" / "pendulum.toml"
AGENT = ROOT / "library" / "agent"


def _cfg(**kw) -> AgentConfig:  # type: ignore[no-untyped-def]
    cfg = quick(load_agent_config(PENDULUM))
    return cfg.model_copy(update={"progress": False, **kw})


def _planner(cfg: AgentConfig) -> Planner:
    """The config's planner (of its planner_kind) over the planner file."""
    return make_planner(ebmgraph.compile(ebmgraph.load(AGENT / "planner.ebm", params=cfg.params)), cfg)


def _still(planner: Planner) -> None:
    """A world model that predicts no change: pred's weights all zero, so s[t + 1] = s[t]."""
    with torch.no_grad():
        for p in planner.model.fns["f_0___pred"].parameters():
            p.zero_()


def test_the_planning_energy_is_the_cost_of_the_unrolled_world_model_by_hand() -> None:
    cfg = _cfg()
    planner = _planner(cfg)
    _still(planner)
    s = torch.tensor([[0.5, -0.5, 0.2], [1.0, 0.0, 0.0]])
    goal = torch.tensor([[1.0, 0.0, 0.0]]).expand(2, -1)
    acts = torch.randn(2, planner.horizon, 1)
    e = planner.energy_of(s, acts)
    # the state never moves: every one of the T steps costs |s - goal|^2, plus 0.001 a[t]^2; no
    # critic is trained, so its term V has weight 0
    assert planner.model.weights["V"] == 0.0
    hand = planner.horizon * ((s - goal) ** 2).sum(1) + 0.001 * (acts ** 2).sum((1, 2))
    torch.testing.assert_close(e, hand)
    # the configurator's goal_weights: only the entries the task is about are costed
    weighed = _planner(_cfg(goal_weights=[1.0, 0.0, 2.0]))
    _still(weighed)
    hand = weighed.horizon * ((s[:, 0] - 1.0) ** 2 + 4 * s[:, 2] ** 2) + 0.001 * (acts ** 2).sum((1, 2))
    torch.testing.assert_close(weighed.energy_of(s, acts), hand)


def test_the_configurator_sets_a_cost_weight_and_names_an_unknown_term() -> None:
    planner = _planner(_cfg(weights={"c[0].C": 3.0}))
    assert planner.model.weights["c[0].C"] == 3.0 and planner.model.weights["c[1].C"] == 1.0
    every = _planner(_cfg(weights={"U": 0.5}))  # a term's name alone: that term at every step
    assert all(every.model.weights[f"c[{t}].U"] == 0.5 for t in range(every.horizon))
    assert every.model.weights["c[0].C"] == 1.0
    with pytest.raises(AgentError, match=r"weights: no energy term 'c\[0\]\.Cx'; did you mean 'c\[0\]\.C'"):
        _planner(_cfg(weights={"c[0].Cx": 3.0}))


@pytest.mark.parametrize("kind", ["gradient", "cem"])
def test_both_planners_find_the_cheapest_actions_where_only_the_actions_cost(kind: str) -> None:
    """With a still world model the only term the actions change is 0.001 |a|^2: both planners
    move every action towards 0, within the box."""
    cfg = _cfg(planner_kind=kind)
    cfg = cfg.model_copy(update={"cem": cfg.cem.model_copy(update={"samples": 64, "elites": 8, "iterations": 6})})
    planner = _planner(cfg)
    _still(planner)
    s = torch.tensor([[0.0, 1.0, 0.0]])
    start = torch.full((1, planner.horizon, 1), 1.5)
    p = planner.plan(s, warm=start)
    assert p.actions.shape == (1, planner.horizon, 1)
    assert float(p.actions.abs().max()) <= 2.0
    assert float(p.actions.abs().mean()) < 1.5 * (0.5 if kind == "gradient" else 0.8)


def test_the_planner_takes_the_trained_world_models_weights() -> None:
    cfg = _cfg()
    planner = _planner(cfg)
    wm = ebmgraph.compile(ebmgraph.load(AGENT / "world_model.ebm", model="WorldModel", params={"hidden": 16}))
    assert share_weights(wm, planner.model) == 1
    for a, b in zip(wm.fns["f__pred"].parameters(), planner.model.fns["f_0___pred"].parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_quick_run_writes_results_metrics_and_a_plot(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(PENDULUM), "--quick", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "mean ± standard error over 2 held-out starts" in r.stdout and "Traceback" not in r.stderr
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    mode2, mode1 = res["scores"]["mode2"], res["scores"]["mode1"]
    assert res["env"] == "Pendulum-v1" and len(mode2["returns"]) == 2
    assert all(np.isfinite(mode2["returns"])) and mode2["mean"] == pytest.approx(np.mean(mode2["returns"]))
    # learned from: the random steps, one round of 2 episodes of 20 steps, one round of the actor's
    # (Mode-1, DAgger) 2 episodes; and evaluated on: Mode-2, random actions and Mode-1, 2 episodes each
    assert res["learned_steps"] == 200 + 2 * 20 + 2 * 20
    assert res["env_steps"] == res["learned_steps"] + 3 * 2 * 20
    assert len(mode1["returns"]) == 2 and np.isfinite(mode1["mean"])
    assert mode1["seconds_per_action"] < mode2["seconds_per_action"]
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [1] and rows[0]["world_model_error"] >= 0
    assert (tmp_path / "run" / "returns.png").stat().st_size > 1000
    assert (tmp_path / "run" / "episode.png").stat().st_size > 1000
    assert (tmp_path / "run" / "world_model_1" / "checkpoint.pt").exists()
    assert (tmp_path / "run" / "actor_1" / "checkpoint.pt").exists()


def test_mountaincars_quick_run_trains_the_critic_and_plans_with_it(tmp_path: Path) -> None:
    cfg = ROOT / "examples" / "agent" / "mountaincar.toml"
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(cfg), "--quick", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "critic trained on 200 remembered states" in r.stderr and "Traceback" not in r.stderr
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    scores = res["scores"]
    assert res["env"] == "MountainCarContinuous-v0" and res["critic"] is True and np.isfinite(scores["mode2"]["mean"])
    state = torch.load(tmp_path / "run" / "agent_state.pt", weights_only=True)
    assert state["round"] == 1 and set(state["parts"]) == {"world_model", "critic"}
    # every step learned from is remembered (no actor: no DAgger episodes after the last save)
    assert sum(len(e["actions"]) for e in state["memory"]) == res["learned_steps"]
    # the config's hierarchical Mode-2, evaluated on the same episodes; quick: k = 5, 3 upper steps,
    # 16 samples x 2 iterations x 2 draws of z above, 16 x 2 x 5 below
    assert "hierarchical Mode-2: " in r.stderr and np.isfinite(scores["hierarchy"]["mean"])
    assert (tmp_path / "run" / "hierarchy_episode.png").stat().st_size > 0  # its typical episode, subgoals marked
    # (the upper level's once every k = 5 steps)
    hier = scores["hierarchy"]
    assert len(hier["returns"]) == 2 and hier["evaluations_per_action"] == -(-16 * 2 * 3 * 2 // 5) + 16 * 2 * 5


def test_the_discrete_configs_quick_run_plans_by_enumeration(tmp_path: Path) -> None:
    cfg = quick(load_agent_config(ROOT / "examples" / "agent" / "mountaincar_discrete.toml"))
    res = run(cfg.model_copy(update={"out_dir": str(tmp_path), "progress": False}), log=lambda m: None)
    assert np.isfinite(res.eval_return) and res.scores["mode2"].evaluations_per_action == 3 ** 5 * 5
    state = torch.load(tmp_path / "agent_state.pt", weights_only=True)
    acts = torch.cat([e["actions"] for e in state["memory"]])
    assert set(acts.flatten().tolist()) <= {-1.0, 0.0, 1.0}  # stored as the environment took them
    # the config's hierarchy, evaluated in the run, and again over the saved run without the critic
    hier = res.scores["hierarchy"]
    assert np.isfinite(hier.mean) and len(hier.returns) == 2
    again = evaluate_hierarchy(cfg.model_copy(update={"critic": None, "progress": False}),
                               tmp_path / "agent_state.pt", plot=tmp_path / "h.png")
    assert len(again.returns) == 2 and all(np.isfinite(again.returns)) and (again.seconds_per_action or 0) > 0
    assert again.evaluations_per_action == hier.evaluations_per_action
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"  # its typical episode, subgoals marked
    with pytest.raises(AgentError, match=r"needs the config's \[hierarchy\]"):
        evaluate_hierarchy(cfg.model_copy(update={"hierarchy": None}), tmp_path / "agent_state.pt")


def test_cem_runs_the_same_loop(tmp_path: Path) -> None:
    res = run(_cfg(planner_kind="cem", out_dir=str(tmp_path)), log=lambda m: None)
    assert len(res.eval_returns) == 2 and np.isfinite(res.eval_return)
    assert res.scores["mode2"].evaluations_per_action == 16 * 2 * 5


def test_an_environment_that_does_not_exist_is_named() -> None:
    with pytest.raises(AgentError, match="environment 'Pendulum-v9'"):
        Envs(_cfg(env="Pendulum-v9"), 1)


def test_shapes_that_do_not_fit_name_both(tmp_path: Path) -> None:
    cfg = _cfg(out_dir=str(tmp_path))
    cfg = cfg.model_copy(update={"params": {**cfg.params, "ds": 4}})
    with pytest.raises(AgentError, match=r"Pendulum-v1 observes shape \(3,\) but 's' of world_model.ebm is R\[4\]"):
        run(cfg, log=lambda m: None)


def test_a_nan_from_the_environment_stops_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Envs.step

    def broken(self, actions):  # type: ignore[no-untyped-def]
        s, r, ended = real(self, actions)
        return s * np.nan, r, ended

    monkeypatch.setattr(Envs, "step", broken)
    with pytest.raises(AgentError, match="the environment's observation is not finite"):
        run(_cfg(out_dir=str(tmp_path)), log=lambda m: None)


def test_a_config_mistake_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PENDULUM.read_text().replace('planner_kind = "cem"', 'planner_kind = "newton"'))
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = 1 + PENDULUM.read_text().splitlines().index('planner_kind = "cem"')
    assert (f"bad.toml:{line}:1: error[C001]: 'planner_kind': 'newton' is not a planner; choose one of "
            f"{', '.join(PLANNERS)}") in r.stderr
    assert list(PLANNERS) == ["gradient", "cem", "enumerate"]


def test_an_ended_episode_is_not_stepped_again() -> None:
    """Pendulum-v1 is truncated at 200 steps: after that the environment is not stepped, its
    reward is 0 and its state stays (the car at the flag of MountainCar ends the same way)."""
    envs = Envs(_cfg(episode_steps=None), 2)  # the environment's own TimeLimit
    assert envs.limit == 200
    envs.reset([0, 1])
    total = np.zeros(2)
    for t in range(205):
        s, r, ended = envs.step(np.zeros((2, 1), dtype=np.float32))
        total += r
        assert ended.all() == (t >= 199)
        if t == 199:
            last = s.copy()
    assert np.array_equal(s, last) and np.all(r == 0) and np.all(total < 0)
    envs.close()


def test_mode1_imitates_mode2_on_the_states_it_was_shown(tmp_path: Path) -> None:
    """The actor file trained on (state, Mode-2 action) pairs: its proposals come close to a
    known policy's actions, far closer than before training (Fig. 5's amortization)."""
    from ebmgraph.training import train as train_model
    from ebmgraph.training.data import Dataset
    torch.manual_seed(0)
    actor = ebmgraph.compile(ebmgraph.load(AGENT / "actor.ebm", params={"hidden": 32}))
    s = torch.randn(512, 3)
    a = (2.0 * torch.tanh(1.5 * s[:, 1:2] - s[:, 2:3]))  # a policy inside the box (-2, 2)

    def err() -> float:
        return float(((actor.partial({"s": s})["a_hat"] - a) ** 2).mean())

    before = err()
    train_model(actor, {"loss": {"kind": "energy"}, "epochs": 150, "batch_size": 64, "progress": False,
                        "plot": False, "optimizer": {"kind": "adam", "lr": 3e-3}, "out_dir": str(tmp_path / "a")},
                Dataset({"s": s, "a": a}, {}))
    assert err() < 0.05 * before
    assert float(actor.partial({"s": 100 * s})["a_hat"].abs().max()) <= 2.0  # within the box, always


def test_a_parameter_no_file_declares_is_an_error_not_dropped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PENDULUM.read_text().replace("T = 20, hidden = 128", "T = 20, hiden = 128")
                   .replace('"../../library/agent/', '"library/agent/'))  # found in the project
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = 1 + [i for i, x in enumerate(bad.read_text().splitlines()) if x.startswith("params")][0]
    assert (f"bad.toml:{line}:1: error[C001]: params: 'hiden' (did you mean 'hidden'?) is declared by none of "
            "world_model.ebm, planner.ebm, actor.ebm") in r.stderr
    assert "help: they declare R, T, amax, da, ds, hidden" in r.stderr


def test_a_part_file_that_is_not_there_is_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PENDULUM.read_text().replace('"../../library/agent/', '"library/agent/')
                   .replace("agent/planner.ebm", "agent/planer.ebm"))
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = 1 + [i for i, x in enumerate(bad.read_text().splitlines()) if x.startswith("planner =")][0]
    assert f"bad.toml:{line}:1: error[C001]: planner: no file 'library/agent/planer.ebm'" in r.stderr


def test_a_killed_run_resumes_from_its_last_round_with_the_same_metrics(tmp_path: Path) -> None:
    cfg = _cfg(rounds=2, planner_kind="cem")
    whole = run(cfg.model_copy(update={"out_dir": str(tmp_path / "whole")}), log=lambda m: None)

    def kill(message: str) -> None:  # the run is stopped just after round 1 is saved
        if message.startswith("round 1:"):
            raise KeyboardInterrupt
    cut = cfg.model_copy(update={"out_dir": str(tmp_path / "cut")})
    with pytest.raises(KeyboardInterrupt):
        run(cut, log=kill)
    # saved before the kill, written whole: round 1 is done
    assert (tmp_path / "cut" / "agent_state.pt").exists() and not (tmp_path / "cut" / "results.json").exists()
    said: list[str] = []
    resumed = run(cut, log=said.append)
    assert any(m.startswith("resuming") and "round 1" in m for m in said)
    assert not any(m.startswith("random:") or m.startswith("round 1:") for m in said)  # not done again
    assert resumed.history == whole.history and len(whole.history) == 2
    assert resumed.eval_returns == whole.eval_returns
    assert resumed.scores["mode1"].returns == whole.scores["mode1"].returns
    assert resumed.env_steps == whole.env_steps and resumed.learned_steps == whole.learned_steps
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == (tmp_path / "whole" / "metrics.jsonl").read_text()
    # the saved state loads with weights_only, as every checkpoint of ours
    torch.load(tmp_path / "cut" / "agent_state.pt", weights_only=True)


def test_a_saved_run_of_another_config_is_not_resumed_over(tmp_path: Path) -> None:
    run(_cfg(out_dir=str(tmp_path)), log=lambda m: None)
    with pytest.raises(AgentError, match="holds a run of another config"):
        run(_cfg(out_dir=str(tmp_path), seed=1), log=lambda m: None)
    fresh = run(_cfg(out_dir=str(tmp_path), seed=1, resume=False), log=lambda m: None)  # --fresh
    assert np.isfinite(fresh.eval_return)


@pytest.mark.parametrize("env_id, scale", [("Pendulum-v1", [1.0, 1.0, 0.3]), ("MountainCarContinuous-v0", [1.0, 10.0])])
def test_the_true_dynamics_step_as_gymnasium_does(env_id: str, scale: list[float]) -> None:
    """The upper reference plans over the environment's own dynamics: one step of ours, in state
    units, against gymnasium's step from the same state, for random states and actions."""
    import gymnasium as gym

    from ebmgraph.agent import true_pred
    env = gym.make(env_id)
    rng = np.random.default_rng(0)
    pred = true_pred(env_id, scale, len(scale))
    k = np.asarray(scale, dtype=np.float32)
    for i in range(50):
        obs, _ = env.reset(seed=i)
        for _ in range(int(rng.integers(0, 60))):  # somewhere along an episode, not only at its start
            obs, *_ = env.step(env.action_space.sample())
        a = env.action_space.sample()
        nxt, *_ = env.step(a)
        s = torch.tensor(obs * k)[None]
        ours = s + pred(torch.cat([s, torch.tensor(a, dtype=torch.float32)[None]], dim=1))
        np.testing.assert_allclose(ours[0].numpy(), nxt * k, rtol=1e-5, atol=1e-5)
    env.close()


def test_the_critics_memory_targets_are_the_discounted_costs_to_come_by_hand(tmp_path: Path) -> None:
    from ebmgraph.agent import Critic, CriticTraining, Episode
    cfg = _cfg(critic=str(AGENT / "critic.ebm"), cost=str(AGENT / "cost.ebm"), goal_weights=[1.0, 0.0, 0.0],
               critic_train=CriticTraining(gamma=0.5, lr=1e-2))
    cfg = cfg.model_copy(update={"params": {**cfg.params, "vscale": 1.0}})  # costs to come of order 1
    planner = _planner(cfg)
    critic = Critic(cfg, planner)
    states = np.array([[0.0, 0, 0], [0.5, 0, 0], [1.0, 0, 0], [2.0, 0, 0]], dtype=np.float32)
    acts = np.array([[1.0], [0.0], [-2.0]], dtype=np.float32)
    # the cost of a step: (s'_0 - 1)^2 of the state it led to (goal_weights keep entry 0) + 0.001 a^2
    c = [0.25 + 0.001, 0.0, 1.0 + 0.004]
    at_goal = Episode(states, acts, terminated=True)
    s, g = critic.memory_targets([at_goal], [critic.costs(at_goal)])
    hand = [c[0] + 0.5 * c[1] + 0.25 * c[2], c[1] + 0.5 * c[2], c[2]]
    torch.testing.assert_close(g[:, 0], torch.tensor(hand))
    assert torch.equal(s, torch.tensor(states[:-1]))
    # an episode cut at its step limit goes on: the critic's value of its last state is added
    cut = Episode(states, acts, terminated=False)
    v = float(critic.value(torch.tensor(states[-1:]))[0])
    assert v >= 0  # softplus: a cost to come is never negative
    _, g = critic.memory_targets([cut], [critic.costs(cut)])
    torch.testing.assert_close(g[:, 0], torch.tensor([h + 0.5 ** (3 - i) * v for i, h in enumerate(hand)]))
    # trained, the critic's value goes to the targets, and the planner's critic takes its weights
    critic.cfg = critic.cfg.model_copy(update={"critic_train": critic.cfg.critic_train.model_copy(
        update={"iterations": 1, "steps": 400, "lr": 1e-2})})
    critic.train([at_goal], None, seed=0)
    torch.testing.assert_close(critic.value(torch.tensor(states[:-1])), torch.tensor(hand), atol=0.05, rtol=0.05)
    for a, b in zip(critic.fit_model.fns["k.v"].parameters(), planner.model.fns["k.v"].parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_upper_levels_energy_adds_what_the_coarse_model_cannot_predict_by_hand() -> None:
    """Hierarchical Mode-2 (Fig. 16-17): with the coarse model's g zeroed, each upper step moves the
    state by z[u] alone, so the energy of a plan is the cost of s[0] + z[0] + ... + z[u] at every
    step, plus 0.001 |A[u]|^2; the subgoal (z = 0) is then the state itself."""
    from ebmgraph.agent import HierarchyConfig, HierPlanner
    cfg = _cfg(hierarchy=HierarchyConfig(file=str(AGENT / "hierarchy.ebm"), k=3, horizon=2))
    wm = ebmgraph.compile(ebmgraph.load(AGENT / "world_model.ebm", model="WorldModel", params={"hidden": 16}))
    hp = HierPlanner(cfg, wm, None)
    with torch.no_grad():
        for p in hp.upper.fns["F[0].g"].parameters():
            p.zero_()
    assert hp.upper.weights["V"] == 0.0  # no critic: its term is off at the upper level too
    s = torch.tensor([[0.5, 0.5, 0.0]])
    A = torch.tensor([[[1.0], [-2.0]]])
    z = torch.tensor([[[0.1, 0.0, 0.0], [0.0, -0.2, 0.3]]])
    goal = torch.tensor([1.0, 0.0, 0.0])
    s1, s2 = s[0] + z[0, 0], s[0] + z[0, 0] + z[0, 1]
    hand = ((s1 - goal) ** 2).sum() + ((s2 - goal) ** 2).sum() + 0.001 * (1.0 + 4.0)
    torch.testing.assert_close(hp.upper_energy(s, A, z).total, hand[None])
    torch.testing.assert_close(hp.subgoal(s), s)
    # a prediction is held within Pendulum's observation box (cos, sin in [-1, 1], speed in [-8, 8]),
    # in state units (obs_scale): z pushes the state out of it, the upper level sees it at the edge
    k = torch.tensor(cfg.obs_scale or [1.0, 1.0, 1.0])
    torch.testing.assert_close(hp.task["lo"], (torch.tensor([-1.0, -1.0, -8.0]) * k)[None])
    out = hp.upper_energy(s, A, torch.tensor([[[2.0, -3.0, 10.0], [0.0, 0.0, 0.0]]])).values
    torch.testing.assert_close(out["F[0].s_next"], (torch.tensor([1.0, -1.0, 8.0]) * k)[None])
    # the budget per action: the upper search over its samples of z, made once every k steps, and the
    # lower planner's at every step
    h = cfg.hierarchy
    assert h is not None
    upper = h.cem.samples * h.cem.iterations * h.horizon * h.latent_samples
    assert hp.evaluations_per_action == -(-upper // h.k) + h.lower_cem.samples * h.lower_cem.iterations * h.k


def test_the_upper_level_decides_every_k_steps_and_the_lower_level_aims_at_the_subgoals_time() -> None:
    """Between its decisions the upper level's subgoal holds; at step t the lower level's cost is
    its state's distance to the subgoal r = k - t mod k steps ahead, and no other step's."""
    from ebmgraph.agent import HierarchyConfig, HierPlanner
    cfg = _cfg(hierarchy=HierarchyConfig(file=str(AGENT / "hierarchy.ebm"), k=3, horizon=2))
    wm = ebmgraph.compile(ebmgraph.load(AGENT / "world_model.ebm", model="WorldModel", params={"hidden": 16}))
    hp = HierPlanner(cfg, wm, None)
    assert hp.reach == ["c[0].C", "c[1].C", "c[2].C"]
    decided: list[int] = []
    subgoal = hp.subgoal

    def counted(s: torch.Tensor) -> torch.Tensor:
        decided.append(hp.t)
        return subgoal(s)

    hp.subgoal = counted  # type: ignore[method-assign]
    s = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]])
    on = []
    for _ in range(7):
        hp.plan(s)
        on.append([j for j, n in enumerate(hp.reach) if hp.lower.model.weights[n] != 0.0])
        assert hp.lower.override is None
    assert decided == [0, 3, 6]
    assert on == [[2], [1], [0], [2], [1], [0], [2]]  # the subgoal's step: 3, then 2, then 1 steps ahead
    assert [t for t, _ in hp.decisions] == [3, 6, 9]  # each subgoal with the step it is set for
    hp.reset()  # new episodes: the upper level decides at once
    hp.plan(s)
    assert decided == [0, 3, 6, 0] and [t for t, _ in hp.decisions] == [3]


def test_a_term_of_weight_0_is_not_computed_when_planning() -> None:
    """No critic: the planner's term V has weight 0, and what only it needs (the critic's network on
    s[T]) is left out of the total inference differentiates; set again, it counts again."""
    planner = _planner(_cfg())
    calls = []
    planner.model.fns["k.v"].register_forward_hook(lambda *a: calls.append(1))
    s = torch.tensor([[0.5, -0.5, 0.2]])
    acts = torch.randn(1, planner.horizon, 1)
    vals = {"s[0]": s, **planner.given(1), **{a: acts[:, t] for t, a in enumerate(planner.actions)}}
    full = planner.model.energy(**vals)  # every term, V's weighted 0
    assert calls and float(full.terms["V"]) == 0.0
    calls.clear()
    torch.testing.assert_close(planner.model.total_energy(vals), full.total)
    assert not calls
    planner.model.set_weight("V", 1.0)
    e = planner.model.total_energy(vals)
    assert calls and float(e - full.total) == pytest.approx(float(planner.model.energy(**vals).terms["V"]))


def test_enumeration_finds_the_cheapest_held_sequence_exactly() -> None:
    """planner_kind = "enumerate": every sequence of held actions from the box's levels. With a
    still world model only 0.001 |a|^2 differs: the sequence of zeros, exactly; 3^(T / hold) plans."""
    from ebmgraph.agent import EnumerateConfig
    cfg = _cfg(planner_kind="enumerate", enumerate=EnumerateConfig(levels=3, hold=1))  # quick: T = 5
    planner = _planner(cfg)
    _still(planner)
    p = planner.plan(torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.5]]))
    assert torch.equal(p.actions, torch.zeros(2, 5, 1))
    assert planner.evaluations_per_action == 3 ** 5 * 5
    assert sorted(set(planner.sequences().flatten().tolist())) == [-2.0, 0.0, 2.0]  # the box's low, middle, high
    bad = _planner(_cfg(planner_kind="enumerate", enumerate=EnumerateConfig(hold=2)))
    with pytest.raises(AgentError, match="enumerate.hold = 2 must divide the planner's horizon T = 5"):
        bad.plan(torch.zeros(1, 3))


def test_a_discrete_environment_takes_the_centred_action_as_gymnasium_does() -> None:
    """MountainCar-v0's three actions are a = -1, 0, 1 for the planner (push left, none, right)."""
    import gymnasium as gym
    envs = Envs(_cfg(env="MountainCar-v0", obs_scale=None), 1)
    assert envs.discrete == 3 and envs.act_shape == (1,) and (envs.low, envs.high) == (-1.0, 1.0)
    np.testing.assert_array_equal(envs.applied(np.array([[0.7], [-0.2], [-3.0]])), [[1.0], [0.0], [-1.0]])
    ref = gym.make("MountainCar-v0")
    s = envs.reset([0])
    o, _ = ref.reset(seed=0)
    np.testing.assert_allclose(s[0], o)
    for a, i in ((1.0, 2), (1.0, 2), (-1.0, 0), (0.0, 1)):
        s, r, _ = envs.step(np.array([[a]], dtype=np.float32))
        o, rr, *_ = ref.step(i)
        np.testing.assert_allclose(s[0], o)
        assert r[0] == rr
    envs.close()
    ref.close()


def test_a_setting_nothing_reads_is_a_located_error(tmp_path: Path) -> None:
    """[critic_train] with no critic would be dropped in silence: it is refused where it stands."""
    bad = tmp_path / "bad.toml"
    text = PENDULUM.read_text().replace('"../../library/agent/', '"library/agent/') + "\n[critic_train]\ngamma = 0.9\n"
    bad.write_text(text)
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = 1 + text.splitlines().index("[critic_train]")
    assert f"bad.toml:{line}:1: error[C001]: critic_train is set, but nothing reads it: no critic is trained" in r.stderr
    assert 'help: set critic = "library/agent/critic.ebm"' in r.stderr


def test_the_true_dynamics_of_an_environment_without_a_simulator_in_torch_is_an_error() -> None:
    from ebmgraph.agent import AgentError, true_pred
    with pytest.raises(AgentError, match=r"no simulator of 'CartPole-v1' in torch; there is one for "
                                         r"MountainCarContinuous-v0, Pendulum-v1"):
        true_pred("CartPole-v1", None, 4)


def test_the_coarse_models_pairs_make_a_goal_absorbing_by_hand() -> None:
    """k = 2: each remembered state, the mean of the next two actions, the state two steps on; an
    episode that ended at its goal is followed by 2k random actions in which its last state stays."""
    from ebmgraph.agent import Episode, HierarchyConfig, HierPlanner
    cfg = _cfg(hierarchy=HierarchyConfig(file=str(AGENT / "hierarchy.ebm"), k=2, horizon=2))
    wm = ebmgraph.compile(ebmgraph.load(AGENT / "world_model.ebm", model="WorldModel", params={"hidden": 16}))
    hp = HierPlanner(cfg, wm, None)
    st = np.arange(12, dtype=np.float32).reshape(4, 3)  # s0..s3
    ac = np.array([[0.5], [-1.0], [2.0]], dtype=np.float32)
    cut = hp.pairs([Episode(st, ac, False)], seed=0)
    torch.testing.assert_close(cut["s"], torch.tensor(st[:2]))
    torch.testing.assert_close(cut["A"], torch.tensor([[-0.25], [0.5]]))
    torch.testing.assert_close(cut["sk"], torch.tensor(st[2:]))
    ended = hp.pairs([Episode(st, ac, True)], seed=0)
    assert len(ended["s"]) == 6  # 3 actions and 4 after the end, windows of 2
    torch.testing.assert_close(ended["s"], torch.tensor(np.concatenate([st, st[3:], st[3:]])))
    torch.testing.assert_close(ended["sk"], torch.tensor(np.concatenate([st[2:]] + [st[3:]] * 4)))
    torch.testing.assert_close(ended["A"][:2], torch.tensor([[-0.25], [0.5]]))
    lo, hi = hp.box
    assert bool(((ended["A"] >= lo) & (ended["A"] <= hi)).all())


def test_evaluating_a_saved_run_gives_the_same_returns_each_time(tmp_path: Path) -> None:
    """The gradient planner's restarts are random: evaluate seeds them, so whatever ran before it
    (here, draws from the global generator) the returns are the same."""
    from ebmgraph.agent import evaluate
    cfg = _cfg(planner_kind="gradient", out_dir=str(tmp_path))
    run(cfg, log=lambda m: None)
    first, _ = evaluate(cfg, tmp_path / "agent_state.pt")
    torch.rand(1000)
    again, _ = evaluate(cfg, tmp_path / "agent_state.pt")
    assert first.returns == again.returns and len(first.returns) == 2


def test_draws_of_z_with_no_latent_are_a_located_error(tmp_path: Path) -> None:
    """latent = "none" draws no z: latent_samples would be dropped in silence, so it is refused."""
    bad = tmp_path / "bad.toml"
    bad.write_text('env = "Pendulum-v1"\ngoal = [1.0, 0.0, 0.0]\n\n[hierarchy]\nlatent = "none"\nlatent_samples = 3\n')
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert 'bad.toml:6:1: error[C001]: hierarchy.latent_samples is set, but nothing reads it: latent = "none"' in r.stderr
    assert 'help: set latent = "expected" or "worst", or remove latent_samples' in r.stderr


# The run's promises: nothing learned from the evaluation's starts, every agent scored on the same
# held-out starts with its standard error, a planner chosen at the command line checked as if written.

@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[AgentConfig, AgentResult, list[Episode]]:
    """A quick run of examples/agent/pendulum.toml (CEM, with its actor: Mode-1 and a DAgger round),
    with every episode any memory was given on the way."""
    out = tmp_path_factory.mktemp("pendulum")
    cfg = quick(load_agent_config(PENDULUM)).model_copy(update={"out_dir": str(out), "progress": False})
    assert cfg.actor is not None and cfg.dagger_rounds == 1
    given: list[Episode] = []
    real = Memory.add

    def add(self: Memory, episodes: list[Episode]) -> None:
        given.extend(episodes)
        real(self, episodes)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Memory, "add", add)
        result = run(cfg, log=lambda m: None)
    unique = list({id(e): e for e in given}.values())  # a round's episodes are also measured in a memory of their own
    return cfg, result, unique


def test_no_episode_learned_from_starts_where_the_agents_are_evaluated(
        pendulum_run: tuple[AgentConfig, AgentResult, list[Episode]]) -> None:
    cfg, result, given = pendulum_run
    out = Path(cfg.out_dir)
    res = json.loads((out / "results.json").read_text())
    eval_seeds = set(res["eval_seeds"])
    assert res["eval_seeds"] == result.eval_seeds == held_out(2)
    saved = Memory.from_state(torch.load(out / "agent_state.pt", weights_only=True)["memory"])
    # the saved memory (random steps and the planning round) and every episode learned from on the way,
    # DAgger's among them: each from a learned-from start, none from an evaluation's
    assert {e.purpose for e in saved.episodes} == {Purpose.RANDOM, Purpose.ROUND}
    assert {e.purpose for e in given} == {Purpose.RANDOM, Purpose.ROUND, Purpose.DAGGER}
    for ep in saved.episodes + given:
        assert 0 <= ep.seed < HELD_OUT and ep.seed not in eval_seeds
    assert sum(len(e.actions) for e in given) == result.learned_steps == res["learned_steps"]
    # no state of Mode-2's evaluation episodes is a state of the memory
    visited = np.asarray(result.episode["state"], dtype=np.float32)  # (steps, episodes, ds)
    envs = Envs(cfg, 2)
    try:  # the trace is of the held-out starts
        np.testing.assert_array_equal(visited[0], envs.reset(held_out(2)))
    finally:
        envs.close()
    remembered = {tuple(x) for e in saved.episodes + given for x in np.asarray(e.states, dtype=np.float32)}
    assert len(remembered) > 250  # the 280 steps learned from, and where their episodes began
    assert not any(tuple(x) in remembered for x in visited.reshape(-1, visited.shape[-1]))


def test_the_memory_refuses_an_episode_from_a_held_out_start(
        pendulum_run: tuple[AgentConfig, AgentResult, list[Episode]]) -> None:
    """A code path that sent the evaluation's episodes to a training set fails at once."""
    from ebmgraph.agent import evaluate
    states, acts = np.zeros((3, 3), dtype=np.float32), np.zeros((2, 1), dtype=np.float32)
    memory = Memory()
    with pytest.raises(AgentError, match=f"an episode from the held-out start {HELD_OUT} reached the memory"):
        memory.add([Episode(states, acts, False, seed=HELD_OUT, purpose=Purpose.ROUND)])
    with pytest.raises(AgentError, match="without its start's seed"):
        memory.add([Episode(states, acts, False)])
    memory.add([Episode(states, acts, False, seed=HELD_OUT - 1, purpose=Purpose.ROUND)])
    assert len(memory) == 1 and memory.seeds() == {HELD_OUT - 1}
    # the evaluation's own episodes, as a saved run's evaluation hands them back
    cfg, _, _ = pendulum_run
    score, rollout = evaluate(cfg, Path(cfg.out_dir) / "agent_state.pt")
    assert [e.seed for e in rollout.episodes] == held_out(2) and len(score.returns) == 2
    with pytest.raises(AgentError, match="evaluation episodes are never learned from"):
        Memory().add(rollout.episodes)


def test_the_evaluation_starts_are_disjoint_from_every_learned_start_and_the_same_for_every_run(
        tmp_path: Path, pendulum_run: tuple[AgentConfig, AgentResult, list[Episode]]) -> None:
    evaluation = set(held_out(1000))
    assert held_out(3) == [HELD_OUT, HELD_OUT + 1, HELD_OUT + 2] and held_out(2, 5) == [HELD_OUT + 5, HELD_OUT + 6]
    for run_seed in (0, 1, 7, 12345, HELD_OUT - 1):
        streams = {}
        for purpose in Purpose:
            seeds = [x for first in (0, 100, 1000) for x in start_seeds(run_seed, purpose, first, 200)]
            assert all(0 <= x < HELD_OUT for x in seeds)
            assert not evaluation & set(seeds)
            streams[purpose] = set(seeds)
        assert not streams[Purpose.RANDOM] & streams[Purpose.ROUND]  # a stream per purpose
    # two runs of different seeds learn from different starts and are evaluated on the same ones
    cfg, first, _ = pendulum_run
    other = run(_cfg(seed=1, actor=None, rounds=0, out_dir=str(tmp_path)), log=lambda m: None)
    assert other.eval_seeds == first.eval_seeds == held_out(2)
    np.testing.assert_array_equal(np.asarray(other.episode["state"][0]), np.asarray(first.episode["state"][0]))
    seeds = [Memory.from_state(torch.load(Path(d) / "agent_state.pt", weights_only=True)["memory"]).seeds()
             for d in (cfg.out_dir, tmp_path)]
    assert seeds[0] and seeds[1] and not seeds[0] & seeds[1]


def test_results_give_each_agents_returns_mean_and_standard_error(
        pendulum_run: tuple[AgentConfig, AgentResult, list[Episode]]) -> None:
    from ebmgraph.agent import Score
    cfg, result, _ = pendulum_run
    res = json.loads((Path(cfg.out_dir) / "results.json").read_text())
    assert set(res["scores"]) == {"mode2", "random", "mode1"} == set(result.scores)
    for name, s in res["scores"].items():
        rets = np.asarray(s["returns"])
        assert len(rets) == cfg.eval_episodes == 2 and np.all(np.isfinite(rets))
        assert s["mean"] == pytest.approx(rets.mean())
        assert s["stderr"] == pytest.approx(rets.std(ddof=1) / np.sqrt(len(rets)))
        assert s["returns"] == result.scores[name].returns
    assert result.eval_returns == res["scores"]["mode2"]["returns"]
    assert result.random_return == pytest.approx(res["scores"]["random"]["mean"])
    # by hand: 1, 2, 3, 4 have mean 2.5, sample variance 5/3, standard error sqrt(5/3 / 4)
    assert Score([1.0, 2.0, 3.0, 4.0]).stderr == pytest.approx(np.sqrt(5 / 3 / 4))
    assert np.isnan(Score([1.0]).stderr)
    # every step is counted: those learned from, and the evaluation's (every agent over the same
    # starts; a Pendulum episode lasts its 20 steps)
    eval_steps = int(np.asarray(result.episode["live"]).sum())
    assert eval_steps == 2 * 20
    assert res["env_steps"] >= res["learned_steps"] + len(res["scores"]) * eval_steps
    assert res["env_steps"] == result.env_steps and res["learned_steps"] == result.learned_steps


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    ebm = Path(sys.executable).parent / "ebm"
    return subprocess.run([str(ebm), "agent", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_the_command_lines_planner_is_checked_as_if_the_file_said_it(tmp_path: Path) -> None:
    """--planner cem with a [cem] table runs; --planner gradient leaves the file's [cem] unread: a
    located error, as it would be with planner_kind = "gradient" in the file."""
    text = (PENDULUM.read_text().replace('"../../library/agent/', '"library/agent/')  # found in the project
            .replace('actor = "library/agent/actor.ebm"\n', "").replace("dagger_rounds = 4\n", ""))
    table = "\n[cem]\nsamples = 64\nelites = 8\n"
    good = tmp_path / "good.toml"
    good.write_text(text.replace('planner_kind = "cem"', 'planner_kind = "gradient"') + table)
    r = _cli([str(good), "--planner", "cem", "--quick", "--out", str(tmp_path / "run")], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["planner"] == "cem" and res["scores"]["mode2"]["evaluations_per_action"] == 16 * 2 * 5  # quick's CEM
    bad = tmp_path / "bad.toml"
    bad.write_text(text + table)
    r = _cli([str(bad), "--planner", "gradient", "--quick", "--out", str(tmp_path / "bad_run")], tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = 1 + (text + table).splitlines().index("[cem]")
    assert (f'bad.toml:{line}:1: error[C001]: cem is set, but nothing reads it: planner_kind is "gradient"'
            in r.stderr)
    assert 'help: set planner_kind = "cem" (--planner cem chooses it at the command line)' in r.stderr
    assert not (tmp_path / "bad_run").exists()


def test_no_code_asks_which_planner_by_name() -> None:
    """The planners are objects (PLANNERS): no code branches on planner_kind's value."""
    package = ROOT / "ebmgraph"
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted(package.rglob("*")) if p.is_file()
             and "__pycache__" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8", errors="ignore").splitlines(), 1)
             if "planner_kind ==" in line]
    assert found == []


def test_an_unknown_planner_is_a_located_error_listing_the_planners(tmp_path: Path) -> None:
    from ebmgraph.diagnostics import EbmError
    bad = tmp_path / "bad.toml"
    bad.write_text('env = "Pendulum-v1"\ngoal = [1.0, 0.0, 0.0]\nplanner_kind = "newton"\n')
    with pytest.raises(EbmError) as caught:
        load_agent_config(bad)
    said = caught.value.render()
    assert (f"bad.toml:3:1: error[C001]: 'planner_kind': 'newton' is not a planner; choose one of "
            f"{', '.join(PLANNERS)}") in said
    assert ", ".join(PLANNERS) == "gradient, cem, enumerate"
    for kind in PLANNERS:  # each one of them is a planner_kind
        bad.write_text(f'env = "Pendulum-v1"\ngoal = [1.0, 0.0, 0.0]\nplanner_kind = "{kind}"\n')
        assert load_agent_config(bad).planner_kind == kind


def test_a_planner_the_command_line_names_wrongly_is_its_own_error(tmp_path: Path) -> None:
    """--planner newton names the option and the planners, not a place in the file."""
    r = _cli([str(PENDULUM), "--planner", "newton", "--quick", "--out", str(tmp_path / "run")], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error: --planner: 'newton' is not a planner; choose one of gradient, cem, enumerate" in r.stderr
    assert not (tmp_path / "run").exists()


def test_a_saved_run_of_an_older_version_is_a_clear_error(tmp_path: Path) -> None:
    """agent_state.pt from before the memory kept episodes as dicts (tuples then): refused by name."""
    from ebmgraph.agent import load_planner
    cfg = _cfg(out_dir=str(tmp_path), actor=None, rounds=0)
    run(cfg, log=lambda m: None)
    state_file = tmp_path / "agent_state.pt"
    state = torch.load(state_file, weights_only=True)
    state["memory"] = [(e["states"], e["actions"], e["terminated"]) for e in state["memory"]]
    torch.save(state, state_file)
    with pytest.raises(AgentError, match="was not saved by a run of these files .or by this version.*--fresh"):
        load_planner(cfg, state_file)


def test_keep_best_evaluates_the_parts_that_planned_the_best_round(tmp_path: Path) -> None:
    """keep = "best": the world model that planned the round of highest return (the one trained before
    it) is the one evaluated, not the one retrained after the last round; keep = "last" the latter."""
    from ebmgraph.agent.parts import load_parts
    cfg = _cfg(out_dir=str(tmp_path), actor=None, rounds=2, keep="best")
    lines: list[str] = []
    run(cfg, log=lines.append)
    state = torch.load(tmp_path / "agent_state.pt", weights_only=True)
    returns = [row["return"] for row in state["history"]]
    assert state["best"]["round"] == 1 + int(np.argmax(returns))
    assert state["best"]["return"] == pytest.approx(max(returns))
    assert any(f"planned round {state['best']['round']}" in m for m in lines)
    best = state["best"]["parts"]["world_model"]
    last = state["parts"]["world_model"]
    assert any(not torch.equal(best[k], last[k]) for k in best)  # retrained after the last round
    for keep, want in (("best", best), ("last", last)):
        parts, _ = load_parts(cfg.model_copy(update={"keep": keep}), tmp_path / "agent_state.pt")
        got = parts.wm.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
