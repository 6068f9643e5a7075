"""002 sec. 4.2.1: PCA, 16 components, written with tied weights (library/pca.ebm, pca.toml), against
scikit-learn's PCA on the same split: held-out reconstruction error, bar <= 1.005 x."""

from __future__ import annotations

import numpy as np
from _common import (
    Row,
    args,
    digits,
    figure,
    held_out_free_energy,
    plain_small,
    report,
    split_rows,
    timed,
    train,
)

BAR = 1.005


def main() -> None:
    a = args(__doc__ or "")
    run, ours_s = train("library/pca.ebm", "pca.toml", a.quick)
    ours = held_out_free_energy(run)
    X = digits()
    tr, te = split_rows(run, len(X))
    from sklearn.decomposition import PCA
    pca, peer_s = timed(lambda: PCA(16).fit(X[tr]))
    rec = pca.inverse_transform(pca.transform(X[te]))
    peer = float(((X[te] - rec) ** 2).sum(1).mean())
    import ebmgraph
    model = ebmgraph.load_checkpoint(run / "checkpoint.pt")
    W = model.fns["enc"].weight.detach().numpy()  # (16, 64): rows span the principal subspace
    # the principal angles between the two subspaces: cosines near 1 when they agree
    q1, _ = np.linalg.qr(W.T)
    q2, _ = np.linalg.qr(pca.components_.T)
    cosines = np.linalg.svd(q1.T @ q2, compute_uv=False)
    _, torch_s = plain_small("pca", X, run, 100, a.quick)
    fig, axes = figure(8, 3)
    axes[0].plot(np.sort(cosines)[::-1], "o-")
    axes[0].set_ylim(0, 1.05)
    axes[0].set_title("cosines of the principal angles, ours vs PCA", fontsize=9)
    axes[1].imshow(np.hstack([c.reshape(8, 8) for c in pca.components_[:8]]), cmap="RdBu")
    axes[1].set_title("scikit-learn's first 8 components", fontsize=9)
    axes[1].axis("off")
    report(Row("002 sec. 4.2.1 PCA, 16 components (tied weights)", "reconstruction error (held out)", ours, peer,
               f"<= {BAR} x peer", ours <= BAR * peer, ours_s, peer_s, torch_s=torch_s,
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
