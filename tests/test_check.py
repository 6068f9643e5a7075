"""Diagnostics: golden files (stanc3-style), all errors in one run, hints, no tracebacks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ebmgraph
from ebmgraph.frontend import analyze, check_file

from .conftest import GOLDEN, ROOT

CASES = sorted(GOLDEN.glob("*.ebm"))


def _render(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    text = path.read_text()
    # a case that starts with "# golden: load" shows what ebmgraph.load(path) says (no model= given)
    diags = analyze(text, rel)[1] if text.startswith("# golden: load") else check_file(text, rel)
    # an imported file is named by its full path: shown from the project root, the same on every machine
    return "\n\n".join(d.render() for d in diags).replace(str(ROOT) + "/", "") + "\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_diagnostics(path: Path) -> None:
    expected = path.with_suffix(".expected")
    got = _render(path)
    if os.environ.get("UPDATE_GOLDEN") or not expected.exists():
        expected.write_text(got)
    assert got == expected.read_text()


def test_three_mistakes_give_three_located_errors_with_hints() -> None:
    path = GOLDEN / "three_mistakes.ebm"
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(path)
    errors = info.value.errors
    assert [(e.line, e.column, e.code) for e in errors] == [(8, 3, "E017"), (13, 7, "E041"), (15, 26, "E016")]
    assert (errors[0].hint or "").startswith("did you mean 'mlp' or 'mul'? A part written in Python comes in as a plugin")
    assert "last dimension is 64, got R[32]" in errors[1].message
    assert errors[2].hint == "did you mean 'sy_hat'?"
    text = str(info.value)
    assert "15 |   energy D = sq_dist(sy, sy_hatt)" in text
    assert "   |                          ^^^^^^^" in text


def test_syntax_errors_are_all_reported_with_repairs() -> None:
    diags = check_file((GOLDEN / "syntax.ebm").read_text(), "syntax.ebm")
    assert [(d.line, d.column) for d in diags] == [(2, 11), (3, 11), (4, 26), (5, 18), (6, 14), (7, 29)]
    assert diags[0].hint == "did you mean 'observed'?"
    assert diags[1].message == "missing ':' after 'z'"
    assert diags[2].message == "missing ')' after 'z'"
    assert "R[n, ...]" in (diags[4].hint or "")


def test_index_out_of_range_in_loop_is_located() -> None:
    diags = check_file((GOLDEN / "indices.ebm").read_text(), "indices.ebm")
    msgs = [d.message for d in diags]
    assert "'s[-1]' is not defined" in msgs
    assert any("'s' is indexed" in m for m in msgs)
    assert any("unknown model 'Missing'" in m for m in msgs)


def test_infer_options_are_validated() -> None:
    diags = check_file((GOLDEN / "infer_options.ebm").read_text(), "o.ebm")
    assert (diags[0].line, diags[0].code, diags[0].hint) == (3, "E060", "did you mean 'minimize'?")
    assert (diags[1].line, diags[1].code, diags[1].hint) == (4, "E061", "did you mean 'steps'?")
    assert diags[3].hint == "did you mean 'adam'?"
    assert any("must be a positive number, got -1" in d.message for d in diags)
    assert any("must be one of auto, lbfgs, adam, sgd, ista, fista, got 'adamw'" in d.message for d in diags)
    assert any("mlp has no option 'dropout'" in d.message for d in diags)
    assert any(d.code == "E044" for d in diags) is False  # enumerating {4} is fine


@pytest.mark.parametrize("model,code", [("LatentGen", "W001"), ("AE", "W003"), ("JE", "W002")])
def test_collapse_warnings(model: str, code: str) -> None:
    g = ebmgraph.load(GOLDEN / "collapse_warnings.ebm", model=model)
    assert [w.code for w in g.warnings] == [code]
    assert "collapse" in g.warnings[0].message


def test_collapse_warnings_silenced_by_the_fix() -> None:
    fixed = """
model LatentGen(dy = 4) {
  observed y : R[dy]
  latent z : R[dy]
  fn dec = mlp(dy, 16, dy)
  y_hat = dec(z)
  energy D = sq_dist(y, y_hat)
  energy R = 0.5 * l1(z)
}
model JE(d = 8) {
  observed x : R[d]
  observed y : R[d]
  fn ex = mlp(d, 16, 4)
  fn ey = mlp(d, 16, 4)
  sx = ex(x)
  sy = ey(y)
  energy D = sq_dist(sx, sy)
  regularize V = vicreg(sx, sy)
}
"""
    assert ebmgraph.loads(fixed, model="LatentGen").warnings == []
    assert ebmgraph.loads(fixed, model="JE").warnings == []


def test_untouched_latent_and_enumeration_limits() -> None:
    src = """
model M {
  observed y : R[2]
  latent z : R[2]
  latent h : bits[40] infer enumerate
  energy E = l2(y)
  energy H = l1(h)
}
"""
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(src)
    msgs = [e.message for e in info.value.errors]
    assert any("latent 'z' is not touched by any energy term" in m for m in msgs)
    assert any("enumerating latent 'h' means 1099511627776 values" in m for m in msgs)


def test_json_diagnostics_carry_positions() -> None:
    import json
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(GOLDEN / "three_mistakes.ebm")
    data = json.loads(info.value.to_json())
    assert data[2]["line"] == 15 and data[2]["column"] == 26 and data[2]["end_column"] == 33


def test_the_collapse_warning_names_the_reproduced_target_not_the_input_beside_the_latent() -> None:
    """003 Fig. 10b: in D(y, Pred(x, z)) the latent reproduces y; x feeds the prediction beside z."""
    from ebmgraph.frontend import analyze
    text = ("model G {\n  observed x : R[32]\n  observed y : R[8]\n  latent z : R[8]\n"
            "  fn pred = mlp(40, 16, 8)\n  y_hat = pred(cat(x, z))\n  energy D = sq_dist(y, y_hat)\n}\n")
    _, diags = analyze(text, "g.ebm")
    w = [d for d in diags if d.code == "W001"]
    assert len(w) == 1 and "its target 'y' (8)" in w[0].message and (w[0].line, w[0].column) == (4, 3)
    _, diags = analyze(text.replace("latent z : R[8]", "latent z : R[4]").replace("mlp(40", "mlp(36"), "g.ebm")
    assert not [d for d in diags if d.code == "W001"]  # smaller than y: no warning, however large x is
