"""Save and load a compiled model with the `.ebm` source of its graph.

The file holds plain tensors and strings only, so it loads with torch.load(weights_only=True);
it is written atomically, so a failed save never leaves a half-written file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .compiled import CompiledModel, compile
from .decls import FileDecl, models_used
from .diagnostics import EbmError
from .files import write_atomic
from .frontend import loads
from .graph import Graph
from .limits import DEFAULT, Limits
from .printer import dumps_file

FORMAT = "ebmgraph-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message says why."""


def bundle_source(graph: Graph) -> str:
    """One self-contained `.ebm` text: the graph's file with every imported model inlined."""
    models = []
    seen: set[str] = set()
    for fdecl in list(graph.imported.values()) + [graph.program]:
        for m in fdecl.models:
            if m.name not in seen:
                seen.add(m.name)
                models.append(m)
    needed = models_used(models, graph.name)
    main = next(m for m in models if m.name == graph.name)
    models = [m for m in models if m.name != graph.name and m.name in needed] + [main]
    return dumps_file(FileDecl(models=models))


def parts_of(graph: Any) -> set[str]:
    """The catalogue parts (functions and energies) a graph uses."""
    from .catalogue import FUNCTIONS
    return ({f.func for f in graph.fns.values()} | {a.fn for a in graph.applications if a.fn in FUNCTIONS}
            | {t.energy for t in graph.energies})


def plugins_of(graph: Any) -> dict[str, list[str]]:
    """The plugin modules whose parts a graph uses: {module: [parts]} (ebmgraph's own parts are not named)."""
    from .catalogue import ORIGINS
    out: dict[str, list[str]] = {}
    for part in sorted(parts_of(graph)):
        if part in ORIGINS:
            out.setdefault(ORIGINS[part], []).append(part)
    return out


def save(model: CompiledModel, path: str | Path, extra: dict[str, object] | None = None,
         standardization: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> Path:
    """Write weights, term weights, the input standardization and the graph's source to PATH (atomically)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "source": bundle_source(model.graph),
        "model": model.graph.name,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "weights": dict(model.weights),
        "params": dict(model.graph.overrides),  # parameters set from outside the source (load(params=...))
        "standardization": {k: {"mean": m.detach().cpu(), "std": sd.detach().cpu()}
                            for k, (m, sd) in (model.standardization if standardization is None
                                               else standardization).items()},
        "extra": extra or {},
        "plugins": plugins_of(model.graph),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda fh: torch.save(payload, fh))


def read(path: str | Path, training: bool = False) -> dict[str, Any]:
    """A checkpoint's contents, every part checked: the one safe way in, for `load_checkpoint`,
    `load_into` and `ebm train --resume`. `torch.load(weights_only=True)` refuses anything but
    tensors and plain data, and `mmap` leaves the tensors in the file until they are used."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"no checkpoint at '{path}'")
    if p.is_dir():
        raise CheckpointError(f"'{path}' is a directory, not a checkpoint file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"'{path}' is empty: the write that made it did not finish; use an earlier checkpoint")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # unpickling refuses anything but tensors and plain data; a torn file fails here
        why = str(exc).splitlines()[0][:200]
        raise CheckpointError(f"'{path}' is not a readable ebmgraph checkpoint (truncated, corrupted or another "
                              f"program's file): {type(exc).__name__}: {why}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an ebmgraph checkpoint (format {FORMAT})")
    want: dict[str, type | tuple[type, ...]] = {"source": str, "model": str, "state_dict": dict, "weights": dict,
                                                "extra": dict}
    for key, kind in want.items():
        if not isinstance(payload.get(key), kind):
            got = "missing" if key not in payload else f"a {type(payload[key]).__name__}"
            raise CheckpointError(f"checkpoint '{path}' is damaged: its '{key}' is {got}; re-save it from the model, "
                                  "or use an earlier checkpoint")
    for k, t in payload["state_dict"].items():
        if not isinstance(k, str) or not isinstance(t, torch.Tensor):
            raise CheckpointError(f"checkpoint '{path}' is damaged: state_dict entry {k!r} is not a tensor")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"checkpoint '{path}': parameter '{k}' holds NaN or infinite values; the run that "
                                  "saved it had diverged: use an earlier checkpoint")
    for k, w in payload["weights"].items():
        if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w):
            raise CheckpointError(f"checkpoint '{path}' is damaged: the weight of energy term {k!r} is {w!r}")
    params = payload.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, int | float) and
                                               not isinstance(v, bool) for k, v in params.items()):
        raise CheckpointError(f"checkpoint '{path}' is damaged: its model parameters are not names and numbers")
    stats = payload.get("standardization", {})
    if not isinstance(stats, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("mean"), torch.Tensor) and isinstance(v.get("std"), torch.Tensor)
            for v in stats.values()):
        raise CheckpointError(f"checkpoint '{path}' is damaged: its standardization is not mean/std tensors")
    if training:
        extra = payload["extra"]
        missing = [k for k in ("optimizer", "step", "epoch") if k not in extra]
        if missing:
            raise CheckpointError(f"checkpoint '{path}' holds no training state (no {', '.join(missing)}): it was "
                                  "saved by ebmgraph.save, not by a training run; start a new run (another out_dir), "
                                  "or load it as weights with ebmgraph.load_checkpoint")
        if not isinstance(extra["step"], int) or not isinstance(extra["epoch"], int) or extra["step"] < 0:
            raise CheckpointError(f"checkpoint '{path}' is damaged: its training step is {extra['step']!r}")
    return payload


