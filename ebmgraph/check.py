"""Static checks on the complete Graph IR: inference methods, untouched latents, collapse risks (003 Fig. 10)."""

from __future__ import annotations

from typing import Any

from .catalogue import ENERGIES, FUNCTIONS, REGULARIZERS, Config
from .diagnostics import Reporter
from .graph import Application, EnergyTerm, FnDef, Graph, Node, NodeKey, Variable, key
from .inference.enumerate import count
from .inference.marginal import factorizes
from .inference.method import METHODS, resolve
from .inference.minimize import group_key


def check(g: Graph, rep: Reporter, complete: bool = True) -> None:
    """Run every check on a complete graph; report into `rep` (errors and warnings). Reads only.

    `complete=False` means elaboration already failed somewhere, so the graph misses the
    statements that failed: the checks that look for what is absent are skipped then.
    """
    _inference(g, rep)
    _work(g, rep)
    _unbounded_below(g, rep)
    if complete:
        _untouched_latents(g, rep)
        _unapplied(g, rep)
    if not rep.has_errors:
        _collapse_warnings(g, rep)


def estimate(g: Graph) -> dict[str, Any]:
    """Parameters and memory per sample, from the catalogue's cost rules, before anything is built.

    Memory per sample: 4 bytes for every value of every variable and every intermediate a function
    reports (attention maps, hidden layers), doubled for gradients, times the rows one sample becomes
    in inference (enumerated values x restarts x Monte Carlo draws)."""
    params: dict[str, tuple[int, FnDef | EnergyTerm]] = {}
    floats: dict[str, tuple[int, Node]] = {}
    for v in g.variables:
        floats[f"variable '{v.name}'"] = (v.domain.numel, v)
    by_fn: dict[str, list[Application]] = {}
    for a in g.applications:
        by_fn.setdefault(a.fn, []).append(a)
    for fdef in g.fns.values():
        spec = FUNCTIONS.get(fdef.func)
        if fdef.shares or spec is None or spec.cost is None:
            continue
        apps = by_fn.get(fdef.name, [])
        cfg = Config(fdef.args, dict(fdef.options))
        costs = [spec.cost(cfg, [g.var(x).domain.seen_by(spec.discrete_input) for x in a.args], g.var(a.output).domain.shape)
                 for a in apps]
        params[f"fn '{fdef.name}' = {fdef.func}{fdef.args}"] = (costs[0][0] if costs else spec.cost(cfg, [], ())[0],
                                                                 fdef)
        for a, (_, extra) in zip(apps, costs, strict=True):
            if extra:
                floats[f"{fdef.func} computing '{a.output}'"] = (extra, a)
    for t in g.energies:
        espec = ENERGIES.get(t.energy)
        if espec is not None and espec.cost is not None:
            n = espec.cost(Config((), dict(t.options)), [g.var(x).domain.seen_by(i in espec.discrete_args)
                                                         for i, x in enumerate(t.args)], ())[0]
            params[f"energy '{t.name}' = {t.energy}"] = (n, t)
    # one pass over the latents (what free_energy eliminates): the rows a sample becomes (enumerated
    # values x restarts x draws), and the plan evaluations of one call, once per step of every
    # minimization group and sampler (a Gibbs sweep visits every unit)
    rows = restarts = draws = 1
    passes: dict[str, tuple[int, Node]] = {}
    groups: set[tuple[Any, ...]] = set()  # latents with equal settings are minimized together
    for v in g.latents():
        r = resolve(g, v)
        if r.method == "enumerate" or (r.method == "marginal" and v.domain.discrete and not factorizes(g, v)):
            rows *= int(min(count(v), 1 << 62))
        restarts = max(restarts, int(r.options.get("restarts", 1)))
        if r.method == "marginal" and not v.domain.discrete:
            draws = max(draws, int(r.options["samples"]))
        n = 0
        if r.method == "minimize":
            key = group_key(r)
            if key not in groups:
                groups.add(key)
                n = int(r.options["steps"]) * (2 if r.options["optimizer"] in ("ista", "fista") else 1)
        elif r.method == "amortized":
            n = int(r.options["refine"])
        elif r.method == "sample":
            n = int(r.options["steps"]) * (max(v.domain.numel, 1) if r.options["sampler"] == "gibbs" else 1)
        if n:
            passes[v.name] = (n, v)
    rows *= restarts * draws
    parts = len(g.applications) + len(g.energies)
    total = sum(n for n, _ in floats.values())
    return {"params": sum(n for n, _ in params.values()), "param_parts": params, "floats": floats, "rows": rows,
            "sample_mb": 4 * 2 * total * rows / 2**20, "passes": passes,
            "work": parts * (1 + sum(n for n, _ in passes.values()))}


