"""003 Fig. 10 a-d: which architectures collapse when trained by minimizing the data's energy alone
(no contrastive term, no regularizer). On the digits / 16, x is an image's left half and y its
right half (the auto-encoder sees the whole image): each library model trains with its config
(fig10_a ... fig10_d.toml), then `ebm eval` gives the held-out energy of the true pairs and of
mismatched ones (y from another image; for the auto-encoder, uniform noise). The contrast is
(F off the data - F on it) / the mean squared distance of the off-data y from the true y: about 1
when the energy grows with the distance from the data, near 0 when the landscape is flat, a
collapse (below 0.25 here). The joint embedding's is also seen by the trainer's collapse monitor
(the per-dimension spread of s_x). The row counts the architectures that behave as the figure
states, bar 4 of 4."""

from __future__ import annotations

import json

import numpy as np
from _common import Row, args, digits, evaluate, figure, held_out_free_energy, report, split_rows, train

ARCHS = (  # (panel, library model, config, what the figure states, y on and off the data)
    ("a", "library/regression.ebm", "fig10_a.toml", False, ("y", "y_off")),
    ("b", "library/latent_generative.ebm", "fig10_b.toml", True, ("y", "y_off")),
    ("c", "library/pca.ebm", "fig10_c.toml", True, ("data", "noise")),
    ("d", "library/joint_embedding.ebm", "fig10_d.toml", True, ("y", "y_off")),
)
FLAT = 0.25  # collapsed: off-data energy raised by under a quarter of the squared distance from the data


def main() -> None:
    a = args(__doc__ or "")
    X = digits()
    img = X.reshape(-1, 8, 8)
    rng = np.random.default_rng(0)
    pairs = {"x": img[:, :, :4].reshape(-1, 32), "y": img[:, :, 4:].reshape(-1, 32), "data": X,
             "noise": rng.uniform(0, 1, X.shape).astype(np.float32)}
    pairs["y_off"] = pairs["y"][rng.permutation(len(X))]
    results, total_s = [], 0.0
    for panel, model, config, can_collapse, off in ARCHS:
        run, s = train(model, config, a.quick, data={"pairs": pairs})
        on = held_out_free_energy(run)
        ev, s2 = evaluate(model, config, "--checkpoint", str(run / "checkpoint.pt"), data={"pairs": pairs},
                          replace=(f'y = "{off[0]}"', f'y = "{off[1]}"'))
        _, te = split_rows(run, len(X))
        distance = float(((pairs[off[1]][te] - pairs[off[0]][te]) ** 2).sum(1).mean())
        total_s += s + s2
        off_f = float(json.loads((ev / "eval.json").read_text())["F_mean"])
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        spread = [h.get("collapse.sx.std_mean") for h in history if "collapse.sx.std_mean" in h]
        monitor = bool(spread) and spread[-1] < max(0.1 * spread[0], 1e-4)
        contrast = (off_f - on) / distance
        collapsed = contrast < FLAT or monitor
        results.append((panel, can_collapse, collapsed, contrast, spread))
        print(f"  Fig. 10{panel}: F on the data {on:.4g}, off it {off_f:.4g}, their squared distance {distance:.3g}: "
              f"contrast {contrast:.3g}"
              + (f", s_x spread {spread[0]:.3g} -> {spread[-1]:.3g}" if spread else "")
              + f": {'collapsed' if collapsed else 'no collapse'} (the figure: "
              f"{'can collapse' if can_collapse else 'no collapse'})", flush=True)
    matches = sum(c == s for _, c, s, *_ in results)
    fig, axes = figure(10, 3.4)
    labels = [f"10{p}" for p, *_ in results]
    axes[0].bar(labels, [r[3] for r in results], color=["tab:red" if c else "tab:green" for _, _, c, *_ in results])
    axes[0].axhline(FLAT, color="gray", ls="--", label=f"flat below {FLAT:g}")
    axes[0].set_ylabel("(F off - F on) / squared distance")
    axes[0].set_title("red: collapsed (flat energy); green: not", fontsize=9)
    axes[0].legend(fontsize=8)
    spread = results[3][4]
    if spread:
        axes[1].semilogy(spread)
    axes[1].set_xlabel("monitor reading (every few steps)")
    axes[1].set_ylabel("mean per-dimension std of s_x")
    axes[1].set_title("10d, the collapse monitor: the embeddings shrink to a point", fontsize=9)
    fig.tight_layout()
    report(Row("003 Fig. 10 a-d collapse", "architectures that collapse (or not) as the figure states",
               float(matches), float(len(ARCHS)), "4 of 4", matches == len(ARCHS), total_s, 0.0,
               note="; ".join(f"10{p} {'collapsed' if c else 'no collapse'}" for p, _, c, *_ in results),
               quick=a.quick), a.out, fig)


if __name__ == "__main__":
    main()
