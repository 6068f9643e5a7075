"""World models from pixels (issue 24), what is measured so far: what the JEPA of
library/agent/pixel_jepa.ebm learns of the state from what the agent sees in Two Rooms.

The model (PixelJEPA: a strided conv encoder, a predictor in representation space unrolled open loop
over T steps, the prediction error at every step, SIGReg on every representation) is trained by the
ordinary trainer on random-exploration trajectories (tworooms.explore, seeds below HELD_OUT). Then a
linear probe (ridge) from the frozen representation of a frame to the agent's true position, fitted on
the training trajectories' first frames and scored (R^2) on frames of other trajectories, for: the
trained encoder, the same encoder untrained, and PCA of the pixels to the same width. Each row over
--seeds training seeds (mean ± standard error), with the training time and peak memory.

    python benchmarks/bench_pixels.py [--seeds 0 1 2] [--trajectories 1000] [--T 8] [--epochs 60]
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FILE = ROOT / "library" / "agent" / "pixel_jepa.ebm"


def _rep(model: Any, pos: Any) -> Any:
    import torch

    from ebmgraph.agent import tworooms as tr
    out = []
    for i in range(0, len(pos), 256):
        o = torch.tensor(tr.observations(pos[i:i + 256]), dtype=torch.float32)
        with torch.no_grad():
            out.append(model.partial({"o[0]": o})["e[0].s"].numpy())
    import numpy as np
    return np.concatenate(out)


def one(seed: int, n: int, T: int, epochs: int) -> dict[str, float]:
    import torch
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    import ebmgraph
    from ebmgraph.agent import tworooms as tr
    from ebmgraph.training import train
    from ebmgraph.training.data import Dataset
    torch.manual_seed(seed)
    model = ebmgraph.compile(ebmgraph.load(FILE, model="PixelJEPA", params={"T": T}))
    untrained = copy.deepcopy(model)
    data = tr.explore(n, steps=T + 1, seed=seed)
    obs = torch.tensor(tr.observations(data["pos"]), dtype=torch.float32)
    tensors = {f"o[{t}]": obs[:, t] for t in range(T + 1)}
    tensors |= {f"a[{t}]": torch.tensor(data["actions"][:, t]) for t in range(T)}
    out = ROOT / "runs" / f"bench_pixels_s{seed}"
    if out.exists():
        import shutil
        shutil.rmtree(out)
    t0 = time.perf_counter()
    res = train(model, {"loss": {"kind": "energy"}, "epochs": epochs, "batch_size": 64,
                        "optimizer": {"kind": "adam", "lr": 1e-3}, "seed": seed, "out_dir": str(out),
                        "progress": False}, Dataset(tensors, {}))
    secs = time.perf_counter() - t0
    test = tr.explore(1000, steps=2, seed=10_000 + seed)  # other trajectories' frames
    fit, held = data["pos"][:, 0], test["pos"][:, 0]
    ds = int(model.graph.var("e[0].s").domain.shape[0])

    def probe(x_fit: Any, x_held: Any) -> float:
        return float(Ridge(1e-6).fit(x_fit, fit).score(x_held, held))

    def pixels(p: Any) -> Any:
        return tr.observations(p)[:, 0].reshape(len(p), -1)

    pca = PCA(ds).fit(pixels(fit))
    last = res.history[-1]
    return {"trained": probe(_rep(model, fit), _rep(model, held)),
            "untrained": probe(_rep(untrained, fit), _rep(untrained, held)),
            "pca": probe(pca.transform(pixels(fit)), pca.transform(pixels(held))),
            "seconds": secs, "steps": float(len(res.history)), "std": float(last["collapse.e[0].s.std_mean"]),
            "rank": float(last["collapse.e[0].s.effective_rank"]), "ds": float(ds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--trajectories", type=int, default=1000)
    ap.add_argument("--T", type=int, default=8, help="the rollout's steps (trajectories of T + 1 frames)")
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        r = one(seed, args.trajectories, args.T, args.epochs)
        rows.append(r)
        print(f"  seed {seed}: {r['seconds']:.0f} s, {r['steps']:.0f} steps; probe R^2 trained {r['trained']:.4f}, "
              f"untrained {r['untrained']:.4f}, PCA {r['pca']:.4f}; representation std {r['std']:.2f}, "
              f"effective rank {r['rank']:.1f} of {r['ds']:.0f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def cell(key: str) -> str:
        v = [r[key] for r in rows]
        se = statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else float("nan")
        return f"{statistics.mean(v):.4f} ± {se:.4f}"

    print()
    print(f"Two Rooms, linear probe of the agent's position from one frame (R^2 on other trajectories' frames), "
          f"{len(rows)} training seeds, {args.trajectories} trajectories of {args.T + 1} frames, {args.epochs} epochs")
    print(f"{'representation':40} {'R^2 (mean ± se)':>18}")
    print(f"{'JEPA (pixel_jepa.ebm, SIGReg), trained':40} {cell('trained'):>18}")
    print(f"{'the same encoder, untrained':40} {cell('untrained'):>18}")
    print(f"{'PCA of the pixels, same width':40} {cell('pca'):>18}")
    print(f"training: {statistics.mean(r['seconds'] for r in rows):.0f} s a seed on 1 thread; peak memory "
          f"{peak:.0f} MiB")


if __name__ == "__main__":
    main()
