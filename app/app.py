"""The ebmgraph composer: `.ebm` text and a canvas on one graph, the Fig. 18 drawing, an inspector,
inference and training panels, and the agent's Planning panel.  Run: `make app`, or
`python -m ebmgraph.app_launch [MODEL.ebm] [--host H] [--port P]`: it serves 127.0.0.1 unless --host says
otherwise (with a warning). A bare `streamlit run app/app.py` serves every interface unless given
`--server.address 127.0.0.1`.

This file is the page; the panels are modules of app/panels, the session keys are declared in
app/state.py, and the figures come from ebmgraph.plots."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # `app` is the package beside this file, not this script

import streamlit as st  # noqa: E402

from app import canvas, disk, state  # noqa: E402
from app.panels import drawing, editor, inference, inspector, planning, sidebar, training  # noqa: E402
from ebmgraph.diagnostics import EbmError  # noqa: E402
from ebmgraph.frontend import analyze  # noqa: E402
from ebmgraph.syntax import parse  # noqa: E402

LIBRARY = ROOT / "library"
TABS = ["Compose", "Drawing", "Inspector", "Inference", "Training", "Planning"]


def default_model() -> tuple[Path, bool]:
    """The file named on the command line (Save writes back to it), else the library's JEPA."""
    args = [a for a in sys.argv[1:] if a.endswith(".ebm")]
    if not args:
        return LIBRARY / "jepa.ebm", False
    path = Path(args[0])
    return (path if path.is_absolute() else Path.cwd() / path), True


def take_pending_text() -> None:
    """The text the app set (state.set_text) becomes the editor's. The code editor takes it in place:
    its `code` argument changes and it resets to it (no new frame, no reload of Ace, nothing typed
    into a frame being replaced). When the new text is the very one it was last given while the user
    has typed since, the argument would not change: it is given with one more newline at the end,
    which the editor then shows (the text itself is the app's, without it)."""
    ss = st.session_state
    if ss.pending_text is not None:
        if ss.pending_text != ss.editor:
            ss.editor_code = ss.pending_text if ss.pending_text != ss.editor_code else ss.pending_text + "\n"
        ss.editor, ss.pending_text = ss.pending_text, None


def check() -> tuple[str, str, Any, list[Any], float]:
    """Take what was typed or set, then parse and analyze the text once per text: (text, file name,
    graph, diagnostics, ms it took). The Drawing and Inspector show a partial graph too."""
    ss = st.session_state
    editor.take_typed()
    take_pending_text()
    if ss.canvas_ops:  # a hook for tests and scripts: canvas edits as data
        ops, ss.canvas_ops = ss.canvas_ops, []
        canvas.apply_ops(ops)
        take_pending_text()
    from app.history import record
    record(ss.editor)  # a text other than the one taken last is an edit: Undo gives back the one before
    text = ss.editor
    if ss.notice and ss.notice[2] is not None and ss.notice[2] != text:
        ss.notice = None  # the text changed since: the message was about the text before
    name = state.shown_name()
    if ss.checked is not None and ss.checked[:2] == (text, name):
        return ss.checked  # type: ignore[no-any-return]
    t0 = time.perf_counter()
    try:
        program = parse(text, name)
    except EbmError:
        program = None
    if program is not None:
        ss.last_good_program = program
    models = program.models if program is not None else []
    # the canvas composes the file's last model; with several, it is named (load() would ask which).
    # Its imports resolve beside the opened file (its folder, when it has one): the text is analyzed as
    # that folder's file, and its own messages go by its name
    file = str(Path(ss.file_dir) / name) if ss.file_dir else name
    try:
        graph, diags = analyze(text, file, model=models[-1].name if len(models) > 1 else None, partial=True,
                               program=program)
    except EbmError as exc:  # a text the parser refuses whole (too large, nested too deep): its errors, listed
        graph, diags = None, exc.diagnostics
    for x in diags:  # in place: the graph's `missing` names these very diagnostics
        if x.file == file:
            x.file = name
    if graph is not None and not graph.missing:
        ss.last_good_graph = graph
    ss.checked = (text, name, graph, diags, 1000 * (time.perf_counter() - t0))
    return ss.checked  # type: ignore[no-any-return]


def page_key() -> tuple[Any, ...]:
    """What the page outside the Compose tab shows of the text (the file name in the sidebar's
    download and save, the sub-model menu): a change made on the Compose tab reruns the page."""
    ss = st.session_state
    graph = ss.last_good_graph
    return state.shown_name(), tuple(sorted(graph.instances.items())) if graph is not None else ()


def header(name: str, ms: float) -> None:
    """The file the text goes by, and the message of the last action (kept until the next one)."""
    ss = st.session_state
    where = f" ({ss.file_path})" if ss.file_path and name == ss.file_name else ""
    renamed = "" if name == ss.file_name else f" — not saved: the text declares another model than {ss.file_name}"
    st.caption(f"{name}{where}{renamed} — checked in {ms:.0f} ms")
    # one container whether or not there is a message: what follows keeps its place in the page, so
    # the code editor after it is never made anew (that lost what was typed into it meanwhile)
    box = st.container()
    if ss.notice:
        kind, msg, _ = ss.notice
        (box.error if kind == "error" else box.success)(msg)


@st.fragment
def compose() -> None:
    """The Compose tab as a fragment: typing, a canvas edit, a node drag or a click reruns this alone,
    in one run (the canvas' event is taken first, so the editor below shows its result at once).
    What the rest of the page shows of the text is rerun only when it changed (page_key)."""
    before = page_key()
    canvas.take_event()
    _, name, graph, diags, ms = check()
    if page_key() != before:
        st.rerun(scope="app")
    header(name, ms)
    left, right = st.columns([2, 3])
    with left:
        editor.show(diags, name, graph)
    with right:
        canvas.panel()


def main() -> None:
    st.set_page_config(page_title="ebmgraph composer", layout="wide")
    path, own = default_model()
    first = "editor" not in st.session_state
    state.init(path)
    ss = st.session_state
    if first:
        ss.file_dir = str(path.parent)  # the text's imports resolve beside it
    if first and own:
        ss.file_path = str(path)
        disk.remember(path)  # Save refuses to overwrite a change made to it elsewhere
    check()  # what was typed or set is the text before the sidebar offers it for download
    sidebar.show()
    st.title("ebmgraph composer")
    ss.runs += 1  # for benchmarks/bench_app.py: whether an action reran the page
    st.markdown(f'<span data-ebm-runs="{ss.runs}" style="display: none"></span>', unsafe_allow_html=True)
    # lazy tabs: only the open tab's panel runs (a switch reruns the page), so an edit on the
    # Compose tab does not render the drawing, run the Inspector's inference or build the training form
    tabs = st.tabs(TABS, key="tab", on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            compose()
        return
    if tabs[5].open:  # the agent of 003: its own files, not the model being composed
        with tabs[5]:
            planning.show()
        return
    text, name, graph, diags, ms = check()  # the sidebar may have set a text (an opened file)
    complete = graph if graph is not None and not graph.missing else None  # what inference and training need
    header(name, ms)
    if tabs[1].open:
        with tabs[1]:
            editor.next_step(graph)
            drawing.show(graph, name)
    if tabs[2].open:
        with tabs[2]:
            editor.next_step(graph)
            inspector.show(graph, text)
    if tabs[3].open:
        with tabs[3]:
            editor.next_step(graph, waits="inference")
            inference.show(complete, text)
    if tabs[4].open:
        with tabs[4]:
            editor.next_step(graph, waits="training")
            training.show(complete, text)


if __name__ == "__main__":
    main()
