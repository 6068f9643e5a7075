"""Compiled models vs the same math written by hand in plain PyTorch, interleaved in one run.

Prints the median and best (min) time of each, the ratios ours / hand-written (targets:
<= 1.05 for the JEPA training step and the ellipse inference, <= 1.1 for enumeration over
k = 64 values). On a shared CPU the median carries allocator and scheduler noise; the best
time is the steadier comparison (as timeit advises). Then the peak memory of one run of each
(target <= 1.1x), from benchmarks/_measure.py.

    python benchmarks/bench_compiled_vs_handwritten.py [--rounds 15] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import ebmgraph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import interleaved, peak_mb  # noqa: E402

LIBRARY = Path(__file__).resolve().parent.parent / "library"


def mlp(a: int, h: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b))


def jepa_step(device: str, rounds: int) -> tuple[float, ...]:
    """One training step of JEPA: energy D + 0.1 |z|_1 on a batch of 256, backward, Adam step."""
    torch.manual_seed(0)
    g = ebmgraph.loads((LIBRARY / "jepa.ebm").read_text().replace("hidden = 128", "hidden = 64"))
    ours = ebmgraph.compile(g).to(device)
    enc_x, enc_y, pred = mlp(64, 64, 32).to(device), mlp(64, 64, 32).to(device), mlp(36, 64, 32).to(device)
    hand = nn.ModuleList([enc_x, enc_y, pred])
    hand.load_state_dict({k.replace("fns.", "").replace("enc_x", "0").replace("enc_y", "1").replace("pred", "2"): v
                          for k, v in ours.state_dict().items()})
    opt_a = torch.optim.Adam(ours.parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(hand.parameters(), lr=1e-3)
    x, y, z = (torch.randn(256, d, device=device) for d in (64, 64, 4))
    steps = 20

    def run_ours() -> None:
        for _ in range(steps):
            opt_a.zero_grad(set_to_none=True)
            ours.evaluate({"x": x, "y": y, "z": z}).total.mean().backward()
            opt_a.step()

    def run_hand() -> None:
        for _ in range(steps):
            opt_b.zero_grad(set_to_none=True)
            sx, sy = enc_x(x), enc_y(y)
            e = ((sy - pred(torch.cat([sx, z], 1))) ** 2).sum(1) + 0.1 * z.abs().sum(1)
            e.mean().backward()
            opt_b.step()

    return (*interleaved(run_ours, run_hand, rounds, device), peak_mb(run_ours, device), peak_mb(run_hand, device))


def ellipse_inference(device: str, rounds: int) -> tuple[float, ...]:
    """F(y) = min_z E(y, z) for a batch of 4096 points: 100 Adam steps on z (lr 0.1)."""
    # the library's ellipse, with the inference written by hand below: 100 Adam steps from z = 0, one start
    text = (LIBRARY / "ellipse.ebm").read_text().replace(
        "in box(-3.1416, 3.1416) infer minimize(optimizer = adam, steps = 60, lr = 0.2, restarts = 8)",
        "infer minimize(optimizer = adam, steps = 100, lr = 0.1)")
    assert "steps = 100" in text
    ours = ebmgraph.compile(ebmgraph.loads(text)).to(device)
    y = torch.randn(4096, 2, device=device) * 1.5
    r1, r2 = torch.tensor(1.0, device=device), torch.tensor(2.0, device=device)

    def run_ours() -> None:
        ours.free_energy(y=y)

    def run_hand() -> None:
        z = torch.zeros(4096, 1, device=device, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        for _ in range(100):
            opt.zero_grad(set_to_none=True)
            e = (y[:, 0] - r1 * torch.sin(z[:, 0])) ** 2 + (y[:, 1] - r2 * torch.cos(z[:, 0])) ** 2
            z.grad, = torch.autograd.grad(e.sum(), [z])
            opt.step()
        z = z.detach()
        ((y[:, 0] - r1 * torch.sin(z[:, 0])) ** 2 + (y[:, 1] - r2 * torch.cos(z[:, 0])) ** 2)

    return (*interleaved(run_ours, run_hand, rounds, device), peak_mb(run_ours, device), peak_mb(run_hand, device))


def enumeration(device: str, rounds: int) -> tuple[float, ...]:
    """min over k in 64 codes of |y - C[k]|^2 for a batch of 4096: one vectorized pass."""
    g = ebmgraph.loads("model Codes {\n  observed y : R[16]\n  latent k : {64} infer enumerate\n\n"
                       "  fn code = embedding(64, 16)\n\n  energy E = sq_dist(y, code(k))\n}\n")
    ours = ebmgraph.compile(g).to(device)
    table = ours.fns["code"].table.weight
    y = torch.randn(4096, 16, device=device)

    def run_ours() -> None:
        with torch.no_grad():
            ours.free_energy(y=y)

    def run_hand() -> None:
        with torch.no_grad():
            yy = y.repeat_interleave(64, dim=0)
            k = torch.arange(64, device=device).repeat(4096)
            e = ((yy - table[k]) ** 2).sum(1).reshape(4096, 64)
            e.min(1)

    return (*interleaved(run_ours, run_hand, rounds, device), peak_mb(run_ours, device), peak_mb(run_hand, device))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on shared machines)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device: {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'benchmark':44} {'ours ms':>9} {'hand ms':>9} {'ratio':>6} {'best':>7} {'best':>7} {'ratio':>6} "
          f"{'target':>6} {'ours MB':>8} {'hand MB':>8} {'ratio':>6}")
    for name, fn, target in (("JEPA training step x20 (batch 256)", jepa_step, 1.05),
                             ("ellipse inference (batch 4096, 100 steps)", ellipse_inference, 1.05),
                             ("enumeration k = 64 (batch 4096)", enumeration, 1.10)):
        a, b, amin, bmin, ma, mb = fn(args.device, args.rounds)
        print(f"{name:44} {a * 1e3:9.2f} {b * 1e3:9.2f} {a / b:6.3f} {amin * 1e3:7.2f} {bmin * 1e3:7.2f} "
              f"{amin / bmin:6.3f} {target:6.2f} {ma:8.1f} {mb:8.1f} {ma / max(mb, 0.1):6.2f}", flush=True)


if __name__ == "__main__":
    main()
