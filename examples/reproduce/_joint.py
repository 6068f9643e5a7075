"""Shared by joint_vicreg.py and joint_barlow.py (003 sec. 4.5): train library/joint_embedding.ebm
with the config for 3 seeds (each seed holds out its own rows), probe the representation s_x of the
clean held-out images with scikit-learn's LogisticRegression, against PCA of the same width with
the same probe, and a plain-torch script of the same math run alongside on the same rows."""

from __future__ import annotations

import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _common import ROOT, Row, args, baseline, digits, figure, report, split_rows, timed, train

SEEDS, BAR = (0, 1, 2), 0.96


def probe(r_tr: np.ndarray, y_tr: np.ndarray, r_te: np.ndarray, y_te: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(r_tr, y_tr)
    return float(clf.score(r_te, y_te))


def run(config: str, kind: str, name: str, doc: str) -> None:
    a = args(doc)
    import torch
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    import ebmgraph
    X, labels = digits(), load_digits().target
    ours, pca, plain, untrained, ours_s, torch_s, peer_s = [], [], [], [], 0.0, 0.0, 0.0
    seeds = SEEDS[:1] if a.quick else SEEDS
    for seed in seeds:
        run_dir, s = train("library/joint_embedding.ebm", config, a.quick, seed=seed)
        ours_s += s
        tr, te = split_rows(run_dir, len(X))
        model = ebmgraph.load_checkpoint(run_dir / "checkpoint.pt")
        with torch.no_grad():
            enc = model.fns["enc_x"]
            r_tr, r_te = (enc(torch.as_tensor(X[rows])).numpy() for rows in (tr, te))
        ours.append(probe(r_tr, labels[tr], r_te, labels[te]))
        torch.manual_seed(seed)  # the same encoder before training, as ebm train starts it: what training adds
        start = ebmgraph.compile(ebmgraph.load(ROOT / "library" / "joint_embedding.ebm",
                                               params={"dx": 64, "ds": 64, "hidden": 256})).fns["enc_x"]
        with torch.no_grad():
            u_tr, u_te = (start(torch.as_tensor(X[rows])).numpy() for rows in (tr, te))
        untrained.append(probe(u_tr, labels[tr], u_te, labels[te]))
        width = r_tr.shape[1]
        p, s = timed(lambda tr=tr, width=width: PCA(min(width, X.shape[1])).fit(X[tr]))
        peer_s += s
        pca.append(probe(p.transform(X[tr]), labels[tr], p.transform(X[te]), labels[te]))
        tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
        np.save(tmp / "tr.npy", tr)
        np.save(tmp / "te.npy", te)
        out, s = baseline("joint.py", str(tmp / "tr.npy"), str(tmp / "te.npy"), kind, "2" if a.quick else "100",
                          str(seed))
        torch_s += s
        plain.append(float(out["accuracy"]))
        print(f"  seed {seed}: ours {ours[-1]:.4f}, PCA({width}) {pca[-1]:.4f}, plain torch {plain[-1]:.4f}",
              flush=True)
    mean, peer, plain_mean = statistics.mean(ours), statistics.mean(pca), statistics.mean(plain)
    noise = max(statistics.pstdev(ours + plain) * 2, 0.005)  # seed noise: twice the spread of all runs
    fig, axes = figure(9, 3.2)
    axes[0].plot(seeds, ours, "o-", label="ours (.ebm + config)")
    axes[0].plot(seeds, plain, "s--", label="plain torch, same math")
    axes[0].plot(seeds, pca, "^:", label=f"PCA({width})")
    axes[0].axhline(BAR, color="gray", ls="--", label="bar 0.96")
    axes[0].set_xlabel("seed")
    axes[0].set_ylabel("linear-probe accuracy (held out)")
    axes[0].legend(fontsize=7)
    axes[0].set_title(name, fontsize=9)
    from sklearn.manifold import TSNE
    emb = TSNE(2, random_state=0, init="pca").fit_transform(r_te)
    axes[1].scatter(emb[:, 0], emb[:, 1], c=labels[te], cmap="tab10", s=5)
    axes[1].set_title("t-SNE of s_x on the held-out digits (last seed)", fontsize=9)
    axes[1].axis("off")
    fig.tight_layout()
    passed = mean >= BAR and mean >= peer and abs(mean - plain_mean) <= noise
    report(Row(name, f"linear-probe accuracy, mean of {len(seeds)} seeds", mean, peer,
               f">= 0.96, >= PCA({width}), within seed noise of plain torch", passed, ours_s, peer_s,
               torch_s=torch_s, note=f"seeds {', '.join(f'{x:.3f}' for x in ours)}; plain torch "
               f"{', '.join(f'{x:.3f}' for x in plain)}; noise +-{noise:.3f}; the untrained encoder "
               f"{statistics.mean(untrained):.3f}", quick=a.quick), a.out, fig)
