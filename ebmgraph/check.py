"""Static checks on the Graph IR: shape inference, cycles, untouched latents, collapse risks (003 Fig. 10)."""

from __future__ import annotations

import math

import networkx as nx

from .catalogue import ENERGIES, FUNCTIONS, INFO_MAXIMIZING, Config, ShapeError, fmt_shape
from .diagnostics import Reporter
from .graph import Application, Domain, EnergyTerm, Graph, Variable

MAX_ENUMERATION = 1 << 20


def _desc(g: Graph, name: str) -> str:
    v = g.node(name)
    return f"'{name}' : {v.domain}" if isinstance(v, Variable) else f"'{name}'"


def check(g: Graph, rep: Reporter, complete: bool = True) -> None:
    """Run every check; report into `rep` (errors and warnings).

    `complete=False` means elaboration already failed somewhere, so the graph misses the
    statements that failed: the checks that look for what is absent are skipped then.
    """
    _shapes(g, rep, _cycles(g, rep))
    _inference(g, rep)
    if complete:
        _untouched_latents(g, rep)
    if not rep.has_errors:
        _collapse_warnings(g, rep)


def _cycles(g: Graph, rep: Reporter) -> set[str]:
    """A cycle through deterministic functions has no evaluation order: report one per loop.

    Returns the nodes on cycles, which shape inference then leaves out."""
    found: set[str] = set()
    if nx.is_directed_acyclic_graph(g.nx):
        return found
    compute = g.nx  # energy terms have no outgoing edges, so they are never on a cycle
    comps = sorted((sorted(c) for c in nx.strongly_connected_components(compute)), key=lambda c: c[0])
    for comp in comps:
        if len(comp) < 2 and not compute.has_edge(comp[0], comp[0]):
            continue
        start = min(n for n in comp if isinstance(g.node(n), Variable))
        cycle = nx.find_cycle(compute.subgraph(comp), source=start)
        names = [u for u, _ in cycle]
        var_names = [n for n in names if isinstance(g.node(n), Variable)]
        path = " -> ".join(var_names + [var_names[0]])
        first = min((g.node(n) for n in names), key=lambda o: (o.span.line, o.span.column) if o.span else (0, 0))
        rep.error("E040", f"cycle through deterministic functions: {path}", first.span, file=first.file,
                  hint="a function's output cannot feed back into its own input; unroll it over time "
                       "(s[t+1] = f(s[t])) or make one variable latent")
        found |= set(comp)
    return found


def _shapes(g: Graph, rep: Reporter, cyclic: set[str]) -> None:
    # outputs whose application failed to elaborate have no known shape: nothing downstream is judged
    bad: set[str] = set(cyclic) | {v.name for v in g.variables if v.computed and g.producer(v.name) is None}
    acyclic = g.nx.subgraph([n for n in g.nx.nodes if n not in cyclic])
    for name in nx.lexicographical_topological_sort(acyclic):
        app = g.node(name)
        if not isinstance(app, Application):
            continue
        fdef = g.fns[app.fn] if app.fn in g.fns else None
        if fdef is None:
            bad.add(app.output)
            continue
        spec = FUNCTIONS[fdef.func]
        args = [g.node(a) for a in app.args]
        if any(a.name in bad for a in args):
            bad.add(app.output)
            continue
        shapes = [a.domain.shape for a in args if isinstance(a, Variable)]
        if spec.discrete_input and isinstance(args[0], Variable) and args[0].domain.kind != "categorical":
            rep.error("E041", f"{fdef.func} takes a categorical variable, got {_desc(g, args[0].name)}", app.span,
                      file=app.file, hint="declare the input as {k}, e.g. observed c : {10}")
            bad.add(app.output)
            continue
        try:
            out = spec.shape_rule(shapes, Config(fdef.args, dict(fdef.options)))
        except ShapeError as exc:
            shown = ", ".join(_desc(g, a.name) for a in args)
            rep.error("E041", f"shape mismatch in {fdef.name}: {exc}", app.span, file=app.file,
                      notes=[f"inputs: {shown}", *g.used_from(app.name)], hint=_shape_hint(g, app, str(exc)))
            bad.add(app.output)
            continue
        var = g.node(app.output)
        assert isinstance(var, Variable)
        var.domain = Domain("real", tuple(out))
    for term in g.energies:
        args = [g.node(a) for a in term.args]
        if any(a.name in bad for a in args):
            continue
        espec = ENERGIES[term.energy]
        try:
            espec.shape_rule([a.domain.shape for a in args if isinstance(a, Variable)], Config((), dict(term.options)))
        except ShapeError as exc:
            rep.error("E042", f"shape mismatch in energy '{term.name[2:]}': {exc}", term.span, file=term.file,
                      notes=["inputs: " + ", ".join(_desc(g, a.name) for a in args), *g.used_from(term.name)])


