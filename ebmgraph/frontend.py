"""The front end in one call: text -> declarations -> Graph IR -> checks, all errors collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .check import check
from .diagnostics import Diagnostic, EbmError, Reporter, Span
from .elaborate import elaborate
from .graph import Graph
from .limits import DEFAULT, Limits
from .syntax import parse


def decode(data: bytes, file: str) -> str:
    """Bytes of a `.ebm` file as text; a located error when they are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        rep = Reporter(file, before.decode("utf-8", "replace"))
        rep.error("E003", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                  Span(line, column), hint="save the file as UTF-8")
        raise EbmError(rep.sorted()) from None


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """The front end allocates many small acyclic objects; the cyclic collector only slows it
    (about a third of the time on a 10k-node model). It runs again right after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _too_deep(file: str, text: str) -> list[Diagnostic]:
    rep = Reporter(file, text)
    rep.error("E002", "the file nests too deeply to analyse", Span(1, 1),
              hint="write deep expressions as several named steps")
    return rep.sorted()


def analyze(text: str, file: str = "<string>", model: str | None = None, roots: list[Path] | None = None,
            limits: Limits = DEFAULT, params: dict[str, Any] | None = None) -> tuple[Graph | None, list[Diagnostic]]:
    """Parse, elaborate and check; return the graph (None on errors) and every diagnostic."""
    try:
        with _no_gc_pauses():
            return _analyze(text, file, model, roots, limits, params)
    except RecursionError:
        return None, _too_deep(file, text)


def _analyze(text: str, file: str, model: str | None, roots: list[Path] | None, limits: Limits,
             params: dict[str, Any] | None) -> tuple[Graph | None, list[Diagnostic]]:
    rep = Reporter(file, text)
    fdecl = parse(text, file, rep)
    graph = None
    if not rep.has_errors:
        graph = elaborate(fdecl, file, rep, model, roots, limits, params)
        if graph is not None:
            check(graph, rep, complete=not rep.has_errors)
    diags = rep.sorted()
    if rep.has_errors:
        return None, diags
    assert graph is not None
    graph.warnings = [dg for dg in diags if dg.severity == "warning"]
    graph.sources = dict(rep.sources)
    return graph, diags


def check_file(text: str, file: str = "<string>", roots: list[Path] | None = None,
               limits: Limits = DEFAULT) -> list[Diagnostic]:
    """Every diagnostic of every model in a file (what `ebm check` prints)."""
    try:
        with _no_gc_pauses():
            return _check_file(text, file, roots, limits)
    except RecursionError:
        return _too_deep(file, text)


def _check_file(text: str, file: str, roots: list[Path] | None, limits: Limits) -> list[Diagnostic]:
    rep = Reporter(file, text)
    fdecl = parse(text, file, rep)
    if rep.has_errors:
        return rep.sorted()
    if not fdecl.models:
        elaborate(fdecl, file, rep, None, roots, limits)
    for m in fdecl.models:
        graph = elaborate(fdecl, file, rep, m.name, roots, limits)
        if graph is not None:
            check(graph, rep, complete=not rep.has_errors)
    return rep.sorted()


def loads(text: str, *, file: str = "<string>", model: str | None = None, roots: list[Path] | None = None,
          limits: Limits = DEFAULT, params: dict[str, Any] | None = None) -> Graph:
    """Graph of a model written in `.ebm` text; raises EbmError listing every error. `params` sets
    the model's parameters without editing the text: loads(text, params={"T": 10})."""
    graph, diags = analyze(text, file, model, roots, limits, params)
    if graph is None:
        raise EbmError(diags)
    return graph


def load(path: str | Path, *, model: str | None = None, roots: list[Path] | None = None,
         limits: Limits = DEFAULT, params: dict[str, Any] | None = None) -> Graph:
    """Graph of a model in a `.ebm` file (by default the last model of the file)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        rep = Reporter(str(path), "")
        rep.error("E004", f"cannot read '{path}': {exc.strerror or exc}", Span(1, 1),
                  hint="check the path; library models are in library/")
        raise EbmError(rep.sorted()) from None
    return loads(decode(data, str(path)), file=str(path), model=model, roots=roots, limits=limits, params=params)
