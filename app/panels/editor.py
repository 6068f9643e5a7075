"""The text editor and its diagnostics: every message in full, wrapped, beside the text."""

from __future__ import annotations

from typing import Any

import streamlit as st


def next_step(graph: Any, waits: str | None = None) -> None:
    """What a diagram still being drawn lacks, as the next thing to do (not as an error)."""
    if graph is None or not graph.missing:
        return
    steps = "; ".join(_step(x) for x in graph.missing)
    if waits:
        st.info(f"{waits} waits for a complete model. Next step: {steps}")
    else:
        st.info(f"Next step: {steps}")


def _step(x: Any) -> str:
    f = x.fields
    if x.kind == "arity":
        need = f["expected"] - f["got"]
        return f"connect {need} more input{'s' if need > 1 else ''} to '{f.get('node', '?')}' ({x.message})"
    return x.message + (f": {x.hint}" if x.hint else "")


def show(diags: list[Any], file_name: str, graph: Any = None) -> None:
    st.text_area(f"Model ({file_name})", key="editor", height=520,
                 help="Ctrl+Enter (or clicking outside) checks the text; errors are listed below it")
    missing = {id(x) for x in (graph.missing if graph is not None else [])}
    next_step(graph)
    errors = [x for x in diags if x.severity == "error" and id(x) not in missing]
    warns = [x for x in diags if x.severity == "warning"]
    if errors:
        lines = sorted({x.line for x in errors if x.file == file_name})
        where = f" on line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}" if lines else ""
        st.error(f"{len(errors)} error(s){where}; the canvas shows the last text that parsed")
        for x in errors:  # st.error wraps: the whole message is read, not a clipped code block
            st.error(x.render())
    for w in warns:
        st.warning(w.render())
