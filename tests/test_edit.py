"""Canvas edits on the program: rules refused by name, text and graph kept in step (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ebmgraph
from ebmgraph.edit import EditError, apply_edit, canvas_graph
from ebmgraph.printer import dumps_file
from ebmgraph.syntax import parse

from .conftest import LIBRARY, MODELS

JEPA = (LIBRARY / "jepa.ebm").read_text()


def test_canvas_shows_loops_once_and_submodels_folded() -> None:
    planner = canvas_graph(parse((LIBRARY / "planner.ebm").read_text()))
    assert {n for n in planner.nodes} == {"s", "goal", "a", "use:wm", "energy:C", "energy:K"}
    assert planner.nodes["energy:C"].detail.endswith("for t")
    assert planner.nodes["use:wm"].label == "wm[t] : WorldModel"
    assert planner.nodes["use:wm"].detail == "shares wm[0], for t"
    assert ("s", "use:wm") in planner.edges and ("use:wm", "s") in planner.edges  # s[t] in, s[t + 1] out
    inline = canvas_graph(parse((MODELS / "planner_inline.ebm").read_text()))
    assert {n for n in inline.nodes} == {"s", "goal", "a", "fn:s", "fn:s/0", "energy:C", "energy:K"}
    hj = canvas_graph(parse((LIBRARY / "hjepa.ebm").read_text()))
    assert hj.nodes["use:lo"].label == "lo : JEPA" and ("x", "use:lo") in hj.edges


@pytest.mark.parametrize("op,rule", [
    ({"op": "connect", "source": "energy:D", "target": "energy:R"}, "energy to energy"),
    ({"op": "connect", "source": "x", "target": "sy"}, "variable input"),
    ({"op": "connect", "source": "y", "target": "fn:sy_hat/0"}, "shape mismatch"),
    ({"op": "connect", "source": "x", "target": "energy:R"}, "too many inputs"),
    ({"op": "delete", "node": "z"}, "still connected"),
    ({"op": "rename", "node": "sx", "name": "sy"}, "name taken"),
    ({"op": "add_variable", "name": "energy", "role": "latent"}, "bad name"),
])
def test_broken_rules_are_refused_by_name(op: dict[str, object], rule: str) -> None:
    prog = parse(JEPA)
    with pytest.raises(EditError) as info:
        apply_edit(prog, op)
    assert info.value.rule == rule
    assert dumps_file(prog) == JEPA  # nothing changed


def test_cycle_through_functions_is_refused_with_its_nodes() -> None:
    src = ("model C {\n  observed x : R[2]\n\n  a = sum(x)\n  b = sum(a)\n\n  energy E = l2(b)\n}\n")
    with pytest.raises(EditError) as info:
        apply_edit(parse(src), {"op": "connect", "source": "b", "target": "fn:a"})
    assert info.value.rule == "cycle through deterministic functions"
    assert set(info.value.nodes) == {"b", "fn:a"}


def test_a_cycle_into_an_encoder_is_named_a_cycle_once() -> None:
    """sx -> enc_x closes enc_x's loop and also gives it a second input: the cycle is the rule named,
    and its message does not repeat the rule's name."""
    with pytest.raises(EditError) as info:
        apply_edit(parse(JEPA), {"op": "connect", "source": "sx", "target": "fn:sx"})
    assert info.value.rule == "cycle through deterministic functions"
    text = str(info.value)
    assert text.count("cycle through deterministic functions") == 1, text
    assert "sx" in text


def test_edits_keep_comments_loops_and_imports() -> None:
    prog = parse((LIBRARY / "planner.ebm").read_text())
    _, text = apply_edit(prog, {"op": "add_variable", "name": "w", "role": "latent", "shape": ["da"]})
    assert "for t in 0..T - 1 {" in text and "# intrinsic cost (hard-wired)" in text
    assert "  latent w : R[da]\n" in text
    prog = parse((LIBRARY / "hjepa.ebm").read_text())
    _, text = apply_edit(prog, {"op": "rename", "node": "y", "name": "target"})
    assert text.startswith("# Two-level hierarchical JEPA") and 'import "jepa.ebm"' in text
    assert "use lo = JEPA(dx = dx, ds = ds1) { x = x, y = target }" in text


def test_rename_and_delete_update_every_reference() -> None:
    prog, text = apply_edit(parse(JEPA), {"op": "rename", "node": "sx", "name": "s_x"})
    assert "s_x = enc_x(x)" in text and "cat(s_x, z)" in text and "vicreg(s_x, sy)" in text
    prog, text = apply_edit(prog, {"op": "delete", "node": "energy:R"})
    assert "energy R" not in text
    ebmgraph.loads(text)


# ------------------------------------------------------------------ any valid sequence round-trips
OPS = st.one_of(
    st.builds(lambda n, r, k: {"op": "add_variable", "name": n, "role": r, "shape": [k]},
              st.sampled_from(["a", "b", "c", "w"]), st.sampled_from(["observed", "latent"]), st.integers(1, 4)),
    st.builds(lambda n, e: {"op": "add_energy", "name": n, "energy": e}, st.sampled_from(["E1", "E2", "E3"]),
              st.sampled_from(["l1", "l2", "sq_dist"])),
    st.builds(lambda t, f: {"op": "add_function", "target": t, "function": f},
              st.sampled_from(["f1", "f2"]), st.sampled_from(["identity", "square", "tanh", "sum"])),
    st.builds(lambda s, t: {"op": "connect", "source": s, "target": t},
              st.sampled_from(["x", "a", "b", "c", "w", "f1", "f2", "energy:E1"]),
              st.sampled_from(["energy:E1", "energy:E2", "energy:E3", "fn:f1", "fn:f2"])),
    st.builds(lambda s, t: {"op": "disconnect", "source": s, "target": t},
              st.sampled_from(["x", "a", "b"]), st.sampled_from(["energy:E1", "fn:f1"])),
    st.builds(lambda n: {"op": "delete", "node": n}, st.sampled_from(["a", "b", "energy:E2", "fn:f2", "w"])),
    st.builds(lambda n, m: {"op": "rename", "node": n, "name": m}, st.sampled_from(["a", "b", "energy:E1"]),
              st.sampled_from(["a2", "b2", "E9"])),
)


@given(st.lists(OPS, max_size=12))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_sequence_of_valid_edits_round_trips(ops: list[dict[str, object]]) -> None:
    prog = parse("# a model drawn on the canvas\nmodel Canvas {\n  observed x : R[2]\n\n  energy E0 = l2(x)\n}\n")
    text = dumps_file(prog)
    for op in ops:
        try:
            prog, text = apply_edit(prog, op)
        except EditError:
            continue  # refused: the program stays as it was
        assert parse(text) == prog
        assert dumps_file(parse(text)) == text
        assert text.startswith("# a model drawn on the canvas")
    graph, diags = ebmgraph.frontend.analyze(text)
    if graph is not None:
        assert ebmgraph.loads(ebmgraph.dumps(graph)) == graph
