"""The Planning panel (issue 12): pick an agent (examples/agent/*.toml), run an episode with the world
model its run learned, and see the planned beside the visited trajectory, each energy term of the
plan per step, and the run's scores: each agent's mean return ± its standard error over the held-out
starts (results.json's "scores"), which no episode the run learned from started at."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import streamlit as st

from ebmgraph.agent import HELD_OUT, AgentConfig, AgentError, episode_detail, load_agent_config, quick, run
from ebmgraph.agent.envs import episode_limit
from ebmgraph.diagnostics import EbmError
from ebmgraph.plots import agent_planning, agent_returns

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "examples" / "agent"
# the agents a run scores (ebmgraph.agent.AgentResult.scores), in words
AGENT_NAMES = {"mode2": "Mode-2 (planning)", "random": "random actions", "mode1": "Mode-1 (the actor)",
               "proposal": "Mode-2 from the actor's plan", "hierarchy": "hierarchical Mode-2"}


def runs_dir() -> Path:
    """Where the panel's quick runs go (EBMGRAPH_RUNS, else runs/ of the project)."""
    return Path(os.environ.get("EBMGRAPH_RUNS", ROOT / "runs"))


def sources(cfg: AgentConfig, stem: str) -> dict[str, tuple[AgentConfig, Path]]:
    """The saved runs of this agent the panel can plan with: the full run (`ebm agent`, in the
    config's out_dir) and the panel's own quick run, each with the config it was run with."""
    found = {}
    full = Path(cfg.out_dir) / "agent_state.pt"
    if full.exists():
        found[f"full run ({full.parent})"] = (cfg, full)
    small = quick(cfg).model_copy(update={"out_dir": str(runs_dir() / f"app_{stem}")})
    if (Path(small.out_dir) / "agent_state.pt").exists():
        found[f"quick run ({small.out_dir})"] = (small, Path(small.out_dir) / "agent_state.pt")
    return found


def quick_run(cfg: AgentConfig, stem: str) -> None:
    small = quick(cfg).model_copy(update={"out_dir": str(runs_dir() / f"app_{stem}"), "progress": False,
                                          "resume": False})
    with st.status(f"quick run of {stem}: random steps, the world model, one round of planning", expanded=True) as box:
        try:
            run(small, log=box.write)
        except AgentError as exc:
            box.update(label=f"the quick run stopped: {exc}", state="error")
            return
        box.update(label=f"quick run of {stem} saved in {small.out_dir}", state="complete", expanded=False)


def plus_minus(score: dict[str, Any]) -> str:
    """An agent's mean return ± its standard error (the mean alone over a single start)."""
    mean, err = float(score["mean"]), float(score.get("stderr", math.nan))
    return f"{mean:.1f} ± {err:.1f}" if math.isfinite(err) else f"{mean:.1f}"


def show_scores(res: dict[str, Any]) -> None:
    """The run's results.json: each agent over the held-out starts, and the returns of Mode-2's."""
    scores: dict[str, dict[str, Any]] | None = res.get("scores")
    if not scores or "mode2" not in scores:
        st.caption("this run's results.json has no scores over held-out starts (a run of an older version): "
                   "run it again to see them")
        return
    n = len(scores["mode2"]["returns"])
    st.table([{"agent": AGENT_NAMES.get(k, k), "return": plus_minus(s), "episodes": len(s["returns"]),
               "world-model steps per action": s.get("evaluations_per_action")} for k, s in scores.items()])
    st.caption(f"mean return ± standard error over the {n} held-out starts, the same for every agent and every run, "
               "none of them a start the run learned from; "
               f"{res.get('env_steps', '?')} environment steps, {res.get('learned_steps', '?')} of them learned from")
    random = scores.get("random")
    st.pyplot(agent_returns(scores["mode2"]["returns"], float(random["mean"]) if random else math.nan,
                            f"Mode-2 over the held-out starts: {plus_minus(scores['mode2'])}"), clear_figure=True)


