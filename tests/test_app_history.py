"""Issue 27, the canvas and the edit history: a node deleted on the canvas is deleted from the text (or
put back, with the reason), and Undo / Redo give back every text, whatever made the edit."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from .conftest import ROOT

APP = str(ROOT / "app" / "app.py")



def _canvas_without(at: AppTest, nodes: tuple[str, ...] = (), edges: tuple[tuple[str, str], ...] = ()) -> None:
    """What the canvas component sends after Backspace removed `nodes` (and the edges at them) or
    `edges`: its state as the page built it, less those, with a newer timestamp (AppTest cannot drive
    the component, so the value it would return, under its key)."""
    flow = at.session_state.flow
    state = flow.asdict()
    kept = [n for n in state["nodes"] if n["id"] not in nodes]
    gone = {e["id"] for e in state["edges"]
            if e["source"] in nodes or e["target"] in nodes or (e["source"], e["target"]) in edges}
    at.session_state["canvas"] = {"nodes": kept, "edges": [e for e in state["edges"] if e["id"] not in gone],
                                  "selectedId": None, "timestamp": flow.timestamp + 1000}
    at.run()
    assert not at.exception, at.exception


def _node_ids(at: AppTest) -> set[str]:
    return {n.id for n in at.session_state.flow.nodes}


def _messages(at: AppTest, kind: str) -> list[Any]:
    return [m.value for m in getattr(at, kind)]


def _undo(at: AppTest) -> None:
    at.button(key="history_undo").click().run()
    assert not at.exception, at.exception


def _redo(at: AppTest) -> None:
    at.button(key="history_redo").click().run()
    assert not at.exception, at.exception


def test_a_node_deleted_on_the_canvas_is_deleted_from_the_text(at: AppTest) -> None:
    original = at.session_state.editor
    assert "energy:R" in _node_ids(at)
    _canvas_without(at, nodes=("energy:R",))
    assert "energy R" not in at.session_state.editor and "energy D = sq_dist(sy, sy_hat)" in at.session_state.editor
    assert _messages(at, "success") == ["deleted energy term 'R'"]
    assert "energy:R" not in _node_ids(at)  # the canvas is drawn anew from the text
    assert at.session_state.editor_code == at.session_state.editor  # the editor shows it
    _undo(at)
    assert at.session_state.editor == original  # byte for byte
    assert "energy:R" in _node_ids(at)


def test_a_deletion_the_text_cannot_take_puts_the_node_back_and_says_why(at: AppTest) -> None:
    original = at.session_state.editor
    for _ in range(2):  # twice: the second refusal is the same as the first, and still puts it back
        _canvas_without(at, nodes=("z",))  # z feeds the predictor and R: the Inspector refuses it too
        assert at.session_state.editor == original
        errors = _messages(at, "error")
        assert any("still connected" in e and "put back on the canvas" in e for e in errors), errors
        assert "z" in _node_ids(at)
    assert at.button(key="history_undo").disabled  # nothing changed: nothing to undo


def test_an_edge_deleted_on_the_canvas_disconnects_in_the_text(at: AppTest) -> None:
    _canvas_without(at, edges=(("z", "energy:R"),))
    assert "energy R = 0.1 * l1()" in at.session_state.editor
    assert _messages(at, "success") == ["disconnected 'z' from energy term 'R'"]


def test_nodes_deleted_together_are_deleted_users_first(at: AppTest) -> None:
    _canvas_without(at, nodes=("z", "energy:R", "fn:sy_hat", "fn:sy_hat/0", "sy_hat", "energy:D"))
    text = at.session_state.editor
    assert "latent z :" not in text and "energy R =" not in text and "sy_hat =" not in text, text
    assert not _messages(at, "error")


def test_undo_and_redo_give_back_the_text_byte_for_byte(at: AppTest) -> None:
    original = at.session_state.editor
    _canvas_without(at, nodes=("energy:R",))
    deleted = at.session_state.editor
    assert at.button(key="history_redo").disabled
    _undo(at)
    assert at.session_state.editor == original
    assert at.session_state.editor_code.rstrip("\n") == original.rstrip("\n")  # the editor is given it
    assert not at.button(key="history_redo").disabled
    _redo(at)
    assert at.session_state.editor == deleted and "energy R" not in deleted
    assert at.button(key="history_redo").disabled
    _undo(at)
    assert at.session_state.editor == original


def test_undo_goes_back_across_a_palette_addition_and_a_typed_edit(at: AppTest) -> None:
    original = at.session_state.editor
    at.selectbox(key="palette_kind").set_value("energy").run()
    at.text_input(key="palette_name").set_value("Q").run()
    at.selectbox(key="palette_energy").set_value("l2").run()
    at.button(key="palette_add").click().run()
    added = at.session_state.editor
    assert "energy Q = l2()" in added
    typed = added.replace("energy R = 0.1 * l1(z)", "energy R = 0.5 * l1(z)")
    at.session_state.editor = typed  # typing settled into the editor (the text it sends)
    at.run()
    assert at.session_state.last_good_program is not None and "0.5 * l1(z)" in at.session_state.editor
    _undo(at)
    assert at.session_state.editor == added
    _undo(at)
    assert at.session_state.editor == original
    assert at.button(key="history_undo").disabled
    _redo(at)
    _redo(at)
    assert at.session_state.editor == typed


def test_a_new_edit_after_undo_clears_redo(at: AppTest) -> None:
    original = at.session_state.editor
    at.session_state.canvas_ops = [{"op": "rename", "node": "sx", "name": "s_x"}]
    at.run()
    _undo(at)
    assert at.session_state.editor == original
    assert not at.button(key="history_redo").disabled
    at.session_state.canvas_ops = [{"op": "delete", "node": "energy:R"}]  # the Inspector's delete
    at.run()
    assert "energy R" not in at.session_state.editor
    assert at.button(key="history_redo").disabled and at.session_state.redo_stack == []
    _undo(at)
    assert at.session_state.editor == original


def test_the_history_is_bounded_and_skips_repeats() -> None:
    from app import history

    class SS(dict[str, Any]):
        __getattr__ = dict.__getitem__
        __setattr__ = dict.__setitem__

    ss = SS(history_text=None, undo_stack=[], redo_stack=["r"])
    import streamlit as st
    real = st.session_state
    try:
        st.session_state = ss  # type: ignore[assignment]
        history.record("t0")
        assert ss.undo_stack == [] and ss.redo_stack == ["r"]  # the first text is no edit
        history.record("t0")
        assert ss.undo_stack == []
        for i in range(1, history.LIMIT + 20):
            history.record(f"t{i}")
        assert len(ss.undo_stack) == history.LIMIT and ss.undo_stack[-1] == f"t{history.LIMIT + 18}"
        assert ss.redo_stack == []
    finally:
        st.session_state = real
