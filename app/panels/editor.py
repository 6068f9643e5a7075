"""The text editor and its diagnostics: every message in full, wrapped, beside the text."""

from __future__ import annotations

from typing import Any

import streamlit as st


def show(diags: list[Any], file_name: str) -> None:
    st.text_area(f"Model ({file_name})", key="editor", height=520,
                 help="Ctrl+Enter (or clicking outside) checks the text; errors are listed below it")
    errors = [x for x in diags if x.severity == "error"]
    warns = [x for x in diags if x.severity == "warning"]
    if errors:
        lines = sorted({x.line for x in errors if x.file == file_name})
        where = f" on line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}" if lines else ""
        st.error(f"{len(errors)} error(s){where}; the canvas shows the last text that parsed")
        for x in errors:  # st.error wraps: the whole message is read, not a clipped code block
            st.error(x.render())
    for w in warns:
        st.warning(w.render())
