"""The inference engine: expand discrete values, restarts and Monte Carlo draws as batch rows,
eliminate each unknown by its method (see the method files), then reduce (min, soft-min,
log-sum-exp) back to one free energy per sample.

Rows are ordered (sample, enumerated value, restart, Monte Carlo draw), the draw fastest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..catalogue import ENERGIES, Config
from ..diagnostics import InputError
from ..graph import Variable
from .amortized import Amortized, proposal_name
from .domains import domain_values, initial
from .marginal import draws, factorizes, summed_out
from .method import METHODS, Resolved, resolve
from .minimize import minimize
from .sample import draw

if TYPE_CHECKING:
    import torch
else:  # torch is imported when this code first runs, not by the front end
    from .._lazy import torch

if TYPE_CHECKING:
    from ..compiled import CompiledModel


@dataclass
class Inference:
    """The result of `free_energy` / `infer`."""

    free_energy: torch.Tensor  # (batch,)
    values: dict[str, torch.Tensor]  # the inferred variables at the solution
    energy: torch.Tensor  # total E at the solution (batch,)
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # each weighted term at the solution
    all_values: dict[str, torch.Tensor] = field(default_factory=dict)  # every variable, computed ones too
    # per eliminated variable: its method and how it ended (steps, converged per row, grad_norm, drift, ...)
    diagnostics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per-sample training losses an inference method defines (the amortized encoder's H(z~, z*))
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class _Split:
    """How each unknown is eliminated; computed once per (given, targets) and cached on the model."""

    resolved: dict[str, Resolved]
    closed: list[Variable]  # marginal, summed out in closed form unit by unit
    sampled: list[Variable]
    enumerated: list[Variable]
    drawn: list[Variable]  # marginal over reals: importance draws
    minimized: list[Variable]
    amortized: list[Variable]


def overridden(model: CompiledModel, infer: dict[str, Any]) -> dict[str, Resolved]:
    """Methods chosen at call time, `infer={"h": "sample"}` or `{"z": ("minimize", {"steps": 50})}`,
    checked against the method table and the method's own check, as a declaration would be."""
    g = model.graph
    out: dict[str, Resolved] = {}
    for name, spec in infer.items():
        if name not in model.inputs:
            raise InputError(f"infer names '{name}', which is not a variable of {g.name} to eliminate; "
                             f"it has {', '.join(sorted(model.inputs))}")
        method, options = (spec, {}) if isinstance(spec, str) else spec
        if method not in METHODS:
            raise InputError(f"infer for '{name}': unknown method {method!r}; the methods are {', '.join(METHODS)}")
        m = METHODS[method]
        for k, value in dict(options).items():
            bad = m.problem(k, value, g.limits)
            if bad is not None:
                raise InputError(f"infer for '{name}': {bad[1]}" + (f"; {bad[2]}" if bad[2] else ""))
        v = model.inputs[name]
        r = m.resolve(g, v, dict(options))

        def refuse(code: str, message: str, hint: str | None, name: str = name) -> None:
            raise InputError(f"infer for '{name}': {message}" + (f"; {hint}" if hint else ""))

        m.check(g, v, r, refuse)
        out[name] = r
    return out


def _split(model: CompiledModel, unknown_names: set[str], targets: set[str],
           chosen: dict[str, Resolved] | None = None) -> _Split:
    g = model.graph
    unknown = [model.inputs[n] for n in sorted(unknown_names)]
    resolved: dict[str, Resolved] = {}
    for v in unknown:
        r = (chosen or {}).get(v.name) or resolve(g, v)
        if v.name in targets and r.method not in ("minimize", "enumerate"):  # a target is argmin'd
            r = METHODS["enumerate" if v.domain.discrete else "minimize"].resolve(g, v, {})
        resolved[v.name] = r
    by = {m: [v for v in unknown if resolved[v.name].method == m] for m in METHODS}
    marg = by["marginal"]
    closed = [v for v in marg if factorizes(g, v)][:1]  # one is summed out in closed form; others enumerated
    return _Split(
        resolved, closed, by["sample"],
        by["enumerate"] + [v for v in marg if v.domain.discrete and v not in closed],
        [v for v in marg if not v.domain.discrete], by["minimize"], by["amortized"])