def _shape_hint(g: Graph, app: Application, msg: str) -> str | None:
    fdef = g.fns[app.fn]
    if fdef.func in ("mlp", "linear") and fdef.args and app.args:
        arg = g.node(app.args[0])
        if isinstance(arg, Variable) and arg.domain.shape:
            return (f"the first size of {fdef.name} must be {arg.domain.shape[-1]} to take "
                    f"'{arg.name}'")
    return None


def _untouched_latents(g: Graph, rep: Reporter) -> None:
    # one backward sweep from every energy term: the nodes that reach some term
    touching: set[str] = set()
    frontier = [t.name for t in g.energies]
    while frontier:
        n = frontier.pop()
        for p in g.nx.predecessors(n):
            if p not in touching:
                touching.add(p)
                frontier.append(p)
    for v in g.latents():
        if v.name not in touching:
            rep.error("E043", f"latent '{v.name}' is not touched by any energy term, so nothing determines it",
                      v.span, file=v.file, hint=f"add an energy term that uses {v.name} (directly or through a "
                      "function), or remove it")


FACTORIZING = {"bilinear", "bias", "l1", "l2"}


def factorizes(g: Graph, v: Variable) -> bool:
    """Whether every term on a spins/bits latent is linear in each unit, so it can be summed out unit by unit."""
    if v.domain.kind not in ("spins", "bits"):
        return False
    terms = g.energies_touching(v.name)
    return all(t.energy in FACTORIZING and v.name in t.args and t.args.count(v.name) == 1 for t in terms) and all(
        isinstance(g.node(s), EnergyTerm) for s in g.nx.successors(v.name))


def _inference(g: Graph, rep: Reporter) -> None:
    for v in g.variables:
        if v.infer is None:
            continue
        m, dom = v.infer.method, v.domain
        if m == "enumerate" or (m == "marginal" and dom.discrete):
            if not dom.discrete:
                rep.error("E044", f"latent '{v.name}' is continuous ({dom}); it cannot be enumerated", v.span,
                          file=v.file, hint="use infer minimize(...) or infer marginal(...) for real latents")
                continue
            count = dom.values() ** max(dom.numel, 1) if dom.numel < 64 else math.inf
            if m == "marginal" and factorizes(g, v):
                continue  # summed out in closed form, unit by unit (002 eq. 9)
            if count > MAX_ENUMERATION:
                rep.error("E044", f"enumerating latent '{v.name}' means {count} values; the limit is "
                          f"{MAX_ENUMERATION}", v.span, file=v.file,
                          hint="use infer sample(sampler = gibbs) for large discrete latents")
        if m == "minimize" and dom.discrete:
            rep.error("E044", f"latent '{v.name}' is discrete ({dom}); gradient minimization needs reals", v.span,
                      file=v.file, hint="use infer enumerate or infer sample(sampler = gibbs)")
        if m == "sample":
            sampler = v.infer.get("sampler", "gibbs" if dom.discrete else "langevin")
            if sampler == "langevin" and dom.discrete:
                rep.error("E044", f"Langevin dynamics needs a continuous latent; '{v.name}' is {dom}", v.span,
                          file=v.file, hint="use sampler = gibbs")
            if sampler == "gibbs" and dom.kind not in ("spins", "bits", "categorical"):
                rep.error("E044", f"Gibbs sampling needs a discrete latent; '{v.name}' is {dom}", v.span,
                          file=v.file, hint="use sampler = langevin")
        if m == "amortized":
            prop = v.infer.get("proposal")
            prefix = v.name.rsplit(".", 1)[0] + "." if "." in v.name else ""
            target = prefix + str(prop) if prop is not None else None
            if target is None or target not in g.nx:
                rep.error("E045", f"amortized inference of '{v.name}' needs proposal = <variable computed by an "
                          "encoder>", v.span, file=v.file, hint="e.g. zhat = enc_z(x) and infer amortized("
                          "proposal = zhat)")
                continue
            pv = g.node(target)
            if isinstance(pv, Variable) and pv.domain.shape != dom.shape and not rep.has_errors:
                rep.error("E045", f"proposal '{target}' has shape {fmt_shape(pv.domain.shape)} but latent "
                          f"'{v.name}' is {dom}", v.span, file=v.file)
            if isinstance(pv, Variable) and v.name in nx.ancestors(g.nx, target):
                rep.error("E045", f"proposal '{target}' depends on '{v.name}' itself", v.span, file=v.file,
                          hint="the encoder must compute the proposal from observed variables")


