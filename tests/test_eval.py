"""`ebm eval`: a model's free energy on a config's data with no training (a fixed dictionary, or a
trained run's checkpoint), on the same held-out rows `ebm train` holds out; the inferred latents
kept in latents.npz. With the mixture's pieces: gauss_diag's variance floor, and [[init]]'s
log-variances from the data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

import ebmgraph
from ebmgraph.cli import app
from ebmgraph.training.data import held_out

runner = CliRunner()

SPARSE = """model Sparse(dx = 8, dz = 4, lam = 0.1) {
  observed x : R[dx]
  latent z : R[dz] infer minimize(optimizer = fista, steps = 300)

  fn dec = linear(dz, dx, bias = false) fixed from "atoms.npy"

  x_hat = dec(z)

  energy D = 0.5 * sq_dist(x, x_hat)
  energy S = lam * l1(z)
}
"""


def _setup(tmp_path: Path, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((8, 4)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=0, keepdims=True)
    np.save(tmp_path / "atoms.npy", atoms)
    x = rng.standard_normal((40, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "m.ebm").write_text(SPARSE)
    (tmp_path / "c.toml").write_text(f'seed = 3\nbatch_size = 16\nout_dir = "{(tmp_path / "run").as_posix()}"\n'
                                     f'[data]\nsource = "x.npy"\nmap = {{ x = "data" }}\n'
                                     f"test_fraction = {test_fraction}\n")
    return atoms, x


def _lasso(x: np.ndarray, atoms: np.ndarray, lam: float, steps: int = 5000) -> np.ndarray:
    """The lasso's minimum per row by plain ISTA (a reference written here, many more steps)."""
    L = np.linalg.norm(atoms, 2) ** 2
    z = np.zeros((x.shape[0], atoms.shape[1]))
    for _ in range(steps):
        g = (z @ atoms.T - x) @ atoms
        v = z - g / L
        z = np.sign(v) * np.maximum(np.abs(v) - lam / L, 0)
    return 0.5 * ((x - z @ atoms.T) ** 2).sum(1) + lam * np.abs(z).sum(1)


def test_eval_gives_the_lasso_on_the_held_out_rows_and_keeps_the_codes(tmp_path: Path) -> None:
    atoms, x = _setup(tmp_path)
    r = runner.invoke(app, ["eval", str(tmp_path / "m.ebm"), "-c", str(tmp_path / "c.toml"), "--latents"])
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    _, test = held_out(40, 0.25, 3)  # the rows ebm train holds out with this seed
    assert ev["rows"] == test.tolist() and ev["split"] == "test" and ev["n_rows"] == 10
    want = _lasso(x[test.numpy()], atoms, 0.1)
    assert abs(ev["F_mean"] - want.mean()) < 1e-4
    assert f"F = {ev['F_mean']:.6g}" in r.output
    with np.load(tmp_path / "run" / "latents.npz") as z:
        assert z["z"].shape == (10, 4) and z["rows"].tolist() == ev["rows"]
        codes = z["z"]
    assert (codes == 0).any()  # FISTA's proximal steps give exact zeros
    e = 0.5 * ((x[test.numpy()] - codes @ atoms.T) ** 2).sum(1) + 0.1 * np.abs(codes).sum(1)
    assert abs(e.mean() - ev["F_mean"]) < 1e-4  # the kept codes are the minimizers F was computed at


