"""Located errors and warnings, rendered like stanc3/rustc, with "did you mean" hints."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Span:
    """A source range: 1-based line and column, end exclusive."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None


@dataclass
class Diagnostic:
    """One located problem in a `.ebm` file."""

    severity: Severity
    code: str
    message: str
    file: str = "<string>"
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    source_line: str | None = None

    def render(self) -> str:
        """Render as `file:line:col: error[E001]: message`, the source line, a caret and help."""
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        out = [head]
        if self.source_line is not None:
            gutter = f"{self.line} | "
            out.append(" " * (len(gutter) - 2) + "|")
            out.append(gutter + self.source_line.rstrip("\n"))
            width = 1
            if self.end_line == self.line and self.end_column and self.end_column > self.column:
                width = self.end_column - self.column
            col = max(self.column, 1)
            out.append(" " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^" * width)
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = help: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("source_line")
        return data


class EbmError(Exception):
    """The one exception a user sees: a list of located diagnostics (errors, maybe warnings too)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__(self.render())

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def render(self) -> str:
        errors = self.errors
        text = "\n\n".join(d.render() for d in self.diagnostics)
        return f"{text}\n\n{len(errors)} error{'s' if len(errors) != 1 else ''}"

    def to_json(self) -> str:
        return json.dumps([d.to_json() for d in self.diagnostics], indent=2)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close."""
    pool = sorted(set(choices))
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5 if len(name) <= 3 else 0.6)
    # a transposition ("mpl" for "mlp") is the likeliest typo: rank same-letter names first
    ratio = {c: difflib.SequenceMatcher(None, name, c).ratio() for c in close}
    close.sort(key=lambda c: (sorted(c) != sorted(name), -ratio[c]))
    if close:  # keep only the candidates about as good as the best one
        best = max(ratio.values())
        close = [c for c in close if ratio[c] >= best - 0.04 or sorted(c) == sorted(name)]
    if not close:
        return None
    if len(close) == 1:
        return f"did you mean '{close[0]}'?"
    return "did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"


class Reporter:
    """Collects the diagnostics of one file; knows its text so each gets its source line."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.sources: dict[str, list[str]] = {file: text.splitlines()}
        self.diagnostics: list[Diagnostic] = []

    def add_source(self, file: str, text: str) -> None:
        self.sources[file] = text.splitlines()

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        span: Span | None,
        hint: str | None = None,
        notes: list[str] | None = None,
        file: str | None = None,
    ) -> None:
        span = span or Span(1, 1)
        file = file or self.file
        lines = self.sources.get(file, [])
        src = lines[span.line - 1] if 0 < span.line <= len(lines) else None
        diag = Diagnostic(
            severity, code, message, file, span.line, span.column, span.end_line, span.end_column,
            hint, list(notes or []), src,
        )
        key = (diag.code, diag.line, diag.column, diag.message)
        if all((d.code, d.line, d.column, d.message) != key for d in self.diagnostics):
            self.diagnostics.append(diag)

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None,
              notes: list[str] | None = None, file: str | None = None) -> None:
        self.add("error", code, message, span, hint, notes, file)

    def warning(self, code: str, message: str, span: Span | None, hint: str | None = None,
                notes: list[str] | None = None, file: str | None = None) -> None:
        self.add("warning", code, message, span, hint, notes, file)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise EbmError(self.sorted())

    def sorted(self) -> list[Diagnostic]:
        main = self.file
        return sorted(self.diagnostics, key=lambda d: (d.file != main, d.file, d.line, d.column))
