"""Every session key of the composer, declared once: what it holds and where it starts.

`STATE` are the app's own keys (set by `init` on the first run); `WIDGETS` are the keys given to
widgets (Streamlit owns their values). tests/test_app.py checks that the app's code names no key
that is not declared here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

STATE: dict[str, tuple[Callable[[], Any], str]] = {
    "editor": (str, "the .ebm text: what the user typed last, or what the app last put there"),
    "editor_code": (str, "the text last given to the code editor: it resets to a new one in place"),
    "editor_event": (str, "the id of the code editor's last change event handled"),
    "pending_text": (lambda: None, "text the app puts in the editor on the next run"),
    "file_name": (str, "the name of the file the text came from"),
    "file_path": (lambda: None, "the local file opened from the command line, which Save writes back"),
    "file_model": (lambda: None, "the model the opened file declares (the text may declare another)"),
    "positions": (dict, "canvas positions by node id; they survive text edits"),
    "last_good_program": (lambda: None, "the declarations of the last text that parsed (the canvas edits them)"),
    "checked": (lambda: None, "(text, file name, graph, diagnostics, ms) of the text last parsed and analyzed"),
    "last_good_graph": (lambda: None, "the last graph that elaborated (sub-model menu)"),
    "marked": (list, "canvas nodes ringed red by the last refused edit"),
    "canvas_ops": (list, "canvas edits as data (a hook for tests and scripts)"),
    "undo_stack": (list, "texts before the last edits, newest last (app/history.py; Undo gives them back)"),
    "redo_stack": (list, "texts Undo replaced, newest last (Redo gives them back; a new edit clears them)"),
    "history_text": (lambda: None, "the text the page took last: a different one is a new edit (app/history.py)"),
    "notice": (lambda: None, "(kind, message, text it was given for): kept until the next action"),
    "upload_arrays": (lambda: None, "arrays of an uploaded data file"),
    "data_upload": (lambda: None, "(file id, error message or None) of the data file last read (read once)"),
    "model_cache": (lambda: (None, None), "(text, compiled model): compiled once per text"),
    "history": (list, "the metric rows of the last training run"),
    "train_message": (lambda: None, "(kind, message) of the last training run: finished, stopped, failed"),
    "checkpoint": (lambda: None, "the bytes of the last run's checkpoint, for Save checkpoint"),
    "checkpoint_path": (lambda: None, "where the last run's checkpoint is on disk"),
    "collapse": (list, "collapse warnings of the last training run"),
    "inference": (lambda: None, "(inputs key, given, result, targets) of the last inference"),
    "runs": (int, "how many times the page ran (benchmarks/bench_app.py reads it)"),
    "layout_version": (int, "bumped by Reset layout: the canvas is built anew"),
    "flow": (lambda: None, "the canvas component's state as we built it"),
    "flow_for": (lambda: None, "(text, marked, layout version, positions) the canvas state was built for"),
    "flow_routes": (dict, "(source, target) -> the pieces a routed canvas edge is drawn as, through bend points"),
    "flow_known": (lambda: None, "(node ids, edges) the canvas shows, to tell its events apart"),
    "flow_seen": (int, "timestamp of the last canvas event handled"),
    "selected": (lambda: None, "the canvas node last clicked (the Inspector shows it)"),
    "uploaded_id": (lambda: None, "file id of the last uploaded .ebm (handled once)"),
    "layout_id": (lambda: None, "file id of the last uploaded layout (handled once)"),
    "back_to": (lambda: None, "(text, file name) to return to from an opened sub-model"),
    "plan_detail": (lambda: None, "the Planning panel's last episode: its key, episode_detail's record, goal, env"),
}

WIDGETS: dict[str, str] = {
    "code_editor": "the model's text (Ace)",
    "dataset": "the bundled dataset or 'upload'",
    "library_pick": "library model to open", "open_library": "open it",
    "upload_ebm": "open a .ebm file", "download_ebm": "download the text", "save_file": "save to the opened file",
    "download_layout": "download canvas positions", "upload_layout": "open canvas positions",
    "reset_layout": "lay every canvas node out again",
    "submodel_pick": "sub-model instance to open", "open_submodel": "open it", "back": "back to the parent",
    "palette_kind": "palette: what to add", "palette_name": "palette: its name", "palette_shape": "palette: shape",
    "palette_energy": "palette: energy", "palette_function": "palette: function", "palette_config": "palette: sizes",
    "palette_add": "palette: add it", "palette_params": "palette: parameters", "palette_comment": "palette: comment",
    "palette_domain": "palette: domain", "palette_k": "palette: categories", "palette_box_lo": "palette: box low",
    "palette_box_hi": "palette: box high", "palette_infer": "palette: inference method",
    "palette_infer_": "palette: an inference option (palette_infer_NAME)", "palette_fn_name": "palette: fn name",
    "palette_opt_": "palette: a function option", "palette_weight": "palette: weight",
    "palette_eopt_": "palette: an energy option", "upload_data": "data file",
    "fold": "drawing: fold sub-models", "fold_loops": "drawing: fold loops", "drawing_zoom": "drawing: zoom",
    "dl_svg": "SVG", "dl_png": "PNG", "dl_dot": "DOT",
    "inspect_node": "inspected node", "inspect_sample": "inspected sample",
    "inspect_rename": "inspector: new name", "inspect_rename_go": "inspector: rename",
    "history_undo": "undo the last edit", "history_redo": "redo the last undone edit",
    "inspect_delete": "inspector: delete", "inspect_infer": "inspector: inference method",
    "inspect_infer_": "inspector: an inference option", "inspect_infer_go": "inspector: apply",
    "infer_given": "given variables", "infer_sample": "sample to infer", "run_inference": "run it",
    "train_loss": "loss", "train_target": "contrastive target", "train_reg": "added regularizer",
    "train_on": "its representations", "train_epochs": "epochs", "train_lr": "learning rate",
    "train_batch": "batch size", "train_divergence": "divergence bound", "train_stop": "stop",
    "train_start": "start", "dl_ckpt": "save checkpoint",
    "map_": "data for an observed variable (map_NAME)",
    "canvas": "the canvas component",
    "tab": "the open tab (only its panel runs)",
    "plan_agent": "planning: the agent config", "plan_quick": "planning: quick run",
    "plan_source": "planning: which saved run", "plan_episode": "planning: the episode's seed",
    "plan_run": "planning: run an episode", "plan_step": "planning: the plan made at step",
    "plan_pixel_kind": "planning: a pixel agent's planner",
}


def init(path: Path) -> None:
    """Declare every key with its default, once per session, and open `path`."""
    ss = st.session_state
    if "editor" in ss:
        return
    for name, (default, _) in STATE.items():
        if name not in ss:
            ss[name] = default()
    ss.editor = ss.editor_code = path.read_text(encoding="utf-8")
    ss.file_name = path.name
    ss.file_model = model_name(ss.editor)
    ss.dataset = "digits"


def model_name(text: str) -> str | None:
    """The name of the text's last model (the canvas composes it), without a full parse."""
    import re
    found = re.findall(r"^\s*model\s+([A-Za-z_][A-Za-z0-9_]*)", text, flags=re.M)
    return found[-1] if found else None


