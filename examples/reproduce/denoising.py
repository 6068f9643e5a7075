"""002 Fig. 8: a denoising auto-encoder on a 2-D spiral (library/denoising_ae.ebm, denoising.toml),
then `ebm infer` carries noisy test points back (denoising_infer.toml): the mean distance to the
spiral of the carried points against the noisy points', bar <= 0.3 x (-70%)."""

from __future__ import annotations

import numpy as np
from _common import Row, args, evaluate, figure, plain_small, report, train

NOISE, BAR = 0.1, 0.3


def spiral(t: np.ndarray) -> np.ndarray:
    """Two turns of an Archimedean spiral, radius 0.33 ... 2 (the arms 1.33 apart)."""
    return np.stack([t * np.cos(t), t * np.sin(t)], 1) * (2 / (3 * np.pi))


def main() -> None:
    a = args(__doc__ or "")
    rng = np.random.default_rng(0)
    clean = spiral(rng.uniform(np.pi / 2, 3 * np.pi, 2000)).astype(np.float32)
    run, train_s = train("library/denoising_ae.ebm", "denoising.toml", a.quick, data={"spiral": clean})
    test = spiral(rng.uniform(np.pi / 2, 3 * np.pi, 500))
    noisy = (test + NOISE * rng.standard_normal(test.shape)).astype(np.float32)
    out, infer_s = evaluate("library/denoising_ae.ebm", "denoising_infer.toml", "--target", "y",
                            "--checkpoint", str(run / "checkpoint.pt"), command="infer", data={"noisy": noisy})
    with np.load(out / "infer.npz") as z:
        carried = z["y"][:, 0]
    _, torch_s = plain_small("denoising", clean, run, 300, a.quick)
    curve = spiral(np.linspace(np.pi / 2, 3 * np.pi, 20000))

    def distance(p: np.ndarray) -> np.ndarray:
        return np.sqrt(((p[:, None, :] - curve[None]) ** 2).sum(-1)).min(1)

    before, after = float(distance(noisy).mean()), float(distance(carried).mean())
    fig, axes = figure(9, 4.2)
    for ax, pts, title in ((axes[0], noisy, f"noisy test points: distance {before:.3f}"),
                           (axes[1], carried, f"Dec(Enc(x)): distance {after:.3f}")):
        ax.plot(curve[:, 0], curve[:, 1], color="gray", lw=1)
        ax.plot(pts[:, 0], pts[:, 1], ".", ms=3)
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
    for p, q in zip(noisy[:60], carried[:60], strict=True):
        axes[1].annotate("", q, p, arrowprops={"arrowstyle": "->", "color": "red", "lw": 0.5})
    fig.tight_layout()
    report(Row("002 Fig. 8 denoising AE, 2-D spiral", "mean distance to the spiral (held out)", after, before,
               f"<= {BAR} x the noisy input's", after <= BAR * before, train_s + infer_s, 0.0, torch_s=torch_s,
               note=f"{1 - after / before:.0%} closer; noise {NOISE}", quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
