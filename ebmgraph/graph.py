"""The Graph IR: the node kinds of Fig. 18 (003 appendix) on a networkx DiGraph.

Nodes are variables (observed: filled circle, latent: hollow circle), applications of a
deterministic function (rounded box) and energy terms (red box). Edges run
variable -> application -> variable (the direction of computation) and variable -> energy
(drawn undirected). A Graph also keeps the declarations it was elaborated from, so the
printer can give back loops, imports, parameters and comments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

from .decls import FileDecl, ModelDecl
from .diagnostics import Span

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Domain:
    """A resolved domain: reals (maybe boxed or on a sphere), categorical {k}, spins, bits."""

    kind: Literal["real", "categorical", "spins", "bits"]
    shape: Shape
    k: int | None = None
    box: tuple[float, float] | None = None
    sphere: float | None = None

    @property
    def discrete(self) -> bool:
        return self.kind != "real"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def values(self) -> int:
        """Number of values of one discrete element (k, or 2 for spins and bits)."""
        return self.k if self.kind == "categorical" and self.k else 2

    def __str__(self) -> str:
        dims = ", ".join(str(s) for s in self.shape)
        if self.kind == "real":
            text = f"R[{dims}]"
            if self.box:
                text += f" in box({self.box[0]:g}, {self.box[1]:g})"
            if self.sphere is not None:
                text += f" on sphere({self.sphere:g})"
            return text
        if self.kind == "categorical":
            return f"{{{self.k}}}" + (f"[{dims}]" if self.shape else "")
        return f"{self.kind}[{dims}]"


@dataclass(frozen=True)
class Infer:
    """A latent's declared inference method and its options."""

    method: str
    options: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass
class Variable:
    name: str
    role: Literal["observed", "latent"]
    domain: Domain
    infer: Infer | None = None
    computed: bool = False  # the output of a deterministic function
    anonymous: bool = False  # the output of a nested call, named by the elaborator
    span: Span | None = None
    file: str | None = None

    kind = "variable"


@dataclass
class Application:
    """One application of a shared function: inputs -> output."""

    name: str
    fn: str
    args: list[str]
    output: str
    span: Span | None = None
    file: str | None = None

    kind = "function"


@dataclass
class EnergyTerm:
    name: str
    energy: str
    args: list[str]
    weight: float = 1.0
    options: tuple[tuple[str, Any], ...] = ()
    span: Span | None = None
    file: str | None = None

    kind = "energy"


