"""The README's "From a diagram to a working model", runnable: python examples/from_diagram_to_model.py"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

import ebmgraph

LIBRARY = Path(__file__).resolve().parent.parent / "library"


def main() -> None:
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "ellipse.ebm"))
    y = torch.tensor([[0.5, 1.5], [2.0, 0.0]])
    out = model.energy(y=y, z=torch.zeros(2, 1))
    print("E(y, z=0):", out.total.tolist(), "terms:", list(out.terms))
    r = model.free_energy(y=y)
    print("F(y) = min_z E:", r.free_energy.tolist(), "z*:", r.values["z"].flatten().tolist())
    r.free_energy.mean().backward()
    print("dF/dr1, dF/dr2:", [float(p.grad) for p in model.parameters()])
    p = ebmgraph.compile(ebmgraph.load(LIBRARY / "parabola.ebm"))
    x = torch.tensor([[4.0]])
    up = p.infer(["y"], x=x, init={"y": torch.ones(1, 1)})
    down = p.infer(["y"], x=x, init={"y": -torch.ones(1, 1)})
    print("parabola minima for x = 4:", float(up.values["y"]), float(down.values["y"]))
    with tempfile.TemporaryDirectory() as tmp:
        ebmgraph.save(model, Path(tmp) / "ellipse.pt")
        again = ebmgraph.load_checkpoint(Path(tmp) / "ellipse.pt")
        print("reloaded F:", again.free_energy(y=y).free_energy.tolist())


if __name__ == "__main__":
    main()
