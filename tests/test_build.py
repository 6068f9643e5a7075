"""The Python builder gives the same graph as the text."""

from __future__ import annotations

import pytest

import ebmgraph
from ebmgraph.build import Builder, Infer, R

from .conftest import LIBRARY, MODELS


def test_builder_jepa_equals_library_text() -> None:
    b = Builder("JEPA", dx=64, ds=32, dz=4, hidden=128)
    dx, ds, dz, hidden = b.params("dx", "ds", "dz", "hidden")
    x = b.observed("x", R(dx))
    y = b.observed("y", R(dx))
    z = b.latent("z", R(dz), infer=Infer("minimize", optimizer="adam", steps=20, lr=0.1))
    enc_x = b.fn("enc_x", "mlp", dx, hidden, ds)
    enc_y = b.fn("enc_y", "mlp", dx, hidden, ds)
    pred = b.fn("pred", "mlp", ds + dz, hidden, ds)
    sx = b.assign("sx", enc_x(x))
    sy = b.assign("sy", enc_y(y))
    sy_hat = b.assign("sy_hat", pred(b.call("cat", sx, z)))
    b.energy("D", "sq_dist", sy, sy_hat)
    b.energy("R", "l1", z, weight=0.1)
    b.regularize("V", "vicreg", sx, sy)
    assert b.build() == ebmgraph.load(LIBRARY / "jepa.ebm")


def test_builder_unrolls_programmatically_and_with_loops() -> None:
    text = ebmgraph.load(MODELS / "planner_inline.ebm")
    b = Builder("Planner", T=5, ds=8, da=2, hidden=64)
    T, ds, da, hidden = b.params("T", "ds", "da", "hidden")
    b.observed("s", R(ds), index=0)
    b.observed("goal", R(ds))
    b.latent("a", R(da, box=(-1, 1)), index=(0, T - 1), infer=Infer("minimize", optimizer="adam", steps=50, lr=0.05))
    pred = b.fn("pred", "mlp", ds + da, hidden, ds)
    critic = b.fn("critic", "mlp", ds, hidden, 1)
    with b.loop("t", 0, T - 1) as t:
        b.assign(b.ref("s", t + 1), pred(b.call("cat", b.ref("s", t), b.ref("a", t))))
        b.energy("C", "sq_dist", b.ref("s", t + 1), b.ref("goal"), index=t)
        b.energy("K", critic(b.ref("s", t + 1)), weight=0.1, index=t)
    assert b.build() == text
    # the same diagram unrolled in Python: equal elaborated graphs, different programs
    u = Builder("Planner", T=5, ds=8, da=2, hidden=64)
    T, ds, da, hidden = u.params("T", "ds", "da", "hidden")
    u.observed("s", R(ds), index=0)
    u.observed("goal", R(ds))
    u.latent("a", R(da, box=(-1, 1)), index=(0, T - 1), infer=Infer("minimize", optimizer="adam", steps=50, lr=0.05))
    pred = u.fn("pred", "mlp", ds + da, hidden, ds)
    critic = u.fn("critic", "mlp", ds, hidden, 1)
    for t in range(5):
        u.assign(u.ref("s", t + 1), pred(u.call("cat", u.ref("s", t), u.ref("a", t))))
        u.energy("C", "sq_dist", u.ref("s", t + 1), u.ref("goal"), index=t)
        u.energy("K", critic(u.ref("s", t + 1)), weight=0.1, index=t)
    unrolled = u.build()
    assert unrolled.signature() == text.signature()
    assert unrolled != text  # the program differs: a loop versus five written-out steps


def test_builder_mistakes_are_located_diagnostics() -> None:
    b = Builder("M")
    b.observed("x", R(3))
    f = b.fn("f", "mlp", 4, 8, 3)
    b.assign("y", f(b.ref("x")))
    b.energy("E", "sq_dist", b.ref("x"), b.ref("yy"))
    with pytest.raises(ebmgraph.EbmError) as info:
        b.build()
    msgs = [e.message for e in info.value.errors]
    assert any("unknown variable 'yy'" in m for m in msgs)
    assert any("last dimension is 4, got R[3]" in m for m in msgs)
    with pytest.raises(ValueError, match="must be a name"):
        b.observed("not a name", R(2))
    with pytest.raises(ValueError, match="finite"):
        b.energy("W", "l1", b.ref("x"), weight=float("inf"))


def test_builder_writes_the_planner_that_uses_the_world_model_in_its_loop() -> None:
    b = Builder("Planner", imports=["world_model.ebm"], T=5, ds=8, da=2, hidden=64)
    T, ds, da, hidden = b.params("T", "ds", "da", "hidden")
    b.observed("s", R(ds), index=0)
    b.observed("goal", R(ds))
    b.latent("a", R(da, box=(-1, 1)), index=(0, T - 1), infer=Infer("minimize", optimizer="adam", steps=50, lr=0.05))
    b.fn("critic", "mlp", ds, hidden, 1)
    with b.loop("t", 0, T - 1) as t:
        b.use("wm", "WorldModel", {"s": b.ref("s", t), "a": b.ref("a", t)}, shares=("wm", 0), index=t,
              ds=ds, da=da, hidden=hidden)
        b.alias(b.ref("s", t + 1), b.port("wm", t, "s_next"))
        b.energy("C", "sq_dist", b.ref("s", t + 1), b.ref("goal"), index=t)
        b.energy("K", b.call("critic", b.ref("s", t + 1)), weight=0.1, index=t)
    assert b.build(roots=[LIBRARY]) == ebmgraph.load(LIBRARY / "planner.ebm")
    g = Builder("G", K=3)
    g.observed("y", R(3))
    g.param("w", R(3))
    g.energy("D", "sq_dist", g.ref("y"), g.ref("w"), weight=-1)
    assert "param w : R[3]" in g.text() and "energy D = -1 * sq_dist(y, w)" in g.text()


def test_builder_binds_an_element_of_an_indexed_port() -> None:
    b = Builder("TwoLevel", imports=["agent/planner.ebm"])
    b.observed("x", R(3))
    b.observed("g", R(3))
    b.observed("w", R(3))
    b.use("lo", "Planner", {"s[0]": b.ref("x"), "goal": b.ref("g"), "w": b.ref("w")}, T=4, R=1)
    assert "use lo = Planner(T = 4, R = 1) { s[0] = x, goal = g, w = w }" in b.text()
    g = b.build(roots=[LIBRARY])
    assert "x" in {v.name for v in g.variables} and "lo.s[0]" not in {v.name for v in g.variables}
    with pytest.raises(ValueError, match="a name with indices such as s\\[0\\]"):
        b.use("bad", "Planner", {"s[t]": b.ref("x")})
