"""minimize: F(x, y) = min_z E(x, y, z) by batched per-sample descent (003 eq. 5, 002 sec. 3.2).

Each latent is minimized with its own optimizer, steps, lr, tol, init and restarts. Latents
whose optimizer settings are equal are minimized jointly by one optimizer; latents with
different settings take turns (block-coordinate descent, one step each per round); the result's
diagnostics say which latents were minimized together. Every row keeps the best point it has
seen, so F is never above the energy at the starting point. An l1 term on the latent itself is
handled by a proximal (soft-threshold) step when the optimizer is ISTA or FISTA, which
`optimizer = auto` picks then, so sparse codes (002 sec. 4.2.1) have exact zeros.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..graph import Domain, EnergyTerm, Graph, Variable
from .domains import initial, project
from .method import ConvergenceWarning, Method, Option, Progress, Report, Resolved, register_method

if TYPE_CHECKING:
    import torch
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import torch

if TYPE_CHECKING:
    from ..compiled import CompiledModel

EnergyFn = Callable[[dict[str, "torch.Tensor"]], "torch.Tensor"]

# the step size each optimizer starts from when `lr` is not given (ISTA/FISTA backtrack from it)
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.05, "sgd": 0.1, "ista": 1.0, "fista": 1.0}
WINDOW = 10  # convergence is judged on the energy decrease over this many steps


def group_key(o: Resolved) -> tuple[Any, ...]:
    """Latents whose minimize settings share this key are minimized jointly by one optimizer."""
    return (o["optimizer"], o["steps"], o["lr"], o["tol"])


def l1_terms(g: Graph, name: str) -> list[EnergyTerm]:
    """Energy terms l1(z) on the variable itself: the non-smooth part a proximal step handles."""
    return [t for t in g.terms_on(name) if t.energy == "l1" and t.args == [name]]


class Minimize(Method):
    name = "minimize"
    doc = "F = min_z E by batched per-sample gradient descent, projected onto box and sphere domains"
    options = (
        Option("optimizer", ("auto", "lbfgs", "adam", "sgd", "ista", "fista"), "auto",
               "auto: fista when an l1 term sits on the latent, else lbfgs"),
        Option("steps", int, 100, "the most optimizer steps", low=1, limit="max_steps"),
        Option("lr", float, None, "step size; default by optimizer: " +
               ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()), low=0, open_low=True),
        Option("tol", float, 1e-5, "a row has converged when E fell by less than tol * (1 + |E|) over the last 10 "
               "steps and its (sub)gradient norm is below 10 * tol * (1 + |E|); stops when every row has", low=0),
        Option("init", ("zeros", "randn", "uniform"), "zeros", "the starting point (of the first restart)"),
        Option("restarts", int, 1, "starting points per sample; the lowest energy wins; restarts after the first "
               "start at random", low=1, limit="max_draws"),
        Option("warm_start", bool, False, "start from the previous call's solution when the batch matches"),
        Option("unroll", bool, False, "differentiate through plain gradient steps (the last iterate is returned)"),
    )

    def resolve(self, g: Graph, v: Variable, declared: dict[str, Any]) -> Resolved:
        opts = {o.name: declared.get(o.name, o.default) for o in self.options}
        notes = {}
        if opts["optimizer"] == "auto":
            if opts["unroll"]:
                opts["optimizer"], notes["optimizer"] = "sgd", "auto: unroll takes plain gradient steps"
            elif l1_terms(g, v.name):
                opts["optimizer"] = "fista"
                notes["optimizer"] = "auto: proximal steps for " + ", ".join(t.name for t in l1_terms(g, v.name))
            else:
                opts["optimizer"], notes["optimizer"] = "lbfgs", "auto"
        if opts["lr"] is None:
            opts["lr"] = DEFAULT_LR[opts["optimizer"]]
            notes["lr"] = f"default for {opts['optimizer']}"
        return Resolved(self.name, opts, notes=notes)

    def check(self, g: Graph, v: Variable, opts: Resolved, report: Report) -> None:
        if v.domain.discrete:
            report("E044", f"latent '{v.name}' is discrete ({v.domain}); gradient minimization needs reals",
                   "use infer enumerate or infer sample(sampler = gibbs)")
        if opts["unroll"] and opts["optimizer"] != "sgd":
            report("E061", f"unroll = true differentiates plain gradient steps; optimizer = {opts['optimizer']} "
                   "cannot be unrolled", "leave the optimizer out, or write optimizer = sgd")


register_method(Minimize())


# ------------------------------------------------------------------ the elimination
@dataclass
class _Best:
    """The lowest energy each row has seen and the point where it was seen."""

    energy: torch.Tensor
    point: dict[str, torch.Tensor]
    first: torch.Tensor | None = None  # the energy of the first point offered: the start's

    def offer(self, energy: torch.Tensor, point: dict[str, torch.Tensor]) -> None:
        """Keep, per row, `point` where its energy is lower (no host sync: it runs every step).
        The first point offered is kept whole: every optimizer evaluates its start first."""
        if self.first is None:
            self.first = energy.detach().clone()
            self.energy = energy.detach().clone()
            self.point = {k: t.detach().clone() for k, t in point.items()}
            return
        better = energy < self.energy
        torch.minimum(self.energy, energy, out=self.energy)
        for k, t in point.items():  # in place: no new tensor per step
            old = self.point[k]
            torch.where(better.view(-1, *([1] * (t.dim() - 1))), t.detach(), old, out=old)


def _starts(v: Variable, o: Resolved, rows: int, R: int, S: int, device: torch.device) -> torch.Tensor:
    """Starting points: the declared init for a row's first restart, random ones for the others;
    a latent with fewer restarts than the rows have repeats its own starts."""
    first = initial(v.domain, rows, str(o["init"]), device)
    own = int(o["restarts"])
    if R == 1 or own == 1:
        return first
    rand = initial(v.domain, rows, "uniform" if v.domain.box is not None else "randn", device)
    r = torch.arange(rows, device=device)
    j = (r // S) % R
    src = r - (j - j % own) * S  # the row holding this sample's restart j mod own
    start = torch.where((j % own == 0).reshape(-1, *([1] * len(v.domain.shape))), first, rand)
    return start[src]


def minimize(model: CompiledModel, unknowns: list[Variable], resolved: dict[str, Resolved],
             vals: dict[str, torch.Tensor], energy: EnergyFn, rows: int, device: torch.device,
             start: dict[str, torch.Tensor], R: int, S: int
             ) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """Minimize E over `unknowns` from their starts; returns the values and per-variable diagnostics."""
    # 1. starting points: given (init= or an amortized proposal), warm, or the declared init
    z: dict[str, torch.Tensor] = {}
    for v in unknowns:
        o = resolved[v.name]
        warm = model._warm.get(v.name)
        if v.name in start:
            z[v.name] = start[v.name].detach().clone()
        elif o.options.get("warm_start") and warm is not None and warm.shape[0] == rows:
            z[v.name] = warm.clone()
        else:
            z[v.name] = _starts(v, o, rows, R, S, device)
    doms = {v.name: v.domain for v in unknowns}
    if any(resolved[v.name].options.get("unroll") for v in unknowns):
        return _unrolled(unknowns, resolved, vals, z, energy, doms)
    # 2. groups: latents with the same optimizer settings share one optimizer
    groups: dict[tuple[Any, ...], list[str]] = {}
    for v in unknowns:
        groups.setdefault(group_key(resolved[v.name]), []).append(v.name)
    frozen = {k: (t.detach() if t.requires_grad else t) for k, t in vals.items() if k not in z}
    params = {k: t.requires_grad_(True) for k, t in z.items()}
    full = {**frozen, **params}
    lam = {v.name: sum(model.weights[t.name] for t in l1_terms(model.graph, v.name)) for v in unknowns}
    # the start's energy is the first step's evaluation (not one evaluation more)
    best = _Best(torch.empty(0), {})  # set by the first point offered
    steppers = [_stepper(key, names, params, full, energy, doms, lam, best) for key, names in groups.items()]
    # 3. rounds: each group steps once per round until its steps are spent or every row converged
    tol = min(float(k[3]) for k in groups)
    longest = max(int(k[1]) for k in groups)
    history: list[torch.Tensor] = []  # the best energies every WINDOW steps, the start's first
    done = 0
    progress = Progress(longest, len(model._plan), "minimize " + ", ".join(z))
    try:
        for i in range(longest):
            for (key, _), step in zip(groups.items(), steppers, strict=True):
                if i < int(key[1]):
                    step()
            if i == 0 and best.first is not None:
                history.append(best.first)
            done = i + 1
            progress.step()
            if done % WINDOW == 0:
                history.append(best.energy.clone())
                if bool(_stalled(history, tol).all()):
                    gnorm = _grad_norm(best.point, frozen, energy, doms, lam)
                    if bool(_small(gnorm, best.energy, tol).all()):
                        break
    except KeyboardInterrupt:
        progress.interrupted = done
    progress.close(done)
    with torch.no_grad():  # the point the last step moved to
        best.offer(energy(full), params)
    if not history:  # no step was taken: the start is the best point
        history.append(best.energy.clone())
    if done % WINDOW:
        history.append(best.energy.clone())
    else:
        history[-1] = best.energy.clone()
    # 4. the best point of each row, its (projected, sub-)gradient and the convergence report
    gnorm = _grad_norm(best.point, frozen, energy, doms, lam)
    converged = _stalled(history, tol) & _small(gnorm, best.energy, tol)
    out = dict(vals)
    out.update(best.point)
    diag: dict[str, dict[str, Any]] = {}
    joint = [names for names in groups.values()]
    for key, names in groups.items():
        for n in names:
            if resolved[n].options.get("warm_start"):
                model._warm[n] = best.point[n].clone()
            diag[n] = {"method": "minimize", "optimizer": key[0], "steps": done, "converged": converged,
                       "grad_norm": gnorm, "energy_change": history[max(0, len(history) - 2)] - history[-1],
                       "minimized_with": next(g for g in joint if n in g)}
    if not bool(converged.all()):  # the text is stable, so a training loop warns once, not every step
        for names, key in zip(groups.values(), groups, strict=True):
            prox = key[0] not in ("ista", "fista") and any(lam[n] for n in names)
            warnings.warn(ConvergenceWarning(
                f"minimize of {', '.join(repr(n) for n in names)} did not converge on every sample within "
                f"steps = {key[1]} (tol = {float(key[3]):g}; see the result's diagnostics): raise steps, e.g. "
                f"infer minimize(steps = {2 * int(key[1])}), or the lr"
                + (", or use optimizer = fista: an l1 term sits on it" if prox else "")), stacklevel=5)
    return out, diag


def _stalled(history: list[torch.Tensor], tol: float) -> torch.Tensor:
    """Rows whose best energy fell by less than tol * (1 + |E|) over the last WINDOW steps
    (`history` holds the best energies every WINDOW steps, the last entry the latest)."""
    old = history[max(0, len(history) - 2)]
    now = history[-1]
    return (old - now) <= tol * (1 + now.abs())


def _small(gnorm: torch.Tensor, energy: torch.Tensor, tol: float) -> torch.Tensor:
    return gnorm <= 10 * tol * (1 + energy.abs())


def _stepper(key: tuple[Any, ...], names: list[str], params: dict[str, torch.Tensor], full: dict[str, torch.Tensor],
             energy: EnergyFn, doms: dict[str, Domain], lam: dict[str, float], best: _Best) -> Callable[[], None]:
    """One step of a group's optimizer (the others held fixed), offering every point it evaluates to `best`."""
    opt_name, _, lr, _ = key
    ps = [params[n] for n in names]
    constrained = [n for n in names if doms[n].box is not None or doms[n].sphere is not None]

    def evaluate() -> torch.Tensor:
        with torch.enable_grad():
            e = energy(full)
        best.offer(e.detach(), params)
        return e

    def project_all() -> None:
        if not constrained:
            return
        with torch.no_grad():
            for n in constrained:
                box = doms[n].box
                if box is not None:  # in place, no new tensor per step
                    params[n].clamp_(box[0], box[1])
                else:
                    params[n].copy_(project(params[n], doms[n]))

    if opt_name in ("ista", "fista"):
        return _proximal(names, params, full, energy, doms, lam, float(lr), opt_name == "fista", best)
    if opt_name == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(ps, lr=float(lr), max_iter=1, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            with torch.enable_grad():
                e = evaluate().sum()
                grads = torch.autograd.grad(e, ps)
            for p, g in zip(ps, grads, strict=True):
                p.grad = g.contiguous()  # LBFGS flattens with view(): a gradient through cat may be strided
            return e.detach()

        def lbfgs_step() -> None:
            opt.step(closure)  # type: ignore[arg-type]
            project_all()
        return lbfgs_step
    opt = torch.optim.SGD(ps, lr=float(lr)) if opt_name == "sgd" else torch.optim.Adam(ps, lr=float(lr))

    def first_order_step() -> None:
        with torch.enable_grad():
            e = energy(full)
            grads = torch.autograd.grad(e.sum(), ps)
        best.offer(e.detach(), params)
        for p, g in zip(ps, grads, strict=True):
            p.grad = g
        opt.step()
        project_all()
    return first_order_step


@dataclass
class _ProxState:
    L: torch.Tensor  # per row, the Lipschitz estimate (1 / step size), doubled by backtracking
    t: torch.Tensor  # per row, FISTA's momentum sequence
    x: dict[str, torch.Tensor]  # the previous iterate


def _soft(x: torch.Tensor, thresh: torch.Tensor | float) -> torch.Tensor:
    return torch.sign(x) * torch.clamp(x.abs() - thresh, min=0)


def _proximal(names: list[str], params: dict[str, torch.Tensor], full: dict[str, torch.Tensor], energy: EnergyFn,
              doms: dict[str, Domain], lam: dict[str, float], lr: float, accelerate: bool, best: _Best
              ) -> Callable[[], None]:
    """ISTA / FISTA (Beck & Teboulle 2009) with per-row backtracking and adaptive restart: a gradient
    step on the smooth part E - lam ||z||_1, then soft-thresholding by lr * lam, then the domain's projection."""
    rows = params[names[0]].shape[0]
    device = params[names[0]].device
    state = _ProxState(torch.full((rows,), 1.0 / lr, device=device), torch.ones(rows, device=device),
                       {n: params[n].detach().clone() for n in names})

    def bshape(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return t.reshape(-1, *([1] * (like.dim() - 1)))

    def l1(point: dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(rows, device=device)
        for n in names:
            if lam[n]:
                total = total + lam[n] * point[n].reshape(rows, -1).abs().sum(1)
        return total

    def step() -> None:
        y = {n: params[n] for n in names}  # the extrapolated point lives in the parameters
        with torch.enable_grad():
            e_y = energy(full)
            grads = torch.autograd.grad(e_y.sum(), [y[n] for n in names])
        best.offer(e_y.detach(), params)
        with torch.no_grad():
            f_y = e_y.detach() - l1(y)
            g_s = {n: g - lam[n] * torch.sign(y[n]) for n, g in zip(names, grads, strict=True)}  # smooth part only
            L = state.L
            for _ in range(40):  # backtracking: double L on the rows whose quadratic bound fails
                cand = {}
                for n in names:
                    inv = 1.0 / bshape(L, y[n])
                    cand[n] = project(_soft(y[n] - inv * g_s[n], inv * lam[n]), doms[n])
                e_c = energy({**full, **cand})
                f_c = e_c - l1(cand)
                quad = f_y.clone()
                for n in names:
                    d = (cand[n] - y[n]).reshape(rows, -1)
                    quad = quad + (g_s[n].reshape(rows, -1) * d).sum(1) + 0.5 * L * d.pow(2).sum(1)
                ok = f_c <= quad + 1e-7 * (1 + quad.abs())
                if bool(ok.all()):
                    break
                L = torch.where(ok, L, 2 * L)
            state.L = L
            best.offer(e_c, cand)
            x_old = state.x
            t = state.t
            if accelerate:
                # adaptive restart: rows whose objective went up lose their momentum
                worse = e_c > best.energy + 1e-12
                t = torch.where(worse, torch.ones_like(t), t)
                t_new = (1 + torch.sqrt(1 + 4 * t * t)) / 2
                mom = (t - 1) / t_new
                for n in names:
                    params[n].copy_(project(cand[n] + bshape(mom, cand[n]) * (cand[n] - x_old[n]), doms[n]))
                state.t = t_new
            else:
                for n in names:
                    params[n].copy_(cand[n])
            state.x = cand
    return step


def _grad_norm(point: dict[str, torch.Tensor], frozen: dict[str, torch.Tensor], energy: EnergyFn,
               doms: dict[str, Domain], lam: dict[str, float]) -> torch.Tensor:
    """Per row, the norm of the smallest (sub)gradient at the point, projected on box bounds: 0 at an optimum."""
    z = {k: t.detach().clone().requires_grad_(True) for k, t in point.items()}
    with torch.enable_grad():
        e = energy({**frozen, **z})
        grads = torch.autograd.grad(e.sum(), list(z.values()))
    total: torch.Tensor | None = None
    for (n, t), g in zip(z.items(), grads, strict=True):
        t = t.detach()
        if lam.get(n):
            smooth = g - lam[n] * torch.sign(t)
            g = torch.where(t == 0, _soft(smooth, torch.full_like(smooth, lam[n])), g)
        dom = doms[n]
        if dom.box is not None:  # at a bound, only the component pointing inside counts
            g = torch.where(((t <= dom.box[0]) & (g > 0)) | ((t >= dom.box[1]) & (g < 0)), torch.zeros_like(g), g)
        if dom.sphere is not None:  # the tangential part
            flat, gf = t.reshape(t.shape[0], -1), g.reshape(g.shape[0], -1)
            unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
            g = (gf - (gf * unit).sum(1, keepdim=True) * unit).reshape(g.shape)
        sq = g.reshape(g.shape[0], -1).pow(2).sum(1)
        total = sq if total is None else total + sq
    assert total is not None
    return total.sqrt()


def _unrolled(unknowns: list[Variable], resolved: dict[str, Resolved], vals: dict[str, torch.Tensor],
              z: dict[str, torch.Tensor], energy: EnergyFn, doms: dict[str, Domain]
              ) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """Plain gradient steps kept in the autograd graph, so gradients reach the parameters through them."""
    cur = {k: t.requires_grad_(True) for k, t in z.items()}
    steps = {v.name: int(resolved[v.name]["steps"]) for v in unknowns}
    lrs = {v.name: float(resolved[v.name]["lr"]) for v in unknowns}
    prev = None
    differentiable = torch.is_grad_enabled()  # under no_grad the steps need not be kept
    for i in range(max(steps.values())):
        active = [k for k in cur if i < steps[k]]
        with torch.enable_grad():
            e = energy({**vals, **cur})
            grads = torch.autograd.grad(e.sum(), [cur[k] for k in active], create_graph=differentiable)
        prev = e.detach()
        for k, g in zip(active, grads, strict=True):
            cur[k] = project(cur[k] - lrs[k] * g, doms[k])
    with torch.no_grad():
        last = energy({**vals, **{k: t.detach() for k, t in cur.items()}})
    change = (prev - last) if prev is not None else torch.zeros_like(last)
    tol = min(float(resolved[v.name]["tol"]) for v in unknowns)
    diag = {k: {"method": "minimize", "optimizer": "sgd (unrolled)", "steps": steps[k], "energy_change": change,
                "minimized_with": list(cur), "converged": change.abs() <= tol * (1 + last.abs())} for k in cur}
    return {**vals, **cur}, diag
