"""Declarations -> Graph IR: parameters evaluated, loops unrolled, imports and sub-models inlined.

Name resolution errors (unknown names, a variable defined twice, a missing or cyclic import,
wrong arity) are found here and reported all at once; shapes are checked by `check.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import decls as d
from .catalogue import ENERGIES, FUNCTIONS, REGULARIZERS
from .diagnostics import Reporter, Span, did_you_mean
from .files import read_bounded
from .graph import Application, Domain, EnergyTerm, FnDef, Graph, Infer, Regularizer, Variable
from .inference.method import METHODS
from .limits import DEFAULT, Limits
from .options import Option
from .plugins import unknown_part_hint
from .shapes import infer_shapes
from .syntax import parse

MAX_DIM = 1 << 24
FLOAT32_MAX = 3.4028234663852886e38
INT_MAX = (1 << 63) - 1
MAX_NUMEL = 1 << 28
LIBRARY = Path(__file__).resolve().parent / "library"

class _Bad(Exception):
    """An expression could not be evaluated; already reported."""


@dataclass
class _Scope:
    """One model instance being elaborated."""

    model: d.ModelDecl
    file: str
    prefix: str
    env: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # local key -> node name
    spans: dict[str, Span | None] = field(default_factory=dict)
    families: dict[str, list[str]] = field(default_factory=dict)  # "s" -> ["s[0]", "s[1]"]
    fn_prefix: str = ""  # where this instance's parameters live (another instance's under `shares`)
    fns: dict[str, str] = field(default_factory=dict)  # local fn name -> global fn name
    models: dict[str, tuple[d.ModelDecl, str]] = field(default_factory=dict)
    instances: dict[str, d.UseDecl] = field(default_factory=dict)  # "wm[2]" -> its `use`
    done: set[str] = field(default_factory=set)  # instances elaborated so far
    pending: set[str] = field(default_factory=set)  # aliases (and bound outputs) not resolved yet
    anon: int = 0

    def qualify(self, local: str) -> str:
        return f"{self.prefix}{local}"


def _key(name: str, idx: list[int]) -> str:
    return name + "".join(f"[{i}]" for i in idx)


class Elaborator:
    def __init__(self, reporter: Reporter, roots: list[Path] | None = None, limits: Limits = DEFAULT,
                 params: dict[str, Any] | None = None):
        self.rep = reporter
        self.roots = roots or []
        self.limits = limits
        self.given = dict(params or {})  # the main model's parameters set from outside
        self.files: dict[str, d.FileDecl] = {}
        self.loading: list[str] = []
        self.graph: Graph | None = None
        self.file_models: dict[str, dict[str, tuple[d.ModelDecl, str]]] = {}

    # ------------------------------------------------------------ imports
    def resolve_import(self, imp: d.Import, file: str) -> Path | None:
        base = Path(file).resolve().parent if not file.startswith("<") else Path.cwd()
        bad = ("\x00" in imp.path and "contains a NUL byte") or (len(imp.path) > 1024 and "is too long") or (
            any(len(part) > 255 for part in imp.path.split("/")) and "has a name longer than 255 characters")
        if bad:
            shown = imp.path if len(imp.path) <= 60 else imp.path[:57] + "..."
            self.rep.error("E051", f"import path '{shown.encode('unicode_escape').decode()}' {bad}", imp.span,
                           file=file, hint="import a .ebm file by its name, e.g. import \"jepa.ebm\"")
            return None
        rel = Path(imp.path)
        roots = [base] + [r.resolve() for r in self.roots] + [LIBRARY.resolve()]
        if rel.is_absolute():
            self.rep.error("E050", f"import path '{imp.path}' is absolute", imp.span, file=file,
                           hint="import relative to this file or to library/, e.g. import \"jepa.ebm\"")
            return None
        for root in roots:
            cand = (root / rel).resolve()
            if not cand.is_relative_to(root):
                continue
            if cand.is_file():
                return cand
            if cand.is_dir():
                self.rep.error("E051", f"imported path '{imp.path}' is a directory, not a .ebm file", imp.span,
                               file=file, hint=f"import a file inside it, e.g. import \"{imp.path}/model.ebm\"")
                return None
        if any(not (root / rel).resolve().is_relative_to(root) for root in roots):
            self.rep.error("E050", f"import path '{imp.path}' leaves the folders it may be taken from", imp.span,
                           file=file, hint="imports resolve inside the importing file's folder and library/")
            return None
        known = sorted({p.name for root in roots if root.is_dir() for p in root.glob("*.ebm") if p.is_file()})
        self.rep.error("E051", f"cannot find imported file '{imp.path}'", imp.span, file=file,
                       hint=did_you_mean(rel.name, known) or "searched " + ", ".join(str(r) for r in roots))
        return None

    def load_imports(self, fdecl: d.FileDecl, file: str) -> dict[str, tuple[d.ModelDecl, str]]:
        """The models visible in a file: its own and those of the files it imports."""
        models: dict[str, tuple[d.ModelDecl, str]] = {}
        for imp in fdecl.imports:
            path = self.resolve_import(imp, file)
            if path is None:
                continue
            key = str(path)
            if key in self.loading:
                chain = " -> ".join(Path(p).name for p in self.loading[self.loading.index(key):] + [key])
                self.rep.error("E052", f"import cycle: {chain}", imp.span, file=file,
                               hint="move the shared models into a third file that both import")
                continue
            if key not in self.files:
                try:
                    text = read_bounded(path).decode("utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                    self.rep.error("E051", f"cannot read imported file '{imp.path}': {why}", imp.span, file=file)
                    continue
                self.rep.add_source(key, text)
                before = len(self.rep.diagnostics)
                sub = parse(text, key, self.rep)
                self.files[key] = sub
                self.loading.append(key)
                sub_models = self.load_imports(sub, key)
                self.loading.pop()
                for diag in self.rep.diagnostics[before:]:
                    diag.notes.append(f"imported from {file}:{imp.span.line if imp.span else 1}")
                sub_models.update({m.name: (m, key) for m in sub.models})
                self.file_models[key] = sub_models
            models.update(self.file_models.get(key, {}))
        return models

    # ------------------------------------------------------------ expressions
    def eval(self, e: d.Expr, env: dict[str, Any], file: str) -> Any:
        if isinstance(e, d.Num):
            if isinstance(e.value, float) and not (math.isfinite(e.value) and abs(e.value) <= FLOAT32_MAX):
                self.rep.error("E020", "number is too large: values are float32, up to 3.4e38", e.span, file=file)
                raise _Bad
            if isinstance(e.value, int) and abs(e.value) > INT_MAX:
                self.rep.error("E020", f"integer is too large: the limit is {INT_MAX}", e.span, file=file)
                raise _Bad
            return e.value
        if isinstance(e, d.Bool):
            return e.value
        if isinstance(e, d.Str):
            return e.value
        if isinstance(e, d.Name):
            if e.id in env:
                return env[e.id]
            self.rep.error("E010", f"unknown name '{e.id}'", e.span, file=file,
                           hint=did_you_mean(e.id, env) or (
                               "declare it as a model parameter: model M(" + e.id + " = ...)"))
            raise _Bad
        if isinstance(e, d.Neg):
            v = self.eval(e.operand, env, file)
            return -v
        assert isinstance(e, d.BinOp)
        a, b = self.eval(e.left, env, file), self.eval(e.right, env, file)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b)):
            self.rep.error("E020", f"'{e.op}' needs numbers", e.span, file=file)
            raise _Bad
        try:
            if e.op == "+":
                r = a + b
            elif e.op == "-":
                r = a - b
            elif e.op == "*":
                r = a * b
            elif e.op == "/":
                r = a / b
                if isinstance(a, int) and isinstance(b, int) and a % b == 0:
                    r = a // b
            elif e.op == "//":
                r = a // b
            else:
                r = a % b
        except ZeroDivisionError:
            self.rep.error("E020", "division by zero", e.span, file=file)
            raise _Bad from None
        except OverflowError:
            self.rep.error("E020", "number is too large", e.span, file=file)
            raise _Bad from None
        if (isinstance(r, int) and abs(r) > 1 << 62) or (isinstance(r, float) and not math.isfinite(r)):
            self.rep.error("E020", "number is too large", e.span, file=file)
            raise _Bad
        return r

    def dim(self, e: d.Expr, env: dict[str, Any], file: str, what: str = "a dimension") -> int:
        v = self.eval(e, env, file)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0 or v > MAX_DIM:
            self.rep.error("E021", f"{what} must be a positive integer up to {MAX_DIM}, got {v!r}", e.span, file=file)
            raise _Bad
        return v

    def domain(self, dom: d.Domain, env: dict[str, Any], file: str) -> Domain:
        shape = tuple(self.dim(s, env, file) for s in dom.shape)
        if math.prod(shape) > MAX_NUMEL:
            self.rep.error("E021", f"the variable has {math.prod(shape)} elements; the limit is {MAX_NUMEL}",
                           dom.span, file=file)
            raise _Bad
        if isinstance(dom, d.Real):
            box = None
            if dom.box:
                lo, hi = (float(self.eval(x, env, file)) for x in dom.box)
                if not lo < hi:
                    self.rep.error("E021", f"box({lo:g}, {hi:g}) is empty: the low end must be below the high end",
                                   dom.span, file=file)
                    raise _Bad
                box = (lo, hi)
            sphere = None
            if dom.on_sphere:
                sphere = float(self.eval(dom.sphere, env, file)) if dom.sphere is not None else 1.0
                if sphere <= 0:
                    self.rep.error("E021", "a sphere's radius must be positive", dom.span, file=file)
                    raise _Bad
            return Domain("real", shape, box=box, sphere=sphere)
        if isinstance(dom, d.Categorical):
            return Domain("categorical", shape, k=self.dim(dom.k, env, file, "the number of categories"))
        return Domain("spins" if isinstance(dom, d.Spins) else "bits", shape)

    def options(self, opts: list[d.Option], env: dict[str, Any], file: str, names_as_str: bool = True
                ) -> tuple[tuple[str, Any], ...]:
        out = []
        for o in opts:
            v: Any
            if names_as_str and isinstance(o.value, d.Name) and o.value.id not in env:
                v = o.value.id
            else:
                v = self.eval(o.value, env, file)
            out.append((o.key, v))
        return tuple(out)

    def infer(self, spec: d.InferSpec, env: dict[str, Any], file: str) -> Infer:
        """An `infer` clause checked against its method's options table (inference/method.py)."""
        if spec.method not in METHODS:
            self.rep.error("E060", f"unknown inference method '{spec.method}'", spec.span, file=file,
                           hint=did_you_mean(spec.method, METHODS) or "choose one of " + ", ".join(METHODS))
            raise _Bad
        method = METHODS[spec.method]
        opts = self.options(spec.options, env, file, names_as_str=True)
        valid = []
        for (key, value), o in zip(opts, spec.options, strict=True):
            bad = method.problem(key, value, self.limits)
            if bad is None:
                valid.append((key, value))
            else:
                code, message, hint, fields = bad
                self.rep.error(code, message, o.span, file=file, hint=hint, fields=fields)
        return Infer(spec.method, tuple(valid))  # what was wrong is reported; the checks go on without it

    # ------------------------------------------------------------ model instances
    def run(self, fdecl: d.FileDecl, file: str, model: str | None = None) -> Graph | None:
        self.loading.append(str(Path(file).resolve()) if not file.startswith("<") else file)
        models = self.load_imports(fdecl, file)
        own = {m.name: (m, file) for m in fdecl.models}
        seen: dict[str, d.ModelDecl] = {}
        for m in fdecl.models:
            if m.name in seen:
                self.rep.error("E011", f"model '{m.name}' is defined twice", m.span, file=file,
                               notes=[f"first defined at line {getattr(seen[m.name].span, 'line', '?')}"])
            seen[m.name] = m
        models.update(own)
        if not fdecl.models:
            self.rep.error("E012", "the file declares no model", Span(1, 1), file=file,
                           hint="start with: model M { observed x : R[2] ... }")
            return None
        if model is None and len(fdecl.models) > 1:  # one model that uses every other is the one meant
            model = _the_root(fdecl)
        if model is None and len(fdecl.models) > 1:
            names = [m.name for m in fdecl.models]
            self.rep.error("E012", f"{file} declares {len(names)} models ({', '.join(names)}); say which one",
                           fdecl.models[1].span, file=file, hint=f"load(path, model=\"{names[-1]}\") in Python, "
                           f"--model {names[-1]} on the command line")
            return None
        if model is None:
            main = fdecl.models[-1]
        elif model in own:
            main = own[model][0]
        else:
            self.rep.error("E012", f"no model named '{model}' in {file}", Span(1, 1), file=file,
                           hint=did_you_mean(model, own))
            return None
        self.graph = Graph(name=main.name, program=fdecl, limits=self.limits)
        self.graph.imported = dict(self.files)
        declared = {p.name: p for p in main.params}
        for k, v in self.given.items():
            if k not in declared:
                self.rep.error("E013", f"model '{main.name}' has no parameter '{k}' to set", main.span, file=file,
                               hint=did_you_mean(k, declared) or ("its parameters are " + ", ".join(declared)
                                                                  if declared else "it takes no parameters"))
            elif not isinstance(v, int | float) or isinstance(v, bool) or (isinstance(v, float) and not
                                                                           math.isfinite(v)):
                self.rep.error("E020", f"parameter '{k}' must be set to a number, got {v!r}", declared[k].span,
                               file=file)
        given = {k: v for k, v in self.given.items() if k in declared and isinstance(v, int | float)
                 and not isinstance(v, bool)}
        env = self.params(main, given, file, None)
        self.graph.overrides = given
        self.graph.params = dict(env)
        self.instance(main, file, env, "", {}, "", models, [main.name])
        infer_shapes(self.graph, self.rep)  # the last pass: the graph is complete when it is returned
        return self.graph

    def params(self, model: d.ModelDecl, given: dict[str, Any], file: str, use: d.UseDecl | None,
               use_file: str | None = None) -> dict[str, Any]:
        env: dict[str, Any] = {}
        declared = {p.name for p in model.params}
        if use is not None:
            for o in use.options:
                if o.key not in declared:
                    self.rep.error("E013", f"model '{model.name}' has no parameter '{o.key}'", o.span, file=use_file,
                                   hint=did_you_mean(o.key, declared) or (
                                       "its parameters are " + ", ".join(sorted(declared)) if declared
                                       else "it takes no parameters"))
        for p in model.params:
            if p.name in env:
                self.rep.error("E011", f"parameter '{p.name}' is declared twice", p.span, file=file)
            if p.name in given:
                env[p.name] = given[p.name]
                continue
            try:
                env[p.name] = self.eval(p.default, env, file)
            except _Bad:
                env[p.name] = 1
        return env

    def instance(self, model: d.ModelDecl, file: str, env: dict[str, Any], prefix: str,
                 ports: dict[str, str], fn_prefix: str,
                 models: dict[str, tuple[d.ModelDecl, str]], chain: list[str],
                 port_sites: dict[str, tuple[str, Span | None]] | None = None) -> _Scope:
        """Elaborate one model instance. `ports` binds some of its declared variables to the
        parent's nodes; `fn_prefix` names its parameters (another instance's under `shares`)."""
        assert self.graph is not None
        sc = _Scope(model, file, prefix, env, fn_prefix=fn_prefix, models=models)
        flat = []
        for item in self.unroll(model.body, env, file):
            flat.append(item)
            if len(flat) > self.limits.max_nodes:
                self.rep.error("E022", f"the model unrolls to more than max_nodes = {self.limits.max_nodes} statements",
                               model.span, file=file, hint="lower the loop bounds or the model parameters, or "
                               + self.limits.how_to_raise("max_nodes"))
                raise _Bad
        # pass 1: every name this instance defines (variables, aliases, params, instances, outputs bound by `use`)
        failed: set[int] = set()
        for i, (stmt, lenv) in enumerate(flat):
            try:
                if isinstance(stmt, d.VarDecl):
                    for key in self.decl_keys(stmt, lenv, file):
                        self.define(sc, key, stmt.span, stmt.name)
                elif isinstance(stmt, d.Assign | d.Alias):
                    key = self.target_key(sc, stmt.target, lenv)
                    self.define(sc, key, stmt.target.span, stmt.target.name)
                    if isinstance(stmt, d.Alias):
                        sc.pending.add(key)
                elif isinstance(stmt, d.ParamDecl):
                    self.define(sc, stmt.name, stmt.span, stmt.name)
                    sc.fns[stmt.name] = sc.fn_prefix + stmt.name
                elif isinstance(stmt, d.FnDecl):
                    if stmt.name in sc.fns:
                        self.rep.error("E011", f"function '{stmt.name}' is declared twice", stmt.span, file=file)
                    sc.fns[stmt.name] = sc.fn_prefix + stmt.name
                elif isinstance(stmt, d.UseDecl):
                    self.declare_use(sc, stmt, lenv, flat)
            except _Bad:
                failed.add(i)
                continue
        for name, global_name in ports.items():
            if name in sc.names:
                sc.names[name] = global_name
            elif port_sites and name in port_sites:
                pfile, pspan = port_sites[name]
                known = list(sc.spans)
                self.rep.error("E032", f"model '{model.name}' has no variable '{name}' to bind", pspan, file=pfile,
                               hint=did_you_mean(name, known) or "its variables are " + ", ".join(known[:8]))
        # pass 2: functions; variables; sub-model instances and aliases, each once what it reads is
        # there; then applications, energies, regularizers (they need every variable); then the
        # inference settings a parent gives its sub-models' latents
        for stmt, lenv in flat:
            try:
                if isinstance(stmt, d.FnDecl):
                    self.fn_decl(sc, stmt, lenv, flat)
            except _Bad:
                continue
        for i, (stmt, lenv) in enumerate(flat):
            if i in failed:
                continue
            try:
                if isinstance(stmt, d.VarDecl):
                    self.var_decl(sc, stmt, lenv, ports)
                elif isinstance(stmt, d.Assign):
                    key = self.target_key(sc, stmt.target, lenv)
                    self.graph.add(Variable(sc.names[key], "observed", Domain("real", ()), computed=True,
                                            span=stmt.target.span, file=file), prefix.rstrip("."))
                elif isinstance(stmt, d.ParamDecl):
                    self.param(sc, stmt, lenv)
            except _Bad:
                failed.add(i)
        self.connect_instances(sc, [(i, s, e) for i, (s, e) in enumerate(flat) if i not in failed
                                    and isinstance(s, d.UseDecl | d.Alias)], chain)
        for i, (stmt, lenv) in enumerate(flat):
            if i in failed:
                continue
            try:
                if isinstance(stmt, d.Assign):
                    key = self.target_key(sc, stmt.target, lenv)
                    self.apply(sc, stmt.value, lenv, sc.names[key], key)
                elif isinstance(stmt, d.EnergyDecl):
                    self.energy(sc, stmt, lenv)
                elif isinstance(stmt, d.RegularizeDecl):
                    self.regularize(sc, stmt, lenv)
            except _Bad:
                continue
            if len(self.graph) > self.limits.max_nodes:
                self.rep.error("E022", f"the model unrolls to more than max_nodes = {self.limits.max_nodes} nodes",
                               model.span, file=file, hint="lower the loop bounds or the model parameters, or "
                               + self.limits.how_to_raise("max_nodes"))
                raise _Bad
        for stmt, lenv in flat:
            if isinstance(stmt, d.InferDecl):
                try:
                    self.infer_override(sc, stmt, lenv)
                except _Bad:
                    continue
        return sc

    def target_key(self, sc: _Scope, target: d.VarRef, env: dict[str, Any]) -> str:
        if "." in target.name:
            self.rep.error("E014", f"cannot assign to '{target.name}', a variable of a sub-model", target.span,
                           file=sc.file, hint="bind it with use ... { port = variable } instead")
            raise _Bad
        return _key(target.name, [self.index(i, env, sc.file) for i in target.indices])

    def instance_key(self, sc: _Scope, stmt: d.UseDecl, env: dict[str, Any]) -> str:
        return stmt.name if stmt.index is None else _key(stmt.name, [self.index(stmt.index, env, sc.file)])

    def declare_use(self, sc: _Scope, stmt: d.UseDecl, env: dict[str, Any], flat: list[Any]) -> None:
        """Pass 1 of a `use`: its instance name, and the parent's names its output bindings define."""
        key = self.instance_key(sc, stmt, env)
        if key in sc.instances:
            first = sc.instances[key].span
            repeated = sum(1 for s, _ in flat if s is stmt) > 1
            self.rep.error("E015", f"instance '{key}' is defined twice" + (
                " (the loop around this `use` runs it more than once)" if repeated else ""), stmt.span,
                file=sc.file, notes=[f"first defined at line {first.line}, column {first.column}"] if first and
                not repeated else [], hint=f"index it by the loop: use {stmt.name}[t] = {stmt.model}(...)"
                if repeated else "rename one of them")
            raise _Bad
        sc.instances[key] = stmt
        found = sc.models.get(stmt.model)
        if found is None:
            return  # reported when it is connected
        outputs = _computed_names(found[0])
        for b in stmt.bindings:
            if b.port in outputs:
                try:
                    target = self.target_key(sc, b.target, env)
                    self.define(sc, target, b.target.span, b.target.name)
                    sc.pending.add(target)
                except _Bad:
                    continue

    def connect_instances(self, sc: _Scope, items: list[tuple[int, Any, dict[str, Any]]], chain: list[str]) -> None:
        """Elaborate `use` statements and resolve aliases, each once what it reads exists: an
        unrolled world model (use wm[t] { s = s[t] }, s[t + 1] = wm[t].s_next) in one pass in
        order, whatever the order in which the statements are written."""
        waiting: dict[str, list[tuple[int, Any, dict[str, Any]]]] = {}
        blocked: dict[int, str] = {}
        failed: set[str] = set()  # instances and aliases that could not be made (their errors are reported)
        queue = list(reversed(items))
        left: dict[int, int] = {}  # per `use` statement: how many of its instances are still to be made
        for _, stmt, _ in items:
            if isinstance(stmt, d.UseDecl):
                left[id(stmt)] = left.get(id(stmt), 0) + 1
        while queue:
            item = queue.pop()
            _, stmt, env = item
            try:
                need = self.needs(sc, stmt, env)
            except _Bad:
                continue
            if need is not None:
                waiting.setdefault(need, []).append(item)
                blocked[item[0]] = need
                continue
            blocked.pop(item[0], None)
            done: list[str] = []
            assert self.graph is not None
            size = len(self.graph)
            try:
                if isinstance(stmt, d.UseDecl):
                    done = self.use(sc, stmt, env, chain)
                else:
                    done = [self.alias(sc, stmt, env)]
            except _Bad:
                done = []
                failed.add(self.stuck_key(sc, stmt, env))  # reported; what waits on it is not a cycle
            if isinstance(stmt, d.UseDecl):  # too many instances stop the model here (bounded work)
                left[id(stmt)] -= 1
                self.bound(sc, stmt, len(self.graph) - size, left[id(stmt)])
            for key in done:
                queue.extend(reversed(waiting.pop(key, [])))
        stuck = [it for its in waiting.values() for it in its]
        while True:  # what waits, directly or through others, on a statement that failed was said with it
            after = [it for it in stuck if blocked[it[0]] not in failed]
            failed |= {self.stuck_key(sc, it[1], it[2]) for it in stuck if blocked[it[0]] in failed}
            if len(after) == len(stuck):
                break
            stuck = after
        if stuck:
            self.report_stuck(sc, stuck, blocked)

    def stuck_key(self, sc: _Scope, stmt: Any, env: dict[str, Any]) -> str:
        """The name a `use` (its instance) or an alias (its target) makes, that others wait on ("" when
        the statement cannot even say it: its own error is reported)."""
        try:
            if isinstance(stmt, d.UseDecl):
                return self.instance_key(sc, stmt, env)
            return self.target_key(sc, stmt.target, env)
        except _Bad:
            return ""

    def bound(self, sc: _Scope, stmt: d.UseDecl, made: int, left: int) -> None:
        """Refuse a loop of `use` whose instances would pass max_nodes, once the first one says how
        large each is: before the others are built, at the `use` line."""
        assert self.graph is not None
        limit = self.limits.max_nodes
        if len(self.graph) + made * left <= limit:
            return
        total = len(self.graph) + made * left
        self.rep.error("E022", f"{left:,} more instances of {stmt.model} made here, of about {made:,} nodes each, "
                       f"would bring the model to about {total:,} nodes, more than max_nodes = {limit:,}",
                       stmt.span, file=sc.file, fields={"limit": "max_nodes", "expected": limit, "got": total},
                       hint="lower the loop bounds or the model parameters, or " + self.limits.how_to_raise("max_nodes"))
        raise _Bad

    def needs(self, sc: _Scope, stmt: Any, env: dict[str, Any]) -> str | None:
        """The name (an alias or an instance) a `use` or an alias must wait for, or None."""
        refs: list[d.VarRef] = []
        if isinstance(stmt, d.Alias):
            refs = [stmt.source]
        else:
            found = sc.models.get(stmt.model)
            outputs = _computed_names(found[0]) if found else set()
            refs = [b.target for b in stmt.bindings if b.port not in outputs]
            if stmt.shares is not None:
                other = _key(stmt.shares, [self.index(i, env, sc.file) for i in stmt.shares_index])
                if other != self.instance_key(sc, stmt, env) and other in sc.instances and other not in sc.done:
                    return other
        for ref in refs:
            key = self.ref_key(sc, ref, env)
            if key in sc.pending:
                return key
            head = key.split(".", 1)[0]
            if "." in key and head in sc.instances and head not in sc.done:
                return head
        return None

    def report_stuck(self, sc: _Scope, stuck: list[tuple[int, Any, dict[str, Any]]], blocked: dict[int, str]) -> None:
        """`use` statements and aliases that wait on each other: a cycle, reported at the `use`."""
        reported: set[int] = set()
        for i, stmt, env in stuck:
            if i in reported:
                continue
            path, seen = [], set()
            cur: tuple[int, Any, dict[str, Any]] | None = (i, stmt, env)
            while cur is not None and cur[0] not in seen:
                seen.add(cur[0])
                what = (f"'{self.instance_key(sc, cur[1], cur[2])}'" if isinstance(cur[1], d.UseDecl)
                        else f"'{self.target_key(sc, cur[1].target, cur[2])}'")
                path.append(f"{what} needs '{blocked[cur[0]]}'")
                nxt = blocked[cur[0]]
                cur = next(((j, s, e) for j, s, e in stuck if (isinstance(s, d.UseDecl) and
                            self.instance_key(sc, s, e) == nxt) or (isinstance(s, d.Alias) and
                            self.target_key(sc, s.target, e) == nxt)), None)
            reported |= seen
            site = next((s for j, s, _ in stuck if j in seen and isinstance(s, d.UseDecl)), stmt)
            self.rep.error("E040", "cycle through sub-model instances: " + ", ".join(path), site.span, file=sc.file,
                           hint="an instance's output cannot feed back into its own inputs; unroll over time "
                                "with an index (use wm[t] ... { s = s[t] }, s[t + 1] = wm[t].s_next)")

    def ref_key(self, sc: _Scope, ref: d.VarRef, env: dict[str, Any]) -> str:
        """The scope key a reference names: wm[t].s_next with t = 2 -> 'wm[2].s_next'."""
        parts = ref.name.split(".")
        scopes = ref.scopes or [[] for _ in parts[:-1]]
        head = [_key(p, [self.index(i, env, sc.file) for i in idx]) for p, idx in zip(parts[:-1], scopes, strict=True)]
        return ".".join(head + [_key(parts[-1], [self.index(i, env, sc.file) for i in ref.indices])])

    def alias(self, sc: _Scope, stmt: d.Alias, env: dict[str, Any]) -> str:
        key = self.target_key(sc, stmt.target, env)
        node = self.resolve(sc, stmt.source, env)
        sc.names[key] = node
        sc.pending.discard(key)
        return key

    def param(self, sc: _Scope, stmt: d.ParamDecl, env: dict[str, Any]) -> None:
        """`param w : R[K]`: a trainable tensor, drawn as a function box with no inputs."""
        assert self.graph is not None
        if not isinstance(stmt.domain, d.Real) or stmt.domain.box or stmt.domain.on_sphere:
            self.rep.error("E021", f"param '{stmt.name}' must be a real tensor R[...], without constraints",
                           stmt.domain.span, file=sc.file, hint=f"param {stmt.name} : R[4]")
            raise _Bad
        dom = self.domain(stmt.domain, env, sc.file)
        out = sc.names[stmt.name]
        gname = sc.fns[stmt.name]
        if gname == sc.qualify(stmt.name):  # not shared from another instance
            self.graph.fns[gname] = FnDef(gname, "param", dom.shape, span=stmt.span, file=sc.file)
        self.graph.add(Variable(out, "observed", dom, computed=True, span=stmt.span, file=sc.file),
                       sc.prefix.rstrip("."))
        app = Application(out, gname, [], out, span=stmt.span, file=sc.file)
        self.graph.add(app, sc.prefix.rstrip("."))
        self.graph.connect(app, self.graph.var(out))

    def infer_override(self, sc: _Scope, stmt: d.InferDecl, env: dict[str, Any]) -> None:
        """`infer lo.z minimize(steps = 50)`: the parent sets how a sub-model's latent is eliminated.
        Options of the same method are merged into the declared ones; another method replaces them."""
        assert self.graph is not None
        if stmt.target is None:
            self.rep.error("E014", "an `infer` clause must follow the declaration of the latent it is for",
                           stmt.span, file=sc.file, hint="write it on the latent: latent z : R[2] infer "
                           f"{stmt.spec.method}, or name the latent: infer z {stmt.spec.method}(...)")
            raise _Bad
        key = self.ref_key(sc, stmt.target, env)
        if key in sc.families and key not in sc.names:
            nodes = [sc.names[k] for k in sc.families[key]]
        else:
            nodes = [self.resolve(sc, stmt.target, env)]
        new = self.infer(stmt.spec, env, sc.file)
        for node in nodes:
            if not self.graph.has_var(node):
                raise _Bad
            var = self.graph.var(node)
            if var.role != "latent" or var.computed:
                self.rep.error("E062", f"'{key}' is {'computed' if var.computed else 'observed'}, so it has no "
                               "inference method", stmt.target.span, file=sc.file,
                               hint="only latent variables are inferred")
                raise _Bad
            if node in self.graph.infer_sites:
                line = self.graph.infer_sites[node][1]
                self.rep.error("E015", f"the inference of '{key}' is set twice", stmt.span, file=sc.file,
                               notes=[f"first set at line {line.line}"] if line else [])
                raise _Bad
            if var.infer is not None and var.infer.method == new.method:
                merged = dict(var.infer.options)
                merged.update(new.options)
                var.infer = Infer(new.method, tuple(merged.items()))
            else:
                var.infer = new
            self.graph.infer_sites[node] = (sc.file, stmt.span)

    def define(self, sc: _Scope, key: str, span: Span | None, base: str) -> None:
        if key in sc.names:
            first = sc.spans.get(key)
            self.rep.error("E015", f"variable '{key}' is defined twice", span, file=sc.file,
                           notes=[f"first defined at line {first.line}, column {first.column}"] if first else [],
                           hint="rename one of them, or remove the duplicate declaration")
            raise _Bad
        sc.names[key] = sc.qualify(key)
        sc.spans[key] = span
        if key != base:
            sc.families.setdefault(base, []).append(key)

    def unroll(self, body: list[Any], env: dict[str, Any], file: str) -> Any:
        for stmt in body:
            if isinstance(stmt, d.ForLoop):
                try:
                    lo, hi = self.eval(stmt.lo, env, file), self.eval(stmt.hi, env, file)
                except _Bad:
                    continue
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
                    self.rep.error("E021", "loop bounds must be integers", stmt.span, file=file)
                    continue
                if hi - lo + 1 > self.limits.max_nodes:
                    self.rep.error("E022", f"the loop runs {hi - lo + 1} times; the limit is max_nodes = "
                                   f"{self.limits.max_nodes}", stmt.span, file=file,
                                   hint=self.limits.how_to_raise("max_nodes"))
                    continue
                if stmt.var in env:
                    self.rep.error("E011", f"loop variable '{stmt.var}' hides a parameter of the same name",
                                   stmt.span, file=file, hint="rename the loop variable")
                for i in range(lo, hi + 1):
                    yield from self.unroll(stmt.body, {**env, stmt.var: i}, file)
            else:
                yield stmt, env

    def index(self, e: d.Expr, env: dict[str, Any], file: str) -> int:
        v = self.eval(e, env, file)
        if not isinstance(v, int) or isinstance(v, bool):
            self.rep.error("E021", f"an index must be an integer, got {v!r}", e.span, file=file)
            raise _Bad
        return v

    def decl_keys(self, stmt: d.VarDecl, env: dict[str, Any], file: str) -> list[str]:
        if stmt.index is None:
            return [stmt.name]
        lo = self.index(stmt.index.lo, env, file)
        hi = self.index(stmt.index.hi, env, file) if stmt.index.hi is not None else lo
        if hi < lo:
            self.rep.error("E021", f"the index range {lo}..{hi} is empty", stmt.index.span, file=file)
            raise _Bad
        if hi - lo + 1 > self.limits.max_nodes:
            self.rep.error("E022", f"the index range has {hi - lo + 1} elements; the limit is max_nodes = "
                           f"{self.limits.max_nodes}", stmt.index.span, file=file,
                           hint=self.limits.how_to_raise("max_nodes"))
            raise _Bad
        return [_key(stmt.name, [i]) for i in range(lo, hi + 1)]

    def var_decl(self, sc: _Scope, stmt: d.VarDecl, env: dict[str, Any], ports: dict[str, str]) -> None:
        assert self.graph is not None
        dom = self.domain(stmt.domain, env, sc.file)
        try:
            inf = self.infer(stmt.infer, env, sc.file) if stmt.infer else None
        except _Bad:
            inf = None  # reported; the variable itself is still declared
        reduce: Literal["mean", "max"] = "mean"
        noise, draws = None, 1
        if stmt.role == "noise":
            noise, draws, reduce = self.noise(stmt, dom, env, sc.file)
        for key in self.decl_keys(stmt, env, sc.file):
            if key in ports:
                continue  # bound to the parent's variable
            self.graph.add(Variable(sc.names[key], stmt.role, dom, inf, span=stmt.span, file=sc.file, noise=noise,
                                    draws=draws, reduce=reduce), sc.prefix.rstrip("."))

    def noise(self, stmt: d.VarDecl, dom: Domain, env: dict[str, Any], file: str
              ) -> tuple[tuple[str, tuple[Any, ...]], int, Literal["mean", "max"]]:
        """`noise eps : R[d] ~ normal(std = 0.5)`: a real variable drawn afresh at every evaluation;
        `draws = n` draws it n times per sample and the energy is their mean (`reduce = max`: the
        worst draw), the expected cost a planner minimizes against sampled latents (003 sec. 4.8)."""
        if dom.kind != "real" or dom.box is not None or dom.sphere is not None:
            self.rep.error("E063", f"noise '{stmt.name}' must be real and unconstrained, got {dom}", stmt.span,
                           file=file, hint=f"noise {stmt.name} : R[...] ~ normal (a uniform draw has low and high)")
            raise _Bad
        dist = stmt.dist or ""
        if dist not in NOISES:
            self.rep.error("E063", f"unknown noise distribution '{dist}'", stmt.span, file=file,
                           hint=did_you_mean(dist, NOISES) or "the distributions are " + ", ".join(
                               f"{k}({', '.join(f'{o} = {v:g}' for o, v in opts.items())})" for k, opts in NOISES.items()))
            raise _Bad
        opts = dict(NOISES[dist])
        draws = 1
        reduce: Literal["mean", "max"] = "mean"
        for o in stmt.dist_options:
            if o.key == "reduce":
                how = self.options([o], env, file)[0][1]  # a bare name (max) is its text, as in infer options
                if how not in ("mean", "max"):
                    self.rep.error("E063", f"reduce of noise '{stmt.name}' must be mean (the expected energy over "
                                   f"the draws) or max (the worst draw), got {how!r}", o.span, file=file,
                                   hint=f"noise {stmt.name} : ... ~ {dist}(draws = 16, reduce = max)")
                    raise _Bad
                reduce = "max" if how == "max" else "mean"
                continue
            if o.key == "draws":
                n = self.eval(o.value, env, file)
                if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.limits.max_rows:
                    self.rep.error("E063", f"draws of noise '{stmt.name}' must be a whole number from 1 to "
                                   f"{self.limits.max_rows}, got {n!r}", o.span, file=file,
                                   hint="the energy is averaged over this many draws a sample, e.g. draws = 16")
                    raise _Bad
                draws = n
                continue
            if o.key not in opts:
                known = [*opts, "draws", "reduce"]
                self.rep.error("E063", f"{dist} noise has no option '{o.key}'", o.span, file=file,
                               hint=did_you_mean(o.key, known) or f"its options are {', '.join(known)}")
                raise _Bad
            value = self.eval(o.value, env, file)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                self.rep.error("E063", f"option '{o.key}' of {dist} noise must be a number, got {value!r}", o.span,
                               file=file)
                raise _Bad
            opts[o.key] = float(value)
        if dist == "normal" and opts["std"] <= 0 or dist == "uniform" and opts["high"] <= opts["low"]:
            self.rep.error("E063", f"{dist} noise '{stmt.name}' needs " + ("std > 0" if dist == "normal" else
                           "low < high"), stmt.span, file=file)
            raise _Bad
        if draws > 1 or reduce != "mean":
            assert self.graph is not None
            other = next((v for v in self.graph.variables if v.role == "noise" and (v.draws > 1 or v.reduce != "mean")
                          and (v.draws, v.reduce) != (draws, reduce)), None)
            if other is not None:
                self.rep.error("E063", f"noise '{stmt.name}' is drawn {draws} times (reduce = {reduce}) but "
                               f"'{other.name}' {other.draws} times (reduce = {other.reduce})", stmt.span, file=file,
                               hint="the draws of a model are joint (one expectation over all its noise): give every "
                                    "noise the same draws and reduce")
                raise _Bad
        return (dist, tuple(sorted(opts.items()))), draws, reduce

    def resolve(self, sc: _Scope, ref: d.VarRef, env: dict[str, Any]) -> str:
        idx = [self.index(i, env, sc.file) for i in ref.indices]
        base = self.ref_key(sc, d.VarRef(name=ref.name, scopes=ref.scopes), env)
        key = _key(base, idx)
        if key in sc.names:
            return sc.names[key]
        if base in sc.families:
            family = sc.families[base]
            hint = f"'{ref.name}' has elements " + (", ".join(family) if len(family) <= 4 else
                                                     f"{family[0]} ... {family[-1]}")
            if not idx:
                msg = f"'{ref.name}' is indexed; say which element, e.g. {family[0]}"
            else:
                msg = f"'{key}' is not defined"
                hint += "; an index expression such as s[t-1] must stay in range for every t of the loop"
            self.rep.error("E016", msg, ref.span, file=sc.file, hint=hint)
            raise _Bad
        if key in sc.fns or key in FUNCTIONS:
            self.rep.error("E016", f"'{key}' is a function, not a variable", ref.span, file=sc.file,
                           hint=f"apply it: {key}(...)")
            raise _Bad
        self.rep.error("E016", f"unknown variable '{key}'", ref.span, file=sc.file,
                       hint=did_you_mean(key, list(sc.names) + list(sc.families)) or
                       f"declare it: observed {ref.name} : R[...]")
        raise _Bad

    def fn_decl(self, sc: _Scope, stmt: d.FnDecl, env: dict[str, Any], flat: list[Any]) -> None:
        assert self.graph is not None
        gname = sc.fns[stmt.name]
        if gname != sc.qualify(stmt.name):
            return  # `shares`: the other instance's parameters are used
        if stmt.fresh:
            src = next((s for s, _ in flat if isinstance(s, d.FnDecl) and s.name == stmt.func and not s.fresh), None)
            if src is None:
                self.rep.error("E017", f"'fresh {stmt.func}': no function named '{stmt.func}' to copy", stmt.span,
                               file=sc.file, hint=did_you_mean(stmt.func, sc.fns))
                raise _Bad
            stmt_cfg = src
        else:
            stmt_cfg = stmt
        spec = FUNCTIONS.get(stmt_cfg.func)
        if spec is None:
            if stmt_cfg.func in ENERGIES:
                hint = f"'{stmt_cfg.func}' is an energy: write energy E = {stmt_cfg.func}(...)"
            else:
                hint = _with_plugins(did_you_mean(stmt_cfg.func, FUNCTIONS), "`ebm show --parts` lists the functions")
            self.rep.error("E017", f"unknown function '{stmt_cfg.func}'", stmt_cfg.span, file=sc.file, hint=hint)
            raise _Bad
        if spec.name == "param":
            self.rep.error("E017", "declare a free tensor with its own statement", stmt_cfg.span, file=sc.file,
                           hint=f"param {stmt.name} : R[...]")
            raise _Bad
        if spec.name == "transpose":
            args = self.transpose_source(sc, stmt_cfg, flat)
        else:
            args = tuple(self.eval(a, env, sc.file) for a in stmt_cfg.args)
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            want = spec.config_args or "no arguments"
            self.rep.error("E018", f"{spec.name} takes ({want}); got {len(args)} argument(s)", stmt_cfg.span,
                           file=sc.file, hint=f"e.g. fn {stmt.name} = {spec.name}({spec.config_args})"
                           if spec.config_args else f"write fn {stmt.name} = {spec.name}()")
            raise _Bad
        if spec.name == "transpose":
            pass  # its one argument named a linear; its sizes were checked there
        elif spec.sizes:  # sizes are checked here, so a fn that is never applied is checked too
            for a, expr in zip(args, stmt_cfg.args, strict=True):
                if not isinstance(a, int) or isinstance(a, bool) or a <= 0 or a > MAX_DIM:
                    self.rep.error("E021", f"{spec.name}'s sizes must be positive integers up to {MAX_DIM}, got "
                                   f"{a!r}", expr.span, file=sc.file,
                                   hint=f"{spec.name}({spec.config_args})" if spec.config_args else None)
                    raise _Bad
        opts = self.options(stmt_cfg.options, env, sc.file)
        self.check_part_options(spec.name, spec.options, opts, stmt_cfg.options, sc.file, "")
        source = self.fixed(stmt, spec, sc.file, f"fn {stmt.name}")
        self.graph.fns[gname] = FnDef(gname, spec.name, args, opts, span=stmt.span, file=sc.file,
                                      fixed=stmt.fixed, source=source)

    def fixed(self, stmt: d.FnDecl | d.EnergyDecl, spec: Any, file: str, what: str) -> str | None:
        """`fixed` (and `from "..."`) on a part with weights: where the weights come from, if a file."""
        if not stmt.fixed:
            return None
        if not spec.trainable:
            self.rep.error("E024", f"'{spec.name}' has no weights to fix", stmt.span, file=file,
                           hint=f"remove `fixed`: {what} = {spec.name}(...) has nothing to train")
            raise _Bad
        if stmt.source is None or file.startswith(FROM_CHECKPOINT):  # a checkpoint carries the weights themselves
            return None
        return self.fixed_source(stmt, file)

    def fixed_source(self, stmt: d.FnDecl | d.EnergyDecl, file: str) -> str:
        """`fixed from "atoms.npy"`: the array file beside the .ebm file, checked readable and of floats
        (its shape is checked against the parameters when the model is compiled)."""
        from pathlib import Path
        assert stmt.source is not None
        rel = Path(stmt.source)
        if rel.is_absolute():
            self.rep.error("E024", f"weights path '{stmt.source}' is absolute", stmt.span, file=file,
                           hint="give it relative to the .ebm file, so the model and its weights move together")
            raise _Bad
        base = Path(file).parent if file and not file.startswith("<") else Path.cwd()
        path = base / rel
        problem = _array_problem(path)
        if problem is not None:
            self.rep.error("E024", f"fixed weights of '{stmt.name}': {problem}", stmt.span, file=file,
                           hint="a .npy holds the one parameter (e.g. a linear's weight, dout x din); a .npz holds "
                                "them by name (weight, bias)")
            raise _Bad
        return str(path.resolve())

    def transpose_source(self, sc: _Scope, stmt: d.FnDecl, flat: list[Any]) -> tuple[Any, ...]:
        """`fn dec = transpose(enc)`: (enc's parameters' name, din, dout) of the linear it ties to."""
        if len(stmt.args) != 1 or not isinstance(stmt.args[0], d.Name):
            self.rep.error("E018", "transpose takes the name of one linear function: fn dec = transpose(enc)",
                           stmt.span, file=sc.file)
            raise _Bad
        name = stmt.args[0].id
        src = next(((s, e) for s, e in flat if isinstance(s, d.FnDecl) and s.name == name and not s.fresh), None)
        if src is None or src[0].func != "linear":
            self.rep.error("E017", f"transpose({name}): " + (f"'{name}' is a {src[0].func}, not a linear" if src else
                           f"no function named '{name}'"), stmt.args[0].span, file=sc.file,
                           hint=did_you_mean(name, [s.name for s, _ in flat if isinstance(s, d.FnDecl)
                                                    and s.func == "linear"]) or
                           f"transpose ties to the weight of a linear: fn {name} = linear(din, dout)")
            raise _Bad
        sizes = tuple(self.eval(a, src[1], sc.file) for a in src[0].args)
        if len(sizes) != 2:
            raise _Bad  # the linear's own declaration reports it
        return (sc.fns[name], *sizes)

    def check_part_options(self, part: str, schema: tuple[Any, ...], opts: tuple[tuple[str, Any], ...],
                           decls: list[d.Option], file: str, what: str) -> None:
        """A function's or energy's options against its catalogue entry: names, and types where typed."""
        names = [o.name if isinstance(o, Option) else o for o in schema]
        for (key, value), o in zip(opts, decls, strict=True):
            option = next((x for x in schema if (x.name if isinstance(x, Option) else x) == key), None)
            if option is None:
                self.rep.error("E018", f"{what}{part} has no option '{key}'", o.span, file=file,
                               hint=did_you_mean(key, names) or (
                                   "its options are " + ", ".join(names) if names else "it has none"))
            elif isinstance(option, Option):
                want = option.problem(value)
                if want is not None:
                    hint = did_you_mean(str(value), option.kind) if isinstance(option.kind, tuple) else None
                    self.rep.error("E061", f"option '{key}' of {what}{part} must be {want}, got {value!r}", o.span,
                                   file=file, hint=hint or f"{key}: {option.doc}")
            elif isinstance(value, str):  # an untyped option (a registered part's) takes numbers and booleans
                self.rep.error("E061", f"option '{key}' of {what}{part} must be a number or true/false, got the name "
                               f"'{value}'", o.span, file=file, hint="use a parameter of the model or a literal")

    def fn_for_call(self, sc: _Scope, call: d.Call) -> str:
        assert self.graph is not None
        if call.func in sc.fns:
            return sc.fns[call.func]
        spec = FUNCTIONS.get(call.func)
        if spec is not None and not spec.trainable:
            if call.func not in self.graph.fns:
                self.graph.fns[call.func] = FnDef(call.func, call.func)
            return call.func
        if spec is not None:
            self.rep.error("E019", f"'{call.func}' has trainable parameters; declare it once and apply it by name",
                           call.span, file=sc.file, hint=f"fn f = {call.func}({spec.config_args}) then f(...)")
            raise _Bad
        if call.func in ENERGIES:
            self.rep.error("E019", f"'{call.func}' is an energy, not a function", call.span, file=sc.file,
                           hint=f"write it as a term: energy E = {call.func}(...)")
            raise _Bad
        self.rep.error("E017", f"unknown function '{call.func}'", call.span, file=sc.file,
                       hint=_with_plugins(did_you_mean(call.func, list(sc.fns) + [f for f, s in FUNCTIONS.items()
                                                                                  if not s.trainable])))
        raise _Bad

    def args(self, sc: _Scope, call: d.Call, env: dict[str, Any], owner: str) -> list[str]:
        out: list[str] = []
        bad = False
        for a in call.args:
            try:
                if isinstance(a, d.VarRef):
                    out.append(self.resolve(sc, a, env))
                else:
                    sc.anon += 1
                    anon = sc.qualify(f"{owner}/{a.func}{sc.anon}")
                    assert self.graph is not None
                    self.graph.add(Variable(anon, "observed", Domain("real", ()), computed=True, anonymous=True,
                                            span=a.span, file=sc.file), sc.prefix.rstrip("."))
                    self.apply(sc, a, env, anon, owner)
                    out.append(anon)
            except _Bad:
                bad = True
        if bad:
            raise _Bad
        return out

    def apply(self, sc: _Scope, call: d.Call, env: dict[str, Any], out: str, owner: str) -> None:
        assert self.graph is not None
        fn = self.fn_for_call(sc, call)
        if call.options:
            self.rep.error("E018", "options go on the fn declaration, not on its application", call.options[0].span,
                           file=sc.file)
        args = self.args(sc, call, env, owner)
        fdef = self.graph.fns.get(fn)
        spec = FUNCTIONS.get(fdef.func) if fdef else FUNCTIONS.get(call.func)
        if spec is not None and spec.arity is not None and len(args) != spec.arity:
            self.rep.error("E018", f"'{call.func}' takes {spec.arity} input(s), got {len(args)}", call.span,
                           file=sc.file, fields={"expected": spec.arity, "got": len(args), "node": out})
            raise _Bad
        if spec is not None and spec.arity is None and not args:
            self.rep.error("E018", f"'{call.func}' takes one or more inputs, got none", call.span, file=sc.file)
            raise _Bad
        self.require(args)
        app = Application(out, fn, args, out, span=call.span, file=sc.file)
        self.graph.add(app, sc.prefix.rstrip("."))
        for i, a in enumerate(args):
            self.graph.connect(self.graph.var(a), app, pos=i)
        self.graph.connect(app, self.graph.var(out))

    def require(self, names: list[str]) -> None:
        """Stop (quietly) when an input's own declaration failed and was reported already."""
        assert self.graph is not None
        if any(not self.graph.has_var(n) for n in names):
            raise _Bad

    def energy(self, sc: _Scope, stmt: d.EnergyDecl, env: dict[str, Any]) -> None:
        assert self.graph is not None
        key = stmt.name if stmt.index is None else _key(stmt.name, [self.index(stmt.index, env, sc.file)])
        name = sc.qualify(key)
        if self.graph.has_term(name):
            self.rep.error("E015", f"energy term '{key}' is defined twice", stmt.span, file=sc.file)
            raise _Bad
        weight = 1.0
        if stmt.weight is not None:
            w = self.eval(stmt.weight, env, sc.file)
            if not isinstance(w, int | float) or isinstance(w, bool):
                self.rep.error("E020", f"an energy weight must be a number, got {w!r}", stmt.weight.span, file=sc.file)
                raise _Bad
            weight = float(w)
        call = stmt.call
        if call.func in ENERGIES:
            spec = ENERGIES[call.func]
            args = self.args(sc, call, env, key)
            if spec.arity is not None and len(args) != spec.arity:
                self.rep.error("E018", f"energy '{call.func}' takes {spec.arity} variable(s), got {len(args)}",
                               call.span, file=sc.file, fields={"expected": spec.arity, "got": len(args), "node": key})
                raise _Bad
            opts = self.options(call.options, env, sc.file)
            self.check_part_options(f"'{call.func}'", spec.options, opts, call.options, sc.file, "energy ")
            source = self.fixed(stmt, spec, sc.file, f"energy {key}")
            term = EnergyTerm(name, call.func, args, weight, opts, span=stmt.span, file=sc.file, fixed=stmt.fixed,
                              source=source)
        elif call.func in sc.fns or call.func in FUNCTIONS:
            sc.anon += 1
            anon = sc.qualify(f"{key}/{call.func}{sc.anon}")
            self.graph.add(Variable(anon, "observed", Domain("real", ()), computed=True, anonymous=True,
                                    span=call.span, file=sc.file), sc.prefix.rstrip("."))
            if stmt.fixed:
                self.rep.error("E024", f"energy {key} = {call.func}(...) is a function's value: its weights are "
                               f"the function's", stmt.span, file=sc.file,
                               hint=f"fix the function instead: fn {call.func} = ...(...) fixed")
                raise _Bad
            self.apply(sc, call, env, anon, key)
            term = EnergyTerm(name, "scalar", [anon], weight, span=stmt.span, file=sc.file)
        else:
            self.rep.error("E017", f"unknown energy '{call.func}'", call.span, file=sc.file,
                           hint=_with_plugins(did_you_mean(call.func, list(ENERGIES) + list(sc.fns)),
                                              "energies: " + ", ".join(sorted(ENERGIES))))
            raise _Bad
        self.require(term.args)
        self.graph.add(term, sc.prefix.rstrip("."))
        for i, a in enumerate(term.args):
            self.graph.connect(self.graph.var(a), term, pos=i)

    def regularize(self, sc: _Scope, stmt: d.RegularizeDecl, env: dict[str, Any]) -> None:
        """A training-time regularizer, checked against the regularizer catalogue (arity, options)."""
        assert self.graph is not None
        call = stmt.call
        spec = REGULARIZERS.get(call.func)
        if spec is None:
            self.rep.error("E017", f"unknown regularizer '{call.func}'", call.span, file=sc.file,
                           hint=did_you_mean(call.func, REGULARIZERS) or "choose one of " + ", ".join(REGULARIZERS))
            raise _Bad
        if any(isinstance(a, d.Call) for a in call.args):
            self.rep.error("E018", "a regularizer names variables; give nested calls a name first", call.span,
                           file=sc.file)
            raise _Bad
        args = [self.resolve(sc, a, env) for a in call.args if isinstance(a, d.VarRef)]
        if len(args) != spec.arity:
            self.rep.error("E018", f"regularizer '{call.func}' takes {spec.arity} variable(s), got {len(args)}",
                           call.span, file=sc.file, hint=spec.doc,
                           fields={"expected": spec.arity, "got": len(args), "node": stmt.name})
            raise _Bad
        opts = self.options(call.options, env, sc.file, names_as_str=False)
        for (k, value), o in zip(opts, call.options, strict=True):
            option = spec.option(k)
            if option is None or option.kind == "sizes":
                names = [x.name for x in spec.options if x.kind != "sizes"]
                self.rep.error("E061", f"regularizer '{call.func}' has no option '{k}'" +
                               (" in a .ebm file (set it in the training config)" if option else ""), o.span,
                               file=sc.file, hint=did_you_mean(k, names) or "its options are " + ", ".join(names))
                continue
            want = option.problem(value)
            if want is not None:
                self.rep.error("E061", f"option '{k}' of regularizer '{call.func}' must be {want}, got {value!r}",
                               o.span, file=sc.file, hint=f"{k}: {option.doc}")
        if sc.qualify(stmt.name) in self.graph.regularizers:
            self.rep.error("E015", f"regularizer '{stmt.name}' is defined twice", stmt.span, file=sc.file)
            raise _Bad
        name = sc.qualify(stmt.name)
        self.graph.regularizers[name] = Regularizer(name, call.func, args, opts, span=stmt.span)

    def use(self, sc: _Scope, stmt: d.UseDecl, env: dict[str, Any], chain: list[str]) -> list[str]:
        """Inline one sub-model instance; returns the names it makes available (itself, its outputs)."""
        assert self.graph is not None
        key = self.instance_key(sc, stmt, env)
        if stmt.model not in sc.models:
            self.rep.error("E030", f"unknown model '{stmt.model}'", stmt.span, file=sc.file,
                           hint=did_you_mean(stmt.model, sc.models) or
                           f"import the file that defines it: import \"{stmt.model.lower()}.ebm\"")
            raise _Bad
        model, mfile = sc.models[stmt.model]
        if model.name in chain:
            self.rep.error("E031", f"model '{model.name}' uses itself: {' -> '.join(chain + [model.name])}",
                           stmt.span, file=sc.file, hint="a model cannot contain itself; to repeat a model, "
                           "use it several times from a parent, in a loop: use m[i] = M(...)")
            raise _Bad
        given: dict[str, Any] = {}
        for o in stmt.options:
            given[o.key] = self.eval(o.value, env, sc.file)
        sub_env = self.params(model, given, mfile, stmt, sc.file)
        outputs = _computed_names(model)
        declared = {v.name for v in d.walk_statements(model.body) if isinstance(v, d.VarDecl)}
        ports: dict[str, str] = {}
        sites: dict[str, tuple[str, Span | None]] = {}
        bound_out: list[tuple[str, str]] = []  # (port, parent key)
        bound_at: dict[str, Span | None] = {}
        for b in stmt.bindings:
            try:
                port = _key(b.port, [self.index(i, env, sc.file) for i in b.index])
            except _Bad:
                continue
            if port in bound_at:
                first = bound_at[port]
                self.rep.error("E034", f"port '{port}' of '{key}' is bound twice", b.span, file=sc.file,
                               notes=[f"first bound at line {first.line}, column {first.column}"] if first else [],
                               hint="bind each port once; keep the binding you mean")
                continue
            bound_at[port] = b.span
            if b.port in outputs:
                try:
                    bound_out.append((port, self.target_key(sc, b.target, env)))
                except _Bad:
                    pass
                continue
            if b.port not in declared:
                self.rep.error("E032", f"model '{model.name}' has no variable '{b.port}' to bind", b.span,
                               file=sc.file, hint=did_you_mean(b.port, declared | outputs) or
                               "its variables are " + ", ".join(sorted(declared | outputs)))
                continue
            try:
                for p_key, target in self.bind_port(sc, model, sub_env, mfile, b, port, env):
                    ports[p_key] = target
                    sites[p_key] = (sc.file, b.span)
            except _Bad:
                continue
        fn_prefix = sc.fn_prefix + key + "."
        if stmt.shares is not None:
            other = _key(stmt.shares, [self.index(i, env, sc.file) for i in stmt.shares_index])
            if other == key:
                pass  # `use wm[t] ... shares wm[0]` at t = 0: the first instance owns the parameters
            elif other not in sc.instances:
                self.rep.error("E033", f"'shares {other}': no instance named '{other}'", stmt.span, file=sc.file,
                               hint=did_you_mean(other, sc.instances) or "share the parameters of an instance "
                               "declared with use in this model")
            elif sc.instances[other].model != stmt.model:
                self.rep.error("E033", f"'{key}' ({stmt.model}) cannot share the parameters of "
                               f"'{other}' ({sc.instances[other].model})", stmt.span, file=sc.file,
                               hint="only instances of the same model can share parameters")
            else:
                fn_prefix = sc.fn_prefix + other + "."
        inst = sc.qualify(key)
        self.graph.instances[inst] = model.name
        self.graph.instance_sites[inst] = (sc.file, stmt.span)
        before = len(self.rep.diagnostics)
        inner = self.instance(model, mfile, sub_env, inst + ".", ports, fn_prefix,
                              self.models_of(mfile, sc), chain + [model.name], sites)
        # say which `use` made the instance a message points into (the form of Graph.used_from)
        site = f"{sc.file}:{stmt.span.line}:{stmt.span.column}" if stmt.span else sc.file
        note = f"in '{inst}' ({model.name}), used from {site}"
        for diag in self.rep.diagnostics[before:]:
            if diag.file != sc.file and note not in diag.notes:
                diag.notes.append(note)
        for local, node in inner.names.items():
            sc.names[f"{key}.{local}"] = node
        for base, keys in inner.families.items():
            sc.families[f"{key}.{base}"] = [f"{key}.{k}" for k in keys]
        sc.done.add(key)
        made = [key]
        for port, target in bound_out:
            if port in inner.names:
                sc.names[target] = inner.names[port]
                sc.pending.discard(target)
                made.append(target)
            elif port in inner.families:
                self.rep.error("E032", f"'{port}' of model '{model.name}' is indexed; bind one element",
                               stmt.span, file=sc.file, hint=f"bind an element ({inner.families[port][0]} = x), or "
                               f"read one in the parent: x = {key}.{inner.families[port][0]}")
            else:
                base = port.split("[", 1)[0]
                family = inner.families.get(base, [])
                self.rep.error("E032", f"model '{model.name}' has no '{port}' to bind", stmt.span, file=sc.file,
                               hint=f"'{base}' has elements " + (", ".join(family) if len(family) <= 4 else
                                                                 f"{family[0]} ... {family[-1]}") if family else None)
        return made

    def bind_port(self, sc: _Scope, model: d.ModelDecl, sub_env: dict[str, Any], mfile: str, b: d.Binding,
                  port: str, env: dict[str, Any]) -> list[tuple[str, str]]:
        """The (sub-model variable, parent node) pairs one binding of a `use` makes: the port itself
        ({ x = y }), one element of an indexed port ({ s[0] = x }), or a whole family element by
        element ({ s = xs }: the sizes must agree)."""
        decl = next((v for v in model.body if isinstance(v, d.VarDecl) and v.name == b.port), None)
        if decl is None or decl.index is None:  # a plain port (or one declared in a loop: the instance checks it)
            return [(port, self.resolve(sc, b.target, env))]
        keys = self.decl_keys(decl, sub_env, mfile)
        if b.index:
            if port not in keys:
                self.rep.error("E032", f"model '{model.name}' has no element '{port}' to bind", b.span, file=sc.file,
                               hint=f"'{b.port}' has elements " + (", ".join(keys) if len(keys) <= 4 else
                                                                  f"{keys[0]} ... {keys[-1]}"))
                raise _Bad
            return [(port, self.resolve(sc, b.target, env))]
        # a whole family: the parent's must be one too, of the same size
        base = self.ref_key(sc, d.VarRef(name=b.target.name, scopes=b.target.scopes), env)
        idx = [self.index(i, env, sc.file) for i in b.target.indices]
        family = sc.families.get(base) if not idx else None
        if family is None:
            self.rep.error("E032", f"'{b.port}' of model '{model.name}' is indexed ({keys[0]} ... {keys[-1]}, "
                           f"{len(keys)} elements); '{_key(base, idx)}' is not a family to bind it to", b.span,
                           file=sc.file, hint=f"bind an element ({keys[0]} = x), or a family of {len(keys)} elements")
            raise _Bad
        if len(family) != len(keys):
            self.rep.error("E032", f"'{b.port}' of model '{model.name}' has {len(keys)} elements ({keys[0]} ... "
                           f"{keys[-1]}); '{b.target.name}' has {len(family)} ({family[0]} ... {family[-1]})",
                           b.span, file=sc.file, hint="bind families of the same size, or bind elements one by one")
            raise _Bad
        return [(k, sc.names[f]) for k, f in zip(keys, family, strict=True)]

    def models_of(self, file: str, sc: _Scope) -> dict[str, tuple[d.ModelDecl, str]]:
        if file == sc.file:
            return sc.models
        return dict(self.file_models.get(file, {}))


