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
    "noise": {"borderRadius": "50%", "background": "#ffffff", "border": "2px dashed #333"},
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
    if n.kind in ("observed", "latent", "noise", "computed"):
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
    pos = {nid: placed[nid] for nid in cg.nodes if nid in placed}
    # after the first canvas event every node has a position: Graphviz runs only for new ones
    auto = graphviz_positions(cg) if len(pos) < len(cg.nodes) else {}
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


Box = tuple[float, float, float, float]
Point = tuple[float, float]
ROUTE = "route:"  # id prefix of a bend point: a dot an edge is drawn through, not a node of the model


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point, n: int = 48) -> list[Point]:
    out = []
    for k in range(n + 1):
        t = k / n
        u = 1 - t
        out.append((u ** 3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t ** 3 * p3[0],
                    u ** 3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t ** 3 * p3[1]))
    return out


def drawn_edge(s: Point, t: Point) -> list[Point]:
    """Points along the curve React Flow draws from a right-hand source handle to a left-hand target
    handle (its default bezier: horizontal tangents, control offset half the distance, or
    0.25 * 25 * sqrt(-distance) when the target lies to the left)."""
    d = t[0] - s[0]
    off = 0.5 * d if d >= 0 else 0.25 * 25 * (-d) ** 0.5
    return _bezier(s, (s[0] + off, s[1]), (t[0] - off, t[1]), t)


def _inside(p: Point, b: Box, margin: float = 2.0) -> bool:
    return b[0] + margin < p[0] < b[0] + b[2] - margin and b[1] + margin < p[1] < b[1] + b[3] - margin


def crossings(path: list[Point], boxes: dict[str, Box], ends: tuple[str, str]) -> list[str]:
    """The nodes (other than the edge's own ends) a drawn path runs through."""
    return [n for n, b in boxes.items() if n not in ends and any(_inside(p, b) for p in path)]


def _hits(points: list[Point], boxes: dict[str, Box], ends: tuple[str, str]) -> int:
    """How many nodes the canvas' curves through these points run through, piece by piece."""
    return sum(len(crossings(drawn_edge(p, q), boxes, ends)) for p, q in zip(points, points[1:], strict=False))


