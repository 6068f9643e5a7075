"""ebmgraph: LeCun-style energy-based model diagrams as `.ebm` text, drawings and PyTorch modules."""

from __future__ import annotations

from .build import Builder
from .diagnostics import Diagnostic, EbmError
from .frontend import load, loads
from .graph import Graph
from .printer import dumps_file


def dumps(graph: Graph) -> str:
    """Canonical `.ebm` text of a graph; `loads(dumps(g)) == g`."""
    return dumps_file(graph.program)


__all__ = ["Builder", "Diagnostic", "EbmError", "Graph", "dumps", "load", "loads"]
