"""Inference on one sample: F, the inferred values, and the landscape around them."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

import ebmgraph
from ebmgraph.plots import landscape_1d, landscape_2d
from ebmgraph.training.data import DataError

from ..data import arrays, compiled, inputs_key, mapped_values


def show(graph: ebmgraph.Graph | None, text: str) -> None:
    ss = st.session_state
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
    key = inputs_key(text, (tuple(given_names), i, id(ss.model_cache[1])))
    if st.button("Run inference", key="run_inference"):
        given = {k: vals[k][i:i + 1] for k in given_names}
        try:
            obs = [t for t in targets if model.inputs[t].role == "observed"]
            r = model.infer(obs, **given) if obs else model.free_energy(**given)  # type: ignore[arg-type]
            ss.inference = (key, given, r, targets)
        except ebmgraph.InputError as exc:
            st.error(str(exc))
            return
    if not ss.inference:
        return
    made_for, given, r, tg = ss.inference
    if made_for != key:
        st.warning("stale: the text, the data, the sample or the model changed since this result was computed; "
                   "run inference again")
    st.metric("free energy F", f"{float(r.free_energy[0].detach()):.5g}")
    st.table(inferred_rows(model, r.values))
    if made_for != key:
        return  # a landscape of another model or sample would mislead
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
        choices, label = (None, "")
        cat = next((t for t in r.values if model.inputs[t].domain.kind == "categorical"
                    and model.inputs[t].domain.numel == 1 and (model.inputs[t].domain.k or 0) <= 64), None)
        if same and cat is not None:  # k-means: the point each value of z gives (the centres)
            k = model.inputs[cat].domain.k or 0
            vals = {g: t.expand(k, *t.shape[1:]) for g, t in given.items()}
            with torch.no_grad():
                choices = model.partial({**vals, cat: torch.arange(k)})[same[0]]
            label = f"{same[0]} for each value of {cat}"
        cols[1].pyplot(landscape_2d(model, given, two, closest, choices=choices, choice_label=label))


def inferred_rows(model: Any, values: dict[str, Any]) -> list[dict[str, str]]:
    """The inferred values as a table a person reads: the variable, its domain, its value (a
    category as its index, a vector's first 12 entries)."""
    rows = []
    for name, v in values.items():
        flat = v.detach().flatten()
        var = model.inputs.get(name)
        shown = ", ".join(f"{int(x)}" if var is not None and var.domain.discrete else f"{float(x):.4g}"
                          for x in flat[:12])
        rows.append({"variable": name, "domain": str(var.domain) if var is not None else "",
                     "value": shown + (f", ... ({flat.numel()} values)" if flat.numel() > 12 else "")})
    return rows
