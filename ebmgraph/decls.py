"""Typed declarations of a `.ebm` program (pydantic), each with its source span.

This is the template level: parameters are still names, loops are not unrolled, `use`
statements are not inlined. `elaborate.py` turns it into the Graph IR. Two declarations
compare equal when they say the same thing; spans are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .diagnostics import Span


class Decl(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    span: Span | None = Field(default=None, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.model_dump() == other.model_dump()  # type: ignore[attr-defined]

    def __hash__(self) -> int:  # pragma: no cover - decls are not used as keys
        return id(self)


# ---------------------------------------------------------------- expressions
class Num(Decl):
    kind: Literal["num"] = "num"
    value: int | float


class Name(Decl):
    kind: Literal["name"] = "name"
    id: str


class Bool(Decl):
    kind: Literal["bool"] = "bool"
    value: bool


class Str(Decl):
    kind: Literal["str"] = "str"
    value: str


class Neg(Decl):
    kind: Literal["neg"] = "neg"
    operand: Expr


class BinOp(Decl):
    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "%"]
    left: Expr
    right: Expr


Expr = Annotated[Num | Name | Bool | Str | Neg | BinOp, Field(discriminator="kind")]


class Option(Decl):
    """`key = value`, in infer clauses, fn declarations, calls and `use` parameters."""

    key: str
    value: Expr


# ---------------------------------------------------------------- domains
class Real(Decl):
    kind: Literal["real"] = "real"
    shape: list[Expr]
    box: tuple[Expr, Expr] | None = None
    sphere: Expr | None = None
    on_sphere: bool = False


class Categorical(Decl):
    kind: Literal["categorical"] = "categorical"
    k: Expr
    shape: list[Expr] = []


class Spins(Decl):
    kind: Literal["spins"] = "spins"
    shape: list[Expr]


class Bits(Decl):
    kind: Literal["bits"] = "bits"
    shape: list[Expr]


Domain = Annotated[Real | Categorical | Spins | Bits, Field(discriminator="kind")]


class InferSpec(Decl):
    """How a latent is eliminated: minimize, enumerate, marginal, sample, amortized."""

    method: str
    options: list[Option] = []


# ---------------------------------------------------------------- references and calls
class VarRef(Decl):
    kind: Literal["ref"] = "ref"
    name: str  # possibly qualified: "lo.sx", "wm.s_next"
    indices: list[Expr] = []  # on the last part: s[t]
    # on the instance parts before it, one list per '.' (wm[t].s_next: [[t]]); [] when none has any
    scopes: list[list[Expr]] = []


class Call(Decl):
    kind: Literal["call"] = "call"
    func: str
    args: list[Arg] = []
    options: list[Option] = []


Arg = Annotated[VarRef | Call, Field(discriminator="kind")]


# ---------------------------------------------------------------- statements
class Stmt(Decl):
    # comments are kept for the printer but are not part of what a declaration means
    comments: list[str] = Field(default=[], exclude=True)  # whole-line comments just above
    trailing: str | None = Field(default=None, exclude=True)  # a comment at the end of its line


class Index(Decl):
    """`[i]` (one element) or `[lo..hi]` (inclusive range) on a declaration."""

    lo: Expr
    hi: Expr | None = None


class VarDecl(Stmt):
    kind: Literal["var"] = "var"
    role: Literal["observed", "latent"]
    name: str
    index: Index | None = None
    domain: Domain
    infer: InferSpec | None = None


class FnDecl(Stmt):
    kind: Literal["fn"] = "fn"
    name: str
    func: str  # catalogue name, or for `fresh` the fn it copies
    args: list[Expr] = []
    options: list[Option] = []
    fresh: bool = False


class Assign(Stmt):
    kind: Literal["assign"] = "assign"
    target: VarRef
    value: Call


class EnergyDecl(Stmt):
    kind: Literal["energy"] = "energy"
    name: str
    index: Expr | None = None
    weight: Expr | None = None
    call: Call


class Alias(Stmt):
    """`s[t + 1] = wm[t].s_next`: another name for a variable (a sub-model's output port)."""

    kind: Literal["alias"] = "alias"
    target: VarRef
    source: VarRef


class ParamDecl(Stmt):
    """`param w : R[K]`: a free trainable tensor, the same for every sample."""

    kind: Literal["param"] = "param"
    name: str
    domain: Domain


class InferDecl(Stmt):
    """`infer lo.z minimize(steps = 50)`: how a (sub-model's) latent is eliminated, set from here.
    `target` is None for a clause that follows no latent's declaration (an error)."""

    kind: Literal["infer"] = "infer"
    target: VarRef | None = None
    spec: InferSpec


class RegularizeDecl(Stmt):
    kind: Literal["regularize"] = "regularize"
    name: str
    call: Call


class ForLoop(Stmt):
    kind: Literal["for"] = "for"
    var: str
    lo: Expr
    hi: Expr
    body: list[Statement] = []
    end_comments: list[str] = Field(default=[], exclude=True)


class Binding(Decl):
    port: str
    target: VarRef


class UseDecl(Stmt):
    kind: Literal["use"] = "use"
    name: str
    index: Expr | None = None  # use wm[t] = ... inside a loop
    model: str
    options: list[Option] = []
    bindings: list[Binding] = []
    shares: str | None = None
    shares_index: list[Expr] = []  # shares wm[0]


Statement = Annotated[
    VarDecl | FnDecl | Assign | Alias | ParamDecl | InferDecl | EnergyDecl | RegularizeDecl | ForLoop | UseDecl,
    Field(discriminator="kind")
]


class Param(Decl):
    name: str
    default: Expr


class ModelDecl(Decl):
    name: str
    params: list[Param] = []
    body: list[Statement] = []
    comments: list[str] = Field(default=[], exclude=True)
    end_comments: list[str] = Field(default=[], exclude=True)


class Import(Decl):
    path: str
    comments: list[str] = Field(default=[], exclude=True)


class FileDecl(Decl):
    imports: list[Import] = []
    models: list[ModelDecl] = []
    end_comments: list[str] = Field(default=[], exclude=True)
    path: str | None = Field(default=None, exclude=True)
    repaired: bool = Field(default=False, exclude=True)  # parsed after syntax errors repaired by insertion


for _cls in (Neg, BinOp, Call, ForLoop):
    _cls.model_rebuild()


def walk_statements(body: list[Any]) -> list[Any]:
    """All statements of a body, loop bodies included, in source order."""
    out: list[Any] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ForLoop):
            out.extend(walk_statements(stmt.body))
    return out
