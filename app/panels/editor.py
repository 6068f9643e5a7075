"""The text editor and its diagnostics: every message in full, wrapped, beside the text."""

from __future__ import annotations

from typing import Any

import streamlit as st

DEBOUNCE_MS = 120  # the editor sends its text this long after typing stops
EDITOR_KEY = "code_editor"  # one editor for the session: a text the app sets reaches it in place


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


def gutter_marks(diags: list[Any], file_name: str) -> list[dict[str, Any]]:
    """The editor's gutter marks: one per diagnostic of this file, at its line and column, with
    its message on hover (Ace counts rows and columns from 0)."""
    out = []
    for x in diags:
        if x.file != file_name:
            continue
        out.append({"row": max(x.line - 1, 0), "column": max(x.column - 1, 0),
                    "type": "error" if x.severity == "error" else "warning",
                    "text": f"{x.code}: {x.message}" + (f" ({x.hint})" if x.hint else "")})
    return out


def show(diags: list[Any], file_name: str, graph: Any = None) -> None:
    """The text in a code editor (Ace, via streamlit-code-editor: line numbers, a mark in the gutter
    on each diagnostic's line, changes sent DEBOUNCE_MS after typing stops), the messages beside it."""
    from code_editor import code_editor

    from ..history import buttons
    ss = st.session_state
    buttons()  # Undo and Redo: one history for the text and the canvas
    st.caption(f"Model ({file_name}) — checked as you type")
    resp = code_editor(ss.editor_code, lang="text", height=[24, 32], response_mode="debounce", allow_reset=True,
                       key=EDITOR_KEY,
                       options={"showLineNumbers": True, "wrap": True, "tabSize": 2, "useSoftTabs": True},
                       props={"annotations": gutter_marks(diags, file_name), "debounceChangePeriod": DEBOUNCE_MS})
    if take_typed(resp):  # an event the page did not see when it started (it reads the key first)
        st.rerun()
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


def take_typed(resp: Any = None) -> bool:
    """What the user typed becomes the text. The page calls this first, with the value the editor
    sent (Streamlit keeps it under the widget's key before the widget is drawn), so a keystroke costs
    one run of the page, not two. The editor is given the text the app last set (`editor_code`),
    never what was typed: when the app changes the text (a canvas edit, an opened file) that argument
    changes and the editor resets to it in place; otherwise a rerun never touches what is typed."""
    ss = st.session_state
    if resp is None:
        resp = ss.get(EDITOR_KEY)
    if resp and resp.get("id") and resp["id"] != ss.editor_event and resp.get("type") == "change":
        ss.editor_event = resp["id"]
        if resp.get("text", ss.editor) != ss.editor:
            ss.editor = resp["text"]
            return True
    return False