def _work(g: Graph, rep: Reporter) -> None:
    """Refuse a model whose parameters or memory per sample exceed the limits, located at its biggest part."""
    lim = g.limits
    est = estimate(g)
    if est["params"] > lim.max_params:
        part, (n, where) = max(est["param_parts"].items(), key=lambda kv: kv[1][0])
        span, file = where.span, where.file
        rep.error("E023", f"model {g.name} has {est['params']:,} parameters ({est['params'] * 4 / 2**20:,.3g} MB of "
                  f"float32), more than the limit max_params = {lim.max_params:,}", span, file=file,
                  notes=[f"the largest: {part} with {n:,}"], hint=lim.how_to_raise("max_params"),
                  fields={"limit": "max_params", "expected": lim.max_params, "got": est["params"]})
    if est["sample_mb"] > lim.max_sample_mb:
        what, (n, node) = max(est["floats"].items(), key=lambda kv: kv[1][0])
        rows = f" x {est['rows']:,} rows (enumerated values x restarts x draws)" if est["rows"] > 1 else ""
        rep.error("E023", f"model {g.name} needs about {est['sample_mb']:,.0f} MB per sample{rows}, more than the "
                  f"limit max_sample_mb = {lim.max_sample_mb:g}", node.span, file=node.file,
                  notes=[f"the largest: {what} with {n:,} values per sample"], hint=lim.how_to_raise("max_sample_mb"),
                  fields={"limit": "max_sample_mb", "expected": lim.max_sample_mb, "got": round(est["sample_mb"], 1)})
    if est["work"] > lim.max_work and est["passes"]:
        name, (n, v) = max(est["passes"].items(), key=lambda kv: kv[1][0])
        rep.error("E023", f"inferring model {g.name} evaluates its {len(g.applications) + len(g.energies):,} functions "
                  f"and energies about {est['work']:,} times per call, more than the limit max_work = "
                  f"{lim.max_work:,}", v.span, file=v.file, notes=[f"the most: '{name}' with {n:,} passes"],
                  hint="fewer steps or a smaller unrolled model, or " + lim.how_to_raise("max_work"),
                  fields={"limit": "max_work", "expected": lim.max_work, "got": est["work"]})


def _unapplied(g: Graph, rep: Reporter) -> None:
    applied = {a.fn for a in g.applications}
    for f in g.fns.values():
        spec = FUNCTIONS.get(f.func)
        if f.name not in applied and not f.shares and spec is not None and spec.trainable and f.span is not None:
            rep.warning("W004", f"fn '{f.name}' is declared but never applied: its parameters take no part in any "
                        "energy and are not trained", f.span, file=f.file, hint=f"apply it (y = {f.name}(x)) or remove it")


# energies that are >= 0 and grow without bound in their inputs; functions through which an
# unbounded input stays unbounded (a bounded one, tanh or sigmoid, keeps -w * E bounded)
_GROWING = {"sq_dist", "dist", "l1", "l2", "gauss_diag"}
_UNBOUNDED_THROUGH = {"identity", "linear", "transpose", "cat", "sub", "sum", "scale", "mul", "flatten", "square",
                      "exp", "softplus", "relu", "one_hot", "mlp"}


