"""Located errors and warnings, rendered like stanc3/rustc, with "did you mean" hints."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
SHOWN = 120  # characters of a source line a diagnostic shows

# Every diagnostic code, once: its kind (what code that needs to know which error happened reads,
# never the prose) and the rule it enforces. `ebm check --json` carries both.
CODES: dict[str, tuple[str, str]] = {
    "E001": ("syntax", "the text must parse"),
    "E002": ("too_deep", "nesting must stay within the analyser's depth"),
    "E003": ("encoding", "files are UTF-8 text"),
    "E004": ("unreadable", "the file must be readable"),
    "E010": ("unknown_name", "names must be declared"),
    "E011": ("duplicate_model", "a model or parameter is declared once"),
    "E012": ("no_model", "a file declares a model"),
    "E013": ("unknown_parameter", "a use sets only the model's parameters"),
    "E014": ("assign_into_submodel", "a sub-model's variables are assigned inside it"),
    "E015": ("duplicate", "a name is defined once"),
    "E016": ("unknown_variable", "variables must be declared"),
    "E017": ("unknown_part", "functions, energies and regularizers come from the catalogue"),
    "E018": ("arity", "a part takes its number of inputs and its options"),
    "E019": ("trainable_inline", "trainable functions are declared once and applied by name"),
    "E020": ("bad_number", "numbers must be finite and of the right kind"),
    "E021": ("bad_size", "sizes are positive integers within the limits"),
    "E022": ("too_large", "a model unrolls to a bounded number of statements"),
    "E023": ("work_limit", "parameters, memory per sample and iteration counts stay within the limits"),
    "E024": ("fixed_weights", "a fixed function's weights are a readable float array of its parameters' shape"),
    "E030": ("unknown_model", "used models must be defined or imported"),
    "E031": ("self_use", "a model cannot use itself"),
    "E032": ("unknown_port", "a use binds the model's own variables"),
    "E033": ("unknown_instance", "shares names an instance"),
    "E034": ("port_bound_twice", "a use binds each port once"),
    "E040": ("cycle", "no cycle through deterministic functions"),
    "E041": ("shape_mismatch", "a function's inputs fit its shape rule"),
    "E042": ("shape_mismatch", "an energy's inputs fit its shape rule"),
    "E043": ("untouched_latent", "every latent is touched by an energy term"),
    "E044": ("inference_domain", "an inference method fits its variable's domain"),
    "E045": ("bad_proposal", "an amortized latent has a proposal computed from observed variables"),
    "E050": ("absolute_import", "imports are relative"),
    "E051": ("missing_import", "imported files must exist"),
    "E052": ("import_cycle", "imports must not form a cycle"),
    "E060": ("unknown_method", "inference methods come from the method table"),
    "E061": ("bad_option", "an option exists and has a value of its type"),
    "E062": ("not_inferred", "an `infer` statement names a latent"),
    "E063": ("bad_noise", "noise is real, drawn from a known distribution with numeric options"),
    "W001": ("collapse_latent", "a latent as large as its target needs a regularizer (003 Fig. 10b)"),
    "W002": ("collapse_embedding", "a joint embedding needs an information-maximizing term (003 Fig. 10d)"),
    "W003": ("collapse_autoencoder", "an auto-encoder's code must be smaller than its input (003 Fig. 10c)"),
    "W004": ("unapplied_fn", "a declared function is applied"),
    "W005": ("auto_one_hot", "a categorical variable entering a real-valued part is made one-hot"),
    "W006": ("unbounded_below", "a negatively weighted term keeps the energy bounded below in its latents"),
    "C000": ("config_syntax", "a config is valid TOML"),
    "C001": ("config_value", "config keys and values are valid"),
    "C002": ("config_name", "a config names the model's variables and parts"),
}


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
    fields: dict[str, Any] = field(default_factory=dict)  # structured facts: expected, got, node, ...

    @property
    def kind(self) -> str:
        """The error's kind from the table of codes (e.g. "arity", "cycle")."""
        return CODES.get(self.code, ("unknown", ""))[0]

    @property
    def rule(self) -> str:
        return CODES.get(self.code, ("", "invalid diagram"))[1]

    def render(self) -> str:
        """Render as `file:line:col: error[E001]: message`, the source line, a caret and help."""
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        out = [head]
        if self.source_line is not None:
            gutter = f"{self.line} | "
            line = self.source_line.rstrip("\n").replace("\x00", "\\0")
            width = 1
            if self.end_line == self.line and self.end_column and self.end_column > self.column:
                width = self.end_column - self.column
            col = max(self.column, 1)
            if len(line) > SHOWN:  # a very long line: the part around the mistake
                start = max(0, col - 1 - SHOWN // 3)
                line = ("..." if start else "") + line[start:start + SHOWN] + ("..." if start + SHOWN < len(line) else "")
                col = col - start + (3 if start else 0)
                width = min(width, SHOWN)
            out.append(" " * (len(gutter) - 2) + "|")
            out.append(gutter + line)
            out.append(" " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^" * width)
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = help: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("source_line")
        data["kind"] = self.kind
        return data


class InputError(ValueError):
    """A call got the wrong variables, shapes, dtypes or values; the message names them."""


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
        fields: dict[str, Any] | None = None,
    ) -> None:
        span = span or Span(1, 1)
        file = file or self.file
        lines = self.sources.get(file, [])
        src = lines[span.line - 1] if 0 < span.line <= len(lines) else ("" if not lines and span.line == 1 else None)
        diag = Diagnostic(
            severity, code, message, file, span.line, span.column, span.end_line, span.end_column,
            hint, list(notes or []), src, dict(fields or {}),
        )
        key = (diag.code, diag.line, diag.column, diag.message)
        if all((d.code, d.line, d.column, d.message) != key for d in self.diagnostics):
            self.diagnostics.append(diag)

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None,
              notes: list[str] | None = None, file: str | None = None, fields: dict[str, Any] | None = None) -> None:
        assert code in CODES, code
        self.add("error", code, message, span, hint, notes, file, fields)

    def warning(self, code: str, message: str, span: Span | None, hint: str | None = None,
                notes: list[str] | None = None, file: str | None = None, fields: dict[str, Any] | None = None) -> None:
        assert code in CODES, code
        self.add("warning", code, message, span, hint, notes, file, fields)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise EbmError(self.sorted())

    def sorted(self) -> list[Diagnostic]:
        main = self.file
        return sorted(self.diagnostics, key=lambda d: (d.file != main, d.file, d.line, d.column))