@dataclass
class FnDef:
    """A declared function: one parameter set, however many times it is applied."""

    name: str
    func: str
    args: tuple[Any, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    shares: str | None = None  # the fn whose parameters it uses (a `use ... shares` instance)
    span: Span | None = None
    file: str | None = None


@dataclass
class Regularizer:
    """A training-time regularizer declared on variables (VICReg on s_x, s_y, ...)."""

    name: str
    method: str
    args: list[str]
    options: tuple[tuple[str, Any], ...] = ()
    span: Span | None = None


Node = Variable | Application | EnergyTerm


@dataclass
class Graph:
    """An elaborated diagram: parameters resolved, loops unrolled, sub-models inlined, shapes known."""

    name: str
    program: FileDecl
    nx: nx.DiGraph = field(default_factory=nx.DiGraph)
    fns: dict[str, FnDef] = field(default_factory=dict)
    regularizers: dict[str, Regularizer] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)  # node -> instance prefix ("lo", "hi.lo")
    instances: dict[str, str] = field(default_factory=dict)  # instance prefix -> model name
    instance_sites: dict[str, tuple[str, Span | None]] = field(default_factory=dict)  # prefix -> its `use`
    params: dict[str, Any] = field(default_factory=dict)
    imported: dict[str, FileDecl] = field(default_factory=dict)
    warnings: list[Any] = field(default_factory=list)

    # ------------------------------------------------------------ access
    def node(self, name: str) -> Node:
        obj: Node = self.nx.nodes[name]["obj"]
        return obj

    def var(self, name: str) -> Variable:
        obj = self.node(name)
        if not isinstance(obj, Variable):
            raise KeyError(f"{name!r} is not a variable")
        return obj

    def add(self, obj: Node, cluster: str = "") -> None:
        self.nx.add_node(obj.name, obj=obj)
        if cluster:
            self.clusters[obj.name] = cluster

    @property
    def model(self) -> ModelDecl:
        return next(m for m in self.program.models if m.name == self.name)

    @property
    def variables(self) -> list[Variable]:
        return [o for o in (self.nx.nodes[n]["obj"] for n in self.nx.nodes) if isinstance(o, Variable)]

    @property
    def applications(self) -> list[Application]:
        return [o for o in (self.nx.nodes[n]["obj"] for n in self.nx.nodes) if isinstance(o, Application)]

    @property
    def energies(self) -> list[EnergyTerm]:
        return [o for o in (self.nx.nodes[n]["obj"] for n in self.nx.nodes) if isinstance(o, EnergyTerm)]

    def observed(self) -> list[Variable]:
        """Observed variables that are inputs (not computed by a function)."""
        return [v for v in self.variables if v.role == "observed" and not v.computed]

    def latents(self) -> list[Variable]:
        return [v for v in self.variables if v.role == "latent"]

    def producer(self, var: str) -> Application | None:
        for p in self.nx.predecessors(var):
            obj = self.node(p)
            if isinstance(obj, Application):
                return obj
        return None

    def used_from(self, name: str) -> list[str]:
        """Notes saying which `use` statements put a node of a sub-model here, innermost first."""
        prefix = self.clusters.get(name, "")
        notes = []
        while prefix:
            file, span = self.instance_sites.get(prefix, ("?", None))
            where = f"{file}:{span.line}:{span.column}" if span else file
            notes.append(f"in '{prefix}' ({self.instances.get(prefix, '?')}), used from {where}")
            prefix = prefix.rsplit(".", 1)[0] if "." in prefix else ""
        return notes

    def energies_touching(self, var: str) -> list[EnergyTerm]:
        """Energy terms that depend on `var`, directly or through functions."""
        out = []
        for n in nx.descendants(self.nx, var):
            obj = self.node(n)
            if isinstance(obj, EnergyTerm):
                out.append(obj)
        return sorted(out, key=lambda e: e.name)

    # ------------------------------------------------------------ comparison and display
    def signature(self) -> tuple[Any, ...]:
        nodes: list[tuple[Any, ...]] = []
        for n in sorted(self.nx.nodes):
            o = self.node(n)
            if isinstance(o, Variable):
                nodes.append(("var", o.name, o.role, str(o.domain), o.infer, o.computed))
            elif isinstance(o, Application):
                nodes.append(("app", o.name, o.fn, tuple(o.args), o.output))
            else:
                nodes.append(("energy", o.name, o.energy, tuple(o.args), o.weight, o.options))
        fns = tuple(sorted((f.name, f.func, f.args, f.options, f.shares) for f in self.fns.values()))
        regs = tuple(sorted((r.name, r.method, tuple(r.args), r.options) for r in self.regularizers.values()))
        return (self.name, tuple(nodes), tuple(sorted(self.nx.edges)), fns, regs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.signature() == other.signature() and self.model == other.model

    def __str__(self) -> str:
        """A table of the IR, one line per node, in the spirit of torch.fx's graph printout."""
        lines = [f"graph {self.name}"]
        for n in nx.lexicographical_topological_sort(self.nx):
            o = self.node(n)
            if isinstance(o, Variable):
                tag = "computed" if o.computed else o.role
                inf = f"  infer {o.infer.method}" if o.infer else ""
                lines.append(f"  {tag:9} {o.name:24} {o.domain}{inf}")
            elif isinstance(o, Application):
                lines.append(f"  {'apply':9} {o.output:24} = {o.fn}({', '.join(o.args)})")
            else:
                w = "" if o.weight == 1.0 else f"{o.weight:g} * "
                lines.append(f"  {'energy':9} {o.name:24} = {w}{o.energy}({', '.join(o.args)})")
        return "\n".join(lines)

    __hash__ = None  # type: ignore[assignment]