def routes(cg: CanvasGraph, pos: dict[str, Point]) -> dict[tuple[str, str], list[Point]]:
    """Bend points for every edge whose plain curve would run through another node: Graphviz routes
    it around the nodes where they stand (neato -n2, splines), and the points where its spline's
    pieces meet (or its middle, for one piece) become dots the canvas draws the edge through."""
    boxes: dict[str, Box] = {}
    for n in cg.nodes:
        if n in pos:
            w, h = size_of(cg.nodes[n])
            boxes[n] = (pos[n][0], pos[n][1], float(w), float(h))
    bad = []
    for a, b in cg.edges:
        if a in boxes and b in boxes and a != b:
            s = (boxes[a][0] + boxes[a][2], boxes[a][1] + boxes[a][3] / 2)
            t = (boxes[b][0], boxes[b][1] + boxes[b][3] / 2)
            if crossings(drawn_edge(s, t), boxes, (a, b)):
                bad.append((a, b))
    if not bad:
        return {}
    import graphviz
    names = {nid: f"n{i}" for i, nid in enumerate(boxes)}
    top = max(y + h for _, y, _, h in boxes.values()) + 20  # Graphviz's y grows upwards
    lines = ["digraph G {", "  splines=true; sep=\"+4\"; node [shape=box, fixedsize=true, label=\"\"];"]
    for nid, (bx, by, bw, bh) in boxes.items():
        lines.append(f'  {names[nid]} [width={bw / 72:.3f}, height={bh / 72:.3f}, '
                     f'pos="{bx + bw / 2:.1f},{top - by - bh / 2:.1f}!"];')
    for a, b in bad:
        lines.append(f"  {names[a]} -> {names[b]};")
    lines.append("}")
    out = json.loads(graphviz.Source("\n".join(lines), engine="neato").pipe(format="json", neato_no_op=2))
    back = dict(enumerate(boxes))  # Graphviz numbers the nodes in the order they are declared
    found: dict[tuple[str, str], list[Point]] = {}
    for e in out.get("edges", []):
        tail, head = back.get(e["tail"]), back.get(e["head"])
        ctrl: list[Point] = []
        for q in e.get("pos", "").split():
            if not q.startswith(("e,", "s,")):
                x, y = q.split(",")[:2]
                ctrl.append((float(x), top - float(y)))
        if tail is None or head is None or len(ctrl) < 4:
            continue
        # Graphviz's spline, sampled ever more densely until the canvas' curves through the samples
        # clear every node as the spline does
        curve = [q for i in range(0, len(ctrl) - 3, 3)
                 for q in _bezier(ctrl[i], ctrl[i + 1], ctrl[i + 2], ctrl[i + 3], n=32)[:-1]] + [ctrl[-1]]
        src = (boxes[tail][0] + boxes[tail][2], boxes[tail][1] + boxes[tail][3] / 2)
        dst = (boxes[head][0], boxes[head][1] + boxes[head][3] / 2)
        best: tuple[int, list[Point]] = (_hits([src, dst], boxes, (tail, head)), [])
        for k in (1, 2, 3, 5, 8):
            joints = [curve[round(len(curve) * (j + 1) / (k + 1))] for j in range(k)]
            hits = _hits([src, *joints, dst], boxes, (tail, head))
            if hits < best[0]:
                best = (hits, joints)
            if hits == 0:
                break
        if best[1]:  # none when Graphviz's route is no better (nodes dragged onto each other)
            found[(tail, head)] = best[1]
    for a, b in bad:  # where Graphviz found no clear way (it can give up routing round crowded rows):
        src = (boxes[a][0] + boxes[a][2], boxes[a][1] + boxes[a][3] / 2)  # over or under the nodes between
        dst = (boxes[b][0], boxes[b][1] + boxes[b][3] / 2)
        now = found.get((a, b), [])
        if _hits([src, *now, dst], boxes, (a, b)) == 0:
            continue
        lo, hi = min(src[0], dst[0]), max(src[0], dst[0])
        between = [bx for n, bx in boxes.items() if n not in (a, b) and bx[0] < hi and bx[0] + bx[2] > lo]
        if not between:
            continue
        for y in (min(bx[1] for bx in between) - 24, max(bx[1] + bx[3] for bx in between) + 24):
            for edge in (16.0, 0.1 * (hi - lo), 0.25 * (hi - lo)):  # steeply up or down first, then along
                joints = [(lo + edge, y), (hi - edge, y)]
                if _hits([src, *joints, dst], boxes, (a, b)) < _hits([src, *now, dst], boxes, (a, b)):
                    now = joints
        if now:
            found[(a, b)] = now
    return found


def logical_edges(shown: set[tuple[str, str]], pieces: dict[tuple[str, str], list[tuple[str, str]]]) \
        -> set[tuple[str, str]]:
    """The model's edges among the canvas' edges: a routed edge counts while every piece of it is
    there (deleting any piece deletes it); an edge that is no piece (a new connection) counts as is."""
    in_route = {p for ps in pieces.values() for p in ps}
    out = {e for e in shown if e not in in_route}
    out |= {e for e, ps in pieces.items() if all(p in shown for p in ps)}
    return out


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
    edges = []
    bends = routes(cg, pos)
    ss.flow_routes = {}
    for a, b in cg.edges:
        arrow = {"type": "arrow"} if not b.startswith("energy:") else {}
        joints = bends.get((a, b), [])
        if not joints:
            edges.append(StreamlitFlowEdge(f"{a}->{b}", a, b, animated=False, deletable=True, marker_end=arrow))
            continue
        ids = [a, *(f"{ROUTE}{a}->{b}/{i}" for i in range(len(joints))), b]
        for i, (x, y) in enumerate(joints):
            nodes.append(StreamlitFlowNode(ids[i + 1], (x - 1, y - 1), {"content": ""}, "default", "right", "left",
                                           connectable=False, deletable=False, selectable=False, draggable=False,
                                           style={"width": 2, "height": 2, "padding": 0, "border": "none",
                                                  "background": "transparent", "minWidth": 0}))
        pieces = list(zip(ids, ids[1:], strict=False))
        ss.flow_routes[(a, b)] = pieces
        for i, (u, v) in enumerate(pieces):
            edges.append(StreamlitFlowEdge(f"{a}->{b}#{i}", u, v, animated=False, deletable=True,
                                           marker_end=arrow if v == b else {}))
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
               "click a node to inspect, rename or delete it in the Inspector (Backspace or Delete deletes the "
               "selected node or edge from the text; Undo, or Ctrl+Z, brings it back); right-click the canvas and "
               "type a statement (e.g. `latent w : R[4]`) to add one.")


