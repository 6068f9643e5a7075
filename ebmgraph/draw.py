"""Graph IR -> Graphviz in the symbols of Fig. 18 (003 appendix): DOT, SVG, PNG.

filled circle = observed variable (and outputs of deterministic functions), hollow circle =
latent, dashed circle = noise (drawn afresh at every evaluation), rounded box with arrows =
deterministic function, red box with undirected links = energy term. Sub-model instances are labelled clusters (or one folded box); unrolled loops run
left to right (or fold to one box with their range). Output is deterministic, so DOT can be compared as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import graphviz

from . import decls as d
from .elaborate import loop_bound
from .files import check_writable, write_atomic
from .graph import Application, EnergyTerm, Graph, Node, NodeKey, Variable, key
from .inference.amortized import proposal_name
from .printer import expr, ref

OBSERVED_FILL = "gray80"
ENERGY_FILL = "#e06666"
FONT = "Helvetica"


def _var_attrs(v: Variable) -> dict[str, str]:
    attrs = {"shape": "circle", "tooltip": f"{v.name} : {v.domain}", "fontname": FONT, "fixedsize": "false"}
    if v.anonymous:
        attrs.update(label="", width="0.15", style="filled", fillcolor="gray40", color="gray40")
    elif v.role == "latent":
        attrs.update(label=v.name, style="solid", fillcolor="white")
    elif v.role == "noise":  # a source of randomness, drawn afresh each evaluation: a dashed circle
        dist = v.noise[0] if v.noise else "?"
        times = f" x{v.draws}" + (", worst" if v.reduce == "max" else "") if v.draws > 1 else ""
        attrs.update(label=f"{v.name}\\n~ {dist}{times}", style="dashed", fillcolor="white")
        attrs["tooltip"] += (f"  (noise ~ {dist}, drawn at every evaluation" + (
            f", {v.draws} draws a sample: the energy is their " + ("worst" if v.reduce == "max" else "mean")
            if v.draws > 1 else "") + ")")
    else:
        attrs.update(label=v.name, style="filled", fillcolor=OBSERVED_FILL)
    if v.role == "latent" and v.infer is not None:
        attrs["tooltip"] += f"  (infer {v.infer.method})"
    return attrs


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def loop_boxes(g: Graph) -> tuple[dict[NodeKey, int], list[str]]:
    """The main model's top-level loops: which nodes each one made, and its label with its range
    ('for t in 0..T - 1 (5 times)'); a node of a sub-model instance goes where its `use` is."""
    loops = [(s, s.span) for s in g.model.body if isinstance(s, d.ForLoop) and s.span is not None]
    if not loops:
        return {}, []
    main = g.program.path
    labels = []
    for lp, _ in loops:
        lo, hi = (loop_bound(e, g.params) for e in (lp.lo, lp.hi))
        times = f" ({hi - lo + 1} times)" if isinstance(lo, int) and isinstance(hi, int) else ""
        labels.append(f"for {lp.var} in {expr(lp.lo)}..{expr(lp.hi)}{times}\n" + _template(lp.body))

    def where(file: str | None, span: Any) -> int | None:
        if file != main or span is None:
            return None
        for i, (_, at) in enumerate(loops):
            if (at.line, at.column) <= (span.line, span.column) and span.line <= (at.end_line or 0):
                return i
        return None

    out: dict[NodeKey, int] = {}
    for o in g.nodes:
        inst = g.cluster_of(o).split(".")[0]
        i = where(*g.instance_sites.get(inst, (None, None))) if inst else where(o.file, o.span)
        if i is not None:
            out[key(o)] = i
    return out, labels


def _template(body: list[Any]) -> str:
    """A loop body as written, one part per line: 'use wm[t] : WorldModel', 'energy C[t]'."""
    lines = []
    for st in body:
        if isinstance(st, d.UseDecl):
            idx = f"[{expr(st.index)}]" if st.index is not None else ""
            lines.append(f"use {st.name}{idx} : {st.model}")
        elif isinstance(st, d.EnergyDecl):
            lines.append(f"energy {st.name}" + (f"[{expr(st.index)}]" if st.index is not None else ""))
        elif isinstance(st, d.Assign | d.Alias):
            lines.append(ref(st.target))
        elif isinstance(st, d.ForLoop):
            lines.append(f"for {st.var} in {expr(st.lo)}..{expr(st.hi)} {{...}}")
        elif isinstance(st, d.VarDecl | d.ParamDecl | d.FnDecl | d.RegularizeDecl):
            lines.append(f"{st.kind} {st.name}")
    return "\n".join(lines[:8] + ([f"... ({len(lines)} statements)"] if len(lines) > 8 else []))


def to_dot(g: Graph, *, fold: bool = False, fold_loops: bool = False, values: dict[str, float] | None = None) -> str:
    """DOT text of the diagram; `fold=True` draws each sub-model instance as one box;
    `fold_loops=True` draws each loop of the model as one box with its range;
    `values` annotates energy terms with their current value (the app's inspector)."""
    dot = graphviz.Digraph(g.name, graph_attr={"rankdir": "LR", "compound": "true", "newrank": "true",
                                                "fontname": FONT, "nodesep": "0.3", "ranksep": "0.4",
                                                "label": g.name, "labelloc": "t"},
                           node_attr={"fontname": FONT, "fontsize": "11"}, edge_attr={"arrowsize": "0.7"})
    nodes = g.nodes
    top = {key(o): g.cluster_of(o).split(".")[0] for o in nodes}
    ids = {key(o): f"n{i}" for i, o in enumerate(nodes)}  # DOT ids: names may hold ':' '[' '.'
    inst_ids = {t: f"inst_{i}" for i, t in enumerate(sorted({t for t in top.values() if t}))}

    in_loop, loop_labels = loop_boxes(g) if fold_loops else ({}, [])

    def visible(o: Node) -> str:
        k = key(o)
        if k in in_loop:
            return f"loop_{in_loop[k]}"
        return inst_ids[top[k]] if fold and top[k] else ids[k]

    def emit(target: graphviz.Digraph, o: Node) -> None:
        n = ids[key(o)]
        if isinstance(o, Variable):
            target.node(n, **_var_attrs(o))
        elif isinstance(o, Application):
            fdef = g.fns.get(o.fn)
            tip = f"{o.fn} = {fdef.func}{fdef.args}" if fdef else o.fn
            target.node(n, label=_short(o.fn), shape="box", style="rounded", tooltip=tip)
        else:
            label = _short(o.name)
            if o.weight != 1.0:
                label += f" (\u00d7{o.weight:g})"
            if values and o.name in values:
                label += f"\n= {values[o.name]:.4g}"
            target.node(n, label=label, shape="box", style="filled", fillcolor=ENERGY_FILL, color="#990000",
                        tooltip=f"energy {o.name} = {o.energy}({', '.join(o.args)})")

    for i, label in enumerate(loop_labels):
        dot.node(f"loop_{i}", label=label, shape="box3d", style="rounded", tooltip=label.split("\n")[0])
    if fold:
        for o in nodes:
            if not top[key(o)] and key(o) not in in_loop:
                emit(dot, o)
        for inst, iid in inst_ids.items():
            if not any(top[k] == inst for k in in_loop):
                dot.node(iid, label=f"{inst} : {g.instances.get(inst, '')}", shape="box", style="rounded,dashed,bold")
    else:
        by_cluster: dict[str, list[Node]] = {}
        for o in nodes:
            if key(o) not in in_loop:
                by_cluster.setdefault(g.cluster_of(o), []).append(o)
        for o in by_cluster.get("", []):
            emit(dot, o)
        _clusters(g, dot, "", by_cluster, emit)
    seen: set[tuple[str, str]] = set()
    for u, v in g.edges():
        a, b = visible(u), visible(v)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        if isinstance(v, EnergyTerm):
            dot.edge(a, b, dir="none", color="#990000")
        else:
            dot.edge(a, b)
    # an amortized latent's proposal: a dashed arrow from the encoder's guess to the latent (003 Fig. 19)
    for v in g.latents():
        if v.infer is not None and v.infer.method == "amortized":
            prop = proposal_name(v, v.infer.get("proposal"))
            if prop is not None and g.has_var(prop):
                a, b = visible(g.var(prop)), visible(v)
                if a != b:
                    dot.edge(a, b, style="dashed", color="gray40", tooltip=f"proposal for {v.name}")
    # regularizers: dotted boxes linked to the variables they act on (training-time terms)
    for i, (name, r) in enumerate(sorted(g.regularizers.items())):
        rid = f"reg_{i}"
        dot.node(rid, label=f"{_short(name)} = {r.method}", shape="box", style="dotted,rounded", color="#1155cc",
                 fontcolor="#1155cc", tooltip=f"regularize {name} = {r.method}({', '.join(r.args)})")
        for a_name in r.args:
            if g.has_var(a_name):
                dot.edge(visible(g.var(a_name)), rid, dir="none", style="dotted", color="#1155cc")
    return dot.source


def _clusters(g: Graph, parent: graphviz.Digraph, prefix: str, by_cluster: dict[str, list[Node]], emit) -> None:  # type: ignore[no-untyped-def]
    if prefix:
        children = sorted({c for c in _all_prefixes(by_cluster) if c.startswith(prefix + ".") and
                           c.count(".") == prefix.count(".") + 1})
    else:
        children = sorted({c for c in _all_prefixes(by_cluster) if "." not in c})
    for c in children:
        with parent.subgraph(name=f"cluster_{c}") as sub:
            sub.attr(label=f"{c} : {g.instances.get(c, '')}", style="rounded,dashed", labeljust="l", color="gray50")
            for n in by_cluster.get(c, []):
                emit(sub, n)
            _clusters(g, sub, c, by_cluster, emit)


def _all_prefixes(by_cluster: dict[str, list[Node]]) -> set[str]:
    out: set[str] = set()
    for c in by_cluster:
        parts = c.split(".") if c else []
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return out


def render(g: Graph, out: str | Path, *, fold: bool = False, fold_loops: bool = False) -> Path:
    """Write the drawing to OUT (.dot, .svg or .png), atomically: no half-written file on failure."""
    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("dot", "gv", "svg", "png", "pdf"):
        raise ValueError(f"cannot render to '{path.name}': use a .svg, .png, .pdf or .dot file name")
    check_writable(path)  # before the drawing is made
    source = to_dot(g, fold=fold, fold_loops=fold_loops)
    data = source.encode() if fmt in ("dot", "gv") else graphviz.Source(source).pipe(format=fmt)
    return write_atomic(path, data)


def svg(g: Graph, *, fold: bool = False, fold_loops: bool = False) -> str | None:
    """The drawing as SVG text (what a notebook shows inline), or None where Graphviz's `dot` is not
    installed (the notebook then shows the text table)."""
    try:
        return graphviz.Source(to_dot(g, fold=fold, fold_loops=fold_loops)).pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
        return None
