"""Compiled energies equal hand-written formulas; sharing, weights, gradients, bad input, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ebmgraph
from ebmgraph.checkpoint import CheckpointError, load_into

from .conftest import LIBRARY

torch.manual_seed(0)


def _model(name: str) -> ebmgraph.CompiledModel:
    return ebmgraph.compile(ebmgraph.load(LIBRARY / f"{name}.ebm"))


def test_ellipse_energy_matches_002_fig_4b() -> None:
    m = _model("ellipse")
    y, z = torch.randn(16, 2), torch.randn(16, 1)
    r1, r2 = 1.0, 2.0
    hand = (y[:, 0] - r1 * torch.sin(z[:, 0])) ** 2 + (y[:, 1] - r2 * torch.cos(z[:, 0])) ** 2
    out = m.energy(y=y, z=z)
    torch.testing.assert_close(out.total, hand)
    torch.testing.assert_close(out.terms["E"], hand)


def test_hopfield_energy_matches_002_eq_6() -> None:
    m = _model("hopfield")
    w = torch.randn(64, 64)
    m.energy_terms["H"].weight.data.copy_(w)
    y = torch.randint(0, 2, (8, 64)).float() * 2 - 1
    ws = 0.5 * (w + w.T)
    ws.fill_diagonal_(0)
    hand = -torch.stack([sum(y[b, i] * ws[i, j] * y[b, j] for i in range(64) for j in range(64)) for b in range(2)])
    torch.testing.assert_close(m.energy(y=y).total[:2], hand, rtol=1e-4, atol=1e-3)


def test_rbm_energy_and_closed_form_free_energy_002_eq_8_9() -> None:
    m = _model("rbm")
    W = m.energy_terms["W"].weight.data.normal_()
    b = m.energy_terms["Bv"].bias.data.normal_()
    c = m.energy_terms["Bh"].bias.data.normal_()
    v = torch.randint(0, 2, (5, 64)).float()
    h = torch.randint(0, 2, (5, 32)).float()
    hand_e = -torch.einsum("bi,ij,bj->b", v, W, h) - v @ b - h @ c
    torch.testing.assert_close(m.energy(v=v, h=h).total, hand_e, rtol=1e-5, atol=1e-4)
    # F(v) = -b.v - sum_j log(1 + exp(c_j + (v W)_j)): the hidden units summed out exactly
    hand_f = -(v @ b) - torch.nn.functional.softplus(v @ W + c).sum(1)
    torch.testing.assert_close(m.free_energy(v=v).free_energy, hand_f, rtol=1e-5, atol=1e-4)


def test_rbm_free_energy_equals_brute_force_on_a_small_machine() -> None:
    g = ebmgraph.loads(
        "model Small {\n  observed v : bits[3]\n  latent h : bits[4] infer marginal(beta = 1.0)\n\n"
        "  energy W = bilinear(v, h)\n  energy Bh = bias(h)\n}\n")
    m = ebmgraph.compile(g)
    m.energy_terms["W"].weight.data.normal_()
    m.energy_terms["Bh"].bias.data.normal_()
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    hs = torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * 4)
    e = torch.stack([m.energy(v=v, h=h.expand(2, 4)).total for h in hs], dim=1)
    torch.testing.assert_close(m.free_energy(v=v).free_energy, -torch.logsumexp(-e, dim=1))


def test_jepa_energy_is_d_of_sy_and_pred() -> None:
    m = _model("jepa")
    x, y, z = torch.randn(4, 64), torch.randn(4, 64), torch.randn(4, 4)
    sx, sy = m.fns["enc_x"](x), m.fns["enc_y"](y)
    sy_hat = m.fns["pred"](torch.cat([sx, z], dim=1))
    hand = ((sy - sy_hat) ** 2).sum(1) + 0.1 * z.abs().sum(1)
    out = m.energy(x=x, y=y, z=z)
    torch.testing.assert_close(out.total, hand)
    assert set(out.terms) == {"D", "R"}


def test_weight_sharing_and_runtime_weights() -> None:
    m = _model("planner")  # the world model used at every step shares wm[0]'s parameters
    pred = sum(p.numel() for p in m.fns["wm[0].pred"].parameters())
    assert pred == (10 * 64 + 64) + (64 * 8 + 8)
    assert len(m.fns) == 3 and "wm[0].pred" in m.fns and "critic" in m.fns and "cat" in m.fns  # cat: no weights
    assert "wm[1].pred" not in m.fns
    assert m.parameter_count() == pred + m.parameter_count("critic")
    vals = {"s[0]": torch.randn(3, 8), "goal": torch.randn(3, 8), **{f"a[{t}]": torch.rand(3, 2) for t in range(5)}}
    before = m.energy(**vals)
    m.set_weight("C[0]", 0.0)
    after = m.energy(**vals)
    torch.testing.assert_close(after.total, before.total - before.terms["C[0]"])
    with pytest.raises(ebmgraph.InputError, match="did you mean 'C\\[0\\]'"):
        m.set_weight("C[0", 1.0)


def test_gradcheck_through_compiled_energies() -> None:
    torch.set_default_dtype(torch.float64)
    try:
        m = _model("jepa")
        x, y = torch.randn(2, 64), torch.randn(2, 64)
        z = torch.randn(2, 4, requires_grad=True)
        assert torch.autograd.gradcheck(lambda z: m.energy(x=x, y=y, z=z).total, (z,))
        e = _model("ellipse")
        yy = torch.randn(3, 2, requires_grad=True)
        zz = torch.randn(3, 1, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: e.energy(y=a, z=b).total, (yy, zz))
    finally:
        torch.set_default_dtype(torch.float32)


def test_bad_inputs_name_the_variable_and_shape() -> None:
    m = _model("jepa")
    x, y, z = torch.randn(4, 64), torch.randn(4, 64), torch.randn(4, 4)
    cases = [
        (dict(x=x, y=y), "missing variable 'z' (R[4])"),
        (dict(x=x, y=y, z=z, w=z), "unexpected variable 'w'"),
        (dict(x=x, y=y, z=z, sx=z), "it is computed by a function"),
        (dict(x=x, yy=y, z=z), "did you mean 'y'"),
        (dict(x=x[:, :32], y=y, z=z), "'x' must have shape (batch, 64) for R[64], got (4, 32)"),
        (dict(x=x[0], y=y, z=z), "add a batch dimension"),
        (dict(x=x, y=y[:3], z=z), "batch sizes differ"),
        (dict(x=x.bool(), y=y, z=z), "dtype torch.bool"),
        (dict(x=x.masked_fill(x > 1, float("nan")), y=y, z=z), "'x' contains NaN"),
        (dict(x="hello", y=y, z=z), "'x' must be"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(ebmgraph.InputError) as info:
            m.energy(**kwargs)
        assert needle in str(info.value), (needle, str(info.value))
    h = _model("hopfield")
    with pytest.raises(ebmgraph.InputError, match="must be -1 or 1"):
        h.energy(y=torch.zeros(2, 64))


def test_checkpoint_round_trip_and_mismatch(tmp_path: Path) -> None:
    m = _model("hjepa")
    for p in m.parameters():
        p.data.normal_()
    m.set_weight("lo.R", 0.5)
    path = ebmgraph.save(m, tmp_path / "h.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["model"] == "HJEPA" and "model JEPA" in raw["source"] and "import" not in raw["source"]
    m2 = ebmgraph.load_checkpoint(path)
    x, y = torch.randn(2, 64), torch.randn(2, 64)
    z = {"lo.z": torch.randn(2, 4), "hi.z": torch.randn(2, 4)}
    torch.testing.assert_close(m2.energy(x=x, y=y, **z).total, m.energy(x=x, y=y, **z).total)
    assert m2.weights["lo.R"] == 0.5
    other = ebmgraph.compile(ebmgraph.loads((LIBRARY / "jepa.ebm").read_text().replace("ds = 32", "ds = 16")))
    small = ebmgraph.save(other, tmp_path / "j16.pt")
    with pytest.raises(CheckpointError, match=r"parameter 'fns.enc_x.2.weight' has shape \(16, 128\) but model JEPA"):
        load_into(_model("jepa"), small)
    with pytest.raises(CheckpointError, match="does not fit model JEPA"):
        load_into(_model("jepa"), path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable ebmgraph checkpoint"):
        ebmgraph.load_checkpoint(tmp_path / "junk.pt")


def test_custom_parts_compile_and_infer() -> None:
    class Quadratic(torch.nn.Module):
        """E(x) = 1/2 x^T A x with A trainable."""

        def __init__(self, n: int):
            super().__init__()
            self.A = torch.nn.Parameter(torch.eye(n) * 2.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 0.5 * torch.einsum("bi,ij,bj->b", x, self.A, x)

    ebmgraph.register("test_quadratic", Quadratic, energy=True, options=("n",), replace=True)
    ebmgraph.register("test_shift", lambda by: (lambda x: x + by), replace=True)
    g = ebmgraph.loads("model C {\n  observed y : R[2]\n  latent z : R[2] infer minimize(optimizer = adam, steps = 300, lr = 0.05)\n\n"
                       "  fn shift = test_shift(by = 1.0)\n\n  energy Q = test_quadratic(z, n = 2)\n"
                       "  energy D = sq_dist(y, shift(z))\n}\n")
    m = ebmgraph.compile(g)
    assert m.parameter_count() == 4
    y = torch.tensor([[3.0, -1.0]])
    r = m.free_energy(y=y)
    # minimum of z^T z + |y - 1 - z|^2 is z = (y - 1) / 2
    torch.testing.assert_close(r.values["z"], (y - 1) / 2, atol=1e-3, rtol=0)
    with pytest.raises(ebmgraph.EbmError, match="test_quadratic failed on inputs"):
        ebmgraph.loads("model C {\n  observed y : R[3]\n  energy Q = test_quadratic(y, n = 2)\n}\n")


def test_a_strided_convolution_halves_the_image_as_torch_does() -> None:
    """conv2d(cin, cout, k, stride): the pixel encoder of a world model; the output is (d - k) // stride + 1
    on each side, its values torch's own convolution with the model's weights; a stride of 0 is located."""
    import torch.nn.functional as F
    text = """
