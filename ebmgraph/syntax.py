"""`.ebm` text -> declarations: the Lark grammar, a Transformer, comments and syntax errors.

Syntax errors are recovered from (a missing token is inserted, a stray one dropped) so that
one run reports every mistake of a file, each with line, column, caret and a hint.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from . import decls as d
from .diagnostics import Reporter, Span, did_you_mean

KEYWORDS = ["import", "model", "observed", "latent", "noise", "fn", "fresh", "energy", "regularize", "for", "in",
            "use", "shares", "infer", "param", "true", "false", "fixed", "from"]
MAX_SOURCE_CHARS = 5_000_000
MAX_NESTING = 200

_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string in double quotes", "COLON": "':'",
    "EQUAL": "'='", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "DOT": "'.'", "STAR": "'*'", "$END": "end of file",
    "ADDOP": "'+' or '-'", "MULOP": "'*', '/', '//' or '%'", "OBSERVED": "'observed'", "LATENT": "'latent'",
    "REALS": "'R'", "SPINS": "'spins'", "BITS": "'bits'",
}


def _grammar_text() -> str:
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammar" / "ebm.lark", here.parent / "grammar" / "ebm.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return resources.files("ebmgraph").joinpath("grammar/ebm.lark").read_text(encoding="utf-8")


_comments: list[Token] = []
_lock = threading.Lock()
_parser = Lark(
    _grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True,
    lexer_callbacks={"COMMENT": _comments.append},
)


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[terminal]
    pattern = _parser.get_terminal(terminal).pattern if terminal in {t.name for t in _parser.terminals} else None
    if pattern is not None and pattern.type == "str":
        return f"'{pattern.value}'"
    return terminal.lower()


def _expected_text(expected: set[str]) -> str:
    words = sorted({_describe(t) for t in expected})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _span(meta: Any) -> Span:
    return Span(meta.line, meta.column, getattr(meta, "end_line", None), getattr(meta, "end_column", None))


def _tok_span(tok: Token) -> Span:
    return Span(tok.line or 1, tok.column or 1, tok.end_line, tok.end_column)


# ---------------------------------------------------------------- tree -> declarations
@v_args(meta=True)
class _Build(Transformer[Any, Any]):
    def start(self, meta: Any, items: list[Any]) -> d.FileDecl:
        return d.FileDecl(
            imports=[i for i in items if isinstance(i, d.Import)],
            models=[m for m in items if isinstance(m, d.ModelDecl)],
        )

    def import_stmt(self, meta: Any, c: list[Any]) -> d.Import:
        return d.Import(path=str(c[0])[1:-1], span=_span(meta))

    def model(self, meta: Any, c: list[Any]) -> d.ModelDecl:
        name, rest = c[0], c[1:]
        params: list[d.Param] = []
        if rest and isinstance(rest[0], list):
            params = rest[0]
            rest = rest[1:]
        return d.ModelDecl(name=str(name), params=params, body=_attach_infer([s for s in rest if s is not None]),
                           span=_span(meta))

    def params(self, meta: Any, c: list[Any]) -> list[d.Param]:
        return [p for p in c if p is not None]

    def param(self, meta: Any, c: list[Any]) -> d.Param:
        return d.Param(name=str(c[0]), default=c[1], span=_span(meta))

    def var_decl(self, meta: Any, c: list[Any]) -> d.VarDecl:
        role, name, index, domain = c
        return d.VarDecl(role=str(role),  # type: ignore[arg-type]
                         name=str(name), index=index, domain=domain, span=_span(meta))

    def noise_decl(self, meta: Any, c: list[Any]) -> d.VarDecl:
        _, name, index, domain, dist, opts = c
        return d.VarDecl(role="noise", name=str(name), index=index, domain=domain, dist=str(dist),
                         dist_options=list(opts or []), span=_span(meta))

    def index_one(self, meta: Any, c: list[Any]) -> d.Index:
        return d.Index(lo=c[0], span=_span(meta))

    def index_range(self, meta: Any, c: list[Any]) -> d.Index:
        return d.Index(lo=c[0], hi=c[1], span=_span(meta))

    def real(self, meta: Any, c: list[Any]) -> d.Real:
        _, shape, constraint = c
        dom = d.Real(shape=shape, span=_span(meta))
        if isinstance(constraint, tuple) and constraint[0] == "box":
            dom.box = (constraint[1], constraint[2])
        elif isinstance(constraint, tuple) and constraint[0] == "sphere":
            dom.on_sphere = True
            dom.sphere = constraint[1]
        return dom

    def categorical(self, meta: Any, c: list[Any]) -> d.Categorical:
        return d.Categorical(k=c[0], shape=c[1] or [], span=_span(meta))

    def spins(self, meta: Any, c: list[Any]) -> d.Spins:
        return d.Spins(shape=c[1], span=_span(meta))

    def bits(self, meta: Any, c: list[Any]) -> d.Bits:
        return d.Bits(shape=c[1], span=_span(meta))

    def shape(self, meta: Any, c: list[Any]) -> list[Any]:
        return list(c)

    def box(self, meta: Any, c: list[Any]) -> tuple[str, Any, Any]:
        return ("box", c[0], c[1])

    def sphere(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("sphere", c[0])

    def infer_clause(self, meta: Any, c: list[Any]) -> d.InferDecl:
        spec = d.InferSpec(method=str(c[0]), options=c[1] or [], span=_span(meta))
        return d.InferDecl(spec=spec, span=_span(meta))  # joined to the latent before it by _attach_infer

    def infer_override(self, meta: Any, c: list[Any]) -> d.InferDecl:
        *target, method, opts = c
        ref = _ref(target, _span(meta))
        spec = d.InferSpec(method=str(method), options=opts or [], span=_tok_span(method))
        return d.InferDecl(target=ref, spec=spec, span=_span(meta))

    def infer_opts(self, meta: Any, c: list[Any]) -> list[d.Option]:
        return [o for o in c if o is not None]

    def option(self, meta: Any, c: list[Any]) -> d.Option:
        value = c[1]
        if isinstance(value, Token) and value.type == "STRING":
            value = d.Str(value=str(value)[1:-1], span=_tok_span(value))
        return d.Option(key=str(c[0]), value=value, span=_span(meta))

    def fn_decl(self, meta: Any, c: list[Any]) -> d.FnDecl:
        fixed = c[-1] if c and isinstance(c[-1], tuple) and c[-1][:1] == ("fixed",) else None
        args = [a for a in c[2:] if a is not None and not (isinstance(a, tuple) and a[:1] == ("fixed",))]
        return d.FnDecl(name=str(c[0]), func=str(c[1]), args=[a for a in args if not isinstance(a, d.Option)],
                        options=[a for a in args if isinstance(a, d.Option)], fixed=fixed is not None,
                        source=fixed[1] if fixed is not None else None, span=_span(meta))

    def fixed(self, meta: Any, c: list[Any]) -> tuple[str, str | None]:
        return ("fixed", str(c[0])[1:-1] if c and c[0] is not None else None)

    def fn_fresh(self, meta: Any, c: list[Any]) -> d.FnDecl:
        return d.FnDecl(name=str(c[0]), func=str(c[1]), fresh=True, span=_span(meta))

    def assign(self, meta: Any, c: list[Any]) -> d.Assign:
        return d.Assign(target=c[0], value=c[1], span=_span(meta))

    def alias(self, meta: Any, c: list[Any]) -> d.Alias:
        return d.Alias(target=c[0], source=c[1], span=_span(meta))

    def param_stmt(self, meta: Any, c: list[Any]) -> d.ParamDecl:
        return d.ParamDecl(name=str(c[0]), domain=c[1], span=_span(meta))

    def energy_decl(self, meta: Any, c: list[Any]) -> d.EnergyDecl:
        name, index, weight, call, fixed = c
        if isinstance(index, d.Index):
            index = index.lo
        return d.EnergyDecl(name=str(name), index=index, weight=weight, call=call, fixed=fixed is not None,
                            source=fixed[1] if fixed is not None else None, span=_span(meta))

    def weight(self, meta: Any, c: list[Any]) -> Any:
        w = c[0]
        if isinstance(w, Token):
            return self.number(meta, [w]) if w.type == "NUMBER" else d.Name(id=str(w), span=_tok_span(w))
        return w

    def neg_weight(self, meta: Any, c: list[Any]) -> Any:
        w = c[0]
        if w.type == "NUMBER":
            n = self.number(meta, [w])
            return d.Num(value=-n.value, span=_span(meta))
        return d.Neg(operand=d.Name(id=str(w), span=_tok_span(w)), span=_span(meta))

    def regularize_stmt(self, meta: Any, c: list[Any]) -> d.RegularizeDecl:
        return d.RegularizeDecl(name=str(c[0]), call=c[1], span=_span(meta))

    def call(self, meta: Any, c: list[Any]) -> d.Call:
        args = [a for a in c[1:] if a is not None]
        return d.Call(func=str(c[0]), args=[a for a in args if not isinstance(a, d.Option)],
                      options=[a for a in args if isinstance(a, d.Option)], span=_span(meta))

    def varref(self, meta: Any, c: list[Any]) -> d.VarRef:
        return _ref(c, _span(meta))

    def field(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("field", str(c[0]))

    def element(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("element", c[0])

    def for_loop(self, meta: Any, c: list[Any]) -> d.ForLoop:
        return d.ForLoop(var=str(c[0]), lo=c[1], hi=c[2], body=_attach_infer([s for s in c[3:] if s is not None]),
                         span=_span(meta))

    def inst_index(self, meta: Any, c: list[Any]) -> Any:
        return c[0]

    def use_stmt(self, meta: Any, c: list[Any]) -> d.UseDecl:
        use = d.UseDecl(name=str(c[0]), index=c[1], model=str(c[2]), span=_span(meta))
        for item in c[3:]:
            if isinstance(item, d.Option):
                use.options.append(item)
            elif isinstance(item, list):
                use.bindings = item
            elif isinstance(item, tuple):
                use.shares, use.shares_index = item
        return use

    def bindings(self, meta: Any, c: list[Any]) -> list[d.Binding]:
        return [b for b in c if b is not None]

    def binding(self, meta: Any, c: list[Any]) -> d.Binding:
        return d.Binding(port=str(c[0]), index=list(c[1:-1]), target=c[-1], span=_span(meta))

    def shares(self, meta: Any, c: list[Any]) -> tuple[str, list[Any]]:
        return (str(c[0]), list(c[1:]))

    # expressions
    def binop(self, meta: Any, c: list[Any]) -> d.BinOp:
        return d.BinOp(op=str(c[1]),  # type: ignore[arg-type]
                       left=c[0], right=c[2], span=_span(meta))

    def neg(self, meta: Any, c: list[Any]) -> d.Expr:
        if isinstance(c[0], d.Num):
            return d.Num(value=-c[0].value, span=_span(meta))
        return d.Neg(operand=c[0], span=_span(meta))

    def number(self, meta: Any, c: list[Any]) -> d.Num:
        text = str(c[0])
        if text.isdigit():  # past 30 digits it is out of every range: the elaborator says so, located
            value: int | float = int(text) if len(text) <= 30 else 10 ** 30
        else:
            value = float(text)
        return d.Num(value=value, span=_tok_span(c[0]))

    def name(self, meta: Any, c: list[Any]) -> d.Name:
        return d.Name(id=str(c[0]), span=_tok_span(c[0]))

    def true(self, meta: Any, c: list[Any]) -> d.Bool:
        return d.Bool(value=True, span=_span(meta))

    def false(self, meta: Any, c: list[Any]) -> d.Bool:
        return d.Bool(value=False, span=_span(meta))


def _ref(parts: list[Any], span: Span) -> d.VarRef:
    """A reference from its first name and its segments: ('field', name) or ('element', index)."""
    names = [str(parts[0])]
    groups: list[list[Any]] = [[]]
    for kind, value in parts[1:]:
        if kind == "field":
            names.append(value)
            groups.append([])
        else:
            groups[-1].append(value)
    scopes = groups[:-1] if any(groups[:-1]) else []
    return d.VarRef(name=".".join(names), indices=groups[-1], scopes=scopes, span=span)


def _attach_infer(body: list[Any]) -> list[Any]:
    """An `infer METHOD(...)` clause belongs to the latent declared just before it."""
    out: list[Any] = []
    for stmt in body:
        if isinstance(stmt, d.InferDecl) and stmt.target is None and out and isinstance(out[-1], d.VarDecl) \
                and out[-1].infer is None:
            var = out[-1]
            var.infer = stmt.spec
            if var.span is not None and stmt.span is not None:
                var.span = Span(var.span.line, var.span.column, stmt.span.end_line, stmt.span.end_column)
            continue
        out.append(stmt)
    return out


# ---------------------------------------------------------------- syntax errors
def _syntax_hint(e: UnexpectedToken, prev: Token | None) -> str | None:
    tok = e.token
    if prev is not None and prev.type == "NAME":
        guess = did_you_mean(str(prev), KEYWORDS)
        if guess and str(prev) not in KEYWORDS:
            return guess
    if tok.type == "NAME":
        if {"RBRACE"} <= set(e.expected) and str(tok) not in KEYWORDS:
            guess = did_you_mean(str(tok), KEYWORDS + ["R", "spins", "bits"])
            if guess:
                return guess
        if "REALS" in e.expected or str(tok) in {"Real", "real", "r"}:
            return "a domain is R[n, ...], {k} for a categorical, spins[n] or bits[n]"
    if str(tok) == ".." and "RSQB" in e.expected and "use" in _line_words(e):
        return "an instance is one element: write the loop around it, for i in 0..3 { use m[i] = M(...) }"
    if tok.type == "$END" and "RBRACE" in e.expected:
        return "a '{' is never closed: add '}' at the end of the model or loop"
    if tok.type == "EQUAL" and "COLON" in e.expected:
        return "declarations use ':' before the domain, as in 'observed x : R[4]'"
    return None


def _line_words(e: UnexpectedToken) -> list[str]:
    """The words before the unexpected token on the parser's stack (to tell what statement it is in)."""
    stack = e.interactive_parser.parser_state.value_stack
    return [str(t) for v in stack for t in ([v] if isinstance(v, Token) else []) if t.line == e.token.line]


