"""Noise sources (issue 25.1): `noise eps : R[d] ~ normal`, drawn afresh at every evaluation unless
given; the VAE of 002 sec. 4.2.2 written without plugins, checked against torch."""

from __future__ import annotations

import pytest
import torch

import ebmgraph
from ebmgraph.draw import to_dot
from ebmgraph.frontend import analyze

from .conftest import LIBRARY


def _vae() -> ebmgraph.CompiledModel:
    torch.manual_seed(0)
    return ebmgraph.compile(ebmgraph.load(LIBRARY / "vae.ebm", params={"dx": 6, "dz": 3, "hidden": 8}))


def test_the_vae_is_a_hand_written_torch_vae_with_the_same_weights_and_noise() -> None:
    m = _vae()
    x, eps = torch.randn(5, 6), torch.randn(5, 3)
    f = m.fns
    with torch.no_grad():
        mu, lv = f["enc_mu"](x), f["enc_lv"](x)
        z = mu + torch.exp(0.5 * lv) * eps
        recon = 0.5 * ((x - f["dec"](z)) ** 2).sum(1)
        q = torch.distributions.Normal(mu, torch.exp(0.5 * lv))
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
        e = m.energy(x=x, eps=eps)
    torch.testing.assert_close(e.terms["KL"], kl, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(e.terms["R"], recon, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(e.total, recon + kl, atol=1e-6, rtol=1e-6)  # the negative ELBO of one draw


def test_noise_is_drawn_afresh_each_evaluation_and_seeded_by_torch() -> None:
    m = _vae()
    x = torch.randn(4, 6)
    torch.manual_seed(1)
    a = m.energy(x=x).total
    b = m.energy(x=x).total
    torch.manual_seed(1)
    c = m.energy(x=x).total
    assert not torch.allclose(a, b) and torch.equal(a, c)
    assert "eps" not in m.inputs and torch.isfinite(m.free_energy(x=x).free_energy).all()
    with pytest.raises(ebmgraph.InputError, match="'eps' must have shape \\(batch, 3\\)"):
        m.energy(x=x, eps=torch.zeros(4, 2))


def test_the_vae_trains_by_its_energy_with_fresh_noise_each_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ebmgraph.training.data import Dataset
    m = _vae()
    data = Dataset({"x": torch.randn(256, 6)}, {})
    res = ebmgraph.train(m, {"loss": {"kind": "energy"}, "epochs": 30, "batch_size": 64, "progress": False,
                             "plot": False, "seed": 0, "optimizer": {"lr": 0.01}, "out_dir": str(tmp_path / "run")}, data)
    losses = [h["loss"] for h in res.history]
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8  # the negative ELBO comes down


def test_noise_prints_draws_and_checks() -> None:
    text = (LIBRARY / "vae.ebm").read_text()
    assert "  noise eps : R[dz] ~ normal\n" in text and ebmgraph.dumps(ebmgraph.loads(text)) == text
    src = "model M {\n  observed x : R[2]\n  noise u : R[2] ~ uniform(low = -1, high = 1)\n\n  energy E = sq_dist(x, u)\n}\n"
    g = ebmgraph.loads(src)
    assert ebmgraph.dumps(g) == src and g.var("u").noise == ("uniform", (("high", 1.0), ("low", -1.0)))
    u = ebmgraph.compile(g).partial({"x": torch.zeros(1000, 2)})["u"]
    assert float(u.min()) >= -1 and float(u.max()) <= 1 and abs(float(u.mean())) < 0.1
    assert "style=dashed" in to_dot(g) and "u\\n~ uniform" in to_dot(g)
    for bad, needle in [("noise u : R[2] ~ gauss", "unknown noise distribution 'gauss'"),
                        ("noise u : R[2] in box(0, 1) ~ normal", "must be real and unconstrained"),
                        ("noise u : R[2] ~ normal(sd = 2)", "normal noise has no option 'sd'"),
                        ("noise u : R[2] ~ normal(std = 0)", "needs std > 0"),
                        ("noise u : {3} ~ normal", "must be real")]:
        _, diags = analyze(src.replace("noise u : R[2] ~ uniform(low = -1, high = 1)", bad))
        errors = [d for d in diags if d.severity == "error"]
        assert errors and errors[0].code == "E063" and needle in errors[0].message, (bad, errors)
