"""Each loss against its formula (003 Table 1, eq. 7, eq. 9) and the signs of its gradients;
VICReg against a direct implementation of the paper's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebmgraph.catalogue import regularizers as R
from ebmgraph.training import losses as L

FP = torch.tensor([0.5, 2.0, 1.0])
FN = torch.tensor([[1.0, 3.0], [1.5, 0.2], [4.0, 1.0]])


def _grads(loss_fn, *args):  # type: ignore[no-untyped-def]
    fp = FP.clone().requires_grad_(True)
    fn = FN.clone().requires_grad_(True)
    loss_fn(fp, fn, *args).sum().backward()
    return fp.grad, fn.grad


@pytest.mark.parametrize("name,formula", [
    ("nll_mc", lambda fp, fn: fp - fn.mean(1)),
    ("contrastive_divergence", lambda fp, fn: fp - fn.mean(1)),
    ("pairwise_hinge", lambda fp, fn: torch.clamp(fp[:, None] - fn + 1.0, min=0).mean(1)),
    ("min_hinge", lambda fp, fn: fp + torch.clamp(1.0 - fn, min=0).mean(1)),
    ("square_square", lambda fp, fn: fp**2 + torch.clamp(1.0 - fn, min=0).pow(2).mean(1)),
    ("square_exp", lambda fp, fn: fp**2 + torch.exp(-fn).mean(1)),
    ("logistic", lambda fp, fn: torch.log(1 + torch.exp(fp[:, None] - fn)).mean(1)),
])
def test_contrastive_losses_match_table_1(name: str, formula) -> None:  # type: ignore[no-untyped-def]
    fn = L.LOSSES[name].fn
    torch.testing.assert_close(fn(FP, FN), formula(FP, FN))
    gp, gn = _grads(fn)
    assert torch.all(gp >= 0) and gp.sum() > 0, "pushes the data energy down (gradient of the loss >= 0)"
    assert torch.all(gn <= 0), "pulls the contrastive energies up (gradient of the loss <= 0)"


def test_margin_grows_with_the_squared_distance_as_in_eq_7() -> None:
    # 003 eq. 7: [F(x, y) - F(x, y^) + mu ||y - y^||^2]+ ; ||(3, 4)|| = 5, ||(0, 1)|| = 1
    y = torch.zeros(2, 2)
    y_neg = torch.tensor([[[3.0, 4.0]], [[0.0, 1.0]]])
    torch.testing.assert_close(L.margin(y, y_neg, 0.5, 2.0), torch.tensor([[50.5], [2.5]]))
    torch.testing.assert_close(L.margin(y, y_neg, 0.5, 2.0, "euclidean"), torch.tensor([[10.5], [2.5]]))
    fp, fn = torch.zeros(2), torch.tensor([[1.0], [1.0]])
    torch.testing.assert_close(L.pairwise_hinge(fp, fn, L.margin(y, y_neg, 0.5, 2.0)), torch.tensor([49.5, 1.5]))


def test_nll_exhaustive_and_infonce() -> None:
    f_all = torch.tensor([[0.5, 1.0, 3.0], [2.0, 0.1, 0.1]])
    f_pos = f_all[:, 0]
    expected = f_pos + torch.log(torch.exp(-f_all).sum(1))
    torch.testing.assert_close(L.nll_exhaustive(f_pos, f_all), expected)
    # with beta: F(y) + 1/beta log sum exp(-beta F)
    torch.testing.assert_close(L.nll_exhaustive(f_pos, f_all, 2.0), f_pos + torch.log(torch.exp(-2 * f_all).sum(1)) / 2)
    m = torch.tensor([[0.1, 2.0, 3.0], [1.0, 0.2, 0.5], [0.3, 0.3, 0.3]])
    expected = torch.stack([m[i, i] + torch.log(torch.exp(-m[i]).sum()) for i in range(3)])
    torch.testing.assert_close(L.infonce(m), expected)
    mm = m.clone().requires_grad_(True)
    L.infonce(mm).sum().backward()
    assert torch.all(torch.diagonal(mm.grad) > 0)
    off = mm.grad - torch.diag(torch.diagonal(mm.grad))
    assert torch.all(off <= 0)


def _vicreg_reference(a: torch.Tensor, b: torch.Tensor) -> float:
    """The VICReg paper's loss written out element by element (Bardes et al. 2022, eq. 1-6)."""
    n, d = a.shape
    inv = sum(float(((a[i] - b[i]) ** 2).sum()) for i in range(n)) / (n * d)

    def v(z: torch.Tensor) -> float:
        total = 0.0
        for j in range(d):
            col = z[:, j]
            var = float(((col - col.mean()) ** 2).sum()) / (n - 1)
            total += max(0.0, 1.0 - math.sqrt(var + 1e-4))
        return total / d

    def c(z: torch.Tensor) -> float:
        zc = z - z.mean(0)
        total = 0.0
        for j in range(d):
            for k in range(d):
                if j != k:
                    cov = float((zc[:, j] * zc[:, k]).sum()) / (n - 1)
                    total += cov**2
        return total / d

    return 25 * inv + 25 * (v(a) + v(b)) / 2 + 1 * (c(a) + c(b))


