"""Sparse coding (002 sec. 4.2.1) on the digits: our `minimize` (FISTA with proximal l1 steps)
against scikit-learn's SparseCoder(transform_algorithm="lasso_cd"), side by side in one run.

The digits are scaled to [0, 1] (X / 16); the dictionary is 32 fixed unit-norm atoms (seeded
Gaussian rows). SparseCoder(transform_alpha=a) minimizes, per sample,
(1 / 2 n_features) ||x - z D||^2 + (a / n_features) ||z||_1, which is n_features times smaller than
library/sparse_coding.ebm's E = 1/2 ||x - W z||^2 + lam ||z||_1 with W = D^T, lam = a: the same
minimizer. Printed per alpha: the mean objective of each, their ratio, the share of exact zeros,
time and peak memory. Target: objective within 0.5%, zeros within 5 points.

    python benchmarks/bench_sparse_coding.py [--samples 400]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import SparseCoder

import ebmgraph

LIBRARY = Path(__file__).resolve().parent.parent / "library"


def dictionary(atoms: int = 32, features: int = 64, seed: int = 0) -> np.ndarray:
    """A fixed dictionary of unit-norm atoms, one per row (sklearn's convention)."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((atoms, features)).astype(np.float32)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def objective(x: np.ndarray, z: np.ndarray, d: np.ndarray, lam: float) -> float:
    """Mean of 1/2 ||x - z D||^2 + lam ||z||_1 over the samples."""
    return float((0.5 * ((x - z @ d) ** 2).sum(1) + lam * np.abs(z).sum(1)).mean())


def ours(x: np.ndarray, d: np.ndarray, lam: float) -> tuple[np.ndarray, dict[str, object]]:
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / "sparse_coding.ebm"))
    model.set_weight("S", lam)
    model.fns["dec"].weight.data = torch.tensor(d.T.copy())
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = model.free_energy(x=torch.tensor(x))
    return r.values["z"].numpy(), r.diagnostics["z"]


def sklearn_codes(x: np.ndarray, d: np.ndarray, lam: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lasso_cd's own convergence warnings at its default tol
        return SparseCoder(dictionary=d, transform_algorithm="lasso_cd", transform_alpha=lam).transform(x)


def timed(f, *args):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    t0 = time.perf_counter()
    out = f(*args)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x = (load_digits().data / 16.0).astype(np.float32)[: args.samples]
    d = dictionary()
    print(f"sparse coding of {len(x)} digits on 32 unit-norm atoms; 1 torch thread")
    print(f"{'alpha':>6} {'sklearn obj':>12} {'ours obj':>12} {'ratio':>8} {'zeros sk':>9} {'zeros ours':>10} "
          f"{'steps':>6} {'conv.':>6} {'sk s':>7} {'ours s':>7} {'sk MB':>6} {'ours MB':>7}")
    for lam in (0.1, 0.25, 0.5, 1.0):
        z_sk, t_sk, m_sk = timed(sklearn_codes, x, d, lam)
        (z, diag), t_us, m_us = timed(ours, x, d, lam)
        o_sk, o_us = objective(x, z_sk, d, lam), objective(x, z, d, lam)
        print(f"{lam:6.2f} {o_sk:12.6f} {o_us:12.6f} {o_us / o_sk:8.5f} {(z_sk == 0).mean():9.3f} "
              f"{(z == 0).mean():10.3f} {diag['steps']:6d} {float(diag['converged'].float().mean()):6.2f} {t_sk:7.3f} {t_us:7.3f} {m_sk:6.1f} {m_us:7.1f}")
    print("(conv.: share of samples meeting minimize's tol; peak memory is what tracemalloc sees of Python-side\n"
          " allocations, not torch's CPU tensors; ratio < 1 means our objective is lower)")


if __name__ == "__main__":
    main()
