"""The torch modules behind the catalogue's parts, imported only when a model is compiled (the
front end, `ebm check` and friends, never imports torch: see catalogue/functions.py)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class Lambda(nn.Module):
    """A parameter-free function as a module."""

    def __init__(self, fn: Any, name: str):
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.name


class Embedding(nn.Module):
    def __init__(self, n: int, d: int):
        super().__init__()
        self.table = nn.Embedding(n, d)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table(idx.long())


class Attention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.block = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, batch_first=True, dropout=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class GRU(nn.Module):
    def __init__(self, din: int, dh: int):
        super().__init__()
        self.gru = nn.GRU(din, dh, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[1][-1]


class GRUCell(nn.Module):
    def __init__(self, din: int, dh: int):
        super().__init__()
        self.cell = nn.GRUCell(din, dh)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.cell(x, h)


class Ellipse(nn.Module):
    """Decoder z -> (r1 sin z, r2 cos z) with trainable radii (002 Fig. 4b)."""

    def __init__(self, r1: float, r2: float):
        super().__init__()
        self.r1 = nn.Parameter(torch.tensor(float(r1)))
        self.r2 = nn.Parameter(torch.tensor(float(r2)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.r1 * torch.sin(z), self.r2 * torch.cos(z)], dim=-1)


class Param(nn.Module):
    """A free trainable tensor (`param w : R[K]`), the same for every sample; starts at zero."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(shape))

    def forward(self) -> torch.Tensor:
        return self.value


class Transposed(nn.Module):
    """x -> W^T x with the weight W of another `linear` (tied weights), plus an own bias if asked."""

    def __init__(self, source: nn.Linear, bias: bool):
        super().__init__()
        object.__setattr__(self, "_source", source)  # not a sub-module: its parameters are counted once
        self.bias = nn.Parameter(torch.zeros(source.in_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        source: nn.Linear = self.__dict__["_source"]
        return nn.functional.linear(x, source.weight.t(), self.bias)

    def extra_repr(self) -> str:
        return "tied to a linear's weight, transposed"


class OneHot(nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(idx.long(), self.k).to(torch.get_default_dtype())

    def extra_repr(self) -> str:
        return f"k={self.k}"


class Hopfield(nn.Module):
    """Hopfield energy -sum_ij y_i w_ij y_j with symmetric w, zero diagonal (002 eq. 6)."""

    def __init__(self, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n, n))

    def symmetric(self) -> torch.Tensor:
        w = 0.5 * (self.weight + self.weight.T)
        return w - torch.diag(torch.diag(w))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = _flat(y)
        return -torch.einsum("bi,ij,bj->b", y, self.symmetric(), y)


class Bilinear(nn.Module):
    """Interaction energy -sum_ij a_i w_ij b_j (002 eq. 8, the y-z term)."""

    def __init__(self, na: int, nb: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(na, nb) * 0.01)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -((_flat(a) @ self.weight) * _flat(b)).sum(1)

    def coefficient(self, inputs: list[torch.Tensor], position: int) -> torch.Tensor:
        """dE/d(input at `position`): the energy is linear in each argument."""
        a, b = _flat(inputs[0]), _flat(inputs[1])
        return -(b @ self.weight.T) if position == 0 else -(a @ self.weight)


class Bias(nn.Module):
    """Unary energy -sum_i b_i a_i (the visible / hidden biases of a Boltzmann machine)."""

    def __init__(self, n: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return -(_flat(a) * self.bias).sum(1)

    def coefficient(self, inputs: list[torch.Tensor], position: int) -> torch.Tensor:
        return -self.bias.expand(inputs[0].shape[0], -1)
