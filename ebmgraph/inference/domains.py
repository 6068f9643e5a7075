"""Values of domains: every value of a discrete domain, projection onto boxes and spheres, starting points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..graph import Domain

if TYPE_CHECKING:
    import torch
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import torch


def domain_values(dom: Domain, device: torch.device) -> torch.Tensor:
    """Every value of a discrete domain, shape (count, *shape)."""
    n = max(dom.numel, 1)
    if dom.kind == "categorical":
        k = dom.k or 1
        grids = torch.cartesian_prod(*[torch.arange(k, device=device)] * n) if n > 1 else torch.arange(k, device=device)
        return grids.reshape(-1, *dom.shape).long()
    base = torch.tensor([-1.0, 1.0] if dom.kind == "spins" else [0.0, 1.0], device=device)
    grids = torch.cartesian_prod(*[base] * n) if n > 1 else base
    return grids.reshape(-1, *dom.shape)


def project(x: torch.Tensor, dom: Domain) -> torch.Tensor:
    """Put a real value back into its domain (box: clamp; sphere: rescale to the radius)."""
    if dom.box is not None:
        return x.clamp(dom.box[0], dom.box[1])
    if dom.sphere is not None:
        flat = x.reshape(x.shape[0], -1)
        return (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12) * dom.sphere).reshape(x.shape)
    return x


def initial(dom: Domain, rows: int, how: str, device: torch.device, gen: torch.Generator | None = None) -> torch.Tensor:
    """Starting points: zeros (the box's centre when 0 is outside it; random on a sphere), randn or uniform."""
    shape = (rows, *dom.shape)
    if how == "randn":
        x = torch.randn(shape, device=device, generator=gen)
    elif how == "uniform" and dom.box is not None:
        x = torch.rand(shape, device=device, generator=gen) * (dom.box[1] - dom.box[0]) + dom.box[0]
    elif how == "uniform":
        x = torch.rand(shape, device=device, generator=gen) * 2 - 1
    else:
        x = torch.zeros(shape, device=device)
        if dom.box is not None and not dom.box[0] <= 0 <= dom.box[1]:
            x = x + (dom.box[0] + dom.box[1]) / 2
        if dom.sphere is not None:
            x = torch.randn(shape, device=device, generator=gen)
    return project(x, dom)
