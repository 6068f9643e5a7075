"""Issue 9: sub-models in loops, output ports, settings from the parent, the classic EBMs'
functions; numbers against hand formulas and torch.distributions."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

import ebmgraph
from ebmgraph.draw import render, to_dot
from ebmgraph.frontend import check_file

from .conftest import LIBRARY, MODELS

WM = '''model WM(d = 2) {
  observed s : R[d]
  observed a : R[d]

  fn f = linear(2 * d, d)

  s_next = f(cat(s, a))
}
'''


def _one(text: str, **kw: object) -> ebmgraph.Diagnostic:
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.loads(text, **kw)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    assert errors, info.value
    return errors[0]


def test_the_planner_unrolls_the_world_model_it_imports() -> None:
    g = ebmgraph.load(LIBRARY / "planner.ebm")
    assert g.instances == {f"wm[{t}]": "WorldModel" for t in range(5)}
    preds = [a for a in g.applications if a.fn == "wm[0].pred"]  # shares wm[0]: one parameter set
    assert [a.output for a in preds] == [f"wm[{t}].s_next" for t in range(5)]
    assert g.term("C[4]").args == ["wm[4].s_next", "goal"]  # s[5] is wm[4]'s output port
    m = ebmgraph.compile(g)
    inline = ebmgraph.compile(ebmgraph.load(MODELS / "planner_inline.ebm"))
    inline.fns["pred"].load_state_dict(m.fns["wm[0].pred"].state_dict())
    inline.fns["critic"].load_state_dict(m.fns["critic"].state_dict())
    vals = {"s[0]": torch.randn(4, 8), "goal": torch.randn(4, 8), **{f"a[{t}]": torch.rand(4, 2) for t in range(5)}}
    torch.testing.assert_close(m.energy(**vals).total, inline.energy(**vals).total)
    # T from outside the text: one more world model per step
    assert len(ebmgraph.load(LIBRARY / "planner.ebm", params={"T": 9}).instances) == 9


def test_hjepa_levels_is_one_loop_and_folds_to_one_box_per_level(tmp_path: Path) -> None:
    g = ebmgraph.load(LIBRARY / "hjepa_levels.ebm")
    assert g.instances == {f"level[{i}]": "JEPA" for i in range(3)}
    # level l reads level l - 1's representations; level 0 reads x and y
    assert g.application("level[0].sx").args == ["x"]
    assert g.application("level[2].sx").args == ["level[1].sx"]
    assert g.fns["level[0].enc_x"].args == (64, 128, 32) and g.fns["level[1].enc_x"].args == (32, 128, 32)
    dot = to_dot(g, fold=True)
    boxes = [line for line in dot.splitlines() if "style=\"rounded,dashed,bold\"" in line]
    assert len(boxes) == 3 and all(f"level[{i}] : JEPA" in dot for i in range(3))
    m = ebmgraph.compile(g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = m.free_energy(x=torch.randn(2, 64), y=torch.randn(2, 64))
    assert r.free_energy.shape == (2,) and torch.isfinite(r.free_energy).all()
    assert set(r.values) >= {"level[0].z", "level[1].z", "level[2].z"}
    render(g, tmp_path / "h.svg", fold=True)
    assert "level[2] : JEPA" in (tmp_path / "h.svg").read_text()
    assert len(ebmgraph.load(LIBRARY / "hjepa_levels.ebm", params={"L": 5}).instances) == 5


def test_a_loop_folds_to_one_box_with_its_range() -> None:
    dot = to_dot(ebmgraph.load(LIBRARY / "planner.ebm"), fold_loops=True)
    assert "for t in 0..T - 1 (5 times)\nuse wm[t] : WorldModel\ns[t + 1]\nenergy C[t]\nenergy K[t]" in dot
    assert "wm[3]" not in dot and "shape=box3d" in dot


@pytest.mark.parametrize("body", [
    # the alias written before the use that makes it, and the use reading it
    "for t in 0..2 {\n    s[t + 1] = m[t].s_next\n    use m[t] = WM() { s = s[t], a = a } shares m[0]\n  }",
    # the output bound in the use itself
    "for t in 0..2 {\n    use m[t] = WM() { s = s[t], a = a, s_next = s[t + 1] } shares m[0]\n  }",
])
def test_outputs_are_read_in_dependency_order_whatever_the_order_written(body: str) -> None:
    g = ebmgraph.loads(WM + "model P {\n  observed s[0] : R[2]\n  observed a : R[2]\n  " + body +
                       "\n  energy E = l2(s[3])\n}\n", model="P")
    assert g.term("E").args == ["m[2].s_next"]
    assert g.application("m[1].s_next/cat1").args == ["m[0].s_next", "a"]
    assert sorted(g.fns) == ["cat", "m[0].f"]


def test_a_cycle_through_instances_is_reported_at_the_use() -> None:
    err = _one(WM + "model P {\n  observed a : R[2]\n\n  use m = WM() { s = s1, a = a }\n  s1 = m.s_next\n\n"
               "  energy E = l2(s1)\n}\n", model="P")
    assert (err.code, err.line) == ("E040", 12) and "'m' needs 's1', 's1' needs 'm'" in err.message
    assert "s[t + 1] = wm[t].s_next" in (err.hint or "")


def test_an_unindexed_use_in_a_loop_is_reported_at_the_use_with_the_fix() -> None:
    err = _one(WM + "model P {\n  observed s : R[2]\n  observed a : R[2]\n  for t in 0..2 {\n"
               "    use m = WM() { s = s, a = a }\n  }\n  energy E = l2(m.s_next)\n}\n", model="P")
    assert (err.code, err.line, err.file) == ("E015", 13, "<string>")
    assert "instance 'm' is defined twice (the loop around this `use` runs it more than once)" in err.message
    assert err.hint == "index it by the loop: use m[t] = WM(...)"


def test_an_error_inside_an_instance_says_which_use_made_it(tmp_path: Path) -> None:
    (tmp_path / "wm.ebm").write_text(WM)
    (tmp_path / "p.ebm").write_text('import "wm.ebm"\n\nmodel P {\n  observed s : R[2]\n  observed a : R[3]\n\n'
                                    '  use m = WM() { s = s, a = a }\n\n  energy E = l2(m.s_next)\n}\n')
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "p.ebm")
    err = info.value.diagnostics[0]  # WM alone is fine: the binding a = a (R[3]) makes the mistake
    assert (err.code, err.line, err.column) == ("E041", 7, 3) and err.file.endswith("p.ebm")
    assert err.source_line == "  use m = WM() { s = s, a = a }"
    assert err.notes[0] == f"it arises inside 'm' (WM), at {tmp_path / 'wm.ebm'}:7:12: s_next = f(cat(s, a))"
    assert "inputs: 'm.s_next/cat1' : R[5]" in err.notes
    # a mistake of the imported file itself stays there, with the use that brought it
    (tmp_path / "wm.ebm").write_text(WM.replace("s_next = f(cat(s, a))", "s_next = f(cat(s, a, a))"))
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "p.ebm")
    err = info.value.diagnostics[0]
    assert err.file.endswith("wm.ebm") and err.line == 7
    assert any(n.startswith("in 'm' (WM), used from") and n.endswith("p.ebm:7:3") for n in err.notes)


def test_the_parent_sets_a_sub_models_inference() -> None:
    src = ('import "jepa.ebm"\n\nmodel P {\n  observed x : R[64]\n  observed y : R[64]\n\n'
           '  use lo = JEPA() { x = x, y = y }\n\n  infer lo.z minimize(steps = 50)\n}\n')
    g = ebmgraph.loads(src)
    assert g.var("lo.z").infer.options == (("optimizer", "adam"), ("steps", 50), ("lr", 0.1))  # merged
    g = ebmgraph.loads(src.replace("minimize(steps = 50)", "sample(steps = 30)"))
    assert g.var("lo.z").infer.method == "sample" and g.var("lo.z").infer.options == (("steps", 30),)
    err = _one(src.replace("infer lo.z", "infer lo.x"))
    assert err.code == "E062" and "'lo.x' is observed" in err.message
    err = _one(src.replace("minimize(steps = 50)", "minimize(steps = 50)\n  infer lo.z enumerate"))
    assert err.code == "E015" and "set twice" in err.message
    err = _one(src.replace("infer lo.z", "infer lo.q"))
    assert err.code == "E016" and err.line == 9
    err = _one(src.replace("minimize(steps = 50)", "minimize(stepz = 50)"))
    assert err.code == "E061" and "steps" in (err.hint or "")


def test_an_infer_clause_without_its_latent_is_an_error() -> None:
    err = _one("model M {\n  observed y : R[2]\n  fn f = linear(2, 2)\n  infer minimize\n  energy E = l2(f(y))\n}\n")
    assert (err.code, err.line) == ("E014", 4) and "must follow the declaration" in err.message


def test_param_is_one_trainable_tensor_for_every_sample() -> None:
    g = ebmgraph.loads("model M(K = 3) {\n  observed y : R[K]\n  param b : R[K]\n\n  energy D = sq_dist(y, b)\n}\n")
    m = ebmgraph.compile(g)
    assert m.parameter_count() == 3
    with torch.no_grad():
        m.fns["b"].value.copy_(torch.tensor([1.0, 2.0, 3.0]))
    y = torch.randn(5, 3)
    torch.testing.assert_close(m.energy(y=y).total, ((y - torch.tensor([1.0, 2.0, 3.0])) ** 2).sum(1))
    m.energy(y=y).total.sum().backward()
    assert m.fns["b"].value.grad is not None
    err = _one("model M {\n  observed y : R[2]\n  param b : R[2] in box(0, 1)\n  energy D = sq_dist(y, b)\n}\n")
    assert err.code == "E021" and "without constraints" in err.message


def test_negative_weights_parse_and_an_unbounded_energy_is_warned() -> None:
    g = ebmgraph.loads("model M(w = 0.5) {\n  observed y : R[2]\n  latent z : R[2]\n\n  fn dec = linear(2, 2)\n\n"
                       "  energy D = sq_dist(y, dec(z))\n  energy R = -0.5 * l2(z)\n  energy Q = -w * l1(z)\n}\n")
    assert g.term("R").weight == -0.5 and g.term("Q").weight == -0.5
    assert [(w.code, w.line) for w in g.warnings] == [("W006", 8), ("W006", 9)]
    assert "unbounded below" in g.warnings[0].message and "in box(-1, 1)" in (g.warnings[0].hint or "")
    bounded = ebmgraph.loads("model M {\n  observed y : R[2]\n  latent z : R[2] in box(-1, 1)\n\n"
                             "  energy D = sq_dist(y, z)\n  energy R = -0.5 * l2(z)\n}\n")
    assert bounded.warnings == []


def test_pca_with_tied_weights_is_the_reconstruction_error() -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "pca.ebm"))
    assert m.parameter_count() == 8  # W only: the decoder is its transpose
    w = m.fns["enc"].weight.detach()
    y = torch.randn(6, 4)
    torch.testing.assert_close(m.energy(y=y).total, ((y - y @ w.T @ w) ** 2).sum(1))
    m.energy(y=y).total.sum().backward()
    assert m.fns["enc"].weight.grad is not None  # through both the encoder and the decoder


def test_kmeans_free_energy_is_the_distance_to_the_nearest_prototype() -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "kmeans.ebm"))
    c = m.fns["centers"].weight.detach()  # (dy, K): column k is prototype k
    y = torch.randn(7, 2)
    r = m.free_energy(y=y)
    d = ((y[:, None, :] - c.T[None]) ** 2).sum(-1)
    torch.testing.assert_close(r.free_energy, d.min(1).values)
    assert torch.equal(r.values["z"], d.argmin(1))


def test_gmm_free_energy_is_minus_log_p_from_torch_distributions() -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "gmm.ebm"))
    torch.manual_seed(0)
    with torch.no_grad():
        m.fns["means"].weight.copy_(torch.randn(2, 3) * 2)
        m.fns["log_vars"].weight.copy_(torch.randn(2, 3) * 0.5)
        m.fns["logits"].value.copy_(torch.randn(3))
    mu, lv, logits = m.fns["means"].weight.T, m.fns["log_vars"].weight.T, m.fns["logits"].value
    D = torch.distributions
    mix = D.MixtureSameFamily(D.Categorical(logits=logits),
                              D.Independent(D.Normal(mu, torch.exp(0.5 * lv)), 1))
    y = torch.randn(9, 2) * 2
    torch.testing.assert_close(m.free_energy(y=y).free_energy, -mix.log_prob(y).detach())


def test_the_new_functions_against_torch() -> None:
    src = ("model M {\n  observed x : R[3]\n  observed c : {4}\n\n  fn half = scale(-0.5)\n\n"
           "  e = exp(x)\n  l = log(e)\n  p = softplus(x)\n  t = sum(x)\n  h = half(x)\n  o = one_hot(c)\n\n"
           "  energy E = l2(o)\n  energy F = l2(t)\n  energy G = l2(h)\n  energy H = sq_dist(l, p)\n}\n")
    g = ebmgraph.loads(src)
    assert g.var("t").domain.shape == () and g.var("o").domain.shape == (4,)
    m = ebmgraph.compile(g)
    x, c = torch.randn(5, 3), torch.tensor([0, 3, 1, 2, 3])
    vals = m.energy(x=x, c=c).values
    torch.testing.assert_close(vals["l"], x)
    torch.testing.assert_close(vals["p"], torch.nn.functional.softplus(x))
    torch.testing.assert_close(vals["t"], x.sum(1))
    torch.testing.assert_close(vals["h"], -0.5 * x)
    torch.testing.assert_close(vals["o"], torch.nn.functional.one_hot(c, 4).float())
    err = _one("model M {\n  observed x : R[3]\n  y = scale(x)\n  energy E = l2(y)\n}\n")
    assert err.code == "E041" and "fn half = scale(0.5)" in err.message


def test_a_categorical_entering_a_real_part_is_one_hot_with_a_hint() -> None:
    src = "model M {\n  observed z : {3}\n  observed y : R[2]\n\n  fn f = linear(3, 2)\n\n  energy D = sq_dist(y, f({z}))\n}\n"
    auto = ebmgraph.loads(src.replace("{z}", "z"))
    assert [(w.code, w.line) for w in auto.warnings] == [("W005", 7)]
    assert "enters linear as a one-hot vector R[3]" in auto.warnings[0].message
    assert auto.warnings[0].hint == "write one_hot(z) to say so (and silence this)"
    explicit = ebmgraph.loads(src.replace("{z}", "one_hot(z)"))
    assert explicit.warnings == []
    a, b = ebmgraph.compile(auto), ebmgraph.compile(explicit)
    b.load_state_dict(a.state_dict())
    z, y = torch.tensor([0, 2, 1]), torch.randn(3, 2)
    torch.testing.assert_close(a.energy(z=z, y=y).total, b.energy(z=z, y=y).total)
    w, bias = a.fns["f"].weight, a.fns["f"].bias
    torch.testing.assert_close(a.energy(z=z, y=y).total, ((y - (w[:, z].T + bias)) ** 2).sum(1))


def test_transpose_errors_are_located() -> None:
    err = _one("model M {\n  observed y : R[2]\n  fn e = mlp(2, 2)\n  fn d = transpose(e)\n  energy D = l2(d(y))\n}\n")
    assert (err.code, err.line) == ("E017", 4) and "'e' is a mlp, not a linear" in err.message
    err = _one("model M {\n  observed y : R[2]\n  fn d = transpose(q)\n  energy D = l2(d(y))\n}\n")
    assert (err.code, err.line) == ("E017", 3) and "no function named 'q'" in err.message


def test_every_new_statement_round_trips_through_the_printer() -> None:
    for name in ("planner", "hjepa_levels", "pca", "kmeans", "gmm"):
        text = (LIBRARY / f"{name}.ebm").read_text()
        assert ebmgraph.dumps(ebmgraph.loads(text, file=str(LIBRARY / f"{name}.ebm"))) == text
    src = "model M {\n  observed y : R[2]\n  latent z : R[2]\n\n  energy D = sq_dist(y, z)\n  energy R = -0.25 * l1(z)\n}\n"
    assert ebmgraph.dumps(ebmgraph.loads(src)) == src
    assert math.isclose(ebmgraph.loads(src).term("R").weight, -0.25)


def test_a_cycle_closed_by_a_binding_is_reported_at_the_use() -> None:
    err = _one(WM + "model P {\n  observed a : R[2]\n\n  fn g = linear(2, 2)\n\n  use m = WM() { s = h, a = a }\n"
               "  h = g(m.s_next)\n\n  energy E = l2(h)\n}\n", model="P")
    assert (err.code, err.line, err.file) == ("E040", 14, "<string>")
    assert "h -> m.s_next" in err.message or "m.s_next -> h" in err.message
    assert err.notes == ["through the instance 'm' (WM)"]


def test_a_file_with_several_models_needs_a_name(tmp_path: Path) -> None:
    (tmp_path / "two.ebm").write_text(WM + "\nmodel P {\n  observed s : R[2]\n  energy E = l2(s)\n}\n")
    with pytest.raises(ebmgraph.EbmError) as info:
        ebmgraph.load(tmp_path / "two.ebm")
    err = info.value.diagnostics[0]
    assert err.code == "E012" and "declares 2 models (WM, P); say which one" in err.message
    assert 'model="P"' in (err.hint or "") and "--model P" in (err.hint or "")
    assert ebmgraph.load(tmp_path / "two.ebm", model="P").name == "P"
    assert check_file((tmp_path / "two.ebm").read_text(), "two.ebm") == []  # `ebm check` checks each model


def test_a_loop_of_use_past_the_node_limit_is_refused_before_it_is_built() -> None:
    src = (LIBRARY / "planner.ebm").read_text().replace("model Planner(T = 5", "model Planner(T = 12000")
    err = _one(src, file=str(LIBRARY / "planner.ebm"))
    assert (err.code, err.line) == ("E022", 14)
    assert err.message.startswith("11,999 more instances of WorldModel made here, of about 4 nodes each, would")
    assert "max_nodes = 50,000" in err.message
    # the unrolled statements are bounded first when there are more than the limit
    err = _one(src.replace("T = 12000", "T = 10000000"), file=str(LIBRARY / "planner.ebm"))
    assert err.code == "E022" and "the limit is max_nodes = 50000" in err.message


def test_pca_trained_on_its_energy_finds_sklearns_principal_subspace(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "pca.ebm"))
    ebmgraph.train(m, {"epochs": 400, "batch_size": 150, "out_dir": str(tmp_path / "run"), "progress": False,
                       "plot": False, "data": {"source": "iris", "map": {"y": "data"}, "standardize": True},
                       "loss": {"kind": "energy"}, "optimizer": {"kind": "adam", "lr": 0.02}})  # full batch
    x = load_iris().data
    v = PCA(2).fit((x - x.mean(0)) / x.std(0)).components_
    w = m.fns["enc"].weight.detach().double().numpy()
    assert np.abs(w @ w.T - np.eye(2)).max() < 1e-4  # orthonormal rows, as the tied energy makes them
    assert np.abs(w.T @ w - v.T @ v).max() < 1e-4  # the same projection as sklearn's PCA



def test_the_agents_planner_is_reused_as_a_lower_level_by_binding_s0(tmp_path: Path) -> None:
    """Issue 25.3: `use lo = Planner(...) { s[0] = x }` binds an element of an indexed port; the two-level
    file's energy is the library Planner's on the same values, with the same weights."""
    f = tmp_path / "two_level.ebm"
    f.write_text('import "agent/planner.ebm"\n\n'
                 "model TwoLevel(T = 4) {\n  observed x : R[3]\n  observed g : R[3]\n  observed w : R[3]\n\n"
                 "  use lo = Planner(T = T, R = 1) { s[0] = x, goal = g, w = w }\n}\n")
    two = ebmgraph.compile(ebmgraph.load(f, model="TwoLevel"))
    one = ebmgraph.compile(ebmgraph.load(LIBRARY / "agent" / "planner.ebm", model="Planner", params={"T": 4, "R": 1}))
    names = {v.name for v in two.graph.variables}
    assert "x" in names and "lo.s[0]" not in names  # bound: the parent's x is the planner's first state
    two.load_state_dict({k.replace("fns.", "fns.lo__", 1): v for k, v in one.state_dict().items()})
    torch.manual_seed(0)
    x, g, w = torch.randn(5, 3), torch.randn(5, 3), torch.rand(5, 3)
    acts = [torch.rand(5, 1) for _ in range(4)]
    want = one.energy(**{"s[0]": x, "goal": g, "w": w, **{f"a[{t}]": a for t, a in enumerate(acts)}}).total
    got = two.energy(**{"x": x, "g": g, "w": w, **{f"lo.a[{t}]": a for t, a in enumerate(acts)}}).total
    torch.testing.assert_close(got, want)


FAMILIES = """model Pair() {
  observed p[0..1] : R[2]

  energy E = sq_dist(p[0], p[1])
}
"""


def test_a_whole_family_binds_element_by_element_and_sizes_must_agree() -> None:
    g = ebmgraph.loads(FAMILIES + "model P() {\n  observed x[0..1] : R[2]\n\n  use b = Pair() { p = x }\n}\n",
                       model="P")
    assert g.term("b.E").args == ["x[0]", "x[1]"]
    err = _one(FAMILIES + "model P() {\n  observed x[0..2] : R[2]\n\n  use b = Pair() { p = x }\n}\n", model="P")
    assert (err.code, err.line) == ("E032", 9)
    assert "'p' of model 'Pair' has 2 elements (p[0] ... p[1]); 'x' has 3 (x[0] ... x[2])" in err.message
    err = _one(FAMILIES + "model P() {\n  observed x : R[2]\n\n  use b = Pair() { p[2] = x }\n}\n", model="P")
    assert err.code == "E032" and "no element 'p[2]'" in err.message and "p[0], p[1]" in (err.hint or "")


def test_a_port_bound_twice_is_an_error_at_the_second_binding() -> None:
    err = _one(WM + "model P() {\n  observed b : R[2]\n  observed c : R[2]\n\n"
               "  use m = WM() { s = b, a = b, s = c }\n  energy E = l2(m.s_next)\n}\n", model="P")
    assert (err.code, err.line, err.column) == ("E034", 13, 32)
    assert "port 's' of 'm' is bound twice" in err.message and "line 13, column 18" in err.notes[0]


def test_indexed_bindings_round_trip_through_the_printer() -> None:
    from ebmgraph.printer import dumps_file
    from ebmgraph.syntax import parse
    text = FAMILIES + "model P() {\n  observed x[0..1] : R[2]\n\n  use b = Pair() { p[0] = x[1], p[1] = x[0] }\n}\n"
    assert "{ p[0] = x[1], p[1] = x[0] }" in dumps_file(parse(text, "<string>"))
    g = ebmgraph.loads(text, model="P")
    assert g.term("b.E").args == ["x[1]", "x[0]"]
