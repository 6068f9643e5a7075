"""The data the panels run on: a bundled dataset or an uploaded array, checked against the model's
observed variables before anything runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
import torch

import ebmgraph
from ebmgraph.training.config import DataConfig
from ebmgraph.training.data import DataError, load_arrays, select

DATASETS = ["digits", "iris", "moons", "swiss_roll", "circles"]


def arrays() -> dict[str, np.ndarray] | None:
    ss = st.session_state
    if ss.dataset == "upload":
        return ss.upload_arrays  # type: ignore[no-any-return]
    return load_arrays(DataConfig(source=ss.dataset, map={}, n_samples=500), seed=0)


def width(arrs: dict[str, np.ndarray]) -> int:
    data = arrs["data"]
    return int(np.prod(data.shape[1:])) if data.ndim >= 2 else 1


def mapped_values(model: ebmgraph.CompiledModel, arrs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Data for each observed input: its `map_NAME` expression, else the whole row when the data is
    exactly as wide as the variable. A dataset of another width is refused with both widths named
    (never cut to fit in silence)."""
    ss = st.session_state
    out = {}
    cols = width(arrs)
    source = "the uploaded data" if ss.dataset == "upload" else f"the dataset '{ss.dataset}'"
    for name, v in model.inputs.items():
        if v.role != "observed":
            continue
        expr = ss.get(f"map_{name}") or ""
        if not expr:
            if v.domain.numel != cols:
                raise DataError(
                    f"{source} has {cols} values per row but '{name}' is {v.domain} ({v.domain.numel} values): pick "
                    f"a dataset {v.domain.numel} wide, or map columns to '{name}' in the Training tab "
                    f"(e.g. data[:, 0:{min(v.domain.numel, cols)}])")
            expr = "data"
        arr = select(expr, arrs)
        if arr.ndim == 1:
            arr = arr[:, None]
        if tuple(arr.shape[1:]) != v.domain.shape and int(np.prod(arr.shape[1:])) != v.domain.numel:
            raise DataError(f"'{expr}' has rows of shape {tuple(arr.shape[1:])} but '{name}' is {v.domain}")
        t = torch.as_tensor(np.asarray(arr, dtype=np.float32)).reshape(arr.shape[0], *v.domain.shape)
        if v.domain.kind == "bits":
            t = (t > t.mean()).float()
        elif v.domain.kind == "spins":
            t = torch.where(t > t.mean(), 1.0, -1.0)
        elif v.domain.kind == "categorical":
            t = t.long().clamp(0, (v.domain.k or 1) - 1)
        out[name] = t
    return out


def inputs_key(text: str, extra: Any = None) -> tuple[Any, ...]:
    """What a result was computed from: the text, the data and its mapping (results made from other
    inputs are marked stale)."""
    ss = st.session_state
    maps = tuple(sorted((k, str(ss[k])) for k in ss if isinstance(k, str) and k.startswith("map_")))
    upload = id(ss.upload_arrays) if ss.dataset == "upload" else None
    return (text, ss.dataset, upload, maps, extra)


def compiled(text: str, graph: ebmgraph.Graph) -> ebmgraph.CompiledModel:
    """The compiled model of this text (kept across reruns, and after training: its weights and
    standardization are the trained ones)."""
    ss = st.session_state
    if ss.model_cache[0] != text:
        torch.manual_seed(0)
        ss.model_cache = (text, ebmgraph.compile(graph))
    return ss.model_cache[1]  # type: ignore[no-any-return]
