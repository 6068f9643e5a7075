"""Shared by rbm_cd1.py and rbm_pcd.py: train library/rbm.ebm with the config, fit scikit-learn's
BernoulliRBM (which itself runs PCD) with the same settings on the same rows, and compare the exact
pseudo-log-likelihood of the held-out rows, sum_i log sigma(F(v with bit i flipped) - F(v)) (every
bit, not scikit-learn's one random bit per row, so both numbers are exact)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from _common import Row, args, baseline, digits, figure, report, split_rows, timed, train


def free_energy(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """F(v) = -b.v - sum_j softplus(c_j + (v W)_j), W of shape (visible, hidden)."""
    return -(v @ b) - np.logaddexp(0, v @ W + c).sum(1)


def pseudo_log_likelihood(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    f = free_energy(v, W, b, c)
    total = np.zeros(len(v))
    for i in range(v.shape[1]):
        flipped = v.copy()
        flipped[:, i] = 1 - flipped[:, i]
        total += -np.logaddexp(0, -(free_energy(flipped, W, b, c) - f))  # log sigma(F(flip) - F)
    return float(total.mean())


def run(config: str, name: str, doc: str) -> None:
    a = args(doc)
    run_dir, ours_s = train("library/rbm.ebm", config, a.quick)
    V = (digits() > 0.5).astype(np.float64)
    tr, te = split_rows(run_dir, len(V))
    import torch

    import ebmgraph
    model = ebmgraph.load_checkpoint(run_dir / "checkpoint.pt")
    sd = {k: t.detach().double().numpy() for k, t in model.state_dict().items()}
    W, b, c = sd["energy_terms.W.weight"], sd["energy_terms.Bv.bias"], sd["energy_terms.Bh.bias"]
    # our F from the model itself agrees with the formula the peer's numbers use
    from ebmgraph.inference import free_energy as model_free_energy
    f_model = model_free_energy(model, {"v": torch.as_tensor(V[te[:20]], dtype=torch.float32)}).free_energy
    assert np.allclose(f_model.detach().double().numpy(), free_energy(V[te[:20]], W, b, c), atol=1e-3)
    ours = pseudo_log_likelihood(V[te], W, b, c)
    from sklearn.neural_network import BernoulliRBM
    epochs = 2 if a.quick else 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rbm: Any
        rbm, peer_s = timed(lambda: BernoulliRBM(n_components=64, learning_rate=0.1, batch_size=10, n_iter=epochs,
                                                 random_state=0).fit(V[tr]))
    peer = pseudo_log_likelihood(V[te], rbm.components_.T, rbm.intercept_visible_, rbm.intercept_hidden_)
    import tempfile
    from pathlib import Path
    tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
    np.save(tmp / "v.npy", V[tr].astype(np.float32))
    _, torch_s = baseline("rbm.py", str(tmp / "v.npy"), "64", str(epochs), "10", "0.1",
                          "pcd" if "pcd" in config else "cd", "0")
    fig, axes = figure(9, 2.6)
    for ax, w, title in ((axes[0], W.T, f"ours: PLL {ours:.2f}"),
                         (axes[1], rbm.components_, f"scikit-learn BernoulliRBM: PLL {peer:.2f}")):
        ax.imshow(np.vstack([np.hstack([w[r * 16 + k].reshape(8, 8) for k in range(16)]) for r in range(4)]),
                  cmap="RdBu_r")
        ax.set_title(f"{title} (the 64 hidden units' weights)", fontsize=9)
        ax.axis("off")
    report(Row(name, "pseudo-log-likelihood (held out, every bit)", ours, peer, ">= peer", ours >= peer,
               ours_s, peer_s, torch_s=torch_s, quick=a.quick), a.out, fig)