def show(cg: CanvasGraph) -> None:
    """Draw the canvas. Its events are taken when the Compose fragment starts (take_event); one that
    arrives while it draws is taken here, and the fragment runs again to show its result."""
    ss = st.session_state
    # positions too: a drag can put a node across an edge, which is then routed around it
    built_for = (dumps_file(ss.last_good_program), tuple(ss.marked), ss.layout_version,
                 tuple(sorted(ss.positions.items())))
    if ss.flow_for != built_for:
        ss.flow = flow_state(cg)
        ss.flow_for = built_for
        ss.flow_known = ({n.id for n in ss.flow.nodes}, set(cg.edges))
    new = streamlit_flow("canvas", ss.flow, height=520, fit_view=True, min_zoom=MIN_ZOOM, allow_new_edges=True,
                         enable_pane_menu=True, enable_node_menu=False, enable_edge_menu=True,
                         get_node_on_click=True, hide_watermark=True)
    if handle(new):
        st.rerun(scope="fragment")


def take_event() -> None:
    """The canvas' last event, as Streamlit keeps it under the widget's key before the widget is
    drawn: handled before anything else is drawn, so one run shows its result."""
    raw = st.session_state.get("canvas")
    if not isinstance(raw, dict) or "nodes" not in raw:
        return
    handle(StreamlitFlowState(nodes=[StreamlitFlowNode.from_dict(n) for n in raw["nodes"]],
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
        if n.id.startswith(ROUTE):
            continue  # a bend point: laid out with its edge, never by hand
        ss.positions[n.id] = (n.position["x"], n.position["y"])
        if n.id not in known_nodes:  # added from the pane menu: its text is one .ebm statement
            ops.append({"op": "statement", "text": str(n.data.get("content", ""))})
    gone: set[str] = set()
    for nid in sorted(known_nodes - set(new_nodes)):
        # a function's boxes (fn:y, fn:y/0 for a call inside it) and its output y are one statement
        what = nid if nid.startswith(("energy:", "use:")) else nid.removeprefix("fn:").split("/")[0]
        if not nid.startswith(ROUTE) and what not in gone:
            gone.add(what)
            ops.append({"op": "delete", "node": nid})
    new_edges = logical_edges({(e.source, e.target) for e in new.edges}, ss.flow_routes)
    for a, b in new_edges - known_edges:
        ops.append({"op": "connect", "source": a, "target": b})
    for a, b in known_edges - new_edges:
        if a in new_nodes and b in new_nodes:
            ops.append({"op": "disconnect", "source": a, "target": b})
    for nid, n in new_nodes.items():
        if nid in known_nodes and nid in cg.nodes:
            first = str(n.data.get("content", "")).split("\n")[0].strip()
            if first and first != cg.nodes[nid].label and cg.nodes[nid].kind in ("observed", "latent", "noise",
                                                                                    "computed", "energy"):
                ops.append({"op": "rename", "node": nid, "name": first})
    if new.selected_id and new.selected_id != ss.selected:
        ss.selected = new.selected_id
        ss.pop("inspect_node", None)  # the Inspector follows the canvas' selection
    ss.flow_known = (set(new_nodes), new_edges)  # the state we pass stays the one we built: no resets
    if ops:
        statements = [op for op in ops if op["op"] == "statement"]
        # deleted together (a selection): energy terms and sub-models before the functions and
        # variables they use, so each deletion finds its node no longer connected
        others = sorted((op for op in ops if op["op"] != "statement"),
                        key=lambda op: op["op"] == "delete" and _delete_rank(str(op["node"])))
        if statements:
            add_statements([op["text"] for op in statements])
        if others:
            apply_ops(others)
            removed = [op for op in others if op["op"] in ("delete", "disconnect")]
            if removed and ss.notice is not None and ss.notice[0] == "error":
                kind, msg, text = ss.notice
                notify(kind, f"{msg} (put back on the canvas: the text still has it)", text)
        ss.flow_for = None  # drawn anew from the text, the truth: a refused deletion puts the node back
        return True
    return False


def _delete_rank(nid: str) -> int:
    """The order nodes deleted together are deleted in: what uses others first."""
    return 1 if nid.startswith(("energy:", "use:")) else 2 if nid.startswith("fn:") else 3


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
