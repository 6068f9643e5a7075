"""The registry of functions (rounded boxes) and energies (red boxes).

Each entry has a signature, a static shape rule and a torch implementation. A user extends
either catalogue from Python with `register_function` / `register_energy`; a `.ebm` file only
names entries, it never runs Python of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


class ShapeError(Exception):
    """Raised by a shape rule; the checker turns it into a located diagnostic."""


@dataclass
class Config:
    """A function's or energy's configuration: positional numbers and keyword options."""

    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class FunctionSpec:
    """A deterministic function: inputs -> one output (Fig. 18 rounded box)."""

    name: str
    doc: str
    arity: int | None  # number of inputs; None = one or more
    shape_rule: Callable[[list[Shape], Config], Shape]
    build: Callable[[Config, list[Shape]], Any]  # -> torch.nn.Module taking the inputs
    trainable: bool = False
    config_args: str = ""  # how the positional args read, for messages: "din, dout"
    min_args: int = 0
    max_args: int | None = 0
    options: tuple[str, ...] = ()
    discrete_input: bool = False  # e.g. embedding takes category indices


@dataclass
class EnergySpec:
    """An energy term: variables -> one scalar per sample, added to the total (Fig. 18 red box)."""

    name: str
    doc: str
    arity: int | None
    shape_rule: Callable[[list[Shape], Config], None]
    build: Callable[[Config, list[Shape]], Any]  # -> module mapping inputs to energies of shape (batch,)
    trainable: bool = False
    options: tuple[str, ...] = ()
    min_args: int = 0
    max_args: int | None = 0


FUNCTIONS: dict[str, FunctionSpec] = {}
ENERGIES: dict[str, EnergySpec] = {}
REGULARIZERS: dict[str, str] = {
    "vicreg": "variance-invariance-covariance regularization of two embeddings (002 sec. 6.1)",
    "barlow_twins": "Barlow Twins redundancy reduction between two embeddings",
    "infonce": "InfoNCE contrastive loss between two embeddings (003 eq. 9)",
    "variance": "VICReg's variance hinge alone on one representation",
    "covariance": "VICReg's off-diagonal covariance penalty on one representation",
}
INFO_MAXIMIZING = {"vicreg", "barlow_twins", "infonce", "variance", "covariance"}


def register_function(spec: FunctionSpec, *, replace: bool = False) -> FunctionSpec:
    """Add a function to the catalogue under `spec.name` (usable from `.ebm` as `fn f = name(...)`)."""
    if spec.name in FUNCTIONS and not replace:
        raise ValueError(f"a function named {spec.name!r} is already registered; pass replace=True")
    if spec.name in ENERGIES:
        raise ValueError(f"{spec.name!r} already names an energy")
    FUNCTIONS[spec.name] = spec
    return spec


def register_energy(spec: EnergySpec, *, replace: bool = False) -> EnergySpec:
    """Add an energy to the catalogue under `spec.name` (usable as `energy E = name(...)`)."""
    if spec.name in ENERGIES and not replace:
        raise ValueError(f"an energy named {spec.name!r} is already registered; pass replace=True")
    if spec.name in FUNCTIONS:
        raise ValueError(f"{spec.name!r} already names a function")
    ENERGIES[spec.name] = spec
    return spec


def fmt_shape(shape: Shape) -> str:
    return "R[" + ", ".join(str(s) for s in shape) + "]" if shape else "R[] (a scalar)"


from . import energies as _energies  # noqa: E402,F401
from . import functions as _functions  # noqa: E402,F401
