"""Canonical printer: loads(dumps(g)) == g and dumps is idempotent, on library files and generated graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ebmgraph
from ebmgraph import decls as d
from ebmgraph.build import Builder, Infer, R
from ebmgraph.printer import dumps_file
from ebmgraph.syntax import parse

from .conftest import LIBRARY_FILES


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_library_files_are_canonical_and_round_trip(path: Path) -> None:
    g = ebmgraph.load(path)
    text = ebmgraph.dumps(g)
    assert text == path.read_text(), "library files are kept in canonical form (ebm fmt --write)"
    g2 = ebmgraph.loads(text, file=str(path))
    assert g2 == g
    assert ebmgraph.dumps(g2) == text


def test_comments_survive_in_their_places() -> None:
    src = """# about the file
model M(d = 2) {  # header note
  # the input
  observed x : R[d]  # trailing note
  latent z : R[d]

  for t in 0..1 {
    # inside the loop
    energy E[t] = sq_dist(x, z)
    # loop end
  }
  # model end
}
# file end
"""
    text = dumps_file(parse(src))
    assert "# about the file\nmodel M(d = 2) {" in text
    assert "  # the input\n  observed x : R[d]  # trailing note" in text
    assert "    # inside the loop\n    energy E[t] = sq_dist(x, z)\n    # loop end\n  }" in text
    assert "  # model end\n}" in text and text.endswith("# file end\n")
    assert dumps_file(parse(text)) == text
    assert "header note" in text


def test_messy_layout_is_normalised() -> None:
    src = "model   M ( d=2 ){observed x:R[d] latent z:R[ d ]infer minimize( steps=3 ) energy E=2*sq_dist(x,z)}"
    assert dumps_file(parse(src)) == (
        "model M(d = 2) {\n  observed x : R[d]\n  latent z : R[d] infer minimize(steps = 3)\n\n"
        "  energy E = 2 * sq_dist(x, z)\n}\n")


# ------------------------------------------------------------------ generated programs
names = st.sampled_from(["a", "b", "T", "d", "k2", "n_1"])
leaf = st.one_of(st.integers(0, 10**6).map(lambda v: d.Num(value=v)),
                 st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: d.Num(value=v)),
                 names.map(lambda n: d.Name(id=n)))
exprs = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda op, a, b: d.BinOp(op=op, left=a, right=b), st.sampled_from(["+", "-", "*", "/", "//", "%"]),
              inner, inner),
    inner.filter(lambda e: not isinstance(e, d.Num)).map(lambda e: d.Neg(operand=e))), max_leaves=6)


@given(exprs)
@settings(max_examples=200, deadline=None)
def test_expressions_round_trip(e: d.Expr) -> None:
    m = d.ModelDecl(name="M", params=[d.Param(name="p", default=e)])
    prog = d.FileDecl(models=[m])
    text = dumps_file(prog)
    assert parse(text) == prog
    assert dumps_file(parse(text)) == text


@st.composite
def graphs(draw: st.DrawFn) -> Builder:
    """A random valid model: observed inputs, a chain of shared functions, latents, energies, a loop."""
    b = Builder("Gen", d0=draw(st.integers(1, 6)), h=draw(st.integers(1, 9)))
    d0, h = b.params("d0", "h")
    dims: dict[str, object] = {}
    for i in range(draw(st.integers(1, 3))):
        b.observed(f"x{i}", R(d0))
        dims[f"x{i}"] = d0
    n_fns = draw(st.integers(1, 3))
    fns = [b.fn(f"f{i}", "mlp", d0, h, d0, activation=draw(st.sampled_from(["relu", "tanh"])))
           for i in range(n_fns)]
    vars_ = list(dims)
    for i in range(draw(st.integers(0, 4))):
        f = draw(st.sampled_from(fns))
        src = draw(st.sampled_from(vars_))
        out = b.assign(f"v{i}", f(b.ref(src)))
        vars_.append(out.name)
    if draw(st.booleans()):
        method, key = draw(st.sampled_from([("minimize", "steps"), ("marginal", "samples"), ("sample", "steps")]))
        b.latent("z", R(d0), infer=Infer(method, **{key: draw(st.integers(1, 50))}))
        vars_.append("z")
        b.energy("Rz", "l1", b.ref("z"), weight=draw(st.floats(0.001, 10)))
    for i in range(draw(st.integers(1, 3))):
        a, c = draw(st.sampled_from(vars_)), draw(st.sampled_from(vars_))
        b.energy(f"E{i}", draw(st.sampled_from(["sq_dist", "cosine"])), b.ref(a), b.ref(c))
    if "z" in vars_ and draw(st.booleans()):
        b.energy("Ez", "sq_dist", b.ref("x0"), fns[0](b.call("sum", b.ref("z"), b.ref("x0"))))
    if draw(st.booleans()):
        steps = draw(st.integers(1, 4))
        b.observed("s", R(d0), index=0)
        with b.loop("t", 0, steps - 1) as t:
            b.assign(b.ref("s", t + 1), fns[-1](b.ref("s", t)))
            b.energy("C", "sq_dist", b.ref("s", t + 1), b.ref("x0"), index=t)
    return b


@given(graphs())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_graphs_round_trip(b: Builder) -> None:
    g = b.build()
    text = ebmgraph.dumps(g)
    g2 = ebmgraph.loads(text)
    assert g2 == g
    assert ebmgraph.dumps(g2) == text
    assert g2.signature() == g.signature()


def test_a_bundled_text_round_trips_without_its_files_or_a_model_name() -> None:
    """Issue 25.6: a graph from a file of several models, with relative imports, comes back from
    dumps(g, bundle=True) alone: imports inlined, the model last, only what it uses."""
    from .conftest import LIBRARY
    g = ebmgraph.load(LIBRARY / "agent" / "pixel_planner.ebm", model="Upper")
    text = ebmgraph.dumps(g, bundle=True)
    assert "import" not in text and "model Lower" not in text and text.rstrip().endswith("}")
    assert ebmgraph.loads(text) == g  # no file=, no model=: Upper uses every other model of the text
    with pytest.raises(ebmgraph.EbmError, match="E051"):  # the file's own text names its imports
        ebmgraph.loads(ebmgraph.dumps(g))


def test_the_one_model_that_uses_every_other_is_the_one_meant() -> None:
    text = ("model Enc {\n  observed x : R[2]\n\n  fn f = linear(2, 2)\n\n  s = f(x)\n}\n\n"
            "model J {\n  observed x : R[2]\n  observed y : R[2]\n\n  use a = Enc() { x = x }\n"
            "  use b = Enc() { x = y } shares a\n\n  energy D = sq_dist(a.s, b.s)\n}\n")
    assert ebmgraph.loads(text).name == "J"
    with pytest.raises(ebmgraph.EbmError, match="declares 3 models"):  # two roots: say which one
        ebmgraph.loads(text + "\nmodel K {\n  observed z : R[2]\n\n  energy E = l2(z)\n}\n")


def test_fmt_keeps_blank_lines_between_comment_blocks() -> None:
    """Issue 25.6: two blocks of comments separated by a blank line stay two blocks."""
    from ebmgraph.printer import dumps_file
    from ebmgraph.syntax import parse
    text = ("# block one\n# still one\n\n# block two\nmodel M {\n  observed x : R[2]\n\n  # inner a\n\n  # inner b\n"
            "  energy E = l2(x)\n\n  # the end\n\n  # really\n}\n")
    assert dumps_file(parse(text, "<string>")) == text
    assert ebmgraph.loads(text) == ebmgraph.loads(text.replace("\n\n#", "\n#"))  # blank lines mean nothing
