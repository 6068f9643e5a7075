"""ebmgraph: LeCun-style energy-based model diagrams as `.ebm` text, drawings and PyTorch modules.

The front end (load, loads, dumps, Builder, the diagnostics) imports no torch, so `ebm check`,
`fmt`, `show` and `render` start at once; `compile`, `train` and checkpoints import it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .build import Builder
from .catalogue import register
from .diagnostics import Diagnostic, EbmError, InputError
from .frontend import load, loads
from .graph import Graph
from .printer import dumps_file

if TYPE_CHECKING:
    from .checkpoint import load as load_checkpoint
    from .checkpoint import save
    from .compiled import CompiledModel, compile
    from .training import TrainConfig, train

_LAZY = {"CompiledModel": ("compiled", "CompiledModel"), "compile": ("compiled", "compile"),
         "load_checkpoint": ("checkpoint", "load"), "save": ("checkpoint", "save"),
         "TrainConfig": ("training", "TrainConfig"), "train": ("training", "train")}


def __getattr__(name: str) -> Any:
    """The parts that need torch, imported when first used: ebmgraph.compile, ebmgraph.train, ..."""
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ebmgraph' has no attribute '{name}'")


def dumps(graph: Graph, bundle: bool = False) -> str:
    """Canonical `.ebm` text of a graph's file (`ebm fmt`'s); `loads(dumps(g), file=its file) == g`.
    With `bundle=True`, one self-contained text: the graph's model last, after every model it uses
    (imported ones inlined, none it does not use), so that `loads(dumps(g, bundle=True)) == g`
    wherever the text goes (what a checkpoint keeps)."""
    if bundle:
        from .checkpoint import bundle_source
        return bundle_source(graph)
    return dumps_file(graph.program)


__all__ = ["Builder", "CompiledModel", "Diagnostic", "EbmError", "Graph", "InputError", "compile", "dumps", "load",
           "load_checkpoint", "loads", "register", "save", "TrainConfig", "train"]
