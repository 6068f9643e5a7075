"""Fixed parts (002 sec. 4.2.1's sparse coding with a given dictionary): `fn D = linear(32, 64,
bias = false) fixed from "atoms.npy"` takes its weights from the file beside the model and never
trains them; a file that does not fit is a located error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ebmgraph
from ebmgraph.diagnostics import EbmError
from ebmgraph.frontend import analyze

MODEL = """model Sparse(dx = 64, dz = 32) {
  observed x : R[dx]
  latent z : R[dz] infer minimize(optimizer = fista, steps = 200)

  fn dec = linear(dz, dx, bias = false) fixed from "atoms.npy"

  x_hat = dec(z)

  energy D = 0.5 * sq_dist(x, x_hat)
  energy S = 0.1 * l1(z)
}
"""


def _atoms(tmp_path: Path, shape: tuple[int, ...] = (64, 32), dtype: str = "float32") -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    if a.dtype.kind == "f":
        a /= np.linalg.norm(a, axis=0, keepdims=True)  # unit-norm atoms, as SparseCoder expects
    np.save(tmp_path / "atoms.npy", a)
    return a


def test_fixed_weights_come_from_the_file_and_are_not_trained(tmp_path: Path) -> None:
    atoms = _atoms(tmp_path)
    (tmp_path / "sparse.ebm").write_text(MODEL)
    g = ebmgraph.load(tmp_path / "sparse.ebm")
    assert ebmgraph.dumps(g) == MODEL  # the printer keeps `fixed from "..."`
    m = ebmgraph.compile(g)
    w = m.fns["dec"].weight
    assert torch.equal(w, torch.as_tensor(atoms)) and not w.requires_grad
    from ebmgraph.training.data import Dataset
    data = Dataset({"x": torch.randn(32, 64)}, {})
    cfg = {"epochs": 1, "batch_size": 16, "progress": False, "plot": False, "out_dir": str(tmp_path / "run")}
    with pytest.raises(ValueError, match="Sparse has nothing to train: it has no parameters but those of its "
                                         "fixed functions \\(dec\\)"):
        ebmgraph.train(m, cfg, data)
    # with a trainable part beside it, training moves that part and leaves the dictionary as given
    text = MODEL.replace("  x_hat = dec(z)", "  fn lin = linear(dx, dx)\n\n  x_hat = dec(z)\n  r = lin(x)").replace(
        "  energy S", "  energy T = 0.01 * sq_dist(r, x)\n  energy S")
    (tmp_path / "sparse.ebm").write_text(text)
    m = ebmgraph.compile(ebmgraph.load(tmp_path / "sparse.ebm"))
    before = m.fns["lin"].weight.detach().clone()
    ebmgraph.train(m, cfg, data)
    assert not torch.equal(m.fns["lin"].weight, before)
    assert torch.equal(m.fns["dec"].weight, torch.as_tensor(atoms))  # untouched by training
    again = ebmgraph.load_checkpoint(tmp_path / "run" / "checkpoint.pt")  # the weights travel in it
    assert torch.equal(again.fns["dec"].weight, torch.as_tensor(atoms)) and not again.fns["dec"].weight.requires_grad


def test_a_missing_or_unreadable_weights_file_is_a_located_error(tmp_path: Path) -> None:
    file = str(tmp_path / "sparse.ebm")
    _, diags = analyze(MODEL, file)
    assert [(x.code, x.line) for x in diags] == [("E024", 5)]
    assert "fixed weights of 'dec'" in diags[0].message and "does not exist" in diags[0].message
    _atoms(tmp_path, dtype="int64")
    _, diags = analyze(MODEL, file)
    assert diags[0].code == "E024" and "not floats" in diags[0].message


def test_weights_of_the_wrong_shape_are_a_located_error(tmp_path: Path) -> None:
    _atoms(tmp_path, shape=(32, 64))  # transposed
    g = ebmgraph.loads(MODEL, file=str(tmp_path / "sparse.ebm"))
    with pytest.raises(EbmError) as info:
        ebmgraph.compile(g)
    x = info.value.errors[0]
    assert (x.code, x.line) == ("E024", 5)
    assert "'weight' has shape (32, 64) in the file; linear needs (64, 32)" in x.message


def test_fixed_needs_weights_and_a_relative_path() -> None:
    _, diags = analyze(MODEL.replace('fn dec = linear(dz, dx, bias = false) fixed from "atoms.npy"',
                                     'fn dec = linear(dz, dx, bias = false) fixed from "/etc/atoms.npy"'), "m.ebm")
    assert diags[0].code == "E024" and "absolute" in diags[0].message
    _, diags = analyze(MODEL.replace("x_hat = dec(z)", "x_hat = dec(z)\n  fn f = tanh() fixed"), "m.ebm")
    assert any(x.code == "E024" and "'tanh' has no weights to fix" in x.message for x in diags)


def test_fixed_without_a_file_keeps_the_initial_weights_untrained(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = ebmgraph.loads(MODEL.replace(' fixed from "atoms.npy"', " fixed"))
    m = ebmgraph.compile(g)
    assert not any(p.requires_grad for p in m.fns["dec"].parameters())
    assert "fixed\n" in ebmgraph.dumps(g)


HOPFIELD = '''model Memory(n = 6) {
  observed y : R[n]

  energy W = hopfield(y) fixed from "hebb.npy"
}
'''


def test_an_energys_weights_can_be_fixed_from_a_file(tmp_path: Path) -> None:
    """Issue 25.6: `energy W = hopfield(y) fixed from "w.npy"` (Hebbian weights given, not trained)."""
    rng = np.random.default_rng(0)
    patterns = np.sign(rng.standard_normal((2, 6))).astype(np.float32)
    hebb = patterns.T @ patterns / 6
    np.fill_diagonal(hebb, 0)
    np.save(tmp_path / "hebb.npy", hebb)
    (tmp_path / "mem.ebm").write_text(HOPFIELD)
    g = ebmgraph.load(tmp_path / "mem.ebm")
    assert ebmgraph.dumps(g) == HOPFIELD and g.term("W").fixed
    m = ebmgraph.compile(g)
    w = m.energy_terms["W"].weight
    assert torch.equal(w, torch.as_tensor(hebb)) and not w.requires_grad
    y = torch.as_tensor(patterns)
    hand = -np.einsum("bi,ij,bj->b", patterns, hebb, patterns)  # -y W y, W symmetric, zero diagonal
    torch.testing.assert_close(m.energy(y=y).total, torch.as_tensor(hand))
    path = ebmgraph.save(m, tmp_path / "mem.pt")
    again = ebmgraph.load_checkpoint(path)  # the weights travel in the checkpoint, still fixed
    assert torch.equal(again.energy_terms["W"].weight, w) and not again.energy_terms["W"].weight.requires_grad
    np.save(tmp_path / "hebb.npy", hebb[:5, :5])
    with pytest.raises(EbmError, match="fixed weights of 'W': 'weight' has shape \\(5, 5\\) in the file; "
                                       "hopfield needs \\(6, 6\\)"):
        ebmgraph.compile(ebmgraph.load(tmp_path / "mem.ebm"))
    _, diags = analyze("model M {\n  observed y : R[2]\n  observed x : R[2]\n\n  energy E = sq_dist(x, y) fixed\n}\n")
    assert diags[0].code == "E024" and "'sq_dist' has no weights to fix" in diags[0].message
