"""A compiled model's plan as straight-line Python (the way torch.fx's GraphModule does it): one
function per plan, with every module bound once and every value in a local, so an evaluation
does no per-node dispatch. The generated text names only identifiers made here; the graph's
names appear as string literals (repr), so a `.ebm` file never puts code of its own in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .catalogue.energies import _flat

if TYPE_CHECKING:
    import torch
else:
    from ._lazy import torch

Step = tuple[str, Any, tuple[str, ...], str]  # (kind, module key or k, inputs, output)

# parameter-free catalogue entries written out as the expression their function computes (the same
# torch calls in the same order): no Python call, no functools.reduce, in the hot loop of inference
_INLINE: dict[str, Callable[[list[str]], str | None]] = {
    "sum": lambda a: " + ".join(a) if len(a) > 1 else None,  # sum(x) of one input is its total: a call
    "mul": lambda a: " * ".join(a) if len(a) > 1 else None,
    "cat": lambda a: f"torch.cat(({', '.join(a)},), dim=-1)",
    "sq_dist": lambda a: f"_flat({a[0]} - {a[1]}).pow(2).sum(1)",
    "l2": lambda a: f"_flat({a[0]}).pow(2).sum(1)",
}


def generate(plan: list[Step], fns: Any, ets: Any, weights: dict[str, float], energies: bool,
             device: Callable[[], Any], values_out: bool = True) -> tuple[Callable[..., Any], str]:
    """The function for `plan` and its source. With `energies`, it returns (total, terms, values)
    (values: the inputs and every computed variable); without, only the values."""
    env: dict[str, Any] = {"torch": torch, "_W": weights, "_device": device,
                           "_one_hot": torch.nn.functional.one_hot, "_dtype": torch.get_default_dtype}
    local: dict[str, str] = {}  # graph name -> local identifier
    inputs: list[str] = []
    body: list[str] = []
    bound: dict[Any, str] = {}

    def module(table: Any, key: str, prefix: str) -> str:
        ident = bound.get((prefix, key))
        if ident is None:
            ident = f"{prefix}{len(bound)}"
            bound[(prefix, key)] = ident
            m = table[key]
            # a parameter-free function is called as itself, without nn.Module's call machinery
            # (about 3 us a call: a planner's step calls several); one with hooks keeps it
            plain = type(m).__name__ == "Lambda" and not m._forward_hooks and not m._forward_pre_hooks
            env[ident] = m.fn if plain else m
        return ident

    def inline(table: Any, key: str, args: list[str]) -> str | None:
        m = table[key]
        if type(m).__name__ != "Lambda" or m._forward_hooks or m._forward_pre_hooks or m.name not in _INLINE:
            return None
        return _INLINE[m.name](args)

    def read(name: str) -> str:
        if name not in local:
            local[name] = f"v{len(local)}"
            inputs.append(name)
        return local[name]

    def out(name: str) -> str:
        local[name] = f"v{len(local)}"
        return local[name]

    terms: list[tuple[str, str]] = []
    for kind, key, args, name in plan:
        if kind == "energy" and not energies:
            continue
        names = [read(x) for x in args]
        a = ", ".join(names)
        if kind == "apply":
            expr = inline(fns, key, names)
            body.append(f"{out(name)} = {expr or module(fns, key, 'f') + '(' + a + ')'}")
        elif kind == "param":
            m = module(fns, key, "f")
            batch = "_batch(vals)"
            body.append(f"_p = {m}()")
            body.append(f"{out(name)} = _p.expand({batch}, *_p.shape)")
        elif kind == "noise":
            ident = f"n{len(bound)}"
            bound[("noise", key)] = ident
            env[ident] = lambda rows, key=key: draw_noise(key, rows, device())
            body.append(f"{out(name)} = vals[{name!r}] if {name!r} in vals else {ident}(_batch(vals))")
        elif kind == "one_hot":
            body.append(f"{out(name)} = _one_hot({a}.long(), {int(key)}).to(_dtype())")
        else:
            e = f"e{len(terms)}"
            expr = inline(ets, key, names)
            body.append(f"{e} = {expr or module(ets, key, 't') + '(' + a + ')'}")
            body.append(f"_w = _W[{name!r}]")
            body.append(f"if _w != 1.0:\n        {e} = {e} * _w")
            terms.append((name, e))
    lines = ["def _run(vals):"]
    for name in inputs:
        lines.append(f"    {local[name]} = vals[{name!r}]")
    lines += [f"    {b}" for b in body]
    computed = [(n, v) for n, v in local.items() if n not in inputs]
    if values_out:
        lines.append("    values = dict(vals)")
        lines += [f"    values[{n!r}] = {v}" for n, v in computed]
    else:
        lines.append("    values = None")
    if energies:
        if terms:
            lines.append("    total = " + " + ".join(e for _, e in terms))
        else:
            lines.append("    total = torch.zeros(_batch(vals), device=_device())")
        lines.append("    return total, {" + ", ".join(f"{n!r}: {e}" for n, e in terms) + "}, values")
    else:
        lines.append("    return values")
    src = "\n".join(lines) + "\n"
    env["_batch"] = _batch
    env["_flat"] = _flat  # the energies' own: sq_dist and l2 written out compute what they do
    code = compile(src, "<ebmgraph plan>", "exec")
    exec(code, env)  # noqa: S102 - our own generated text (see the module docstring)
    return env["_run"], src


def draw_noise(key: tuple[Any, ...], rows: int, device: Any) -> Any:
    """One draw per row of a noise variable: key = (name, distribution, options, shape)."""
    _, dist, options, shape = key
    o = dict(options)
    if dist == "normal":
        return o["mean"] + o["std"] * torch.randn(rows, *shape, device=device)
    return o["low"] + (o["high"] - o["low"]) * torch.rand(rows, *shape, device=device)


def _batch(vals: dict[str, Any]) -> int:
    return next(iter(vals.values())).shape[0] if vals else 1
