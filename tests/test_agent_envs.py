"""The agent on any gymnasium task by configuration (issue 23, item 4): the environment's own
arguments, the environment itself as the true world model (copies of it, where there is no simulator
in torch), discrete actions enumerated as they are, and the shapes of another task named on both
sides. Quick runs only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from ebmgraph.agent import AgentConfig, AgentError, Envs, load_agent_config, quick, run
from ebmgraph.agent.envs import episode_limit
from ebmgraph.agent.parts import build
from ebmgraph.agent.simulators import EnvCopies

from .conftest import ROOT

EXAMPLES = ROOT / "examples" / "agent"
PENDULUM, CARTPOLE, ACROBOT = (EXAMPLES / f"{n}.toml" for n in ("pendulum", "cartpole", "acrobot"))


def _cfg(path: Path, tmp_path: Path, **kw: Any) -> AgentConfig:
    cfg = quick(load_agent_config(path))
    return cfg.model_copy(update={"progress": False, "out_dir": str(tmp_path), **kw})


# --- the environment itself as the true world model -------------------------------------------------


@pytest.mark.parametrize("env_id, scale", [("CartPole-v1", [1.0, 1.0, 10.0, 1.0]),
                                           ("Acrobot-v1", [1.0, 1.0, 1.0, 1.0, 0.5, 0.5])])
def test_the_copies_step_as_gymnasium_does_from_the_same_state(env_id: str, scale: list[float]) -> None:
    """Two environments, each state repeated three times (a search's candidates), each row its own
    actions: the copies' prediction, step after step, is gymnasium's own step of an environment from
    the same start with the same actions, in state units; a row whose episode terminated keeps its
    state. The real environments are not stepped."""
    cfg = AgentConfig(env=env_id, goal=[0.0] * len(scale), obs_scale=scale)
    envs = Envs(cfg, 2)
    seeds = [3, 4]
    s = torch.tensor(envs.reset(seeds))
    before = [np.array(e.unwrapped.state, copy=True) for e in envs.envs]
    pred = EnvCopies(env_id, len(scale))
    pred.observe(envs)
    pred.restart()
    n, half, k = envs.discrete, envs.high, np.asarray(scale, dtype=np.float32)
    assert n is not None
    refs = []
    for seed in np.repeat(seeds, 3):
        ref = gym.make(env_id)
        ref.reset(seed=int(seed))
        refs.append(ref)
    ended = [False] * len(refs)
    rng = np.random.default_rng(0)
    x = s.repeat_interleave(3, 0)
    want = x.numpy().copy()
    steps = 40 if env_id == "CartPole-v1" else 6  # CartPole: some rows fall on the way
    with torch.no_grad():
        for _ in range(steps):
            a = torch.tensor(rng.integers(0, n, size=(len(x), 1)) - half, dtype=torch.float32)
            x = x + pred(torch.cat([x, a], dim=1))
            for i, ref in enumerate(refs):
                if not ended[i]:  # an ended one's state stays
                    obs, _, term, _, _ = ref.step(int(a[i, 0] + half))
                    want[i], ended[i] = obs * k, bool(term)
            np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-5)
    if env_id == "CartPole-v1":
        assert any(ended)  # the absorbing state is checked too
    for e, b in zip(envs.envs, before, strict=True):
        np.testing.assert_array_equal(e.unwrapped.state, b)
    envs.close()


def test_the_copies_restart_at_a_new_plan_and_refuse_a_state_of_no_environment() -> None:
    """A call from the states the environments are in (not where the last call led) is a new plan:
    the copies start again from the environments; a state that is none of theirs is an error."""
    cfg = AgentConfig(env="CartPole-v1", goal=[0.0] * 4)
    envs = Envs(cfg, 1)
    s = torch.tensor(envs.reset([7]))
    pred = EnvCopies("CartPole-v1", 4)
    pred.observe(envs)
    right = torch.full((1, 1), 0.5)
    with torch.no_grad():
        first = s + pred(torch.cat([s, right], dim=1))
        pred(torch.cat([first, right], dim=1))  # a second step of the same plan
        again = s + pred(torch.cat([s, right], dim=1))  # from s[0]: a new plan
        np.testing.assert_allclose(again.numpy(), first.numpy())
        with pytest.raises(AgentError, match=r"none of the 1 environments' own"):
            pred(torch.cat([s + 1.0, right], dim=1))
    envs.close()


@pytest.mark.parametrize("planner_kind", ["enumerate", "cem"])
def test_cartpole_over_copies_of_itself_keeps_the_pole_up(tmp_path: Path, planner_kind: str) -> None:
    """world_model_kind = "true" on CartPole-v1 (no simulator of it in torch): the planners that need no
    gradient plan over copies of the environment; the pole stays up for the 100 steps of each episode,
    where random actions let it fall after about 20."""
    cfg = _cfg(CARTPOLE, tmp_path, world_model_kind="true", planner_kind=planner_kind, rounds=0,
               episode_steps=100, eval_episodes=4)
    if planner_kind == "cem":
        cfg = cfg.model_copy(update={"cem": cfg.cem.model_copy(update={"samples": 32, "elites": 4})})
    r = run(cfg, log=lambda m: None)
    assert r.scores["mode2"].mean >= 95, r.scores["mode2"]
    assert r.scores["random"].mean < 50, r.scores["random"]


@pytest.mark.parametrize("change, option", [
    ({"planner_kind": "gradient"}, r'no gradient: set planner_kind = "cem" or "enumerate" \(--planner cem\)'),
    ({"critic": str(ROOT / "library" / "agent" / "critic.ebm"), "critic_train": {"target": "model"}},
     r'set critic_train.target = "memory"'),
    ({"hierarchy": {"file": str(ROOT / "library" / "agent" / "hierarchy.ebm")}}, r"remove \[hierarchy\]"),
])
def test_what_copies_of_the_environment_cannot_do_names_the_option(tmp_path: Path, change: dict[str, Any],
                                                                   option: str) -> None:
    cfg = _cfg(CARTPOLE, tmp_path, world_model_kind="true")
    cfg = AgentConfig.model_validate({**cfg.model_dump(), **change})
    with pytest.raises(AgentError, match=r"world_model_kind = \"true\" on CartPole-v1 plans over copies of the "
                                         r"environment itself.*" + option):
        run(cfg, log=lambda m: None)


# --- the environment's own arguments ----------------------------------------------------------------


def test_env_kwargs_reach_the_environment(tmp_path: Path) -> None:
    """env_kwargs = { g = 9.81 } on Pendulum-v1: the environment is made with them, and a quick run goes."""
    cfg = _cfg(PENDULUM, tmp_path, env_kwargs={"g": 9.81}, actor=None)
    envs = Envs(cfg, 1)
    assert envs.envs[0].unwrapped.g == 9.81
    envs.close()
    r = run(cfg, log=lambda m: None)
    assert np.isfinite(r.eval_return)


def test_the_true_world_model_with_env_kwargs_is_the_environment_with_them(tmp_path: Path) -> None:
    """Pendulum-v1's simulator in torch has g = 10; with env_kwargs the planner's world model is copies
    of the environment made with them: its step is the one with g = 9.81, not 10."""
    cfg = _cfg(PENDULUM, tmp_path, env_kwargs={"g": 9.81}, actor=None, world_model_kind="true")
    parts = build(cfg)
    pred = parts.planner.model.fns["f_0___pred"]
    envs = Envs(cfg, 1)
    s = torch.tensor(envs.reset([11]))
    parts.planner.observe(envs)
    a = torch.tensor([[1.5]])
    with torch.no_grad():
        got = s + pred(torch.cat([s, a], dim=1))
    ref = gym.make("Pendulum-v1", g=9.81)
    ref.reset(seed=11)
    want = ref.step(np.array([1.5], dtype=np.float32))[0] * np.asarray(cfg.obs_scale, dtype=np.float32)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-5, atol=1e-6)
    ten = gym.make("Pendulum-v1")
    ten.reset(seed=11)
    assert not np.allclose(got[0].numpy()[2], ten.step(np.array([1.5], dtype=np.float32))[0][2] * 0.3)
    envs.close()


# --- another task's shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("obs_scale", [True, False])
def test_the_pendulum_files_on_cartpole_name_both_shapes(tmp_path: Path, obs_scale: bool) -> None:
    """pendulum.toml with env = "CartPole-v1": a clear error naming CartPole's observations (4,) and the
    files' state R[3] (and obs_scale's 3 entries where it is given), no traceback."""
    text = PENDULUM.read_text().replace('env = "Pendulum-v1"', 'env = "CartPole-v1"')
    text = text.replace('"../../library/', f'"{ROOT}/library/')
    if not obs_scale:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("obs_scale"))
    bad = tmp_path / "cartpole.toml"
    bad.write_text(text)
    r = subprocess.run([sys.executable, "-m", "ebmgraph.cli", "agent", str(bad), "--quick", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "error: CartPole-v1 does not fit the model: CartPole-v1 observes shape (4,) but 's' of " \
           "world_model.ebm is R[3]" in r.stderr
    assert ("obs_scale has 3 entries for CartPole-v1's observations of shape (4,)" in r.stderr) == obs_scale
    assert "set params = { ds = 4, da = 1, ... }" in r.stderr


def test_cartpole_with_the_pendulum_files_raises_an_agent_error(tmp_path: Path) -> None:
    cfg = _cfg(PENDULUM, tmp_path, env="CartPole-v1", actor=None)
    with pytest.raises(AgentError, match=r"CartPole-v1 observes shape \(4,\) but 's' of world_model.ebm is R\[3\]; "
                                         r"obs_scale has 3 entries for CartPole-v1's observations of shape \(4,\)"):
        run(cfg, log=lambda m: None)


# --- discrete actions -------------------------------------------------------------------------------


def test_a_discrete_environments_actions_are_the_levels_by_default(tmp_path: Path) -> None:
    """enumerate.levels left out: a discrete environment's n actions (CartPole-v1's 2, not the default 3,
    of which two would be the left push); set to a number of which two levels are one action: an error
    naming the option."""
    cfg = _cfg(CARTPOLE, tmp_path)
    cfg = AgentConfig.model_validate({**cfg.model_dump(exclude={"enumerate"}), "enumerate": {"hold": 1}})
    assert cfg.enumerate.levels == 3
    planner = build(cfg).planner
    assert cfg.enumerate.levels == 2
    assert sorted(set(planner.sequences()[:, 0, 0].tolist())) == [-0.5, 0.5]  # type: ignore[attr-defined]
    three = AgentConfig.model_validate({**cfg.model_dump(exclude={"enumerate"}), "enumerate": {"levels": 3, "hold": 1}})
    with pytest.raises(AgentError, match=r"enumerate.levels = 3: the planner's levels \[-0.5, 0.0, 0.5\] are "
                                         r"CartPole-v1's actions \[0, 0, 1\] \(of its 2\).*set enumerate.levels = 2"):
        build(three)


def test_mountaincar_discrete_keeps_its_three_levels(tmp_path: Path) -> None:
    cfg = _cfg(EXAMPLES / "mountaincar_discrete.toml", tmp_path, hierarchy=None)
    build(cfg)
    assert cfg.enumerate.levels == 3 and cfg.critic_train.levels == 3


# --- the examples -----------------------------------------------------------------------------------


def test_acrobots_episode_limit_is_its_own() -> None:
    cfg = load_agent_config(ACROBOT)
    assert cfg.episode_steps is None and episode_limit(cfg) == 500


@pytest.mark.parametrize("path", [CARTPOLE, ACROBOT])
def test_the_discrete_examples_run_quick(tmp_path: Path, path: Path) -> None:
    r = run(_cfg(path, tmp_path), log=lambda m: None)
    assert np.isfinite(r.eval_return) and "random" in r.scores


def test_an_env_of_a_module_runs_only_when_plugins_lists_the_module(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """env = "module:Env" imports the module (gymnasium's form): refused, located at env, unless
    plugins lists it; listed, the module's registered environment is made."""
    from ebmgraph.diagnostics import EbmError
    (tmp_path / "ebm_test_envs.py").write_text(
        "import gymnasium\n"
        "gymnasium.register(id='ShortPendulum-v0', entry_point='gymnasium.envs.classic_control.pendulum:PendulumEnv',"
        " max_episode_steps=7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = PENDULUM.read_text().replace('"../../library/agent/', '"' + str(ROOT / "library" / "agent") + "/")
    text = text.replace('env = "Pendulum-v1"', 'env = "ebm_test_envs:ShortPendulum-v0"').replace("episode_steps = 200\n", "")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(EbmError) as err:
        load_agent_config(bad)
    line = 1 + text.splitlines().index('env = "ebm_test_envs:ShortPendulum-v0"')
    assert f"bad.toml:{line}:1: error[C001]: env = \"ebm_test_envs:ShortPendulum-v0\" imports the module " \
           "'ebm_test_envs', which plugins does not list" in err.value.render()
    assert "ebm_test_envs" not in sys.modules  # refused before anything ran
    good = tmp_path / "good.toml"
    good.write_text(text.replace('env = "ebm_test', 'plugins = ["ebm_test_envs"]\nenv = "ebm_test'))
    cfg = load_agent_config(good)
    assert episode_limit(cfg) == 7  # the module's own registration
    with pytest.raises(AgentError, match="list it in plugins"):
        Envs(cfg.model_copy(update={"plugins": []}), 1)