def test_vicreg_matches_the_paper() -> None:
    torch.manual_seed(0)
    a = torch.randn(16, 5) * torch.tensor([0.1, 0.5, 1.0, 2.0, 0.01])
    b = a + 0.3 * torch.randn(16, 5)
    value, parts = R.vicreg(a, b)
    assert float(value) == pytest.approx(_vicreg_reference(a, b), rel=1e-5)
    assert set(parts) == {"invariance", "variance", "covariance"}


def test_barlow_twins_identity_is_zero_and_effective_rank() -> None:
    torch.manual_seed(1)
    a = torch.randn(512, 4)
    value, _ = R.barlow_twins(a, a, 0.0)
    assert float(value) == pytest.approx(0.0, abs=1e-2)
    assert R.effective_rank(torch.randn(256, 8)) > 7.0
    assert R.effective_rank(torch.randn(256, 1).repeat(1, 8)) == pytest.approx(1.0, abs=1e-3)
    assert float(R.std_per_dim(torch.ones(10, 3)).max()) == 0.0


def test_kl_sparse_and_score_matching() -> None:
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    value, _ = R.kl(mu, logvar)
    assert float(value) == pytest.approx(0.5 * (1 + 0 + 0) + 0.5 * (4 - 1 - math.log(4.0)))
    assert float(R.sparse(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))[0]) == pytest.approx(3.0)
    torch.manual_seed(2)
    y = torch.randn(4096, 2)
    # the data's own score for N(0, 1) data under small noise: E(y) = |y|^2 / 2 scores better than a wrong width
    good = float(R.denoising_score_matching(lambda v: 0.5 * (v**2).sum(1), y, 0.1)[0].detach())
    bad = float(R.denoising_score_matching(lambda v: 2.0 * (v**2).sum(1), y, 0.1)[0].detach())
    assert good < bad


def test_sigreg_is_the_epps_pulley_statistic_by_hand_and_tells_gaussian_from_collapsed() -> None:
    """SIGReg (LeJEPA): on one dimension the only directions are +-1, so the statistic is computed by
    hand with numpy's complex exponential; on 16 dimensions Gaussian samples score about 1, a collapsed
    or badly scaled representation of the order of the batch."""
    x = np.array([[0.3], [-1.2], [0.8], [2.0], [-0.1]])
    t = np.linspace(-5.0, 5.0, 17)
    ecf = np.exp(1j * x * t).mean(0)
    err = np.abs(ecf - np.exp(-t ** 2 / 2)) ** 2 * np.exp(-t ** 2 / 2)
    hand = len(x) * np.trapezoid(err, t)
    ours = R.sigreg(torch.tensor(x, dtype=torch.float64), slices=4)
    assert float(ours) == pytest.approx(hand, rel=1e-9)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2048, 16, generator=g)
    gauss = float(R.sigreg(z, generator=g))
    assert 0.5 < gauss < 2.0
    for bad in (torch.zeros(2048, 16), 0.1 * z, z + 1.0):
        assert float(R.sigreg(bad, generator=g)) > 300 * gauss
    # the catalogue's entry: one variable, its options checked, information-maximizing (W002)
    spec = R.REGULARIZERS["sigreg"]
    assert spec.arity == 1 and spec.info_maximizing and spec.defaults()["slices"] == 256
