"""Built-in energy terms: each maps its variables to one energy per sample, shape (batch,)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._lazy import modules as _m  # a parameter-free energy is a function returning (batch,): modules.Lambda
from ..options import Option
from . import Config, EnergySpec, Shape, ShapeError, fmt_shape, register_energy

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    from .._lazy import nn, torch


def _flat(x: torch.Tensor) -> torch.Tensor:
    """One row per sample (no view, hence no autograd node, for a 2-D input)."""
    return x if x.dim() == 2 else x.reshape(x.shape[0], -1)


def _same_shapes(name: str):  # type: ignore[no-untyped-def]
    def rule(shapes: list[Shape], cfg: Config) -> None:
        if len(set(shapes)) != 1:
            raise ShapeError(f"{name} compares two variables of the same shape, got "
                             + " and ".join(fmt_shape(s) for s in shapes))
    return rule


def _any(shapes: list[Shape], cfg: Config) -> None:
    return None


register_energy(EnergySpec(
    "sq_dist", "squared Euclidean distance sum_i (a_i - b_i)^2", 2, _same_shapes("sq_dist"),
    lambda cfg, s: _m().Lambda(lambda a, b: _flat(a - b).pow(2).sum(1), "sq_dist")))
register_energy(EnergySpec(
    "dist", "Euclidean distance sqrt(sum_i (a_i - b_i)^2 + 1e-12): a cost that grows as fast near the goal as "
    "far from it (a detour is not outweighed by its far states, as with sq_dist)", 2, _same_shapes("dist"),
    lambda cfg, s: _m().Lambda(lambda a, b: (_flat(a - b).pow(2).sum(1) + 1e-12).sqrt(), "dist")))
register_energy(EnergySpec(
    "l1", "L1 norm sum_i |a_i| (sparsity regularizer)", 1, _any,
    lambda cfg, s: _m().Lambda(lambda a: _flat(a).abs().sum(1), "l1")))
register_energy(EnergySpec(
    "l2", "squared L2 norm sum_i a_i^2", 1, _any,
    lambda cfg, s: _m().Lambda(lambda a: _flat(a).pow(2).sum(1), "l2")))
register_energy(EnergySpec(
    "cosine", "cosine distance 1 - cos(a, b)", 2, _same_shapes("cosine"),
    lambda cfg, s: _m().Lambda(lambda a, b: 1 - nn.functional.cosine_similarity(_flat(a), _flat(b), dim=1), "cosine")))


def _ce_shape(shapes: list[Shape], cfg: Config) -> None:
    logits, target = shapes
    if len(logits) != 1 or target != ():
        raise ShapeError(f"cross_entropy takes logits R[k] and a categorical {{k}}, got {fmt_shape(logits)} and "
                         f"{fmt_shape(target)}")
    k = cfg.categories[1] if len(cfg.categories) > 1 else None
    if k is not None and logits[0] != k:
        raise ShapeError(f"cross_entropy's logits have {logits[0]} entries but the categorical target has {k} "
                         f"categories: give the logits {k} (e.g. linear(..., {k}))")


register_energy(EnergySpec(
    "cross_entropy", "cross-entropy -log softmax(logits)[y] of a categorical y", 2, _ce_shape,
    lambda cfg, s: _m().Lambda(lambda lg, y: nn.functional.cross_entropy(lg, y.long(), reduction="none"),
                            "cross_entropy"), discrete_args=(1,)))


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * _flat(mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


register_energy(EnergySpec(
    "kl_prior", "KL(N(mu, exp(logvar)) || N(0, 1)), the variational latent penalty (002 sec. 4.2.2)", 2,
    _same_shapes("kl_prior"), lambda cfg, s: _m().Lambda(_kl, "kl_prior")))


_LOG_2PI = math.log(2 * math.pi)


def _gauss_diag(constant: bool, min_var: float):  # type: ignore[no-untyped-def]
    def energy(y: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if min_var > 0:  # sigma^2 = exp(logvar) + min_var, scikit-learn's reg_covar
            var = torch.exp(logvar) + min_var
            e = 0.5 * _flat((y - mu).pow(2) / var + torch.log(var)).sum(1)
        else:
            e = 0.5 * _flat((y - mu).pow(2) * torch.exp(-logvar) + logvar).sum(1)
        return e + 0.5 * _LOG_2PI * _flat(y).shape[1] if constant else e
    return energy


register_energy(EnergySpec(
    "gauss_diag", "-log N(y; mu, diag(exp(logvar))) = 1/2 sum_i ((y_i - mu_i)^2 / sigma_i^2 + log sigma_i^2 "
    "+ log 2 pi): a normalized diagonal Gaussian, its log-determinant included", 3, _same_shapes("gauss_diag"),
    lambda cfg, s: _m().Lambda(_gauss_diag(bool(cfg.options.get("constant", True)),
                                           float(cfg.options.get("min_var", 0.0))), "gauss_diag"),
    options=(Option("constant", bool, True, "include the normalizing constant d/2 log 2 pi"),
             Option("min_var", float, 0.0, low=0.0, doc="a floor added to every variance, sigma^2 = exp(logvar) + min_var "
                    "(scikit-learn's reg_covar, 1e-6 there): a pixel that never varies cannot make the "
                    "likelihood unbounded"))))


def _scalar_shape(shapes: list[Shape], cfg: Config) -> None:
    if math.prod(shapes[0]) != 1:
        raise ShapeError(f"an energy must be one number per sample; this function gives {fmt_shape(shapes[0])}")


register_energy(EnergySpec(
    "scalar", "a scalar-valued function output used as an energy term (user-built energy)", 1, _scalar_shape,
    lambda cfg, s: _m().Lambda(lambda a: _flat(a)[:, 0], "scalar")))


def _vector(name: str, n_args: int):  # type: ignore[no-untyped-def]
    def rule(shapes: list[Shape], cfg: Config) -> None:
        for s in shapes:
            if len(s) != 1:
                raise ShapeError(f"{name} takes vectors, got {fmt_shape(s)}")
    return rule


register_energy(EnergySpec(
    "hopfield", "Hopfield energy -sum_ij y_i w_ij y_j, w symmetric and trainable (002 eq. 6)", 1,
    _vector("hopfield", 1), lambda cfg, s: _m().Hopfield(s[0][0]), trainable=True,
    cost=lambda cfg, s, out: (s[0][0] ** 2, 0)))


register_energy(EnergySpec(
    "bilinear", "interaction energy -sum_ij a_i w_ij b_j, w trainable (002 eq. 8)", 2, _vector("bilinear", 2),
    lambda cfg, s: _m().Bilinear(s[0][0], s[1][0]), trainable=True, cost=lambda cfg, s, out: (s[0][0] * s[1][0], 0)))


register_energy(EnergySpec(
    "bias", "unary energy -sum_i b_i a_i, b trainable", 1, _vector("bias", 1),
    lambda cfg, s: _m().Bias(s[0][0]), trainable=True, cost=lambda cfg, s, out: (s[0][0], 0)))
