"""Save and load a compiled model with the `.ebm` source of its graph.

The file holds plain tensors and strings only, so it loads with torch.load(weights_only=True);
it is written atomically, so a failed save never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .compile import CompiledModel, compile
from .decls import FileDecl
from .files import write_atomic
from .frontend import loads
from .graph import Graph
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
    main = next(m for m in models if m.name == graph.name)
    models = [m for m in models if m.name != graph.name] + [main]
    return dumps_file(FileDecl(models=models))


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
        "standardization": {k: {"mean": m.detach().cpu(), "std": sd.detach().cpu()}
                            for k, (m, sd) in (model.standardization if standardization is None
                                               else standardization).items()},
        "extra": extra or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda fh: torch.save(payload, fh))


def _read(path: str | Path) -> dict[str, object]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at '{path}'") from None
    except Exception as exc:  # unpickling refuses anything but tensors and plain data
        raise CheckpointError(f"'{path}' is not a readable ebmgraph checkpoint: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an ebmgraph checkpoint (format {FORMAT})")
    return payload


def load_into(model: CompiledModel, path: str | Path) -> CompiledModel:
    """Load a checkpoint's weights into an existing compiled model, checking every shape."""
    payload = _read(path)
    state = payload["state_dict"]
    assert isinstance(state, dict)
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
    weights = payload.get("weights", {})
    assert isinstance(weights, dict)
    for k, w in weights.items():
        if k in model.weights:
            model.set_weight(k, float(w))
    stats = payload.get("standardization", {})
    assert isinstance(stats, dict)
    model.standardization = {k: (v["mean"], v["std"]) for k, v in stats.items() if k in model.inputs}
    return model


def load(path: str | Path) -> CompiledModel:
    """A compiled model rebuilt from a checkpoint's own source, with its weights."""
    payload = _read(path)
    source = payload["source"]
    assert isinstance(source, str)
    graph = loads(source, file=f"<checkpoint {Path(path).name}>", model=str(payload["model"]))
    return load_into(compile(graph), path)
