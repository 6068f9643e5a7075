"""The agent's run (`ebm agent CONFIG`): act at random to fill the memory; train the world model (its
`.ebm` file, the ordinary trainer, the energy loss) on every step remembered; then rounds of
receding-horizon planning (perceive, plan, act with the first action, remember, repeat), retraining
after each; then the evaluation on held-out starts, which nothing learns from: Mode-2, random actions,
the hierarchy and Mode-1 (after its DAgger) side by side on the same starts. Every round is saved
whole: a run killed on the way resumes from its last round."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import AgentError
from .config import AgentConfig
from .envs import Purpose, episode_limit, held_out, start_seeds
from .hierarchy import HierPlanner
from .memory import Memory
from .mode1 import train_mode1
from .parts import Parts, build
from .report import AgentResult, Score, write
from .rollout import rollout


def fingerprint(cfg: AgentConfig) -> str:
    """What a saved run must share with the config to resume it: all but where it writes and how it shows."""
    import hashlib
    keep = cfg.model_dump(exclude={"out_dir", "progress", "threads", "resume"})
    folders = {Path(getattr(cfg, k)).parent for k in ("world_model", "planner", "actor", "critic", "cost")
               if getattr(cfg, k)} | ({Path(cfg.hierarchy.file).parent} if cfg.hierarchy else set())
    keep["files"] = {str(f): f.read_text(encoding="utf-8") for d in sorted(folders) for f in sorted(d.glob("*.ebm"))}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


class Run:
    """A run's state between rounds: the memory, the history, the steps taken, the random generators."""

    def __init__(self, cfg: AgentConfig, parts: Parts) -> None:
        import numpy as np
        self.cfg, self.parts = cfg, parts
        self.out = Path(cfg.out_dir)
        self.memory = Memory()
        self.history: list[dict[str, float]] = []
        self.env_steps = 0  # every step taken, evaluations included
        self.rng = np.random.default_rng(cfg.seed)
        self.file = self.out / "agent_state.pt"
        self.best: dict[str, Any] | None = None  # the parts that planned the best round: round, return, weights

    def fit(self, round_: int, log: Callable[[str], None]) -> float:
        """The world model (and the critic) on everything remembered; the planner takes their weights."""
        from ..training import train as train_model
        from ..training.data import Dataset
        cfg, parts, loss = self.cfg, self.parts, float("nan")
        if parts.learned:
            run_dir = self.out / f"world_model_{round_}"
            if run_dir.exists():
                shutil.rmtree(run_dir)
            res = train_model(parts.wm, {"loss": {"kind": "energy"}, "epochs": cfg.train.epochs,
                                         "batch_size": cfg.train.batch_size,
                                         "optimizer": {"kind": "adam", "lr": cfg.train.lr}, "seed": cfg.seed + round_,
                                         "out_dir": str(run_dir), "progress": cfg.progress, "plot": False},
                              Dataset(self.memory.transitions(), {}))
            loss = float(res.history[-1]["loss"]) if res.history else float("nan")
        if parts.critic is not None:  # the critic learns the cost to come of the remembered states
            err = parts.critic.train(self.memory.episodes, parts.wm if parts.learned else None, cfg.seed + round_)
            log(f"critic trained on {self.memory.steps()} remembered states of {len(self.memory)} episodes "
                f"({cfg.critic_train.iterations} fits, error {err:.4g})")
        parts.shared()
        return loss

    def save(self, round_: int) -> None:
        """Everything the run needs to go on after round_ (0: the random steps), written whole."""
        import torch

        from ..files import write_atomic
        critic = self.parts.critic
        state = {"fingerprint": fingerprint(self.cfg), "round": round_, "env_steps": self.env_steps,
                 "history": self.history, "memory": self.memory.state(), "best": self.best,
                 "parts": {k: m.state_dict() for k, m in self.parts.trained().items()},
                 "critic_opt": critic.opt.state_dict() if critic is not None else None,
                 "torch_rng": torch.get_rng_state(), "np_rng": json.dumps(self.rng.bit_generator.state)}
        write_atomic(self.file, lambda fh: torch.save(state, fh))  # type: ignore[misc]

    def restore(self, log: Callable[[str], None]) -> int:
        """The round the saved state ends at; -1 when there is none to resume."""
        import torch
        if not self.file.exists() or not self.cfg.resume:
            return -1
        try:
            state = torch.load(self.file, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged file is said, and the run starts over
            log(f"{self.file} cannot be read ({exc}); starting over")
            return -1
        if state.get("fingerprint") != fingerprint(self.cfg):
            raise AgentError(f"{self.out} holds a run of another config (its agent_state.pt); give another out_dir, "
                             "or --fresh to start this one over there")
        self.env_steps, self.history = int(state["env_steps"]), state["history"]
        self.memory = Memory.from_state(state["memory"])
        self.best = state.get("best")
        for k, m in self.parts.trained().items():
            m.load_state_dict(state["parts"][k])
        if self.parts.critic is not None:
            self.parts.critic.opt.load_state_dict(state["critic_opt"])
        self.parts.shared()
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = json.loads(state["np_rng"])
        return int(state["round"])

    def collect_random(self) -> float:
        """random_steps steps of random actions (within the budget), from fresh starts; their mean return."""
        cfg = self.cfg
        budget, first, rets = min(cfg.random_steps, cfg.max_env_steps), 0, []
        limit = episode_limit(cfg)
        while self.memory.steps() < budget:
            left = budget - self.memory.steps()
            n = max(cfg.episodes_per_round, -(-left // limit))
            r = rollout(cfg, None, start_seeds(cfg.seed, Purpose.RANDOM, first, n), Purpose.RANDOM,
                        random_hold=cfg.random_hold, rng=self.rng, label="random actions")
            first += n
            self.env_steps += r.steps
            kept = []
            for ep, ret in zip(r.episodes, r.returns, strict=True):
                if left <= 0:
                    break
                if len(ep.actions) > left:  # the budget cuts it: not at its goal
                    ep.states, ep.actions, ep.terminated = ep.states[:left + 1], ep.actions[:left], False
                else:
                    rets.append(ret)
                left -= len(ep.actions)
                kept.append(ep)
            self.memory.add(kept)
        return float(sum(rets) / len(rets)) if rets else float("nan")

    def planning_round(self, k: int, log: Callable[[str], None]) -> bool:
        """One round of planning from fresh starts, remembered, then retraining; False past the budget."""
        import numpy as np
        import torch
        cfg, n = self.cfg, self.cfg.episodes_per_round
        if self.memory.steps() + n * episode_limit(cfg) > cfg.max_env_steps:
            log(f"round {k}: the budget of {cfg.max_env_steps} environment steps learned from is reached")
            return False
        planned_with = {name: {k_: v.detach().clone() for k_, v in m.state_dict().items()}
                        for name, m in self.parts.trained().items()}
        r = rollout(cfg, self.parts.planner, start_seeds(cfg.seed, Purpose.ROUND, 100 * k, n), Purpose.ROUND,
                    label=f"round {k}, {cfg.planner_kind} planning")
        if self.best is None or float(np.mean(r.returns)) > self.best["return"]:
            self.best = {"round": k, "return": float(np.mean(r.returns)), "parts": planned_with}
        self.env_steps += r.steps
        err = float("nan")
        if self.parts.learned:  # the world model's error on the new steps, before it learns them
            new = Memory()
            new.add(r.episodes)
            with torch.no_grad():
                err = float(self.parts.wm.energy(**new.transitions()).total.mean())
        self.memory.add(r.episodes)
        loss = self.fit(k, log)
        row = {"round": k, "env_steps": self.env_steps, "return": float(np.mean(r.returns)), "planning_energy": r.energy}
        if self.parts.learned:
            row |= {"world_model_error": err, "world_model_energy": loss}
        self.history.append(row)
        self.save(k)
        log(f"round {k}: return {row['return']:.1f}, planning energy {r.energy:.4g}, "
            + (f"world-model error on the new steps {err:.4g} (before retraining), " if self.parts.learned else "")
            + f"{self.memory.steps()} steps learned from")
        return True


def kept(state: Run, log: Callable[[str], None]) -> None:
    """keep = "best": the parts take the weights that planned the best round (when one was planned)."""
    if state.cfg.keep != "best" or state.best is None:
        return
    for name, m in state.parts.trained().items():
        m.load_state_dict(state.best["parts"][name])
    state.parts.shared()
    log(f"keep = \"best\": the world model and critic that planned round {state.best['round']} (return "
        f"{state.best['return']:.1f}) are kept, not those retrained after the last round")


def evaluate_agent(cfg: AgentConfig, agent: Any, seeds: list[int], trace: bool = False,
                   proposal: Callable[[Any], Any] | None = None, rng: Any = None) -> tuple[Score, Any]:
    """An agent (a planner, a policy, or None: random actions) over the held-out starts `seeds`."""
    import numpy as np
    import torch
    torch.manual_seed(cfg.seed)  # the planner's random starts: the same returns on every call
    r = rollout(cfg, agent, seeds, None, trace=trace, proposal=proposal, random_hold=cfg.random_hold,
                rng=rng if rng is not None else np.random.default_rng(cfg.seed), label="evaluation")
    evals = getattr(agent, "evaluations_per_action", None)
    return Score(r.returns, float(np.median(r.seconds)), evals), r


def run(cfg: AgentConfig, log: Callable[[str], None] = print) -> AgentResult:
    """Collect, learn the world model, plan in a receding horizon, evaluate on held-out starts; files in
    cfg.out_dir."""
    import torch

    from ..training.loop import set_threads
    set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out_dir)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(cfg, log)
    except BaseException:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed before writing anything leaves no empty folder behind
        raise


def _run(cfg: AgentConfig, log: Callable[[str], None]) -> AgentResult:
    parts = build(cfg)
    state = Run(cfg, parts)
    done = state.restore(log)
    if done >= 0:
        log(f"resuming {state.out} after {'round ' + str(done) if done else 'the random steps'} ({state.env_steps} "
            "environment steps so far; --fresh starts over)")
    if done < 0:  # 1. random actions
        ret = state.collect_random()
        loss = state.fit(0, log)
        state.save(0)
        log(f"random: {state.memory.steps()} steps, mean return {ret:.1f}; "
            + (f"world model trained (energy {loss:.4g})" if parts.learned else "the planner's world model is the "
               "environment's own dynamics"))
    for k in range(max(done, 0) + 1, cfg.rounds + 1):  # 2. planning rounds, retraining after each
        if not state.planning_round(k, log):
            break
    kept(state, log)
    # 3. evaluation on held-out starts: every agent on the same ones, nothing learned from them
    seeds = held_out(cfg.eval_episodes)
    planner = parts.planner
    scores: dict[str, Score] = {}
    scores["mode2"], ev = evaluate_agent(cfg, planner, seeds, trace=True)
    scores["random"], rnd = evaluate_agent(cfg, None, seeds)
    state.env_steps += ev.steps + rnd.steps
    result = AgentResult(scores, seeds, 0, 0, state.history, episode=ev.trace)
    if getattr(planner, "unconverged", 0):
        log(f"note: {planner.unconverged} of {planner.calls} planning calls stopped at the planner's budget of "
            f"steps before converging (tol); MPC acts on the plan so far and plans again next step")
    log(f"evaluation on {len(seeds)} held-out starts: Mode-2 {scores['mode2']} ({cfg.planner_kind}, "
        f"{planner.evaluations_per_action} world-model steps per action, "
        f"{1000 * (scores['mode2'].seconds_per_action or 0):.0f} ms per call), random actions {scores['random']}")
    if cfg.hierarchy is not None:
        hp = HierPlanner(cfg, parts.wm, parts.critic)
        hp.train(state.memory.episodes, state.out, cfg.seed, cfg.progress)
        scores["hierarchy"], hr = evaluate_agent(cfg, hp, seeds, trace=True)
        state.env_steps += hr.steps
        result.hier_episode = hr.trace
        result.hier_subgoals = [(t, g.tolist()) for t, g in hp.decisions]
        log(f"hierarchical Mode-2: {scores['hierarchy']} ({hp.evaluations_per_action} world-model steps per action)")
    if cfg.actor is not None:
        before = state.memory.steps()
        actor = train_mode1(cfg, planner, state.memory, state.out, log, state.rng)
        state.env_steps += state.memory.steps() - before  # DAgger's episodes
        scores["mode1"], m1 = evaluate_agent(cfg, actor, seeds)
        scores["mode1"].evaluations_per_action = 0
        state.env_steps += m1.steps
        m2 = scores["mode2"].seconds_per_action or float("nan")
        log(f"Mode-1: {scores['mode1']} (Mode-2 {scores['mode2']}); "
            f"{m2 / max(scores['mode1'].seconds_per_action or 0, 1e-9):.0f}x less time per action")
        if cfg.actor_proposal:
            scores["proposal"], pr = evaluate_agent(cfg, planner, seeds, proposal=actor)
            state.env_steps += pr.steps
            log(f"Mode-2 started from the actor's plan: {scores['proposal']}")
    result.env_steps, result.learned_steps = state.env_steps, state.memory.steps()
    result.files = write(cfg, result, state.out)
    return result
