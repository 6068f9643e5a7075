"""002 sec. 5.1: a Hopfield network's capacity (library/hopfield.ebm with n = 256; hopfield.toml
stores P random patterns by Hebb's rule, hopfield_recall.toml runs the network from each). A
pattern is recalled when the state the network settles in overlaps it by >= 0.95. The curve of the
recall rate against P / N has its knee (the rate crossing 1/2) near the theory's 0.138 N (Amit,
Gutfreund and Sompolinsky 1985): bar, the knee within 0.138 +- 0.03 (finite N blurs it)."""

from __future__ import annotations

import numpy as np
from _common import Row, args, evaluate, figure, report, train

N, THEORY, WITHIN, OVERLAP = 256, 0.138, 0.03, 0.95


def main() -> None:
    a = args(__doc__ or "")
    loads = [0.04, 0.08, 0.14, 0.2] if a.quick else [0.02, 0.05, 0.08, 0.1, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.2, 0.25]
    rng = np.random.default_rng(0)
    rates, total_s = [], 0.0
    for alpha in loads:
        P = max(int(round(alpha * N)), 1)
        patterns = rng.choice([-1.0, 1.0], size=(P, N)).astype(np.float32)
        run, s1 = train("library/hopfield.ebm", "hopfield.toml", False, data={"patterns": patterns})
        out, s2 = evaluate("library/hopfield.ebm", "hopfield_recall.toml", "--target", "y", "--start",
                           "--checkpoint", str(run / "checkpoint.pt"), command="infer", data={"patterns": patterns})
        total_s += s1 + s2
        with np.load(out / "infer.npz") as z:
            settled = z["y"][:, 0]
        overlap = (settled * patterns).mean(1)
        rates.append(float((overlap >= OVERLAP).mean()))
        print(f"  P / N = {P / N:.3f} ({P} patterns): recall {rates[-1]:.2f}", flush=True)
    alphas = np.array([max(int(round(x * N)), 1) / N for x in loads])
    r = np.array(rates)
    below = np.nonzero(r < 0.5)[0]
    if len(below) and below[0] > 0:  # linear interpolation of the crossing of 1/2
        i = below[0]
        knee = float(alphas[i - 1] + (r[i - 1] - 0.5) / (r[i - 1] - r[i]) * (alphas[i] - alphas[i - 1]))
    else:
        knee = float("nan")
    fig, axes = figure(9, 3.2)
    axes[0].plot(alphas, r, "o-")
    axes[0].axvline(THEORY, color="gray", ls="--", label="0.138 (theory, N -> inf)")
    axes[0].axvline(knee, color="red", ls=":", label=f"knee {knee:.3f}")
    axes[0].set_xlabel("patterns / N")
    axes[0].set_ylabel(f"recalled (overlap >= {OVERLAP})")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"Hopfield capacity, N = {N}", fontsize=9)
    axes[1].axis("off")
    fig.tight_layout()
    ok = bool(np.isfinite(knee) and abs(knee - THEORY) <= WITHIN)
    report(Row("002 sec. 5.1 Hopfield capacity", "the knee of recall vs patterns / N", knee if np.isfinite(knee)
               else 0.0, THEORY, f"within {THEORY} +- {WITHIN}", ok, total_s, 0.0,
               note="recall " + ", ".join(f"{x:.2f}: {y:.2f}" for x, y in zip(alphas, r, strict=True)),
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
