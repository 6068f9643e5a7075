"""Graph IR -> canonical `.ebm` text (`dumps`), comments kept, loops and imports as written."""

from __future__ import annotations

from typing import Any

from . import decls as d

INDENT = "  "
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}


def expr(e: d.Expr, parent: int = 0) -> str:
    """An expression with the fewest parentheses that parse back to the same tree."""
    if isinstance(e, d.Num):
        text = repr(e.value) if isinstance(e.value, float) else str(e.value)
        return f"({text})" if e.value < 0 and parent > 0 else text
    if isinstance(e, d.Name):
        return e.id
    if isinstance(e, d.Bool):
        return "true" if e.value else "false"
    if isinstance(e, d.Str):
        return f'"{e.value}"'
    if isinstance(e, d.Neg):
        inner = expr(e.operand, 3)
        if isinstance(e.operand, d.Num):
            inner = f"({inner})"
        text = "-" + inner
        return f"({text})" if parent > 2 else text
    assert isinstance(e, d.BinOp)
    p = _PREC[e.op]
    text = f"{expr(e.left, p)} {e.op} {expr(e.right, p + 1)}"
    return f"({text})" if p < parent else text


def option(o: d.Option) -> str:
    return f"{o.key} = {expr(o.value)}"


def domain(dom: d.Domain) -> str:
    shape = ", ".join(expr(s) for s in dom.shape)
    if isinstance(dom, d.Real):
        text = f"R[{shape}]"
        if dom.box is not None:
            text += f" in box({expr(dom.box[0])}, {expr(dom.box[1])})"
        if dom.on_sphere:
            text += f" on sphere({expr(dom.sphere) if dom.sphere is not None else ''})"
        return text
    if isinstance(dom, d.Categorical):
        return f"{{{expr(dom.k)}}}" + (f"[{shape}]" if dom.shape else "")
    return f"{dom.kind}[{shape}]"


def _comments(comments: list[str], pad: str = "") -> list[str]:
    """Comment lines as written: `# text`, and the blank lines between blocks of them (d.BLANK)."""
    return ["" if c == d.BLANK else f"{pad}#{' ' + c if c else ''}" for c in comments]


def _indices(idx: list[d.Expr]) -> str:
    return "".join(f"[{expr(i)}]" for i in idx)


def ref(r: d.VarRef) -> str:
    parts = r.name.split(".")
    scopes = r.scopes or [[] for _ in parts[:-1]]
    return ".".join(p + _indices(i) for p, i in zip(parts[:-1], scopes, strict=True)) + (
        "." if len(parts) > 1 else "") + parts[-1] + _indices(r.indices)


def infer_spec(spec: d.InferSpec) -> str:
    return spec.method + ("(" + ", ".join(option(o) for o in spec.options) + ")" if spec.options else "")


def call(c: d.Call) -> str:
    parts = [ref(a) if isinstance(a, d.VarRef) else call(a) for a in c.args] + [option(o) for o in c.options]
    return f"{c.func}({', '.join(parts)})"


def weight(w: d.Expr) -> str:
    if isinstance(w, d.Name | d.Num) or (isinstance(w, d.Neg) and isinstance(w.operand, d.Name)):
        return expr(w)
    return f"({expr(w)})"


def statement(s: Any, depth: int) -> list[str]:
    pad = INDENT * depth
    lines = _comments(s.comments, pad)
    if isinstance(s, d.VarDecl):
        idx = ""
        if s.index is not None:
            idx = f"[{expr(s.index.lo)}" + (f"..{expr(s.index.hi)}" if s.index.hi is not None else "") + "]"
        text = f"{s.role} {s.name}{idx} : {domain(s.domain)}"
        if s.dist is not None:
            text += f" ~ {s.dist}" + (f"({', '.join(option(o) for o in s.dist_options)})" if s.dist_options else "")
        if s.infer is not None:
            text += f" infer {infer_spec(s.infer)}"
    elif isinstance(s, d.FnDecl):
        if s.fresh:
            text = f"fn {s.name} = fresh {s.func}"
        else:
            text = f"fn {s.name} = {s.func}(" + ", ".join([expr(a) for a in s.args] + [option(o) for o in s.options]) + ")"
            if s.fixed:
                text += " fixed" + (f' from "{s.source}"' if s.source is not None else "")
    elif isinstance(s, d.Assign):
        text = f"{ref(s.target)} = {call(s.value)}"
    elif isinstance(s, d.Alias):
        text = f"{ref(s.target)} = {ref(s.source)}"
    elif isinstance(s, d.ParamDecl):
        text = f"param {s.name} : {domain(s.domain)}"
    elif isinstance(s, d.InferDecl):
        text = f"infer {ref(s.target) + ' ' if s.target is not None else ''}{infer_spec(s.spec)}"
    elif isinstance(s, d.EnergyDecl):
        idx = f"[{expr(s.index)}]" if s.index is not None else ""
        w = f"{weight(s.weight)} * " if s.weight is not None else ""
        text = f"energy {s.name}{idx} = {w}{call(s.call)}"
        if s.fixed:
            text += " fixed" + (f' from "{s.source}"' if s.source is not None else "")
    elif isinstance(s, d.RegularizeDecl):
        text = f"regularize {s.name} = {call(s.call)}"
    elif isinstance(s, d.UseDecl):
        text = f"use {s.name}{'[' + expr(s.index) + ']' if s.index is not None else ''} = {s.model}(" + ", ".join(option(o) for o in s.options) + ")"
        if s.bindings:
            text += " { " + ", ".join(f"{b.port}{_indices(b.index)} = {ref(b.target)}" for b in s.bindings) + " }"
        if s.shares:
            text += f" shares {s.shares}{_indices(s.shares_index)}"
    elif isinstance(s, d.ForLoop):
        lines.append(f"{pad}for {s.var} in {expr(s.lo)}..{expr(s.hi)} {{" +
                     (f"  # {s.trailing}" if s.trailing else ""))
        lines.extend(body(s.body, depth + 1))
        lines.extend(_comments(s.end_comments, pad + INDENT))
        lines.append(f"{pad}}}")
        return lines
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(s))
    if s.trailing is not None:
        text += f"  #{' ' + s.trailing if s.trailing else ''}"
    lines.append(pad + text)
    return lines


def _group(s: Any) -> str:
    if isinstance(s, d.Alias):
        return "assign"
    return "loop" if isinstance(s, d.ForLoop | d.UseDecl) else s.kind


def body(stmts: list[Any], depth: int) -> list[str]:
    lines: list[str] = []
    prev: str | None = None
    for s in stmts:
        g = _group(s)
        if prev is not None and (g != prev or g == "loop"):
            lines.append("")
        lines.extend(statement(s, depth))
        prev = g
    return lines


def model(m: d.ModelDecl) -> list[str]:
    lines = _comments(m.comments)
    params = "(" + ", ".join(f"{p.name} = {expr(p.default)}" for p in m.params) + ")" if m.params else ""
    lines.append(f"model {m.name}{params} {{")
    lines.extend(body(m.body, 1))
    lines.extend(_comments(m.end_comments, INDENT))
    lines.append("}")
    return lines


def dumps_file(f: d.FileDecl) -> str:
    """Canonical text of a whole program."""
    lines: list[str] = []
    for imp in f.imports:
        lines.extend(_comments(imp.comments))
        lines.append(f'import "{imp.path}"')
    for m in f.models:
        if lines:
            lines.append("")
        lines.extend(model(m))
    if f.end_comments:
        lines.append("")
        lines.extend(_comments(f.end_comments))
    return "\n".join(lines) + "\n"
