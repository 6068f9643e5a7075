"""The Graph IR: the node kinds of Fig. 18 (003 appendix) on a small adjacency store.

Nodes are variables (observed: filled circle, latent: hollow circle), applications of a
deterministic function (rounded box) and energy terms (red box). Edges run
variable -> application -> variable (the direction of computation) and variable -> energy
(drawn undirected). A Graph also keeps the declarations it was elaborated from, so the
printer can give back loops, imports, parameters and comments.

The store keeps nodes and edges in insertion-ordered dicts and does the walks every check and
compile makes (dependency order, reachability) itself; networkx, which costs ~0.13 s to import
(a third of `ebm check`'s budget), is imported only for what runs on a diagnostic's path
(strongly connected components and a cycle).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import KeysView
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .decls import FileDecl, ModelDecl
from .diagnostics import Reporter, Span
from .limits import DEFAULT, Limits

if TYPE_CHECKING:
    import networkx as nx

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

    def seen_by(self, indices: bool) -> Shape:
        """The shape a part takes this variable as: a categorical one as its one-hot vector R[k],
        unless the part takes class indices (`indices`: embedding, cross_entropy's target)."""
        return self.shape + (self.k or 1,) if self.kind == "categorical" and not indices else self.shape

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
    role: Literal["observed", "latent", "noise"]
    domain: Domain
    infer: Infer | None = None
    computed: bool = False  # the output of a deterministic function
    anonymous: bool = False  # the output of a nested call, named by the elaborator
    span: Span | None = None
    file: str | None = None
    # noise: (distribution, options), drawn afresh at every evaluation unless given
    noise: tuple[str, tuple[tuple[str, float], ...]] | None = None
    # noise: the draws per sample an evaluation reduces over (the expectation, or the worst of them)
    draws: int = 1
    reduce: Literal["mean", "max"] = "mean"

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
    fixed: bool = False  # its weights not trained
    source: str | None = None  # the array file they come from (`fixed from`)

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
    fixed: bool = False  # not trained
    source: str | None = None  # the .npy / .npz its weights come from (resolved beside its file)


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


class _Store:
    """Nodes (key -> node object) and directed edges (with an optional input position), each
    node's predecessors in the order their edges were made."""

    def __init__(self) -> None:
        self.obj: dict[NodeKey, Node] = {}
        self.succ: dict[NodeKey, dict[NodeKey, int | None]] = {}
        self.pred: dict[NodeKey, dict[NodeKey, int | None]] = {}

    def _ensure(self, k: NodeKey) -> None:
        if k not in self.succ:
            self.succ[k] = {}
            self.pred[k] = {}

    def add_node(self, k: NodeKey, obj: Node) -> None:
        self._ensure(k)
        self.obj[k] = obj

    def add_edge(self, u: NodeKey, v: NodeKey, pos: int | None = None) -> None:
        self._ensure(u)
        self._ensure(v)
        self.succ[u][v] = pos
        self.pred[v][u] = pos

    def edges(self) -> list[tuple[NodeKey, NodeKey]]:
        return [(u, v) for u, vs in self.succ.items() for v in vs]

    def reach(self, start: NodeKey, forward: bool) -> set[NodeKey]:
        """Every node reachable from `start` (descendants, or ancestors when not forward)."""
        adj = self.succ if forward else self.pred
        seen: set[NodeKey] = set()
        frontier = [start]
        while frontier:
            for n in adj[frontier.pop()]:
                if n not in seen:
                    seen.add(n)
                    frontier.append(n)
        seen.discard(start)
        return seen

    def shortest_path(self, src: NodeKey, dst: NodeKey) -> list[NodeKey]:
        """A shortest directed path (breadth first, neighbours in edge order); KeyError if none."""
        parent: dict[NodeKey, NodeKey | None] = {src: None}
        frontier = [src]
        while frontier and dst not in parent:
            nxt = []
            for u in frontier:
                for v in self.succ[u]:
                    if v not in parent:
                        parent[v] = u
                        nxt.append(v)
            frontier = nxt
        if dst not in parent:
            raise KeyError(f"no path from {src} to {dst}")
        path: list[NodeKey] = []
        k: NodeKey | None = dst
        while k is not None:
            path.append(k)
            k = parent[k]
        return path[::-1]

    def topological(self, skip: set[NodeKey] | frozenset[NodeKey] = frozenset()) -> list[NodeKey] | None:
        """Dependency order with ties broken by key (smallest ready node first: the order of
        networkx's lexicographical_topological_sort), or None when a cycle remains."""
        indeg = {k: sum(1 for p in ps if p not in skip) for k, ps in self.pred.items() if k not in skip}
        ready = [k for k, n in indeg.items() if n == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            k = heapq.heappop(ready)
            out.append(k)
            for v in self.succ[k]:
                if v in indeg:
                    indeg[v] -= 1
                    if indeg[v] == 0:
                        heapq.heappush(ready, v)
        return out if len(out) == len(indeg) else None

    def to_networkx(self) -> nx.DiGraph:
        import networkx as nx

        dg = nx.DiGraph()
        dg.add_nodes_from(self.succ)
        dg.add_edges_from(self.edges())
        return dg


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
    _dg: _Store = field(default_factory=_Store, repr=False)
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
    missing: list[Any] = field(default_factory=list)  # analyze(partial=True): what a diagram being drawn lacks
    limits: Limits = DEFAULT  # the bounds it was checked against; compile and inference keep to them
    _sorted: list[Node] | None = field(default=None, repr=False, compare=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # derived facts; cleared by add()
    sources: dict[str, list[str]] = field(default_factory=dict, repr=False)  # file -> lines, for later diagnostics

    def reporter(self) -> Reporter:
        """A reporter that knows the graph's source lines (for errors found after elaboration)."""
        files = list(self.sources) or ["<graph>"]
        rep = Reporter(files[0], "")
        rep.sources.update(self.sources)
        return rep

    # ------------------------------------------------------------ building (the elaborator)
    def add(self, obj: Node, cluster: str = "") -> None:
        self._dg.add_node(key(obj), obj)
        self._sorted = None
        self.cache.clear()
        if cluster:
            self.clusters[key(obj)] = cluster

    def connect(self, src: Node, dst: Node, pos: int | None = None) -> None:
        """An edge src -> dst: a variable into a function or an energy term, a function into its output."""
        self._dg.add_edge(key(src), key(dst), pos)
        self.cache.clear()

    def __len__(self) -> int:
        return len(self._dg.succ)

    # ------------------------------------------------------------ access
    def node(self, k: NodeKey) -> Node:
        return self._dg.obj[k]

    def _get(self, kind: str, name: str) -> Any:
        obj = self._dg.obj.get((kind, name))
        if obj is None:
            raise KeyError(f"no {kind} {name!r}")
        return obj

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
        return ("variable", name) in self._dg.obj

    def has_term(self, name: str) -> bool:
        return ("energy", name) in self._dg.succ

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
            self._sorted = [self._dg.obj[k] for k in sorted(self._dg.obj)]
        return list(self._sorted)

    def edges(self) -> list[tuple[Node, Node]]:
        """Every edge (source, target), sorted by their keys."""
        return [(self.node(u), self.node(v)) for u, v in sorted(self._dg.edges())]

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
        return [self.node(p) for p in self._dg.pred[key(obj)]]

    def input_keys(self, k: NodeKey) -> KeysView[NodeKey]:
        """The keys of the nodes with an edge into the node keyed `k`, in edge order."""
        return self._dg.pred[k].keys()

    def outputs_of(self, obj: Node) -> list[Node]:
        return [self.node(s) for s in sorted(self._dg.succ[key(obj)])]

    def producer(self, var: str) -> Application | None:
        """The application computing `var`, if it is computed."""
        for p in self._dg.pred[("variable", var)]:
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
        return [self.node(k) for k in sorted(self._dg.reach(key(obj), forward=False))]

    def upstream_of_all(self, objs: list[Node]) -> set[NodeKey]:
        """The keys of every node at least one of `objs` depends on (one backward sweep)."""
        seen: set[NodeKey] = set()
        frontier = [key(o) for o in objs]
        while frontier:
            k = frontier.pop()
            for p in self._dg.pred[k]:
                if p not in seen:
                    seen.add(p)
                    frontier.append(p)
        return seen

    def upstream_vars(self, var: str) -> set[str]:
        """The names of the variables `var` is computed from, directly or through functions."""
        return {o.name for o in self.upstream(self.var(var)) if isinstance(o, Variable)}

    def path(self, src: Node, dst: Node) -> list[Node]:
        """A shortest directed path from src to dst (both included)."""
        return [self.node(k) for k in self._dg.shortest_path(key(src), key(dst))]

    def topological(self) -> list[Node]:
        """Every node in dependency order, ties broken by key (deterministic)."""
        order = self._dg.topological()
        if order is None:
            raise ValueError(f"graph {self.name!r} has a cycle: use cycles() and acyclic_order()")
        return [self.node(k) for k in order]

    def cycles(self) -> list[tuple[list[Node], set[NodeKey]]]:
        """One cycle per strongly connected loop through deterministic functions, each from its
        alphabetically first variable, with every node of its loop (energy terms have no outgoing
        edges, so are never on one)."""
        if self._dg.topological() is not None:
            return []
        import networkx as nx

        dg = self._dg.to_networkx()
        out = []
        comps = sorted((sorted(c) for c in nx.strongly_connected_components(dg)), key=lambda c: c[0])
        for comp in comps:
            if len(comp) < 2 and not dg.has_edge(comp[0], comp[0]):
                continue
            start = min(k for k in comp if k[0] == "variable")
            cycle = nx.find_cycle(dg.subgraph(comp), source=start)
            out.append(([self.node(u) for u, _ in cycle], set(comp)))
        return out

    def acyclic_order(self, skip: set[NodeKey]) -> list[Node]:
        """Dependency order of the nodes not in `skip` (the nodes on cycles)."""
        order = self._dg.topological(skip)
        if order is None:
            raise ValueError(f"graph {self.name!r} has a cycle outside {sorted(skip)}")
        return [self.node(k) for k in order]

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
        out = [self.node(k) for k in self._dg.reach(("variable", var), forward=True) if k[0] == "energy"]
        return sorted((o for o in out if isinstance(o, EnergyTerm)), key=lambda e: e.name)

    # ------------------------------------------------------------ comparison and display
    def signature(self) -> tuple[Any, ...]:
        nodes: list[tuple[Any, ...]] = []
        for o in self.nodes:
            if isinstance(o, Variable):
                nodes.append(("var", o.name, o.role, str(o.domain), o.infer, o.computed, o.noise, o.draws, o.reduce))
            elif isinstance(o, Application):
                nodes.append(("app", o.name, o.fn, tuple(o.args), o.output))
            else:
                nodes.append(("energy", o.name, o.energy, tuple(o.args), o.weight, o.options))
        fns = tuple(sorted((f.name, f.func, f.args, f.options, f.shares) for f in self.fns.values()))
        regs = tuple(sorted((r.name, r.method, tuple(r.args), r.options) for r in self.regularizers.values()))
        return (self.name, tuple(nodes), tuple(sorted(self._dg.edges())), fns, regs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.signature() == other.signature() and self.model == other.model

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a graph as its drawing (003 Fig. 18's symbols), as pyro's render_model does;
        `ebmgraph.draw.svg(g, fold=True)` draws it with sub-models folded."""
        from .draw import svg
        return svg(self)

    def __str__(self) -> str:
        """A table of the IR, one line per node, in the spirit of torch.fx's graph printout."""
        lines = [f"graph {self.name}"]
        for o in self.topological():
            if isinstance(o, Variable):
                tag = "computed" if o.computed else o.role
                inf = f"  infer {o.infer.method}" if o.infer else ""
                if o.noise is not None:
                    opts = ", ".join(f"{k} = {v:g}" for k, v in o.noise[1])
                    inf = f"  ~ {o.noise[0]}({opts})" + (f", {o.draws} draws a sample, energy their {o.reduce}"
                                                          if o.draws > 1 else "")
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
