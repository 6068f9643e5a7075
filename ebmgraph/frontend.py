"""The front end in one call: text -> declarations -> Graph IR -> checks, all errors collected."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .check import check
from .decls import FileDecl
from .diagnostics import Diagnostic, EbmError, Reporter, Span
from .elaborate import elaborate
from .files import read_bounded
from .graph import Graph
from .limits import DEFAULT, Limits
from .plugins import load_entry_points
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
            limits: Limits = DEFAULT, params: dict[str, Any] | None = None, *, partial: bool = False,
            program: FileDecl | None = None) -> tuple[Graph | None, list[Diagnostic]]:
    """Parse, elaborate and check; return the graph (None on errors) and every diagnostic.

    `partial=True` is for a diagram still being drawn: when every error only says something is
    missing (a latent no energy term touches yet, a function or energy with inputs still to
    connect), the graph of what is there comes back too, with `graph.missing` holding those
    errors. `program` is the text's declarations when the caller parsed it already."""
    load_entry_points()  # parts installed packages register (plugins.py)
    try:
        with _no_gc_pauses():
            return _analyze(text, file, model, roots, limits, params, partial, program)
    except RecursionError:
        return None, _too_deep(file, text)


def is_missing(diag: Diagnostic) -> bool:
    """An error that says a part of the diagram is not drawn yet, not that a rule is broken."""
    f = diag.fields
    return diag.kind == "untouched_latent" or (diag.kind == "arity" and isinstance(f.get("got"), int)
                                               and isinstance(f.get("expected"), int) and f["got"] < f["expected"])


def _analyze(text: str, file: str, model: str | None, roots: list[Path] | None, limits: Limits,
             params: dict[str, Any] | None, partial: bool = False,
             program: FileDecl | None = None) -> tuple[Graph | None, list[Diagnostic]]:
    rep = Reporter(file, text)
    if program is not None and program.path == file and not program.repaired:
        fdecl = program  # parsed by the caller from this text, without errors
    else:
        fdecl = parse(text, file, rep)
    graph = None
    if not rep.has_errors or fdecl.repaired:
        graph = elaborate(fdecl, file, rep, model, roots, limits, params)
        if graph is not None:
            check(graph, rep, complete=not rep.has_errors)
            _at_use_sites(graph, rep, roots, limits)
    diags = rep.sorted()
    if rep.has_errors:
        errors = [x for x in diags if x.severity == "error"]
        if partial and graph is not None and all(is_missing(x) for x in errors):
            graph.missing = errors
            graph.warnings = [dg for dg in diags if dg.severity == "warning"]
            graph.sources = dict(rep.sources)
            return graph, diags
        return None, diags
    assert graph is not None
    graph.warnings = [dg for dg in diags if dg.severity == "warning"]
    graph.sources = dict(rep.sources)
    return graph, diags


_USED_FROM = re.compile(r"^in '([^']+)' \(([^)]+)\), used from (.+):(\d+):(\d+)$")


def _at_use_sites(graph: Graph, rep: Reporter, roots: list[Path] | None, limits: Limits) -> None:
    """A mistake in an imported file that only arises from how it is used (its model alone, with
    its defaults, is fine) is reported at the `use` line of this file, with a note pointing into
    the imported file. The imported file's own mistakes stay where they are."""
    own: dict[tuple[str, str], set[tuple[str, int, int]]] = {}
    kept, moved = [], []
    for diag in rep.diagnostics:
        chain = [m for n in diag.notes if (m := _USED_FROM.match(n))]
        if diag.file == rep.file or not chain or chain[-1].group(3) != rep.file:
            kept.append(diag)
            continue
        inner = (diag.file, chain[0].group(2))
        if inner not in own:
            text = "\n".join(rep.sources.get(diag.file, [])) + "\n"  # as the elaborator read it
            _, alone = analyze(text, diag.file, model=inner[1], roots=roots, limits=limits)
            own[inner] = {(x.code, x.line, x.column) for x in alone if x.file == diag.file}
        if (diag.code, diag.line, diag.column) in own[inner]:
            kept.append(diag)
            continue
        moved.append((diag, chain))
    if not moved:
        return
    rep.diagnostics = kept
    for diag, chain in moved:
        outer = chain[-1]
        span = graph.instance_sites.get(outer.group(1), (None, None))[1] or Span(int(outer.group(4)),
                                                                                int(outer.group(5)))
        where = f"{diag.file}:{diag.line}:{diag.column}"
        inside = " -> ".join(f"'{m.group(1)}' ({m.group(2)})" for m in reversed(chain))
        notes = [f"it arises inside {inside}, at {where}: " + (diag.source_line or "").strip()]
        notes += [n for n in diag.notes if not _USED_FROM.match(n)]
        rep.add(diag.severity, diag.code, diag.message, span, diag.hint, notes, rep.file, diag.fields)


def check_file(text: str, file: str = "<string>", roots: list[Path] | None = None,
               limits: Limits = DEFAULT, model: str | None = None,
               params: dict[str, Any] | None = None) -> list[Diagnostic]:
    """Every diagnostic of every model in a file (what `ebm check` prints), or of one model of it
    (`model`), its parameters set from `params` where given."""
    load_entry_points()
    try:
        with _no_gc_pauses():
            return _check_file(text, file, roots, limits, model, params)
    except RecursionError:
        return _too_deep(file, text)


def _check_file(text: str, file: str, roots: list[Path] | None, limits: Limits, model: str | None = None,
                params: dict[str, Any] | None = None) -> list[Diagnostic]:
    rep = Reporter(file, text)
    fdecl = parse(text, file, rep)
    if rep.has_errors and not fdecl.repaired:
        return rep.sorted()
    names = [m.name for m in fdecl.models] if model is None and fdecl.models else [model]
    for name in names:
        graph = elaborate(fdecl, file, rep, name, roots, limits, params)
        if graph is not None:
            check(graph, rep, complete=not rep.has_errors)
            _at_use_sites(graph, rep, roots, limits)
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
    """Graph of a model in a `.ebm` file; `model` names it when the file declares several."""
    p = Path(path)
    try:
        data = read_bounded(p)
    except OSError as exc:
        rep = Reporter(str(path), "")
        rep.error("E004", f"cannot read '{path}': {exc.strerror or exc}", Span(1, 1),
                  hint="check the path; library models are in library/")
        raise EbmError(rep.sorted()) from None
    return loads(decode(data, str(path)), file=str(path), model=model, roots=roots, limits=limits, params=params)
