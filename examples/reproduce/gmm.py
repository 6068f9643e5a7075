"""002 sec. 4.2.1: a Gaussian mixture of 10 diagonal components (library/gmm.ebm, gmm.toml) trained
by gradient descent on F(y) = -log p(y), against scikit-learn's GaussianMixture (EM) on the same
split: the held-out average log-likelihood, bar >= peer - 1%."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _common import (
    Row,
    args,
    baseline,
    digits,
    figure,
    held_out_free_energy,
    report,
    split_rows,
    timed,
    train,
)


def main() -> None:
    a = args(__doc__ or "")
    run, ours_s = train("library/gmm.ebm", "gmm.toml", a.quick)
    ours = -held_out_free_energy(run)
    X = digits()
    tr, te = split_rows(run, len(X))
    from sklearn.mixture import GaussianMixture
    gm, peer_s = timed(lambda: GaussianMixture(10, covariance_type="diag", random_state=0).fit(X[tr]))
    peer = float(gm.score(X[te]))
    tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
    np.save(tmp / "tr.npy", X[tr])
    np.save(tmp / "te.npy", X[te])
    steps = "2" if a.quick else "3000"
    plain, torch_s = baseline("gmm.py", str(tmp / "tr.npy"), str(tmp / "te.npy"), "10", steps, "0.01", "0")
    import torch

    import ebmgraph
    model = ebmgraph.load_checkpoint(run / "checkpoint.pt")
    means = model.fns["means"].weight.detach().T.numpy()
    weights = torch.softmax(model.fns["logits"].value.detach(), 0).numpy()
    fig, axes = figure(9, 2.4)
    for ax, m, w, title in ((axes[0], means, weights, f"ours: {ours:.1f}"),
                            (axes[1], gm.means_, gm.weights_, f"scikit-learn (EM): {peer:.1f}")):
        order = np.argsort(-w)
        ax.imshow(np.hstack([m[i].reshape(8, 8) for i in order]), cmap="gray_r")
        ax.set_title(f"{title}; means by weight ({w.max():.2f} ... {w.min():.2f})", fontsize=9)
        ax.axis("off")
    bar = peer - 0.01 * abs(peer)
    report(Row("002 sec. 4.2.1 GMM, 10 diagonal", "average log-likelihood (held out)", ours, peer, ">= peer - 1%",
               ours >= bar, ours_s, peer_s, torch_s=torch_s, note=f"plain torch {plain['loglik']:.2f}",
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
