"""Regularized (non-contrastive) methods: VICReg, Barlow Twins, sparse and variational latents,
denoising score matching. Each returns a scalar loss and its named parts for the metrics."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def variance(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg variance term: mean over dimensions of [gamma - sqrt(Var(z_j) + eps)]+ (002 sec. 6.1)."""
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
    """VICReg (Bardes, Ponce & LeCun 2022; 002 sec. 6.1), with the paper's default weights 25/25/1."""
    inv = invariance(a, b)
    var = (variance(a, gamma, eps) + variance(b, gamma, eps)) / 2
    cov = covariance(a) + covariance(b)
    total = sim_coeff * inv + std_coeff * var + cov_coeff * cov
    return total, {"invariance": float(inv.detach()), "variance": float(var.detach()), "covariance": float(cov.detach())}


def barlow_twins(a: torch.Tensor, b: torch.Tensor, lambd: float = 5e-3) -> tuple[torch.Tensor, dict[str, float]]:
    """Barlow Twins: the cross-correlation of the standardized embeddings pushed to the identity."""
    a, b = _flat(a), _flat(b)
    n = a.shape[0]
    a = (a - a.mean(0)) / (a.std(0) + 1e-6)
    b = (b - b.mean(0)) / (b.std(0) + 1e-6)
    c = (a.T @ b) / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = (c - torch.diag(torch.diagonal(c))).pow(2).sum()
    return on + lambd * off, {"on_diagonal": float(on.detach()), "off_diagonal": float(off.detach())}


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
    (y - y~) / sigma^2, the score of the noise kernel."""
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
