"""The regularizer catalogue: training-time terms on named variables (VICReg, Barlow Twins, SIGReg,
sparse and variational latents, denoising score matching), one table, `REGULARIZERS`, with each
entry's arity, options (type, default, doc), whether it maximizes information (the checker's
W002 reads it), and its function. A `.ebm` file's `regularize` statements and a training
config's `[[regularizers]]` are both checked against it; the trainer runs it. Each function
returns a scalar loss and its named parts for the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..options import Option

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import F, torch


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def variance(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg variance term: mean over dimensions of [gamma - sqrt(Var(z_j) + eps)]+ (002 sec. 6.1).
    Unbiased variance, as VICReg's code and lightly's. A multi-axis representation (batch, a, b) is
    flattened to (batch, a * b) first; lightly instead keeps the axes and takes the variance per position."""
    z = _flat(z)
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance(z: torch.Tensor) -> torch.Tensor:
    """VICReg covariance term: sum of squared off-diagonal covariances divided by the dimension."""
    z = _flat(z)
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off = cov - torch.diag(torch.diag(cov))
    return off.pow(2).sum() / d


def invariance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """VICReg invariance term: mean squared distance between the two embeddings."""
    return F.mse_loss(_flat(a), _flat(b))


def vicreg(a: torch.Tensor, b: torch.Tensor, sim_coeff: float = 25.0, std_coeff: float = 25.0,
           cov_coeff: float = 1.0, gamma: float = 1.0, eps: float = 1e-4) -> tuple[torch.Tensor, dict[str, float]]:
    """VICReg (Bardes, Ponce & LeCun 2022; 002 sec. 6.1), with the paper's default weights 25/25/1.
    Multi-axis representations are flattened per sample first (see `variance`)."""
    inv = invariance(a, b)
    var = (variance(a, gamma, eps) + variance(b, gamma, eps)) / 2
    cov = covariance(a) + covariance(b)
    total = sim_coeff * inv + std_coeff * var + cov_coeff * cov
    return total, {"invariance": float(inv.detach()), "variance": float(var.detach()), "covariance": float(cov.detach())}


def barlow_twins(a: torch.Tensor, b: torch.Tensor, lambd: float = 5e-3) -> tuple[torch.Tensor, dict[str, float]]:
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation of the standardized embeddings pushed
    to the identity. Standardized as batch norm without affine (biased variance, eps 1e-5), as the
    original and lightly's BarlowTwinsLoss do, so perfectly correlated views give c_ii = 1."""
    a, b = _flat(a), _flat(b)
    n = a.shape[0]
    a = F.batch_norm(a, None, None, training=True)
    b = F.batch_norm(b, None, None, training=True)
    c = (a.T @ b) / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = (c - torch.diag(torch.diagonal(c))).pow(2).sum()
    return on + lambd * off, {"on_diagonal": float(on.detach()), "off_diagonal": float(off.detach())}


