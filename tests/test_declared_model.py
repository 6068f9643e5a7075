"""The model that runs is the model the file declares (issue 8): one regression test per divergence."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ebmgraph
from ebmgraph.cli import app
from ebmgraph.draw import to_dot
from ebmgraph.inference import METHODS, ConvergenceWarning, resolve

from .conftest import LIBRARY

# the convergence reports are tested below; elsewhere here they are expected and not the point
pytestmark = pytest.mark.filterwarnings("ignore::ebmgraph.inference.ConvergenceWarning")


# 1 --------------------------------------------------------------- per-latent options
TWO = """model Two {{
  observed y : R[2]
  latent {a} : R[1] infer minimize(optimizer = adam, steps = 300, lr = 0.1)
  latent {b} : R[1] infer minimize(optimizer = sgd, steps = 1, lr = 0.001)
  fn first = linear(2, 1, bias = false)
  fn second = linear(2, 1, bias = false)
  energy A = sq_dist(first(y), {a})
  energy B = sq_dist(second(y), {b})
}}
"""


def _two(a: str, b: str) -> ebmgraph.CompiledModel:
    m = ebmgraph.compile(ebmgraph.loads(TWO.format(a=a, b=b)))
    m.fns["first"].weight.data = torch.tensor([[1.0, 0.0]])
    m.fns["second"].weight.data = torch.tensor([[0.0, 1.0]])
    return m


def test_each_latent_is_minimized_with_its_own_options() -> None:
    y = torch.tensor([[3.0, 4.0]])
    ab = _two("a", "b").free_energy(y=y)
    pc = _two("p", "c").free_energy(y=y)  # "c" now sorts first: its options must still be its own
    # a reaches y1 = 3 by Adam; b takes one SGD step of lr 0.001 from 0: b = 0.001 * 2 * 4 = 0.008
    assert float(ab.values["a"]) == pytest.approx(3.0, abs=1e-2)
    assert float(ab.values["b"]) == pytest.approx(0.008, abs=1e-5)
    assert float(ab.free_energy.detach()) == pytest.approx((4 - 0.008) ** 2, rel=1e-4)
    assert float(pc.free_energy) == pytest.approx(float(ab.free_energy), rel=1e-5)
    assert ab.diagnostics["a"]["minimized_with"] == ["a"] and ab.diagnostics["b"]["minimized_with"] == ["b"]
    assert ab.diagnostics["b"]["optimizer"] == "sgd" and ab.diagnostics["a"]["optimizer"] == "adam"


def test_latents_with_equal_settings_are_minimized_jointly_and_say_so() -> None:
    m = ebmgraph.compile(ebmgraph.loads(TWO.format(a="a", b="b").replace(
        "optimizer = sgd, steps = 1, lr = 0.001", "optimizer = adam, steps = 300, lr = 0.1")))
    r = m.free_energy(y=torch.tensor([[3.0, 4.0]]))
    assert r.diagnostics["a"]["minimized_with"] == ["a", "b"] == r.diagnostics["b"]["minimized_with"]


# 2 --------------------------------------------------------------- one table of defaults
def test_a_bare_minimize_clause_is_the_same_as_no_clause() -> None:
    src = "model M {{\n  observed y : R[1]\n  latent z : R[1]{clause}\n  energy E = sq_dist(y, z)\n}}\n"
    bare = ebmgraph.loads(src.format(clause=" infer minimize"))
    none = ebmgraph.loads(src.format(clause=""))
    y = torch.tensor([[10.0]])
    f_bare = ebmgraph.compile(bare).free_energy(y=y)
    f_none = ebmgraph.compile(none).free_energy(y=y)
    assert float(f_bare.free_energy) == pytest.approx(0.0, abs=1e-6)
    assert float(f_none.free_energy) == pytest.approx(0.0, abs=1e-6)
    assert resolve(bare, bare.var("z")).options == resolve(none, none.var("z")).options
    defaults = {o.name: o.default for o in METHODS["minimize"].options}
    assert defaults["optimizer"] == "auto" and defaults["steps"] == 100


def test_ebm_show_prints_every_latents_resolved_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["show", str(LIBRARY / "jepa.ebm")])
    assert result.exit_code == 0
    assert ("latent    z                        minimize(optimizer = adam, steps = 20, lr = 0.1, tol = 1e-05, "
            "init = zeros, restarts = 1, warm_start = false, unroll = false)") in result.output
    listing = CliRunner().invoke(app, ["show", "--methods"]).output
    for m in METHODS.values():  # every method's every option, with its default, from the one table
        assert f"{m.name}: {m.doc}" in listing
        for o in m.options:
            assert o.describe() in listing


# 3 --------------------------------------------------------------- the best iterate, not the last
def test_minimize_never_returns_more_than_the_energy_at_its_start() -> None:
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "jepa.ebm"))
    x, y = torch.randn(200, 64), torch.randn(200, 64)
    r = m.free_energy(x=x, y=y)
    e0 = m.energy(x=x, y=y, z=torch.zeros(200, 4)).total  # z starts at 0 (init = zeros)
    assert bool((r.free_energy <= e0 + 1e-6).all())
    assert float(r.free_energy.mean()) < float(e0.mean())


# 4 --------------------------------------------------------------- regularize statements apply
def _jepa_train(tmp_path: Path, name: str, **extra: object) -> ebmgraph.training.TrainResult:
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "jepa.ebm"))
    cfg = {"data": {"source": "digits", "map": {"x": "data", "y": "data"}, "standardize": True}, "max_steps": 1,
           "batch_size": 64, "progress": False, "plot": False, "out_dir": str(tmp_path / name), **extra}
    return ebmgraph.train(m, cfg)


def test_the_files_regularize_statement_is_trained_without_the_config_repeating_it(tmp_path: Path) -> None:
    row = _jepa_train(tmp_path, "file").history[0]
    parts = row["V.invariance"] * 25 + row["V.variance"] * 25 + row["V.covariance"] * 1
    assert row["loss"] == pytest.approx(row["loss_energy"] + parts, rel=1e-4)
    off = _jepa_train(tmp_path, "off", regularizers=[{"name": "V", "weight": 0}]).history[0]
    assert not any(k.startswith("V.") for k in off) and off["loss"] == pytest.approx(off["loss_energy"], rel=1e-6)
    heavier = _jepa_train(tmp_path, "heavier", regularizers=[{"name": "V", "std_coeff": 50.0}]).history[0]
    assert heavier["loss"] == pytest.approx(row["loss"] + 25 * row["V.variance"], rel=1e-4)
    repeated = _jepa_train(tmp_path, "repeated", regularizers=[{"kind": "vicreg", "on": ["sx", "sy"]}]).history[0]
    assert repeated["loss"] == pytest.approx(row["loss"], rel=1e-5), "repeating the file's regularizer overrides it"


def test_a_config_cannot_override_a_regularizer_the_model_lacks(tmp_path: Path) -> None:
    with pytest.raises(ebmgraph.EbmError, match="no regularizer named 'W' to override"):
        _jepa_train(tmp_path, "bad", regularizers=[{"name": "W", "weight": 0}])


def test_regularizers_are_shown_and_drawn() -> None:
    g = ebmgraph.load(LIBRARY / "jepa.ebm")
    assert "regularize V                        = vicreg(sx, sy)" in str(g)
    dot = to_dot(g)
    assert "label=\"V = vicreg\"" in dot and "style=dotted" in dot


def test_regularizer_options_are_checked_in_the_file() -> None:
    with pytest.raises(ebmgraph.EbmError, match="regularizer 'vicreg' has no option 'std_cof'") as info:
        ebmgraph.loads("model M {\n  observed x : R[2]\n  observed y : R[2]\n  energy E = sq_dist(x, y)\n"
                       "  regularize V = vicreg(x, y, std_cof = 2)\n}\n")
    assert info.value.errors[0].hint == "did you mean 'std_coeff'?"


# 5 --------------------------------------------------------------- amortized inference trains its encoder
AMORTIZED = """model Amortized {{
  observed y : R[2]
  latent z : R[2] infer amortized(proposal = zhat{refine})

  fn enc = linear(2, 2)
  fn dec = linear(2, 2)

  zhat = enc(y)
  energy D = sq_dist(y, dec(z))
  energy R = 0.1 * l2(z)
}}
"""


@pytest.mark.parametrize("refine", [", refine = 20", ""])
def test_amortized_inference_trains_the_encoder(refine: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.loads(AMORTIZED.format(refine=refine)))
    before = m.fns["enc"].weight.detach().clone()
    r = m.free_energy(y=torch.randn(8, 2))
    loss = r.free_energy.mean() + sum(h.mean() for h in r.losses.values())
    loss.backward()
    assert m.fns["enc"].weight.grad is not None and float(m.fns["enc"].weight.grad.abs().sum()) > 0
    if refine:  # 003 Fig. 20: the refined z* is the target of the encoder's loss H(z~, z*)
        assert set(r.losses) == {"amortize.z"}
        m.zero_grad()
    data = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    np.save(tmp_path / "d.npy", data)
    res = ebmgraph.train(m, {"data": {"source": str(tmp_path / "d.npy"), "map": {"y": "data"}}, "max_steps": 20,
                             "batch_size": 32, "optimizer": {"lr": 1e-2}, "progress": False, "plot": False,
                             "out_dir": str(tmp_path / "run")})
    assert not torch.allclose(m.fns["enc"].weight.detach(), before), "20 steps move the encoder"
    if refine:
        assert "amortize.z" in res.history[-1]


def test_refine_zero_is_accepted_and_the_proposal_edge_is_drawn() -> None:
    g = ebmgraph.loads(AMORTIZED.format(refine=", refine = 0"))
    assert resolve(g, g.var("z")).options["refine"] == 0
    assert "style=dashed" in to_dot(g) and "proposal for z" in to_dot(g)


# 6 --------------------------------------------------------------- sparse codes are sparse
def test_sparse_coding_reaches_the_lasso_optimum_with_exact_zeros() -> None:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import SparseCoder
    x = (load_digits().data / 16.0).astype(np.float32)[:8]
    rng = np.random.default_rng(0)
    d = rng.standard_normal((32, 64)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    lam = 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_sk = SparseCoder(dictionary=d, transform_algorithm="lasso_cd", transform_alpha=lam).transform(x)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "sparse_coding.ebm"))
    m.set_weight("S", lam)
    m.fns["dec"].weight.data = torch.tensor(d.T.copy())
    assert resolve(m.graph, m.graph.var("z")).options["optimizer"] == "fista"
    with torch.no_grad():
        r = m.free_energy(x=torch.tensor(x))
    z = r.values["z"].numpy()

    def objective(z: np.ndarray) -> float:  # sklearn's lasso objective, times n_features
        return float((0.5 * ((x - z @ d) ** 2).sum(1) + lam * np.abs(z).sum(1)).mean())

    assert objective(z) <= objective(z_sk) * 1.005
    assert abs((z == 0).mean() - (z_sk == 0).mean()) <= 0.05 and (z == 0).mean() > 0.3
    assert float(r.free_energy.mean()) == pytest.approx(objective(z), rel=1e-5)
    assert bool(r.diagnostics["z"]["converged"].all())


def test_auto_picks_fista_for_an_l1_term_on_the_latent() -> None:
    g = ebmgraph.loads("model S {\n  observed x : R[4]\n  latent z : R[4]\n  energy D = sq_dist(x, z)\n"
                       "  energy S = 0.5 * l1(z)\n}\n")
    r = resolve(g, g.var("z"))
    assert r.options["optimizer"] == "fista" and "S" in r.notes["optimizer"]
    out = ebmgraph.compile(g).free_energy(x=torch.tensor([[1.0, 0.2, -0.3, -2.0]]))
    # the prox of 0.5 |z| for 1/2-less squared distance: z = soft(x, 0.25)
    torch.testing.assert_close(out.values["z"], torch.tensor([[0.75, 0.0, -0.05, -1.75]]), atol=1e-4, rtol=0)
    assert float(out.values["z"][0, 1]) == 0.0


# 7 --------------------------------------------------------------- convergence reports
GAUSS = "model G {\n  observed y : R[1]\n  observed z : R[1]\n  fn two = linear(1, 1, bias = false)\n" \
        "  energy E = 0.5 * sq_dist(y, two(z))\n}\n"


def test_langevin_says_when_its_chain_has_not_settled() -> None:
    m = ebmgraph.compile(ebmgraph.loads(GAUSS))
    m.fns["two"].weight.data = torch.tensor([[2.0]])  # p(y | z = 2) = N(4, 1)
    torch.manual_seed(0)
    z = torch.full((2000, 1), 2.0)
    with pytest.warns(ConvergenceWarning, match="chain of 'y' has not settled after steps = 100.*raise steps"):
        short = m.sample("y", z=z)
    assert float(short.mean()) == pytest.approx(4 * (1 - math.exp(-0.5)), abs=0.1)  # 1.57: far from 4
    assert m.last_sample_report["drift"] > 0.1 and m.last_sample_report["converged"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        long = m.sample("y", n_steps=2000, z=z)
    assert float(long.mean()) == pytest.approx(4.0, abs=0.1)
    assert m.last_sample_report["converged"] is True


def test_minimize_reports_gradient_norm_and_energy_change_and_warns() -> None:
    src = "model M {{\n  observed y : R[1]\n  latent z : R[1] infer minimize(optimizer = sgd, steps = {n}, lr = 0.01)\n" \
          "  energy E = sq_dist(y, z)\n}}\n"
    y = torch.tensor([[10.0], [0.0]])
    with pytest.warns(ConvergenceWarning, match=r"minimize of 'z' did not converge .* steps = 5.*raise steps"):
        r = ebmgraph.compile(ebmgraph.loads(src.format(n=5))).free_energy(y=y)
    d = r.diagnostics["z"]
    assert d["steps"] == 5 and d["converged"].tolist() == [False, True]
    z0 = 10 * (1 - 0.98 ** 5)  # five steps of z <- z + 0.02 (y - z) from 0
    assert float(d["grad_norm"][0]) == pytest.approx(2 * (10 - z0), rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = ebmgraph.compile(ebmgraph.loads(src.format(n=2000))).free_energy(y=y)
    assert r.diagnostics["z"]["steps"] < 2000  # stopped early: every row converged


# 8 --------------------------------------------------------------- a missing observed variable
def test_a_missing_observed_variable_is_an_error_not_a_silent_minimization() -> None:
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "regression.ebm"))
    given = {n: torch.zeros(1, *v.domain.shape) for n, v in m.inputs.items() if n != "y"}
    with pytest.raises(ebmgraph.InputError, match=r"missing observed variable 'y' \(R\[.*\]\); give it, or infer it"):
        m.free_energy(**given)
    assert "y" in m.infer(["y"], **given).values


# 9 --------------------------------------------------------------- marginal(scale = ...)
def test_marginal_scale_is_accepted_and_used() -> None:
    src = "model M {{\n  observed x : R[1]\n  latent z : R[1] infer marginal(samples = 4096{scale})\n" \
          "  energy E = 0.5 * l2(z)\n  energy X = l2(x)\n}}\n"
    exact = -0.5 * math.log(2 * math.pi)  # -log of the integral of exp(-z^2 / 2)
    x = torch.zeros(1, 1)
    one = ebmgraph.compile(ebmgraph.loads(src.format(scale=""))).free_energy(x=x)
    assert float(one.free_energy) == pytest.approx(exact, abs=1e-5)  # q = p: every weight equal, exact
    torch.manual_seed(0)
    two = ebmgraph.compile(ebmgraph.loads(src.format(scale=", scale = 2.0"))).free_energy(x=x)
    assert float(two.free_energy) == pytest.approx(exact, abs=0.05) and float(two.free_energy) != pytest.approx(
        exact, abs=1e-6)


# 10 -------------------------------------------------------------- Barlow Twins as the original
def _lightly_barlow_twins(z_a: torch.Tensor, z_b: torch.Tensor, lambda_param: float = 5e-3) -> torch.Tensor:
    """lightly 1.6.0, lightly/loss/barlow_twins_loss.py, BarlowTwinsLoss.forward (MIT), single process."""
    z_a_norm = torch.nn.functional.batch_norm(z_a, None, None, weight=None, bias=None, training=True)
    z_b_norm = torch.nn.functional.batch_norm(z_b, None, None, weight=None, bias=None, training=True)
    n = z_a.size(0)
    c = z_a_norm.T @ z_b_norm
    c.div_(n)
    invariance_loss = torch.diagonal(c).add_(-1).pow_(2).sum()
    d = c.shape[0]
    off = c.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()
    return invariance_loss + lambda_param * off.pow_(2).sum()


def test_barlow_twins_matches_lightly_and_perfect_views_have_unit_correlation() -> None:
    from ebmgraph.catalogue.regularizers import barlow_twins
    torch.manual_seed(0)
    a, b = torch.randn(32, 16), torch.randn(32, 16)
    ours, _ = barlow_twins(a, b)
    torch.testing.assert_close(ours, _lightly_barlow_twins(a, b), atol=1e-6, rtol=1e-6)
    x = torch.randn(8, 4) * 3
    _, parts = barlow_twins(x, x.clone())
    assert parts["on_diagonal"] < 1e-6  # c_ii = 1, not (n - 1) / n = 0.875


# 12 -------------------------------------------------------------- standardization travels with the model
def test_the_standardization_is_kept_in_the_checkpoint_and_applied_to_raw_inputs(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    torch.manual_seed(0)
    g = ebmgraph.loads("model Classifier {\n  observed x : R[4]\n  observed y : {3}\n\n  fn net = mlp(4, 32, 3)\n"
                       "  fn onehot = embedding(3, 3)\n\n  energy E = sq_dist(net(x), onehot(y))\n}\n")
    m = ebmgraph.compile(g)
    res = ebmgraph.train(m, {"data": {"source": "iris", "map": {"x": "data", "y": "target"}, "standardize": True},
                             "loss": {"kind": "nll_exhaustive", "target": "y"}, "epochs": 60, "batch_size": 50,
                             "optimizer": {"lr": 1e-2}, "progress": False, "plot": False,
                             "out_dir": str(tmp_path / "r")})
    d = load_iris()
    raw = torch.tensor(d.data, dtype=torch.float32)
    trained = (m.infer(["y"], x=raw).values["y"].numpy() == d.target).mean()
    assert res.checkpoint is not None
    loaded = ebmgraph.load_checkpoint(res.checkpoint)
    again = (loaded.infer(["y"], x=raw).values["y"].numpy() == d.target).mean()
    assert trained > 0.9 and again == trained
    mean, std = loaded.standardization["x"]
    torch.testing.assert_close(mean, raw.mean(0))
    # values standardized by hand would be standardized twice: said (once), not silent (issue 25.6)
    from ebmgraph.compiled import StandardizationWarning
    by_hand = (raw - raw.mean(0)) / raw.std(0)
    with pytest.warns(StandardizationWarning, match="'x' looks standardized already .* give the values in the "
                                                     "data's own units"):
        loaded.infer(["y"], x=by_hand)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", StandardizationWarning)
        loaded.infer(["y"], x=by_hand)  # once per variable
        ebmgraph.load_checkpoint(res.checkpoint).infer(["y"], x=raw)  # raw values: nothing to say


def test_a_standardized_target_comes_back_in_data_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 1)).astype(np.float32)
    np.save(tmp_path / "d.npy", np.concatenate([x, 100 + 10 * x], 1))
    m = ebmgraph.compile(ebmgraph.loads("model R {\n  observed x : R[1]\n  observed y : R[1]\n"
                                        "  fn f = linear(1, 1)\n  energy E = sq_dist(y, f(x))\n}\n"))
    torch.manual_seed(0)
    ebmgraph.train(m, {"data": {"source": str(tmp_path / "d.npy"), "map": {"x": "data[:, 0:1]", "y": "data[:, 1:2]"},
                                "standardize": True}, "epochs": 100, "batch_size": 64, "optimizer": {"lr": 0.05},
                       "progress": False, "plot": False, "out_dir": str(tmp_path / "r")})
    y = m.infer(["y"], x=torch.tensor([[1.0]])).values["y"]
    assert float(y) == pytest.approx(110.0, abs=1.0)


# 13 -------------------------------------------------------------- bits data is binary or binarized on request
def test_non_binary_data_for_bits_is_an_error_naming_binarize(tmp_path: Path) -> None:
    from ebmgraph.training.config import DataConfig
    from ebmgraph.training.data import DataError, make_dataset
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "rbm.ebm"))
    with pytest.raises(DataError, match=r"bits variable 'v' is not binary .* set binarize = <threshold>"):
        make_dataset(m, DataConfig(source="digits", map={"v": "data"}))
    ds = make_dataset(m, DataConfig(source="digits", map={"v": "data"}, binarize=8.0))
    from sklearn.datasets import load_digits
    share = float(ds.tensors["v"].mean())
    assert share == pytest.approx(float((load_digits().data > 8.0).mean()), abs=1e-6)
    assert set(torch.unique(ds.tensors["v"]).tolist()) == {0.0, 1.0}


# 14 -------------------------------------------------------------- conventions next to the functions
def test_conventions_users_compare_against_are_documented() -> None:
    from ebmgraph.catalogue import regularizers as R
    from ebmgraph.training import losses as L
    assert "tau times the usual NT-Xent" in (L.infonce.__doc__ or "") and "one-directional" in (L.infonce.__doc__ or "")
    assert "flattened" in (R.vicreg.__doc__ or "") and "flattened" in (R.variance.__doc__ or "")
    assert "sigma^2-weighted" in (R.denoising_score_matching.__doc__ or "")
    assert "003 eq. 7" in (L.margin.__doc__ or "") and "||y - y^||^2" in (L.margin.__doc__ or "")


# errors are data ----------------------------------------------------- kinds and fields, not prose
def test_diagnostics_carry_a_kind_and_fields_in_json(tmp_path: Path) -> None:
    import json

    from ebmgraph.diagnostics import CODES
    f = tmp_path / "a.ebm"
    f.write_text("model M {\n  observed x : R[2]\n  observed y : R[2]\n  energy E = sq_dist(x, y, x)\n}\n")
    out = CliRunner().invoke(app, ["check", "--json", str(f)])
    d = json.loads(out.stdout)["diagnostics"][0]
    assert (d["code"], d["kind"]) == ("E018", "arity") and d["fields"] == {"expected": 2, "got": 3, "node": "E"}
    assert all(code[0] in "EWC" and kind for code, (kind, _) in CODES.items())


def test_every_code_the_package_reports_is_in_the_table() -> None:
    import re

    from ebmgraph.diagnostics import CODES
    root = Path(__file__).resolve().parent.parent / "ebmgraph"
    used = {c for p in root.rglob("*.py") for c in re.findall(r'"([EWC]\d{3})"', p.read_text())}
    assert used <= set(CODES), sorted(used - set(CODES))


# the method chosen at call time (part of issue 9) ------------------------------------------------
def test_a_method_chosen_at_call_time_replaces_the_declared_one() -> None:
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(LIBRARY / "rbm.ebm", params={"nh": 6}))
    v = (torch.rand(4, 64) > 0.5).float()
    marginal = m.free_energy(v=v).free_energy  # declared: summed out in closed form
    soft = m.free_energy(v=v, methods={"h": ("enumerate", {"soft": True})}).free_energy
    hard = m.free_energy(v=v, methods={"h": "enumerate"}).free_energy
    torch.testing.assert_close(soft, marginal, atol=1e-4, rtol=0)  # the same sum over all 2^6 values
    assert bool((hard >= marginal - 1e-5).all()) and not torch.allclose(hard, marginal)
    for bad, needle in [({"h": "minimize"}, "gradient minimization needs reals"), ({"h": "nope"}, "unknown method"),
                        ({"h": ("sample", {"steps": 0})}, "must be an integer >= 1"), ({"v": "sample"}, "is given")]:
        with pytest.raises(ebmgraph.InputError, match=needle):
            m.free_energy(v=v, methods=bad)
    with pytest.warns(DeprecationWarning, match="now free_energy\\(methods=...\\)"):  # the old keyword still works
        torch.testing.assert_close(m.free_energy(v=v, infer={"h": "enumerate"}).free_energy, hard)


def test_call_time_control_is_one_keyword_with_one_rule(tmp_path: Path) -> None:
    """Issue 25.5: methods= everywhere (a target's options too), init for a sampled variable,
    load_checkpoint(params=...)."""
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.loads("model M {\n  observed x : R[1]\n  latent y : R[1] infer minimize(steps = 5)\n\n"
                                        "  fn f = mlp(1, 8, 1)\n  energy E = sq_dist(f(x), y)\n}\n"))
    x = torch.zeros(3, 1)
    r = m.infer(["y"], methods={"y": ("minimize", {"restarts": 4, "steps": 300})}, x=x)
    # the target's own options, set at call time: past the declared 5 steps, to convergence
    assert r.diagnostics["y"]["steps"] > 5 and bool(r.diagnostics["y"]["converged"].all())
    torch.testing.assert_close(r.values["y"], m.fns["f"](x), atol=1e-3, rtol=0)
    with pytest.raises(ebmgraph.InputError, match="a target is found by argmin, so its method is minimize or "
                                                  "enumerate"):
        m.infer(["y"], methods={"y": "sample"}, x=x)
    # a Hopfield net's recall: the chains of the sampled pattern start at the cue
    hop = ebmgraph.compile(ebmgraph.loads("model H {\n  observed c : R[1]\n  latent y : spins[8] infer sample(steps = 3, "
                                          "beta = 50)\n\n  energy W = hopfield(y)\n  energy C = sq_dist(c, c)\n}\n"))
    pattern = torch.tensor([[1.0, -1, 1, -1, 1, 1, -1, -1]])
    with torch.no_grad():
        hop.energy_terms["W"].weight.copy_(pattern.T @ pattern)
    cue = pattern.clone()
    cue[0, :2] *= -1  # two bits flipped
    recalled = hop.sample("y", init=cue, c=torch.zeros(1, 1))
    assert torch.equal(recalled, pattern)
    res = hop.free_energy(c=torch.zeros(1, 1), init={"y": cue})
    assert torch.isfinite(res.free_energy).all()
    # a checkpoint's parameters set on load: the planner's horizon, the same weights
    planner = ebmgraph.compile(ebmgraph.load(LIBRARY / "planner.ebm"))
    path = ebmgraph.save(planner, tmp_path / "p.pt")
    longer = ebmgraph.load_checkpoint(path, params={"T": 9})
    assert len(longer.graph.instances) == 9
    assert torch.equal(longer.fns["wm[0].pred"][0].weight, planner.fns["wm[0].pred"][0].weight)


@pytest.mark.parametrize("src,needle", [
    ("model M {\n  observed y : R[2]\n  latent z : R[2] infer amortized(proposal = h, loss = cosine)\n"
     "  fn e = linear(2, 2)\n  h = e(y)\n  energy E = sq_dist(y, z)\n}\n", "but refine = 0 uses the proposal directly"),
    ("model M {\n  observed y : spins[4] infer sample(sampler = gibbs, step_size = 0.1)\n  energy E = hopfield(y)\n}\n",
     "Gibbs sampling takes no step size"),
])
def test_options_that_would_have_no_effect_are_errors(src: str, needle: str) -> None:
    with pytest.raises(ebmgraph.EbmError, match=needle) as info:
        ebmgraph.loads(src)
    assert info.value.errors[0].code == "E061" and info.value.errors[0].line in (2, 3)