class _Problem:
    def __init__(self, model: CompiledModel, given: dict[str, Any], targets: list[str],
                 init: dict[str, Any] | None = None, validate: bool = True, infer: dict[str, Any] | None = None):
        self.model = model
        allowed = set(model.inputs)
        for t in targets:
            if t not in allowed:
                if model.graph.has_var(t):
                    raise InputError(f"'{t}' is computed by a function; infer the variables it is computed from")
                raise InputError(f"no variable '{t}' to infer; the model has {', '.join(sorted(allowed))}")
            if t in given:
                raise InputError(f"'{t}' is both given and a target; leave it out of the given values")
        missing = sorted(n for n, v in model.inputs.items()
                         if v.role == "observed" and n not in given and n not in targets)
        if missing:
            shown = ", ".join(f"'{m}' ({model.inputs[m].domain})" for m in missing)
            raise InputError(f"missing observed variable{'s' if len(missing) > 1 else ''} {shown}; give "
                             f"{'them' if len(missing) > 1 else 'it'}, or infer {'them' if len(missing) > 1 else 'it'}"
                             f": model.infer({missing!r}, ...)")
        self.vals = model.check_inputs(given, required=set(), allowed=allowed) if validate else dict(given)
        self.device = model._device()
        self.batch = next(iter(self.vals.values())).shape[0] if self.vals else 1
        self.targets = set(targets)
        key: tuple[Any, ...] = (frozenset(self.vals), frozenset(self.targets))
        chosen = overridden(model, infer) if infer else None
        if chosen:
            for name, r in chosen.items():
                if name in self.vals:
                    raise InputError(f"methods for '{name}': it is given, so it is not eliminated; leave it out")
                if name in self.targets and r.method not in ("minimize", "enumerate"):
                    raise InputError(f"methods for '{name}': a target is found by argmin, so its method is minimize "
                                     f"or enumerate (with their options), not {r.method}")
            key = (*key, repr(sorted((k, r.method, sorted(r.options.items())) for k, r in chosen.items())))
        split = model._splits.get(key)
        if split is None:
            split = model._splits[key] = _split(model, allowed - set(self.vals), self.targets, chosen)
        self.s: _Split = split
        if split.sampled and (split.minimized or split.amortized):
            both = ", ".join(v.name for v in (split.minimized + split.amortized)[:3])
            z = split.sampled[0]
            raise InputError(f"'{z.name}' is sampled beside minimized {both}: a draw from exp(-E) needs the others' "
                             "values, which are being minimized; to minimize against draws of it (003 sec. 4.8), "
                             f"declare it as noise with its draws, e.g. noise {z.name} : {z.domain} ~ normal(draws = 16) "
                             "(the expected energy; reduce = max: the worst draw), give its value, or infer it by "
                             "minimize or marginal")
        if model.draws is not None and (split.closed or split.amortized):
            raise InputError(f"the noise drawn {model.draws[0]} times per sample cannot be combined with "
                             + ("a latent summed out in closed form" if split.closed else "an amortized latent")
                             + "; give the noise's value, or declare draws = 1")
        self.init: dict[str, torch.Tensor] = {}
        startable = [v.name for v in split.minimized + split.sampled]
        for k, t in (init or {}).items():
            if k not in startable:
                raise InputError(f"init starts a minimization or a sampler's chains; '{k}' is not one of "
                                 f"{', '.join(startable) or 'them (there are none)'}")
            self.init[k] = model.check_inputs({k: t}, required=set(), allowed={k})[k]

    def opt(self, v: Variable, key: str) -> Any:
        return self.s.resolved[v.name][key]

    def restarts(self) -> int:
        return max((int(self.opt(v, "restarts")) for v in self.s.minimized), default=1)

    def expand(self) -> tuple[dict[str, torch.Tensor], int, int, int, torch.Tensor | None]:
        """Rows ordered (sample, enumerated value, restart, Monte Carlo draw), the draw fastest."""
        R = self.restarts()
        K = 1
        configs: list[torch.Tensor] = []
        for v in self.s.enumerated:
            every = domain_values(v.domain, self.device)
            configs.append(every)
            K *= every.shape[0]
        S = max((int(self.opt(v, "samples")) for v in self.s.drawn), default=1)
        rows = self.batch * K * R * S
        limit = self.model.graph.limits.max_rows
        if rows > limit:
            raise InputError(f"inference would evaluate {rows} rows (batch {self.batch} x {K} values x {R} restarts x "
                             f"{S} draws); the limit is max_rows = {limit}: use a smaller batch, fewer samples or a "
                             "sampler, or raise it (Limits(max_rows=...))")
        inner = R * S
        vals = {k: (v.repeat_interleave(K * inner, dim=0) if K * inner > 1 else v) for k, v in self.vals.items()}
        idx = torch.arange(K, device=self.device)
        stride = K
        for v, c in zip(self.s.enumerated, configs, strict=True):  # every combination, the last fastest
            stride //= c.shape[0]
            pick = (idx // stride) % c.shape[0]
            per_row = c[pick] if len(configs) > 1 else c
            if inner > 1:
                per_row = per_row.repeat_interleave(inner, dim=0)
            vals[v.name] = per_row.repeat(self.batch, *([1] * (per_row.dim() - 1)))
        log_q = None
        if self.s.drawn:
            log_q = torch.zeros(rows, device=self.device)
            for v in self.s.drawn:
                z, lq = draws(v, rows, float(self.opt(v, "scale")), self.device)
                vals[v.name] = z
                log_q = log_q + lq
        return vals, K, R, S, log_q

    def _start(self, name: str, t: torch.Tensor, K: int, R: int, S: int) -> torch.Tensor:
        """The rows' starting points from `init`: a start per sample begins its first restart (the
        others start at random, as without init), or a start per sample and restart (batch x R rows,
        a sample's restarts in a row) begins each."""
        shape = t.shape[1:]
        if t.shape[0] == self.batch * R and R > 1:
            per = t.reshape(self.batch, 1, R, 1, *shape)
        elif t.shape[0] == self.batch:
            per = t.reshape(self.batch, 1, 1, 1, *shape)
            if R > 1:
                v = self.model.graph.var(name)
                rand = initial(v.domain, self.batch * (R - 1), "uniform" if v.domain.box is not None else "randn",
                               self.device).reshape(self.batch, 1, R - 1, 1, *shape)
                per = torch.cat([per, rand.to(t.dtype)], dim=2)
        else:
            raise InputError(f"init for '{name}' has {t.shape[0]} samples; the batch has {self.batch}"
                             + (f" (or {self.batch * R}: one start per restart)" if R > 1 else ""))
        return per.expand(self.batch, K, R, S, *shape).reshape(-1, *shape)

    def energy_fn(self) -> Any:
        """E of a full assignment; a factorizing latent summed out in closed form (002 eq. 9)."""
        model = self.model
        if not self.s.closed:
            return model.total_energy
        v = self.s.closed[0]
        beta = float(self.opt(v, "beta"))
        return lambda vals: summed_out(model, vals, v, beta)

    def run(self) -> Inference:
        s, model = self.s, self.model
        if s.closed and not (s.enumerated or s.minimized or s.sampled or s.amortized or s.drawn):
            # every latent summed out in closed form (an RBM's F(v)): one evaluation, no rows to reduce
            F = self.energy_fn()(dict(self.vals))
            return Inference(F, {}, F)
        vals, K, R, S, log_q = self.expand()
        rows = self.batch * K * R * S
        # the given values are the same in every evaluation below: what depends on them alone is computed once
        energy = (self.energy_fn() if s.closed else model.total_energy if model.draws is not None
                  else model.hoisted(vals, set(self.vals)))
        # noise drawn n times per row, once for the whole inference (common random numbers): the
        # minimized unknowns meet one expectation, not a new one at every step
        vals.update(model.draw_noises(rows, set(vals)))
        diagnostics: dict[str, dict[str, Any]] = {}
        for v in s.sampled:
            chain0 = self._start(v.name, self.init[v.name], K, R, S) if v.name in self.init else None
            vals[v.name], diagnostics[v.name] = draw(model, v, s.resolved[v.name], vals, energy, rows, self.device,
                                                     init=chain0)
        # amortized latents: the encoder's proposal, used directly or as the start of a refinement
        proposals: dict[str, torch.Tensor] = {}
        refined: list[Variable] = []
        resolved = dict(s.resolved)
        computed = model.partial(vals) if s.amortized else {}  # the encoders' proposals
        for v in s.amortized:
            o = s.resolved[v.name]
            target = proposal_name(v, o["proposal"])
            if target not in computed:
                raise InputError(f"the proposal '{target}' for '{v.name}' needs variables that are not given")
            proposals[v.name] = computed[target]
            if int(o["refine"]) == 0:
                vals[v.name] = computed[target]  # used directly: gradients reach the encoder (003 Fig. 19)
                diagnostics[v.name] = {"method": "amortized", "refine": 0}
            else:
                refined.append(v)
                resolved[v.name] = Amortized().refining(o)
        minimized = s.minimized + refined
        fold = None
        energy_min = energy
        if minimized:
            start = {k: self._start(k, t, K, R, S) for k, t in self.init.items()}
            start.update({v.name: proposals[v.name] for v in refined})
            unroll = any(bool(resolved[v.name].options.get("unroll")) for v in minimized)
            if not s.closed and not unroll and not s.amortized and model.draws is None:
                # the functions the unknowns do not reach (e.g. the encoders) run once, with gradients;
                # the minimization and the final evaluation start from their outputs
                before, fold = model.split_plan(frozenset(v.name for v in minimized))
                vals = model.run_plan(before, vals)
                plan = fold

                def energy_min(values: dict[str, torch.Tensor]) -> torch.Tensor:
                    return model.total_energy(values, plan)
            vals, diag = minimize(model, minimized, resolved, vals, energy_min, rows, self.device, start, R, S)
            diagnostics.update(diag)
        ev = None if s.closed else model.evaluate(vals, fold)
        E = ev.total if ev is not None else energy(vals)
        # reduce Monte Carlo draws: F = -1/beta log mean_s exp(-beta E_s) / q(z_s)
        beta_mc = min((float(self.opt(v, "beta")) for v in s.drawn), default=1.0)
        per = E.reshape(self.batch, K, R, S)
        if log_q is not None:
            lw = -beta_mc * per - log_q.reshape(self.batch, K, R, S)
            per_r = -(torch.logsumexp(lw, dim=3) - math.log(S)) / beta_mc
        else:
            per_r = per[:, :, :, 0]
        # restarts of a minimization: keep the lowest
        per_k, best_r = per_r.min(dim=2) if R > 1 else (per_r[:, :, 0], None)
        # enumerated values: min, or soft-min / exact marginal with beta
        soft = [v for v in s.enumerated if s.resolved[v.name].method == "marginal" or bool(self.opt(v, "soft"))]
        if K > 1 and soft:
            beta = min(float(self.opt(v, "beta")) for v in soft)
            F = -torch.logsumexp(-beta * per_k, dim=1) / beta
            best = per_k.argmin(dim=1)  # the best enumerated configuration per sample
        else:
            F, best = per_k.min(dim=1)
        b_idx = torch.arange(self.batch, device=self.device)
        r_best = best_r[b_idx, best] if best_r is not None else 0
        rows_best = ((b_idx * K + best) * R + r_best) * S
        out = {v.name: vals[v.name][rows_best] for v in s.enumerated + minimized + s.sampled + s.amortized}
        for d in diagnostics.values():  # per-row reports, down to one per sample
            for k, t in list(d.items()):
                if isinstance(t, torch.Tensor) and t.dim() == 1 and t.shape[0] == rows:
                    d[k] = t[rows_best]
        losses = {}
        for v in refined:
            o = s.resolved[v.name]
            shape = tuple(v.domain.shape)
            h = ENERGIES[str(o["loss"])].build(Config(), [shape, shape]).to(self.device)
            losses[f"amortize.{v.name}"] = float(o["weight"]) * h(proposals[v.name][rows_best],
                                                                  out[v.name].detach())
        if ev is None:
            return Inference(F, out, E[rows_best], {}, {}, diagnostics, losses)
        if K * R * S == 1:
            return Inference(F, out, ev.total, ev.terms, ev.values, diagnostics, losses)
        picked = {k: t[rows_best] for k, t in ev.values.items()}
        terms = {k: t[rows_best] for k, t in ev.terms.items()}
        if not soft and S == 1:  # the min is the energy at the best configuration
            return Inference(F, out, F, terms, picked, diagnostics, losses)
        return Inference(F, out, ev.total[rows_best], terms, picked, diagnostics, losses)


# ------------------------------------------------------------------ public entry points
def free_energy(model: CompiledModel, given: dict[str, Any], validate: bool = True,
                infer: dict[str, Any] | None = None, init: dict[str, Any] | None = None) -> Inference:
    """F(given) with every latent eliminated by its declared method, or by the method `infer`
    chooses for it at call time. `validate=False` is for callers (the trainers) whose tensors were
    checked already."""
    return _Problem(model, given, [], init, validate=validate, infer=infer).run()


def infer(model: CompiledModel, targets: list[str], given: dict[str, Any],
          init: dict[str, Any] | None = None, methods: dict[str, Any] | None = None) -> Inference:
    """argmin over `targets` of F(given, targets) (e.g. y = argmin_y F(x, y)); `init` starts the
    minimization of chosen variables from given values (to find a particular minimum)."""
    if not targets:
        raise InputError("say which variables to infer: targets=['y']")
    return _Problem(model, given, targets, init, infer=methods).run()


def sample(model: CompiledModel, var: str, given: dict[str, Any], n_steps: int | None = None,
           init: Any = None) -> torch.Tensor:
    """Draws of `var` from exp(-beta E) given every other declared variable (Langevin or Gibbs),
    the chains started at `init` when given (else at random); the chain's settling report is in
    `model.last_sample_report`."""
    if var not in model.inputs:
        raise InputError(f"no variable '{var}' to sample; the model has {', '.join(sorted(model.inputs))}")
    others = set(model.inputs) - {var}
    vals = model.check_inputs(given, required=others, allowed=others)
    v = model.inputs[var]
    declared = dict(v.infer.options) if v.infer is not None and v.infer.method == "sample" else {}
    if n_steps is not None:
        declared["steps"] = n_steps
    o = METHODS["sample"].resolve(model.graph, v, declared)
    start = model.check_inputs({var: init}, required={var}, allowed={var})[var] if init is not None else None
    rows = next(iter(vals.values())).shape[0] if vals else (start.shape[0] if start is not None else 1)
    x, model.last_sample_report = draw(model, v, o, vals, lambda vs: model.evaluate(vs).total, rows, model._device(),
                                       init=start)
    return x
