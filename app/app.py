"""The ebmgraph composer: `.ebm` text and a canvas on one graph, the Fig. 18 drawing, an inspector,
inference and training panels.  Run: streamlit run app/app.py -- [MODEL.ebm]"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import streamlit as st
import torch
from streamlit_flow import StreamlitFlowEdge, StreamlitFlowNode, StreamlitFlowState, streamlit_flow

import ebmgraph
from ebmgraph.catalogue import REGULARIZERS
from ebmgraph.diagnostics import EbmError
from ebmgraph.draw import to_dot
from ebmgraph.edit import CanvasGraph, EditError, apply_edit, canvas_graph
from ebmgraph.frontend import analyze, decode
from ebmgraph.inference import resolve
from ebmgraph.printer import dumps_file
from ebmgraph.syntax import parse
from ebmgraph.training.config import DataConfig
from ebmgraph.training.data import DataError, load_arrays, select
from ebmgraph.training.losses import LOSSES

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "library"
DATASETS = ["digits", "iris", "moons", "swiss_roll", "circles"]
STYLE = {
    "observed": {"borderRadius": "50%", "background": "#cccccc", "border": "2px solid #333", "width": 64,
                 "height": 64, "display": "flex", "alignItems": "center", "justifyContent": "center", "padding": 2},
    "computed": {"borderRadius": "50%", "background": "#cccccc", "border": "2px solid #333", "width": 64,
                 "height": 64, "display": "flex", "alignItems": "center", "justifyContent": "center", "padding": 2},
    "latent": {"borderRadius": "50%", "background": "#ffffff", "border": "2px solid #333", "width": 64,
               "height": 64, "display": "flex", "alignItems": "center", "justifyContent": "center", "padding": 2},
    "function": {"borderRadius": "12px", "background": "#ffffff", "border": "2px solid #333", "padding": 6},
    "energy": {"borderRadius": "2px", "background": "#e06666", "border": "2px solid #990000", "padding": 6},
    "submodel": {"borderRadius": "12px", "background": "#f4f4f4", "border": "2px dashed #555", "padding": 6},
}


# ------------------------------------------------------------------ state
def default_model() -> Path:
    args = [a for a in sys.argv[1:] if a.endswith(".ebm")]
    path = Path(args[0]) if args else LIBRARY / "jepa.ebm"
    return path if path.is_absolute() else (Path.cwd() / path)


def init() -> None:
    ss = st.session_state
    if "editor" in ss:
        return
    path = default_model()
    ss.file_name = path.name
    ss.editor = path.read_text(encoding="utf-8")
    ss.positions = {}  # canvas positions by node id: they survive text edits
    ss.last_good_program = None
    ss.marked = []
    ss.canvas_ops = []
    ss.notice = None
    ss.dataset = "digits"
    ss.upload_arrays = None
    ss.model_cache = (None, None)
    ss.history = []


def layout_json() -> str:
    pos = st.session_state.positions
    return json.dumps({"ebmgraph_layout": 1, "positions": {k: [round(x, 1), round(y, 1)] for k, (x, y) in
                                                           sorted(pos.items())}}, indent=1)


def read_layout(text: str) -> None:
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("ebmgraph_layout") != 1 or not isinstance(data.get("positions"), dict):
        raise ValueError("expected {\"ebmgraph_layout\": 1, \"positions\": {node: [x, y]}}")
    st.session_state.positions = {str(k): (float(v[0]), float(v[1])) for k, v in data["positions"].items()}


def set_text(text: str) -> None:
    """Replace the editor's text on the next run (a widget's value cannot change after it is drawn)."""
    st.session_state.pending_text = text


def apply_ops(ops: list[dict[str, Any]]) -> None:
    ss = st.session_state
    prog = ss.last_good_program
    if prog is None:
        ss.notice = ("error", "fix the text first: the canvas edits the last text that parsed")
        return
    text = None
    done: list[dict[str, Any]] = []
    try:
        for op in ops:
            prog, text = apply_edit(prog, op)
            done.append(op)
        ss.marked = []
        ss.notice = ("success", "; ".join(_describe(op) for op in done)) if done else None
    except EditError as exc:  # the edits before the refused one stay
        ss.marked = exc.nodes
        ss.notice = ("error", f"refused — {exc}")
    if text is not None:
        set_text(text)


def _describe(op: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in op.items())


# ------------------------------------------------------------------ canvas
def layout(cg: CanvasGraph) -> dict[str, tuple[float, float]]:
    g = nx.DiGraph()
    g.add_nodes_from(cg.nodes)
    g.add_edges_from(e for e in cg.edges if e[0] != e[1])
    try:
        layers = list(nx.topological_generations(g))
    except nx.NetworkXUnfeasible:  # a loop's template refers to itself (s[t] -> s[t+1]): break cycles
        dag = nx.DiGraph(g)
        while not nx.is_directed_acyclic_graph(dag):
            dag.remove_edge(*nx.find_cycle(dag)[-1][:2])
        layers = list(nx.topological_generations(dag))
    pos = {}
    for i, layer in enumerate(layers):
        for j, n in enumerate(sorted(layer)):
            pos[n] = (40 + 170 * i, 40 + 110 * j)
    return pos


def flow_state(cg: CanvasGraph) -> StreamlitFlowState:
    ss = st.session_state
    auto = layout(cg)
    nodes = []
    for nid, n in cg.nodes.items():
        style = dict(STYLE[n.kind])
        if nid in ss.marked:
            style["border"] = "3px solid #ff0000"
            style["boxShadow"] = "0 0 8px #ff0000"
        label = n.label if not n.detail else f"{n.label}\n{n.detail}"
        nodes.append(StreamlitFlowNode(nid, ss.positions.get(nid, auto.get(nid, (0, 0))), {"content": label},
                                       "default", "right", "left", connectable=True, deletable=True,
                                       selectable=True, style=style))
    edges = [StreamlitFlowEdge(f"{a}->{b}", a, b, animated=False, deletable=True,
                               marker_end={"type": "arrow"} if not b.startswith("energy:") else {})
             for a, b in cg.edges]
    return StreamlitFlowState(nodes, edges)


def canvas(cg: CanvasGraph, text: str) -> None:
    ss = st.session_state
    if ss.get("flow_for") != (text, tuple(ss.marked)):
        ss.flow = flow_state(cg)
        ss.flow_for = (text, tuple(ss.marked))
        ss.flow_known = ({n.id for n in ss.flow.nodes}, {(e.source, e.target) for e in ss.flow.edges})
    new = streamlit_flow("canvas", ss.flow, height=520, fit_view=True, allow_new_edges=True,
                         enable_pane_menu=True, enable_node_menu=True, enable_edge_menu=True,
                         get_node_on_click=True, hide_watermark=True)
    if new is ss.flow or (new.timestamp or 0) <= ss.get("flow_seen", 0) or (new.timestamp or 0) <= ss.flow.timestamp:
        return  # no new event: the component still reports a state from before our last change
    ss.flow_seen = new.timestamp
    known_nodes, known_edges = ss.flow_known
    ops: list[dict[str, Any]] = []
    new_nodes = {n.id: n for n in new.nodes}
    for n in new.nodes:
        ss.positions[n.id] = (n.position["x"], n.position["y"])
        if n.id not in known_nodes:  # added from the pane menu: its text is one .ebm statement
            ops.append({"op": "statement", "text": str(n.data.get("content", ""))})
    for nid in known_nodes - set(new_nodes):
        ops.append({"op": "delete", "node": nid})
    new_edges = {(e.source, e.target) for e in new.edges}
    for a, b in new_edges - known_edges:
        ops.append({"op": "connect", "source": a, "target": b})
    for a, b in known_edges - new_edges:
        if a in new_nodes and b in new_nodes:
            ops.append({"op": "disconnect", "source": a, "target": b})
    for nid, n in new_nodes.items():
        if nid in known_nodes and nid in cg.nodes:
            first = str(n.data.get("content", "")).split("\n")[0].strip()
            if first and first != cg.nodes[nid].label and cg.nodes[nid].kind in ("observed", "latent", "computed",
                                                                                    "energy"):
                ops.append({"op": "rename", "node": nid, "name": first})
    ss.selected = new.selected_id or ss.get("selected")
    ss.flow_known = (set(new_nodes), new_edges)  # the state we pass stays the one we built: no resets
    if ops:
        statements = [op for op in ops if op["op"] == "statement"]
        others = [op for op in ops if op["op"] != "statement"]
        if statements:
            add_statements([op["text"] for op in statements])
        if others:
            apply_ops(others)
        st.rerun()


def add_statements(lines: list[str]) -> None:
    """Add statements typed in the canvas (e.g. `latent w : R[4]`) to the model's body."""
    ss = st.session_state
    text = ss.editor
    try:
        prog = parse(text)
        extra = parse("model Extra {\n" + "\n".join(lines) + "\n}\n", "<canvas>")
        prog.models[-1].body.extend(extra.models[0].body)
        set_text(dumps_file(prog))
        ss.notice = ("success", "added: " + "; ".join(lines))
    except EbmError as exc:
        ss.notice = ("error", "the new node's text is not a statement: " + exc.errors[0].message)


