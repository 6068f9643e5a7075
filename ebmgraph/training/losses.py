"""Contrastive losses of Table 1 (003 appendix) plus InfoNCE (003 eq. 9).

Every loss takes the free energy of the training samples `f_pos` (batch,) and of the
contrastive samples `f_neg` (batch, n_negatives), and returns one loss per sample. Each
pushes the data energy down and the contrastive energy up (its gradient has those signs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F


def nll_exhaustive(f_pos: torch.Tensor, f_all: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Row 1-2, maximum likelihood with exhaustive normalization over every y':
    F(x, y) + 1/beta log sum_y' exp(-beta F(x, y')); `f_all` holds F for every value, (batch, K)."""
    return f_pos + torch.logsumexp(-beta * f_all, dim=1) / beta


def nll_mc(f_pos: torch.Tensor, f_neg: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Row 3, maximum likelihood with Monte Carlo samples y^ of the model's Gibbs distribution:
    F(x, y) - mean F(x, y^) (its gradient estimates the likelihood gradient)."""
    return f_pos - f_neg.mean(dim=1)


def contrastive_divergence(f_pos: torch.Tensor, f_neg: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Row 4, contrastive divergence: F(x, y) - F(x, y^) with y^ from a short MCMC run started at y."""
    return f_pos - f_neg.mean(dim=1)


def pairwise_hinge(f_pos: torch.Tensor, f_neg: torch.Tensor, margin: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Row 5 (003 eq. 7), pairwise hinge / triplet: [F(x, y) - F(x, y^) + m(y, y^)]+."""
    return F.relu(f_pos[:, None] - f_neg + margin).mean(dim=1)


def min_hinge(f_pos: torch.Tensor, f_neg: torch.Tensor, margin: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Row 6, min-hinge (energy bounded below by 0): F(x, y) + [m(y, y^) - F(x, y^)]+."""
    return f_pos + F.relu(margin - f_neg).mean(dim=1)


def square_square(f_pos: torch.Tensor, f_neg: torch.Tensor, margin: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Row 6', square-square: F(x, y)^2 + ([m(y, y^) - F(x, y^)]+)^2."""
    return f_pos.pow(2) + F.relu(margin - f_neg).pow(2).mean(dim=1)


def square_exp(f_pos: torch.Tensor, f_neg: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Row 7, square-exponential: F(x, y)^2 + exp(-beta F(x, y^))."""
    return f_pos.pow(2) + torch.exp(-beta * f_neg).mean(dim=1)


def logistic(f_pos: torch.Tensor, f_neg: torch.Tensor) -> torch.Tensor:
    """Row 8, logistic: log(1 + exp(F(x, y) - F(x, y^)))."""
    return F.softplus(f_pos[:, None] - f_neg).mean(dim=1)


def infonce(f_matrix: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """003 eq. 9, InfoNCE: F(x_i, y_i) + tau log sum_j exp(-F(x_i, y_j) / tau); the other batch elements
    are the contrastive samples. `f_matrix[i, j]` = F(x_i, y_j).

    Conventions to compare against: this is tau times the usual NT-Xent / InfoNCE cross-entropy
    (so its scale stays that of F), and it is one-directional (x_i against every y_j, not also
    y_j against every x_i as SimCLR's symmetric loss; with F = -cos/1 it equals tau * lightly's
    NTXentLoss only when that loss is made one-directional)."""
    logits = -f_matrix / temperature
    return -torch.log_softmax(logits, dim=1).diagonal() * temperature


def gan_generator(f_fake: torch.Tensor) -> torch.Tensor:
    """Row 9, the generator's side of the GAN-style loss: make its samples' energy low."""
    return f_fake


def margin(y: torch.Tensor, y_neg: torch.Tensor, base: float, scale: float,
           distance: str = "squared") -> torch.Tensor:
    """m(y, y^) = base + mu * ||y - y^||^2 (`distance = "squared"`, 003 eq. 7: the energy then grows at
    least quadratically with the distance to the data), or base + mu * ||y - y^|| (`"euclidean"`).
    `y` (batch, ...), `y_neg` (batch, n, ...) -> (batch, n)."""
    if scale == 0.0:
        return torch.full(y_neg.shape[:2], base, device=y.device)
    d = (y[:, None] - y_neg).reshape(y_neg.shape[0], y_neg.shape[1], -1).norm(dim=2)
    return base + scale * (d.pow(2) if distance == "squared" else d).detach()


Contrast = Literal["none", "exhaustive", "batch", "generator", "sampler"]


@dataclass(frozen=True)
class LossSpec:
    """One training loss: its function, where its contrastive samples come from (`contrast`:
    none, every value of the target, the other batch elements, a generator, or a sampler), and
    which config options it reads. The config's validation and the trainer both read this table."""

    fn: Callable[..., torch.Tensor]
    contrast: Contrast = "sampler"
    uses_margin: bool = False
    uses_beta: bool = False
    needs_target: bool = True
    doc: str = ""


LOSSES: dict[str, LossSpec] = {
    "nll_exhaustive": LossSpec(nll_exhaustive, "exhaustive", uses_beta=True, doc=nll_exhaustive.__doc__ or ""),
    "nll_mc": LossSpec(nll_mc, uses_beta=True, doc=nll_mc.__doc__ or ""),
    "contrastive_divergence": LossSpec(contrastive_divergence, uses_beta=True, doc=contrastive_divergence.__doc__ or ""),
    "pairwise_hinge": LossSpec(pairwise_hinge, uses_margin=True, doc=pairwise_hinge.__doc__ or ""),
    "min_hinge": LossSpec(min_hinge, uses_margin=True, doc=min_hinge.__doc__ or ""),
    "square_square": LossSpec(square_square, uses_margin=True, doc=square_square.__doc__ or ""),
    "square_exp": LossSpec(square_exp, uses_beta=True, doc=square_exp.__doc__ or ""),
    "logistic": LossSpec(logistic, doc=logistic.__doc__ or ""),
    "gan": LossSpec(logistic, "generator", doc="Row 9, GAN-style: a generator proposes y^; the energy model is "
                    "trained with the logistic loss and the generator to lower F(x, y^)"),
    "infonce": LossSpec(infonce, "batch", needs_target=False, doc=infonce.__doc__ or ""),
    "denoising": LossSpec(lambda f: f, "none", needs_target=False, doc="Row 10, denoising: the energy "
                          "(reconstruction error) of a corrupted input against the clean target is minimized"),
    "energy": LossSpec(lambda f: f, "none", needs_target=False, doc="plain minimization of the data's free energy "
                       "(for regularized, non-contrastive training)"),
}
