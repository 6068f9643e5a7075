"""Inference finds known minima; enumeration, soft-min, marginals and samplers match references."""

from __future__ import annotations

import math

import pytest
import torch

import ebmgraph

from .conftest import LIBRARY


def _model(name: str) -> ebmgraph.CompiledModel:
    return ebmgraph.compile(ebmgraph.load(LIBRARY / f"{name}.ebm"))


def _grid_distance(y: torch.Tensor, r1: float, r2: float) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.linspace(-math.pi, math.pi, 200001)
    e = (y[:, :1] - r1 * torch.sin(z)) ** 2 + (y[:, 1:] - r2 * torch.cos(z)) ** 2
    return e.min(1).values, e


def test_ellipse_distance_against_dense_grid() -> None:
    torch.manual_seed(1)
    precise = (LIBRARY / "ellipse.ebm").read_text().replace("steps = 60, lr = 0.2", "steps = 300, lr = 0.05")
    m = ebmgraph.compile(ebmgraph.loads(precise))
    y = torch.randn(64, 2) * 1.5
    r = m.free_energy(y=y)  # eight restarts: gradient descent alone can stop in the far local minimum
    best, _ = _grid_distance(y, 1.0, 2.0)
    torch.testing.assert_close(r.free_energy.detach(), best, atol=1e-4, rtol=1e-3)
    one = ebmgraph.compile(ebmgraph.loads(precise.replace("restarts = 8", "restarts = 1")))
    r1 = one.free_energy(y=y)
    r2 = one.infer(["z"], y=y, init={"z": torch.full((64, 1), math.pi)})  # the other side, started by hand
    torch.testing.assert_close(torch.minimum(r1.free_energy, r2.free_energy).detach(), best, atol=1e-4, rtol=1e-3)


def test_ellipse_min_versus_marginal_free_energy() -> None:
    torch.manual_seed(2)
    g = ebmgraph.loads((LIBRARY / "ellipse.ebm").read_text().replace(
        "in box(-3.1416, 3.1416) infer minimize(optimizer = adam, steps = 60, lr = 0.2, restarts = 8)",
        "in box(-3.14159265, 3.14159265) infer marginal(beta = 2.0, samples = 20000)"))
    assert "marginal" in str(g.model)
    m = ebmgraph.compile(g)
    y = torch.tensor([[0.5, 1.0], [1.5, -0.5]])
    f = m.free_energy(y=y).free_energy
    _, e = _grid_distance(y, 1.0, 2.0)
    dz = 2 * math.pi / (e.shape[1] - 1)
    exact = -torch.logsumexp(-2.0 * e, dim=1).sub(math.log(1 / dz)) / 2.0
    torch.testing.assert_close(f, exact, atol=0.03, rtol=0)
    assert torch.all((f - _grid_distance(y, 1.0, 2.0)[0]).abs() > 0.05)  # marginal and minimum differ


def test_parabola_has_two_minima() -> None:
    m = _model("parabola")
    x = torch.tensor([[4.0], [9.0]])
    up = m.infer(["y"], x=x, init={"y": torch.ones(2, 1)})
    down = m.infer(["y"], x=x, init={"y": -torch.ones(2, 1)})
    torch.testing.assert_close(up.values["y"], torch.tensor([[2.0], [3.0]]), atol=1e-2, rtol=0)
    torch.testing.assert_close(down.values["y"], torch.tensor([[-2.0], [-3.0]]), atol=1e-2, rtol=0)
    assert float(up.free_energy.max()) < 1e-3 and float(down.free_energy.max()) < 1e-3


def test_parabola_by_enumeration_over_a_discrete_grid() -> None:
    g = ebmgraph.loads("model P {\n  observed x : R[1]\n  latent k : {41} infer enumerate\n\n"
                       "  fn emb = embedding(41, 1)\n\n  energy E = sq_dist(x, square(emb(k)))\n}\n")
    m = ebmgraph.compile(g)
    m.fns["emb"].table.weight.data = torch.linspace(-4, 4, 41).unsqueeze(1)
    r = m.free_energy(x=torch.tensor([[4.0]]))
    assert float(r.free_energy.detach()) == pytest.approx(0.0, abs=1e-6)
    assert int(r.values["k"]) in (10, 30)  # y = -2 or y = +2 on the grid


