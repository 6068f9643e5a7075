"""The Python builder: the same declarations as `.ebm` text, written from Python.

    b = Builder("Planner", T=5, ds=8, da=2)
    T, ds, da = b.params("T", "ds", "da")
    b.observed("s", R(ds), index=0)
    b.observed("goal", R(ds))
    b.latent("a", R(da), index=(0, T - 1), infer=Infer("minimize", steps=50))
    pred = b.fn("pred", "mlp", ds + da, 64, ds)
    with b.loop("t", 0, T - 1) as t:
        b.assign(b.ref("s", t + 1), pred(b.call("cat", b.ref("s", t), b.ref("a", t))))
        b.energy("C", "sq_dist", b.ref("s", t + 1), b.ref("goal"), index=t)
    graph = b.build()

`build()` prints the program with the canonical printer and loads it back, so a graph built
here and the same text parsed compare equal, and mistakes get the usual located diagnostics.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import decls as d
from .frontend import loads
from .graph import Graph
from .printer import dumps_file

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def _name(text: str, what: str) -> str:
    if not isinstance(text, str) or not _NAME.match(text) or keyword.iskeyword(text) and False:
        raise ValueError(f"{what} must be a name of letters, digits and '_', got {text!r}")
    return text


def _binding(port: str, target: d.VarRef) -> d.Binding:
    """A `use` binding from Python: {"s": x} binds the port s, {"s[0]": x} one element of it."""
    import re
    m = re.fullmatch(r"(\w+)((?:\[\d+\])*)", port) if isinstance(port, str) else None
    if m is None:
        raise ValueError(f"a port must be a name, or a name with indices such as s[0], got {port!r}")
    return d.Binding(port=_name(m.group(1), "a port"), target=target,
                     index=[expr(int(i)) for i in re.findall(r"\[(\d+)\]", m.group(2))])


def expr(value: Any) -> d.Expr:
    """A Python number, bool, name or `Sym` as a declaration expression."""
    if isinstance(value, Sym):
        return value.e
    if isinstance(value, bool):
        return d.Bool(value=value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"numbers must be finite, got {value!r}")
        return d.Num(value=value)
    if isinstance(value, str):
        if _NAME.match(value):
            return d.Name(id=value)
        if '"' in value or "\n" in value:
            raise ValueError(f"strings cannot hold quotes or newlines: {value!r}")
        return d.Str(value=value)
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) in a .ebm expression")


class Sym:
    """A symbolic expression over model parameters and loop indices (supports + - * / // % and -)."""

    def __init__(self, e: d.Expr):
        self.e = e

    def _bin(self, op: str, other: Any, flip: bool = False) -> Sym:
        a, b = (expr(other), self.e) if flip else (self.e, expr(other))
        return Sym(d.BinOp(op=op, left=a, right=b))  # type: ignore[arg-type]

    def __add__(self, o: Any) -> Sym: return self._bin("+", o)
    def __radd__(self, o: Any) -> Sym: return self._bin("+", o, True)
    def __sub__(self, o: Any) -> Sym: return self._bin("-", o)
    def __rsub__(self, o: Any) -> Sym: return self._bin("-", o, True)
    def __mul__(self, o: Any) -> Sym: return self._bin("*", o)
    def __rmul__(self, o: Any) -> Sym: return self._bin("*", o, True)
    def __truediv__(self, o: Any) -> Sym: return self._bin("/", o)
    def __rtruediv__(self, o: Any) -> Sym: return self._bin("/", o, True)
    def __floordiv__(self, o: Any) -> Sym: return self._bin("//", o)
    def __rfloordiv__(self, o: Any) -> Sym: return self._bin("//", o, True)
    def __mod__(self, o: Any) -> Sym: return self._bin("%", o)
    def __rmod__(self, o: Any) -> Sym: return self._bin("%", o, True)

    def __neg__(self) -> Sym:
        if isinstance(self.e, d.Num):
            return Sym(d.Num(value=-self.e.value))
        return Sym(d.Neg(operand=self.e))


def _options(opts: dict[str, Any]) -> list[d.Option]:
    return [d.Option(key=_name(k, "an option"), value=expr(v)) for k, v in opts.items()]


def R(*shape: Any, box: tuple[Any, Any] | None = None, sphere: Any = None) -> d.Real:
    """Real domain R[shape], optionally `box=(lo, hi)` or `sphere=radius` (True for radius 1)."""
    dom = d.Real(shape=[expr(s) for s in shape])
    if box is not None:
        dom.box = (expr(box[0]), expr(box[1]))
    if sphere is not None:
        dom.on_sphere = True
        dom.sphere = None if sphere is True else expr(sphere)
    return dom


def Categorical(k: Any, *shape: Any) -> d.Categorical:
    return d.Categorical(k=expr(k), shape=[expr(s) for s in shape])


def Spins(*shape: Any) -> d.Spins:
    return d.Spins(shape=[expr(s) for s in shape])


def Bits(*shape: Any) -> d.Bits:
    return d.Bits(shape=[expr(s) for s in shape])


def Infer(method: str, **options: Any) -> d.InferSpec:
    return d.InferSpec(method=_name(method, "an inference method"), options=_options(options))


class Fn:
    """A declared function; calling it gives an application to use in assign/energy."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args: d.VarRef | d.Call) -> d.Call:
        return d.Call(func=self.name, args=list(args))


class Builder:
    """Builds one model's declarations from Python; `build()` returns the checked Graph."""

    def __init__(self, name: str, imports: list[str] | None = None, **params: Any):
        self.name = _name(name, "a model name")
        self.model = d.ModelDecl(name=self.name, params=[d.Param(name=_name(k, "a parameter"), default=expr(v))
                                                         for k, v in params.items()])
        self.imports = [d.Import(path=p) for p in (imports or [])]
        self.others: list[d.ModelDecl] = []
        self._blocks: list[list[Any]] = [self.model.body]

    # ------------------------------------------------------------ names
    def params(self, *names: str) -> tuple[Sym, ...]:
        return tuple(Sym(d.Name(id=_name(n, "a parameter"))) for n in names)

    def ref(self, name: str, *indices: Any) -> d.VarRef:
        for part in name.split("."):
            _name(part, "a variable name")
        return d.VarRef(name=name, indices=[expr(i) for i in indices])

    def port(self, instance: str, index: Any, name: str, *indices: Any) -> d.VarRef:
        """A variable of an indexed instance: port("wm", t, "s_next") is wm[t].s_next."""
        return d.VarRef(name=f"{_name(instance, 'an instance')}.{_name(name, 'a variable name')}",
                        scopes=[[expr(index)]], indices=[expr(i) for i in indices])

    def call(self, func: str, *args: d.VarRef | d.Call, **options: Any) -> d.Call:
        return d.Call(func=_name(func, "a function"), args=list(args), options=_options(options))

    def _add(self, stmt: Any) -> Any:
        self._blocks[-1].append(stmt)
        return stmt

    @staticmethod
    def _index(index: Any) -> d.Index | None:
        if index is None:
            return None
        if isinstance(index, tuple):
            return d.Index(lo=expr(index[0]), hi=expr(index[1]))
        return d.Index(lo=expr(index))

    # ------------------------------------------------------------ statements
    def observed(self, name: str, domain: d.Domain, index: Any = None) -> d.VarRef:
        self._add(d.VarDecl(role="observed", name=_name(name, "a variable"), index=self._index(index), domain=domain))
        return self.ref(name)

    def latent(self, name: str, domain: d.Domain, index: Any = None, infer: d.InferSpec | None = None) -> d.VarRef:
        self._add(d.VarDecl(role="latent", name=_name(name, "a variable"), index=self._index(index), domain=domain,
                            infer=infer))
        return self.ref(name)

    def fn(self, name: str, func: str, *args: Any, fresh: bool = False, **options: Any) -> Fn:
        self._add(d.FnDecl(name=_name(name, "a function"), func=_name(func, "a function"),
                           args=[expr(a) for a in args], options=_options(options), fresh=fresh))
        return Fn(name)

    def assign(self, target: str | d.VarRef, value: d.Call) -> d.VarRef:
        ref = self.ref(target) if isinstance(target, str) else target
        self._add(d.Assign(target=ref, value=value))
        return ref

    def energy(self, name: str, energy: str | d.Call, *args: d.VarRef | d.Call, weight: Any = None,
               index: Any = None, **options: Any) -> None:
        c = energy if isinstance(energy, d.Call) else self.call(energy, *args, **options)
        self._add(d.EnergyDecl(name=_name(name, "an energy"), index=None if index is None else expr(index),
                               weight=None if weight is None else expr(weight), call=c))

    def regularize(self, name: str, method: str, *args: d.VarRef, **options: Any) -> None:
        self._add(d.RegularizeDecl(name=_name(name, "a regularizer"), call=self.call(method, *args, **options)))

    def use(self, name: str, model: str, bind: dict[str, d.VarRef] | None = None,
            shares: str | tuple[str, Any] | None = None, index: Any = None, **params: Any) -> None:
        """`use name[index] = model(params) { port = var } shares other[i]` (index and shares' index optional);
        a port of `bind` may name an element of an indexed port: {"s[0]": x}."""
        other, other_index = (shares if isinstance(shares, tuple) else (shares, None))
        self._add(d.UseDecl(name=_name(name, "an instance"), model=_name(model, "a model"), options=_options(params),
                            bindings=[_binding(k, v) for k, v in (bind or {}).items()],
                            shares=other, index=None if index is None else expr(index),
                            shares_index=[] if other_index is None else [expr(other_index)]))

    def alias(self, target: str | d.VarRef, source: d.VarRef) -> d.VarRef:
        """`target = source`: another name for a variable, e.g. s[t + 1] = wm[t].s_next."""
        ref = self.ref(target) if isinstance(target, str) else target
        self._add(d.Alias(target=ref, source=source))
        return ref

    def param(self, name: str, domain: d.Domain) -> d.VarRef:
        """`param name : R[...]`: a free trainable tensor."""
        self._add(d.ParamDecl(name=_name(name, "a parameter tensor"), domain=domain))
        return self.ref(name)

    def infer(self, target: d.VarRef, spec: d.InferSpec) -> None:
        """`infer lo.z METHOD(...)`: set a (sub-model's) latent's inference from here."""
        self._add(d.InferDecl(target=target, spec=spec))

    @contextmanager
    def loop(self, var: str, lo: Any, hi: Any) -> Iterator[Sym]:
        """`for var in lo..hi { ... }` (inclusive): statements added inside go in its body."""
        loop = d.ForLoop(var=_name(var, "a loop variable"), lo=expr(lo), hi=expr(hi))
        self._add(loop)
        self._blocks.append(loop.body)
        try:
            yield Sym(d.Name(id=var))
        finally:
            self._blocks.pop()

    def submodel(self, other: Builder) -> None:
        """Put another builder's model in the same program, to `use` it."""
        self.others.append(other.model)

    # ------------------------------------------------------------ result
    def program(self) -> d.FileDecl:
        return d.FileDecl(imports=self.imports, models=self.others + [self.model])

    def text(self) -> str:
        return dumps_file(self.program())

    def build(self, roots: list[Path] | None = None) -> Graph:
        """The checked Graph; raises EbmError located in the canonical text of the program."""
        return loads(self.text(), file=f"<builder {self.name}>", roots=roots, model=self.name)
