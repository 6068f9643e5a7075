"""Bounds on the work a model may ask for, checked before any of it is done: parameters, memory
per sample, iteration counts. Each has a default measured to keep a 2-core, 24 GiB machine
responsive; raise one with `ebm ... --max-params N` (and the other flags), `limits = {...}` in a
training config, or `ebmgraph.load(path, limits=Limits(...))`."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_params: int = 50_000_000  # trainable parameters of one model (200 MB of float32)
    max_sample_mb: float = 512.0  # estimated activation memory per sample, with inference's rows
    max_steps: int = 100_000  # any iteration count: minimize steps, refine, Langevin steps, Gibbs sweeps
    max_rows: int = 1 << 24  # rows one inference evaluates: batch x enumerated values x restarts x draws
    max_draws: int = 100_000  # Monte Carlo samples, restarts, contrastive samples per sample, buffers
    max_nodes: int = 50_000  # nodes of one elaborated model (after unrolling loops and inlining uses)
    max_work: int = 100_000  # evaluations of functions and energies one inference call makes (~10 s here)
    max_train_steps: int = 10_000_000  # optimizer steps of one training run (max_steps, or epochs x batches)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"the limit {f.name} must be a positive number, got {v!r}")
            if f.type in ("int", int) and v != int(v):
                raise ValueError(f"the limit {f.name} must be a whole number, got {v!r}")

    def with_(self, **changes: Any) -> Limits:
        """A copy with some limits changed (None leaves one as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @staticmethod
    def flag(name: str) -> str:
        """The command-line flag that raises a limit: max_params -> --max-params."""
        return "--" + name.replace("_", "-")

    def how_to_raise(self, name: str) -> str:
        return (f"raise it with {self.flag(name)} on the command line, limits = {{ {name} = ... }} in a training "
                f"config, or ebmgraph.load(..., limits=Limits({name}=...))")


NAMES = tuple(f.name for f in fields(Limits))
DEFAULT = Limits()
