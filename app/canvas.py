"""The canvas: the template-level graph of the model as React Flow nodes, laid out by Graphviz.

Positions come from Graphviz's own layout of the same graph (left to right, as Fig. 18 draws it),
with every node's box the size it is drawn at, so no two boxes overlap. Positions the user dragged
are kept; a node without one is laid out with the others and moved clear of the dragged ones."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
from streamlit_flow import StreamlitFlowEdge, StreamlitFlowNode, StreamlitFlowState, streamlit_flow

from ebmgraph.diagnostics import EbmError
from ebmgraph.edit import CanvasGraph, CanvasNode, EditError, apply_edit, canvas_graph
from ebmgraph.printer import dumps_file
from ebmgraph.syntax import parse

from .state import notify, set_text

FONT_PX = 15  # label size at zoom 1; the canvas never zooms below MIN_ZOOM, so labels stay >= 11 px
MIN_ZOOM = 0.75
LINE_PX = 20
GAP_PX = 24  # the least space between a new node and a dragged one
_BASE = {"display": "flex", "alignItems": "center", "justifyContent": "center", "padding": 2,
         "fontSize": f"{FONT_PX}px", "lineHeight": f"{LINE_PX}px", "whiteSpace": "pre", "boxSizing": "border-box"}
STYLE = {
    "observed": {"borderRadius": "50%", "background": "#cccccc", "border": "2px solid #333"},
    "computed": {"borderRadius": "50%", "background": "#cccccc", "border": "2px solid #333"},
    "latent": {"borderRadius": "50%", "background": "#ffffff", "border": "2px solid #333"},
    "function": {"borderRadius": "12px", "background": "#ffffff", "border": "2px solid #333"},
    "energy": {"borderRadius": "2px", "background": "#e06666", "border": "2px solid #990000"},
    "submodel": {"borderRadius": "12px", "background": "#f4f4f4", "border": "2px dashed #555"},
}


def label_of(n: CanvasNode) -> str:
    return n.label if not n.detail else f"{n.label}\n{n.detail}"


def size_of(n: CanvasNode) -> tuple[int, int]:
    """The box a node is drawn in, in px: circles for variables, boxes sized to their label."""
    lines = label_of(n).split("\n")
    text_w = max(len(x) for x in lines) * FONT_PX * 0.62 + 20
    h = len(lines) * LINE_PX + 16
    if n.kind in ("observed", "latent", "computed"):
        d = int(max(64, text_w, h))
        return d, d
    return int(max(90, text_w)), int(max(44, h))


def graphviz_positions(cg: CanvasGraph) -> dict[str, tuple[float, float]]:
    """Top-left corners (px) from Graphviz's dot layout of the canvas graph, left to right."""
    import graphviz
    names = {nid: f"n{i}" for i, nid in enumerate(cg.nodes)}
    lines = ["digraph G {", "  rankdir=LR; nodesep=0.35; ranksep=0.6; splines=true;",
             "  node [shape=box, fixedsize=true, label=\"\"];"]
    for nid, n in cg.nodes.items():
        w, h = size_of(n)
        lines.append(f"  {names[nid]} [width={w / 72:.3f}, height={h / 72:.3f}];")
    for a, b in cg.edges:
        if a in names and b in names and a != b:
            lines.append(f"  {names[a]} -> {names[b]};")
    lines.append("}")
    out = json.loads(graphviz.Source("\n".join(lines)).pipe(format="json"))
    height = float(out["bb"].split(",")[3])
    back = {v: k for k, v in names.items()}
    pos: dict[str, tuple[float, float]] = {}
    for obj in out.get("objects", []):
        found = back.get(obj.get("name"))
        if found is None or "pos" not in obj:
            continue
        x, y = (float(c) for c in obj["pos"].split(","))
        w, h = size_of(cg.nodes[found])
        pos[found] = (round(20 + x - w / 2, 1), round(20 + (height - y) - h / 2, 1))
    return pos


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float], gap: float = 0) -> bool:
    """Whether two boxes (x, y, w, h) overlap, or come closer than `gap`."""
    return a[0] < b[0] + b[2] + gap and b[0] < a[0] + a[2] + gap and a[1] < b[1] + b[3] + gap and \
        b[1] < a[1] + a[3] + gap


