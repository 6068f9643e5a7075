"""sample: a draw from the Gibbs distribution p(z) ~ exp(-beta E) (002 App. A): unadjusted Langevin
dynamics for reals, Gibbs sampling for spins, bits and categories. Every run reports whether its
chains settled: how far their mean moved between the last two quarters of the run, in units of
the values' spread, and whether that move is significant against its batch-means error."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..graph import Domain, Graph, Variable
from .domains import domain_values, initial, project
from .method import ConvergenceWarning, Method, Option, Progress, Report, Resolved, register_method

if TYPE_CHECKING:
    import torch
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import torch

if TYPE_CHECKING:
    from ..compiled import CompiledModel

EnergyFn = Callable[[dict[str, "torch.Tensor"]], "torch.Tensor"]


class Sample(Method):
    name = "sample"
    doc = "a draw from exp(-beta E): Langevin dynamics for reals, Gibbs sampling for discrete latents"
    options = (
        Option("sampler", ("auto", "langevin", "gibbs"), "auto", "auto: gibbs for discrete domains, else langevin"),
        Option("steps", int, 100, "Langevin steps or Gibbs sweeps", low=1, limit="max_steps"),
        Option("step_size", float, 0.01, "Langevin step size eps (x <- x - eps/2 beta grad E + sqrt(eps) noise)",
               low=0, open_low=True),
        Option("beta", float, 1.0, "inverse temperature", low=0, open_low=True),
        Option("tol", float, 0.1, "the chains have settled unless their mean moved by more than tol of the values' "
               "spread between the last two quarters of the run, significantly (z > 3)", low=0, open_low=True),
    )

    def resolve(self, g: Graph, v: Variable, declared: dict[str, Any]) -> Resolved:
        r = super().resolve(g, v, declared)
        notes = {}
        if r.options["sampler"] == "auto":
            r.options["sampler"] = "gibbs" if v.domain.discrete else "langevin"
            notes["sampler"] = "auto"
        return Resolved(r.method, r.options, notes=notes)

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        if opts["sampler"] == "langevin" and v.domain.discrete:
            report("E044", f"Langevin dynamics needs a continuous latent; '{v.name}' is {v.domain}",
                   "use sampler = gibbs")
        if opts["sampler"] == "gibbs" and not v.domain.discrete:
            report("E044", f"Gibbs sampling needs a discrete latent; '{v.name}' is {v.domain}", "use sampler = langevin")
        if opts["sampler"] == "gibbs" and v.infer is not None and "step_size" in dict(v.infer.options):
            report("E061", f"step_size of '{v.name}' is Langevin's; Gibbs sampling takes no step size",
                   "leave it out, or use sampler = langevin on a real variable")


register_method(Sample())


class Trace:
    """What a chain's settling report needs: the mean over rows along the run's last half, thinned
    to at most MEANS evenly spaced steps (one reduction each), and the values at its last step."""

    MEANS = 40  # enough for two quarters of 5 batch means each; more steps only cost reductions

    def __init__(self, steps: int):
        self.steps = steps
        self.start = (steps + 1) // 2  # the first step of the last half
        self.stride = max(1, -(-(steps - self.start) // self.MEANS))
        self.means: list[torch.Tensor] = []
        self.last: torch.Tensor | None = None
        self.steps_done = 0

    def add(self, i: int, x: torch.Tensor) -> None:
        self.steps_done = i + 1
        if i < self.start:
            return
        self.last = x.detach().reshape(x.shape[0], -1)
        if (i - self.start) % self.stride == 0:
            self.means.append(self.last.float().mean(0))

    def drift(self) -> tuple[float, float] | None:
        """(drift, z): how far the chains' mean moved between the last two quarters, in units of the
        values' spread, and that move over its standard error from batch means (Geweke-style)."""
        n = len(self.means)
        if n < 10 or self.last is None:
            return None
        trace = torch.stack(self.means)  # (steps in the last half, dims)
        half = n // 2
        q3, q4 = trace[:half], trace[half:2 * half]
        move = (q4.mean(0) - q3.mean(0)).abs()
        # the values' spread: across the chains at the last step (one chain: across its last-half steps)
        spread = (self.last.float().std(0, correction=0) if self.last.shape[0] > 1 else trace.std(0, correction=0)) \
            + 1e-12
        batches = torch.stack([b.mean(0) for q in (q3, q4) for b in q.chunk(5)])  # 10 batch means
        within = (batches[:5].var(0) + batches[5:].var(0)) / 2
        se = torch.sqrt(2 * within / 5) + 1e-12
        worst = int(torch.argmax(move / spread))
        return float(move[worst] / spread[worst]), float(move[worst] / se[worst])


def report(v: Variable, sampler: str, steps: int, tol: float, trace: Trace) -> dict[str, Any]:
    """Settled unless the chains' mean still moves by more than tol of the spread, significantly (z > 3)."""
    found = trace.drift()
    settled = found is None or not (found[0] > tol and found[1] > 3)
    if not settled:
        warnings.warn(ConvergenceWarning(
            f"{sampler} chain of '{v.name}' has not settled after steps = {steps}: its mean still moves between "
            f"the last two quarters of the run by more than tol = {tol:g} of its spread (see the drift in the "
            f"diagnostics); raise steps, e.g. infer sample(steps = {4 * steps})"
            + (", or step_size" if sampler == "langevin" else "")), stacklevel=5)
    return {"method": "sample", "sampler": sampler, "steps": steps, "converged": settled,
            "drift": found[0] if found else None, "drift_z": found[1] if found else None}


