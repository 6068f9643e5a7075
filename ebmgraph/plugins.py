"""Parts registered from Python, usable everywhere: `ebm check/show/render/train` and
`load_checkpoint` see them as they see the built-in catalogue.

Two ways to bring them in, both named outside any `.ebm` file (a model file never names Python):
- an installed package declares an entry point in the group `ebmgraph.parts`, pointing at a
  module that calls `ebmgraph.register(...)` when imported (`[project.entry-points."ebmgraph.parts"]
  myparts = "mypkg.parts"` in its pyproject.toml); every entry point is loaded once per process;
- a training config lists modules to import: `plugins = ["mypkg.parts"]` (found on the import
  path or in the config's folder); `ebm check/show/render/train/infer/eval --plugins mypkg.parts`
  (found on the import path, in the working folder or beside the .ebm file).
A checkpoint records the plugins whose parts its model uses; loading it without them names them.
"""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from importlib.metadata import entry_points

GROUP = "ebmgraph.parts"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_loaded = False
failed: dict[str, str] = {}  # entry point or module -> why it could not be loaded


class PluginError(Exception):
    """A plugin module named by the user could not be imported."""


def load_entry_points() -> None:
    """Import every module of the `ebmgraph.parts` entry-point group (once per process). One
    that fails is named in a warning and in the hint of any unknown part, never a traceback."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken installed plugin must not break every command
            failed[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"the ebmgraph plugin '{ep.name}' ({ep.value}) could not be loaded: {failed[ep.name]}",
                          stacklevel=2)


def import_modules(names: list[str], folders: list[str] | tuple[str, ...] = ()) -> None:
    """Import the modules a config or --plugins names; `folders` (the config's, the .ebm file's) are
    searched too, after the import path. PluginError says which failed and why."""
    for folder in folders:
        if folder not in sys.path:
            sys.path.append(folder)
    for name in names:
        if not _MODULE.match(name):
            raise PluginError(f"plugin '{name}' is not a module name; write it as in an import, e.g. mypkg.parts")
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the user's module: say what went wrong, located
            failed[name] = f"{type(exc).__name__}: {exc}"
            raise PluginError(f"plugin '{name}' could not be imported: {failed[name]}") from None


def unknown_part_hint() -> str | None:
    """A line for 'unknown function' messages when a plugin failed to load."""
    if not failed:
        return None
    return "a plugin failed to load: " + "; ".join(f"{k} ({v})" for k, v in failed.items())