def _message(e: UnexpectedToken) -> str:
    tok = e.token
    what = "end of file" if tok.type == "$END" else f"'{tok}'"
    return f"unexpected {what}; expected {_expected_text(set(e.expected))}"


SYNC_TOKENS = {"OBSERVED", "LATENT", "FN", "ENERGY", "FOR", "USE", "REGULARIZE", "PARAM", "INFER", "MODEL", "IMPORT",
               "RBRACE"}
INSERTABLE = ["COLON", "RPAR", "RSQB", "RBRACE", "COMMA"]


def _last_token(value: Any) -> Token | None:
    """The last token of a value on the parser's stack (a token or a subtree)."""
    if isinstance(value, Token):
        return value
    if isinstance(value, Tree):
        for child in reversed(value.children):
            found = _last_token(child)
            if found is not None:
                return found
    return None


def _retype(tok: Token, accepted: set[str]) -> Token | None:
    """The token, as a terminal the parser accepts here (a NAME may be a keyword), or None."""
    if tok.type in accepted:
        return tok
    for name in sorted(accepted):
        if name == "$END":
            continue
        pattern = _parser.get_terminal(name).pattern
        if (pattern.type == "str" and pattern.value == str(tok)) or (
            pattern.type == "re" and re.fullmatch(pattern.value, str(tok))
        ):
            return Token.new_borrow_pos(name, str(tok), tok)
    return None


