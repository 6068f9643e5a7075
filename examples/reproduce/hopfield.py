"""002 sec. 5.1: a Hopfield network's capacity (library/hopfield.ebm with n = 256; hopfield.toml
stores P random patterns by Hebb's rule, hopfield_recall.toml runs the network from each). A
pattern is recalled when the state the network settles in overlaps it by >= 0.95 (the theory's
retrieval state overlaps its pattern by 0.967 or more). The curve of the recall rate against P / N
stays at 1 and bends down at its knee, the load where recall first falls below 0.9 (interpolated),
near the theory's 0.138 N (Amit, Gutfreund and Sompolinsky 1985): bar, the knee within
0.138 +- 0.03. Finite N spreads the fall: the rate crosses 1/2 later (printed too); two pattern
sets per load."""

from __future__ import annotations

import numpy as np
from _common import Row, args, evaluate, figure, report, train

N, THEORY, WITHIN, OVERLAP, KNEE, SETS = 256, 0.138, 0.03, 0.95, 0.9, 2


def crossing(alphas: np.ndarray, rates: np.ndarray, level: float) -> float:
    """The load where the recall rate first falls below `level`, interpolated linearly."""
    below = np.nonzero(rates < level)[0]
    if not len(below) or below[0] == 0:
        return float("nan")
    i = below[0]
    return float(alphas[i - 1] + (rates[i - 1] - level) / (rates[i - 1] - rates[i]) * (alphas[i] - alphas[i - 1]))


def main() -> None:
    a = args(__doc__ or "")
    loads = [0.04, 0.1, 0.16, 0.22] if a.quick else [0.06, 0.1, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.2]
    sets = 1 if a.quick else SETS
    rng = np.random.default_rng(0)
    rates, total_s = [], 0.0
    for alpha in loads:
        P = max(int(round(alpha * N)), 1)
        recalled = 0
        for _ in range(sets):
            patterns = rng.choice([-1.0, 1.0], size=(P, N)).astype(np.float32)
            run, s1 = train("library/hopfield.ebm", "hopfield.toml", False, data={"patterns": patterns})
            out, s2 = evaluate("library/hopfield.ebm", "hopfield_recall.toml", "--target", "y", "--start",
                               "--checkpoint", str(run / "checkpoint.pt"), command="infer",
                               data={"patterns": patterns})
            total_s += s1 + s2
            with np.load(out / "infer.npz") as z:
                settled = z["y"][:, 0]
            recalled += int(((settled * patterns).mean(1) >= OVERLAP).sum())
        rates.append(recalled / (P * sets))
        print(f"  P / N = {P / N:.3f} ({P} patterns x {sets}): recall {rates[-1]:.2f}", flush=True)
    alphas = np.array([max(int(round(x * N)), 1) / N for x in loads])
    r = np.array(rates)
    knee, half = crossing(alphas, r, KNEE), crossing(alphas, r, 0.5)
    fig, axes = figure(9, 3.2)
    axes[0].plot(alphas, r, "o-")
    axes[0].axvline(THEORY, color="gray", ls="--", label="0.138 (theory, N -> inf)")
    axes[0].axvline(knee, color="red", ls=":", label=f"knee (recall < {KNEE}) {knee:.3f}")
    axes[0].axvline(half, color="orange", ls=":", label=f"recall < 1/2 at {half:.3f}")
    axes[0].set_xlabel("patterns / N")
    axes[0].set_ylabel(f"recalled (overlap >= {OVERLAP})")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"Hopfield capacity, N = {N}", fontsize=9)
    axes[1].axis("off")
    fig.tight_layout()
    ok = bool(np.isfinite(knee) and abs(knee - THEORY) <= WITHIN)
    report(Row("002 sec. 5.1 Hopfield capacity", "the knee of recall vs patterns / N", knee if np.isfinite(knee)
               else 0.0, THEORY, f"within {THEORY} +- {WITHIN}", ok, total_s, 0.0,
               note=f"recall below 1/2 at {half:.3f}; recall " + ", ".join(f"{x:.2f}: {y:.2f}" for x, y in zip(alphas, r, strict=True)),
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
