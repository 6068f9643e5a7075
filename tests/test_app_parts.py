"""The composer's parts outside Streamlit's page: the canvas layout, a stopped training run."""

from __future__ import annotations

import pytest

from ebmgraph.edit import canvas_graph
from ebmgraph.syntax import parse

from .conftest import LIBRARY


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.ebm")), ids=lambda p: p.name)
def test_no_two_canvas_nodes_overlap_and_labels_stay_readable(path) -> None:  # type: ignore[no-untyped-def]
    from app.canvas import FONT_PX, MIN_ZOOM, layout, overlaps, size_of
    cg = canvas_graph(parse(path.read_text(), str(path)))
    pos = layout(cg, {})
    assert set(pos) == set(cg.nodes)
    boxes = {nid: (*pos[nid], *size_of(cg.nodes[nid])) for nid in cg.nodes}
    ids = sorted(boxes)
    clashes = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if overlaps(boxes[a], boxes[b])]
    assert not clashes
    assert FONT_PX * MIN_ZOOM >= 11  # the canvas fits the view but never zooms labels below 11 px


def _drawn_through_nodes(cg, pos, bends):  # type: ignore[no-untyped-def]
    """Every (edge, node) where the canvas' curve for an edge, through its bend points, runs
    through another node's box (React Flow's bezier between a right and a left handle)."""
    from app.canvas import crossings, drawn_edge, size_of
    boxes = {n: (*pos[n], *size_of(cg.nodes[n])) for n in cg.nodes}
    hits = []
    for a, b in cg.edges:
        start = (boxes[a][0] + boxes[a][2], boxes[a][1] + boxes[a][3] / 2)
        end = (boxes[b][0], boxes[b][1] + boxes[b][3] / 2)
        points = [start, *bends.get((a, b), []), end]
        for p, q in zip(points, points[1:], strict=False):
            hits += [((a, b), n) for n in crossings(drawn_edge(p, q), boxes, (a, b))]
    return hits


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.ebm")), ids=lambda p: p.name)
def test_no_canvas_edge_runs_through_a_node(path) -> None:  # type: ignore[no-untyped-def]
    from app.canvas import layout, routes
    cg = canvas_graph(parse(path.read_text(), str(path)))
    pos = layout(cg, {})
    assert not _drawn_through_nodes(cg, pos, routes(cg, pos))


def test_an_edge_a_dragged_node_sits_on_is_routed_around_it() -> None:
    """autoencoder.ebm: the user drags the decoder's output onto the straight way from y to the
    energy D; that edge then goes through bend points that Graphviz routed around every node."""
    from app.canvas import layout, logical_edges, overlaps, routes, size_of
    cg = canvas_graph(parse((LIBRARY / "autoencoder.ebm").read_text()))
    pos = layout(cg, {})
    y_box = (*pos["y"], *size_of(cg.nodes["y"]))
    d_box = (*pos["energy:D"], *size_of(cg.nodes["energy:D"]))
    mid = ((y_box[0] + y_box[2] + d_box[0]) / 2, (y_box[1] + y_box[3] / 2 + d_box[1] + d_box[3] / 2) / 2)
    w, h = size_of(cg.nodes["code"])
    left = pos["fn:code"][0] + size_of(cg.nodes["fn:code"])[0] + 12  # clear of its neighbours, across the edge
    pos["code"] = (left, mid[1] - h / 2)
    assert not [n for n in cg.nodes if n != "code" and overlaps((*pos[n], *size_of(cg.nodes[n])), (*pos["code"], w, h))]
    assert _drawn_through_nodes(cg, pos, {})  # without bend points it runs through 'code'
    bends = routes(cg, pos)
    assert ("y", "energy:D") in bends and bends[("y", "energy:D")]
    assert not _drawn_through_nodes(cg, pos, bends)
    # a routed edge is one edge of the model: deleting any of its pieces deletes it
    pieces = {("y", "energy:D"): [("y", "route:y->energy:D/0"), ("route:y->energy:D/0", "energy:D")]}
    shown = {("x", "fn:code"), *pieces[("y", "energy:D")]}
    assert logical_edges(shown, pieces) == {("x", "fn:code"), ("y", "energy:D")}
    assert logical_edges(shown - {("y", "route:y->energy:D/0")}, pieces) == {("x", "fn:code")}


def test_new_nodes_are_laid_out_clear_of_dragged_ones() -> None:
    from app.canvas import layout, overlaps, size_of
    cg = canvas_graph(parse((LIBRARY / "jepa.ebm").read_text()))
    auto = layout(cg, {})
    # the user drags x onto where the energy D would go: D is moved clear of it, x stays put
    placed = {"x": auto["energy:D"]}
    pos = layout(cg, placed)
    assert pos["x"] == placed["x"]
    box = {n: (*pos[n], *size_of(cg.nodes[n])) for n in cg.nodes}
    assert not any(overlaps(box["x"], box[n]) for n in cg.nodes if n != "x")


def test_stop_keeps_a_loadable_checkpoint_and_says_where(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    import ebmgraph
    from app.panels.training import run_until_stopped
    from ebmgraph.training.data import Dataset

    torch.manual_seed(0)
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "autoencoder.ebm"))
    width = model.inputs["y"].domain.numel
    data = Dataset({"y": torch.randn(64, width)}, {})
    seen = []

    def ui_step(row: dict[str, float]) -> None:
        seen.append(row["step"])
        if row["step"] == 3:
            raise StopException()  # what Streamlit raises in a running script when Stop is clicked

    cfg = {"epochs": 5, "batch_size": 8, "progress": False, "plot": False, "out_dir": str(tmp_path / "run")}
    result, interruption = run_until_stopped(model, cfg, data, ui_step)
    assert isinstance(interruption, StopException)
    assert seen == [1, 2, 3] and len(result.history) == 3
    assert result.checkpoint is not None and result.checkpoint.exists()
    again = ebmgraph.load_checkpoint(result.checkpoint)
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


def test_the_editor_marks_each_diagnostic_on_its_line_and_column() -> None:
    from app.panels.editor import gutter_marks
    from ebmgraph.frontend import analyze
    text = (LIBRARY / "jepa.ebm").read_text().replace("sq_dist(sy, sy_hat)", "sq_dist(sy, sy_hatt)")
    _, diags = analyze(text, "jepa.ebm")
    marks = gutter_marks(diags, "jepa.ebm")
    assert [(m["row"], m["column"], m["type"]) for m in marks] == [(17, 25, "error")]  # line 18, column 26
    assert "E016" in marks[0]["text"] and "sy_hatt" in marks[0]["text"] and "did you mean 'sy_hat'?" in marks[0]["text"]
    assert gutter_marks(diags, "other.ebm") == []  # a mark only for the file in the editor