def test_eval_of_a_trained_run_uses_its_checkpoint(tmp_path: Path) -> None:
    _, x = _setup(tmp_path, test_fraction=0)
    (tmp_path / "r.ebm").write_text("model R(d = 8) {\n  observed x : R[d]\n  param c : R[d]\n"
                                    "  energy E = sq_dist(x, c)\n}\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(cfg.read_text().replace("test_fraction = 0", "") + "epochs = 300\n[optimizer]\nlr = 0.05\n")
    cfg.write_text(cfg.read_text().replace("seed = 3\n", "seed = 3\nprogress = false\nplot = false\n"))
    text = cfg.read_text()
    cfg.write_text("epochs = 300\n" + text.replace("epochs = 300\n", ""))  # top-level keys before the tables
    assert runner.invoke(app, ["train", str(tmp_path / "r.ebm"), "-c", str(cfg)]).exit_code == 0
    out = tmp_path / "ev"
    r = runner.invoke(app, ["eval", str(tmp_path / "r.ebm"), "-c", str(cfg), "--checkpoint",
                            str(tmp_path / "run" / "checkpoint.pt"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    ev = json.loads((out / "eval.json").read_text())
    c = ebmgraph.load_checkpoint(tmp_path / "run" / "checkpoint.pt").fns["c"].value.detach().numpy()
    assert ev["split"] == "all" and ev["n_rows"] == 40
    assert abs(ev["F_mean"] - ((x - c) ** 2).sum(1).mean()) < 1e-4
    assert np.abs(c - x.mean(0)).max() < 0.05  # trained: the minimizer of the mean squared distance


def test_eval_says_what_is_wrong(tmp_path: Path) -> None:
    _setup(tmp_path)
    r = runner.invoke(app, ["eval", str(tmp_path / "m.ebm"), "-c", str(tmp_path / "c.toml"), "--checkpoint",
                            str(tmp_path / "nope.pt")])
    assert r.exit_code == 1 and "nope.pt" in r.output and "Traceback" not in r.output
    (tmp_path / "c.toml").write_text('out_dir = "x"\n')
    r = runner.invoke(app, ["eval", str(tmp_path / "m.ebm"), "-c", str(tmp_path / "c.toml")])
    assert r.exit_code == 1 and "[data]" in r.output


def test_gauss_diag_floors_each_variance() -> None:
    g = ebmgraph.loads("model G {\n  observed y : R[2]\n  param mu : R[2]\n  param lv : R[2]\n"
                       "  energy D = gauss_diag(y, mu, lv, min_var = 0.5)\n}\n")
    m = ebmgraph.compile(g)
    with torch.no_grad():
        m.fns["mu"].value.copy_(torch.tensor([0.0, 1.0]))
        m.fns["lv"].value.copy_(torch.tensor([math.log(2.0), -30.0]))
    from ebmgraph.inference import free_energy
    f = float(free_energy(m, {"y": torch.tensor([[1.0, 3.0]])}).free_energy.detach())
    var = [2.5, 0.5 + math.exp(-30.0)]  # exp(lv) + min_var
    want = sum(0.5 * ((yi - mi) ** 2 / v + math.log(v) + math.log(2 * math.pi))
               for yi, mi, v in zip([1.0, 3.0], [0.0, 1.0], var, strict=True))
    assert abs(f - want) < 1e-5


def test_init_log_var_starts_every_component_at_the_data_variance(tmp_path: Path) -> None:
    from ebmgraph.training.config import InitConfig
    from ebmgraph.training.data import Dataset, init_from_data
    g = ebmgraph.loads((Path(__file__).resolve().parents[1] / "library" / "gmm.ebm").read_text(),
                       params={"dy": 3, "K": 4})
    m = ebmgraph.compile(g)
    y = torch.tensor([[0.0, 1.0, 5.0], [2.0, 1.0, 5.0], [4.0, 1.0, 5.0]])
    init_from_data(m, [InitConfig.model_validate({"fn": "log_vars", "from": "y", "method": "log_var"})],
                   Dataset({"y": y}, {}, {}), 0)
    w = m.fns["log_vars"].weight.detach()  # (dy, K): column k is component k's log-variances
    want = torch.log(torch.tensor([8 / 3, 0.0, 0.0]) + 1e-6)
    assert w.shape == (3, 4) and torch.allclose(w, want[:, None].expand(3, 4), atol=1e-5)


def test_infer_finds_both_minima_of_the_parabola_and_says_what_is_wrong(tmp_path: Path) -> None:
    x = np.array([[0.25], [1.0], [1.69]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'seed = 1\nout_dir = "{(tmp_path / "run").as_posix()}"\n[data]\nsource = "x.npy"\n'
                   'map = { x = "data" }\n')
    lib = Path(__file__).resolve().parents[1] / "library" / "parabola.ebm"
    r = runner.invoke(app, ["infer", str(lib), "-c", str(cfg), "-t", "y", "--repeats", "12"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "run" / "infer.npz") as z:
        y, e = z["y"][..., 0], z["energy"]
        assert y.shape == (3, 12) and e.shape == (3, 12) and z["rows"].tolist() == [0, 1, 2]
    for i, root in enumerate([0.5, 1.0, 1.3]):
        best = {s: y[i][np.where(s * y[i] > 0, e[i], np.inf).argmin()] for s in (1, -1)}
        assert abs(best[1] - root) < 1e-3 and abs(best[-1] + root) < 1e-3  # +sqrt(x) and -sqrt(x)
    r = runner.invoke(app, ["infer", str(lib), "-c", str(cfg), "-t", "x"])
    assert r.exit_code == 1 and "given by the data" in r.output
    r = runner.invoke(app, ["infer", str(lib), "-c", str(cfg), "-t", "q"])
    assert r.exit_code == 1 and "'q'" in r.output and "Traceback" not in r.output


def test_infer_start_runs_a_hopfield_net_from_corrupted_patterns_back_to_them(tmp_path: Path) -> None:
    """Hebb's rule by one gradient step on the data's energy (ebm train), then recall from the data
    (ebm infer --start): 3 patterns of 64 spins, far under capacity, each with 6 spins flipped."""
    rng = np.random.default_rng(0)
    patterns = rng.choice([-1.0, 1.0], size=(3, 64)).astype(np.float32)
    corrupted = patterns.copy()
    for row in corrupted:
        row[rng.choice(64, 6, replace=False)] *= -1
    np.save(tmp_path / "p.npy", patterns)
    np.save(tmp_path / "c.npy", corrupted)
    lib = Path(__file__).resolve().parents[1] / "library" / "hopfield.ebm"
    (tmp_path / "t.toml").write_text(f'epochs = 1\nbatch_size = 8\nprogress = false\nplot = false\n'
                                     f'out_dir = "{(tmp_path / "run").as_posix()}"\n[data]\nsource = "p.npy"\n'
                                     'map = { y = "data" }\n[loss]\nkind = "energy"\n[optimizer]\nkind = "sgd"\n'
                                     'lr = 100.0\n')
    assert runner.invoke(app, ["train", str(lib), "-c", str(tmp_path / "t.toml")]).exit_code == 0
    w = ebmgraph.load_checkpoint(tmp_path / "run" / "checkpoint.pt").energy_terms["H"].symmetric().detach().numpy()
    hebb = patterns.T @ patterns / 3
    np.fill_diagonal(hebb, 0)
    assert np.allclose(w, 100 * hebb, atol=1e-3)  # lr times the patterns' correlation: Hebb's rule
    (tmp_path / "r.toml").write_text(f'out_dir = "{(tmp_path / "rec").as_posix()}"\n[data]\nsource = "c.npy"\n'
                                     'map = { y = "data" }\n')
    r = runner.invoke(app, ["infer", str(lib), "-c", str(tmp_path / "r.toml"), "-t", "y", "--start",
                            "--checkpoint", str(tmp_path / "run" / "checkpoint.pt")])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "rec" / "infer.npz") as z:
        assert np.array_equal(z["y"][:, 0], patterns)
    r = runner.invoke(app, ["infer", str(lib), "-c", str(tmp_path / "r.toml"), "-t", "y"])
    assert r.exit_code == 1 and "--start" in r.output