# ------------------------------------------------------------------ data
def arrays() -> dict[str, np.ndarray] | None:
    ss = st.session_state
    if ss.dataset == "upload":
        return ss.upload_arrays
    return load_arrays(DataConfig(source=ss.dataset, map={}, n_samples=500), seed=0)


def mapped_values(model: ebmgraph.CompiledModel, arrs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Data for each observed input whose width matches the data (columns taken from the left)."""
    out = {}
    width = arrs["data"].shape[1] if arrs["data"].ndim == 2 else 1
    for name, v in model.inputs.items():
        if v.role != "observed":
            continue
        expr = st.session_state.get(f"map_{name}") or (f"data[:, 0:{v.domain.numel}]" if v.domain.numel <= width
                                                       else "")
        if not expr:
            continue
        arr = select(expr, arrs)
        if arr.ndim == 1:
            arr = arr[:, None]
        if tuple(arr.shape[1:]) != v.domain.shape:
            raise DataError(f"'{expr}' has rows of shape {tuple(arr.shape[1:])} but '{name}' is {v.domain}")
        t = torch.as_tensor(np.asarray(arr, dtype=np.float32))
        if v.domain.kind == "bits":
            t = (t > t.mean()).float()
        elif v.domain.kind == "spins":
            t = torch.where(t > t.mean(), 1.0, -1.0)
        elif v.domain.kind == "categorical":
            t = t.long().clamp(0, (v.domain.k or 1) - 1)
        out[name] = t
    return out


def compiled(text: str, graph: ebmgraph.Graph) -> ebmgraph.CompiledModel:
    ss = st.session_state
    if ss.model_cache[0] != text:
        torch.manual_seed(0)
        ss.model_cache = (text, ebmgraph.compile(graph))
    return ss.model_cache[1]


# ------------------------------------------------------------------ panels
def sidebar() -> None:
    ss = st.session_state
    st.sidebar.header("Files")
    names = sorted(p.name for p in LIBRARY.glob("*.ebm"))
    pick = st.sidebar.selectbox("Library model (template)", names, index=names.index("jepa.ebm"), key="library_pick")
    if st.sidebar.button("Open", key="open_library"):
        set_text((LIBRARY / pick).read_text())
        ss.file_name = pick
        ss.positions = {}
        sidecar = LIBRARY / f"{pick}.layout.json"
        if sidecar.exists():
            read_layout(sidecar.read_text())
        ss.notice = ("success", f"opened library/{pick}")
        st.rerun()
    up = st.sidebar.file_uploader("Open a .ebm file", type=["ebm"], key="upload_ebm")
    if up is not None and ss.get("uploaded_id") != up.file_id:
        ss.uploaded_id = up.file_id
        try:
            set_text(decode(up.getvalue(), up.name))
            ss.file_name = up.name
            ss.notice = ("success", f"opened {up.name}")
        except EbmError as exc:
            ss.notice = ("error", exc.render())
        st.rerun()
    st.sidebar.download_button("Download .ebm", ss.editor, file_name=ss.file_name, key="download_ebm")
    # canvas positions live beside the model, keyed by node name, in a sidecar the compiler never reads
    st.sidebar.download_button("Download layout", layout_json(), file_name=f"{ss.file_name}.layout.json",
                               key="download_layout")
    lay = st.sidebar.file_uploader("Open a layout (.layout.json)", type=["json"], key="upload_layout")
    if lay is not None and ss.get("layout_id") != lay.file_id:
        ss.layout_id = lay.file_id
        try:
            read_layout(lay.getvalue().decode("utf-8"))
            ss.notice = ("success", f"layout {lay.name} applied")
        except (UnicodeDecodeError, ValueError) as exc:
            ss.notice = ("error", f"{lay.name} is not a layout file: {exc}")
        ss.pop("flow_for", None)
        st.rerun()
    graph = ss.get("last_good_graph")
    if graph is not None and graph.instances:
        inst = st.sidebar.selectbox("Sub-model", sorted(graph.instances), key="submodel_pick",
                                    format_func=lambda i: f"{i} : {graph.instances[i]}")
        if st.sidebar.button("Open sub-model", key="open_submodel"):
            model = graph.instances[inst]
            path = next((p for p, f in graph.imported.items() if any(m.name == model for m in f.models)), None)
            ss.back_to = (ss.editor, ss.file_name)
            if path is not None:
                set_text(Path(path).read_text(encoding="utf-8"))
                ss.file_name = Path(path).name
            ss.notice = ("success", f"opened {model}; 'Back' returns to the text you were editing")
            st.rerun()
    if ss.get("back_to") and st.sidebar.button("Back", key="back"):
        text, name = ss.pop("back_to")
        set_text(text)
        ss.file_name = name
        st.rerun()
    st.sidebar.header("Palette")
    kind = st.sidebar.selectbox("Add", ["observed", "latent", "energy", "function"], key="palette_kind")
    name = st.sidebar.text_input("Name", key="palette_name")
    if kind in ("observed", "latent"):
        shape = st.sidebar.text_input("Shape", value="4", key="palette_shape")
    elif kind == "energy":
        energy = st.sidebar.selectbox("Energy", ["sq_dist", "l1", "l2", "cosine"], key="palette_energy")
    else:
        func = st.sidebar.selectbox("Function", ["linear", "mlp", "identity", "cat", "sum", "square", "tanh"],
                                    key="palette_function")
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


def editor_panel(diags: list[Any]) -> None:
    st.text_area("Model (.ebm)", key="editor", height=520)
    errors = [x for x in diags if x.severity == "error"]
    warns = [x for x in diags if x.severity == "warning"]
    if errors:
        st.error(f"{len(errors)} error(s); the canvas shows the last text that parsed")
        st.code("\n\n".join(x.render() for x in errors), language="text")
    for w in warns:
        st.warning(w.render())


def drawing_panel(graph: ebmgraph.Graph | None) -> None:
    if graph is None:
        st.info("fix the errors to see the drawing")
        return
    fold = st.checkbox("Fold sub-models", key="fold")
    dot = to_dot(graph, fold=fold)
    st.graphviz_chart(dot, width="stretch")
    import graphviz
    c1, c2, c3 = st.columns(3)
    c1.download_button("SVG", graphviz.Source(dot).pipe(format="svg"), file_name=f"{graph.name}.svg", key="dl_svg")
    c2.download_button("PNG", graphviz.Source(dot).pipe(format="png"), file_name=f"{graph.name}.png", key="dl_png")
    c3.download_button("DOT", dot, file_name=f"{graph.name}.dot", key="dl_dot")


def inspector_panel(graph: ebmgraph.Graph | None, text: str) -> None:
    if graph is None:
        st.info("fix the errors to inspect the graph")
        return
    from ebmgraph.graph import Application, EnergyTerm, Variable
    shown_nodes = [o for o in graph.nodes if not (isinstance(o, Variable) and o.anonymous)]
    labels = [f"{o.kind} {o.name}" for o in shown_nodes]
    sel = st.session_state.get("selected") or ""
    wanted = (f"energy {sel[7:]}" if sel.startswith("energy:") else
              f"function {sel[3:].split('/')[0]}" if sel.startswith("fn:") else f"variable {sel}")
    if wanted.startswith("function "):  # a canvas function box: its first application
        wanted = next((lb for lb, o in zip(labels, shown_nodes, strict=True)
                       if isinstance(o, Application) and o.fn == wanted[9:]), wanted)
    label = st.selectbox("Node", labels, index=labels.index(wanted) if wanted in labels else 0, key="inspect_node")
    o = shown_nodes[labels.index(label)]
    name = o.name
    rows: dict[str, Any] = {"kind": o.kind}
    model = compiled(text, graph)
    if isinstance(o, Variable):
        rows.update({"role": "computed" if o.computed else o.role, "domain": str(o.domain),
                     "shape": str(o.domain.shape)})
        if not o.computed:
            r = resolve(graph, o)
            rows["infer"] = r.text()
        producer = graph.producer(name)
        if producer is not None:
            fdef = graph.fns.get(producer.fn)
            rows["function"] = f"{producer.fn} = {fdef.func}{fdef.args}" if fdef else producer.fn
            rows["parameters"] = model.parameter_count(producer.fn) if producer.fn in model.fns else 0
        rows["energy terms touching it"] = ", ".join(t.name for t in graph.energies_touching(name)) or "-"
        regs = [f"{r.name} = {r.method}" for r in graph.regularizers.values() if name in r.args]
        rows["regularizers"] = ", ".join(regs) or "-"
    elif isinstance(o, Application):
        fdef = graph.fns.get(o.fn)
        rows.update({"function": f"{o.fn} = {fdef.func}{fdef.args}" if fdef else o.fn, "inputs": ", ".join(o.args),
                     "output": o.output})
    elif isinstance(o, EnergyTerm):
        rows.update({"energy": o.energy, "variables": ", ".join(o.args), "weight": model.weights[o.name]})
    st.table({"property": list(rows), "value": [str(v) for v in rows.values()]})
    try:
        arrs = arrays()
        if arrs is None:
            return
        vals = mapped_values(model, arrs)
        i = st.number_input("Sample", 0, max(len(next(iter(vals.values()))) - 1, 0), 0, key="inspect_sample")
        given = {k: v[i:i + 1] for k, v in vals.items()}
        with torch.no_grad():
            r = model.free_energy(**given)
        shown = {**r.all_values, **r.values}
        if name in shown:
            st.write(f"value of `{name}` on sample {i}:", shown[name].flatten()[:16].tolist())
        st.write("energy terms on this sample:", {k: round(float(v), 5) for k, v in r.terms.items()})
    except (DataError, ebmgraph.InputError, ValueError) as exc:
        st.info(f"no values to show: {exc}")


def _figure() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(4.8, 3.8))


def landscape_1d(model: ebmgraph.CompiledModel, given: dict[str, torch.Tensor], var: str, best: torch.Tensor) -> Any:
    """E over one inferred scalar, the others given, with the minimizer marked (002 Fig. 4b's z)."""
    v = model.inputs[var]
    center = float(best.flatten()[0])
    lo, hi = v.domain.box if v.domain.box else (center - 3, center + 3)
    grid = torch.linspace(lo, hi, 400)[:, None].reshape(400, *v.domain.shape)
    others = {k: t.expand(400, *t.shape[1:]) for k, t in given.items() if k != var}
    with torch.no_grad():
        e = model.energy(**others, **{var: grid}).total if not (set(model.inputs) - set(others) - {var}) else \
            model.free_energy(**others, **{var: grid}).free_energy
    fig, ax = _figure()
    ax.plot(grid.flatten().numpy(), e.numpy())
    ax.axvline(center, color="red", ls="--", label=f"minimizer {var} = {center:.3f}")
    ax.set_xlabel(var)
    ax.set_ylabel("E")
    ax.set_title(f"energy over {var}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def landscape_2d(model: ebmgraph.CompiledModel, given: dict[str, torch.Tensor], var: str,
                 closest: torch.Tensor | None) -> Any:
    """F over a 2-D given variable, the latents minimized at every point (002 Fig. 3b, 4b)."""
    v = model.inputs[var]
    point = given[var].flatten()
    n = 50
    span = max(3.0, float(point.abs().max()) * 1.5)
    a = torch.linspace(-span, span, n)
    A, B = torch.meshgrid(a, a, indexing="xy")
    grid = torch.stack([A.flatten(), B.flatten()], 1).reshape(n * n, *v.domain.shape)
    others = {k: t.expand(n * n, *t.shape[1:]) for k, t in given.items() if k != var}
    with torch.no_grad():
        e = model.free_energy(**others, **{var: grid}).free_energy.reshape(n, n)
    fig, ax = _figure()
    cs = ax.contourf(A.numpy(), B.numpy(), e.numpy(), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="F")
    ax.plot(float(point[0]), float(point[1]), "o", color="lime", ms=9, label=f"{var} (the sample)")
    if closest is not None:
        c = closest.flatten()
        ax.plot(float(c[0]), float(c[1]), "r*", ms=14, label="at the minimizer")
    ax.set_xlabel(f"{var}[0]")
    ax.set_ylabel(f"{var}[1]")
    ax.set_title(f"free energy over {var}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def inference_panel(graph: ebmgraph.Graph | None, text: str) -> None:
    if graph is None:
        st.info("fix the errors to run inference")
        return
    model = compiled(text, graph)
    try:
        arrs = arrays()
        if arrs is None:
            st.info("upload data first")
            return
        vals = mapped_values(model, arrs)
    except (DataError, ValueError) as exc:
        st.error(str(exc))
        return
    inputs = sorted(model.inputs)
    given_names = st.multiselect("Given", inputs, default=[n for n in inputs if n in vals], key="infer_given")
    targets = [n for n in inputs if n not in given_names]
    st.write("Inferred:", ", ".join(targets) or "nothing (the energy of the sample)")
    missing = [n for n in given_names if n not in vals]
    if missing:
        st.warning(f"no data mapped to {', '.join(missing)}: map it in the Training tab or leave it inferred")
        return
    n = len(next(iter(vals.values()))) if vals else 1
    i = st.slider("Sample", 0, max(n - 1, 1), 0, key="infer_sample")
    if st.button("Run inference", key="run_inference"):
        given = {k: vals[k][i:i + 1] for k in given_names}
        try:
            obs = [t for t in targets if model.inputs[t].role == "observed"]
            r = model.infer(obs, **given) if obs else model.free_energy(**given)
            st.session_state.inference = (given, r, targets)
        except ebmgraph.InputError as exc:
            st.error(str(exc))
            return
    res = st.session_state.get("inference")
    if res:
        given, r, tg = res
        st.metric("free energy F", f"{float(r.free_energy[0]):.5g}")
        st.write({k: [round(float(x), 4) for x in v.flatten()[:12]] for k, v in r.values.items()})
        cols = st.columns(2)
        one = next((t for t in tg if model.inputs[t].domain.numel == 1 and not model.inputs[t].domain.discrete), None)
        if one is not None:
            cols[0].pyplot(landscape_1d(model, given, one, r.values[one].detach()))
        two = next((g for g in given if model.inputs[g].domain.numel == 2 and model.inputs[g].domain.kind == "real"),
                   None)
        if two is not None:
            # the point of the model closest to the sample: a computed variable of the same shape
            same = [n for n, t in r.all_values.items() if n != two and tuple(t.shape[1:]) == model.inputs[two].domain.shape
                    and n not in model.inputs]
            closest = r.all_values[same[0]].detach() if same else None
            cols[1].pyplot(landscape_2d(model, given, two, closest))


def training_panel(graph: ebmgraph.Graph | None, text: str) -> None:
    ss = st.session_state
    if graph is None:
        st.info("fix the errors to train")
        return
    model = compiled(text, graph)
    observed = [n for n, v in model.inputs.items() if v.role == "observed"]
    cols = st.columns(len(observed) or 1)
    for c, name in zip(cols, observed, strict=False):
        c.text_input(f"data for {name}", key=f"map_{name}", placeholder="data[:, 0:k]")
    losses = ["energy", *(k for k, spec in LOSSES.items() if spec.contrast == "sampler")]
    loss = st.selectbox("Loss", losses, key="train_loss")
    target = st.selectbox("Contrastive target", observed, key="train_target") if loss != "energy" else None
    candidates = sorted(v.name for v in graph.variables if v.computed and not v.anonymous) + observed
    if graph.regularizers:
        st.caption("the model's own regularizers apply: " + ", ".join(
            f"{r.name} = {r.method}({', '.join(r.args)})" for r in graph.regularizers.values()))
    pairs = [k for k, spec in REGULARIZERS.items() if spec.arity == 2 and spec.info_maximizing]
    reg = st.selectbox("Add a regularizer", ["none", *pairs], key="train_reg")
    on = st.multiselect("on (two representations)", candidates, default=[r for r in ("sx", "sy") if r in candidates],
                        key="train_on") if reg != "none" else []
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 200, 3, key="train_epochs")
    lr = c2.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key="train_lr")
    batch = c3.number_input("Batch size", 2, 1024, 128, key="train_batch")
    divergence = c3.number_input("Stop when |loss| exceeds", 1e-6, 1e12, 1e6, format="%g", key="train_divergence")
    c1.button("Stop", key="train_stop")  # any click reruns the script, which ends a running training
    if c2.button("Start training", key="train_start"):
        try:
            from ebmgraph.training.data import Dataset
            vals = mapped_values(model, arrays() or {})
            if set(vals) != set(observed):
                raise DataError(f"map data to every observed variable ({', '.join(observed)})")
            data = Dataset(vals, {})
        except (DataError, ValueError) as exc:
            st.error(str(exc))
            return
        cfg: dict[str, Any] = {"epochs": int(epochs), "batch_size": int(batch), "progress": False,
                               "optimizer": {"lr": float(lr)}, "out_dir": tempfile.mkdtemp(prefix="ebm-app-"),
                               "divergence": float(divergence),
                               "loss": {"kind": loss, "target": target}}
        if loss != "energy":
            cfg["sampler"] = {"kind": "cd" if loss == "contrastive_divergence" else "corruption", "noise": 0.5}
        if reg != "none" and len(on) == 2:
            cfg["regularizers"] = [{"kind": reg, "on": on}]
        bar = st.progress(0.0, text="training")
        chart = st.empty()
        ss.history = []
        total = int(epochs) * max(1, len(data) // int(batch))

        def on_step(row: dict[str, float]) -> bool:
            ss.history.append(row)
            bar.progress(min(1.0, row["step"] / total), text=f"step {row['step']}/{total} loss {row['loss']:.4g}")
            if row["step"] % 5 == 0 or row["step"] == total:
                chart.line_chart({k: [h.get(k, math.nan) for h in ss.history] for k in ("loss", "F_data")
                                  if k in row})
            return True

        try:
            result = ebmgraph.train(model, cfg, data, on_step=on_step)
            ss.checkpoint = result.checkpoint.read_bytes() if result.checkpoint else None
            ss.collapse = result.collapse
            st.success(f"trained {len(result.history)} steps; final loss {result.history[-1]['loss']:.4g}")
        except ebmgraph.training.TrainingStopped as exc:
            st.error(str(exc))
        except (EbmError, ValueError) as exc:
            st.error(str(exc))
    if ss.history:
        regs = tuple(f"{r}." for r in [*graph.regularizers, *REGULARIZERS])
        keys = [k for k in ss.history[-1] if k.startswith(("loss", "F_", "collapse.", "amortize.", *regs))]
        st.line_chart({k: [h.get(k, math.nan) for h in ss.history] for k in keys if "collapse" not in k})
        col = {k: [h[k] for h in ss.history if k in h] for k in keys if "collapse" in k}
        if col:
            st.write("collapse monitor", {k: [round(x, 4) for x in v] for k, v in col.items()})
    for msg in ss.get("collapse", []):
        st.warning("collapse: " + msg)
    if ss.get("checkpoint"):
        st.download_button("Save checkpoint", ss.checkpoint, file_name="checkpoint.pt", key="dl_ckpt")


# ------------------------------------------------------------------ page
def main() -> None:
    st.set_page_config(page_title="ebmgraph composer", layout="wide")
    init()
    ss = st.session_state
    if "pending_text" in ss:
        ss.editor = ss.pop("pending_text")
    if ss.canvas_ops:  # a hook for tests and scripts: canvas edits as data
        ops, ss.canvas_ops = ss.canvas_ops, []
        apply_ops(ops)
        if "pending_text" in ss:
            ss.editor = ss.pop("pending_text")
    text = ss.editor
    t0 = time.perf_counter()
    try:
        ss.last_good_program = parse(text, ss.file_name)
        models = ss.last_good_program.models
    except EbmError:
        models = []
    # the canvas composes the file's last model; with several, it is named (load() would ask which)
    graph, diags = analyze(text, ss.file_name, model=models[-1].name if len(models) > 1 else None)
    if graph is not None:
        ss.last_good_graph = graph
    sidebar()
    st.markdown("<style>textarea {font-family: ui-monospace, Menlo, Consolas, monospace !important; "
                "font-size: 13px !important}</style>", unsafe_allow_html=True)
    st.title("ebmgraph composer")
    st.caption(f"{ss.file_name} — checked in {1000 * (time.perf_counter() - t0):.0f} ms")
    if ss.notice:  # shown once, after the action that caused it
        kind, msg = ss.notice
        (st.error if kind == "error" else st.success)(msg)
        ss.notice = None
    tabs = st.tabs(["Compose", "Drawing", "Inspector", "Inference", "Training"])
    with tabs[0]:
        left, right = st.columns([2, 3])
        with left:
            editor_panel(diags)
        with right:
            if ss.last_good_program is not None:
                try:
                    canvas(canvas_graph(ss.last_good_program), dumps_file(ss.last_good_program))
                except EditError as exc:
                    st.info(str(exc))
            st.caption("Drag to move; drag from a node's right handle to another node's left handle to connect; "
                       "right-click a node to delete or rename it; right-click the canvas and type a statement "
                       "(e.g. `latent w : R[4]`) to add one.")
    with tabs[1]:
        drawing_panel(graph)
    with tabs[2]:
        inspector_panel(graph, text)
    with tabs[3]:
        inference_panel(graph, text)
    with tabs[4]:
        training_panel(graph, text)


main()
