"""What every part of the agent shares: its error, the check for finite numbers, the part files'
parameters, and the trained weights handed from a model to the planners that unroll it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
CRITIC_TERM = "V"  # the planner's energy term that holds the critic


class AgentError(RuntimeError):
    """A problem the agent cannot go on from (a NaN, an environment that does not fit the model)."""


def finite(x: Any, what: str) -> None:
    import numpy as np
    if not np.all(np.isfinite(x)):
        raise AgentError(f"{what} is not finite (NaN or inf); the episode is stopped, the checkpoints are kept")


def declared(path: str, model: str | None = None) -> set[str]:
    """The parameters a model of the file declares (by default its last, the one the agent loads)."""
    from ..syntax import parse
    models = parse(Path(path).read_text(encoding="utf-8"), path).models
    pick = [m for m in models if m.name == model] if model else models[-1:]
    return {p.name for p in pick[0].params} if pick else set()


def params_for(path: str, params: dict[str, int | float], model: str | None = None) -> dict[str, int | float]:
    """The config's parameters that this file's model declares (the planner's T is not the world model's)."""
    names = declared(path, model)
    return {k: v for k, v in params.items() if k in names}


def compiled(path: str, params: dict[str, int | float], model: str | None = None, **fixed: int | float) -> Any:
    """A part file's model compiled with the config's parameters it declares (and `fixed` over them)."""
    from .. import compile as compile_graph
    from .. import load
    return compile_graph(load(path, model=model, params={**params_for(path, params, model), **fixed}))


def share_weights(wm: Any, planner: Any) -> int:
    """The planner's unrolled world model takes the trained world model's weights: each trainable
    function of the planner's Dynamics instance (f[0].pred) from the one of the same name in the
    world model's (f.pred). Returns how many were copied; none is an error (the files do not match)."""
    from ..compiled import _key

    def own(name: str) -> str:  # the function's name inside its sub-model: f[0].pred -> pred
        return name.rsplit(".", 1)[-1]

    trained = {own(n): wm.fns[_key(n)] for n in wm.graph.fns if _key(n) in wm.fns and "." in n}
    copied = 0
    for n in planner.graph.fns:
        if "." in n and own(n) in trained and _key(n) in planner.fns:
            try:
                planner.fns[_key(n)].load_state_dict(trained[own(n)].state_dict())
            except RuntimeError as exc:  # the two files were given different sizes
                sizes = "; ".join(line.strip() for line in str(exc).splitlines() if "size mismatch" in line)
                raise AgentError(f"the planner's {n} does not fit the trained world model's {own(n)} ({sizes}): give "
                                 "the planner's params the sizes (ds, hidden, ...) the world model was trained with") from None
            copied += 1
    if not copied:
        raise AgentError("the planner shares no trained function with the world model: its Dynamics instance "
                         "must declare the functions the world model trains (e.g. fn pred)")
    return copied


def addressed(model: Any, term: str) -> list[str]:
    """The energy terms a configurator's key names: the term itself ("c[0].C"), else that term at
    every step ("C" for c[0].C, c[1].C, ...)."""
    if term in model.weights:
        return [term]
    return [n for n in model.weights if n.rsplit(".", 1)[-1] == term]
