"""The short-term memory (003 sec. 3.3): every episode the agent learns from, whole, with the seed it
started from and why it was run. It is the one store of the run's experience; the world model, the
critic, the actor and the hierarchy's coarse model each read a view of it. An evaluation episode
(a held-out start) is refused: nothing learns from the episodes the agent is measured on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import AgentError
from .envs import HELD_OUT, Purpose


@dataclass
class Episode:
    """One remembered episode: its states s[0..L], actions a[0..L-1], and whether it ended at its goal
    (terminated) rather than at its step limit; the seed it started from and why it was run; for a
    DAgger episode, Mode-2's action at each of its states (what the actor learns there)."""
    states: Any  # (L + 1, ds)
    actions: Any  # (L, da)
    terminated: bool
    seed: int = -1
    purpose: Purpose = Purpose.RANDOM
    labels: Any | None = None  # (L, da): Mode-2's actions at states[:-1] (DAgger)

    def state(self) -> dict[str, Any]:
        """The episode as tensors and numbers (torch.save with weights_only=True reads it back)."""
        import torch
        return {"states": torch.as_tensor(self.states), "actions": torch.as_tensor(self.actions),
                "terminated": bool(self.terminated), "seed": int(self.seed), "purpose": int(self.purpose),
                "labels": None if self.labels is None else torch.as_tensor(self.labels)}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Episode:
        return cls(d["states"].numpy(), d["actions"].numpy(), bool(d["terminated"]), int(d["seed"]),
                   Purpose(int(d["purpose"])), None if d["labels"] is None else d["labels"].numpy())


class Memory:
    """The episodes learned from, in the order lived."""

    def __init__(self) -> None:
        self.episodes: list[Episode] = []

    def add(self, episodes: list[Episode]) -> None:
        for ep in episodes:
            if ep.seed >= HELD_OUT:
                raise AgentError(f"an episode from the held-out start {ep.seed} reached the memory: evaluation "
                                 "episodes are never learned from")
            if ep.seed < 0:
                raise AgentError("an episode without its start's seed reached the memory")
        self.episodes += episodes

    def __len__(self) -> int:
        return len(self.episodes)

    def steps(self) -> int:
        return sum(len(e.actions) for e in self.episodes)

    def seeds(self) -> set[int]:
        return {e.seed for e in self.episodes}

    def transitions(self) -> dict[str, Any]:
        """The world model's data: every step lived, (s, a, s1)."""
        import numpy as np
        import torch
        eps = self.episodes
        return {"s": torch.tensor(np.concatenate([e.states[:-1] for e in eps]), dtype=torch.float32),
                "a": torch.tensor(np.concatenate([e.actions for e in eps]), dtype=torch.float32),
                "s1": torch.tensor(np.concatenate([e.states[1:] for e in eps]), dtype=torch.float32)}

    def labels(self) -> dict[str, Any]:
        """The actor's data (Mode-1 imitates Mode-2): the states of Mode-2's own episodes with the actions
        it took, and the states the actor visited (DAgger) with the actions Mode-2 chose there."""
        import numpy as np
        import torch
        s, a = [], []
        for e in self.episodes:
            if e.purpose == Purpose.ROUND:
                s.append(e.states[:-1])
                a.append(e.actions)
            elif e.labels is not None:
                s.append(e.states[:-1])
                a.append(e.labels)
        if not s:
            raise AgentError("Mode-1 has no action of Mode-2 to learn from: set rounds >= 1")
        return {"s": torch.tensor(np.concatenate(s), dtype=torch.float32),
                "a": torch.tensor(np.concatenate(a), dtype=torch.float32)}

    def state(self) -> list[dict[str, Any]]:
        return [e.state() for e in self.episodes]

    @classmethod
    def from_state(cls, saved: list[dict[str, Any]]) -> Memory:
        m = cls()
        m.add([Episode.from_state(d) for d in saved])
        return m