def layout(cg: CanvasGraph, placed: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Every node's top-left corner: `placed` (dragged) ones kept, the others from Graphviz, moved
    down clear of any box already there."""
    auto = graphviz_positions(cg)
    pos = {nid: placed[nid] for nid in cg.nodes if nid in placed}
    boxes = [(*pos[nid], *size_of(cg.nodes[nid])) for nid in pos]
    for nid in cg.nodes:
        if nid in pos:
            continue
        x, y = auto.get(nid, (20.0, 20.0))
        w, h = size_of(cg.nodes[nid])
        while any(overlaps((x, y, w, h), b, GAP_PX) for b in boxes):
            y += h + GAP_PX
        pos[nid] = (x, y)
        boxes.append((x, y, w, h))
    return pos


def flow_state(cg: CanvasGraph) -> StreamlitFlowState:
    ss = st.session_state
    pos = layout(cg, ss.positions)
    nodes = []
    for nid, n in cg.nodes.items():
        w, h = size_of(n)
        style = {**_BASE, **STYLE[n.kind], "width": w, "height": h}
        if nid in ss.marked:
            style["border"] = "3px solid #ff0000"
            style["boxShadow"] = "0 0 8px #ff0000"
        nodes.append(StreamlitFlowNode(nid, pos[nid], {"content": label_of(n)}, "default", "right", "left",
                                       connectable=True, deletable=True, selectable=True, style=style))
    edges = [StreamlitFlowEdge(f"{a}->{b}", a, b, animated=False, deletable=True,
                               marker_end={"type": "arrow"} if not b.startswith("energy:") else {})
             for a, b in cg.edges]
    return StreamlitFlowState(nodes, edges)


def panel() -> None:
    """The canvas of the last text that parsed, with how to use it."""
    ss = st.session_state
    if ss.last_good_program is not None:
        try:
            show(canvas_graph(ss.last_good_program))
        except EditError as exc:
            st.info(str(exc))
    st.caption("Drag to move; drag from a node's right handle to another node's left handle to connect; "
               "click a node to inspect, rename or delete it in the Inspector (Backspace deletes the selected "
               "node); right-click the canvas and type a statement (e.g. `latent w : R[4]`) to add one.")


def show(cg: CanvasGraph) -> None:
    """Draw the canvas. Its events are taken when the Compose fragment starts (take_event); one that
    arrives while it draws is taken here, and the fragment runs again to show its result."""
    ss = st.session_state
    built_for = (dumps_file(ss.last_good_program), tuple(ss.marked), ss.layout_version)
    if ss.flow_for != built_for:
        ss.flow = flow_state(cg)
        ss.flow_for = built_for
        ss.flow_known = ({n.id for n in ss.flow.nodes}, {(e.source, e.target) for e in ss.flow.edges})
    new = streamlit_flow("canvas", ss.flow, height=520, fit_view=True, min_zoom=MIN_ZOOM, allow_new_edges=True,
                         enable_pane_menu=True, enable_node_menu=False, enable_edge_menu=True,
                         get_node_on_click=True, hide_watermark=True)
    if handle(new):
        st.rerun(scope="fragment")


def take_event() -> bool:
    """The canvas' last event, as Streamlit keeps it under the widget's key before the widget is
    drawn: handled before anything else is drawn, so one run shows its result. True if it edited the text."""
    raw = st.session_state.get("canvas")
    if not isinstance(raw, dict) or "nodes" not in raw:
        return False
    return handle(StreamlitFlowState(nodes=[StreamlitFlowNode.from_dict(n) for n in raw["nodes"]],
                                     edges=[StreamlitFlowEdge.from_dict(e) for e in raw["edges"]],
                                     selected_id=raw.get("selectedId"), timestamp=raw.get("timestamp") or 0))


def handle(new: StreamlitFlowState) -> bool:
    """Turn a canvas event into edits of the text (new positions and the selection are kept, not
    edits). True if the text was edited."""
    ss = st.session_state
    if ss.flow is None or ss.last_good_program is None or new is ss.flow or (new.timestamp or 0) <= ss.flow_seen or \
            (new.timestamp or 0) <= ss.flow.timestamp:
        return False  # no new event: the component still reports a state from before our last change
    cg = canvas_graph(ss.last_good_program)
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
    if new.selected_id and new.selected_id != ss.selected:
        ss.selected = new.selected_id
        ss.pop("inspect_node", None)  # the Inspector follows the canvas' selection
    ss.flow_known = (set(new_nodes), new_edges)  # the state we pass stays the one we built: no resets
    if ops:
        statements = [op for op in ops if op["op"] == "statement"]
        others = [op for op in ops if op["op"] != "statement"]
        if statements:
            add_statements([op["text"] for op in statements])
        if others:
            apply_ops(others)
        return True
    return False


def apply_ops(ops: list[dict[str, Any]]) -> None:
    """Canvas edits on the last text that parsed; a refused one is named with its rule and stays
    on screen until the next action."""
    ss = st.session_state
    prog = ss.last_good_program
    if prog is None:
        notify("error", "fix the text first: the canvas edits the last text that parsed", ss.editor)
        return
    text = None
    done: list[dict[str, Any]] = []
    try:
        for op in ops:
            prog, text = apply_edit(prog, op)
            done.append(op)
        ss.marked = []
        if done:
            notify("success", "; ".join(describe(op) for op in done), text)
    except EditError as exc:  # the edits before the refused one stay
        ss.marked = exc.nodes
        notify("error", f"refused — {exc}", text if text is not None else ss.editor)
    if text is not None:
        set_text(text)


def _node_words(nid: Any) -> str:
    """A canvas node id as a reader names it: `energy:Q` is the energy term Q, `fn:dec` the function
    computing dec, `use:lo` the sub-model lo, a bare name a variable."""
    kind, _, rest = str(nid).partition(":")
    if not rest:
        return f"'{kind}'"
    what = {"energy": "energy term", "fn": "the function computing", "use": "sub-model"}.get(kind, kind)
    return f"{what} '{rest.split('/')[0]}'"


def describe(op: dict[str, Any]) -> str:
    """A canvas edit in words, for the message that confirms it."""
    kind = op.get("op")
    if kind == "connect":
        return f"connected {_node_words(op['source'])} to {_node_words(op['target'])}"
    if kind == "disconnect":
        return f"disconnected {_node_words(op['source'])} from {_node_words(op['target'])}"
    if kind == "delete":
        return f"deleted {_node_words(op['node'])}"
    if kind == "rename":
        return f"renamed {_node_words(op['node'])} to '{op['name']}'"
    if kind == "set_infer":
        return f"set how {_node_words(op['node'])} is inferred"
    if kind == "new_model":
        return f"started model '{op['name']}'"
    if kind == "params":
        return "set the model's parameters " + ", ".join(f"{k} = {v}" for k, v in op.get("params", {}).items())
    if kind == "add_variable":
        return f"added {op.get('role', 'observed')} variable '{op['name']}'"
    if kind == "add_energy":
        return f"added energy term '{op['name']}' = {op['energy']}({', '.join(op.get('args', []))})"
    if kind == "add_function":
        return f"added '{op['target']}' = {op['function']}({', '.join(op.get('args', []))})"
    return str(kind)


def add_statements(lines: list[str]) -> None:
    """Add statements typed in the canvas (e.g. `latent w : R[4]`) to the model's body."""
    ss = st.session_state
    try:
        prog = parse(ss.editor)
        extra = parse("model Extra {\n" + "\n".join(lines) + "\n}\n", "<canvas>")
        prog.models[-1].body.extend(extra.models[0].body)
        text = dumps_file(prog)
        set_text(text)
        notify("success", "added: " + "; ".join(lines), text)
    except EbmError as exc:
        notify("error", "the new node's text is not a statement: " + exc.errors[0].message, ss.editor)
