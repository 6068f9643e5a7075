"""The sidebar: files (open, save, download, layout), sub-models, the palette and the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from ebmgraph.files import OutputError

from .. import disk, uploads
from ..canvas import apply_ops
from ..data import DATASETS
from ..forms import option_fields
from ..state import model_name, notify, set_text, shown_name

LIBRARY = Path(__file__).resolve().parent.parent.parent / "library"


def layout_json(pos: dict[str, tuple[float, float]]) -> str:
    return json.dumps({"ebmgraph_layout": 1, "positions": {k: [round(x, 1), round(y, 1)] for k, (x, y) in
                                                           sorted(pos.items())}}, indent=1)


def read_layout(data: bytes | str, name: str = "the layout") -> None:
    """Take the canvas positions of a layout file (uploads.UploadError, a ValueError, when it is not one)."""
    st.session_state.positions = uploads.read_layout(data, name)


def unreadable(name: str, exc: BaseException) -> str:
    """The message for an upload that failed in a way uploads.py did not foresee: said on the page, never
    a traceback (a bug to report, but the user's text and data are kept)."""
    return f"cannot read {name}: {type(exc).__name__}: {exc}"


def opened(text: str, name: str, path: Path | None, folder: Path | None = None) -> None:
    """The text of a newly opened file: its name, its model, where Save writes (`path`, whose content
    this session then remembers) and the folder its imports resolve beside (the path's, or `folder`
    for a file Save does not write; None for an upload, which has none)."""
    ss = st.session_state
    set_text(text)
    ss.file_name = name
    ss.file_model = model_name(text)
    ss.file_path = str(path) if path is not None else None
    ss.file_dir = str(path.parent) if path is not None else str(folder) if folder is not None else None
    ss.file_conflict = ss.file_diff = None
    ss.checked = None  # checked again, its imports beside its folder
    if path is not None:
        disk.remember(path)
    ss.positions = {}


def library_names() -> list[str]:
    """Every library model, in its folders too, by its path under library/ (e.g. agent/planner.ebm):
    the top-level models first, then each folder's."""
    names = [p.relative_to(LIBRARY).as_posix() for p in LIBRARY.rglob("*.ebm") if p.is_file()]
    return sorted(names, key=lambda n: (n.count("/"), n))


def conflict() -> None:
    """The opened file changed on disk since this session loaded or saved it (noticed on a rerun, by a
    stat and then its hash, or by Save): a warning, and the choice to reload it, see the difference or
    overwrite it. Nothing is written until Overwrite is pressed."""
    ss = st.session_state
    now = disk.state(full=ss.file_conflict is not None)  # once seen changed, by its hash (as Save saw it)
    if now == "same":  # the disk has (again) what this session had: nothing to choose
        ss.file_conflict = ss.file_diff = None
        return
    ss.file_conflict = ss.file_conflict or "disk"
    path = ss.file_path
    what = "was deleted" if now == "deleted" else "was changed on disk"
    done = " Save did not write it." if ss.file_conflict == "save" else ""
    st.sidebar.warning(f"{path} {what} since this session opened or saved it.{done} Reload it from disk, "
                       "look at the difference, or overwrite it with the text here.")
    if now != "deleted" and st.sidebar.button("Reload from disk", key="file_reload",
                                              help="replace the text here with the file's (an edit here is lost)"):
        try:
            text = disk.disk_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            notify("error", f"cannot reload {path}: {exc}", ss.editor)
        else:  # the same file: its canvas positions are kept
            set_text(text)
            ss.file_model = model_name(text)
            disk.remember(path, text.encode("utf-8"))
            ss.file_conflict = ss.file_diff = None
            notify("success", f"reloaded {path} from disk", text)
        st.rerun()
    if now != "deleted" and st.sidebar.button("Show diff", key="file_diff_go",
                                              help="the difference from the text here to the file on disk"):
        ss.file_diff = disk.diff(ss.editor, path)
    if st.sidebar.button("Overwrite", key="file_overwrite", help=f"write the text here to {path} anyway"):
        save(path)
        st.rerun()
    if ss.file_diff is not None:
        st.sidebar.code(ss.file_diff, language="diff")


def save(path: str) -> None:
    """Write the text to `path` (the opened file), remembering it; a failure is a message."""
    ss = st.session_state
    try:
        disk.write(path, ss.editor)
        ss.file_conflict = ss.file_diff = None
        notify("success", f"saved {path}", ss.editor)
    except OutputError as exc:
        notify("error", str(exc), ss.editor)


def save_as() -> None:
    """Save as…: the text to a new file (a path relative to the working directory), which Save then
    writes. An existing file is overwritten only when that is ticked."""
    ss = st.session_state
    box = st.sidebar.expander("Save as…", expanded=not ss.file_path)
    where = box.text_input("Path (relative to the working directory)", key="save_as_path",
                           placeholder=f"models/{shown_name()}")
    sure = box.checkbox("Overwrite it if it exists", key="save_as_confirm")
    if not box.button("Save as", key="save_as_go"):
        return
    raw = where.strip()
    path = Path(raw).expanduser() if raw else None
    if path is not None and not path.is_absolute():
        path = Path.cwd() / path
    if path is None or path.suffix != ".ebm":
        notify("error", f"give a path ending in .ebm to save {shown_name()} as", ss.editor)
    elif path.is_dir():
        notify("error", f"{path} is a folder: give a file name ending in .ebm", ss.editor)
    elif path.exists() and not sure:
        notify("error", f"{path} exists: nothing was written; tick 'Overwrite it if it exists' to replace it",
               ss.editor)
    else:
        try:
            disk.write(path, ss.editor)
        except OutputError as exc:
            notify("error", str(exc), ss.editor)
        else:
            ss.file_path, ss.file_name, ss.file_dir = str(path), path.name, str(path.parent)
            ss.file_model = model_name(ss.editor)
            ss.file_conflict = ss.file_diff = ss.checked = None  # checked again: imports beside its new folder
            notify("success", f"saved {path}; Save writes it from now on", ss.editor)
    st.rerun()


def imports_without_folder() -> None:
    """An uploaded file has no folder: an import it names can only come from library/ (or the working
    directory), never silently: where each one found was taken from is said (one not found is the
    elaborator's located error E051)."""
    ss = st.session_state
    if ss.file_dir is not None or ss.checked is None or "import" not in ss.checked[0]:
        return
    from ebmgraph.diagnostics import EbmError, Reporter
    from ebmgraph.elaborate import Elaborator
    from ebmgraph.syntax import parse
    text, name = ss.checked[0], ss.checked[1]
    try:
        program = parse(text, name)
    except EbmError:
        return
    where = Elaborator(Reporter(name, text))  # the very resolution the check used
    found = [where.resolve_import(imp, name) for imp in program.imports]
    here = [_shown_path(p) for p in found if p is not None]
    if here:
        st.sidebar.warning(f"{ss.file_name} was uploaded, so it has no folder to import beside: its imports were "
                           f"taken from {', '.join(here)}. Open it from its folder (Save as, or the command line) "
                           "to import the files beside it.")


def _shown_path(path: str | Path) -> str:
    p = Path(path)
    for root in (LIBRARY.parent, Path.cwd()):
        if p.is_relative_to(root):
            return p.relative_to(root).as_posix()
    return str(p)


def files() -> None:
    ss = st.session_state
    st.sidebar.header("Files")
    names = library_names()
    pick = st.sidebar.selectbox("Library model (template)", names, index=names.index("jepa.ebm"), key="library_pick")
    if st.sidebar.button("Open", key="open_library"):
        text = (LIBRARY / pick).read_text()
        # a template: Save never writes into the library; its imports resolve beside it (agent/planner.ebm's
        # world_model.ebm is agent/world_model.ebm, not library/world_model.ebm)
        opened(text, Path(pick).name, None, (LIBRARY / pick).parent)
        sidecar = LIBRARY / f"{pick}.layout.json"
        if sidecar.exists():
            read_layout(sidecar.read_bytes(), sidecar.name)
        notify("success", f"opened library/{pick}", text)
        st.rerun()
    up = st.sidebar.file_uploader("Open a .ebm file", type=["ebm"], key="upload_ebm")
    if up is not None and ss.uploaded_id != up.file_id:
        ss.uploaded_id = up.file_id
        # a file refused is said above the editor; the text being edited stays as it was
        try:
            text = uploads.read_ebm(up.getvalue(), up.name)
            opened(text, up.name, None)
            notify("success", f"opened {up.name}", text)
        except uploads.UploadError as exc:
            notify("error", str(exc), ss.editor)
        except Exception as exc:  # noqa: BLE001 - whatever it is, a message on the page, not a traceback
            notify("error", unreadable(up.name, exc), ss.editor)
        st.rerun()
    name = shown_name()
    if ss.file_path and name == ss.file_name:
        if st.sidebar.button(f"Save {name}", key="save_file", help=f"writes {ss.file_path} (atomically, keeping its "
                             "mode), unless it changed on disk since this session opened or saved it"):
            if disk.state(full=True) == "same":
                save(ss.file_path)
            else:  # changed elsewhere (an editor, another tab): nothing written, the choice is offered
                ss.file_conflict, ss.file_diff = "save", None
            st.rerun()
    if ss.file_path:
        conflict()
    save_as()
    imports_without_folder()
    st.sidebar.download_button(f"Download {name}", ss.editor, file_name=name, key="download_ebm")
    # canvas positions live beside the model, keyed by node name, in a sidecar the compiler never reads
    # a node drag reruns the canvas alone, not this sidebar: the file is written when clicked, from the
    # positions as they are then (the same dict the canvas updates)
    positions = ss.positions
    st.sidebar.download_button("Download layout", lambda: layout_json(positions), file_name=f"{name}.layout.json",
                               key="download_layout")
    lay = st.sidebar.file_uploader("Open a layout (.layout.json)", type=["json"], key="upload_layout")
    if lay is not None and ss.layout_id != lay.file_id:
        ss.layout_id = lay.file_id
        try:
            read_layout(lay.getvalue(), lay.name)
            notify("success", f"layout {lay.name} applied", ss.editor)
        except uploads.UploadError as exc:
            notify("error", str(exc), ss.editor)
        except Exception as exc:  # noqa: BLE001 - whatever it is, a message on the page, not a traceback
            notify("error", unreadable(lay.name, exc), ss.editor)
        ss.layout_version += 1
        st.rerun()
    if st.sidebar.button("Reset layout", key="reset_layout", help="lay every canvas node out again"):
        ss.positions = {}
        ss.layout_version += 1
        st.rerun()
    graph = ss.last_good_graph
    if graph is not None and graph.instances:
        inst = st.sidebar.selectbox("Sub-model", sorted(graph.instances), key="submodel_pick",
                                    format_func=lambda i: f"{i} : {graph.instances[i]}")
        if st.sidebar.button("Open sub-model", key="open_submodel"):
            model = graph.instances[inst]
            path = next((p for p, f in graph.imported.items() if any(m.name == model for m in f.models)), None)
            ss.back_to = (ss.editor, ss.file_name, ss.file_model, ss.file_path, ss.file_dir)
            if path is not None:
                text = Path(path).read_text(encoding="utf-8")
                opened(text, Path(path).name, None, Path(path).parent)
            notify("success", f"opened {model}; 'Back' returns to the text you were editing", ss.pending_text or ss.editor)
            st.rerun()
    if ss.back_to and st.sidebar.button("Back", key="back"):
        text, ss.file_name, ss.file_model, ss.file_path, ss.file_dir = ss.back_to
        ss.back_to = None
        set_text(text)
        st.rerun()


def _sizes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _pairs(text: str) -> dict[str, str]:
    """`r1 = 1.0, r2 = 2.0` as a dict (the parameters' field)."""
    out: dict[str, str] = {}
    for part in _sizes(text):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip()
    return out


def _domain_changed() -> None:
    """A new domain starts the shape field afresh: a categorical's shape is empty (one category), a
    real vector's 4; a size typed for another domain does not carry over ({3}[2] by mistake)."""
    ss = st.session_state
    ss.palette_shape = "" if ss.palette_domain == "categorical" else "4"


def palette() -> None:
    """Everything the language can say, from the registries: the model header and its parameters,
    variables with their domain and inference, functions and energies with their options."""
    from ebmgraph.catalogue import ENERGIES, FUNCTIONS
    from ebmgraph.inference.method import METHODS
    sb = st.sidebar
    sb.header("Palette")
    kind = sb.selectbox("Add", ["observed", "latent", "function", "energy", "parameters", "new model"],
                        key="palette_kind")
    op: dict[str, Any] | None = None
    box = sb.container()
    if kind == "new model":
        name = box.text_input("Model name", key="palette_name", placeholder="Ellipse")
        params = box.text_input("Parameters", key="palette_params", placeholder="r1 = 1.0, r2 = 2.0")
        comment = box.text_area("Comment above it", key="palette_comment", height=68)
        op = {"op": "new_model", "name": name, "params": _pairs(params), "comment": comment}
    elif kind == "parameters":
        params = box.text_input("Parameters (added or changed)", key="palette_params", placeholder="r1 = 1.0")
        op = {"op": "params", "params": _pairs(params)}
    elif kind in ("observed", "latent"):
        name = box.text_input("Name", key="palette_name")
        dom = box.selectbox("Domain", ["real", "categorical", "spins", "bits"], key="palette_domain",
                            on_change=_domain_changed)
        shape = box.text_input("Shape" if dom != "categorical" else "Shape (empty: one category)",
                               value="4" if dom != "categorical" else "", key="palette_shape")
        op = {"op": "add_variable", "role": kind, "name": name, "domain": dom, "shape": _sizes(shape)}
        if dom == "categorical":
            op["k"] = box.text_input("Categories k", value="10", key="palette_k")
        if dom == "real":
            lo = box.text_input("Box: lower bound (empty: unbounded)", key="palette_box_lo")
            hi = box.text_input("Box: upper bound", key="palette_box_hi")
            if lo.strip() or hi.strip():
                op["box"] = [lo, hi]
        if kind == "latent":
            method = box.selectbox("Infer", ["(domain's default)", *sorted(METHODS)], key="palette_infer")
            if method != "(domain's default)":
                opts = option_fields("palette_infer_", METHODS[method].options, box)
                op["infer"] = {"method": method, "options": opts}
    elif kind == "function":
        func = box.selectbox("Function", sorted(FUNCTIONS), key="palette_function")
        spec = FUNCTIONS[func]
        box.caption(spec.doc)
        target = box.text_input("Output variable", key="palette_name", placeholder="y_hat")
        op = {"op": "add_function", "target": target, "function": func}
        if spec.trainable:
            op["fn_name"] = box.text_input("Function name (its parameters)", key="palette_fn_name",
                                           placeholder=f"{func}_{target or 'out'}") or None
        if spec.max_args != 0:
            op["config"] = _sizes(box.text_input(f"Sizes ({spec.config_args or 'positional'})",
                                                 key="palette_config"))
        op["options"] = option_fields("palette_opt_", spec.options, box)
    else:
        energy = box.selectbox("Energy", sorted(ENERGIES), key="palette_energy")
        box.caption(ENERGIES[energy].doc)
        name = box.text_input("Name", key="palette_name")
        weight = box.text_input("Weight", key="palette_weight", placeholder="1.0")
        op = {"op": "add_energy", "name": name, "energy": energy, "weight": weight,
              "options": option_fields("palette_eopt_", ENERGIES[energy].options, box)}
    if sb.button("Add to the diagram", key="palette_add", type="primary"):
        apply_ops([op])
        st.rerun()


def data() -> None:
    ss = st.session_state
    st.sidebar.header("Data")
    choice = st.sidebar.selectbox("Dataset", DATASETS + ["upload"], key="dataset")
    if choice == "upload":
        data_up = st.sidebar.file_uploader("Array (.npy or .csv)", type=["npy", "csv"], key="upload_data")
        if data_up is None:
            ss.upload_arrays = ss.data_upload = None  # the file was removed: so is its data
        elif ss.data_upload is None or ss.data_upload[0] != data_up.file_id:
            # read once per file, from memory (nothing is written to disk); a file refused leaves no data
            # behind, so nothing runs on the arrays of an earlier one
            error = None
            try:
                ss.upload_arrays = uploads.read_data(data_up.getvalue(), data_up.name)
            except uploads.UploadError as exc:
                ss.upload_arrays, error = None, str(exc)
            except Exception as exc:  # noqa: BLE001 - whatever it is, a message on the page, not a traceback
                ss.upload_arrays, error = None, unreadable(data_up.name, exc)
            ss.data_upload = (data_up.file_id, error)
        if ss.data_upload is not None and ss.data_upload[1] is not None:
            st.sidebar.error(ss.data_upload[1])
        elif ss.upload_arrays is not None:
            shape = ss.upload_arrays["data"].shape
            st.sidebar.caption(f"{data_up.name if data_up else 'uploaded'}: {shape[0]} rows of "
                               f"{' x '.join(map(str, shape[1:]))} values")


def show() -> None:
    palette()  # first: its button is in view without scrolling
    files()
    data()
