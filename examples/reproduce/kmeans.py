"""002 sec. 4.2.1: k-means (10 prototypes) trained from library/kmeans.ebm and kmeans.toml, against
scikit-learn's KMeans(n_init=10) on the same split: held-out inertia per sample, bar <= 1.01 x."""

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

BAR = 1.01


def main() -> None:
    a = args(__doc__ or "")
    run, ours_s = train("library/kmeans.ebm", "kmeans.toml", a.quick)
    ours = held_out_free_energy(run)
    X = digits()
    tr, te = split_rows(run, len(X))
    from sklearn.cluster import KMeans
    km, peer_s = timed(lambda: KMeans(10, n_init=10, random_state=0).fit(X[tr]))
    peer = float(-km.score(X[te]) / len(te))
    import ebmgraph
    model = ebmgraph.load_checkpoint(run / "checkpoint.pt")
    ours_c = model.fns["centers"].weight.detach().T.numpy()
    _, torch_s = plain_small("kmeans", X, run, 30, a.quick)
    fig, axes = figure(8, 2.2)
    for ax, centers, title in ((axes[0], ours_c, f"ours (inertia {ours:.3f})"),
                               (axes[1], km.cluster_centers_, f"scikit-learn (inertia {peer:.3f})")):
        order = np.argsort([c.sum() for c in centers])
        ax.imshow(np.hstack([centers[i].reshape(8, 8) for i in order]), cmap="gray_r")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    report(Row("002 sec. 4.2.1 k-means, 10", "inertia per sample (held out)", ours, peer, f"<= {BAR} x peer",
               ours <= BAR * peer, ours_s, peer_s, torch_s=torch_s,
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