def shown_name() -> str:
    """The file name the text goes by: the opened file's while the text declares its model; once
    another model is typed, a name of its own (`<model>.ebm`), so downloads and errors say so."""
    ss = st.session_state
    name = model_name(ss.editor)
    if name is None or name == ss.file_model or ss.file_model is None:
        return str(ss.file_name)
    return f"{snake(name)}.ebm"


def snake(name: str) -> str:
    import re
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def notify(kind: str, message: str, text: str | None = None) -> None:
    """A message kept on screen until the next action (a new notice, or the text changing)."""
    ss = st.session_state
    ss.notice = (kind, message, text)


def set_text(text: str) -> None:
    """Replace the editor's text on the next run (the code editor is given it anew)."""
    st.session_state.pending_text = text


# the opened file on disk (app/disk.py): Save refuses to overwrite a change made elsewhere
STATE.update({
    "file_dir": (lambda: None, "the folder the text's imports resolve beside (the opened file's); None: an upload"),
    "file_sig": (lambda: None, "(path, sha256, mtime ns, size) of the opened file as this session loaded or saved it"),
    "file_conflict": (lambda: None, "'save' (Save refused: the file changed on disk) or 'disk' (changed while open)"),
    "file_diff": (lambda: None, "the unified diff of the text here against the file on disk, when asked"),
})
WIDGETS.update({
    "file_reload": "reload the opened file from disk", "file_diff_go": "show the diff against the disk",
    "file_overwrite": "overwrite the file changed on disk", "save_as_path": "save as: the path",
    "save_as_confirm": "save as: overwrite an existing file", "save_as_go": "save as: write it",
})