def _recover(reporter: Reporter) -> Any:
    """An on_error callback: report, then repair.

    Repairs, in order: insert one missing closing bracket, ':' or ','; else skip tokens until one
    that starts a statement (panic mode) and unwind the parser to a state that accepts it. Errors
    met while skipping are not reported, so one mistake gives one message.
    """
    state = {"panic": False, "count": 0, "last_line": 0, "skipped": False}

    def report(e: UnexpectedToken) -> None:
        tok = e.token
        stack = e.interactive_parser.parser_state.value_stack
        prev = stack[-1] if stack and isinstance(stack[-1], Token) else None
        if tok.type == "$END":
            line, col = (prev.end_line or 1, prev.end_column or 1) if prev else (1, 1)
        else:
            line, col = tok.line or 1, tok.column or 1
        if line == state["last_line"] and state["panic"]:
            return
        reporter.error("E001", _message(e), Span(line, col, line, col + max(len(str(tok)), 1)),
                       hint=_syntax_hint(e, prev))
        state["last_line"] = line

    def report_missing(e: UnexpectedToken, name: str) -> None:
        stack = e.interactive_parser.parser_state.value_stack
        prev = _last_token(stack[-1]) if stack else None
        what = _describe(name)
        if prev is None or prev.end_line is None:
            report(e)
            return
        line, col = prev.end_line, prev.end_column or 1
        hint = {"RBRACE": "a '{' is never closed: add '}' at the end of the model or loop",
                "COLON": "declarations use ':' before the domain, as in 'observed x : R[4]'"}.get(name)
        reporter.error("E001", f"missing {what} after '{prev}'", Span(line, col, line, col + 1),
                       hint=hint or f"add {what} here")
        state["last_line"] = line

    def on_error(e: UnexpectedInput) -> bool:
        state["count"] += 1
        if state["count"] > 1000:
            return False
        if isinstance(e, UnexpectedCharacters):
            state["skipped"] = True
            if e.line != state["last_line"]:
                ch = getattr(e, "char", "?")
                reporter.error("E001", f"unexpected character {ch!r}", Span(e.line, e.column, e.line, e.column + 1),
                               hint="names are letters, digits and '_'; comments start with '#'")
                state["last_line"] = e.line
            return True
        if not isinstance(e, UnexpectedToken):
            return False
        tok = e.token
        ip = e.interactive_parser
        if not state["panic"]:
            for name in INSERTABLE:
                if name not in ip.accepts():
                    continue
                fake = Token(name, _parser.get_terminal(name).pattern.value)
                trial = ip.copy()
                try:
                    trial.feed_token(fake)
                    retyped = _retype(tok, trial.accepts())
                except LarkError:
                    retyped = None
                if retyped is not None:
                    report_missing(e, name)
                    ip.feed_token(fake)
                    if tok.type != "$END":
                        ip.feed_token(retyped)
                    return True
            report(e)
            state["panic"] = True
            state["skipped"] = True  # tokens are dropped: what they said is lost
        if tok.type == "$END":
            return False
        if tok.type not in SYNC_TOKENS:
            return True  # drop it and keep skipping
        ps = ip.parser_state
        while len(ps.state_stack) > 1:
            if tok.type in ip.accepts():
                ip.feed_token(tok)
                state["panic"] = False
                return True
            ps.state_stack.pop()
            if ps.value_stack:
                ps.value_stack.pop()
        return False

    on_error.state = state  # type: ignore[attr-defined]
    return on_error