model Enc() {
  observed o : R[2, 64, 64]
  fn c1 = conv2d(2, 8, 4, 2)
  fn c2 = conv1d(3, 5, 3, 3)
  observed q : R[3, 20]
  s = c1(o)
  u = c2(q)
  energy D = l2(flatten(s))
  energy E = l2(flatten(u))
}
"""
    m = ebmgraph.compile(ebmgraph.loads(text))
    assert m.graph.var("s").domain.shape == (8, 31, 31) and m.graph.var("u").domain.shape == (5, 6)
    o, q = torch.randn(3, 2, 64, 64), torch.randn(3, 3, 20)
    vals = m.partial({"o": o, "q": q})
    c1 = m.fns["c1"]
    torch.testing.assert_close(vals["s"], F.conv2d(o, c1.weight, c1.bias, stride=2))
    with pytest.raises(ebmgraph.EbmError, match=r"<string>:4:27: error\[E021\]: conv2d's sizes must be positive"):
        ebmgraph.compile(ebmgraph.loads(text.replace("conv2d(2, 8, 4, 2)", "conv2d(2, 8, 4, 0)")))


def test_fns_list_the_names_users_see() -> None:
    """Issue 25.6: m.fns.keys() lists wm[0].pred (what lookup takes), not the stored key wm_0___pred."""
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "planner.ebm"))
    assert "wm[0].pred" in list(m.fns.keys()) and "wm_0___pred" not in list(m.fns)
    assert dict(m.fns.items())["wm[0].pred"] is m.fns["wm[0].pred"] is m.fns["wm_0___pred"]
    assert "C[0]" in list(m.energy_terms)
    assert any(k.startswith("fns.wm_0___pred.") for k in m.state_dict())  # torch's keys are unchanged
