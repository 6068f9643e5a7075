"""002 sec. 4.2.2: a variational auto-encoder on the digits (library/vae.ebm, vae.toml, no plugins),
trained by `ebm train` over 3 seeds, beside a plain-torch VAE of the same math (baselines/vae.py) on
the same rows: the held-out negative ELBO (200 draws of eps a row, mean over the seeds), bar: within
1% of plain torch's."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import Row, args, baseline, digits, figure, report, split_rows, train

import ebmgraph

SEEDS, DRAWS, BAR = (0, 1, 2), 200, 0.01


def held_out(run: Path, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Our trained VAE's held-out mean negative ELBO (each row's energy over DRAWS draws), and the
    reconstructions of the first held-out rows (the code's mean decoded)."""
    torch.manual_seed(0)
    m = ebmgraph.load_checkpoint(run / "checkpoint.pt", params={"draws": DRAWS})
    xt = torch.as_tensor(x)
    with torch.no_grad():
        F = float(m.energy(x=xt).total.mean())
        rec = m.fns["dec"](m.fns["enc_mu"](xt[:8])).numpy()
    return F, rec


def main() -> None:
    a = args(__doc__ or "")
    x = digits()
    ours, plain, ours_s, plain_s = [], [], 0.0, 0.0
    rec = shown = None
    for seed in SEEDS[:1] if a.quick else SEEDS:
        run, secs = train("library/vae.ebm", "vae.toml", a.quick, data=None, seed=seed)
        tr, te = split_rows(run, len(x))
        F, r = held_out(run, x[te])
        ours.append(F)
        ours_s += secs
        if rec is None:
            rec, shown = r, x[te][:8]
        tmp = Path(tempfile.mkdtemp(prefix="ebm-baseline-"))
        np.save(tmp / "data.npy", x)
        np.save(tmp / "tr.npy", tr)
        np.save(tmp / "te.npy", te)
        epochs = 2 if a.quick else int(next(line.split("=")[1] for line in (Path(__file__).parent / "vae.toml")
                                            .read_text().splitlines() if line.startswith("epochs")))
        t0 = time.perf_counter()
        out, _ = baseline("vae.py", str(tmp / "data.npy"), str(tmp / "tr.npy"), str(tmp / "te.npy"), str(epochs),
                          str(seed), str(DRAWS))
        plain.append(float(out["F"]))
        plain_s += time.perf_counter() - t0
    mo, mp = statistics.mean(ours), statistics.mean(plain)
    fig, axes = figure(8, 2.6)
    assert rec is not None and shown is not None
    axes[0].imshow(np.concatenate([r.reshape(8, 8) for r in shown], 1), cmap="gray_r")
    axes[0].set_title("held-out digits", fontsize=9)
    axes[1].imshow(np.concatenate([r.reshape(8, 8) for r in rec], 1), cmap="gray_r")
    axes[1].set_title("Dec(mean of the code)", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    spread = lambda v: " ".join(f"{f:.3f}" for f in v)  # noqa: E731
    report(Row("002 sec. 4.2.2 VAE, digits", f"held-out negative ELBO ({DRAWS} draws a row), mean of "
               f"{len(ours)} seeds", mo, mp, f"within {BAR:.0%} of plain torch", abs(mo / mp - 1) <= BAR,
               ours_s, plain_s, torch_s=plain_s,
               note=f"seeds: ours {spread(ours)}; plain torch {spread(plain)}", quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
