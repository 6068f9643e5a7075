"""Built-in deterministic functions: signature, shape rule, torch module (batch dimension first)."""

from __future__ import annotations

import functools
import math
import operator
from typing import TYPE_CHECKING, Any

from .._lazy import modules as _m
from ..options import Option
from . import Config, FunctionSpec, Shape, ShapeError, fmt_shape, register_function

if TYPE_CHECKING:
    import torch
    from torch import nn
else:  # shape rules and specs are torch-free; the modules are built (and torch imported) at compile time
    from .._lazy import nn, torch

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "gelu": "GELU", "sigmoid": "Sigmoid", "silu": "SiLU", "elu": "ELU"}


def _ints(cfg: Config, what: str) -> list[int]:
    out = []
    for a in cfg.args:
        if not isinstance(a, int) or isinstance(a, bool) or a <= 0:
            raise ShapeError(f"{what} must be positive integers, got {a!r}")
        out.append(a)
    return out


def _last_dim(shape: Shape, expected: int, what: str) -> None:
    if not shape or shape[-1] != expected:
        raise ShapeError(f"{what} expects an input whose last dimension is {expected}, got {fmt_shape(shape)}")


# ---------------------------------------------------------------- trainable
def _linear_shape(shapes: list[Shape], cfg: Config) -> Shape:
    din, dout = _ints(cfg, "linear(din, dout)")
    _last_dim(shapes[0], din, f"linear({din}, {dout})")
    return shapes[0][:-1] + (dout,)


register_function(FunctionSpec(
    "linear", "affine map W x + b on the last dimension", 1, _linear_shape,
    lambda cfg, shapes: nn.Linear(cfg.args[0], cfg.args[1], bias=bool(cfg.options.get("bias", True))),
    trainable=True, config_args="din, dout", min_args=2, max_args=2, sizes=True,
    options=(Option("bias", bool, True, "add a trainable offset b"),),
    cost=lambda cfg, s, out: (cfg.args[0] * cfg.args[1] + (cfg.args[1] if cfg.options.get("bias", True) else 0), 0)))


