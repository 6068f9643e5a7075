"""amortized: an encoder's proposal z~ = Enc(x, y) for a latent (003 appendix, Fig. 19-20).

With `refine = 0` the proposal is the latent: gradients reach the encoder through the energy.
With `refine = N` the proposal starts N steps of minimization; the refined z* is the target of
the encoder's own training loss H(z~, z*) = weight * loss(z~, z*), which the inference result
carries in `losses` and the trainer adds to its loss (003 Fig. 20)."""

from __future__ import annotations

from typing import Any

from ..graph import Graph, Variable
from .method import Method, Option, Report, Resolved, register_method
from .minimize import DEFAULT_LR, Minimize


def proposal_name(v: Variable, proposal: Any) -> str | None:
    """The proposal's node name, inside the latent's own sub-model instance."""
    if proposal is None:
        return None
    prefix = v.name.rsplit(".", 1)[0] + "." if "." in v.name else ""
    return prefix + str(proposal)


class Amortized(Method):
    name = "amortized"
    doc = "an encoder's proposal for the latent, used directly or refined by minimization"
    options = (
        Option("proposal", "name", None, "the variable an encoder computes as the latent's guess (required)"),
        Option("refine", int, 0, "minimization steps from the proposal; 0 uses the proposal directly", low=0,
               limit="max_steps"),
        Option("optimizer", ("lbfgs", "adam", "sgd", "ista", "fista"), "adam", "the refining optimizer"),
        Option("lr", float, None, "the refining step size; default by optimizer", low=0, open_low=True),
        Option("loss", ("sq_dist", "cosine"), "sq_dist",
               "H(z~, z*): the encoder's training loss towards the refined latent (refine > 0)"),
        Option("weight", float, 1.0, "the weight of H in the training loss", low=0),
    )

    def resolve(self, g: Graph, v: Variable, declared: dict[str, Any]) -> Resolved:
        r = super().resolve(g, v, declared)
        notes = {}
        if r.options["lr"] is None:
            r.options["lr"] = DEFAULT_LR[r.options["optimizer"]]
            notes["lr"] = f"default for {r.options['optimizer']}"
        if not r.options["refine"]:
            notes["loss"] = "unused: refine = 0"
        return Resolved(r.method, r.options, notes=notes)

    def refining(self, opts: Resolved) -> Resolved:
        """The minimization that refines the proposal."""
        m = Minimize()
        return Resolved("minimize", {**{o.name: o.default for o in m.options}, "optimizer": opts["optimizer"],
                                     "steps": int(opts["refine"]), "lr": opts["lr"]})

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        target = proposal_name(v, opts["proposal"])
        if target is None or not g.has_var(target):
            report("E045", f"amortized inference of '{v.name}' needs proposal = <variable computed by an encoder>",
                   "e.g. zhat = enc_z(x) and infer amortized(proposal = zhat)")
            return
        pv = g.var(target)
        if pv.domain.shape != v.domain.shape:
            report("E045", f"proposal '{target}' has shape {pv.domain} but latent '{v.name}' is {v.domain}", None)
        if v.name in g.upstream_vars(target):
            report("E045", f"proposal '{target}' depends on '{v.name}' itself",
                   "the encoder must compute the proposal from observed variables")
        if v.domain.discrete:
            report("E045", f"amortized inference needs a real latent; '{v.name}' is {v.domain}",
                   "use infer enumerate or infer sample for discrete latents")
        unused = [k for k in ("loss", "weight", "optimizer", "lr") if v.infer is not None and k in dict(v.infer.options)]
        if not opts["refine"] and unused:
            report("E061", f"{', '.join(unused)} of '{v.name}' set the refinement and the encoder's loss towards it, "
                   "but refine = 0 uses the proposal directly", "set refine = N steps, or leave them out")


register_method(Amortized())
