"""ebmgraph: LeCun-style energy-based model diagrams as `.ebm` text, drawings and PyTorch modules."""

from __future__ import annotations

from .build import Builder
from .catalogue import register
from .checkpoint import load as load_checkpoint
from .checkpoint import save
from .compile import CompiledModel, InputError, compile
from .diagnostics import Diagnostic, EbmError
from .frontend import load, loads
from .graph import Graph
from .printer import dumps_file
from .training import TrainConfig, train


def dumps(graph: Graph) -> str:
    """Canonical `.ebm` text of a graph; `loads(dumps(g)) == g`."""
    return dumps_file(graph.program)


__all__ = ["Builder", "CompiledModel", "Diagnostic", "EbmError", "Graph", "InputError", "compile", "dumps", "load",
           "load_checkpoint", "loads", "register", "save", "TrainConfig", "train"]