_OUTPUTS: dict[int, tuple[d.ModelDecl, set[str]]] = {}


def loop_bound(e: d.Expr, params: dict[str, Any]) -> Any:
    """A loop bound evaluated with the model's parameters, as elaboration did (None if it cannot be)."""
    try:
        return Elaborator(Reporter("<bound>", "")).eval(e, params, "<bound>")
    except _Bad:
        return None


NOISES: dict[str, dict[str, float]] = {"normal": {"mean": 0.0, "std": 1.0}, "uniform": {"low": 0.0, "high": 1.0}}


def _the_root(fdecl: d.FileDecl) -> str | None:
    """The model of a file of several that uses, directly or not, every other (a JEPA file with its
    Encoder, a bundled checkpoint): the one meant when none is named. None when there is no such one."""
    names = {m.name for m in fdecl.models}
    for m in fdecl.models:
        if d.models_used(fdecl.models, m.name) == names:
            return m.name
    return None


def _with_plugins(suggestion: str | None, otherwise: str | None = None) -> str:
    """The hint of an unknown part: the near name, if any, and always how a part written in Python
    comes in (or why a plugin that should have brought it failed)."""
    plugin = unknown_part_hint() or ("a part written in Python comes in as a plugin: --plugins mymodule on the "
                                     "command line, plugins = [...] in a training config, or an installed "
                                     "package's entry-point group ebmgraph.parts")
    first = suggestion or otherwise
    if not first:
        return plugin
    return f"{first} {plugin[0].upper()}{plugin[1:]}" if first.endswith("?") else f"{first}; {plugin}"


