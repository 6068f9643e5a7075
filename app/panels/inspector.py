"""The Inspector: the selected node's settings and, on a sample of the data, its values."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

import ebmgraph
from ebmgraph.graph import Application, EnergyTerm, Variable
from ebmgraph.inference import resolve
from ebmgraph.training.data import DataError

from ..data import arrays, compiled, mapped_values


def _call_text(graph: ebmgraph.Graph, fn: str) -> str:
    fdef = graph.fns.get(fn)
    if fdef is None:
        return fn
    args = [str(a) for a in fdef.args] + [f"{k} = {v}" for k, v in fdef.options]
    return f"{fn} = {fdef.func}({', '.join(args)})"


def wanted_label(sel: str, labels: list[str], nodes: list[Any]) -> str:
    """The Inspector's entry for a canvas node id (variables by name, fn:NAME/..., energy:NAME)."""
    wanted = (f"energy {sel[7:]}" if sel.startswith("energy:") else
              f"function {sel[3:].split('/')[0]}" if sel.startswith("fn:") else f"variable {sel}")
    if wanted.startswith("function "):  # a canvas function box: its first application
        wanted = next((lb for lb, o in zip(labels, nodes, strict=True)
                       if isinstance(o, Application) and (o.fn == wanted[9:] or o.output == wanted[9:])), wanted)
    return wanted


def _node_id(graph: ebmgraph.Graph, o: Any) -> str | None:
    """The canvas id of a graph node at the template level (None for unrolled or inlined ones)."""
    if graph.cluster_of(o) or "[" in o.name:
        return None
    if isinstance(o, EnergyTerm):
        return f"energy:{o.name}"
    if isinstance(o, Application):
        return f"fn:{o.output}"
    return str(o.name)


def _declared_infer(graph: ebmgraph.Graph, name: str) -> list[Any]:
    """The options the text's `infer` clause of latent `name` gives (template level)."""
    from ebmgraph.decls import VarDecl, walk_statements
    for s in walk_statements(graph.model.body):
        if isinstance(s, VarDecl) and s.name == name and s.infer is not None:
            return list(s.infer.options)
    return []


def edit_in_place(graph: ebmgraph.Graph, o: Any) -> None:
    """The selected node's settings, edited here (the canvas' own node dialog is not used):
    rename or delete it; a latent's inference method and options."""
    from ebmgraph.inference.method import METHODS

    from ..canvas import apply_ops
    from ..forms import option_fields
    nid = _node_id(graph, o)
    if nid is None:
        st.caption("this node comes from a loop or a sub-model: edit it in the text (or open the sub-model)")
        return
    with st.expander(f"Edit {o.kind} {o.name}"):
        c1, c2 = st.columns(2)
        new = c1.text_input("New name", key="inspect_rename", placeholder=o.name)
        if c1.button("Rename", key="inspect_rename_go") and new.strip():
            apply_ops([{"op": "rename", "node": nid, "name": new.strip()}])
            st.rerun()
        if c2.button("Delete", key="inspect_delete"):
            apply_ops([{"op": "delete", "node": nid}])
            st.rerun()
        if isinstance(o, Variable) and o.role == "latent" and not o.computed:
            now = o.infer.method if o.infer else "(domain's default)"
            names = ["(domain's default)", *sorted(METHODS)]
            method = st.selectbox("Infer", names, index=names.index(now) if now in names else 0,
                                  key="inspect_infer")
            from ebmgraph.printer import expr
            declared = {opt.key: expr(opt.value) for opt in _declared_infer(graph, o.name)} if method == now else {}
            opts = option_fields(f"inspect_infer_{o.name}_{method}_", METHODS[method].options, st, declared) \
                if method in METHODS else {}
            if st.button("Apply", key="inspect_infer_go"):
                spec = None if method not in METHODS else {"method": method, "options": opts}
                apply_ops([{"op": "set_infer", "node": nid, "infer": spec}])
                st.rerun()


def show(graph: ebmgraph.Graph | None, text: str) -> None:
    if graph is None:
        st.info("fix the errors to inspect the graph")
        return
    shown_nodes = [o for o in graph.nodes if not (isinstance(o, Variable) and o.anonymous)]
    labels = [f"{o.kind} {o.name}" for o in shown_nodes]
    if not labels:
        st.info("the model has no nodes yet: add one from the palette")
        return
    wanted = wanted_label(st.session_state.selected or "", labels, shown_nodes)
    label = st.selectbox("Node", labels, index=labels.index(wanted) if wanted in labels else 0, key="inspect_node")
    o = shown_nodes[labels.index(label)]
    name = o.name
    rows: dict[str, Any] = {"kind": o.kind}
    model = compiled(text, graph)
    if isinstance(o, Variable):
        rows.update({"role": "computed" if o.computed else o.role, "domain": str(o.domain),
                     "shape": str(o.domain.shape)})
        if not o.computed:
            rows["infer"] = resolve(graph, o).text()
        producer = graph.producer(name)
        if producer is not None:
            rows["function"] = _call_text(graph, producer.fn)
            rows["parameters"] = model.parameter_count(producer.fn) if producer.fn in model.fns else 0
        rows["energy terms touching it"] = ", ".join(t.name for t in graph.energies_touching(name)) or "-"
        regs = [f"{r.name} = {r.method}" for r in graph.regularizers.values() if name in r.args]
        rows["regularizers"] = ", ".join(regs) or "-"
    elif isinstance(o, Application):
        rows.update({"function": _call_text(graph, o.fn), "inputs": ", ".join(o.args), "output": o.output})
    elif isinstance(o, EnergyTerm):
        opts = ", ".join(f"{k} = {v}" for k, v in o.options)
        rows.update({"energy": o.energy + (f"({opts})" if opts else ""), "variables": ", ".join(o.args),
                     "weight": model.weights[o.name]})
    st.table({"property": list(rows), "value": [str(v) for v in rows.values()]})
    edit_in_place(graph, o)
    if graph.missing:
        return  # values wait for a complete model (the next step is named above)
    try:
        arrs = arrays()
        if arrs is None:
            return
        vals = mapped_values(model, arrs)
        i = st.number_input("Sample", 0, max(len(next(iter(vals.values()))) - 1, 0), 0, key="inspect_sample")
        given = {k: v[i:i + 1] for k, v in vals.items()}
        with torch.no_grad():
            r = model.free_energy(**given)
        values = {**r.all_values, **r.values}
        if name in values:
            st.write(f"value of `{name}` on sample {i}:", values[name].flatten()[:16].tolist())
        st.write("energy terms on this sample:", {k: round(float(v), 5) for k, v in r.terms.items()})
    except (DataError, ebmgraph.InputError, ValueError) as exc:
        st.info(f"no values to show: {exc}")
