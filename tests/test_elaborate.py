"""Elaboration: parameters, loops, indices, composition, imports, weight sharing."""

from __future__ import annotations

from pathlib import Path

import pytest

import ebmgraph
from ebmgraph.graph import Application, Variable

from .conftest import LIBRARY, MODELS


def test_weight_sharing_one_fn_many_applications() -> None:
    g = ebmgraph.load(MODELS / "planner_inline.ebm")
    preds = [a for a in g.applications if a.fn == "pred"]
    assert len(preds) == 5 and list(g.fns).count("pred") == 1
    assert [a.output for a in preds] == [f"s[{t}]" for t in range(1, 6)]
    assert g.var("s[5]").domain.shape == (8,) and g.var("s[5]").computed
    assert g.var("a[4]").domain.box == (-1.0, 1.0)
    assert sorted(e.name for e in g.energies)[:2] == ["C[0]", "C[1]"]
    k0 = g.term("K[0]")
    assert k0.weight == pytest.approx(0.1) and k0.energy == "scalar"


def test_parameters_and_arithmetic_in_shapes() -> None:
    g = ebmgraph.loads("""
model M(a = 3, b = a * 2, c = (a + b) // 2 + 7 % 4) {
  observed x : R[a, b]
  observed y : R[c]
  energy E = l2(x)
  energy F = l2(y)
}""")
    assert g.params == {"a": 3, "b": 6, "c": 7}
    assert g.var("x").domain.shape == (3, 6) and g.var("y").domain.shape == (7,)


def test_composition_ports_and_instances() -> None:
    g = ebmgraph.load(LIBRARY / "hjepa.ebm")
    assert g.instances == {"lo": "JEPA", "hi": "JEPA"}
    assert not g.has_var("lo.x") and g.has_var("x")              # bound port uses the parent's variable
    enc = next(a for a in g.applications if a.output == "hi.sx")
    assert enc.args == ["lo.sx"] and enc.fn == "hi.enc_x"
    assert g.var("hi.sx").domain.shape == (16,) and g.var("lo.sx").domain.shape == (32,)
    assert {"lo.enc_x", "hi.enc_x", "lo.pred", "hi.pred"} <= set(g.fns)
    assert set(g.regularizers) == {"lo.V", "hi.V"}


def test_shares_uses_one_parameter_set(tmp_path: Path) -> None:
    (tmp_path / "two.ebm").write_text("""import "jepa.ebm"

model Siamese {
  observed a : R[64]
  observed b : R[64]
  observed c : R[64]

  use one = JEPA() { x = a, y = b }

  use two = JEPA() { x = b, y = c } shares one
}
""")
    g = ebmgraph.load(tmp_path / "two.ebm")
    fns = {a.fn for a in g.applications if a.fn != "cat"}
    assert fns == {"one.enc_x", "one.enc_y", "one.pred"}
    assert not any(f.startswith("two.") for f in g.fns)


def test_import_errors(tmp_path: Path) -> None:
    (tmp_path / "a.ebm").write_text('import "b.ebm"\nmodel A {\n  observed x : R[1]\n  energy E = l2(x)\n}\n')
    (tmp_path / "b.ebm").write_text('import "a.ebm"\nmodel B {\n  observed x : R[1]\n  energy E = l2(x)\n}\n')
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "a.ebm")
    assert "import cycle: a.ebm -> b.ebm -> a.ebm" in str(info.value)
    (tmp_path / "c.ebm").write_text('import "jepaa.ebm"\nimport "../../etc/passwd"\nimport "/etc/x.ebm"\n'
                                    'model C {\n  observed x : R[1]\n  energy E = l2(x)\n}\n')
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "c.ebm")
    msgs = [(e.line, e.message, e.hint) for e in info.value.errors]
    assert msgs[0][:2] == (1, "cannot find imported file 'jepaa.ebm'") and msgs[0][2] == "did you mean 'jepa.ebm'?"
    assert "leaves the folders" in msgs[1][1]
    assert "absolute" in msgs[2][1]


def test_errors_inside_an_imported_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "lib.ebm").write_text("model L {\n  observed x : R[2]\n  energy E = sq_dist(x, q)\n}\n")
    (tmp_path / "main.ebm").write_text('import "lib.ebm"\nmodel M {\n  observed y : R[2]\n  use l = L() { x = y }\n}\n')
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "main.ebm")
    err = info.value.errors[0]
    assert err.file.endswith("lib.ebm") and (err.line, err.column) == (3, 25)


def test_model_using_itself() -> None:
    with pytest.raises(ebmgraph.EbmError, match="model 'M' uses itself: M -> M"):
        ebmgraph.loads("model M {\n  observed x : R[1]\n  energy E = l2(x)\n  use m = M()\n}\n")


def test_ir_prints_as_a_table() -> None:
    text = str(ebmgraph.load(LIBRARY / "ellipse.ebm"))
    assert "latent    z" in text and "apply     y_hat                    = dec(z)" in text
    g = ebmgraph.load(LIBRARY / "ellipse.ebm")
    assert isinstance(g.application("y_hat"), Application) and isinstance(g.var("z"), Variable)
    assert g.application("y_hat").fn == "dec" and g.node(("variable", "z")) is g.var("z")


def test_errors_inside_a_submodel_say_where_it_was_used(tmp_path: Path) -> None:
    (tmp_path / "u.ebm").write_text('import "jepa.ebm"\n\nmodel Bad {\n  observed x : R[10]\n  observed y : R[10]\n\n'
                                    "  use lo = JEPA(dx = 64) { x = x, y = y }\n}\n")
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "u.ebm")
    err = info.value.errors[0]  # jepa.ebm alone is fine: the mistake is binding x : R[10] to dx = 64
    assert err.file.endswith("u.ebm") and (err.line, err.column) == (7, 3)
    assert err.notes[0] == f"it arises inside 'lo' (JEPA), at {LIBRARY / 'jepa.ebm'}:13:8: sx = enc_x(x)"
