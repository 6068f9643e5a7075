"""enumerate: every value of a discrete latent as one more batch dimension, then the min over them
(F = min_z E) or, with `soft = true`, the soft-min -1/beta log sum_z exp(-beta E) (002 sec. 3.2)."""

from __future__ import annotations

import math

from ..graph import Graph, Variable
from .method import Method, Option, Report, Resolved, register_method

MAX_ENUMERATION = 1 << 20


def count(v: Variable) -> float:
    """How many values a discrete variable has (inf when astronomically many)."""
    return v.domain.values() ** max(v.domain.numel, 1) if v.domain.numel < 64 else math.inf


class Enumerate(Method):
    name = "enumerate"
    doc = "every value of a discrete latent as a tensor dimension, then min (or soft-min)"
    options = (
        Option("soft", bool, False, "soft-min -1/beta log sum exp(-beta E) instead of the min"),
        Option("beta", float, 1.0, "inverse temperature of the soft-min", low=0, open_low=True),
    )

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        if not v.domain.discrete:
            report("E044", f"latent '{v.name}' is continuous ({v.domain}); it cannot be enumerated",
                   "use infer minimize(...) or infer marginal(...) for real latents")
        elif count(v) > MAX_ENUMERATION:
            report("E044", f"enumerating latent '{v.name}' means {count(v)} values; the limit is {MAX_ENUMERATION}",
                   "use infer sample(sampler = gibbs) for large discrete latents")


register_method(Enumerate())
