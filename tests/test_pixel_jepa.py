"""The JEPA world model from pixels (library/agent/pixel_jepa.ebm, issue 24): its energy is the
open-loop rollout's prediction error in representation space, by hand; SIGReg sits on every
representation, and one line swaps it."""

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
    T = 3
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(FILE, model="PixelJEPA", params={"T": T}))
    data = tr.explore(5, steps=T + 1, seed=1)
    obs = torch.tensor(tr.observations(data["pos"]), dtype=torch.float32)
    acts = torch.tensor(data["actions"])
    vals = {f"o[{t}]": obs[:, t] for t in range(T + 1)} | {f"a[{t}]": acts[:, t] for t in range(T)}
    f = m.fns
    relu = torch.relu

    def enc(o: torch.Tensor) -> torch.Tensor:
        h = relu(f["e_0___c3"](relu(f["e_0___c2"](relu(f["e_0___c1"](o))))))
        return f["e_0___head"](h.flatten(1))

    with torch.no_grad():
        s = enc(obs[:, 0])
        hand = torch.zeros(5)
        for t in range(T):
            s = s + f["f_0___pred"](torch.cat([s, acts[:, t]], 1))  # open loop: the prediction goes on
            hand += ((s - enc(obs[:, t + 1])) ** 2).sum(1)
        e = m.energy(**vals)
    torch.testing.assert_close(e.total, hand, rtol=1e-4, atol=1e-5)
    assert sorted(e.terms) == [f"d[{t}].D" for t in range(T)]
    regs = m.graph.regularizers
    assert sorted(regs) == [f"e[{t}].S" for t in range(T + 1)] and {r.method for r in regs.values()} == {"sigreg"}


def test_one_line_swaps_the_anti_collapse_term() -> None:
    text = FILE.read_text().replace("regularize S = sigreg(s)", "regularize S = variance(s)")
    g = ebmgraph.loads(text, model="PixelJEPA", params={"T": 2})
    assert {r.method for r in g.regularizers.values()} == {"variance"}


def test_the_cli_checks_and_draws_it(tmp_path: Path) -> None:
    ebm = Path(sys.executable).parent / "ebm"
    r = subprocess.run([str(ebm), "check", str(FILE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "0 error(s), 0 warning(s)" in r.stdout + r.stderr
    out = tmp_path / "jepa.svg"
    r = subprocess.run([str(ebm), "render", str(FILE), "--model", "PixelJEPA", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000
