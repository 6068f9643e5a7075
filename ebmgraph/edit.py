"""Edits on a program as a canvas makes them: add, connect, disconnect, delete, rename.

The canvas shows the template level of a model (a loop's body once, a sub-model instance as one
folded node), so edits change the declarations, and the text is printed again by the canonical
printer: comments, loops, imports and parameters survive. An edit that breaks a rule (energy to
energy, a cycle through deterministic functions, a shape mismatch) is refused with the rule's name
and the offending nodes, and the program is left as it was.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from . import decls as d
from .catalogue import ENERGIES, FUNCTIONS
from .diagnostics import Diagnostic, EbmError
from .frontend import analyze
from .printer import dumps_file

# the kinds of diagnostic (diagnostics.CODES) that refuse an edit; others are a diagram still being drawn
REFUSING = {"cycle", "shape_mismatch", "duplicate", "unknown_variable", "unknown_part", "syntax"}
RULES = {"cycle": "cycle through deterministic functions", "shape_mismatch": "shape mismatch",
         "arity": "too many inputs"}
PRIORITY = ["cycle", "shape_mismatch", "duplicate", "unknown_variable", "unknown_part", "arity", "syntax"]
NodeKind = Literal["observed", "latent", "noise", "computed", "function", "energy", "submodel"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


class EditError(ValueError):
    """An edit the diagram's rules refuse; `rule` names the rule, `nodes` the offending canvas nodes."""

    def __init__(self, rule: str, message: str, nodes: list[str] | None = None,
                 diagnostics: list[Diagnostic] | None = None):
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.nodes = nodes or []
        self.diagnostics = diagnostics or []


@dataclass
class CanvasNode:
    id: str
    kind: NodeKind
    label: str
    detail: str = ""  # domain, function, weight, loop