def _unbounded_below(g: Graph, rep: Reporter) -> None:
    """A term with a negative weight on a growing energy of an unconstrained real latent lets the
    minimization run to infinity: E -> -inf (a weight set through a parameter is judged too)."""
    for t in g.energies:
        if t.weight >= 0 or t.energy not in _GROWING:
            continue
        reached: list[str] = []
        stack, seen = list(t.args), set()
        while stack:
            name = stack.pop()
            if name in seen or not g.has_var(name):
                continue
            seen.add(name)
            v = g.var(name)
            if v.role == "latent" and v.domain.kind == "real" and v.domain.box is None and v.domain.sphere is None:
                reached.append(name)
            app = g.producer(name)
            if app is not None and app.fn in g.fns and g.fns[app.fn].func in _UNBOUNDED_THROUGH:
                stack.extend(app.args)
        if reached:
            z = sorted(reached)[0]
            rep.warning("W006", f"energy '{t.name}' has weight {t.weight:g} on {t.energy}, which grows without bound "
                        f"in latent '{z}': unless another term grows faster, the energy is unbounded below and "
                        f"minimizing '{z}' runs to infinity",
                        t.span, file=t.file, hint=f"make the weight positive, or bound the latent: latent {z} : "
                        f"{g.var(z).domain} in box(-1, 1)")


def _untouched_latents(g: Graph, rep: Reporter) -> None:
    touching = {name for kind, name in g.upstream_of_all(list(g.energies)) if kind == "variable"}
    for v in g.latents():
        if v.name not in touching:
            rep.error("E043", f"latent '{v.name}' is not touched by any energy term, so nothing determines it",
                      v.span, file=v.file, hint=f"add an energy term that uses {v.name} (directly or through a "
                      "function), or remove it")


def _inference(g: Graph, rep: Reporter) -> None:
    """Each declared method checks its own use (inference/method.py's table)."""
    for v in g.variables:
        if v.infer is None or v.infer.method not in METHODS:
            continue

        def report(code: str, message: str, hint: str | None, v: Variable = v) -> None:
            rep.error(code, message, v.span, file=v.file, hint=hint, notes=g.used_from(v))

        METHODS[v.infer.method].check(g, v, resolve(g, v), report)


LOCAL_DEPTH = 12  # the collapse patterns of Fig. 10 are local: encoders and predictors a few steps deep


def _upstream(g: Graph, start: Node) -> dict[str, bool]:
    """Variables within LOCAL_DEPTH steps upstream of `start` (itself included when a variable),
    each with whether the way from it to `start` passes through a trainable function (a bounded
    reverse breadth-first search, on node keys: it runs once per energy term)."""
    trainable = _trainable_apps(g)
    seen: dict[NodeKey, bool] = {key(start): False}
    frontier: list[tuple[NodeKey, bool]] = [(key(start), False)]
    for _ in range(LOCAL_DEPTH):
        nxt = []
        for k0, trained in frontier:
            trained = trained or k0 in trainable
            for k in g.input_keys(k0):
                if k not in seen or (trained and not seen[k]):
                    seen[k] = trained
                    nxt.append((k, trained))
        frontier = nxt
    return {name: t for (kind, name), t in seen.items() if kind == "variable"}


def _trainable_apps(g: Graph) -> frozenset[NodeKey]:
    """The keys of the applications of a trainable function (kept on the graph while it is unchanged)."""
    cached = g.cache.get("trainable_apps")
    if cached is None:
        cached = frozenset(key(o) for o in g.applications
                           if o.fn in g.fns and FUNCTIONS[g.fns[o.fn].func].trainable)
        g.cache["trainable_apps"] = cached
    return cached  # type: ignore[no-any-return]


def _declared_inputs(g: Graph, start: Node) -> set[str]:
    """The declared (not computed) variables a node depends on, within LOCAL_DEPTH steps."""
    return {n for n in _upstream(g, start) if not g.var(n).computed}


