"""Training speed: ours vs a hand-written PyTorch loop of the same math, interleaved in one run.

1. one epoch of JEPA on the digits with VICReg on (s_x, s_y) and z inferred by 10 Adam steps;
2. one epoch of CD-1 on an RBM (64 visible bits, 32 hidden) on the binarized digits;
3. Langevin sampler steps per second on a 2-D Gaussian energy, 4096 chains.
Both sides save what they learned at the end (ours: the run's checkpoint; the hand loop: torch.save of
its weights and optimizer), as any training script does. Targets: ratio <= 1.10 for the VICReg epoch, <= 1.25 for CD-1, <= 1.05 for Langevin. Prints median and
best times and the peak memory of one run of each (target <= 1.1x).

    python benchmarks/bench_training.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

import ebmgraph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import interleaved, peak_mb  # noqa: E402

from ebmgraph.catalogue import regularizers as R

LIBRARY = Path(__file__).resolve().parent.parent / "library"
BATCH = 256


def digits() -> torch.Tensor:
    d = torch.tensor(load_digits().data, dtype=torch.float32)
    return (d - d.mean(0)) / (d.std(0) + 1e-6)


JEPA = (LIBRARY / "jepa.ebm").read_text().replace("steps = 20, lr = 0.1", "steps = 10, lr = 0.1")


def jepa_epoch(rounds: int) -> tuple[float, ...]:
    x = digits()
    noisy = x + 0.2 * torch.randn_like(x)
    n = x.shape[0] // BATCH * BATCH
    tmp = tempfile.mkdtemp()
    runs = [0]

    graph = ebmgraph.loads(JEPA)  # parsing is not training: done once, as the hand side's code is

    def ours() -> None:
        runs[0] += 1
        torch.manual_seed(0)
        m = ebmgraph.compile(graph)
        from ebmgraph.training.data import Dataset
        data = Dataset({"x": noisy[:n], "y": x[:n]}, {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ebmgraph.train(m, {"epochs": 1, "batch_size": BATCH, "progress": False, "plot": False,
                               "out_dir": f"{tmp}/{runs[0]}", "regularizers": [{"kind": "vicreg", "on": ["sx", "sy"]}]}, data)

    def hand() -> None:
        torch.manual_seed(0)
        enc_x = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
        enc_y = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
        pred = nn.Sequential(nn.Linear(36, 128), nn.ReLU(), nn.Linear(128, 32))
        params = [*enc_x.parameters(), *enc_y.parameters(), *pred.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        order = torch.randperm(x.shape[0])
        for i in range(n // BATCH):
            idx = order[i * BATCH:(i + 1) * BATCH]
            xb, yb = noisy[idx], x[idx]
            sx, sy = enc_x(xb), enc_y(yb)
            z = torch.zeros(BATCH, 4, requires_grad=True)
            zopt = torch.optim.Adam([z], lr=0.1)
            sxd, syd = sx.detach(), sy.detach()
            for _ in range(10):
                e = ((syd - pred(torch.cat([sxd, z], 1))) ** 2).sum(1) + 0.1 * z.abs().sum(1)
                z.grad, = torch.autograd.grad(e.sum(), [z])
                zopt.step()
            z = z.detach()
            f = ((sy - pred(torch.cat([sx, z], 1))) ** 2).sum(1) + 0.1 * z.abs().sum(1)
            reg, _ = R.vicreg(sx, sy)
            loss = f.mean() + reg
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.save({"enc_x": enc_x.state_dict(), "enc_y": enc_y.state_dict(), "pred": pred.state_dict(),
                    "optimizer": opt.state_dict()}, f"{tmp}/hand.pt")  # a training script keeps what it learned

    return (*interleaved(ours, hand, rounds), peak_mb(ours), peak_mb(hand))


def rbm_epoch(rounds: int) -> tuple[float, ...]:
    d = torch.tensor(load_digits().data, dtype=torch.float32)
    v = (d > d.mean()).float()
    n = v.shape[0] // BATCH * BATCH
    tmp = tempfile.mkdtemp()
    src = (LIBRARY / "rbm.ebm").read_text()
    runs = [0]

    graph = ebmgraph.loads(src)

    def ours() -> None:
        runs[0] += 1
        torch.manual_seed(0)
        m = ebmgraph.compile(graph)
        from ebmgraph.training.data import Dataset
        ebmgraph.train(m, {"epochs": 1, "batch_size": BATCH, "progress": False, "plot": False,
                           "out_dir": f"{tmp}/{runs[0]}", "loss": {"kind": "contrastive_divergence", "target": "v"},
                           "sampler": {"kind": "cd", "steps": 1}, "optimizer": {"kind": "sgd", "lr": 0.05}},
                       Dataset({"v": v[:n]}, {}))

    def hand() -> None:
        torch.manual_seed(0)
        W = nn.Parameter(torch.randn(64, 32) * 0.01)
        b = nn.Parameter(torch.zeros(64))
        c = nn.Parameter(torch.zeros(32))
        opt = torch.optim.SGD([W, b, c], lr=0.05)  # no momentum: torch's default, and ours
        order = torch.randperm(v.shape[0])

        def free(vv: torch.Tensor) -> torch.Tensor:
            return -(vv @ b) - nn.functional.softplus(vv @ W + c).sum(1)

        for i in range(n // BATCH):
            vb = v[order[i * BATCH:(i + 1) * BATCH]]
            with torch.no_grad():
                h = torch.bernoulli(torch.sigmoid(vb @ W + c))
                vn = torch.bernoulli(torch.sigmoid(h @ W.T + b))
            loss = (free(vb) - free(vn)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.save({"W": W, "b": b, "c": c, "optimizer": opt.state_dict()}, f"{tmp}/hand.pt")

    return (*interleaved(ours, hand, rounds), peak_mb(ours), peak_mb(hand))


def langevin(rounds: int) -> tuple[float, ...]:
    g = ebmgraph.loads("model G {\n  observed mu : R[2]\n  latent x : R[2] infer sample(sampler = langevin, "
                       "steps = 200, step_size = 0.05)\n\n  energy E = 0.5 * sq_dist(x, mu)\n}\n")
    m = ebmgraph.compile(g)
    mu = torch.zeros(4096, 2)

    def ours() -> None:
        m.sample("x", mu=mu)

    def hand() -> None:
        xx = torch.randn(4096, 2)
        for _ in range(200):
            xx.requires_grad_(True)
            e = 0.5 * ((xx - mu) ** 2).sum(1)
            gr, = torch.autograd.grad(e.sum(), [xx])
            with torch.no_grad():
                xx = xx - 0.5 * 0.05 * gr + 0.05 ** 0.5 * torch.randn(4096, 2)

    return (*interleaved(ours, hand, rounds), peak_mb(ours), peak_mb(hand))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on shared machines)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {BATCH}")
    print(f"{'benchmark':40} {'ours ms':>9} {'hand ms':>9} {'ratio':>6} {'best':>8} {'best':>8} {'ratio':>6} "
          f"{'target':>6} {'ours MB':>8} {'hand MB':>8} {'ratio':>6}")
    for name, fn, target in (("VICReg JEPA epoch on digits", jepa_epoch, 1.10),
                             ("CD-1 RBM epoch on digits", rbm_epoch, 1.25),
                             ("Langevin 200 steps x 4096 chains", langevin, 1.05)):
        a, b, amin, bmin, ma, mb = fn(args.rounds)
        print(f"{name:40} {a * 1e3:9.1f} {b * 1e3:9.1f} {a / b:6.3f} {amin * 1e3:8.1f} {bmin * 1e3:8.1f} "
              f"{amin / bmin:6.3f} {target:6.2f} {ma:8.1f} {mb:8.1f} {ma / max(mb, 0.1):6.2f}", flush=True)


if __name__ == "__main__":
    main()