LOCAL_DEPTH = 12  # the collapse patterns of Fig. 10 are local: encoders and predictors a few steps deep


def _upstream(g: Graph, name: str) -> dict[str, bool]:
    """Nodes within LOCAL_DEPTH steps upstream of `name`, each with whether the way from it to
    `name` passes through a trainable function (a bounded reverse breadth-first search)."""
    seen: dict[str, bool] = {name: False}
    frontier = [(name, False)]
    for _ in range(LOCAL_DEPTH):
        nxt = []
        for n, trained in frontier:
            o = g.node(n)
            trained = trained or (isinstance(o, Application) and o.fn in g.fns
                                   and FUNCTIONS[g.fns[o.fn].func].trainable)
            for p in g.nx.predecessors(n):
                if p not in seen or (trained and not seen[p]):
                    seen[p] = trained
                    nxt.append((p, trained))
        frontier = nxt
    return seen


def _declared_inputs(g: Graph, name: str) -> set[str]:
    """The declared (not computed) variables a node depends on, within LOCAL_DEPTH steps."""
    out = set()
    for n in _upstream(g, name):
        o = g.node(n)
        if isinstance(o, Variable) and not o.computed:
            out.add(n)
    return out


def _collapse_warnings(g: Graph, rep: Reporter) -> None:
    """Warnings for the collapse risks of 003 Fig. 10 (b: latent too large, c: AE code too large, d: JEPA)."""
    regularized: set[str] = set()
    for r in g.regularizers.values():
        if r.method in INFO_MAXIMIZING:
            regularized.update(r.args)
    terms = g.energies
    deps = {t.name: _declared_inputs(g, t.name) for t in terms}
    alone = {next(iter(s)) for s in deps.values() if len(s) == 1}  # R(z): a term on one variable only
    terms_of: dict[str, list[EnergyTerm]] = {}
    for t in terms:
        for n in deps[t.name]:
            terms_of.setdefault(n, []).append(t)
    # (b) a latent as large as its target with no regularizing term
    for z in g.latents():
        if z.domain.discrete or z.name in alone:
            continue
        feeds_z = _upstream(g, z.name)  # a latent computed from y does not reproduce y by itself
        for t in terms_of.get(z.name, []):
            targets = [g.var(y) for y in deps[t.name] if y != z.name and g.var(y).role == "observed"]
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
            if y_name not in _upstream(g, rec_name) or any(g.var(n).role == "latent" for n in
                                                            _declared_inputs(g, rec_name)):
                continue
            path = nx.shortest_path(g.nx, y_name, rec_name)
            codes = [g.var(n) for n in path[1:-1] if isinstance(g.node(n), Variable)]
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
        ins_a, ins_b = _declared_inputs(g, a), _declared_inputs(g, b)
        obs_a = {n for n in ins_a if g.var(n).role == "observed"}
        obs_b = {n for n in ins_b if g.var(n).role == "observed"}
        if not obs_a or not obs_b or obs_a & obs_b:
            continue
        up_a, up_b = _upstream(g, a), _upstream(g, b)
        if not (any(up_a[x] for x in obs_a) and any(up_b[y] for y in obs_b)):
            continue
        if (set(up_a) | set(up_b)) & regularized:
            continue
        rep.warning("W002", f"energy '{t.name[2:]}' compares two embeddings of different inputs; with no "
                    "information-maximizing or contrastive term both encoders can output a constant "
                    "(collapse, 003 Fig. 10d)", t.span, file=t.file,
                    hint=(f"add: regularize V = vicreg({a}, {b}), or train with a contrastive loss"
                          if not (g.var(a).anonymous or g.var(b).anonymous) else
                          "name the two embeddings (sx = enc_x(x), sy = enc_y(y)) and add "
                          "regularize V = vicreg(sx, sy), or train with a contrastive loss"))
