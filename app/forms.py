"""Form fields read from the registries (an option's name, type, default and doc)."""

from __future__ import annotations

from typing import Any

from ebmgraph.options import Option


def option_fields(prefix: str, options: tuple[Any, ...], where: Any,
                  current: dict[str, str] | None = None) -> dict[str, str]:
    """One form field per option of a registry entry, its default as placeholder, its doc as help,
    starting from the `current` values (the text's); empty fields keep the default (the text then
    leaves the option out)."""
    current = current or {}
    out: dict[str, str] = {}
    for o in options:
        name = o if isinstance(o, str) else o.name
        default = "" if isinstance(o, str) else o.default
        doc = "" if isinstance(o, str) else o.doc
        if isinstance(o, Option) and isinstance(o.kind, tuple):
            choices = ["(default)", *map(str, o.kind)]
            now = current.get(name, "(default)")
            choice = where.selectbox(name, choices, index=choices.index(now) if now in choices else 0,
                                     key=f"{prefix}{name}", help=doc)
            out[name] = "" if choice == "(default)" else choice
        else:
            out[name] = where.text_input(name, value=current.get(name, ""), key=f"{prefix}{name}",
                                         placeholder=str(default), help=doc)
    return out
