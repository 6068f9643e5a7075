"""The registry of functions (rounded boxes) and energies (red boxes).

Each entry has a signature, a static shape rule and a torch implementation. A user extends
either catalogue from Python with `register_function` / `register_energy`; a `.ebm` file only
names entries, it never runs Python of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..options import Option

Shape = tuple[int, ...]


class ShapeError(Exception):
    """Raised by a shape rule; the checker turns it into a located diagnostic."""


@dataclass
class Config:
    """A function's or energy's configuration: positional numbers and keyword options."""

    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    categories: tuple[int | None, ...] = ()  # per input: its number of categories k when categorical


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
    options: tuple[str | Option, ...] = ()  # names (any value), or typed options with defaults
    discrete_input: bool = False  # e.g. embedding takes category indices
    # (parameters, extra floats per sample beyond its output) from (config, input shapes, output
    # shape): what `check` adds up to refuse a model too large before anything is allocated
    cost: Callable[[Config, list[Shape], Shape], tuple[int, int]] | None = None
    sizes: bool = False  # every positional argument is a size (a positive integer)

    def option(self, key: str) -> str | Option | None:
        return next((o for o in self.options if (o.name if isinstance(o, Option) else o) == key), None)

    def option_names(self) -> list[str]:
        return [o.name if isinstance(o, Option) else o for o in self.options]


@dataclass
class EnergySpec:
    """An energy term: variables -> one scalar per sample, added to the total (Fig. 18 red box)."""

    name: str
    doc: str
    arity: int | None
    shape_rule: Callable[[list[Shape], Config], None]
    build: Callable[[Config, list[Shape]], Any]  # -> module mapping inputs to energies of shape (batch,)
    trainable: bool = False
    options: tuple[str | Option, ...] = ()
    min_args: int = 0
    max_args: int | None = 0
    cost: Callable[[Config, list[Shape], Shape], tuple[int, int]] | None = None
    discrete_args: tuple[int, ...] = ()  # inputs taken as category indices (others get a one-hot)

    def option(self, key: str) -> str | Option | None:
        return next((o for o in self.options if (o.name if isinstance(o, Option) else o) == key), None)

    def option_names(self) -> list[str]:
        return [o.name if isinstance(o, Option) else o for o in self.options]


FUNCTIONS: dict[str, FunctionSpec] = {}
ENERGIES: dict[str, EnergySpec] = {}
# part name -> the module outside ebmgraph that registered it (a plugin): a checkpoint records the
# plugins its model needs, and loading it without them names them
ORIGINS: dict[str, str] = {}


def _origin() -> str | None:
    """The module that called register...: the first frame outside this module; None when that is
    ebmgraph itself (the catalogue's own parts)."""
    import sys
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    name = str(frame.f_globals.get("__name__", ""))
    return None if name == "ebmgraph" or name.startswith("ebmgraph.") else name


def _note_origin(name: str) -> None:
    origin = _origin()
    if origin is None:
        ORIGINS.pop(name, None)
    else:
        ORIGINS[name] = origin
def register_function(spec: FunctionSpec, *, replace: bool = False) -> FunctionSpec:
    """Add a function to the catalogue under `spec.name` (usable from `.ebm` as `fn f = name(...)`)."""
    if spec.name in FUNCTIONS and not replace:
        raise ValueError(f"a function named {spec.name!r} is already registered; pass replace=True")
    if spec.name in ENERGIES:
        raise ValueError(f"{spec.name!r} already names an energy")
    FUNCTIONS[spec.name] = spec
    _note_origin(spec.name)
    return spec


def register_energy(spec: EnergySpec, *, replace: bool = False) -> EnergySpec:
    """Add an energy to the catalogue under `spec.name` (usable as `energy E = name(...)`)."""
    if spec.name in ENERGIES and not replace:
        raise ValueError(f"an energy named {spec.name!r} is already registered; pass replace=True")
    if spec.name in FUNCTIONS:
        raise ValueError(f"{spec.name!r} already names a function")
    ENERGIES[spec.name] = spec
    _note_origin(spec.name)
    return spec


def fmt_shape(shape: Shape) -> str:
    return "R[" + ", ".join(str(s) for s in shape) + "]" if shape else "R[] (a scalar)"


from . import energies as _energies  # noqa: E402,F401
from . import functions as _functions  # noqa: E402,F401
from .regularizers import REGULARIZERS, RegularizerSpec  # noqa: E402

__all__ = ["ENERGIES", "FUNCTIONS", "ORIGINS", "REGULARIZERS", "Config", "EnergySpec", "FunctionSpec", "RegularizerSpec",
           "ShapeError", "fmt_shape", "register", "register_energy", "register_function"]


def register(name: str, factory: Callable[..., Any], *, energy: bool = False, arity: int | None = 1,
             shape: Callable[..., Shape] | None = None, doc: str = "", options: tuple[str | Option, ...] = (),
             replace: bool = False) -> FunctionSpec | EnergySpec:
    """Register a torch module (or a plain callable) under NAME for use in `.ebm` files.

    `factory(*args, **options)` builds the module from the numbers written in the `.ebm`
    declaration (`fn f = NAME(8, 16)`). Without `shape`, the output shape is found by running the
    module once on zeros. An energy must return one value per sample, shape (batch,).
    """
    import inspect

    import torch

    if not options:  # the factory's keyword parameters are the options a .ebm file may set
        try:
            options = tuple(p.name for p in inspect.signature(factory).parameters.values()
                            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        except (TypeError, ValueError):
            options = ()

    def build(cfg: Config, shapes: list[Shape]) -> Any:
        made = factory(*cfg.args, **cfg.options)
        if isinstance(made, torch.nn.Module):
            return made
        from .modules import Lambda
        return Lambda(made, name)

    def probe(shapes: list[Shape], cfg: Config) -> Any:
        try:
            module = build(cfg, shapes)
            with torch.no_grad():
                out = module(*[torch.zeros(2, *s) for s in shapes])
        except Exception as exc:  # the user's module refused these inputs: report it at the call
            raise ShapeError(f"{name} failed on inputs of shapes "
                             f"{', '.join(fmt_shape(s) for s in shapes)}: {exc}") from None
        return tuple(out.shape[1:])

    def fn_shape(shapes: list[Shape], cfg: Config) -> Shape:
        return shape(shapes, cfg) if shape is not None else probe(shapes, cfg)

    def energy_shape(shapes: list[Shape], cfg: Config) -> None:
        if shape is not None:
            shape(shapes, cfg)
            return
        if probe(shapes, cfg) != ():
            raise ShapeError(f"energy {name} must return one value per sample, shape (batch,)")

    if energy:
        return register_energy(EnergySpec(name, doc or f"user energy {name}", arity, energy_shape, build,
                                          trainable=True, options=options, max_args=None), replace=replace)
    return register_function(FunctionSpec(name, doc or f"user function {name}", arity, fn_shape, build,
                                          trainable=True, options=options, max_args=None), replace=replace)
