"""The agent of 003 (sec. 3, Fig. 2-4): a world model learned from an environment, and Mode-2
planning by energy minimization over the world model unrolled in a `.ebm` planner.

    ebm agent examples/agent/pendulum.toml [--quick] [--planner cem]

The package, along the seams of mbrl-lib and TD-MPC2:
    config      the TOML config, checked (a setting nothing reads is a located error)
    envs        gymnasium's environments, wrapped and vectorized; the held-out evaluation starts
    simulators  the environment's own dynamics in the place of the world model (the upper reference)
    planners    PLANNERS: gradient, cem, enumerate (interchangeable objects over the planner file)
    memory      the one store of the episodes learned from, and its views
    critic      the cost to come, learned from the memory (003 sec. 3.3)
    hierarchy   two-level Mode-2 (003 Fig. 16-17)
    mode1       the actor distilled from Mode-2, with DAgger
    rollout     episodes side by side; loop: the run; report: its numbers and files
    evaluate    a saved run's agents evaluated again, an episode for the app
"""

from .base import CRITIC_TERM, AgentError
from .config import (
    AgentConfig,
    CemConfig,
    CriticTraining,
    EnumerateConfig,
    GradientConfig,
    HierarchyConfig,
    load_agent_config,
    quick,
)
from .critic import Critic
from .envs import HELD_OUT, Envs, Purpose, held_out, start_seeds
from .evaluate import episode_detail, evaluate, evaluate_hierarchy, load_planner
from .hierarchy import HierPlanner
from .loop import run
from .memory import Episode, Memory
from .planners import PLANNERS, CemPlanner, EnumeratePlanner, GradientPlanner, Plan, Planner, make_planner
from .report import AgentResult, Score
from .simulators import TRUE_DYNAMICS, true_pred

__all__ = ["AgentConfig", "AgentError", "AgentResult", "CRITIC_TERM", "CemConfig", "CemPlanner", "Critic",
           "CriticTraining", "EnumerateConfig", "EnumeratePlanner", "Envs", "Episode", "GradientConfig",
           "GradientPlanner", "HELD_OUT", "HierPlanner", "HierarchyConfig", "Memory", "PLANNERS", "Plan", "Planner",
           "Purpose", "Score", "TRUE_DYNAMICS", "episode_detail", "evaluate", "evaluate_hierarchy", "held_out",
           "load_agent_config", "load_planner", "make_planner", "quick", "run", "start_seeds", "true_pred"]