def test_discrete_enumeration_equals_brute_force() -> None:
    torch.manual_seed(3)
    g = ebmgraph.loads("model D {\n  observed y : R[3]\n  latent k : {5} infer enumerate\n"
                       "  latent s : spins[2] infer enumerate\n\n  fn emb = embedding(5, 3)\n  fn lin = linear(2, 3)\n\n"
                       "  energy E = sq_dist(y, sum(emb(k), lin(s)))\n}\n")
    m = ebmgraph.compile(g)
    y = torch.randn(7, 3)
    r = m.free_energy(y=y)
    brute = torch.full((7,), float("inf"))
    best = {}
    for k in range(5):
        for s in ([-1, -1], [-1, 1], [1, -1], [1, 1]):
            e = m.energy(y=y, k=torch.full((7,), k), s=torch.tensor([s] * 7, dtype=torch.float)).total.detach()
            better = e < brute
            brute = torch.where(better, e, brute)
            for i in torch.nonzero(better).flatten().tolist():
                best[i] = (k, s)
    torch.testing.assert_close(r.free_energy.detach(), brute)
    assert [int(v) for v in r.values["k"]] == [best[i][0] for i in range(7)]
    assert r.values["s"].tolist() == [[float(v) for v in best[i][1]] for i in range(7)]


def test_soft_min_tends_to_min_as_beta_grows() -> None:
    torch.manual_seed(4)
    base = ("model S {\n  observed y : R[2]\n  latent k : {6} infer enumerate(soft = true, beta = BETA)\n\n"
            "  fn emb = embedding(6, 2)\n\n  energy E = sq_dist(y, emb(k))\n}\n")
    y = torch.randn(5, 2)
    gaps = []
    for beta in (0.5, 5.0, 50.0, 500.0):
        m = ebmgraph.compile(ebmgraph.loads(base.replace("BETA", str(beta))))
        torch.manual_seed(0)
        m.fns["emb"].table.weight.data.normal_()
        soft = m.free_energy(y=y).free_energy
        hard = torch.stack([m.energy(y=y, k=torch.full((5,), k)).total for k in range(6)], 1).min(1).values
        assert torch.all(soft <= hard + 1e-6)
        gaps.append(float((hard - soft).detach().max()))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < math.log(6) / 500 + 1e-6


def test_langevin_samples_match_a_gaussian() -> None:
    torch.manual_seed(5)
    # E(x) = 1/2 (x - mu)^T A (x - mu): exp(-E) is N(mu, A^-1)
    g = ebmgraph.loads("model G {\n  observed mu : R[2]\n  latent x : R[2] infer sample(sampler = langevin, "
                       "steps = 3000, step_size = 0.05)\n\n  fn scale = linear(2, 2, bias = false)\n\n"
                       "  energy E = 0.5 * l2(scale(sub(x, mu)))\n}\n")
    m = ebmgraph.compile(g)
    L = torch.tensor([[1.5, 0.0], [0.8, 0.7]])  # A = L^T L
    m.fns["scale"].weight.data = L
    n = 8000
    mu = torch.tensor([1.0, -2.0])
    xs = m.sample("x", mu=mu.expand(n, 2))
    cov = torch.linalg.inv(L.T @ L)
    mean_err = (xs.mean(0) - mu).abs()
    assert torch.all(mean_err < 4 * torch.sqrt(torch.diag(cov) / n) + 0.02)
    emp = torch.cov(xs.T)
    torch.testing.assert_close(emp, cov, atol=0.06, rtol=0.08)


