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
from .diagnostics import Reporter, Span
from .limits import DEFAULT, Limits

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
NodeKind = Literal["variable", "function", "energy"]
NodeKey = tuple[str, str]  # (kind, name): a node says what it is in a field, never in its name


def key(obj: Node) -> NodeKey:
    """The node's key in the graph: its kind and its name (an application is named by its output)."""
    return (obj.kind, obj.name)


@dataclass
class Graph:
    """An elaborated diagram: parameters resolved, loops unrolled, sub-models inlined, shapes known.

    Nodes are kept under (kind, name) keys, so a variable and an energy term may share a name;
    consumers read the graph through the accessors below, never through the networkx graph."""

    name: str
    program: FileDecl
    _dg: nx.DiGraph = field(default_factory=nx.DiGraph, repr=False)
    fns: dict[str, FnDef] = field(default_factory=dict)
    regularizers: dict[str, Regularizer] = field(default_factory=dict)
    clusters: dict[NodeKey, str] = field(default_factory=dict)  # node -> instance prefix ("lo", "hi.lo")
    instances: dict[str, str] = field(default_factory=dict)  # instance prefix -> model name
    instance_sites: dict[str, tuple[str, Span | None]] = field(default_factory=dict)  # prefix -> its `use`
    infer_sites: dict[str, tuple[str, Span | None]] = field(default_factory=dict)  # latent -> `infer` setting it
    one_hots: set[tuple[NodeKey, str]] = field(default_factory=set)  # (user, categorical input) made one-hot
    params: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)  # parameters set from outside the text (params=)
    imported: dict[str, FileDecl] = field(default_factory=dict)
    warnings: list[Any] = field(default_factory=list)
    limits: Limits = DEFAULT  # the bounds it was checked against; compile and inference keep to them
    _sorted: list[Node] | None = field(default=None, repr=False, compare=False)
    sources: dict[str, list[str]] = field(default_factory=dict, repr=False)  # file -> lines, for later diagnostics

    def reporter(self) -> Reporter:
        """A reporter that knows the graph's source lines (for errors found after elaboration)."""
        files = list(self.sources) or ["<graph>"]
        rep = Reporter(files[0], "")
        rep.sources.update(self.sources)
        return rep

    # ------------------------------------------------------------ building (the elaborator)
    def add(self, obj: Node, cluster: str = "") -> None:
        self._dg.add_node(key(obj), obj=obj)
        self._sorted = None
        if cluster:
            self.clusters[key(obj)] = cluster

    def connect(self, src: Node, dst: Node, pos: int | None = None) -> None:
        """An edge src -> dst: a variable into a function or an energy term, a function into its output."""
        if pos is None:
            self._dg.add_edge(key(src), key(dst))
        else:
            self._dg.add_edge(key(src), key(dst), pos=pos)

    def __len__(self) -> int:
        return int(self._dg.number_of_nodes())

    # ------------------------------------------------------------ access
    def node(self, k: NodeKey) -> Node:
        obj: Node = self._dg.nodes[k]["obj"]
        return obj

    def _get(self, kind: str, name: str) -> Any:
        data = self._dg.nodes.get((kind, name))
        if data is None or "obj" not in data:
            raise KeyError(f"no {kind} {name!r}")
        return data["obj"]

    def var(self, name: str) -> Variable:
        obj: Variable = self._get("variable", name)
        return obj

    def term(self, name: str) -> EnergyTerm:
        obj: EnergyTerm = self._get("energy", name)
        return obj

    def application(self, output: str) -> Application:
        obj: Application = self._get("function", output)
        return obj

    def has_var(self, name: str) -> bool:
        return "obj" in self._dg.nodes.get(("variable", name), {})

    def has_term(self, name: str) -> bool:
        return ("energy", name) in self._dg

    def cluster_of(self, obj: Node) -> str:
        """The sub-model instance prefix a node belongs to ('' at the top level)."""
        return self.clusters.get(key(obj), "")

    @property
    def model(self) -> ModelDecl:
        return next(m for m in self.program.models if m.name == self.name)

    @property
    def nodes(self) -> list[Node]:
        """Every node, sorted by (kind, name) (kept until a node is added)."""
        if self._sorted is None:
            self._sorted = [self._dg.nodes[k]["obj"] for k in sorted(self._dg.nodes) if "obj" in self._dg.nodes[k]]
        return list(self._sorted)

    def edges(self) -> list[tuple[Node, Node]]:
        """Every edge (source, target), sorted by their keys."""
        return [(self.node(u), self.node(v)) for u, v in sorted(self._dg.edges)]

    @property
    def variables(self) -> list[Variable]:
        return [o for o in self.nodes if isinstance(o, Variable)]

    @property
    def applications(self) -> list[Application]:
        return [o for o in self.nodes if isinstance(o, Application)]

    @property
    def energies(self) -> list[EnergyTerm]:
        return [o for o in self.nodes if isinstance(o, EnergyTerm)]

    def observed(self) -> list[Variable]:
        """Observed variables that are inputs (not computed by a function)."""
        return [v for v in self.variables if v.role == "observed" and not v.computed]

    def latents(self) -> list[Variable]:
        return [v for v in self.variables if v.role == "latent"]

    def inputs_of(self, obj: Node) -> list[Node]:
        """The nodes with an edge into `obj` (a function's or term's variables, a variable's producer),
        in the order their edges were made."""
        return [self.node(p) for p in self._dg.predecessors(key(obj))]

    def outputs_of(self, obj: Node) -> list[Node]:
        return [self.node(s) for s in sorted(self._dg.successors(key(obj)))]

    def producer(self, var: str) -> Application | None:
        """The application computing `var`, if it is computed."""
        for p in self._dg.predecessors(("variable", var)):
            obj = self.node(p)
            if isinstance(obj, Application):
                return obj
        return None

    def consumers(self, var: str) -> list[Application]:
        """The applications that take `var` as an input."""
        return [o for o in self.outputs_of(self.var(var)) if isinstance(o, Application)]

    def terms_on(self, var: str) -> list[EnergyTerm]:
        """The energy terms that take `var` directly."""
        return [o for o in self.outputs_of(self.var(var)) if isinstance(o, EnergyTerm)]

    def upstream(self, obj: Node) -> list[Node]:
        """Every node `obj` depends on."""
        return [self.node(k) for k in sorted(nx.ancestors(self._dg, key(obj)))]

    def upstream_of_all(self, objs: list[Node]) -> set[NodeKey]:
        """The keys of every node at least one of `objs` depends on (one backward sweep)."""
        seen: set[NodeKey] = set()
        frontier = [key(o) for o in objs]
        while frontier:
            k = frontier.pop()
            for p in self._dg.predecessors(k):
                if p not in seen:
                    seen.add(p)
                    frontier.append(p)
        return seen

    def upstream_vars(self, var: str) -> set[str]:
        """The names of the variables `var` is computed from, directly or through functions."""
        return {o.name for o in self.upstream(self.var(var)) if isinstance(o, Variable)}

    def path(self, src: Node, dst: Node) -> list[Node]:
        """A shortest directed path from src to dst (both included)."""
        return [self.node(k) for k in nx.shortest_path(self._dg, key(src), key(dst))]

    def topological(self) -> list[Node]:
        """Every node in dependency order, ties broken by key (deterministic)."""
        return [self.node(k) for k in nx.lexicographical_topological_sort(self._dg)]

    def cycles(self) -> list[tuple[list[Node], set[NodeKey]]]:
        """One cycle per strongly connected loop through deterministic functions, each from its
        alphabetically first variable, with every node of its loop (energy terms have no outgoing
        edges, so are never on one)."""
        if nx.is_directed_acyclic_graph(self._dg):
            return []
        out = []
        comps = sorted((sorted(c) for c in nx.strongly_connected_components(self._dg)), key=lambda c: c[0])
        for comp in comps:
            if len(comp) < 2 and not self._dg.has_edge(comp[0], comp[0]):
                continue
            start = min(k for k in comp if k[0] == "variable")
            cycle = nx.find_cycle(self._dg.subgraph(comp), source=start)
            out.append(([self.node(u) for u, _ in cycle], set(comp)))
        return out

    def acyclic_order(self, skip: set[NodeKey]) -> list[Node]:
        """Dependency order of the nodes not in `skip` (the nodes on cycles)."""
        dg = self._dg
        if skip:
            dg = dg.copy()
            dg.remove_nodes_from(skip)
        return [self.node(k) for k in nx.lexicographical_topological_sort(dg)]

    def used_from(self, obj: Node) -> list[str]:
        """Notes saying which `use` statements put a node of a sub-model here, innermost first."""
        prefix = self.cluster_of(obj)
        notes = []
        while prefix:
            file, span = self.instance_sites.get(prefix, ("?", None))
            where = f"{file}:{span.line}:{span.column}" if span else file
            notes.append(f"in '{prefix}' ({self.instances.get(prefix, '?')}), used from {where}")
            prefix = prefix.rsplit(".", 1)[0] if "." in prefix else ""
        return notes

    def energies_touching(self, var: str) -> list[EnergyTerm]:
        """Energy terms that depend on `var`, directly or through functions."""
        out = [self.node(k) for k in nx.descendants(self._dg, ("variable", var)) if k[0] == "energy"]
        return sorted((o for o in out if isinstance(o, EnergyTerm)), key=lambda e: e.name)

    # ------------------------------------------------------------ comparison and display
    def signature(self) -> tuple[Any, ...]:
        nodes: list[tuple[Any, ...]] = []
        for o in self.nodes:
            if isinstance(o, Variable):
                nodes.append(("var", o.name, o.role, str(o.domain), o.infer, o.computed))
            elif isinstance(o, Application):
                nodes.append(("app", o.name, o.fn, tuple(o.args), o.output))
            else:
                nodes.append(("energy", o.name, o.energy, tuple(o.args), o.weight, o.options))
        fns = tuple(sorted((f.name, f.func, f.args, f.options, f.shares) for f in self.fns.values()))
        regs = tuple(sorted((r.name, r.method, tuple(r.args), r.options) for r in self.regularizers.values()))
        return (self.name, tuple(nodes), tuple(sorted(self._dg.edges)), fns, regs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.signature() == other.signature() and self.model == other.model

    def __str__(self) -> str:
        """A table of the IR, one line per node, in the spirit of torch.fx's graph printout."""
        lines = [f"graph {self.name}"]
        for o in self.topological():
            if isinstance(o, Variable):
                tag = "computed" if o.computed else o.role
                inf = f"  infer {o.infer.method}" if o.infer else ""
                lines.append(f"  {tag:9} {o.name:24} {o.domain}{inf}")
            elif isinstance(o, Application):
                lines.append(f"  {'apply':9} {o.output:24} = {o.fn}({', '.join(o.args)})")
            else:
                w = "" if o.weight == 1.0 else f"{o.weight:g} * "
                lines.append(f"  {'energy':9} {o.name:24} = {w}{o.energy}({', '.join(o.args)})")
        for r in self.regularizers.values():
            opts = "".join(f", {k} = {v}" for k, v in r.options)
            lines.append(f"  {'regularize':9} {r.name:24} = {r.method}({', '.join(r.args)}{opts})")
        return "\n".join(lines)

    __hash__ = None  # type: ignore[assignment]
