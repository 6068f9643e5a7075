"""What an inference method is: a name, an options table (type, default, one-line doc), a check
the checker calls, and the elimination itself (in the method's own file). Methods are
registered in one table, `METHODS`, which the elaborator, the checker, the engine, `ebm show`
and the app read; nothing else lists a method's options or defaults (pyro's MCMCKernel is the
model: a model does not know how it will be inferred)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..diagnostics import did_you_mean
from ..options import Option, fmt

if TYPE_CHECKING:
    from ..graph import Graph, Infer, Variable
    from ..limits import Limits


class ConvergenceWarning(UserWarning):
    """An inference method stopped before its tolerance was met; the message names the option to raise."""


PROGRESS_WORK = 50_000  # plan evaluations (steps x parts) from which a loop shows a progress bar


class Progress:
    """A progress bar for a long inference loop (none for short ones), and a Ctrl-C that stops the
    loop cleanly: the loop ends, the method returns what it has, and a warning says so."""

    def __init__(self, steps: int, parts: int, what: str):
        self.bar = None
        self.interrupted: int | None = None
        self.what = what
        if steps * max(parts, 1) >= PROGRESS_WORK:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=steps, desc=what, unit="step", leave=False, dynamic_ncols=True)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self, done: int) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.interrupted is not None:
            import warnings
            warnings.warn(ConvergenceWarning(f"{self.what} was interrupted (Ctrl-C) after {done} steps; the result "
                                             "is what it had reached"), stacklevel=5)


# A problem found by a method's check: (code, message, hint). The checker locates it.
Report = Callable[[str, str, str | None], None]


@dataclass(frozen=True)
class Resolved:
    """A variable's inference method with every option resolved: declared values over the defaults.
    `notes` says why an automatic default came out as it did (e.g. optimizer = fista: an l1 term)."""

    method: str
    options: dict[str, Any] = field(default_factory=dict)
    declared: bool = True  # False: the variable has no `infer` clause and gets its domain's default
    notes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.options[key]

    def text(self) -> str:
        """`minimize(optimizer = lbfgs, steps = 30, ...)`, the form `ebm show` prints."""
        parts = []
        for k, v in self.options.items():
            if v is None:
                continue
            note = f" [{self.notes[k]}]" if k in self.notes else ""
            parts.append(f"{k} = {fmt(v)}{note}")
        return f"{self.method}({', '.join(parts)})" + ("" if self.declared else "  (default for its domain)")


class Method:
    """An inference method; subclasses fill in the table and the hooks."""

    name: ClassVar[str]
    doc: ClassVar[str]
    options: ClassVar[tuple[Option, ...]]

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.name == key), None)

    def problem(self, key: str, value: Any, limits: Limits) -> tuple[str, str, str | None, dict[str, Any]] | None:
        """What is wrong with setting option `key` to `value`, as (code, message, hint, fields), or None.
        The one check of an option, for a declaration (located) and a call-time choice alike."""
        option = self.option(key)
        if option is None:
            names = [x.name for x in self.options]
            return ("E061", f"'{self.name}' has no option '{key}'",
                    did_you_mean(key, names) or "its options are " + ", ".join(names), {})
        want = option.problem(value)
        if want is not None:
            hint = did_you_mean(str(value), option.kind) if isinstance(option.kind, tuple) else None
            return ("E061", f"option '{key}' of '{self.name}' must be {want}, got {value!r}",
                    hint or f"{key}: {option.doc}", {})
        if option.limit is not None and value > getattr(limits, option.limit):
            bound = getattr(limits, option.limit)
            return ("E023", f"{key} = {value} is more work than the limit {option.limit} = {bound}",
                    limits.how_to_raise(option.limit), {"limit": option.limit, "expected": bound, "got": value})
        return None

    def resolve(self, g: Graph, v: Variable, declared: dict[str, Any]) -> Resolved:
        """Declared options over the defaults; subclasses resolve their automatic defaults."""
        opts = {o.name: declared.get(o.name, o.default) for o in self.options}
        return Resolved(self.name, opts)

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        """Problems with using this method on `v` (domain, proposals, sizes)."""


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add an inference method to the table (`infer <name>(...)` in `.ebm` files)."""
    METHODS[method.name] = method
    return method


def default_method(v: Variable) -> str:
    """The method a variable without an `infer` clause gets: enumerate small discrete domains,
    sample large ones, minimize reals."""
    if v.domain.discrete:
        return "enumerate" if v.domain.values() ** max(v.domain.numel, 1) <= 4096 else "sample"
    return "minimize"


def resolve(g: Graph, v: Variable, infer: Infer | None = None) -> Resolved:
    """The resolved method of `v`: its `infer` clause (or `infer`), else its domain's default."""
    spec = infer if infer is not None else v.infer
    if spec is None:
        r = METHODS[default_method(v)].resolve(g, v, {})
        return Resolved(r.method, r.options, declared=False, notes=r.notes)
    return METHODS[spec.method].resolve(g, v, dict(spec.options))
