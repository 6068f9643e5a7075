"""Graph IR -> Graphviz in the symbols of Fig. 18 (003 appendix): DOT, SVG, PNG.

filled circle = observed variable (and outputs of deterministic functions), hollow circle =
latent, rounded box with arrows = deterministic function, red box with undirected links =
energy term. Sub-model instances are labelled clusters (or one folded box); unrolled loops run
left to right. Output is deterministic, so DOT can be compared as text.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import graphviz

from .graph import Application, EnergyTerm, Graph, Variable

OBSERVED_FILL = "gray80"
ENERGY_FILL = "#e06666"
FONT = "Helvetica"


def _var_attrs(v: Variable) -> dict[str, str]:
    attrs = {"shape": "circle", "tooltip": f"{v.name} : {v.domain}", "fontname": FONT, "fixedsize": "false"}
    if v.anonymous:
        attrs.update(label="", width="0.15", style="filled", fillcolor="gray40", color="gray40")
    elif v.role == "latent":
        attrs.update(label=v.name, style="solid", fillcolor="white")
    else:
        attrs.update(label=v.name, style="filled", fillcolor=OBSERVED_FILL)
    if v.role == "latent" and v.infer is not None:
        attrs["tooltip"] += f"  (infer {v.infer.method})"
    return attrs


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def to_dot(g: Graph, *, fold: bool = False, values: dict[str, float] | None = None) -> str:
    """DOT text of the diagram; `fold=True` draws each sub-model instance as one box;
    `values` annotates energy terms with their current value (the app's inspector)."""
    dot = graphviz.Digraph(g.name, graph_attr={"rankdir": "LR", "compound": "true", "newrank": "true",
                                                "fontname": FONT, "nodesep": "0.3", "ranksep": "0.4",
                                                "label": g.name, "labelloc": "t"},
                           node_attr={"fontname": FONT, "fontsize": "11"}, edge_attr={"arrowsize": "0.7"})
    top = {n: g.clusters.get(n, "").split(".")[0] for n in g.nx.nodes}
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nx.nodes))}  # DOT ids: names may hold ':' '[' '.'
    ids.update({f"cluster:{t}": f"inst_{i}" for i, t in enumerate(sorted({t for t in top.values() if t}))})

    def visible(n: str) -> str:
        return ids[f"cluster:{top[n]}"] if fold and top[n] else ids[n]

    def emit(target: graphviz.Digraph, n: str) -> None:
        o = g.node(n)
        if isinstance(o, Variable):
            target.node(ids[n], **_var_attrs(o))
        elif isinstance(o, Application):
            fdef = g.fns.get(o.fn)
            label = _short(o.fn)
            tip = f"{o.fn} = {fdef.func}{fdef.args}" if fdef else o.fn
            target.node(ids[n], label=label, shape="box", style="rounded", tooltip=tip)
        else:
            assert isinstance(o, EnergyTerm)
            label = _short(o.name[2:])
            if o.weight != 1.0:
                label += f" (\u00d7{o.weight:g})"
            if values and o.name in values:
                label += f"\n= {values[o.name]:.4g}"
            target.node(ids[n], label=label, shape="box", style="filled", fillcolor=ENERGY_FILL, color="#990000",
                        tooltip=f"energy {o.name[2:]} = {o.energy}({', '.join(o.args)})")

    nodes = sorted(g.nx.nodes)
    if fold:
        for n in nodes:
            if not top[n]:
                emit(dot, n)
        for inst in sorted({t for t in top.values() if t}):
            dot.node(ids[f"cluster:{inst}"], label=f"{inst} : {g.instances.get(inst, '')}", shape="box",
                     style="rounded,dashed,bold")
    else:
        by_cluster: dict[str, list[str]] = {}
        for n in nodes:
            by_cluster.setdefault(g.clusters.get(n, ""), []).append(n)
        for n in by_cluster.get("", []):
            emit(dot, n)
        _clusters(g, dot, "", by_cluster, emit)
    seen: set[tuple[str, str]] = set()
    for u, v in sorted(g.nx.edges):
        a, b = visible(u), visible(v)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        if isinstance(g.node(v), EnergyTerm):
            dot.edge(a, b, dir="none", color="#990000")
        else:
            dot.edge(a, b)
    return dot.source


def _clusters(g: Graph, parent: graphviz.Digraph, prefix: str, by_cluster: dict[str, list[str]], emit) -> None:  # type: ignore[no-untyped-def]
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


def _all_prefixes(by_cluster: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for c in by_cluster:
        parts = c.split(".") if c else []
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return out


def render(g: Graph, out: str | Path, *, fold: bool = False) -> Path:
    """Write the drawing to OUT (.dot, .svg or .png), atomically: no half-written file on failure."""
    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("dot", "gv", "svg", "png", "pdf"):
        raise ValueError(f"cannot render to '{path.name}': use a .svg, .png, .pdf or .dot file name")
    source = to_dot(g, fold=fold)
    data = source.encode() if fmt in ("dot", "gv") else graphviz.Source(source).pipe(format=fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
