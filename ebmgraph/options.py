"""An option of a named part (an inference method, a regularizer): its type, default and one-line
doc, written once, where the part is defined; the elaborator, the config and `ebm show` read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def fmt(value: Any) -> str:
    """A value as `.ebm` text writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Option:
    """One option of a named part.

    `kind` is `int`, `float`, `bool`, `"name"` (a variable name) or a tuple of choices.
    `low` is the smallest value allowed for numbers, `open_low` makes it exclusive."""

    name: str
    kind: Any
    default: Any
    doc: str
    low: float | None = None
    open_low: bool = False
    limit: str | None = None  # the Limits field bounding this value from above (an iteration count)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed, or None."""
        k = self.kind
        if isinstance(k, tuple):
            return None if value in k else "one of " + ", ".join(k)
        if k == "name":
            return None if isinstance(value, str) else "a variable name"
        if k == "sizes":
            ok = isinstance(value, list | tuple) and all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                        for x in value)
            return None if ok else "a list of positive sizes"
        if k is bool:
            return None if isinstance(value, bool) else "true or false"
        is_num = isinstance(value, int | float) and not isinstance(value, bool)
        if k is int and not (is_num and float(value).is_integer()):
            return "an integer"
        if k is float and not is_num:
            return "a number"
        if self.low is not None:
            bad = value <= self.low if self.open_low else value < self.low
            if bad:
                noun = "integer" if k is int else "number"
                if self.open_low and self.low == 0:
                    return f"a positive {noun}"
                return f"{'an' if k is int else 'a'} {noun} {'>' if self.open_low else '>='} {self.low:g}"
        return None

    def describe(self) -> str:
        kind = ("{" + ", ".join(self.kind) + "}" if isinstance(self.kind, tuple) else
                "variable" if self.kind == "name" else "sizes" if self.kind == "sizes" else self.kind.__name__)
        default = "none" if self.default is None else fmt(self.default)
        return f"{self.name} : {kind} = {default}  -- {self.doc}"