def draw(model: CompiledModel, v: Variable, o: Resolved, vals: dict[str, torch.Tensor], energy: EnergyFn,
         rows: int, device: torch.device, init: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Draw `v` by its resolved sampler, the chains started at `init` when given (a Hopfield net's
    recall from a pattern); the chain's settling report comes with it."""
    steps, beta, sampler = int(o["steps"]), float(o["beta"]), str(o["sampler"])
    trace = Trace(steps)
    units = max(v.domain.numel, 1) if sampler == "gibbs" else 1
    progress = Progress(steps, len(model._plan) * units, f"{sampler} {v.name}")
    if sampler == "gibbs":
        x = gibbs(energy, vals, v, rows, steps, beta, device, init=init, trace=trace, progress=progress)
    else:
        x = langevin(energy, vals, v, rows, steps, float(o["step_size"]), beta, device, init=init, trace=trace,
                     progress=progress)
    progress.close(trace.steps_done)
    return x, report(v, sampler, steps, float(o["tol"]), trace)


def langevin(energy: EnergyFn, vals: dict[str, torch.Tensor], v: Variable, rows: int, steps: int, step_size: float,
             beta: float, device: torch.device, init: torch.Tensor | None = None,
             generator: torch.Generator | None = None, trace: Trace | None = None,
             progress: Progress | None = None) -> torch.Tensor:
    """Unadjusted Langevin dynamics x <- x - (eps/2) beta grad E + sqrt(eps) noise (002 App. A)."""
    x = (init.detach().clone() if init is not None else initial(v.domain, rows, "randn", device, generator))
    frozen = {k: t.detach() for k, t in vals.items() if k != v.name}
    noise_scale = math.sqrt(step_size)
    try:
        for i in range(steps):
            x.requires_grad_(True)
            with torch.enable_grad():
                g, = torch.autograd.grad(energy({**frozen, v.name: x}).sum(), [x])
            with torch.no_grad():
                noise = torch.randn(x.shape, device=device, generator=generator)
                x = project(x - 0.5 * step_size * beta * g + noise_scale * noise, v.domain)
            _record(i, x, trace, progress)
    except KeyboardInterrupt:
        _interrupted(progress)
    return x.detach()


def gibbs(energy: EnergyFn, vals: dict[str, torch.Tensor], v: Variable, rows: int, sweeps: int, beta: float,
          device: torch.device, init: torch.Tensor | None = None, generator: torch.Generator | None = None,
          trace: Trace | None = None, progress: Progress | None = None) -> torch.Tensor:
    """Gibbs sampling of a discrete variable, one unit at a time, every value of a unit in one pass."""
    dom = v.domain
    choices = domain_values(Domain(dom.kind, (), k=dom.k), device)  # the values of one unit
    if init is not None:
        x = init.detach().clone()
    else:
        pick = torch.randint(len(choices), (rows, *dom.shape), device=device, generator=generator)
        x = choices[pick]
    frozen = {k: t.detach().repeat(len(choices), *([1] * (t.dim() - 1))) for k, t in vals.items() if k != v.name}
    n = max(dom.numel, 1)
    with torch.no_grad():
        try:
            for s in range(sweeps):
                for i in range(n):
                    cand = x.reshape(rows, n).repeat(len(choices), 1)
                    cand[:, i] = choices.repeat_interleave(rows).to(cand.dtype)
                    e = energy({**frozen, v.name: cand.reshape(len(choices) * rows, *dom.shape)})
                    logits = (-beta * e).reshape(len(choices), rows).T
                    idx = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
                    flat = x.reshape(rows, n).clone()
                    flat[:, i] = choices[idx].to(flat.dtype)
                    x = flat.reshape(x.shape)
                _record(s, x, trace, progress)
        except KeyboardInterrupt:
            _interrupted(progress)
    return x


def _record(i: int, x: torch.Tensor, trace: Trace | None, progress: Progress | None) -> None:
    if trace is not None:
        trace.add(i, x)
    if progress is not None:
        progress.step()


def _interrupted(progress: Progress | None) -> None:
    """Ctrl-C in a chain: stop it cleanly when it reports progress (the caller returns what it has)."""
    if progress is None:
        raise KeyboardInterrupt
    progress.interrupted = 1


def block_gibbs(model: CompiledModel, vals: dict[str, torch.Tensor], v: Variable, beta: float) -> torch.Tensor:
    """Sample every unit of a spins/bits variable at once, exact when the energy is linear in each
    unit given the rest (the RBM's p(h | v) and p(v | h), 002 sec. 5.2): E = c + sum_i a_i u_i."""
    from .marginal import linear_coefficients
    with torch.no_grad():
        _, a = linear_coefficients(model, {k: t for k, t in vals.items() if k != v.name}, v, need_c=False)
        a = a.reshape(a.shape[0], *v.domain.shape)
    if v.domain.kind == "bits":  # p(u_i = 1) = sigmoid(-beta a_i)
        return torch.bernoulli(torch.sigmoid(-beta * a))
    return torch.bernoulli(torch.sigmoid(-2 * beta * a)) * 2 - 1  # spins: p(+1) = sigmoid(-2 beta a_i)
