"""Training from the app: live curves, a Stop that keeps a checkpoint and says where, the collapse
monitor as a table and a plot."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

import ebmgraph
from ebmgraph.catalogue import REGULARIZERS
from ebmgraph.diagnostics import EbmError
from ebmgraph.plots import collapse_table, training_curves
from ebmgraph.training.data import DataError
from ebmgraph.training.losses import LOSSES

from ..data import arrays, compiled, mapped_values

try:  # Streamlit ends a running script by raising one of these at its next call (a click on Stop)
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException
except ImportError:  # pragma: no cover - older Streamlit
    from streamlit.runtime.scriptrunner.exceptions import ScriptControlException  # type: ignore[no-redef]


def run_until_stopped(model: ebmgraph.CompiledModel, cfg: dict[str, Any], data: Any,
                      ui_step: Callable[[dict[str, float]], None]) -> tuple[Any, BaseException | None]:
    """Train, calling `ui_step(row)` after each step. When the page interrupts the run (Stop, or any
    other click: Streamlit raises in `ui_step`), training stops after that step with a checkpoint
    written, and the interruption is returned to be raised again once the result is recorded."""
    interrupted: list[BaseException] = []

    def on_step(row: dict[str, float]) -> bool:
        try:
            ui_step(row)
        except ScriptControlException as exc:
            interrupted.append(exc)
            return False  # the trainer writes a checkpoint and returns
        return True

    result = ebmgraph.train(model, cfg, data, on_step=on_step)
    return result, (interrupted[0] if interrupted else None)


def record(result: Any, stopped: bool) -> None:
    """Keep a run's outcome in the session: its message, its checkpoint and where it is."""
    ss = st.session_state
    ss.collapse = list(result.collapse)
    ss.checkpoint_path = str(result.checkpoint) if result.checkpoint else None
    ss.checkpoint = Path(result.checkpoint).read_bytes() if result.checkpoint else None
    steps = len(result.history)
    last = result.history[-1]["loss"] if result.history else math.nan
    where = f"; checkpoint saved at {result.checkpoint}" if result.checkpoint else "; no checkpoint was written"
    if stopped:
        ss.train_message = ("warning", f"stopped after step {steps} (loss {last:.4g}){where}")
    else:
        ss.train_message = ("success", f"trained {steps} steps; final loss {last:.4g}{where}")


def show(graph: ebmgraph.Graph | None, text: str) -> None:
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
    c1.button("Stop", key="train_stop", help="stops after the current step and keeps a checkpoint")
    if c2.button("Start training", key="train_start"):
        try:
            from ebmgraph.training.data import Dataset
            vals = mapped_values(model, arrays() or {})
            if set(vals) != set(observed):
                raise DataError(f"map data to every observed variable ({', '.join(observed)})")
            data = Dataset(vals, {})
        except (DataError, ValueError, KeyError) as exc:
            st.error(str(exc))
            return
        cfg: dict[str, Any] = {"epochs": int(epochs), "batch_size": int(batch), "progress": False, "plot": False,
                               "optimizer": {"lr": float(lr)}, "out_dir": tempfile.mkdtemp(prefix="ebm-app-"),
                               "divergence": float(divergence), "checkpoint_seconds": 5,
                               "loss": {"kind": loss, "target": target}}
        if loss != "energy":
            cfg["sampler"] = {"kind": "cd" if loss == "contrastive_divergence" else "corruption", "noise": 0.5}
        if reg != "none" and len(on) == 2:
            cfg["regularizers"] = [{"kind": reg, "on": on}]
        bar = st.progress(0.0, text="training")
        chart = st.empty()
        ss.history = []
        ss.train_message = None
        total = int(epochs) * max(1, -(-len(data) // int(batch)))

        def ui_step(row: dict[str, float]) -> None:
            ss.history.append(row)
            bar.progress(min(1.0, row["step"] / total), text=f"step {row['step']}/{total} loss {row['loss']:.4g}")
            if row["step"] % 10 == 0:
                chart.line_chart({"loss": [h.get("loss", math.nan) for h in ss.history]})

        try:
            result, interruption = run_until_stopped(model, cfg, data, ui_step)
        except ebmgraph.training.TrainingStopped as exc:
            ss.train_message = ("error", str(exc))
        except (EbmError, ValueError) as exc:
            ss.train_message = ("error", str(exc))
        else:
            record(result, interruption is not None)
            if interruption is not None:
                raise interruption  # let the page rerun as the click asked; the message waits in the session
        chart.empty()
    if ss.train_message:
        kind, msg = ss.train_message
        getattr(st, kind)(msg)
    if ss.history:
        fig = training_curves(ss.history)
        if fig is not None:
            st.pyplot(fig)
        table = collapse_table(ss.history)
        if table["measure"]:
            st.caption("collapse monitor (003 sec. 4.3): spread and effective rank of the representations")
            st.table(table)
    for msg in ss.collapse:
        st.warning("collapse: " + msg)
    if ss.checkpoint:
        st.download_button("Save checkpoint", ss.checkpoint, file_name=Path(ss.checkpoint_path or "checkpoint.pt").name,
                           key="dl_ckpt")