def sigreg(z: torch.Tensor, slices: int = 256, points: int = 17, t_max: float = 5.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """SIGReg (LeJEPA, Balestriero & LeCun 2025; LeWorldModel's one anti-collapse term): the
    representation pushed towards an isotropic standard Gaussian. The batch is projected on `slices`
    random unit directions; on each, the Epps-Pulley statistic compares the empirical characteristic
    function with the Gaussian's, N * integral over t in [-t_max, t_max] of |phi_N(t) - exp(-t^2/2)|^2
    exp(-t^2/2) dt (trapezoids at `points` t's); the mean over the slices. About 1 for Gaussian
    samples at any N; of order N for a collapsed or badly scaled representation."""
    z = _flat(z)
    n, d = z.shape
    a = torch.randn(d, slices, generator=generator, device=z.device, dtype=z.dtype)
    a = a / a.norm(dim=0, keepdim=True)
    t = torch.linspace(-t_max, t_max, points, device=z.device, dtype=z.dtype)
    gauss = torch.exp(-0.5 * t ** 2)
    xt = (z @ a)[:, :, None] * t  # (n, slices, points)
    real, imag = torch.cos(xt).mean(0), torch.sin(xt).mean(0)  # the empirical characteristic function
    err = ((real - gauss) ** 2 + imag ** 2) * gauss
    return (torch.trapezoid(err, t, dim=1) * n).mean()


def sparse(z: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 sparsity of latents (002 sec. 4.2.1): mean over the batch of sum_j |z_j|."""
    value = _flat(z).abs().sum(1).mean()
    return value, {"l1": float(value.detach())}


def kl(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Variational latents (002 sec. 4.2.2): KL(N(mu, exp(logvar)) || N(0, 1)), batch mean."""
    value = 0.5 * _flat(mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
    return value, {"kl": float(value.detach())}


def denoising_score_matching(energy: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor,
                             sigma: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """Denoising score matching (Vincent 2011): the model's score -grad_y E at a noisy y~ should be
    (y - y~) / sigma^2, the score of the noise kernel. The loss is sigma^2-weighted:
    sigma^2 / 2 * ||-grad E(y~) - (y - y~) / sigma^2||^2, batch mean (Song & Ermon's lambda(sigma) = sigma^2),
    so its scale does not vanish or explode with sigma; Vincent's unweighted form is this divided by sigma^2."""
    noisy = (y + sigma * torch.randn_like(y)).requires_grad_(True)
    e = energy(noisy)
    grad, = torch.autograd.grad(e.sum(), [noisy], create_graph=True)
    target = (y - noisy.detach()) / sigma**2
    value = 0.5 * _flat(-grad - target).pow(2).sum(1).mean() * sigma**2
    return value, {"score_matching": float(value.detach())}


def std_per_dim(z: torch.Tensor) -> torch.Tensor:
    """Per-dimension standard deviation over the batch (the collapse monitor)."""
    return _flat(z).std(dim=0)


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy of the normalized singular values) of the centered batch (Roy & Vetterli 2007)."""
    z = _flat(z).detach()
    z = z - z.mean(0)
    s = torch.linalg.svdvals(z)
    if float(s.sum()) <= 1e-12:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


# ------------------------------------------------------------------ the catalogue
@dataclass(frozen=True)
class RegularizerSpec:
    """One regularizer: how many variables it takes, its options, and its function
    fn(values, options) -> (loss, parts). `on_input` regularizers (score matching) act on an input
    variable through the model's energy and get `energy_of` and the batch too."""

    name: str
    doc: str
    arity: int
    info_maximizing: bool
    options: tuple[Option, ...]
    fn: Callable[..., tuple[torch.Tensor, dict[str, float]]]
    on_input: bool = False

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.name == key), None)

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


WEIGHT = Option("weight", float, 1.0, "the regularizer's weight in the training loss", low=0)


def _vicreg(vs: list[torch.Tensor], o: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    return vicreg(vs[0], vs[1], o["sim_coeff"], o["std_coeff"], o["cov_coeff"], o["gamma"], o["eps"])


def _one(name: str, f: Callable[..., torch.Tensor]) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    def run(vs: list[torch.Tensor], o: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        value = f(vs[0], **{k: v for k, v in o.items() if k not in ("weight",)})
        return value, {name: float(value.detach())}
    return run


REGULARIZERS: dict[str, RegularizerSpec] = {r.name: r for r in (
    RegularizerSpec("vicreg", "variance-invariance-covariance regularization of two embeddings (002 sec. 6.1)", 2,
                    True, (WEIGHT,
                           Option("sim_coeff", float, 25.0, "weight of the invariance (mean squared distance) term", low=0),
                           Option("std_coeff", float, 25.0, "weight of the variance hinge", low=0),
                           Option("cov_coeff", float, 1.0, "weight of the off-diagonal covariance penalty", low=0),
                           Option("gamma", float, 1.0, "the per-dimension std the hinge asks for", low=0, open_low=True),
                           Option("eps", float, 1e-4, "added to the variance under the square root", low=0),
                           Option("expander", "sizes", None, "hidden sizes of an MLP applied to both embeddings "
                                  "first (config only)")),
                    _vicreg),
    RegularizerSpec("barlow_twins", "Barlow Twins redundancy reduction between two embeddings", 2, True,
                    (WEIGHT, Option("lambd", float, 5e-3, "weight of the off-diagonal terms", low=0)),
                    lambda vs, o: barlow_twins(vs[0], vs[1], o["lambd"])),
    RegularizerSpec("variance", "VICReg's variance hinge alone on one representation", 1, True,
                    (WEIGHT, Option("gamma", float, 1.0, "the per-dimension std asked for", low=0, open_low=True),
                     Option("eps", float, 1e-4, "added to the variance under the square root", low=0)),
                    _one("variance", variance)),
    RegularizerSpec("covariance", "VICReg's off-diagonal covariance penalty on one representation", 1, True,
                    (WEIGHT,), _one("covariance", covariance)),
    RegularizerSpec("sigreg", "SIGReg (LeJEPA): one representation pushed towards an isotropic Gaussian, the "
                    "Epps-Pulley statistic on random 1-D projections", 1, True,
                    (WEIGHT, Option("slices", int, 256, "random directions drawn per step", low=1),
                     Option("points", int, 17, "points t of the integral over [-t_max, t_max]", low=3),
                     Option("t_max", float, 5.0, "the integral's range", low=0, open_low=True)),
                    _one("sigreg", sigreg)),
    RegularizerSpec("sparse", "L1 sparsity of a latent's values (002 sec. 4.2.1)", 1, False, (WEIGHT,),
                    lambda vs, o: sparse(vs[0])),
    RegularizerSpec("kl", "KL(N(mu, exp(logvar)) || N(0, 1)) of variational latents (002 sec. 4.2.2): on = [mu, logvar]",
                    2, False, (WEIGHT,), lambda vs, o: kl(vs[0], vs[1])),
    RegularizerSpec("score_matching", "denoising score matching of the energy on an input variable", 1, False,
                    (WEIGHT, Option("sigma", float, 0.1, "std of the noise", low=0, open_low=True)),
                    lambda vs, o, energy_of: denoising_score_matching(energy_of, vs[0], o["sigma"]), on_input=True),
)}
