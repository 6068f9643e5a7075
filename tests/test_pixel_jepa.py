"""The JEPA world model from pixels (library/agent/pixel_jepa.ebm, issue 24): its energy is the
open-loop rollout's prediction error in representation space, with smoothness, inverse dynamics
and the coarse predictor's jumps, by hand; VICReg's variance term sits on every representation,
and one line swaps it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

import ebmgraph
from ebmgraph.agent import tworooms as tr

from .conftest import ROOT

FILE = ROOT / "library" / "agent" / "pixel_jepa.ebm"


def test_the_energy_is_the_rollouts_prediction_error_by_hand() -> None:
    T, K = 4, 2
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(FILE, model="PixelJEPA", params={"T": T, "K": K, "jumps": 3.0}))
    data = tr.explore(5, steps=T + 1, seed=1, hold=K)
    obs = torch.tensor(tr.observations(data["pos"]), dtype=torch.float32)
    acts = torch.tensor(data["actions"])
    vals = {f"o[{t}]": obs[:, t] for t in range(T + 1)} | {f"a[{t}]": acts[:, t] for t in range(T)}
    f = m.fns
    relu = torch.relu

    def enc(o: torch.Tensor) -> torch.Tensor:
        h = relu(f["e_0___c3"](relu(f["e_0___c2"](relu(f["e_0___c1"](o))))))
        return f["e_0___head"](h.flatten(1))

    def sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a - b) ** 2).sum(1)

    with torch.no_grad():
        seen = [enc(obs[:, t]) for t in range(T + 1)]
        s, hand = seen[0], torch.zeros(5)
        for t in range(T):
            s = s + f["f_0___pred"](torch.cat([s, acts[:, t]], 1))  # open loop: the prediction goes on
            hand += sq(s, seen[t + 1])  # the prediction error d[t].D
            hand += 0.1 * sq(seen[t], seen[t + 1])  # temporal smoothness M[t], weight smooth = 0.1
            hand += sq(f["inv"](torch.cat([seen[t], seen[t + 1]], 1)), acts[:, t])  # inverse dynamics I[t]
        S = seen[0]
        for u in range(T // K):  # the coarse predictor: a jump of K steps on the action held over them
            S = S + f["j_0___jump"](torch.cat([S, acts[:, u * K]], 1))
            hand += 3.0 * sq(S, seen[(u + 1) * K])  # its error D[u], weight jumps = 3
        e = m.energy(**vals)
    torch.testing.assert_close(e.total, hand, rtol=1e-4, atol=1e-4)
    assert sorted(e.terms) == sorted([f"d[{t}].D" for t in range(T)] + [f"M[{t}]" for t in range(T)]
                                     + [f"I[{t}]" for t in range(T)] + [f"D[{u}]" for u in range(T // K)])
    regs = m.graph.regularizers
    assert sorted(regs) == [f"e[{t}].S" for t in range(T + 1)] and {r.method for r in regs.values()} == {"variance"}
    assert {dict(r.options)["weight"] for r in regs.values()} == {16}


def test_one_line_swaps_the_anti_collapse_term() -> None:
    line = "regularize S = variance(s, weight = vw)"
    assert line in FILE.read_text()
    g = ebmgraph.loads(FILE.read_text().replace(line, "regularize S = sigreg(s)"), model="PixelJEPA",
                       params={"T": 2})
    assert {r.method for r in g.regularizers.values()} == {"sigreg"}


def test_the_cli_checks_and_draws_it(tmp_path: Path) -> None:
    ebm = Path(sys.executable).parent / "ebm"
    r = subprocess.run([str(ebm), "check", str(FILE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "0 error(s), 0 warning(s)" in r.stdout + r.stderr
    out = tmp_path / "jepa.svg"
    r = subprocess.run([str(ebm), "render", str(FILE), "--model", "PixelJEPA", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
