"""Shape inference, the last pass of elaboration: every computed variable gets its shape from its
function's shape rule, in dependency order, so the Graph is complete when elaboration returns it.
Cycles through deterministic functions (no evaluation order) and shape mismatches are reported here."""

from __future__ import annotations

from .catalogue import ENERGIES, FUNCTIONS, Config, Shape, ShapeError
from .diagnostics import Reporter
from .graph import Application, Domain, EnergyTerm, Graph, NodeKey, Variable, key


def describe(g: Graph, name: str) -> str:
    """`'x' : R[4]`, the form the messages use."""
    return f"'{name}' : {g.var(name).domain}" if g.has_var(name) else f"'{name}'"


def infer_shapes(g: Graph, rep: Reporter) -> None:
    """Report cycles, then give every computed variable its shape (or report why it has none)."""
    cyclic = _cycles(g, rep)
    # outputs whose application failed to elaborate have no known shape: nothing downstream is judged
    bad: set[str] = {o.name for o in g.nodes if key(o) in cyclic and isinstance(o, Variable)}
    bad |= {v.name for v in g.variables if v.computed and g.producer(v.name) is None}
    for app in g.acyclic_order(cyclic):
        if not isinstance(app, Application):
            continue
        fdef = g.fns.get(app.fn)
        if fdef is None or any(a in bad for a in app.args):
            bad.add(app.output)
            continue
        spec = FUNCTIONS[fdef.func]
        args = [g.var(a) for a in app.args]
        if spec.discrete_input and args and args[0].domain.kind != "categorical":
            rep.error("E041", f"{fdef.func} takes a categorical variable, got {describe(g, args[0].name)}", app.span,
                      file=app.file, hint="declare the input as {k}, e.g. observed c : {10}")
            bad.add(app.output)
            continue
        cats = tuple(a.domain.k if a.domain.kind == "categorical" else None for a in args)
        shapes = [_as_real(g, rep, a, app, fdef.func) if not spec.discrete_input else a.domain.shape for a in args]
        try:
            out = spec.shape_rule(shapes, Config(fdef.args, dict(fdef.options), cats))
        except ShapeError as exc:
            shown = ", ".join(describe(g, a.name) for a in args)
            rep.error("E041", f"shape mismatch in {fdef.name}: {exc}", app.span, file=app.file,
                      notes=[f"inputs: {shown}", *g.used_from(app)], hint=_shape_hint(g, app))
            bad.add(app.output)
            continue
        g.var(app.output).domain = Domain("real", tuple(out))
    for term in g.energies:
        if any(a in bad for a in term.args):
            continue
        espec = ENERGIES[term.energy]
        shapes = [g.var(a).domain.shape if i in espec.discrete_args else _as_real(g, rep, g.var(a), term, term.energy)
                  for i, a in enumerate(term.args)]
        cats = tuple(g.var(a).domain.k if g.var(a).domain.kind == "categorical" else None for a in term.args)
        try:
            espec.shape_rule(shapes, Config((), dict(term.options), cats))
        except ShapeError as exc:
            rep.error("E042", f"shape mismatch in energy '{term.name}': {exc}", term.span, file=term.file,
                      notes=["inputs: " + ", ".join(describe(g, a) for a in term.args), *g.used_from(term)])


def _as_real(g: Graph, rep: Reporter, var: Variable, user: Application | EnergyTerm, what: str) -> Shape:
    """A categorical variable enters a part that takes real vectors as its one-hot vector R[k]
    (k-means' E = ||y - W one_hot(z)||^2); said once per use, with how to write it explicitly."""
    seen = var.domain.seen_by(indices=False)
    if var.domain.kind != "categorical":
        return seen
    g.one_hots.add((key(user), var.name))
    rep.warning("W005", f"categorical {describe(g, var.name)} enters {what} as a one-hot vector {Domain('real', seen)}",
                user.span, file=user.file,
                hint=f"write one_hot({var.name.rsplit('.', 1)[-1]}) to say so (and silence this)")
    return seen


def _cycles(g: Graph, rep: Reporter) -> set[NodeKey]:
    """A cycle through deterministic functions has no evaluation order: one error per loop."""
    found: set[NodeKey] = set()
    for cycle, loop in g.cycles():
        var_names = [n.name for n in cycle if isinstance(n, Variable)]
        path = " -> ".join(var_names + [var_names[0]])
        insts = sorted({g.cluster_of(o).split(".")[0] for o in cycle} - {""})
        if insts:  # through a sub-model: the `use` that closes the loop is where to look
            file, span = g.instance_sites.get(insts[0], (None, None))
            notes = [f"through the instance{'s' if len(insts) > 1 else ''} " + ", ".join(
                f"'{i}' ({g.instances.get(i, '?')})" for i in insts)]
        else:
            first = min(cycle, key=lambda o: (o.span.line, o.span.column) if o.span else (0, 0))
            file, span, notes = first.file, first.span, []
        rep.error("E040", f"cycle through deterministic functions: {path}", span, file=file, notes=notes,
                  hint="a function's output cannot feed back into its own input; unroll it over time "
                       "(s[t+1] = f(s[t])) or make one variable latent")
        found |= loop
    return found


def _shape_hint(g: Graph, app: Application) -> str | None:
    fdef = g.fns[app.fn]
    if fdef.func in ("mlp", "linear") and fdef.args and app.args:
        arg = g.var(app.args[0])
        if arg.domain.shape:
            return f"the first size of {fdef.name} must be {arg.domain.shape[-1]} to take '{arg.name}'"
    return None