@dataclass
class CanvasGraph:
    nodes: dict[str, CanvasNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (source, target)


def _base(name: str) -> str:
    return name.split("[", 1)[0]


def _model(prog: d.FileDecl, name: str | None) -> d.ModelDecl:
    if not prog.models:
        raise EditError("no model", "the text declares no model yet")
    if name is None:
        return prog.models[-1]
    for m in prog.models:
        if m.name == name:
            return m
    raise EditError("no model", f"no model named '{name}'")


def _fmt_index(s: Any) -> str:
    from .printer import expr
    if s.index is None:
        return ""
    return f"[{expr(s.index.lo)}" + (f"..{expr(s.index.hi)}" if s.index.hi is not None else "") + "]"


# ------------------------------------------------------------------ the template-level graph
def canvas_graph(prog: d.FileDecl, model: str | None = None) -> CanvasGraph:
    """Nodes and edges of a model as the canvas draws them: loops as their body, sub-models folded."""
    from .printer import domain
    m = _model(prog, model)
    cg = CanvasGraph()
    stmts = list(_with_loops(m.body))
    for s, _ in stmts:
        if isinstance(s, d.VarDecl):
            node = cg.nodes.get(s.name)
            label = s.name + _fmt_index(s)
            if node is None:
                short = domain(s.domain).split(" in ")[0].split(" on ")[0]
                cg.nodes[s.name] = CanvasNode(s.name, s.role, label, short)
            else:
                node.label += ", " + _fmt_index(s).strip("[]")
    for s, loop in stmts:
        if isinstance(s, d.Assign):
            base = _base(s.target.name)
            if base not in cg.nodes:
                cg.nodes[base] = CanvasNode(base, "computed", base, f"for {loop}" if loop else "")
        elif isinstance(s, d.Alias | d.ParamDecl):
            base = _base(s.target.name) if isinstance(s, d.Alias) else s.name
            detail = f"param : {domain(s.domain)}" if isinstance(s, d.ParamDecl) else (f"for {loop}" if loop else "")
            if base not in cg.nodes:
                cg.nodes[base] = CanvasNode(base, "computed", base, detail)
        elif isinstance(s, d.UseDecl):
            from .printer import expr
            idx = f"[{expr(s.index)}]" if s.index is not None else ""
            shares = "shares " + s.shares + "".join(f"[{expr(i)}]" for i in s.shares_index) if s.shares else ""
            cg.nodes[f"use:{s.name}"] = CanvasNode(f"use:{s.name}", "submodel", f"{s.name}{idx} : {s.model}",
                                                   ", ".join(x for x in (shares, f"for {loop}" if loop else "") if x))
    for s, loop in stmts:
        if isinstance(s, d.Assign):
            app = f"fn:{_base(s.target.name)}"
            _call(cg, s.value, app, loop)
            cg.edges.append((app, _base(s.target.name)))
        elif isinstance(s, d.EnergyDecl):
            from .printer import weight
            nid = f"energy:{s.name}"
            w = f"{weight(s.weight)} * " if s.weight is not None else ""
            cg.nodes[nid] = CanvasNode(nid, "energy", s.name, f"{w}{s.call.func}" + (f", for {loop}" if loop else ""))
            _args(cg, s.call, nid, loop)
        elif isinstance(s, d.Alias):
            src = _ref_node(cg, s.source.name)
            if src and (src, _base(s.target.name)) not in cg.edges:
                cg.edges.append((src, _base(s.target.name)))
        elif isinstance(s, d.UseDecl):
            for b in s.bindings:
                src = _ref_node(cg, b.target.name)
                if src and (src, f"use:{s.name}") not in cg.edges:
                    cg.edges.append((src, f"use:{s.name}"))
    return cg


def _with_loops(body: list[Any], loop: str = "") -> Any:
    for s in body:
        if isinstance(s, d.ForLoop):
            yield from _with_loops(s.body, f"{loop}, {s.var}" if loop else s.var)
        else:
            yield s, loop


def _ref_node(cg: CanvasGraph, name: str) -> str | None:
    if "." in name:
        inst = f"use:{name.split('.', 1)[0]}"
        return inst if inst in cg.nodes else None
    base = _base(name)
    return base if base in cg.nodes else None


def _call(cg: CanvasGraph, call: d.Call, nid: str, loop: str) -> None:
    cg.nodes[nid] = CanvasNode(nid, "function", call.func, f"for {loop}" if loop else "")
    _args(cg, call, nid, loop)


def _args(cg: CanvasGraph, call: d.Call, nid: str, loop: str) -> None:
    for i, a in enumerate(call.args):
        if isinstance(a, d.VarRef):
            src = _ref_node(cg, a.name)
            if src and (src, nid) not in cg.edges:
                cg.edges.append((src, nid))
        else:
            sub = f"{nid}/{i}"
            _call(cg, a, sub, loop)
            cg.edges.append((sub, nid))


# ------------------------------------------------------------------ edits
def _find_call(m: d.ModelDecl, node: str) -> d.Call | None:
    """The call behind a function or energy node of the canvas (nested calls by their path)."""
    kind, _, rest = node.partition(":")
    path = rest.split("/")
    for s in d.walk_statements(m.body):
        call = None
        if kind == "fn" and isinstance(s, d.Assign) and _base(s.target.name) == path[0]:
            call = s.value
        elif kind == "energy" and isinstance(s, d.EnergyDecl) and s.name == path[0]:
            call = s.call
        if call is not None:
            for i in path[1:]:
                nxt = call.args[int(i)]
                if not isinstance(nxt, d.Call):
                    return None
                call = nxt
            return call
    return None


def _path_back(m: d.ModelDecl, start: str, target: str) -> list[str] | None:
    """The chain of assignments by which `start` is computed from `target` (target -> ... -> start,
    `target` left out), or None when it is not: a connection from `start` into `target`'s function
    would close a loop."""
    deps: dict[str, set[str]] = {}

    def refs(a: Any) -> set[str]:
        if isinstance(a, d.VarRef):
            return {_base(a.name)}
        return set().union(*(refs(x) for x in a.args)) if isinstance(a, d.Call) else set()

    for st in d.walk_statements(m.body):
        if isinstance(st, d.Assign):
            deps.setdefault(_base(st.target.name), set()).update(refs(st.value))
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        n = frontier.pop()
        if n == target:
            chain = []
            k: str | None = n
            while k is not None:
                chain.append(k)
                k = parent[k]
            return chain[1:]  # from target's consumer down to start
        for p in sorted(deps.get(n, ())):
            if p not in parent:
                parent[p] = n
                frontier.append(p)
    return None


def _check(prog: d.FileDecl, model: str | None, nodes: list[str]) -> tuple[d.FileDecl, str]:
    text = dumps_file(prog)
    if model is None and len(prog.models) > 1:
        model = prog.models[-1].name  # the canvas edits the last model
    graph, diags = analyze(text, "<canvas>", model)
    # a diagram being drawn is often incomplete (a latent not yet connected, an energy missing an
    # argument): those show as diagnostics; only broken rules refuse the edit
    errors = [x for x in diags if x.severity == "error" and (x.kind in REFUSING or _too_many_inputs(x))]
    if errors:
        # the most telling rule first: a cycle also leaves a function with an input too many
        first = min(errors, key=lambda x: PRIORITY.index(x.kind) if x.kind in PRIORITY else len(PRIORITY))
        rule = RULES.get(first.kind, "invalid diagram")
        message = first.message
        if message.startswith(rule + ":"):  # the diagnostic already names the rule
            message = message[len(rule) + 1:].strip()
        raise EditError(rule, message + (f" ({first.hint})" if first.hint else ""), nodes, errors)
    return prog, text


def _too_many_inputs(diag: Diagnostic) -> bool:
    """An arity error with more inputs than taken (fewer is a diagram still being drawn)."""
    f = diag.fields
    return diag.kind == "arity" and isinstance(f.get("got"), int) and isinstance(f.get("expected"), int) and \
        f["got"] > f["expected"]


def apply_edit(prog: d.FileDecl, op: dict[str, Any], model: str | None = None) -> tuple[d.FileDecl, str]:
    """Apply one canvas edit; return the new program and its canonical text, or raise EditError."""
    new = copy.deepcopy(prog)
    m = _model(new, model)
    kind = op.get("op")
    nodes: list[str] = [str(x) for x in (op.get("source"), op.get("target"), op.get("node")) if x]
    if kind == "new_model":  # the model header: a new, empty model in place of the text's
        name = str(op["name"])
        _valid_name(name)
        comments = [c.strip().removeprefix("#").strip() for c in str(op.get("comment", "")).splitlines() if c.strip()]
        new.imports, new.models = [], [d.ModelDecl(name=name, comments=comments)]
        _set_params(new.models[0], op.get("params", {}))
        return _check(new, None, nodes)
    if kind == "params":  # add or change the model's parameters: {"r1": "1.0"}
        _set_params(m, op.get("params", {}))
    elif kind == "add_variable":
        name, role = str(op["name"]), op.get("role", "observed")
        _valid_name(name)
        if role not in ("observed", "latent"):
            raise EditError("bad role", f"'{role}': a variable is observed or latent", nodes)
        how = _infer_spec(op.get("infer")) if role == "latent" else None
        if op.get("infer") and role != "latent":
            raise EditError("infer on observed", f"'{name}' is observed: only a latent is inferred", nodes)
        at = _last_index(m.body, d.VarDecl) + 1
        m.body.insert(at, d.VarDecl(role=role, name=name, domain=_domain(op), infer=how))
    elif kind == "add_energy":
        name, energy = str(op["name"]), str(op["energy"])
        _valid_name(name)
        if energy not in ENERGIES:
            raise EditError("unknown energy", f"'{energy}'; choose one of {', '.join(sorted(ENERGIES))}", nodes)
        args: list[d.Arg] = [d.VarRef(name=a) for a in op.get("args", [])]
        w = op.get("weight")
        weight = None if w in (None, "", 1, 1.0, "1", "1.0") else _value(w)
        m.body.append(d.EnergyDecl(name=name, weight=weight,
                                   call=d.Call(func=energy, args=args, options=_options(op.get("options")))))
    elif kind == "add_function":
        target, func = str(op["target"]), str(op["function"])
        _valid_name(target)
        spec = FUNCTIONS.get(func)
        if spec is None:
            raise EditError("unknown function", f"'{func}'", nodes)
        args = [d.VarRef(name=a) for a in op.get("args", [])]
        fn_name = func
        if spec.trainable:
            fn_name = str(op.get("fn_name") or f"{func}_{target}")
            _valid_name(fn_name)
            cfg = [_value(x) for x in op.get("config", [])]
            m.body.insert(_last_index(m.body, d.FnDecl, d.VarDecl) + 1,
                          d.FnDecl(name=fn_name, func=func, args=cfg, options=_options(op.get("options"))))
            app = d.Call(func=fn_name, args=args)
        else:
            app = d.Call(func=fn_name, args=args, options=_options(op.get("options")))
        m.body.append(d.Assign(target=d.VarRef(name=target), value=app))
    elif kind == "set_infer":  # the Inspector: a latent's inference method and options, in place
        var = next((s for s in d.walk_statements(m.body) if isinstance(s, d.VarDecl) and s.name == op.get("node")),
                   None)
        if var is None or var.role != "latent":
            raise EditError("unknown node", f"no latent '{op.get('node')}'", nodes)
        var.infer = _infer_spec(op.get("infer"))
    elif kind == "connect":
        src, dst = str(op["source"]), str(op["target"])
        if src.startswith("energy:"):
            raise EditError("energy to energy", f"an energy term has no output, so '{src[7:]}' cannot feed "
                            f"'{dst.split(':', 1)[-1]}'; connect variables to energy terms", nodes)
        if not (dst.startswith("energy:") or dst.startswith("fn:")):
            raise EditError("variable input", f"'{dst}' is a variable: its value comes from the data or from "
                            "one function; connect to a function or an energy term instead", nodes)
        if src.startswith("use:"):
            raise EditError("sub-model output", "pick a variable of the sub-model in the text (e.g. lo.sx)", nodes)
        src_name = src[3:].split("/")[0] if src.startswith("fn:") else src
        call = _find_call(m, dst)
        if call is None:
            raise EditError("unknown node", f"no function or energy term '{dst}'", nodes)
        if dst.startswith("fn:"):
            out = dst[3:].split("/")[0]
            loop = _path_back(m, _base(src_name), out)
            if loop is not None:
                raise EditError("cycle through deterministic functions",
                                f"{' -> '.join([out, *loop])} -> {out}: '{src_name}' is computed from "
                                f"'{out}', so it cannot feed the function computing '{out}'", nodes)
        call.args.append(d.VarRef(name=src_name))
    elif kind == "disconnect":
        src, dst = str(op["source"]), str(op["target"])
        call = _find_call(m, dst)
        src_name = src[3:].split("/")[0] if src.startswith("fn:") else src
        if call is None:
            raise EditError("unknown node", f"no function or energy term '{dst}'", nodes)
        call.args = [a for a in call.args if not (isinstance(a, d.VarRef) and _base(a.name) == src_name)]
    elif kind == "delete":
        node = str(op["node"])
        _delete(m, node, nodes)
    elif kind == "rename":
        node, new_name = str(op["node"]), str(op["name"])
        _valid_name(new_name)
        _rename(m, node, new_name)
    else:
        raise EditError("unknown edit", f"'{kind}'", nodes)
    return _check(new, model, nodes)


def _valid_name(name: str) -> None:
    from .syntax import KEYWORDS
    if not _NAME.match(name) or name in KEYWORDS or name in ("R", "spins", "bits"):
        raise EditError("bad name", f"'{name}' is not a name: use letters, digits and '_', not a keyword")


def _value(x: Any) -> d.Expr:
    """A value typed in a form field (a number, a name, an expression such as `d * 2` or `-3.1416`,
    a quoted string), read by the language's own parser."""
    if isinstance(x, bool):
        return d.Bool(value=x)
    if isinstance(x, int | float):
        return d.Num(value=x)
    from .syntax import parse
    text = str(x).strip()
    try:
        fn = parse(f"model M {{\n  fn f = identity(v = {text})\n}}\n").models[0].body[0]
        opt = fn.options[0]  # type: ignore[union-attr]
    except (EbmError, IndexError, AttributeError):
        raise EditError("bad value", f"'{text}' is not a number, a name or an expression") from None
    return opt.value  # type: ignore[no-any-return]


def _options(opts: Any) -> list[d.Option]:
    if not opts:
        return []
    out = []
    for k, v in dict(opts).items():
        if v is None or (isinstance(v, str) and not v.strip()):
            continue  # a form field left empty: the option's default
        _valid_name(str(k))
        out.append(d.Option(key=str(k), value=_value(v)))
    return out


def _infer_spec(spec: Any) -> d.InferSpec | None:
    if not spec:
        return None
    if isinstance(spec, str):
        spec = {"method": spec}
    return d.InferSpec(method=str(spec["method"]), options=_options(spec.get("options")))


def _domain(op: dict[str, Any]) -> Any:
    """A variable's domain from a form: real (with a box or a sphere), categorical {k}, spins, bits."""
    kind = op.get("domain", "real")
    dims = [_value(x) for x in op.get("shape", [1])]
    if kind == "real":
        box = op.get("box")
        if box:
            if len(box) != 2:
                raise EditError("bad domain", "a box has a lower and an upper bound")
            return d.Real(shape=dims, box=(_value(box[0]), _value(box[1])))
        if op.get("sphere") not in (None, ""):
            return d.Real(shape=dims, sphere=_value(op["sphere"]), on_sphere=bool(op.get("on_sphere", True)))
        return d.Real(shape=dims)
    if kind == "categorical":
        return d.Categorical(k=_value(op["k"]), shape=[_value(x) for x in op.get("shape", [])])
    if kind in ("spins", "bits"):
        return (d.Spins if kind == "spins" else d.Bits)(shape=dims)
    raise EditError("bad domain", f"'{kind}': choose real, categorical, spins or bits")


def _set_params(m: d.ModelDecl, params: dict[str, Any]) -> None:
    for k, v in dict(params).items():
        _valid_name(str(k))
        value = _value(v)
        old = next((p for p in m.params if p.name == k), None)
        if old is not None:
            old.default = value
        else:
            m.params.append(d.Param(name=str(k), default=value))


def _last_index(body: list[Any], *kinds: type) -> int:
    idx = -1
    for i, s in enumerate(body):
        if isinstance(s, kinds):
            idx = i
    return idx


def _uses(m: d.ModelDecl, name: str) -> list[str]:
    out = []
    for s in d.walk_statements(m.body):
        calls: list[tuple[str, d.Call]] = []
        if isinstance(s, d.Assign):
            calls.append((f"fn:{_base(s.target.name)}", s.value))
        elif isinstance(s, d.EnergyDecl | d.RegularizeDecl):
            calls.append(((f"energy:{s.name}" if isinstance(s, d.EnergyDecl) else f"regularizer {s.name}"), s.call))
        elif isinstance(s, d.UseDecl) and any(_base(b.target.name) == name for b in s.bindings):
            out.append(f"use:{s.name}")
        while calls:
            owner, c = calls.pop()
            for a in c.args:
                if isinstance(a, d.VarRef) and _base(a.name) == name:
                    out.append(owner)
                elif isinstance(a, d.Call):
                    calls.append((owner, a))
    return sorted(set(out))


def _remove(body: list[Any], pred: Any) -> bool:
    found = False
    for s in list(body):
        if pred(s):
            body.remove(s)
            found = True
        elif isinstance(s, d.ForLoop):
            found = _remove(s.body, pred) or found
    return found


def _delete(m: d.ModelDecl, node: str, nodes: list[str]) -> None:
    if node.startswith("energy:"):
        if not _remove(m.body, lambda s: isinstance(s, d.EnergyDecl) and s.name == node[7:]):
            raise EditError("unknown node", f"no energy term '{node[7:]}'", nodes)
        return
    if node.startswith("use:"):
        _remove(m.body, lambda s: isinstance(s, d.UseDecl) and s.name == node[4:])
        return
    name = node[3:].split("/")[0] if node.startswith("fn:") else node
    users = [u for u in _uses(m, name) if u != f"fn:{name}"]
    if users:
        raise EditError("still connected", f"'{name}' is used by {', '.join(users)}; disconnect or delete those "
                        "first", nodes + users)
    removed = _remove(m.body, lambda s: (isinstance(s, d.VarDecl) and s.name == name) or (
        isinstance(s, d.Assign) and _base(s.target.name) == name))
    if not removed:
        raise EditError("unknown node", f"no variable or function '{name}'", nodes)


def _rename(m: d.ModelDecl, node: str, new: str) -> None:
    if node.startswith("energy:"):
        for s in d.walk_statements(m.body):
            if isinstance(s, d.EnergyDecl) and s.name == node[7:]:
                s.name = new
        return
    old = node[3:].split("/")[0] if node.startswith("fn:") else node
    taken = {s.name for s in d.walk_statements(m.body) if isinstance(s, d.VarDecl)} | {
        _base(s.target.name) for s in d.walk_statements(m.body) if isinstance(s, d.Assign)}
    if new in taken:
        raise EditError("name taken", f"'{new}' already names a variable", [node])

    def fix_ref(r: d.VarRef) -> None:
        if _base(r.name) == old:
            r.name = new + r.name[len(old):]

    def fix_call(c: d.Call) -> None:
        for a in c.args:
            if isinstance(a, d.VarRef):
                fix_ref(a)
            else:
                fix_call(a)

    for s in d.walk_statements(m.body):
        if isinstance(s, d.VarDecl) and s.name == old:
            s.name = new
        elif isinstance(s, d.Assign):
            fix_ref(s.target)
            fix_call(s.value)
        elif isinstance(s, d.EnergyDecl | d.RegularizeDecl):
            fix_call(s.call)
        elif isinstance(s, d.UseDecl):
            for b in s.bindings:
                fix_ref(b.target)
        if isinstance(s, d.VarDecl) and s.infer is not None:
            for o in s.infer.options:
                if isinstance(o.value, d.Name) and o.value.id == old:
                    o.value = d.Name(id=new)