def _computed_names(model: d.ModelDecl) -> set[str]:
    """A model's output ports: the variables it computes (assignments, aliases, params); found once
    per declaration (every `use` of a loop asks)."""
    hit = _OUTPUTS.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    out, declared = set(), set()
    for s in d.walk_statements(model.body):
        if isinstance(s, d.Assign | d.Alias):
            out.add(s.target.name)
        elif isinstance(s, d.ParamDecl):
            out.add(s.name)
        elif isinstance(s, d.VarDecl):
            declared.add(s.name)
    out -= declared  # a family declared in part (observed s[0]) and computed after (s[t + 1] = ...) is bound as an input
    if len(_OUTPUTS) > 256:
        _OUTPUTS.clear()
    _OUTPUTS[id(model)] = (model, out)
    return out


def elaborate(fdecl: d.FileDecl, file: str, reporter: Reporter, model: str | None = None,
              roots: list[Path] | None = None, limits: Limits = DEFAULT,
              params: dict[str, Any] | None = None) -> Graph | None:
    """Build the Graph IR of one model of a parsed file (by default its last model), its
    parameters set from `params` where given (the file's defaults otherwise)."""
    try:
        return Elaborator(reporter, roots, limits, params).run(fdecl, file, model)
    except _Bad:
        return None


FROM_CHECKPOINT = "<checkpoint "  # the file name a checkpoint's source is read under (checkpoint.py)


def _array_problem(path: Any) -> str | None:
    """Why the weights file cannot be used (None when it is a .npy / .npz of floats), from its header
    alone: numpy reads no data and runs no pickle."""
    if path.suffix not in (".npy", ".npz"):
        return f"'{path.name}' is not a .npy or .npz file"
    if not path.is_file():
        return f"'{path}' does not exist"
    import numpy as np
    try:
        if path.suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            kinds = {arr.dtype.kind}
        else:
            with np.load(path, allow_pickle=False) as z:
                kinds = {z[k].dtype.kind for k in z.files}
    except (OSError, ValueError) as exc:
        return f"cannot read '{path.name}': {exc}"
    if not kinds <= {"f"}:
        return f"'{path.name}' holds {', '.join(sorted(kinds))} values, not floats"
    return None
