"""Graph IR -> torch.nn.Module: energies, free energy and inference for any split of variables.

One parameter set per `fn`, however many times it is applied (weight sharing). The graph is
evaluated in dependency order on batched tensors (batch dimension first). Energy-term weights
live in `model.weights` and can be changed at run time (the configurator, 003 sec. 3.2).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import inference
from .catalogue import ENERGIES, FUNCTIONS, Config
from .codegen import _batch, draw_noise, generate
from .diagnostics import EbmError, InputError, Span
from .graph import Application, EnergyTerm, Graph, Variable
from .graph import key as node_key

__all__ = ["CompiledModel", "Energies", "InputError", "compile"]


def _key(name: str) -> str:
    """A module-dict key for a graph name: dots and brackets are not allowed there, nor the names
    of nn.Module's own attributes (a fn called `half` or `train` is stored as `half#`)."""
    k = name.replace(".", "__").replace("[", "_").replace("]", "_")
    return k + "#" if hasattr(nn.ModuleDict, k) else k


class Parts(nn.ModuleDict):
    """The modules of the functions (or energy terms) by the names users see: `m.fns["lo.enc_x"]`,
    `m.fns["pred"]`, and `keys()`/`items()` list those names (`wm[0].pred`); the keys torch stores
    (`lo__enc_x`, in the state dict) work for lookup too."""

    def __getitem__(self, name: str) -> nn.Module:
        return super().__getitem__(_key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(_key(name))

    def _shown(self, key: str) -> str:
        return self.__dict__.setdefault("_names", {}).get(key, key)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [self._shown(k) for k in self._modules]

    def items(self) -> list[tuple[str, nn.Module]]:  # type: ignore[override]
        return [(self._shown(k), m) for k, m in self._modules.items() if m is not None]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __setitem__(self, name: str, module: nn.Module) -> None:
        key = _key(name)
        if key != name:
            self.__dict__.setdefault("_names", {})[key] = name
        super().__setitem__(key, module)
        owner = self.__dict__.get("_owner")
        if owner is not None:
            owner._generated.clear()  # the generated code bound the old module
            owner.__dict__.pop("_terms_on_cache", None)


class StandardizationWarning(UserWarning):
    """Values given to a model that standardizes them itself look standardized already."""


def _warn_if_standardized(model: Any, name: str, t: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
    """A model trained with standardize = true takes raw values (in the data's own units) and
    standardizes them with its training statistics. Values that already have mean 0 and std 1 per
    dimension, where those statistics are far from (0, 1), were most likely standardized by hand:
    they would be standardized twice, silently. Said once per variable (a batch of 16 rows or more)."""
    warned = model.__dict__.setdefault("_standardization_warned", set())
    if name in warned or t.dim() < 2 or t.shape[0] < 16:
        return
    x = t.detach().reshape(t.shape[0], -1).double()
    m, sd = mean.detach().reshape(-1).double().cpu(), std.detach().reshape(-1).double().cpu()
    if m.numel() != x.shape[1]:
        return
    looks = bool((x.mean(0).abs().cpu() < 0.15).all() and ((x.std(0).cpu() - 1).abs() < 0.15).all())
    raw_differs = bool((m.abs() > 0.5).any() or ((sd - 1).abs() > 0.5).any())
    if looks and raw_differs:
        import warnings
        warned.add(name)
        warnings.warn(f"'{name}' looks standardized already (mean 0, std 1 in every dimension), but this model "
                      f"standardizes raw values itself with its training data's statistics (mean {m[:3].tolist()}"
                      f"{'...' if m.numel() > 3 else ''}, std {sd[:3].tolist()}{'...' if sd.numel() > 3 else ''}): "
                      "give the values in the data's own units, or they are standardized twice",
                      StandardizationWarning, stacklevel=4)


def _without(plan: list[Any], off: set[str]) -> list[Any]:
    """The plan less the energy terms in `off` and every step only they need (all of it kept when
    every term is off: the total is then still a function of the inputs, zero)."""
    if all(name in off for kind, _, _, name in plan if kind == "energy"):
        return plan
    needed: set[str] = set()
    kept = []
    for step in reversed(plan):
        kind, _, args, name = step
        if (name not in off) if kind == "energy" else (name in needed):
            kept.append(step)
            needed.update(args)
    return kept[::-1]


@dataclass
class Energies:
    """Total energy per sample and each term's weighted energy (name -> tensor of shape (batch,))."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    values: dict[str, torch.Tensor] = field(default_factory=dict)  # every variable, computed ones included


class CompiledModel(nn.Module):
    """A compiled diagram: `energy`, `free_energy`, `infer`, `sample`."""

    def __init__(self, graph: Graph, backend: str | None = None):
        super().__init__()
        self.graph = graph
        self.backend = backend  # torch.compile's backend for the generated code, or None (plain Python)
        self._generated: dict[tuple[int, str, tuple[str, ...]], tuple[list[Any], Any]] = {}
        # given names -> (the steps they alone decide, the rest): lists kept, their code is cached by id
        self._hoists: dict[frozenset[str], tuple[list[Any], list[Any]]] = {}
        self.fns = Parts()
        self.energy_terms = Parts()
        self.fns.__dict__["_owner"] = self
        self.energy_terms.__dict__["_owner"] = self
        shapes = {v.name: v.domain.shape for v in graph.variables}
        cats = {v.name: v.domain.k for v in graph.variables if v.domain.kind == "categorical"}
        first_app: dict[str, Application] = {}
        for a in graph.applications:
            first_app.setdefault(a.fn, a)
        tied = [(n, f) for n, f in graph.fns.items() if f.func == "transpose"]
        for name, fdef in [(n, f) for n, f in graph.fns.items() if f.func != "transpose"] + tied:
            if fdef.shares:
                continue
            spec = FUNCTIONS[fdef.func]
            app = first_app.get(name)
            arg_shapes = [shapes[a] for a in app.args] if app else []
            options = dict(fdef.options)
            if fdef.func == "transpose":  # tied weights: the module reads the linear's weight
                options["_source"] = self.fns[_key(fdef.args[0])]
            cfg = Config(fdef.args, options, tuple(cats.get(a) for a in app.args) if app else ())
            self.fns[name] = _built(spec.build, cfg, arg_shapes, f"fn '{name}' = {fdef.func}", fdef.span,
                                          fdef.file, graph)
            if fdef.fixed:  # `fixed`: given weights (or the initial ones), never trained
                module = self.fns[_key(name)]
                if fdef.source is not None:
                    _load_fixed(module, fdef, graph)
                for p in module.parameters():
                    p.requires_grad_(False)
        self.weights: dict[str, float] = {}
        plan: list[tuple[str, Any, tuple[str, ...], str]] = []
        one_hot = {}  # (user, categorical input) -> the name of its one-hot vector
        for user, var in sorted(graph.one_hots):
            one_hot[(user, var)] = f"{var}#one_hot"
        made: set[str] = set()

        def inputs(user: Any, args: list[str]) -> tuple[str, ...]:
            out = []
            for a in args:
                alt = one_hot.get((user, a))
                if alt is not None and alt not in made:
                    plan.append(("one_hot", cats[a], (a,), alt))
                    made.add(alt)
                out.append(alt or a)
            return tuple(out)

        # noise first: drawn afresh at every evaluation (one draw per row), unless the caller gives it
        self.noises: dict[str, Variable] = {v.name: v for v in graph.variables if v.role == "noise"}
        self._noise_keys = {n: _noise_key(v) for n, v in self.noises.items()}
        for name, k in self._noise_keys.items():
            plan.append(("noise", k, (), name))
        for o in graph.topological():
            if isinstance(o, Application):
                if not o.args:  # a `param`: one tensor, the same for every sample
                    plan.append(("param", _key(o.fn), (), o.output))
                else:
                    plan.append(("apply", _key(o.fn), inputs(node_key(o), o.args), o.output))
            elif isinstance(o, EnergyTerm):
                self.energy_terms[o.name] = _built(
                    ENERGIES[o.energy].build, Config((), dict(o.options), tuple(cats.get(a) for a in o.args)),
                    [graph.var(a).domain.seen_by(i in ENERGIES[o.energy].discrete_args) for i, a in enumerate(o.args)],
                    f"energy '{o.name}' = {o.energy}", o.span, o.file, graph)
                self.weights[o.name] = o.weight
                if o.fixed:  # `fixed`: given weights (or the initial ones), never trained
                    if o.source is not None:
                        _load_fixed(self.energy_terms[o.name], o, graph)
                    for p in self.energy_terms[o.name].parameters():
                        p.requires_grad_(False)
                plan.append(("energy", _key(o.name), inputs(node_key(o), o.args), o.name))
        self._plan = plan
        # noise drawn several times per sample (`draws = n`): (n, reduce, the noise names); an
        # evaluation's energy is the mean (or max) over the draws
        many = [v for v in self.noises.values() if v.draws > 1]
        self.draws: tuple[int, str, frozenset[str]] | None = (
            (many[0].draws, many[0].reduce, frozenset(v.name for v in many)) if many else None)
        self.inputs: dict[str, Variable] = {v.name: v for v in graph.variables if not v.computed
                                            and v.role != "noise"}
        self.latent_names = [v.name for v in graph.latents()]
        self._warm: dict[str, torch.Tensor] = {}
        self.last_sample_report: dict[str, Any] = {}  # the settling report of the last `sample` call
        # inputs standardized in training, (mean, std) per variable: raw values given to energy,
        # free_energy, infer and sample are standardized the same way; kept in checkpoints
        self.standardization: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._splits: dict[Any, Any] = {}  # inference plans per (given, targets), see inference/engine.py
        self._split_plans: dict[frozenset[str], tuple[list[Any], list[Any]]] = {}

    # ------------------------------------------------------------ evaluation
    def _repr_svg_(self) -> str | None:
        """In Jupyter, a compiled model shows its diagram (its graph's drawing)."""
        return self.graph._repr_svg_()

    def extra_repr(self) -> str:
        return f"graph={self.graph.name!r}, terms={list(self.weights)}"

    def parameter_count(self, fn: str | None = None) -> int:
        mods = [self.fns[_key(fn)]] if fn else [self]
        return sum(p.numel() for m in mods for p in m.parameters())

    def term_module(self, term: str) -> nn.Module:
        """The module computing energy term `term` (unweighted)."""
        return self.energy_terms[term]

    def _device(self) -> torch.device:
        """Where the parameters are (kept until the model is moved: `.to()` goes through _apply)."""
        dev = self.__dict__.get("_device_cache")
        if dev is None:
            p = next(self.parameters(), None)
            dev = p.device if p is not None else torch.device("cpu")
            self.__dict__["_device_cache"] = dev
        return dev

    def _apply(self, fn: Any, recurse: bool = True) -> CompiledModel:
        self.__dict__["_device_cache"] = None
        out = super()._apply(fn, recurse)
        self.__dict__["_device_cache"] = None
        return out  # type: ignore[return-value]

    def check_inputs(self, values: Mapping[str, Any], required: set[str] | None = None,
                     allowed: set[str] | None = None) -> dict[str, torch.Tensor]:
        """Tensors for the given variables, after checking names, shapes, dtypes, values."""
        required = set(self.inputs) if required is None else required
        allowed = (set(self.inputs) if allowed is None else allowed) | set(self.noises)  # noise may be given
        extra = [k for k in values if k not in allowed]
        if extra:
            k = extra[0]
            close = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; the model takes {', '.join(sorted(allowed))}"
            if self.graph.has_var(k) and self.graph.var(k).computed:
                hint = "; it is computed by a function from the other variables, so it cannot be given"
            raise InputError(f"unexpected variable '{k}'{hint}")
        missing = sorted(required - set(values))
        if missing:
            parts = [f"'{m}' ({self.inputs[m].domain})" for m in missing]
            raise InputError(f"missing variable{'s' if len(missing) > 1 else ''} {', '.join(parts)}")
        out: dict[str, torch.Tensor] = {}
        batch: tuple[str, int] | None = None
        device = self._device()
        for k, v in values.items():
            var = self.inputs[k] if k in self.inputs else self.noises[k]
            try:
                t = v if isinstance(v, torch.Tensor) else torch.as_tensor(v)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise InputError(f"'{k}' must be a tensor or an array of numbers, got {type(v).__name__}: {exc}") from None
            want = var.domain.shape
            if self.draws is not None and k in self.draws[2] and t.dim() == len(want) + 2 \
                    and tuple(t.shape[1:]) == (self.draws[0], *want):
                want = (self.draws[0], *want)  # every draw of each sample given: (batch, draws, ...)
            if tuple(t.shape[1:]) != want or t.dim() != len(want) + 1:
                raise InputError(f"'{k}' must have shape (batch, {', '.join(map(str, want))}) for {var.domain}, "
                                 f"got {tuple(t.shape)}" + ("; add a batch dimension with .unsqueeze(0)"
                                                            if tuple(t.shape) == want else ""))
            if batch is None:
                batch = (k, t.shape[0])
            elif t.shape[0] != batch[1]:
                raise InputError(f"batch sizes differ: '{batch[0]}' has {batch[1]} samples, '{k}' has {t.shape[0]}")
            if t.dtype == torch.bool or t.is_complex():
                raise InputError(f"'{k}' has dtype {t.dtype}; use a float tensor (or integers for {var.domain})")
            if var.domain.kind == "categorical":
                if t.is_floating_point():
                    if not torch.all(t == t.round()):
                        raise InputError(f"'{k}' is categorical {var.domain}: its values must be integers")
                k_values = var.domain.k or 0
                if t.numel() and (t.min() < 0 or t.max() >= k_values):
                    raise InputError(f"'{k}' is categorical {var.domain}: values must be in 0..{k_values - 1}")
                t = t.long()
            else:
                t = t.to(torch.get_default_dtype()) if not t.is_floating_point() else t
                if not torch.isfinite(t).all():
                    raise InputError(f"'{k}' contains NaN or infinite values")
                if var.domain.kind == "spins" and not torch.all((t == 1) | (t == -1)):
                    raise InputError(f"'{k}' is {var.domain}: its values must be -1 or 1")
                if var.domain.kind == "bits" and not torch.all((t == 0) | (t == 1)):
                    raise InputError(f"'{k}' is {var.domain}: its values must be 0 or 1")
            if k in self.standardization:
                mean, std = self.standardization[k]
                _warn_if_standardized(self, k, t, mean, std)
                t = (t - mean.to(t.device)) / std.to(t.device)
            out[k] = t.to(device)
        return out

    def __getstate__(self) -> dict[str, Any]:
        """A copy (copy.deepcopy, pickle) generates its own code: the cached functions bind this
        model's modules."""
        state = dict(self.__dict__)
        state["_generated"] = {}
        return state

    def _code(self, plan: list[Any] | None, kind: str) -> Any:
        """The generated function of a plan (codegen.py), made once per plan and kind:
        "full" (total, terms, values), "total" (total, terms, None), "values" (no energies)."""
        plan = self._plan if plan is None else plan
        # "total" leaves out the terms of weight 0 and what only they need (a planner's critic the
        # configurator turned off costs nothing); made anew when the set of such terms changes
        off = tuple(sorted(n for n, w in self.weights.items() if w == 0.0)) if kind == "total" else ()
        hit = self._generated.get((id(plan), kind, off))
        if hit is not None and hit[0] is plan:
            return hit[1]
        fn, _ = generate(_without(plan, set(off)) if off else plan, self.fns, self.energy_terms, self.weights,
                         energies=kind != "values", device=self._device, values_out=kind != "total")
        if self.backend is not None:
            fn = torch.compile(fn, backend=self.backend, dynamic=True)
        if self.draws is not None and kind != "values":
            fn = self._over_draws(fn)
        self._generated[(id(plan), kind, off)] = (plan, fn)  # the plan is kept, so its id is not reused
        return fn

    def draw_noises(self, rows: int, given: set[str]) -> dict[str, torch.Tensor]:
        """One set of draws of the noise drawn several times a sample (`draws = n`), (rows, n, ...)
        each, for those not `given`: what inference holds through a minimization."""
        if self.draws is None:
            return {}
        n, _, names = self.draws
        return {k: draw_noise(self._noise_keys[k], rows * n, self._device()).reshape(rows, n, *self.noises[k].domain.shape)
                for k in sorted(names - given)}

    def _over_draws(self, fn: Any) -> Any:
        """An evaluation over `draws = n` of the noise: each sample's row repeated n times, the noise
        drawn for every row (or given as (batch, n, ...), as inference does to hold one set of draws
        through a minimization), and each sample's energies reduced over its draws: their mean (the
        expected energy), or the worst draw's (reduce = max). The values are the first draw's, or the
        worst's."""
        assert self.draws is not None
        n, how, names = self.draws
        dims = {k: len(self.noises[k].domain.shape) for k in names}
        limit = self.graph.limits.max_rows

        def run(values: dict[str, torch.Tensor]) -> Any:
            if all(k in values and values[k].dim() == dims[k] + 1 for k in names):
                return fn(values)  # one draw per sample, given
            rows = _batch(values)
            if rows * n > limit:
                raise InputError(f"{rows} samples x {n} draws of the noise is {rows * n} rows; the limit is max_rows "
                                 f"= {limit}: use a smaller batch or fewer draws")
            flat = {k: (v.reshape(rows * n, *v.shape[2:]) if k in names and v.dim() == dims[k] + 2
                        else v.repeat_interleave(n, 0)) for k, v in values.items()}
            total, terms, vals = fn(flat)
            per = total.reshape(rows, n)
            if how == "mean":
                pick = torch.arange(rows, device=per.device) * n
                total = per.mean(1)
                terms = {k: t.reshape(rows, n).mean(1) for k, t in terms.items()}
            else:
                total, worst = per.max(1)
                pick = torch.arange(rows, device=per.device) * n + worst
                terms = {k: t[pick] for k, t in terms.items()}
            if vals is not None:
                vals = {k: (v[pick] if v.dim() and v.shape[0] == rows * n else v) for k, v in vals.items()}
            return total, terms, vals
        return run

    def source(self, plan: list[Any] | None = None) -> str:
        """The Python code an evaluation runs (for reading, as torch.fx's GraphModule.code)."""
        return generate(self._plan if plan is None else plan, self.fns, self.energy_terms, self.weights,
                        energies=True, device=self._device)[1]

    def evaluate(self, values: dict[str, torch.Tensor], plan: list[Any] | None = None) -> Energies:
        """The fast path: no checks. Computes every variable and every weighted energy term
        (or only the steps of `plan`, when the others' results are among `values` already),
        as one generated function with no per-node dispatch."""
        total, terms, vals = self._code(plan, "full")(values)
        return Energies(total, terms, vals)

    def interpret(self, values: dict[str, torch.Tensor], plan: list[Any] | None = None) -> Energies:
        """`evaluate` step by step (the reference the generated code is tested against)."""
        vals = dict(values)
        terms: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        fns, ets, weights = self.fns, self.energy_terms, self.weights
        for kind, key, args, out in (self._plan if plan is None else plan):
            if kind == "apply":
                vals[out] = fns[key](*[vals[a] for a in args])
            elif kind != "energy":
                vals[out] = self._step(kind, key, args, vals)
            else:
                e = ets[key](*[vals[a] for a in args])
                w = weights[out]
                if w != 1.0:
                    e = e * w
                terms[out] = e
                total = e if total is None else total + e
        if total is None:
            batch = next(iter(values.values())).shape[0] if values else 1
            total = torch.zeros(batch, device=self._device())
        return Energies(total, terms, vals)

    def _step(self, kind: str, key: Any, args: tuple[str, ...], vals: dict[str, torch.Tensor]) -> torch.Tensor:
        """The rarer steps: a `param` repeated for every sample, a categorical made one-hot, noise."""
        if kind == "noise":
            return vals[key[0]] if key[0] in vals else draw_noise(key, _batch(vals), self._device())
        if kind == "param":
            value = self.fns[key]()
            return value.expand(_batch(vals), *value.shape)
        return nn.functional.one_hot(vals[args[0]].long(), key).to(torch.get_default_dtype())

    def plan_without(self, terms: set[str]) -> list[Any]:
        """The plan without the energy steps of `terms` (kept, so its generated code is reused)."""
        key = frozenset(terms)
        cache = self.__dict__.setdefault("_plans_without", {})
        plan = cache.get(key)
        if plan is None:
            plan = [s for s in self._plan if not (s[0] == "energy" and s[3] in key)]
            cache[key] = plan
        return plan

    def split_plan(self, unknown: frozenset[str]) -> tuple[list[Any], list[Any]]:
        """The plan split into what does not depend on `unknown` (computed once) and what does."""
        cached = self._split_plans.get(unknown)
        if cached is not None:
            return cached
        dependent = set(unknown)
        before, after = [], []
        for step in self._plan:
            kind, _, args, out = step
            if kind != "energy" and not dependent.intersection(args):
                before.append(step)
            else:
                after.append(step)
                if kind != "energy":
                    dependent.add(out)
        self._split_plans[unknown] = (before, after)
        return before, after

    def run_plan(self, plan: list[Any], values: dict[str, torch.Tensor], available_only: bool = False
                 ) -> dict[str, torch.Tensor]:
        """Apply the functions of a (partial) plan; energy steps are skipped, and with
        `available_only` so are functions whose inputs are not among the values."""
        if not available_only:
            return dict(self._code(plan, "values")(values))
        vals = dict(values)
        fns = self.fns
        for kind, key, args, out in plan:
            if kind != "energy" and (not available_only or all(a in vals for a in args)):
                vals[out] = fns[key](*[vals[a] for a in args]) if kind == "apply" else self._step(kind, key, args, vals)
        return vals

    def hoisted(self, values: dict[str, torch.Tensor], given: set[str]) -> Any:
        """The total energy as a function of assignments that share `values`' entries for `given`:
        what depends on the given variables alone (an observation's encoding, w * goal) is computed
        once here, and each call runs only the steps that depend on the rest (what inference loops
        differentiate, evaluated hundreds of times with the same given values)."""
        key = frozenset(given)
        split = self._hoists.get(key)
        if split is None:  # made once per set of given names
            known, pre, rest = set(given), [], []
            for step in self._plan:
                kind, _, args, name = step
                if kind != "energy" and all(a in known for a in args):
                    pre.append(step)
                    known.add(name)
                else:
                    rest.append(step)
            split = self._hoists[key] = (pre, rest)
        pre, rest = split
        if not pre:
            return self.total_energy
        fixed = self.run_plan(pre, {k: values[k] for k in given if k in values})
        extra = {k: v for k, v in fixed.items() if k not in given}
        return lambda vals: self.total_energy({**vals, **extra}, rest)

    def total_energy(self, values: dict[str, torch.Tensor], plan: list[Any] | None = None) -> torch.Tensor:
        """The total energy only (what inference loops differentiate)."""
        return self._code(plan, "total")(values)[0]

    def partial(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every variable computable from the given ones (e.g. an encoder's proposal)."""
        return self.run_plan(self._plan, values, available_only=True)

    def energy(self, **values: Any) -> Energies:
        """E(x, y, z) per sample and per term, every declared variable given (003 eq. 1)."""
        return self.evaluate(self.check_inputs(values))

    def forward(self, **values: Any) -> torch.Tensor:
        return self.energy(**values).total

    def set_weight(self, term: str, weight: float) -> None:
        """Change an energy term's weight without recompiling (the configurator, 003 sec. 3.2)."""
        if term not in self.weights:
            close = difflib.get_close_matches(term, list(self.weights), n=1)
            raise InputError(f"no energy term '{term}'" + (f"; did you mean '{close[0]}'?" if close else ""))
        if not math.isfinite(weight):
            raise InputError(f"the weight of '{term}' must be finite, got {weight}")
        self.weights[term] = float(weight)

    # ------------------------------------------------------------ inference (see inference/)
    def free_energy(self, *, methods: Any = None, init: Any = None, infer: Any = None, **given: Any) -> Any:
        """F of the given variables with every other declared variable eliminated by its method;
        `methods={"h": "sample"}` (or `{"z": ("minimize", {"steps": 50})}`) chooses one at call time,
        `init` starts a minimized or sampled unknown from given values. (`infer=` is the old name of
        `methods=`.)"""
        if infer is not None:
            import warnings
            if methods is not None:
                raise InputError("give the call-time methods once: methods={...} (infer= is its old name)")
            warnings.warn("free_energy(infer=...) is now free_energy(methods=...), the keyword infer() and "
                          "sample() take too", DeprecationWarning, stacklevel=2)
            methods = infer
        return inference.free_energy(self, given, infer=methods, init=init)

    def infer(self, targets: list[str] | str, init: dict[str, Any] | None = None,
              methods: Any = None, **given: Any) -> Any:
        """argmin over `targets` of F(given, targets); latents not given are eliminated as declared
        (or as `methods` chooses at call time: for a target, minimize or enumerate with its options,
        e.g. {"y": ("minimize", {"restarts": 8})}). `init` starts minimized or sampled unknowns
        from given values."""
        names = [targets] if isinstance(targets, str) else list(targets)
        r = inference.infer(self, names, given, init, methods)
        for k in names:  # a standardized target comes back in the data's own units
            if k in self.standardization and k in r.values:
                mean, std = self.standardization[k]
                r.values[k] = r.values[k] * std.to(r.values[k].device) + mean.to(r.values[k].device)
        return r

    def sample(self, var: str, n_steps: int | None = None, init: Any = None, **given: Any) -> torch.Tensor:
        """Samples of `var` from the Gibbs distribution exp(-beta E) given the other variables, the
        chains started at `init` when given (a Hopfield net's recall from a cue), else at random."""
        return inference.sample_variable(self, var, given, n_steps, init=init)


def _noise_key(v: Variable) -> tuple[Any, ...]:
    """A noise variable's plan key: (name, distribution, options, shape), what codegen.draw_noise takes."""
    assert v.noise is not None
    return (v.name, v.noise[0], v.noise[1], tuple(v.domain.shape))


def _built(build: Any, cfg: Config, shapes: list[tuple[int, ...]], what: str, span: Span | None, file: str | None,
           graph: Graph) -> nn.Module:
    """A part's module; a part that cannot be built is a located error, never a bare exception."""
    try:
        module = build(cfg, shapes)
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError, OverflowError, MemoryError) as exc:
        rep = graph.reporter()
        rep.error("E017", f"cannot build {what}: {type(exc).__name__}: {exc}", span, file=file,
                  hint="check its sizes and options against the catalogue (ebm show --methods lists inference options)")
        raise EbmError(rep.sorted()) from None
    if not isinstance(module, nn.Module):
        rep = graph.reporter()
        rep.error("E017", f"cannot build {what}: its factory returned {type(module).__name__}, not a module", span,
                  file=file)
        raise EbmError(rep.sorted())
    return module


def _load_fixed(module: nn.Module, fdef: Any, graph: Graph) -> None:
    """`fixed from "atoms.npy"`: the file's arrays become the function's parameters, checked against
    their names, shapes and dtype (a located error otherwise); read with allow_pickle=False."""
    import numpy as np
    part = getattr(fdef, "func", None) or fdef.energy
    params = dict(module.named_parameters())
    problem = None
    arrays: dict[str, Any] = {}
    try:
        if str(fdef.source).endswith(".npz"):
            with np.load(fdef.source, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        else:
            arr = np.load(fdef.source, allow_pickle=False)
            if len(params) != 1:
                problem = (f"a .npy gives one array, but {part} has {len(params)} parameters "
                           f"({', '.join(params)}): give a .npz with an array for each")
            arrays = {next(iter(params)): arr} if len(params) == 1 else {}
    except (OSError, ValueError) as exc:
        problem = f"cannot read '{fdef.source}': {exc}"
    if problem is None and set(arrays) != set(params):
        problem = (f"the file holds {', '.join(sorted(arrays)) or 'nothing'}; {part}'s parameters are "
                   f"{', '.join(sorted(params))}")
    for k, arr in arrays.items() if problem is None else ():
        want = tuple(params[k].shape)
        if tuple(arr.shape) != want:
            problem = f"'{k}' has shape {tuple(arr.shape)} in the file; {part} needs {want}"
            break
        if arr.dtype.kind != "f":
            problem = f"'{k}' is {arr.dtype} in the file; weights are floats"
            break
    if problem is not None:
        rep = graph.reporter()
        rep.error("E024", f"fixed weights of '{fdef.name}': {problem}", fdef.span, file=fdef.file,
                  hint="a linear(din, dout)'s weight is dout x din, as torch stores it")
        raise EbmError(rep.sorted())
    with torch.no_grad():
        for k, arr in arrays.items():
            params[k].copy_(torch.as_tensor(np.asarray(arr), dtype=params[k].dtype))


def compile(graph: Graph, backend: str | None = None) -> CompiledModel:  # noqa: A001 - mirrors torch.compile
    """A torch.nn.Module for the graph (one parameter set per fn). Its evaluations run generated
    straight-line Python; `backend="inductor"` (or another torch.compile backend) compiles that
    code further, which pays off for large models run many times (see benchmarks/)."""
    return CompiledModel(graph, backend=backend)