# ---------------------------------------------------------------- comments
def _attach_comments(file: d.FileDecl, comments: list[Token]) -> None:
    if not comments:
        return
    blocks: list[tuple[Span, list[Any], Any]] = []  # (span, body, owner)

    def collect(body: list[Any], owner: Any) -> None:
        for stmt in body:
            if isinstance(stmt, d.ForLoop) and stmt.span is not None:
                blocks.append((stmt.span, stmt.body, stmt))
                collect(stmt.body, stmt)

    for m in file.models:
        if m.span is not None:
            blocks.append((m.span, m.body, m))
        collect(m.body, m)

    all_stmts = [s for m in file.models for s in d.walk_statements(m.body)]
    last: dict[int, int] = {}  # per comment list: the line of the last comment put in it

    def put(into: list[str], text: str, line: int) -> None:
        if last.get(id(into), line - 1) < line - 1:
            into.append(d.BLANK)  # a blank line between two blocks of comments stays
        into.append(text)
        last[id(into)] = line

    for c in comments:
        text = str(c)[1:].rstrip()
        text = text[1:] if text.startswith(" ") else text
        line = c.line or 1
        trailing = [s for s in all_stmts if s.span and s.span.end_line == line and s.span.line <= line
                    and (s.span.end_column or 0) <= (c.column or 0)]
        if trailing:
            owner_stmt = min(trailing, key=lambda s: (s.span.line, s.span.column))
            owner_stmt.trailing = text if owner_stmt.trailing is None else owner_stmt.trailing + " " + text
            continue
        inside = [b for b in blocks if b[0].line <= line <= (b[0].end_line or b[0].line)]
        if inside:
            span, body, owner = max(inside, key=lambda b: b[0].line)
            after = [s for s in body if s.span and s.span.line > line]
            if not after and not owner.end_comments:  # the first comment after the body's last statement
                ends = [s.span.end_line or s.span.line for s in body if s.span and s.span.line < line]
                if ends:
                    last[id(owner.end_comments)] = max(ends)  # a blank line after that statement stays
            put(after[0].comments if after else owner.end_comments, text, line)
            continue
        heads: list[Any] = [i for i in file.imports] + list(file.models)
        after_top = [h for h in heads if h.span and h.span.line > line]
        put(min(after_top, key=lambda h: h.span.line).comments if after_top else file.end_comments, text, line)