def _mlp_shape(shapes: list[Shape], cfg: Config) -> Shape:
    sizes = _ints(cfg, "mlp sizes")
    _last_dim(shapes[0], sizes[0], "mlp(" + ", ".join(map(str, sizes)) + ")")
    act = cfg.options.get("activation", "relu")
    if act not in ACTIVATIONS:
        raise ShapeError(f"unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
    return shapes[0][:-1] + (sizes[-1],)


def _mlp_build(cfg: Config, shapes: list[Shape]) -> nn.Module:
    sizes = list(cfg.args)
    act = getattr(nn, ACTIVATIONS[cfg.options.get("activation", "relu")])
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


register_function(FunctionSpec(
    "mlp", "multi-layer perceptron mlp(d0, d1, ..., dn): linear layers with an activation between them",
    1, _mlp_shape, _mlp_build, trainable=True, config_args="d_in, hidden..., d_out", min_args=2, max_args=None,
    sizes=True, options=(Option("activation", tuple(ACTIVATIONS), "relu", "the nonlinearity between layers"),),
    cost=lambda cfg, s, out: (sum(a * b + b for a, b in zip(cfg.args, cfg.args[1:], strict=False)),
                              sum(cfg.args[1:-1]) * max(1, math.prod(s[0][:-1]) if s else 1))))


def _conv_shape(nd: int) -> Any:
    def rule(shapes: list[Shape], cfg: Config) -> Shape:
        sizes = _ints(cfg, f"conv{nd}d(cin, cout, k[, stride])")
        cin, cout, k = sizes[:3]
        stride = (sizes[3:] or [1])[0]
        call = f"conv{nd}d({', '.join(map(str, sizes))})"
        s = shapes[0]
        if len(s) != nd + 1 or s[0] != cin:
            raise ShapeError(f"{call} expects R[{cin}, {', '.join(['L'] * nd)}], got {fmt_shape(s)}")
        if any(d < k for d in s[1:]):
            raise ShapeError(f"conv{nd}d kernel {k} is larger than the input {fmt_shape(s)}")
        return (cout,) + tuple((d - k) // stride + 1 for d in s[1:])
    return rule


def _conv_cost(nd: int) -> Any:
    """The parameters: (cin k^nd + 1) cout (the stride changes none)."""
    def cost(cfg: Config, shapes: list[Shape], out: Shape) -> tuple[int, int]:
        cin, cout, k = cfg.args[:3]
        return cin * cout * k ** nd + cout, 0
    return cost


register_function(FunctionSpec(
    "conv1d", "1-D convolution conv1d(cin, cout, k[, stride]), no padding", 1, _conv_shape(1),
    lambda cfg, shapes: nn.Conv1d(cfg.args[0], cfg.args[1], cfg.args[2], stride=(cfg.args[3:] or (1,))[0]),
    trainable=True,
    config_args="cin, cout, k[, stride]", min_args=3, max_args=4, sizes=True, cost=_conv_cost(1)))
register_function(FunctionSpec(
    "conv2d", "2-D convolution conv2d(cin, cout, k[, stride]), no padding", 1, _conv_shape(2),
    lambda cfg, shapes: nn.Conv2d(cfg.args[0], cfg.args[1], cfg.args[2], stride=(cfg.args[3:] or (1,))[0]),
    trainable=True,
    config_args="cin, cout, k[, stride]", min_args=3, max_args=4, sizes=True, cost=_conv_cost(2)))


def _embedding_shape(shapes: list[Shape], cfg: Config) -> Shape:
    n, dim = _ints(cfg, "embedding(n, d)")
    return shapes[0] + (dim,)


register_function(FunctionSpec(
    "embedding", "lookup table embedding(n, d) from a categorical {n} to R[d]", 1, _embedding_shape,
    lambda cfg, shapes: _m().Embedding(*cfg.args), trainable=True, config_args="n, d", min_args=2, max_args=2,
    discrete_input=True, sizes=True, cost=lambda cfg, s, out: (cfg.args[0] * cfg.args[1], 0)))


def _attention_shape(shapes: list[Shape], cfg: Config) -> Shape:
    dim, heads = _ints(cfg, "attention(d, heads)")
    s = shapes[0]
    if len(s) != 2 or s[1] != dim:
        raise ShapeError(f"attention({dim}, {heads}) expects a sequence R[L, {dim}], got {fmt_shape(s)}")
    if dim % heads:
        raise ShapeError(f"attention: d = {dim} is not divisible by heads = {heads}")
    return s


register_function(FunctionSpec(
    "attention", "transformer encoder block attention(d, heads) on a sequence R[L, d]", 1, _attention_shape,
    lambda cfg, shapes: _m().Attention(*cfg.args), trainable=True, config_args="d, heads", min_args=2, max_args=2,
    sizes=True,  # 12 d^2 + 13 d weights; per sample the heads' L x L attention maps and a 4 d feed-forward
    cost=lambda cfg, s, out: (12 * cfg.args[0] ** 2 + 13 * cfg.args[0],
                              cfg.args[1] * s[0][0] ** 2 + 8 * s[0][0] * cfg.args[0] if s else 0)))


def _gru_shape(shapes: list[Shape], cfg: Config) -> Shape:
    din, dh = _ints(cfg, "gru(din, dh)")
    s = shapes[0]
    if len(s) != 2 or s[1] != din:
        raise ShapeError(f"gru({din}, {dh}) expects a sequence R[L, {din}], got {fmt_shape(s)}")
    return (dh,)


register_function(FunctionSpec(
    "gru", "GRU over a sequence R[L, din], returning the last hidden state R[dh]", 1, _gru_shape,
    lambda cfg, shapes: _m().GRU(*cfg.args), trainable=True, config_args="din, dh", min_args=2, max_args=2, sizes=True,
    cost=lambda cfg, s, out: (3 * (cfg.args[0] * cfg.args[1] + cfg.args[1] ** 2 + 2 * cfg.args[1]),
                              4 * s[0][0] * cfg.args[1] if s else 0)))


def _gru_cell_shape(shapes: list[Shape], cfg: Config) -> Shape:
    din, dh = _ints(cfg, "gru_cell(din, dh)")
    if shapes[0] != (din,) or shapes[1] != (dh,):
        raise ShapeError(f"gru_cell({din}, {dh}) expects (R[{din}], R[{dh}]), got "
                         f"({fmt_shape(shapes[0])}, {fmt_shape(shapes[1])})")
    return (dh,)


register_function(FunctionSpec(
    "gru_cell", "one GRU step gru_cell(din, dh): (input R[din], state R[dh]) -> state R[dh]", 2, _gru_cell_shape,
    lambda cfg, shapes: _m().GRUCell(*cfg.args), trainable=True, config_args="din, dh", min_args=2, max_args=2,
    sizes=True, cost=lambda cfg, s, out: (3 * (cfg.args[0] * cfg.args[1] + cfg.args[1] ** 2 + 2 * cfg.args[1]),
                                          4 * cfg.args[1])))


def _ellipse_shape(shapes: list[Shape], cfg: Config) -> Shape:
    if shapes[0] != (1,):
        raise ShapeError(f"ellipse expects an angle R[1], got {fmt_shape(shapes[0])}")
    return (2,)


register_function(FunctionSpec(
    "ellipse", "point on an ellipse at angle z: (r1 sin z, r2 cos z), radii trainable (002 Fig. 4b)", 1,
    _ellipse_shape, lambda cfg, shapes: _m().Ellipse(cfg.options.get("r1", 1.0), cfg.options.get("r2", 1.0)),
    trainable=True, options=(Option("r1", float, 1.0, "the first radius (its starting value)"),
                             Option("r2", float, 1.0, "the second radius (its starting value)")),
    cost=lambda cfg, s, out: (2, 0)))


register_function(FunctionSpec(
    "param", "a free trainable tensor, declared with `param w : R[K]` (starts at zero)", 0,
    lambda shapes, cfg: tuple(cfg.args), lambda cfg, shapes: _m().Param(tuple(cfg.args)), trainable=True,
    config_args="sizes", min_args=1, max_args=None, sizes=True,
    cost=lambda cfg, s, out: (math.prod(cfg.args), 0)))


def _transpose_shape(shapes: list[Shape], cfg: Config) -> Shape:
    _, din, dout = cfg.args
    _last_dim(shapes[0], dout, f"transpose of linear({din}, {dout})")
    return shapes[0][:-1] + (din,)


register_function(FunctionSpec(
    "transpose", "transpose(f) applies the transposed weight of linear f (tied weights: PCA, tied auto-encoders)",
    1, _transpose_shape, lambda cfg, shapes: _m().Transposed(cfg.options["_source"], bool(cfg.options.get("bias"))),
    trainable=True, config_args="f", min_args=3, max_args=3,  # the elaborator stores (f, din, dout)
    options=(Option("bias", bool, False, "add an own trainable offset (the weight stays shared)"),),
    cost=lambda cfg, s, out: (cfg.args[1] if cfg.options.get("bias") else 0, 0)))


# ---------------------------------------------------------------- parameter-free
def _same(shapes: list[Shape], cfg: Config) -> Shape:
    return shapes[0]


def _elementwise(name: str, fn: Any, doc: str) -> None:
    """A parameter-free elementwise function; `fn` a callable or the name of a torch function."""
    def build(cfg: Config, shapes: list[Shape]) -> Any:
        f = fn
        if isinstance(fn, str):
            f = torch
            for part in fn.split("."):
                f = getattr(f, part)
        return _m().Lambda(f, name)
    register_function(FunctionSpec(name, doc, 1, _same, build))


register_function(FunctionSpec("identity", "the identity map", 1, _same,
                               lambda cfg, shapes: _m().Lambda(lambda x: x, "identity")))
_elementwise("square", "square", "elementwise x^2")
_elementwise("sin", "sin", "elementwise sine")
_elementwise("cos", "cos", "elementwise cosine")
_elementwise("tanh", "tanh", "elementwise tanh")
_elementwise("relu", "relu", "elementwise max(x, 0)")
_elementwise("sigmoid", "sigmoid", "elementwise logistic sigmoid")
_elementwise("exp", "exp", "elementwise e^x")
_elementwise("log", "log", "elementwise natural logarithm (of positive inputs; softplus keeps them so)")
_elementwise("softplus", "nn.functional.softplus", "elementwise log(1 + e^x), a smooth positive relu")
_elementwise("normalize", lambda x: torch.nn.functional.normalize(x, dim=-1),
             "project onto the unit sphere along the last dimension")


def _cat_shape(shapes: list[Shape], cfg: Config) -> Shape:
    lead = {s[:-1] for s in shapes}
    if any(len(s) == 0 for s in shapes) or len(lead) != 1:
        raise ShapeError("cat joins inputs along their last dimension; the other dimensions must agree, got "
                         + ", ".join(fmt_shape(s) for s in shapes))
    return shapes[0][:-1] + (sum(s[-1] for s in shapes),)


register_function(FunctionSpec("cat", "concatenate along the last dimension", None, _cat_shape,
                               lambda cfg, shapes: _m().Lambda(lambda *xs: torch.cat(xs, dim=-1), "cat")))


def _sum_shape(shapes: list[Shape], cfg: Config) -> Shape:
    if len(set(shapes)) != 1:
        raise ShapeError("sum adds inputs of the same shape, got " + ", ".join(fmt_shape(s) for s in shapes))
    return shapes[0]


def _total_shape(shapes: list[Shape], cfg: Config) -> Shape:
    return () if len(shapes) == 1 else _sum_shape(shapes, cfg)


def _total(*xs: torch.Tensor) -> torch.Tensor:
    if len(xs) == 1:
        return xs[0].reshape(xs[0].shape[0], -1).sum(1)
    return functools.reduce(operator.add, xs)  # a + b + ...: no stacked copy, a lighter backward


register_function(FunctionSpec("sum", "sum(x) adds up the entries of x (a scalar); sum(a, b, ...) adds inputs "
                               "of one shape elementwise", None, _total_shape, lambda cfg, shapes: _m().Lambda(_total, "sum")))


def _scale_shape(shapes: list[Shape], cfg: Config) -> Shape:
    if len(cfg.args) != 1 or isinstance(cfg.args[0], bool) or not isinstance(cfg.args[0], int | float):
        raise ShapeError("scale multiplies by a constant given where it is declared: fn half = scale(0.5)")
    return shapes[0]


register_function(FunctionSpec(
    "scale", "multiply by a constant c: fn half = scale(0.5), then half(x)", 1, _scale_shape,
    lambda cfg, shapes: _m().Lambda(lambda x, c=float(cfg.args[0]): c * x, f"scale({cfg.args[0]})"),
    config_args="c", min_args=1, max_args=1))


def _one_hot_shape(shapes: list[Shape], cfg: Config) -> Shape:
    k = cfg.categories[0] if cfg.categories else None
    if k is None:
        raise ShapeError("one_hot takes a categorical variable {k}")
    return shapes[0] + (k,)


register_function(FunctionSpec(
    "one_hot", "a categorical {k} as a vector R[k] with a 1 at its value", 1, _one_hot_shape,
    lambda cfg, shapes: _m().OneHot(int(cfg.categories[0] or 1)), discrete_input=True))
register_function(FunctionSpec("mul", "elementwise product of inputs of one shape", None, _sum_shape,
                               lambda cfg, shapes: _m().Lambda(lambda *xs: functools.reduce(operator.mul, xs), "mul")))


def _sub_shape(shapes: list[Shape], cfg: Config) -> Shape:
    return _sum_shape(shapes, cfg)


register_function(FunctionSpec("sub", "elementwise difference a - b", 2, _sub_shape,
                               lambda cfg, shapes: _m().Lambda(lambda a, b: a - b, "sub")))


def _clamp_shape(shapes: list[Shape], cfg: Config) -> Shape:
    if len(set(shapes)) != 1:
        raise ShapeError("clamp(x, lo, hi) bounds x entry by entry: lo and hi have x's shape, got "
                         + ", ".join(fmt_shape(s) for s in shapes))
    return shapes[0]


register_function(FunctionSpec(
    "clamp", "clamp(x, lo, hi): x held within lo and hi entry by entry (a predicted state kept in the "
    "environment's observation box)", 3, _clamp_shape,
    lambda cfg, shapes: _m().Lambda(lambda x, lo, hi: torch.clamp(x, lo, hi), "clamp")))


def _pool_shape(shapes: list[Shape], cfg: Config) -> Shape:
    if len(shapes[0]) < 2:
        raise ShapeError(f"mean_pool averages over the first dimension of R[L, ...], got {fmt_shape(shapes[0])}")
    return shapes[0][1:]


register_function(FunctionSpec("mean_pool", "average over the first (sequence) dimension", 1, _pool_shape,
                               lambda cfg, shapes: _m().Lambda(lambda x: x.mean(1), "mean_pool")))


def _flatten_shape(shapes: list[Shape], cfg: Config) -> Shape:
    return (math.prod(shapes[0]),)


register_function(FunctionSpec("flatten", "flatten to a vector", 1, _flatten_shape,
                               lambda cfg, shapes: _m().Lambda(lambda x: x.flatten(1), "flatten")))