PIXEL_NAMES = {"flat": "flat JEPA planner", "hierarchical": "hierarchical JEPA planner",
               "hierarchical_macro": "hierarchical, macro actions through the lower predictor",
               "true_flat": "flat, over the true state", "true_hierarchical": "hierarchical, over the true state",
               "random": "random actions"}


def show_pixels(path: Path, name: str, stem: str) -> None:
    """A pixel agent (kind = "pixels"): its run's success rates (Pendulum: returns) and probe, and a
    held-out task done by one of its planners: the frames it saw beside the goal image, its path with
    the subgoals (Pendulum: its angle and speed over the episode)."""
    from ebmgraph.agent.pixel_agent import load_pixel_config, quick_pixels, run_pixels, run_task, task_figure
    ss = st.session_state
    try:
        cfg = load_pixel_config(path)
    except (EbmError, AgentError, ValueError, OSError) as exc:
        st.error(exc.render() if isinstance(exc, EbmError) else str(exc))
        return
    st.caption(f"{cfg.env} from pixels: {Path(cfg.world_model.file).name} ({cfg.world_model.model}), planned in its "
               f"representation space by {Path(cfg.planner.file).name}")
    small = quick_pixels(cfg).model_copy(update={"out_dir": str(runs_dir() / f"app_{stem}"), "resume": False})
    found = {label: c for label, c in ((f"full run ({cfg.out_dir})", cfg), (f"quick run ({small.out_dir})", small))
             if (Path(c.out_dir) / "report.json").exists()}
    if not found:
        st.info(f"No run of this agent is saved yet. `ebm agent examples/agent/{name}` learns its world model from "
                "pixels (minutes); a quick run here takes seconds and plans poorly, but shows the parts.")
    if st.button("Quick run", key="plan_quick", help="a small run of the same pipeline, saved for this panel"):
        with st.status(f"quick run of {stem}", expanded=True) as box:
            try:
                run_pixels(small, log=box.write)
            except (AgentError, ValueError, OSError) as exc:
                box.update(label=f"the quick run stopped: {exc}", state="error")
                return
            box.update(label=f"quick run of {stem} saved in {small.out_dir}", state="complete", expanded=False)
        found[f"quick run ({small.out_dir})"] = small
    if not found:
        return
    source = st.radio("world model from", list(found), key="plan_source")
    used = found[source]
    report = json.loads((Path(used.out_dir) / "report.json").read_text())
    returns = report.get("metric") == "return"
    st.table([{"planner": PIXEL_NAMES.get(k, k),
               **({"mean return": f"{v['mean_return']:.0f} ± {v['stderr']:.0f}"} if returns else
                  {"success": f"{100 * v['success']:.0f}% ± {100 * v['stderr']:.0f}"}),
               "tasks": len(v["successes"]), "model steps per action": round(v["evaluations_per_action"]),
               "ms per action": round(v["ms_per_action"], 1)} for k, v in report["planners"].items()])
    if returns:
        what = ("mean return over held-out starts (the state-based agent's evaluation starts; none of them a start "
                "any data came from) ± its standard error; linear probe R^2 of (cos, sin, speed) from one observation: ")
    else:
        what = ("success on held-out tasks (start in the left room, goal in the right one; none of them a start any "
                "data came from) ± its standard error; linear probe R^2 of the position from one frame: ")
    st.caption(what + ", ".join(f"{k} {v:.3f}" for k, v in report["probe_r2"].items()))
    kinds = list(report["planners"])
    kind = st.selectbox("planner", kinds, key="plan_pixel_kind", format_func=lambda k: PIXEL_NAMES.get(k, k))
    task = int(st.number_input("held-out task", min_value=0, max_value=9999, value=0, key="plan_episode"))
    if st.button("Run the task", type="primary", key="plan_run"):
        bar = st.progress(0.0, text="planning")
        try:
            def step(i: int, _: int) -> None:
                bar.progress(min(1.0, i / used.episode_steps), text=f"step {i}")
            ep = run_task(used, task, kind, progress=step)
        except AgentError as exc:
            st.error(str(exc))
            return
        bar.empty()
        ss.plan_detail = {"key": (name, source, task, kind), "episode": ep}
    shown = ss.get("plan_detail")
    if shown is not None and shown.get("key", ())[:2] == (name, source) and "episode" in shown:
        from ebmgraph.agent.pixel_agent import load_run
        to_pos = None
        if not shown["key"][3].startswith("true") and shown["key"][3].endswith("hierarchical"):
            to_pos = load_run(used)[1]
        st.pyplot(task_figure(shown["episode"], shown["key"][3], to_pos, used.env), clear_figure=True)