# ---------------------------------------------------------------- entry point
def parse(text: str, file: str = "<string>", reporter: Reporter | None = None) -> d.FileDecl:
    """Parse `.ebm` text into declarations; raise EbmError with every syntax error found."""
    own = reporter is None
    rep = reporter or Reporter(file, text)
    if len(text) > MAX_SOURCE_CHARS:
        rep.error("E002", f"file is too large ({len(text)} characters; the limit is {MAX_SOURCE_CHARS})",
                  Span(1, 1), hint="split the model into several files and import them")
        rep.raise_if_errors()
    depth = max_depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            max_depth = max(max_depth, depth)
        elif ch in ")]}":
            depth -= 1
    if max_depth > MAX_NESTING:
        rep.error("E002", f"brackets nest {max_depth} deep; the limit is {MAX_NESTING}", Span(1, 1),
                  hint="write deep expressions as several named steps")
        rep.raise_if_errors()
    recover = _recover(rep)
    with _lock:
        _comments.clear()
        try:
            tree = _parser.parse(text, on_error=recover)
        except UnexpectedInput as e:
            if not rep.has_errors:
                rep.error("E001", f"syntax error: {str(e).splitlines()[0]}",
                          Span(getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1))
            tree = None
        except RecursionError:
            rep.error("E002", "the file nests too deeply to parse", Span(1, 1))
            tree = None
        comments = list(_comments)
    # every mistake repaired by inserting a missing token: the tree says all the text said, so the
    # semantic checks can run too (one `ebm check` reports a missing ')' and an unknown name)
    repaired = rep.has_errors and tree is not None and not recover.state["skipped"]  # type: ignore[attr-defined]
    if own:
        rep.raise_if_errors()
    if tree is None or (rep.has_errors and not repaired):
        return d.FileDecl(path=file)
    try:
        result = _Build(visit_tokens=False).transform(tree)  # no token callbacks: skip their lookups
    except RecursionError:
        rep.error("E002", "the file nests too deeply to parse", Span(1, 1))
        rep.raise_if_errors()
        raise
    except Exception:  # noqa: BLE001 - a repaired tree the builder cannot read: the syntax errors stand
        if repaired:
            return d.FileDecl(path=file)
        raise
    assert isinstance(result, d.FileDecl)
    result.path = file
    result.repaired = bool(repaired)
    _attach_comments(result, comments)
    return result


__all__ = ["parse", "KEYWORDS", "Tree"]
