"""marginal: F = -1/beta log sum_z exp(-beta E) (002 sec. 3.2, eq. 9).

Discrete latents are summed exactly: in closed form unit by unit when every term on the latent
is linear in each unit (an RBM's hidden units, 002 eq. 9), by enumeration otherwise. Real
latents are integrated by importance sampling: `samples` draws from N(0, scale^2) (uniform on a
box), weighted by exp(-beta E) / q(z)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..graph import EnergyTerm, Graph, Variable
from .enumerate import MAX_ENUMERATION, count
from .method import Method, Option, Report, Resolved, register_method

if TYPE_CHECKING:
    import torch
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import torch

if TYPE_CHECKING:
    from ..compiled import CompiledModel

FACTORIZING = {"bilinear", "bias", "l1", "l2"}


def factorizes(g: Graph, v: Variable) -> bool:
    """Whether every term on a spins/bits latent is linear in each unit, so it sums out unit by unit."""
    if v.domain.kind not in ("spins", "bits"):
        return False
    if g.consumers(v.name):  # a function of the latent: not linear in general
        return False
    return all(t.energy in FACTORIZING and t.args.count(v.name) == 1 for t in g.terms_on(v.name))


class Marginal(Method):
    name = "marginal"
    doc = "F = -1/beta log sum_z exp(-beta E): exact for discrete latents, importance-sampled for reals"
    options = (
        Option("beta", float, 1.0, "inverse temperature", low=0, open_low=True),
        Option("samples", int, 64, "Monte Carlo draws per sample (real latents)", low=1, limit="max_draws"),
        Option("scale", float, 1.0, "std of the Gaussian proposal q(z) = N(0, scale^2) (real latents off a box)",
               low=0, open_low=True),
    )

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        if v.domain.discrete and not factorizes(g, v) and count(v) > MAX_ENUMERATION:
            report("E044", f"summing latent '{v.name}' out means enumerating {count(v)} values; the limit is "
                   f"{MAX_ENUMERATION} (terms linear in each unit are summed in closed form)",
                   "use infer sample(sampler = gibbs) for large discrete latents")


register_method(Marginal())


def _terms_of(model: CompiledModel, v: Variable) -> tuple[list[EnergyTerm], list[Any]]:
    """The terms on `v` and their modules, found once per model (a Gibbs chain asks every step)."""
    cache = model.__dict__.setdefault("_terms_on_cache", {})
    hit = cache.get(v.name)
    if hit is None:  # cleared when a module is replaced (Parts.__setitem__)
        terms = model.graph.terms_on(v.name)
        hit = cache[v.name] = (terms, [model.term_module(t.name) for t in terms])
    return hit  # type: ignore[no-any-return]


def linear_coefficients(model: CompiledModel, vals: dict[str, torch.Tensor], v: Variable, need_c: bool = True
                        ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """E = c + sum_i a_i u_i for a variable u every term of which is linear in each unit:
    returns (c, a), a of shape (rows, units). Uses the terms' analytic coefficients when they have
    them (bilinear, bias), autograd otherwise."""
    rows = next(iter(vals.values())).shape[0] if vals else 1
    device = model._device()
    zero = torch.zeros(rows, *v.domain.shape, device=device)
    terms, modules = _terms_of(model, v)
    if all(hasattr(m, "coefficient") for m in modules):
        # the terms with analytic coefficients (bilinear, bias) are linear in u with no offset, so they
        # vanish at u = 0: c is the energy of the other terms alone (one matmul saved per call)
        given = {**vals, v.name: zero}
        if need_c:
            ev = model.evaluate(given, model.plan_without({t.name for t in terms}))
            full, c = ev.values, ev.total
        elif all(x in given for t in terms for x in t.args):  # an RBM's terms read declared variables only
            full, c = given, None
        else:
            full, c = model.run_plan(model._plan, given), None
        a: torch.Tensor | None = None
        for t, m in zip(terms, modules, strict=True):
            w = model.weights[t.name]
            coef = getattr(m, "coefficient")([full[x] for x in t.args], t.args.index(v.name))  # noqa: B009
            coef = coef if w == 1.0 else w * coef
            a = coef if a is None else a + coef
        assert a is not None
        return c, a.reshape(rows, max(v.domain.numel, 1))
    with torch.enable_grad():
        u = zero.clone().requires_grad_(True)
        c = model.total_energy({**vals, v.name: u})
        g, = torch.autograd.grad(c.sum(), [u], create_graph=torch.is_grad_enabled())
    return c, g.reshape(rows, -1)


def summed_out(model: CompiledModel, vals: dict[str, torch.Tensor], v: Variable, beta: float) -> torch.Tensor:
    """-1/beta log sum_u exp(-beta E) over a factorizing spins/bits latent, unit by unit (002 eq. 9)."""
    c, a = linear_coefficients(model, vals, v)
    assert c is not None
    if v.domain.kind == "bits":  # sum over u_i in {0, 1} of exp(-beta a_i u_i)
        return c - torch.nn.functional.softplus(-beta * a).sum(1) / beta
    return c - torch.logaddexp(beta * a, -beta * a).sum(1) / beta  # spins: 2 cosh(beta a_i)


def draws(v: Variable, rows: int, scale: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance draws z ~ q and log q(z) for a real latent (uniform on its box, else N(0, scale^2))."""
    n = max(v.domain.numel, 1)
    if v.domain.box is not None:
        lo, hi = v.domain.box
        z = torch.rand(rows, *v.domain.shape, device=device) * (hi - lo) + lo
        return z, torch.full((rows,), -n * math.log(hi - lo), device=device)
    z = torch.randn(rows, *v.domain.shape, device=device) * scale
    log_q = -0.5 * (z / scale).reshape(rows, -1).pow(2).sum(1) - n * math.log(scale * math.sqrt(2 * math.pi))
    return z, log_q
