"""Static checks on the complete Graph IR: inference methods, untouched latents, collapse risks (003 Fig. 10)."""

from __future__ import annotations

from .catalogue import FUNCTIONS, REGULARIZERS
from .diagnostics import Reporter
from .graph import Application, EnergyTerm, Graph, Node, NodeKey, Variable, key
from .inference.method import METHODS, resolve


def check(g: Graph, rep: Reporter, complete: bool = True) -> None:
    """Run every check on a complete graph; report into `rep` (errors and warnings). Reads only.

    `complete=False` means elaboration already failed somewhere, so the graph misses the
    statements that failed: the checks that look for what is absent are skipped then.
    """
    _inference(g, rep)
    if complete:
        _untouched_latents(g, rep)
    if not rep.has_errors:
        _collapse_warnings(g, rep)


def _untouched_latents(g: Graph, rep: Reporter) -> None:
    touching: set[str] = set()
    for t in g.energies:  # every variable some term depends on
        touching |= {o.name for o in g.upstream(t) if isinstance(o, Variable)}
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
    reverse breadth-first search)."""
    seen: dict[NodeKey, bool] = {key(start): False}
    frontier: list[tuple[Node, bool]] = [(start, False)]
    for _ in range(LOCAL_DEPTH):
        nxt = []
        for o, trained in frontier:
            trained = trained or (isinstance(o, Application) and o.fn in g.fns
                                   and FUNCTIONS[g.fns[o.fn].func].trainable)
            for p in g.inputs_of(o):
                k = key(p)
                if k not in seen or (trained and not seen[k]):
                    seen[k] = trained
                    nxt.append((p, trained))
        frontier = nxt
    return {name: t for (kind, name), t in seen.items() if kind == "variable"}


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
    for z in g.latents():
        if z.domain.discrete or z.name in alone:
            continue
        feeds_z = _upstream(g, z)  # a latent computed from y does not reproduce y by itself
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
