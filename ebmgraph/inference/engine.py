"""The inference engine: expand discrete values and Monte Carlo draws as batch rows, minimize the
continuous unknowns, then reduce (min, soft-min, log-sum-exp) back to one free energy per sample."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..check import factorizes
from ..compile import _key
from ..graph import Domain, EnergyTerm, Infer, Variable

if TYPE_CHECKING:
    from ..compile import CompiledModel

MAX_ROWS = 1 << 24
DEFAULT_MINIMIZE = Infer("minimize", (("optimizer", "lbfgs"), ("steps", 30), ("lr", 1.0)))


@dataclass
class Inference:
    """The result of `free_energy` / `infer`."""

    free_energy: torch.Tensor  # (batch,)
    values: dict[str, torch.Tensor]  # the inferred variables at the solution
    energy: torch.Tensor  # total E at the solution (batch,)
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # each weighted term at the solution
    all_values: dict[str, torch.Tensor] = field(default_factory=dict)  # every variable, computed ones too


# ------------------------------------------------------------------ domains
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


def method_of(v: Variable, targets: set[str]) -> Infer:
    if v.infer is not None:
        return v.infer
    if v.domain.discrete:
        return Infer("enumerate") if v.domain.values() ** max(v.domain.numel, 1) <= 4096 else Infer("sample")
    return DEFAULT_MINIMIZE


def linear_coefficients(model: CompiledModel, vals: dict[str, torch.Tensor], v: Variable, need_c: bool = True
                        ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """E = c + sum_i a_i u_i for a variable u every term of which is linear in each unit:
    returns (c, a), a of shape (rows, units). Uses the terms' analytic coefficients when they have
    them (bilinear, bias), autograd otherwise."""
    rows = next(iter(vals.values())).shape[0] if vals else 1
    device = model._device()
    zero = torch.zeros(rows, *v.domain.shape, device=device)
    terms = [t for t in (model.graph.node(n) for n in model.graph.nx.successors(v.name)) if isinstance(t, EnergyTerm)]
    modules = [model.energy_terms[_key(t.name[2:])] for t in terms]
    if all(hasattr(m, "coefficient") for m in modules):
        full = model.run_plan(model._plan, {**vals, v.name: zero})
        c = model.total_energy(full) if need_c else None
        a = torch.zeros(rows, max(v.domain.numel, 1), device=device)
        for t, m in zip(terms, modules, strict=True):
            w = model.weights[t.name[2:]]
            inputs = [full[x] for x in t.args]
            a = a + w * getattr(m, "coefficient")(inputs, t.args.index(v.name))  # noqa: B009
        return c, a
    with torch.enable_grad():
        u = zero.clone().requires_grad_(True)
        c = model.total_energy({**vals, v.name: u})
        g, = torch.autograd.grad(c.sum(), [u], create_graph=torch.is_grad_enabled())
    return c, g.reshape(rows, -1)


# ------------------------------------------------------------------ the engine
def _split(model: CompiledModel, unknown_names: set[str], targets: set[str]) -> tuple[Any, ...]:
    """How each unknown is eliminated; computed once per (given, targets) and cached on the model."""
    unknown = [model.inputs[n] for n in sorted(unknown_names)]
    methods = {v.name: method_of(v, targets) for v in unknown}
    factorized = [v for v in unknown if v.name not in targets and methods[v.name].method == "marginal"
                  and factorizes(model.graph, v)][:1]  # one is summed out in closed form; others enumerated
    fact = {v.name for v in factorized}
    sampled = [v for v in unknown if v.name not in fact and v.name not in targets
               and methods[v.name].method == "sample"]
    samp = {v.name for v in sampled}
    enumerated = [v for v in unknown if v.domain.discrete and v.name not in fact | samp]
    mc = [v for v in unknown if not v.domain.discrete and v.name not in targets and methods[v.name].method == "marginal"]
    mc_names = {v.name for v in mc}
    minimized = [v for v in unknown if not v.domain.discrete and v.name not in samp and v.name not in mc_names]
    return methods, factorized, sampled, enumerated, mc, minimized


class _Problem:
    def __init__(self, model: CompiledModel, given: dict[str, Any], targets: list[str],
                 init: dict[str, Any] | None = None, validate: bool = True):
        self.model = model
        allowed = set(model.inputs)
        for t in targets:
            if t not in allowed:
                from ..compile import InputError
                if t in model.graph.nx:
                    raise InputError(f"'{t}' is computed by a function; infer the variables it is computed from")
                raise InputError(f"no variable '{t}' to infer; the model has {', '.join(sorted(allowed))}")
            if t in given:
                from ..compile import InputError
                raise InputError(f"'{t}' is both given and a target; leave it out of the given values")
        self.vals = model.check_inputs(given, required=set(), allowed=allowed) if validate else dict(given)
        self.device = model._device()
        self.batch = next(iter(self.vals.values())).shape[0] if self.vals else 1
        self.targets = set(targets)
        key = (frozenset(self.vals), frozenset(self.targets))
        split = model._splits.get(key)
        if split is None:
            split = model._splits[key] = _split(model, allowed - set(self.vals), self.targets)
        self.methods, self.factorized, self.sampled, self.enumerated, self.mc, self.minimized = split
        self.init: dict[str, torch.Tensor] = {}
        for k, t in (init or {}).items():
            if k not in {v.name for v in self.minimized}:
                from ..compile import InputError
                raise InputError(f"init is for variables found by minimization; '{k}' is not one of "
                                 f"{', '.join(v.name for v in self.minimized) or 'them (there are none)'}")
            self.init[k] = model.check_inputs({k: t}, required=set(), allowed={k})[k]

    # rows: batch x enumeration x Monte Carlo draws
    def restarts(self) -> int:
        return max((int(self.methods[v.name].get("restarts", 1)) for v in self.minimized), default=1)

    def expand(self) -> tuple[dict[str, torch.Tensor], int, int, torch.Tensor | None]:
        """Rows ordered (sample, enumerated value, restart, Monte Carlo draw), the draw fastest."""
        R = self.restarts()
        K = 1
        configs: list[torch.Tensor] = []
        for v in self.enumerated:
            every = domain_values(v.domain, self.device)
            configs.append(every)
            K *= every.shape[0]
        S = max((int(self.methods[v.name].get("samples", 64)) for v in self.mc), default=1)
        rows = self.batch * K * R * S
        if rows > MAX_ROWS:
            from ..compile import InputError
            raise InputError(f"inference would evaluate {rows} rows (batch {self.batch} x {K} values x {R} restarts x "
                             f"{S} draws); the limit is {MAX_ROWS}: use a smaller batch, fewer samples or a sampler")
        inner = R * S
        vals = {k: (v.repeat_interleave(K * inner, dim=0) if K * inner > 1 else v) for k, v in self.vals.items()}
        # enumerated configurations: every combination, the last variable varying fastest
        idx = torch.arange(K, device=self.device)
        stride = K
        for v, c in zip(self.enumerated, configs, strict=True):
            stride //= c.shape[0]
            pick = (idx // stride) % c.shape[0]
            per_row = c[pick] if len(configs) > 1 else c
            if inner > 1:
                per_row = per_row.repeat_interleave(inner, dim=0)
            vals[v.name] = per_row.repeat(self.batch, *([1] * (per_row.dim() - 1)))
        log_q = None
        if self.mc:
            log_q = torch.zeros(rows, device=self.device)
            for v in self.mc:
                scale = float(self.methods[v.name].get("scale", 1.0))
                n = max(v.domain.numel, 1)
                if v.domain.box is not None:
                    lo, hi = v.domain.box
                    z = torch.rand(rows, *v.domain.shape, device=self.device) * (hi - lo) + lo
                    log_q = log_q - n * math.log(hi - lo)
                else:
                    z = torch.randn(rows, *v.domain.shape, device=self.device) * scale
                    log_q = log_q + (-0.5 * (z / scale).reshape(rows, -1).pow(2).sum(1)
                                     - n * math.log(scale * math.sqrt(2 * math.pi)))
                vals[v.name] = z
        return vals, K, S, log_q

    def energy_fn(self) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        """E of a full assignment; factorized latents summed out in closed form (002 eq. 9)."""
        model = self.model
        if not self.factorized:
            return model.total_energy

        def with_factorized(vals: dict[str, torch.Tensor]) -> torch.Tensor:
            total = None
            for v in self.factorized[:1]:
                beta = float(self.methods[v.name].get("beta", 1.0))
                c, a = linear_coefficients(model, vals, v)
                assert c is not None
                if v.domain.kind == "bits":  # sum over h_i in {0, 1} of exp(-beta a_i h_i)
                    total = c - torch.nn.functional.softplus(-beta * a).sum(1) / beta
                else:  # spins: sum over h_i in {-1, 1}: 2 cosh(beta a_i)
                    total = c - torch.logaddexp(beta * a, -beta * a).sum(1) / beta
            assert total is not None
            return total

        return with_factorized

    def run(self) -> Inference:
        vals, K, S, log_q = self.expand()
        R = self.restarts()
        rows = self.batch * K * R * S
        energy = self.energy_fn()
        fold: list[Any] | None = None
        for v in self.sampled:
            vals[v.name] = _sample_var(self.model, v, self.methods[v.name], vals, energy, rows, self.device)
        unroll = any(bool(self.methods[v.name].get("unroll", False)) for v in self.minimized)
        if self.minimized:
            for k, t in self.init.items():
                if t.shape[0] != self.batch:
                    from ..compile import InputError
                    raise InputError(f"init for '{k}' has {t.shape[0]} samples; the batch has {self.batch}")
                vals[k] = t.repeat_interleave(K * R * S, dim=0)
            amortized = any(self.methods[v.name].method == "amortized" for v in self.minimized)
            if not self.factorized and not unroll and not amortized:
                # fold: the functions the unknowns do not reach (e.g. the encoders) run once, with gradients,
                # and the minimization loop and the final evaluation start from their outputs
                before, fold = self.model.split_plan(frozenset(v.name for v in self.minimized))
                vals = self.model.run_plan(before, vals)
            vals = _minimize(self.model, self.minimized, self.methods, vals, energy, rows, self.device, unroll,
                             set(self.init), R, fold)
        ev = None if self.factorized else self.model.evaluate(vals, fold)
        E = ev.total if ev is not None else energy(vals)
        # reduce Monte Carlo draws: F = -1/beta log mean_s exp(-beta E_s) / q(z_s)
        beta_mc = min((float(self.methods[v.name].get("beta", 1.0)) for v in self.mc), default=1.0)
        per = E.reshape(self.batch, K, R, S)
        if log_q is not None:
            lw = -beta_mc * per - log_q.reshape(self.batch, K, R, S)
            per_r = -(torch.logsumexp(lw, dim=3) - math.log(S)) / beta_mc
        else:
            per_r = per[:, :, :, 0]
        # restarts of a minimization: keep the lowest
        per_k, best_r = per_r.min(dim=2) if R > 1 else (per_r[:, :, 0], None)
        # reduce enumerated values: min, or soft-min / exact marginal with beta
        soft = [v for v in self.enumerated if self.methods[v.name].method == "marginal"
                or bool(self.methods[v.name].get("soft", False))]
        if K > 1 and soft:
            beta = min(float(self.methods[v.name].get("beta", 1.0)) for v in soft)
            F = -torch.logsumexp(-beta * per_k, dim=1) / beta
            best = per_k.argmin(dim=1)  # the best enumerated configuration per sample
        else:
            F, best = per_k.min(dim=1)
        b_idx = torch.arange(self.batch, device=self.device)
        r_best = best_r[b_idx, best] if best_r is not None else 0
        rows_best = ((b_idx * K + best) * R + r_best) * S
        out = {}
        for v in self.enumerated + self.minimized + self.sampled:
            out[v.name] = vals[v.name][rows_best]
        if ev is None:
            return Inference(F, out, E[rows_best], {})
        if K * R * S == 1:
            return Inference(F, out, ev.total, ev.terms, ev.values)
        picked = {k: t[rows_best] for k, t in ev.values.items()}
        if not soft and S == 1:  # the min is the energy at the best configuration
            return Inference(F, out, F, {k: t[rows_best] for k, t in ev.terms.items()}, picked)
        return Inference(F, out, ev.total[rows_best], {k: t[rows_best] for k, t in ev.terms.items()}, picked)


def _optimizer(name: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, line_search_fn="strong_wolfe")
    return torch.optim.Adam(params, lr=lr)


def _minimize(model: CompiledModel, unknowns: list[Variable], methods: dict[str, Infer],
              vals: dict[str, torch.Tensor], energy: Callable[[dict[str, torch.Tensor]], torch.Tensor],
              rows: int, device: torch.device, unroll: bool, start: set[str] | None = None,
              restarts: int = 1, fold: list[Any] | None = None) -> dict[str, torch.Tensor]:
    """Batched per-sample minimization of E over the continuous unknowns (one optimizer, summed E)."""
    first = methods[unknowns[0].name]
    steps = int(first.get("steps", 100))
    opt_name = str(first.get("optimizer", "adam"))
    lr = float(first.get("lr", 1.0 if opt_name == "lbfgs" else 0.05))
    tol = first.get("tol")
    z: dict[str, torch.Tensor] = {}
    for v in unknowns:
        m = methods[v.name]
        warm = model._warm.get(v.name)
        if m.method == "amortized":
            proposal = _proposal(model, v, m, vals)
            refine = int(m.get("refine", 0))
            if refine == 0:
                vals[v.name] = proposal  # used directly: gradients reach the encoder (003 Fig. 19)
                continue
            z[v.name] = proposal.detach().clone()
            steps = refine
            lr = float(m.get("lr", lr))
        elif start and v.name in start:
            z[v.name] = vals[v.name].detach().clone()
        elif bool(m.get("warm_start", False)) and warm is not None and warm.shape[0] == rows:
            z[v.name] = warm.clone()
        else:
            default = "zeros" if restarts == 1 else ("uniform" if v.domain.box is not None else "randn")
            z[v.name] = initial(v.domain, rows, str(m.get("init", default)), device)
    if not z:
        return vals
    doms = {v.name: v.domain for v in unknowns}
    if unroll:
        cur = {k: t.requires_grad_(True) for k, t in z.items()}
        for _ in range(steps):
            e = energy({**vals, **cur}).sum()
            grads = torch.autograd.grad(e, list(cur.values()), create_graph=True)
            cur = {k: project(t - lr * g, doms[k]) for (k, t), g in zip(cur.items(), grads, strict=True)}
        return {**vals, **cur}
    frozen = {k: (t.detach() if t.requires_grad else t) for k, t in vals.items()}
    if fold is not None:  # what the unknowns do not change was computed once, before the loop

        def energy(vals: dict[str, torch.Tensor], after: list[Any] = fold) -> torch.Tensor:
            return model.total_energy(vals, after)
    params = [t.requires_grad_(True) for t in z.values()]
    opt = _optimizer(opt_name, params, lr)
    names = list(z)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.enable_grad():
            e = energy({**frozen, **z}).sum()
            grads = torch.autograd.grad(e, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        return e

    prev = [p.detach().clone() for p in params] if tol is not None else None
    constrained = [(n, p) for n, p in zip(names, params, strict=True)
                   if doms[n].box is not None or doms[n].sphere is not None]
    full = {**frozen, **z}  # the unknowns are updated in place, so one dict serves every step
    for step in range(steps):
        if opt_name == "lbfgs":
            opt.step(closure)  # type: ignore[arg-type]
        else:
            with torch.enable_grad():
                grads = torch.autograd.grad(energy(full).sum(), params)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            opt.step()
        if constrained:
            with torch.no_grad():
                for n, p in constrained:
                    p.copy_(project(p, doms[n]))
        if prev is not None and (step + 1) % 10 == 0:
            change = max(float((p - q).abs().max()) for p, q in zip(params, prev, strict=True))
            if change < float(tol):
                break
            prev = [p.detach().clone() for p in params]
    out = dict(vals)
    for n, p in zip(names, params, strict=True):
        out[n] = p.detach()
        if bool(methods[n].get("warm_start", False)):
            model._warm[n] = p.detach().clone()
    return out


def _proposal(model: CompiledModel, v: Variable, m: Infer, vals: dict[str, torch.Tensor]) -> torch.Tensor:
    """The encoder's proposal z~ for an amortized latent, computed from the given variables."""
    name = str(m.get("proposal"))
    prefix = v.name.rsplit(".", 1)[0] + "." if "." in v.name else ""
    target = prefix + name
    computed = model.partial(vals)
    if target not in computed:
        from ..compile import InputError
        raise InputError(f"the proposal '{target}' for '{v.name}' needs variables that are not given")
    return computed[target]


