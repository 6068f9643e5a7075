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
    assert "  noise eps : R[dz] ~ normal(draws = draws)\n" in text and ebmgraph.dumps(ebmgraph.loads(text)) == text
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


# ---- planning against sampled latents (issue 25.2, 003 sec. 4.8): noise with draws
def _planner(**params: int) -> ebmgraph.CompiledModel:
    torch.manual_seed(1)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "agent/latent_world.ebm", model="LatentPlanner",
                                       params={"T": 3, "ds": 3, "da": 2, "dz": 2, "hidden": 8, **params}))
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.6)
    return m


def _by_hand(m: ebmgraph.CompiledModel, s0: torch.Tensor, goal: torch.Tensor, a: torch.Tensor,
             z: torch.Tensor) -> torch.Tensor:
    """The planner's energy per (sample, draw), written in torch: a (B, T, da), z (B, n, T, dz)."""
    pred = m.fns["f[0].pred"]
    B, n, T = z.shape[0], z.shape[1], z.shape[2]
    s = s0[:, None].expand(B, n, s0.shape[1])
    g = goal[:, None]
    cost = torch.zeros(B, n)
    for t in range(T):
        at = a[:, None, t].expand(B, n, a.shape[2])
        s = s + pred(torch.cat([s, at, z[:, :, t]], -1).reshape(B * n, -1)).reshape(B, n, -1)
        cost = cost + (s - g).pow(2).sum(-1)
    return cost


def test_the_energy_over_draws_is_the_mean_or_the_worst_of_the_hand_written_costs() -> None:
    m = _planner()
    assert m.draws is not None and m.draws[:2] == (16, "mean")
    assert "z[0]\\n~ normal x16" in to_dot(m.graph)  # the diagram says how often it is drawn
    assert "z[0]                     R[2]  ~ normal(mean = 0, std = 1), 16 draws a sample, energy their mean" \
        in str(m.graph)  # and so does ebm show
    B, n = 5, 16
    s0, goal, a = torch.randn(B, 3), torch.randn(B, 3), torch.rand(B, 3, 2) * 2 - 1
    z = torch.randn(B, n, 3, 2)
    given = {"s[0]": s0, "goal": goal, **{f"a[{t}]": a[:, t] for t in range(3)},
             **{f"z[{t}]": z[:, :, t] for t in range(3)}}
    e = m.energy(**given)
    hand = _by_hand(m, s0, goal, a, z)
    torch.testing.assert_close(e.total, hand.mean(1), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(sum(e.terms.values()), e.total, rtol=1e-6, atol=1e-6)
    # reduce = max: the worst draw's energy, and its terms
    text = (LIBRARY / "agent/latent_world.ebm").read_text()
    worst = ebmgraph.compile(ebmgraph.loads(text.replace("normal(draws = draws)", "normal(draws = draws, reduce = max)"),
                                            model="LatentPlanner", params={"T": 3, "ds": 3, "da": 2, "dz": 2,
                                                                           "hidden": 8}))
    worst.load_state_dict(m.state_dict())
    w = worst.energy(**given)
    torch.testing.assert_close(w.total, hand.max(1).values, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(sum(w.terms.values()), w.total, rtol=1e-6, atol=1e-6)
    # drawn by the model when not given: n fresh draws per sample (seeded by torch), the same mean
    torch.manual_seed(7)
    drawn = m.energy(**{k: v for k, v in given.items() if not k.startswith("z[")}).total
    torch.manual_seed(7)
    z7 = torch.stack([torch.randn(B * n, 2).reshape(B, n, 2) for _ in range(3)], 2)
    torch.testing.assert_close(drawn, _by_hand(m, s0, goal, a, z7).mean(1), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::ebmgraph.inference.ConvergenceWarning")  # the same 100 steps as the loop
def test_minimize_the_actions_against_draws_of_z_is_a_hand_written_torch_plan() -> None:
    """'Minimize the actions, sample z, expected cost over n draws' (003 sec. 4.8) from the .ebm file:
    free_energy draws z once (n per sample) and minimizes the actions by Adam in the box; the same
    loop written in torch over the same draws lands on the same plan and cost."""
    m = _planner()
    B, n = 4, 16
    s0, goal = torch.randn(B, 3), torch.randn(B, 3)
    z = torch.randn(B, n, 3, 2)
    r = m.free_energy(**{"s[0]": s0, "goal": goal, **{f"z[{t}]": z[:, :, t] for t in range(3)}},
                      init={f"a[{t}]": torch.zeros(B, 2) for t in range(3)})
    a = torch.zeros(B, 3, 2, requires_grad=True)
    opt = torch.optim.Adam([a], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        _by_hand(m, s0, goal, a, z).mean(1).sum().backward()
        opt.step()
        with torch.no_grad():
            a.clamp_(-1, 1)
    with torch.no_grad():
        F = _by_hand(m, s0, goal, a, z).mean(1)
    planned = torch.stack([r.values[f"a[{t}]"] for t in range(3)], 1)
    torch.testing.assert_close(r.energy, F, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(planned, a.detach(), rtol=0, atol=2e-2)
    start = _by_hand(m, s0, goal, torch.zeros(B, 3, 2), z).mean(1)
    assert bool((r.energy < start - 1e-3).all())  # the plan lowers the expected cost
    # the plan against draws is not the plan against z = 0 (a nonlinear world: no certainty equivalence)
    r0 = m.free_energy(**{"s[0]": s0, "goal": goal, **{f"z[{t}]": torch.zeros(B, 2) for t in range(3)}},
                       init={f"a[{t}]": torch.zeros(B, 2) for t in range(3)})
    assert float((torch.stack([r0.values[f"a[{t}]"] for t in range(3)], 1) - planned).abs().max()) > 1e-2


def test_draws_are_checked_and_a_sampled_latent_beside_minimized_ones_says_how_to_plan_against_it() -> None:
    src = ("model M {\n  observed x : R[2]\n  noise u : R[2] ~ normal(draws = 4)\n  noise v : R[2] ~ normal{opt}\n\n"
           "  energy E = sq_dist(x, u) + sq_dist(x, v)\n}\n")
    for opt, needle in [("(draws = 8)", "'v' is drawn 8 times (reduce = mean) but 'u' 4 times"),
                        ("(draws = 4, reduce = max)", "reduce = max) but 'u' 4 times (reduce = mean)"),
                        ("(draws = 0)", "draws of noise 'v' must be a whole number from 1"),
                        ("(draws = 2.5)", "must be a whole number"),
                        ("(reduce = median)", "must be mean (the expected energy over the draws) or max")]:
        _, diags = analyze(src.replace("{opt}", opt).replace(" + sq_dist(x, v)", "").replace(
            "energy E = sq_dist(x, u)", "energy E = sq_dist(x, u)\n  energy G = sq_dist(x, v)"))
        errors = [d for d in diags if d.severity == "error"]
        assert errors and errors[0].code == "E063" and needle in errors[0].message, (opt, errors)
        assert errors[0].line == 4
    sampled = ("model P {\n  observed g : R[2]\n  latent a : R[2] infer minimize\n"
               "  latent z : R[2] infer sample\n\n  energy C = sq_dist(sum(a, z), g)\n  energy R = l2(z)\n}\n")
    m = ebmgraph.compile(ebmgraph.loads(sampled))
    with pytest.raises(ebmgraph.InputError, match=r"declare it as noise with its draws, e\.g\. noise z : R\[2\] "
                                                   r"~ normal\(draws = 16\)"):
        m.free_energy(g=torch.zeros(2, 2))