def show() -> None:
    ss = st.session_state
    configs = sorted(p for p in AGENTS.glob("*.toml") if not p.name.startswith("_"))
    if not configs:
        st.error(f"no agent configs in {AGENTS}")
        return
    left, right = st.columns([1, 2])
    with left:
        name = st.selectbox("agent", [p.name for p in configs], key="plan_agent",
                            help="a config of `ebm agent`: the environment, the .ebm files, the planner")
        stem = Path(name).stem
    from ebmgraph.agent.pixel_agent import is_pixel_config
    if is_pixel_config(AGENTS / name):
        with right:
            show_pixels(AGENTS / name, name, stem)
        return
    with left:
        try:
            cfg = load_agent_config(AGENTS / name)
        except (EbmError, AgentError, ValueError, OSError) as exc:
            st.error(exc.render() if isinstance(exc, EbmError) else str(exc))
            return
        cfg.progress = False
        st.caption(f"{cfg.env}, {cfg.planner_kind} planner over {Path(cfg.planner).name}"
                   + (", critic" if cfg.critic else ""))
        found = sources(cfg, stem)
        if not found:
            st.info(f"No run of this agent is saved yet. `ebm agent examples/agent/{name}` learns its world "
                    "model in minutes; a quick run here takes seconds and plans poorly, but shows the parts.")
        if st.button("Quick run", key="plan_quick", help="a small run of the same loop, saved for this panel"):
            quick_run(cfg, stem)
            found = sources(cfg, stem)
        if not found:
            return
        source = st.radio("world model from", list(found), key="plan_source")
        used, state = found[source]
        episode = int(st.number_input("held-out start", min_value=0, max_value=9999, value=0, key="plan_episode",
                                      help=f"the evaluation's start i (seed {HELD_OUT} + i): the run was scored on "
                                           "the first eval_episodes of them and learned from none"))
        if st.button("Run an episode", type="primary", key="plan_run"):
            bar = st.progress(0.0, text="planning")
            try:
                steps = episode_limit(used)
                detail = episode_detail(used, state, episode,
                                        on_step=lambda i: bar.progress(min(1.0, (i + 1) / steps),
                                                                       text=f"step {i + 1}"))
            except AgentError as exc:
                st.error(str(exc))
                return
            bar.empty()
            ss.plan_detail = {"key": (name, source, episode), "detail": detail, "goal": used.goal, "env": used.env}
    shown: dict[str, Any] | None = ss.get("plan_detail")
    with right:
        if shown is not None and shown["key"][:2] == (name, source):
            detail = shown["detail"]
            st.metric("episode return", f"{detail['return']:.1f}", help=f"{len(detail['reward'])} steps")
            last = len(detail["plans"]) - 1
            step = st.slider("the plan made at step", 0, last, 0, key="plan_step") if last > 0 else 0
            fig = agent_planning(detail, step, shown["goal"],
                                 f"{shown['env']}, episode {shown['key'][2]}: visited and planned")
            st.pyplot(fig, clear_figure=True)
        results = Path(state).parent / "results.json"
        if results.exists():
            show_scores(json.loads(results.read_text()))
