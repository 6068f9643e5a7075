"""The sidebar: files (open, save, download, layout), sub-models, the palette and the data."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import streamlit as st

from ebmgraph.diagnostics import EbmError
from ebmgraph.files import OutputError, write_atomic
from ebmgraph.frontend import decode
from ebmgraph.training.config import DataConfig
from ebmgraph.training.data import DataError, load_arrays

from ..canvas import apply_ops
from ..data import DATASETS
from ..state import model_name, notify, set_text, shown_name

LIBRARY = Path(__file__).resolve().parent.parent.parent / "library"


def layout_json() -> str:
    pos = st.session_state.positions
    return json.dumps({"ebmgraph_layout": 1, "positions": {k: [round(x, 1), round(y, 1)] for k, (x, y) in
                                                           sorted(pos.items())}}, indent=1)


def read_layout(text: str) -> None:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("ebmgraph_layout") != 1 or not isinstance(data.get("positions"), dict):
        raise ValueError("expected {\"ebmgraph_layout\": 1, \"positions\": {node: [x, y]}}")
    st.session_state.positions = {str(k): (float(v[0]), float(v[1])) for k, v in data["positions"].items()}


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
            read_layout(sidecar.read_text())
        notify("success", f"opened library/{pick}", text)
        st.rerun()
    up = st.sidebar.file_uploader("Open a .ebm file", type=["ebm"], key="upload_ebm")
    if up is not None and ss.uploaded_id != up.file_id:
        ss.uploaded_id = up.file_id
        try:
            text = decode(up.getvalue(), up.name)
            opened(text, up.name, None)
            notify("success", f"opened {up.name}", text)
        except EbmError as exc:
            notify("error", exc.render(), ss.editor)
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
    st.sidebar.download_button("Download layout", layout_json(), file_name=f"{name}.layout.json",
                               key="download_layout")
    lay = st.sidebar.file_uploader("Open a layout (.layout.json)", type=["json"], key="upload_layout")
    if lay is not None and ss.layout_id != lay.file_id:
        ss.layout_id = lay.file_id
        try:
            read_layout(lay.getvalue().decode("utf-8"))
            notify("success", f"layout {lay.name} applied", ss.editor)
        except (UnicodeDecodeError, ValueError) as exc:
            notify("error", f"{lay.name} is not a layout file: {exc}", ss.editor)
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


def palette() -> None:
    st.sidebar.header("Palette")
    kind = st.sidebar.selectbox("Add", ["observed", "latent", "energy", "function"], key="palette_kind")
    name = st.sidebar.text_input("Name", key="palette_name")
    if kind in ("observed", "latent"):
        shape = st.sidebar.text_input("Shape", value="4", key="palette_shape")
    elif kind == "energy":
        from ebmgraph.catalogue import ENERGIES
        energy = st.sidebar.selectbox("Energy", sorted(ENERGIES), key="palette_energy")
    else:
        from ebmgraph.catalogue import FUNCTIONS
        func = st.sidebar.selectbox("Function", sorted(FUNCTIONS), key="palette_function")
        config = st.sidebar.text_input("Sizes (for linear/mlp)", value="4, 4", key="palette_config")
    if st.sidebar.button("Add to the diagram", key="palette_add"):
        if kind in ("observed", "latent"):
            op = {"op": "add_variable", "role": kind, "name": name,
                  "shape": [s.strip() for s in shape.split(",") if s.strip()]}
        elif kind == "energy":
            op = {"op": "add_energy", "name": name, "energy": energy}
        else:
            op = {"op": "add_function", "target": name, "function": func,
                  "config": [c.strip() for c in config.split(",") if c.strip()]}
        apply_ops([op])
        st.rerun()


def data() -> None:
    ss = st.session_state
    st.sidebar.header("Data")
    choice = st.sidebar.selectbox("Dataset", DATASETS + ["upload"], key="dataset")
    if choice == "upload":
        data_up = st.sidebar.file_uploader("Array (.npy or .csv)", type=["npy", "csv"], key="upload_data")
        if data_up is not None:
            try:
                suffix = ".npy" if data_up.name.endswith(".npy") else ".csv"
                with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as fh:
                    fh.write(data_up.getvalue())
                ss.upload_arrays = load_arrays(DataConfig(source=fh.name, map={}))
                if ss.upload_arrays["data"].ndim == 1:
                    ss.upload_arrays["data"] = ss.upload_arrays["data"][:, None]
            except DataError as exc:
                st.sidebar.error(str(exc))


def show() -> None:
    files()
    palette()
    data()