def _sample_var(model: CompiledModel, v: Variable, m: Infer, vals: dict[str, torch.Tensor],
                energy: Callable[[dict[str, torch.Tensor]], torch.Tensor], rows: int,
                device: torch.device) -> torch.Tensor:
    steps = int(m.get("steps", 100))
    beta = float(m.get("beta", 1.0))
    sampler = str(m.get("sampler", "gibbs" if v.domain.discrete else "langevin"))
    if sampler == "gibbs":
        return gibbs(energy, vals, v, rows, steps, beta, device)
    return langevin(energy, vals, v, rows, steps, float(m.get("step_size", 0.01)), beta, device)


def langevin(energy: Callable[[dict[str, torch.Tensor]], torch.Tensor], vals: dict[str, torch.Tensor],
             v: Variable, rows: int, steps: int, step_size: float, beta: float, device: torch.device,
             init: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Unadjusted Langevin dynamics x <- x - (eps/2) beta grad E + sqrt(eps) noise (002 App. A)."""
    x = (init.detach().clone() if init is not None else initial(v.domain, rows, "randn", device, generator))
    frozen = {k: t.detach() for k, t in vals.items() if k != v.name}
    noise_scale = math.sqrt(step_size)
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            g, = torch.autograd.grad(energy({**frozen, v.name: x}).sum(), [x])
        with torch.no_grad():
            noise = torch.randn(x.shape, device=device, generator=generator)
            x = project(x - 0.5 * step_size * beta * g + noise_scale * noise, v.domain)
    return x.detach()


def gibbs(energy: Callable[[dict[str, torch.Tensor]], torch.Tensor], vals: dict[str, torch.Tensor],
          v: Variable, rows: int, sweeps: int, beta: float, device: torch.device,
          init: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
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
        for _ in range(sweeps):
            for i in range(n):
                cand = x.reshape(rows, n).repeat(len(choices), 1)
                cand[:, i] = choices.repeat_interleave(rows).to(cand.dtype)
                e = energy({**frozen, v.name: cand.reshape(len(choices) * rows, *dom.shape)})
                logits = (-beta * e).reshape(len(choices), rows).T
                idx = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
                flat = x.reshape(rows, n).clone()
                flat[:, i] = choices[idx].to(flat.dtype)
                x = flat.reshape(x.shape)
    return x


def block_gibbs(model: CompiledModel, vals: dict[str, torch.Tensor], v: Variable, beta: float) -> torch.Tensor:
    """Sample every unit of a spins/bits variable at once, exact when the energy is linear in each
    unit given the rest (the RBM's p(h | v) and p(v | h), 002 sec. 5.2): E = c + sum_i a_i u_i."""
    with torch.no_grad():
        _, a = linear_coefficients(model, {k: t for k, t in vals.items() if k != v.name}, v, need_c=False)
        a = a.reshape(a.shape[0], *v.domain.shape)
    if v.domain.kind == "bits":  # p(u_i = 1) = sigmoid(-beta a_i)
        return torch.bernoulli(torch.sigmoid(-beta * a))
    return torch.bernoulli(torch.sigmoid(-2 * beta * a)) * 2 - 1  # spins: p(+1) = sigmoid(-2 beta a_i)


# ------------------------------------------------------------------ public entry points
def free_energy(model: CompiledModel, given: dict[str, Any], validate: bool = True) -> Inference:
    """F(given) with every other variable eliminated by its declared method. `validate=False` is
    for callers (the trainers) whose tensors were checked already."""
    return _Problem(model, given, [], validate=validate).run()


def infer(model: CompiledModel, targets: list[str], given: dict[str, Any],
          init: dict[str, Any] | None = None) -> Inference:
    """argmin over `targets` of F(given, targets) (e.g. y = argmin_y F(x, y)); `init` starts the
    minimization of chosen variables from given values (to find a particular minimum)."""
    if not targets:
        from ..compile import InputError
        raise InputError("say which variables to infer: targets=['y']")
    return _Problem(model, given, targets, init).run()


def sample(model: CompiledModel, var: str, given: dict[str, Any], n_steps: int | None = None) -> torch.Tensor:
    """Draws of `var` from exp(-beta E) given every other declared variable (Langevin or Gibbs)."""
    from ..compile import InputError
    if var not in model.inputs:
        raise InputError(f"no variable '{var}' to sample; the model has {', '.join(sorted(model.inputs))}")
    others = set(model.inputs) - {var}
    vals = model.check_inputs(given, required=others, allowed=others)
    v = model.inputs[var]
    m = v.infer if v.infer is not None and v.infer.method == "sample" else Infer("sample")
    if n_steps is not None:
        m = Infer("sample", tuple((k, val) for k, val in m.options if k != "steps") + (("steps", n_steps),))
    rows = next(iter(vals.values())).shape[0] if vals else 1
    return _sample_var(model, v, m, vals, lambda vs: model.evaluate(vs).total, rows, model._device())
