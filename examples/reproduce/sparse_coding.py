"""002 sec. 4.2.1: sparse coding of the digits / 16 over 32 fixed unit-norm atoms
(library/sparse_coding_fixed.ebm, sparse_coding.toml; `ebm eval`, nothing to train), against
scikit-learn's SparseCoder(lasso_cd) on the same held-out rows: its lasso objective, bar <= 1.005 x,
and the share of exact zeros within 5 points."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _common import ROOT, Row, args, baseline, digits, evaluate, figure, report, timed

BAR, ZEROS = 1.005, 0.05
LAM = 0.5  # the model's lam; scikit-learn's transform_alpha (it divides by n_features itself)


def main() -> None:
    a = args(__doc__ or "")
    run, ours_s = evaluate("library/sparse_coding_fixed.ebm", "sparse_coding.toml", "--latents")
    rows = np.asarray(json.loads((run / "eval.json").read_text())["rows"])
    z = np.load(run / "latents.npz")["z"]
    X = digits()[rows]
    atoms = np.load(ROOT / "library" / "atoms.npy").T  # (32, 64), scikit-learn's layout
    n = X.shape[1]

    def lasso(Z: np.ndarray) -> float:  # scikit-learn's objective: 1/(2n) ||x - z D||^2 + (alpha/n) ||z||_1
        return float(np.mean((0.5 * ((X - Z @ atoms) ** 2).sum(1) + LAM * np.abs(Z).sum(1)) / n))

    from sklearn.decomposition import SparseCoder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinate descent reports its duality gap row by row
        zs, peer_s = timed(lambda: SparseCoder(atoms, transform_algorithm="lasso_cd", transform_alpha=LAM,
                                               transform_max_iter=1000).transform(X))
    ours, peer = lasso(z), lasso(zs)
    zeros, zeros_peer = float((z == 0).mean()), float((zs == 0).mean())
    tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
    np.save(tmp / "x.npy", X)
    plain, torch_s = baseline("fista.py", str(ROOT / "library" / "atoms.npy"), str(tmp / "x.npy"), str(LAM), "500")
    fig, axes = figure(9, 3)
    axes[0].imshow(np.hstack([atoms[i].reshape(8, 8) for i in range(16)]), cmap="gray_r")
    axes[0].set_title("the first 16 of the 32 fixed atoms", fontsize=9)
    axes[0].axis("off")
    axes[1].scatter(zs.ravel(), z.ravel(), s=2)
    axes[1].set_xlabel("scikit-learn's code")
    axes[1].set_ylabel("ours (FISTA)")
    axes[1].set_title(f"codes; exact zeros {zeros:.1%} vs {zeros_peer:.1%}", fontsize=9)
    fig.tight_layout()
    passed = ours <= BAR * peer and abs(zeros - zeros_peer) <= ZEROS
    report(Row("002 sec. 4.2.1 sparse coding, 32 fixed atoms", "lasso objective (held out)", ours, peer,
               f"<= {BAR} x peer; zeros within {ZEROS:.0%}", passed, ours_s, peer_s, torch_s=torch_s,
               note=f"exact zeros {zeros:.1%} vs {zeros_peer:.1%}; plain-torch FISTA F/n {plain['F'] / n:.5f}",
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