def load_into(model: CompiledModel, path: str | Path) -> CompiledModel:
    """Load a checkpoint's weights into an existing compiled model, checking every shape."""
    payload = read(path)
    state = payload["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint '{path}' (model {payload.get('model')}) does not fit model {model.graph.name}: "
            + (f"missing parameters {', '.join(missing[:5])}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected parameters {', '.join(unexpected[:5])}" if unexpected else ""))
    for k, t in own.items():
        if tuple(state[k].shape) != tuple(t.shape):
            raise CheckpointError(f"checkpoint '{path}': parameter '{k}' has shape {tuple(state[k].shape)} but "
                                  f"model {model.graph.name} expects {tuple(t.shape)}; the graph's shapes differ "
                                  "from the one that was saved")
    model.load_state_dict(state)
    for k, w in payload["weights"].items():
        if k in model.weights:
            model.set_weight(k, float(w))
    stats = payload.get("standardization", {})
    model.standardization = {k: (v["mean"], v["std"]) for k, v in stats.items() if k in model.inputs}
    return model


def load(path: str | Path, limits: Limits = DEFAULT, plugins: list[str] | tuple[str, ...] = (),
         params: dict[str, Any] | None = None) -> CompiledModel:
    """A compiled model rebuilt from a checkpoint's own source, with its weights. The source is
    checked (limits included) before any of the model is built. Parts registered from Python come
    from installed plugins (entry-point group ebmgraph.parts) or the modules named in `plugins`
    (the checkpoint itself never names code to import). `params` sets the model's parameters over
    the saved ones (a planner's horizon T: the weights are the same for any T); a parameter that
    changes a weight's shape is an error naming it."""
    from .plugins import PluginError, import_modules

    try:
        import_modules(list(plugins))
    except PluginError as exc:
        raise CheckpointError(str(exc)) from None
    payload = read(path)
    needed = payload.get("plugins") or {}
    if needed:
        from .catalogue import ENERGIES, FUNCTIONS
        from .plugins import load_entry_points
        load_entry_points()
        missing = {mod: parts for mod, parts in needed.items()
                   if any(p not in FUNCTIONS and p not in ENERGIES for p in parts)}
        script = missing.pop("__main__", None)
        if script:
            raise CheckpointError(f"checkpoint '{path}' uses parts the script that saved it registered "
                                  f"({', '.join(script)}), not registered here: register them (ebmgraph.register) "
                                  "before loading it, or move them to a module and name it in plugins")
        if missing:
            mods = ", ".join(f"'{m}' ({', '.join(p)})" for m, p in missing.items())
            raise CheckpointError(f"checkpoint '{path}' was saved with parts from the plugin {mods}, not loaded "
                                  f"here: pass plugins={sorted(missing)!r} (on the command line: --plugins "
                                  f"{' --plugins '.join(sorted(missing))}), or install the package that registers them")
    try:
        from .elaborate import FROM_CHECKPOINT
        graph = loads(payload["source"], file=f"{FROM_CHECKPOINT}{Path(path).name}>", model=payload["model"],
                      limits=limits, params={**(payload.get("params") or {}), **(params or {})} or None)
    except EbmError as exc:
        raise CheckpointError(f"checkpoint '{path}': its model does not check:\n{exc.render()}") from None
    return load_into(compile(graph), path)