def _collapse_warnings(g: Graph, rep: Reporter) -> None:
    """Warnings for the collapse risks of 003 Fig. 10 (b: latent too large, c: AE code too large, d: JEPA)."""
    regularized: set[str] = set()
    for r in g.regularizers.values():
        if REGULARIZERS[r.method].info_maximizing:
            regularized.update(r.args)
    terms = g.energies
    deps = {t.name: _declared_inputs(g, t) for t in terms}
    alone = {next(iter(s)) for s in deps.values() if len(s) == 1}  # R(z): a term on one variable only
    terms_of: dict[str, list[EnergyTerm]] = {}
    for t in terms:
        for n in deps[t.name]:
            terms_of.setdefault(n, []).append(t)
    # (b) a latent as large as its target with no regularizing term
    names = {v.name for v in g.variables}
    for z in g.latents():
        if z.domain.discrete or z.name in alone:
            continue
        feeds_z = _upstream(g, z)  # a latent computed from y does not reproduce y by itself
        for t in terms_of.get(z.name, []):
            # the targets: observed variables on the side of the comparison z does not reach
            # (in D(y, Pred(x, z)), y; x feeds the prediction beside z and is not reproduced)
            sides = [_declared_inputs(g, g.var(a)) for a in t.args if a in names]
            apart = set().union(*(s for s in sides if z.name not in s)) if len(sides) > 1 else deps[t.name]
            targets = [g.var(y) for y in sorted(apart) if y != z.name and g.var(y).role == "observed"]
            for y in targets:
                if y.name in feeds_z:
                    continue
                if z.domain.numel >= y.domain.numel:
                    rep.warning("W001", f"latent '{z.name}' has {z.domain.numel} dimensions, as many as its target "
                                f"'{y.name}' ({y.domain.numel}), and no energy term regularizes it: the energy can "
                                "be made zero everywhere (collapse, 003 Fig. 10b)", z.span, file=z.file,
                                hint=f"add a regularizer such as energy R = 0.1 * l1({z.name}), or make "
                                f"'{z.name}' smaller")
                    break
            else:
                continue
            break
    # (c) auto-encoder whose code is as large as its input
    for t in terms:
        if t.energy not in ("sq_dist", "cosine") or len(t.args) != 2:
            continue
        for y_name, rec_name in (t.args, t.args[::-1]):
            y = g.var(y_name)
            if y.computed or y.role != "observed":
                continue
            rec = g.var(rec_name)
            if y_name not in _upstream(g, rec) or any(g.var(n).role == "latent" for n in _declared_inputs(g, rec)):
                continue
            codes = [n for n in g.path(y, rec)[1:-1] if isinstance(n, Variable)]
            if codes:
                code = min(codes, key=lambda c: c.domain.numel)
                if code.domain.numel >= y.domain.numel and not any(deps[u.name] == {code.name} or code.name in
                                                                   regularized for u in terms):
                    rep.warning("W003", f"auto-encoder code '{code.name}' ({code.domain.numel} dims) is as large as "
                                f"its input '{y_name}' ({y.domain.numel}): the identity reconstructs everything "
                                "and the energy is flat (collapse, 003 Fig. 10c)", code.span, file=code.file,
                                hint="make the code smaller than the input, or add a sparsity term on it")
    # (d) joint embedding with no information-maximizing or contrastive term
    for t in terms:
        if t.energy not in ("sq_dist", "cosine") or len(t.args) != 2:
            continue
        a, b = t.args
        ins_a, ins_b = _declared_inputs(g, g.var(a)), _declared_inputs(g, g.var(b))
        obs_a = {n for n in ins_a if g.var(n).role == "observed"}
        obs_b = {n for n in ins_b if g.var(n).role == "observed"}
        if not obs_a or not obs_b or obs_a & obs_b:
            continue
        up_a, up_b = _upstream(g, g.var(a)), _upstream(g, g.var(b))
        if not (any(up_a[x] for x in obs_a) and any(up_b[y] for y in obs_b)):
            continue
        if (set(up_a) | set(up_b)) & regularized:
            continue
        rep.warning("W002", f"energy '{t.name}' compares two embeddings of different inputs; with no "
                    "information-maximizing or contrastive term both encoders can output a constant "
                    "(collapse, 003 Fig. 10d)", t.span, file=t.file,
                    hint=(f"add: regularize V = vicreg({a}, {b}), or train with a contrastive loss"
                          if not (g.var(a).anonymous or g.var(b).anonymous) else
                          "name the two embeddings (sx = enc_x(x), sy = enc_y(y)) and add "
                          "regularize V = vicreg(sx, sy), or train with a contrastive loss"))
