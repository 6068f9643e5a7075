"""Typed declarations of a `.ebm` program (plain dataclasses), each with its source span.

This is the template level: parameters are still names, loops are not unrolled, `use`
statements are not inlined. `elaborate.py` turns it into the Graph IR. Two declarations
compare equal when they say the same thing; spans are ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from .diagnostics import Span

# Plain dataclasses rather than pydantic models: the declarations are built by the parser only
# (nothing to validate from outside), and `ebm check` must start fast (pydantic costs ~0.2 s to
# import and build these classes). Fields named here carry layout, not meaning.
_NOT_MEANING = frozenset({"span", "comments", "trailing", "end_comments", "path", "repaired"})


def _meaning_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_MEANING)


BLANK = "\n"  # in a list of comments: a blank line between two blocks of them


@dataclass(eq=False, kw_only=True)
class Decl:
    span: Span | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented if not isinstance(other, Decl) else False
        names = _MEANING.get(type(self)) or _MEANING.setdefault(type(self), _meaning_fields(type(self)))
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __hash__(self) -> int:  # pragma: no cover - decls are not used as keys
        return id(self)


_MEANING: dict[type, tuple[str, ...]] = {}


# ---------------------------------------------------------------- expressions
@dataclass(eq=False, kw_only=True)
class Num(Decl):
    kind: Literal["num"] = "num"
    value: int | float


@dataclass(eq=False, kw_only=True)
class Name(Decl):
    kind: Literal["name"] = "name"
    id: str


@dataclass(eq=False, kw_only=True)
class Bool(Decl):
    kind: Literal["bool"] = "bool"
    value: bool


@dataclass(eq=False, kw_only=True)
class Str(Decl):
    kind: Literal["str"] = "str"
    value: str


@dataclass(eq=False, kw_only=True)
class Neg(Decl):
    kind: Literal["neg"] = "neg"
    operand: Expr


@dataclass(eq=False, kw_only=True)
class BinOp(Decl):
    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "%"]
    left: Expr
    right: Expr


Expr = Num | Name | Bool | Str | Neg | BinOp


@dataclass(eq=False, kw_only=True)
class Option(Decl):
    """`key = value`, in infer clauses, fn declarations, calls and `use` parameters."""

    key: str
    value: Expr


# ---------------------------------------------------------------- domains
@dataclass(eq=False, kw_only=True)
class Real(Decl):
    kind: Literal["real"] = "real"
    shape: list[Expr]
    box: tuple[Expr, Expr] | None = None
    sphere: Expr | None = None
    on_sphere: bool = False


@dataclass(eq=False, kw_only=True)
class Categorical(Decl):
    kind: Literal["categorical"] = "categorical"
    k: Expr
    shape: list[Expr] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Spins(Decl):
    kind: Literal["spins"] = "spins"
    shape: list[Expr]


@dataclass(eq=False, kw_only=True)
class Bits(Decl):
    kind: Literal["bits"] = "bits"
    shape: list[Expr]


Domain = Real | Categorical | Spins | Bits


@dataclass(eq=False, kw_only=True)
class InferSpec(Decl):
    """How a latent is eliminated: minimize, enumerate, marginal, sample, amortized."""

    method: str
    options: list[Option] = field(default_factory=list)


# ---------------------------------------------------------------- references and calls
@dataclass(eq=False, kw_only=True)
class VarRef(Decl):
    kind: Literal["ref"] = "ref"
    name: str  # possibly qualified: "lo.sx", "wm.s_next"
    indices: list[Expr] = field(default_factory=list)  # on the last part: s[t]
    # on the instance parts before it, one list per '.' (wm[t].s_next: [[t]]); [] when none has any
    scopes: list[list[Expr]] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Call(Decl):
    kind: Literal["call"] = "call"
    func: str
    args: list[Arg] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)


Arg = VarRef | Call


# ---------------------------------------------------------------- statements
@dataclass(eq=False, kw_only=True)
class Stmt(Decl):
    # comments are kept for the printer but are not part of what a declaration means
    comments: list[str] = field(default_factory=list)  # whole-line comments just above
    trailing: str | None = None  # a comment at the end of its line


@dataclass(eq=False, kw_only=True)
class Index(Decl):
    """`[i]` (one element) or `[lo..hi]` (inclusive range) on a declaration."""

    lo: Expr
    hi: Expr | None = None


@dataclass(eq=False, kw_only=True)
class VarDecl(Stmt):
    kind: Literal["var"] = "var"
    role: Literal["observed", "latent", "noise"]
    name: str
    index: Index | None = None
    domain: Domain
    infer: InferSpec | None = None
    dist: str | None = None  # noise: its distribution (normal, uniform) ...
    dist_options: list[Option] = field(default_factory=list)  # ... and its options (std = 0.1)


@dataclass(eq=False, kw_only=True)
class FnDecl(Stmt):
    kind: Literal["fn"] = "fn"
    name: str
    func: str  # catalogue name, or for `fresh` the fn it copies
    args: list[Expr] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    fresh: bool = False
    fixed: bool = False  # `fixed`: its weights are not trained
    source: str | None = None  # `fixed from "atoms.npy"`: where its weights come from (beside the file)


@dataclass(eq=False, kw_only=True)
class Assign(Stmt):
    kind: Literal["assign"] = "assign"
    target: VarRef
    value: Call


@dataclass(eq=False, kw_only=True)
class EnergyDecl(Stmt):
    kind: Literal["energy"] = "energy"
    name: str
    index: Expr | None = None
    weight: Expr | None = None
    call: Call
    fixed: bool = False  # `fixed`: its weights (hopfield's W, bilinear's) are not trained
    source: str | None = None  # `fixed from "w.npy"`: where its weights come from (beside the file)


@dataclass(eq=False, kw_only=True)
class Alias(Stmt):
    """`s[t + 1] = wm[t].s_next`: another name for a variable (a sub-model's output port)."""

    kind: Literal["alias"] = "alias"
    target: VarRef
    source: VarRef


@dataclass(eq=False, kw_only=True)
class ParamDecl(Stmt):
    """`param w : R[K]`: a free trainable tensor, the same for every sample."""

    kind: Literal["param"] = "param"
    name: str
    domain: Domain


@dataclass(eq=False, kw_only=True)
class InferDecl(Stmt):
    """`infer lo.z minimize(steps = 50)`: how a (sub-model's) latent is eliminated, set from here.
    `target` is None for a clause that follows no latent's declaration (an error)."""

    kind: Literal["infer"] = "infer"
    target: VarRef | None = None
    spec: InferSpec


@dataclass(eq=False, kw_only=True)
class RegularizeDecl(Stmt):
    kind: Literal["regularize"] = "regularize"
    name: str
    call: Call


@dataclass(eq=False, kw_only=True)
class ForLoop(Stmt):
    kind: Literal["for"] = "for"
    var: str
    lo: Expr
    hi: Expr
    body: list[Statement] = field(default_factory=list)
    end_comments: list[str] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Binding(Decl):
    port: str
    target: VarRef
    index: list[Expr] = field(default_factory=list)  # { s[0] = x }: an element of an indexed port


@dataclass(eq=False, kw_only=True)
class UseDecl(Stmt):
    kind: Literal["use"] = "use"
    name: str
    index: Expr | None = None  # use wm[t] = ... inside a loop
    model: str
    options: list[Option] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    shares: str | None = None
    shares_index: list[Expr] = field(default_factory=list)  # shares wm[0]


Statement = VarDecl | FnDecl | Assign | Alias | ParamDecl | InferDecl | EnergyDecl | RegularizeDecl | ForLoop | UseDecl


@dataclass(eq=False, kw_only=True)
class Param(Decl):
    name: str
    default: Expr


@dataclass(eq=False, kw_only=True)
class ModelDecl(Decl):
    name: str
    params: list[Param] = field(default_factory=list)
    body: list[Statement] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    end_comments: list[str] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class Import(Decl):
    path: str
    comments: list[str] = field(default_factory=list)


@dataclass(eq=False, kw_only=True)
class FileDecl(Decl):
    imports: list[Import] = field(default_factory=list)
    models: list[ModelDecl] = field(default_factory=list)
    end_comments: list[str] = field(default_factory=list)
    path: str | None = None
    repaired: bool = False  # parsed after syntax errors repaired by insertion


def walk_statements(body: list[Any]) -> list[Any]:
    """All statements of a body, loop bodies included, in source order."""
    out: list[Any] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ForLoop):
            out.extend(walk_statements(stmt.body))
    return out


def models_used(models: list[ModelDecl], start: str) -> set[str]:
    """`start` and every model of `models` it uses, directly or through others (by `use`)."""
    by_name = {m.name: m for m in models}
    seen: set[str] = set()
    todo = [start]
    while todo:
        n = todo.pop()
        if n in seen or n not in by_name:
            continue
        seen.add(n)
        todo.extend(s.model for s in walk_statements(by_name[n].body) if isinstance(s, UseDecl))
    return seen
