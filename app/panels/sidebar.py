"""The sidebar: files (open, save, download, layout), sub-models, the palette and the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from ebmgraph.files import OutputError, write_atomic

from .. import uploads
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


def opened(text: str, name: str, path: Path | None) -> None:
    """The text of a newly opened file: its name, its model, where Save writes."""
    ss = st.session_state
    set_text(text)
    ss.file_name = name
    ss.file_model = model_name(text)
    ss.file_path = str(path) if path is not None else None
    ss.positions = {}


def files() -> None:
    ss = st.session_state
    st.sidebar.header("Files")
    names = sorted(p.name for p in LIBRARY.glob("*.ebm"))
    pick = st.sidebar.selectbox("Library model (template)", names, index=names.index("jepa.ebm"), key="library_pick")
    if st.sidebar.button("Open", key="open_library"):
        text = (LIBRARY / pick).read_text()
        opened(text, pick, None)  # a template: Save never writes into the library
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
        if st.sidebar.button(f"Save {name}", key="save_file", help=f"writes {ss.file_path} (atomically, keeping its mode)"):
            try:
                write_atomic(ss.file_path, ss.editor)
                notify("success", f"saved {ss.file_path}", ss.editor)
            except OutputError as exc:
                notify("error", str(exc), ss.editor)
            st.rerun()
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
            ss.back_to = (ss.editor, ss.file_name, ss.file_model, ss.file_path)
            if path is not None:
                text = Path(path).read_text(encoding="utf-8")
                opened(text, Path(path).name, None)
            notify("success", f"opened {model}; 'Back' returns to the text you were editing", ss.pending_text or ss.editor)
            st.rerun()
    if ss.back_to and st.sidebar.button("Back", key="back"):
        text, ss.file_name, ss.file_model, ss.file_path = ss.back_to
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
        dom = box.selectbox("Domain", ["real", "categorical", "spins", "bits"], key="palette_domain")
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