def test_gibbs_sampling_of_spins_matches_exact_marginals() -> None:
    torch.manual_seed(6)
    g = ebmgraph.loads("model H {\n  observed y : spins[3] infer sample(sampler = gibbs, steps = 30)\n\n"
                       "  energy H = hopfield(y)\n  energy B = bias(y)\n}\n")
    m = ebmgraph.compile(g)
    m.energy_terms["H"].weight.data = torch.tensor([[0, 0.8, -0.3], [0.8, 0, 0.2], [-0.3, 0.2, 0]])
    m.energy_terms["B"].bias.data = torch.tensor([0.3, -0.2, 0.1])
    from ebmgraph.inference.domains import domain_values
    from ebmgraph.inference.sample import gibbs
    allv = domain_values(m.inputs["y"].domain, torch.device("cpu"))
    p = torch.softmax(-m.energy(y=allv).total.detach(), 0)
    exact_mean = (p[:, None] * allv).sum(0)
    xs = gibbs(lambda vs: m.evaluate(vs).total, {}, m.inputs["y"], 6000, 30, 1.0, torch.device("cpu"))
    torch.testing.assert_close(xs.mean(0), exact_mean, atol=0.05, rtol=0)


def test_gradients_reach_parameters_through_free_energy() -> None:
    m = _model("ellipse")
    y = torch.tensor([[0.0, 3.0], [1.5, 0.0]])
    r = m.free_energy(y=y)
    r.free_energy.sum().backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    # at the minimizer z*, dF/dr2 = -2 (y2 - r2 cos z*) cos z* (the minimizer held constant)
    z = r.values["z"][:, 0]
    expected_r2 = (-2 * (y[:, 1] - 2.0 * torch.cos(z)) * torch.cos(z)).sum()
    torch.testing.assert_close(grads["fns.dec.r2"], expected_r2, atol=1e-4, rtol=1e-4)


def test_unrolled_minimization_differentiates_through_the_steps() -> None:
    g = ebmgraph.loads("model U {\n  observed y : R[1]\n  latent z : R[1] infer minimize(optimizer = sgd, "
                       "steps = 3, lr = 0.1, unroll = true)\n\n  fn a = linear(1, 1, bias = false)\n\n"
                       "  energy E = sq_dist(y, a(z))\n}\n")
    m = ebmgraph.compile(g)
    m.fns["a"].weight.data.fill_(2.0)
    y = torch.tensor([[1.0]])
    m.free_energy(y=y).free_energy.sum().backward()
    w = torch.tensor(2.0, requires_grad=True)
    z = torch.zeros(())
    for _ in range(3):
        z = z - 0.1 * (-2 * (1 - w * z) * w)
    ((1 - w * z) ** 2).backward()
    torch.testing.assert_close(m.fns["a"].weight.grad[0, 0], w.grad)


def test_amortized_inference_uses_the_encoder_proposal() -> None:
    src = ("model A {\n  observed y : R[2]\n  latent z : R[2] infer amortized(proposal = zhat{R})\n\n"
           "  fn enc = linear(2, 2)\n  fn dec = linear(2, 2)\n\n  zhat = enc(y)\n\n  energy E = sq_dist(y, dec(z))\n"
           "  energy P = 0.1 * sq_dist(z, zhat)\n}\n")
    direct = ebmgraph.compile(ebmgraph.loads(src.replace("{R}", "")))
    y = torch.randn(4, 2)
    r = direct.free_energy(y=y)
    torch.testing.assert_close(r.values["z"], direct.fns["enc"](y))
    r.free_energy.sum().backward()
    assert direct.fns["enc"].weight.grad is not None  # the encoder is trained through F (003 Fig. 19)
    refined = ebmgraph.compile(ebmgraph.loads(src.replace("{R}", ", refine = 200, lr = 0.05")))
    refined.load_state_dict(direct.state_dict())
    r2 = refined.free_energy(y=y)
    assert torch.all(r2.free_energy <= r.free_energy.detach() + 1e-6)


def test_infer_y_given_x_and_x_given_y() -> None:
    torch.manual_seed(7)
    m = _model("regression")
    x = torch.randn(3, 8)
    r = m.infer(["y"], x=x)
    torch.testing.assert_close(r.values["y"], m.fns["pred"](x).detach(), atol=1e-3, rtol=0)
    assert float(r.free_energy.max()) < 1e-5
    with pytest.raises(ebmgraph.InputError, match="'y' is both given and a target"):
        m.infer(["y"], x=x, y=torch.zeros(3, 2))
    with pytest.raises(ebmgraph.InputError, match="computed by a function"):
        m.infer(["y_hat"], x=x)


