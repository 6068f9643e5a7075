"""Bad input never escapes as anything but the located diagnostic type, and writes no file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ebmgraph
from ebmgraph.frontend import check_file, decode

from .conftest import LIBRARY_FILES

TOKENS = ["model", "M", "observed", "latent", "fn", "energy", "for", "in", "use", "import", "regularize", "infer",
          "shares", "fresh", "x", "y", "z", "t", "R", "spins", "bits", "box", "sphere", "on", "{", "}", "(", ")",
          "[", "]", ":", "=", ",", ".", "..", "+", "-", "*", "/", "//", "%", "0", "1", "3", "64", "0.5", "1e400",
          "99999999999999999999", '"jepa.ebm"', '"../x.ebm"', "mlp", "sq_dist", "l1", "cat", "minimize",
          "enumerate", "#", "\n", " ", "\t", "@", "\x00", "é", "param", "wm", "wm[t]", "wm[0].s_next", "s[t + 1]",
          "one_hot", "transpose", "gauss_diag", "scale", "-0.5 *"]
SOURCES = [p.read_text() for p in LIBRARY_FILES]


def _only_located_errors(text: str, tmp: Path) -> None:
    before = sorted(os.listdir(tmp))
    try:
        g = ebmgraph.loads(text, file=str(tmp / "fuzz.ebm"))
    except ebmgraph.EbmError as exc:
        assert exc.errors, "an EbmError always carries at least one error"
        for e in exc.errors:
            assert e.line >= 1 and e.column >= 1 and e.message
            e.render()
    else:
        assert ebmgraph.loads(ebmgraph.dumps(g), file=str(tmp / "fuzz.ebm")) == g
    check_file(text, "fuzz.ebm")
    assert sorted(os.listdir(tmp)) == before


@given(st.lists(st.sampled_from(TOKENS), max_size=60))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_token_streams(tmp_path: Path, toks: list[str]) -> None:
    _only_located_errors(" ".join(toks), tmp_path)


@given(st.sampled_from(SOURCES), st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mutations_and_truncations_of_library_files(tmp_path: Path, src: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(src)))
    j = data.draw(st.integers(i, min(len(src), i + 12)))
    kind = data.draw(st.sampled_from(["truncate", "delete", "insert", "replace"]))
    junk = data.draw(st.sampled_from(TOKENS + ["R[0]", "R[-1]", "{0}", "..", "s[t-1]", "[1..0]", "(((", "}}}"]))
    mutated = {"truncate": src[:i], "delete": src[:i] + src[j:], "insert": src[:i] + junk + src[i:],
               "replace": src[:i] + junk + src[j:]}[kind]
    _only_located_errors(mutated, tmp_path)


@pytest.mark.parametrize("text,needle", [
    ("model M(d = " + "(" * 5000 + "1" + ")" * 5000 + ") { observed x : R[d] energy E = l2(x) }", "nest"),
    ("model M { observed x : R[" + "-" * 3000 + "1] energy E = l2(x) }", "nests too deeply"),
    ("model M { observed x : R[" + "-" * 401 + "1] energy E = l2(x) }", "positive integer"),
    ("model M { observed x : R[" + "- " * 900 + "1] energy E = l2(x) }", "nests too deeply"),
    ("model M { observed x : R[99999999999999999999] energy E = l2(x) }", "integer is too large"),
    ("model M(d = 1e999) { observed x : R[d] energy E = l2(x) }", "too large"),
    ("model M(d = 2 ** 3) { observed x : R[d] }", "unexpected"),
    ("model M(d = 4 / 0) { observed x : R[d] energy E = l2(x) }", "division by zero"),
    ("model M { observed x : R[65536, 65536] energy E = l2(x) }", "elements"),
    ("model M { for t in 0..10000000 { observed s[t] : R[1] } }", "limit"),
    ("model M { for a in 0..999 { for b in 0..999 { energy E[a] = l2(q) } } }", "statements"),
    ("model M { observed x : R[2] in box(1, -1) energy E = l2(x) }", "empty"),
    ("", "declares no model"),
])
def test_pathological_inputs(text: str, needle: str) -> None:
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(text)
    assert needle in str(info.value)


WM = "model WM(d = 2) {\n  observed s : R[d]\n  fn f = linear(d, d)\n  s_next = f(s)\n}\n"


@pytest.mark.parametrize("text,needle", [
    # a model that uses itself, directly, in a loop, and through another model
    ("model M { observed x : R[2] for i in 0..3 { use m[i] = M() { x = x } } energy E = l2(x) }", "uses itself"),
    ("model A { observed x : R[2] use b = B() { x = x } energy E = l2(x) }\n"
     "model B { observed x : R[2] use a = A() { x = x } }", "uses itself"),
    # a loop of use far past the limits: refused before it is built
    (WM + "model P(L = 1000000000) { observed s[0] : R[2]\n for l in 0..L - 1 {\n use m[l] = WM() { s = s[l] }\n"
     " s[l + 1] = m[l].s_next }\n energy E = l2(s[L]) }", "the loop runs"),
    (WM.replace("f(s)", "f(f(f(s)))") + "model P(L = 20000) { observed s[0] : R[2]\n for l in 0..L - 1 {\n use m[l] = WM() { s = s[l] }\n"
     " s[l + 1] = m[l].s_next }\n energy E = l2(s[L]) }", "more instances of WM made here"),
    # instances read before they exist, out of range, or unindexed
    (WM + "model P { observed s : R[2]\n use m[0] = WM() { s = s }\n energy E = l2(m[1].s_next) }", "m[1].s_next"),
    (WM + "model P { observed s : R[2]\n use m[0] = WM() { s = s }\n energy E = l2(m.s_next) }", "unknown"),
    (WM + "model P { observed s : R[2]\n use m[0] = WM() { s = s } shares m[5]\n energy E = l2(m[0].s_next) }",
     "no instance named 'm[5]'"),
    (WM + "model P { observed s : R[2]\n use m = WM() { s = s, q = s }\n energy E = l2(m.s_next) }",
     "has no variable 'q'"),
])
def test_composition_hazards_give_located_errors(text: str, needle: str) -> None:
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(text, model=re.findall(r"model (\w+)", text)[-1])
    assert needle in str(info.value)
    for e in info.value.errors:
        assert e.line >= 1 and e.column >= 1


def test_deep_instance_nesting_is_bounded(tmp_path: Path) -> None:
    """300 models, each using the one before: elaborated, or refused as too deep, never a crash."""
    models = ["model M0 {\n  observed x : R[2]\n  energy E = l2(x)\n}\n"]
    for i in range(1, 300):
        models.append(f"model M{i} {{\n  observed x : R[2]\n  use m = M{i - 1}() {{ x = x }}\n}}\n")
    text = "\n".join(models)
    try:
        g = ebmgraph.loads(text, model="M299")
    except ebmgraph.EbmError as exc:
        assert exc.errors[0].code == "E002" and "too deeply" in exc.errors[0].message
    else:
        assert len(g.energies) == 1 and g.energies[0].name == "m." * 299 + "E"


def test_huge_file_is_refused_cleanly() -> None:
    with pytest.raises(ebmgraph.EbmError, match="too large"):
        ebmgraph.loads("#" * 6_000_000)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        text = decode(data, "bytes.ebm")
    except ebmgraph.EbmError as exc:
        assert exc.errors[0].code == "E003" and "not UTF-8" in exc.errors[0].message
        return
    try:
        ebmgraph.loads(text)
    except ebmgraph.EbmError:
        pass


def test_non_utf8_file_is_located(tmp_path: Path) -> None:
    f = tmp_path / "bad.ebm"
    f.write_bytes(b"model M {\n  observed \xe9 : R[2]\n}\n")
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(f)
    e = info.value.errors[0]
    assert (e.line, e.column, e.code) == (2, 12, "E003")
