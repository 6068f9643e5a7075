"""Modules imported on first use, so the front end (`ebm check`, `fmt`, `show`, `render`) starts
without importing torch; code that computes reaches torch through these the first time it runs."""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands for a module until one of its attributes is read; then imports it, once."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_module"] = None

    def _load(self) -> types.ModuleType:
        mod = self.__dict__["_module"]
        if mod is None:
            mod = importlib.import_module(self.__name__)
            self.__dict__["_module"] = mod
        return mod

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._load(), attr)
        if not attr.startswith("__"):
            # kept here: the next read is a plain attribute hit, not a call (an inner loop reads
            # torch.randn, torch.no_grad, ... every step)
            self.__dict__[attr] = value
        return value

    def __call__(self) -> types.ModuleType:
        return self._load()


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
modules = LazyModule("ebmgraph.catalogue.modules")  # the catalogue's torch modules: modules().Lambda(...)