_WELL = ("model Well {\n  observed x : R[1]\n  observed c : R[1]\n"
         "  latent y : R[1] infer minimize(optimizer = adam, steps = 400, lr = 0.05, restarts = 3)\n\n"
         "  energy E = sq_dist(x, square(y))\n  energy T = 0.1 * sq_dist(y, c)\n}\n")


@pytest.mark.filterwarnings("ignore:minimize of 'y' did not converge")  # which well is all it asks
def test_init_begins_each_samples_first_restart_or_each_restart_given_its_own() -> None:
    """A tilted double well, E = (x - y^2)^2 + 0.1 (y - c)^2 at x = 4, c = 3: near y = -2 the worse
    well (E about 2.5), near y = 2 the best (E about 0.1), the ridge between them at y about 0; a
    descent ends in the well it starts in, and the lowest of the 3 restarts wins. A start per
    sample begins its first restart and the other two start at random; batch x 3 starts, a
    sample's restarts in a row, begin one restart each."""
    m = ebmgraph.compile(ebmgraph.loads(_WELL))
    torch.manual_seed(0)
    n, R = 200, 3
    given = {"x": torch.full((n, 1), 4.0), "c": torch.full((n, 1), 3.0)}

    def best(init: torch.Tensor) -> torch.Tensor:  # +1 for a sample whose best restart is in the good well
        r = m.infer(["y"], init={"y": init}, **given)
        y = r.values["y"][:, 0]
        torch.testing.assert_close(y.abs(), torch.full((n,), 2.0), atol=0.05, rtol=0)  # in one well or the other
        return torch.sign(y)

    # a start per sample: at the best well, every sample ends there (its first restart began there)
    assert bool((best(torch.full((n, 1), 2.0)) == 1).all())
    # at the worse well: the two random restarts find the best one for most samples (three in four:
    # one of them starts right of the ridge); were every restart begun at init, for none
    found = int((best(torch.full((n, 1), -2.0)) == 1).sum())
    assert 0.6 * n < found < n
    # a start per restart: only the given starts, none at random
    assert bool((best(torch.full((n * R, 1), -2.0)) == -1).all())
    one = torch.full((n, R, 1), -2.0)
    one[torch.arange(n), torch.arange(n) % R] = 2.0  # sample i's restart i mod 3 begins at the best well
    assert bool((best(one.reshape(n * R, 1)) == 1).all())
    side = torch.where(torch.arange(n) % 2 == 0, -2.0, 2.0)[:, None, None].expand(n, R, 1)  # all of a sample's
    assert torch.equal(best(side.reshape(n * R, 1)), torch.where(torch.arange(n) % 2 == 0, -1.0, 1.0))
    with pytest.raises(ebmgraph.InputError, match=r"init for 'y' has 5 samples; the batch has 200 \(or 600: one "
                                                  r"start per restart\)"):
        m.infer(["y"], init={"y": torch.zeros(5, 1)}, **given)


def test_a_sampled_latent_beside_a_minimized_one_is_a_message_not_a_key_error() -> None:
    """Issue 25.2 (in part): no raw KeyError('a[0]'); what is not built yet is said."""
    m = ebmgraph.compile(ebmgraph.loads(
        "model W(T = 2) {\n  observed s[0] : R[2]\n  observed goal : R[2]\n"
        "  latent a[0..T - 1] : R[2] in box(-1, 1) infer minimize(steps = 5)\n  latent z : R[2] infer sample(steps = 5)\n\n"
        "  fn f = linear(6, 2)\n  for t in 0..T - 1 {\n    s[t + 1] = sum(s[t], f(cat(s[t], a[t], z)))\n  }\n"
        "  energy C = sq_dist(s[T], goal)\n  energy R = 0.1 * l2(z)\n}\n"))
    given = {"s[0]": torch.zeros(3, 2), "goal": torch.ones(3, 2)}
    with pytest.raises(ebmgraph.InputError, match="'z' is sampled beside minimized a\\[0\\], a\\[1\\]"):
        m.free_energy(**given)
    # z given: the actions are planned (by L-BFGS, whose flat view of a gradient through cat needed it contiguous)
    assert torch.isfinite(m.free_energy(**given, z=torch.zeros(3, 2)).free_energy).all()
