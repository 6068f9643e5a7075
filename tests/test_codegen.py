"""The generated straight-line code computes what the step-by-step plan computes, for every
library model and every split inference uses, and names only identifiers of its own."""

from __future__ import annotations

import ast
import copy
import re

import pytest
import torch

import ebmgraph

from .conftest import LIBRARY_FILES


def _inputs(m: ebmgraph.CompiledModel, batch: int = 3) -> dict[str, torch.Tensor]:
    out = {}
    for name, v in m.inputs.items():
        shape = (batch, *v.domain.shape)
        if v.domain.kind == "categorical":
            out[name] = torch.randint(0, v.domain.k or 1, shape)
        elif v.domain.kind == "spins":
            out[name] = torch.randint(0, 2, shape).float() * 2 - 1
        elif v.domain.kind == "bits":
            out[name] = torch.randint(0, 2, shape).float()
        else:
            out[name] = torch.randn(shape)
    return out


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_generated_code_equals_the_plan_step_by_step(path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    m = ebmgraph.compile(ebmgraph.load(path))
    noise = {n: torch.randn(3, *v.domain.shape) for n, v in m.noises.items()}  # given: the same draw both ways
    vals = m.check_inputs({**_inputs(m), **noise} if noise else _inputs(m))
    a, b = m.evaluate(vals), m.interpret(vals)
    assert torch.equal(a.total, b.total)
    assert a.terms.keys() == b.terms.keys() and all(torch.equal(a.terms[k], b.terms[k]) for k in a.terms)
    assert a.values.keys() == b.values.keys()
    assert torch.equal(m.total_energy(vals), b.total)
    for latent in m.latent_names:  # the splits inference uses: computed once, then per step
        before, after = m.split_plan(frozenset([latent]))
        part = m.run_plan(before, vals)
        assert torch.equal(m.evaluate(part, after).total, m.interpret(part, after).total)
    tree = ast.parse(m.source())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    allowed = re.compile(r"^(v|f|t|e|n)\d+$|^(_w|_W|_p|_batch|_flat|_one_hot|_dtype|_device|torch|vals|values|total|dict)$")
    assert all(allowed.match(n) for n in names), names - {n for n in names if allowed.match(n)}


def test_a_replaced_module_and_a_changed_weight_reach_the_generated_code() -> None:
    m = ebmgraph.compile(ebmgraph.loads("model M {\n  observed x : R[2]\n  fn f = linear(2, 2)\n"
                                        "  energy E = l2(f(x))\n}\n"))
    x = {"x": torch.randn(4, 2)}
    first = m.evaluate(x).total
    m.set_weight("E", 2.0)
    torch.testing.assert_close(m.evaluate(x).total, 2 * first)
    m.fns["f"] = torch.nn.Identity()
    torch.testing.assert_close(m.evaluate(x).total, 2 * (x["x"] ** 2).sum(1))
    c = copy.deepcopy(m)  # a copy runs its own modules
    c.fns["f"] = torch.nn.Linear(2, 2)
    torch.testing.assert_close(m.evaluate(x).total, 2 * (x["x"] ** 2).sum(1))


PEAKS = """
import sys, warnings
import torch
torch.set_num_threads(1)  # before any parallel region: the measuring child is forked (benchmarks/_measure.py)
sys.path.insert(0, sys.argv[1])
from _measure import peak_mb
import ebmgraph
warnings.simplefilter("ignore")
for steps in (100, 400):
    text = ("model E {\\n  observed y : R[2]\\n  latent z : R[1] infer minimize(optimizer = adam, steps = "
            f"{steps}, lr = 0.1)\\n\\n  fn f = ellipse()\\n\\n  energy D = sq_dist(y, f(z))\\n}}\\n")
    m = ebmgraph.compile(ebmgraph.loads(text))
    y = torch.randn(4096, 2)
    m.free_energy(y=y)
    print(peak_mb(lambda: m.free_energy(y=y)))
"""


def test_inference_does_not_keep_the_graph_of_every_step() -> None:
    """Peak memory of 100 and 400 descent steps on 4096 rows is the same: each step's autograd graph
    is freed when the next begins (measured as the benchmarks do, in a fresh process)."""
    import subprocess
    import sys
    from pathlib import Path

    bench = str(Path(__file__).resolve().parent.parent / "benchmarks")
    r = subprocess.run([sys.executable, "-c", PEAKS, bench], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    peaks = [float(x) for x in r.stdout.split()]
    assert len(peaks) == 2 and peaks[1] <= peaks[0] * 1.1 + 1.0, peaks


def test_inlined_catalogue_entries_compute_what_their_functions_do_by_hand() -> None:
    """sum, mul, cat, sq_dist and l2 are written out in the generated code (no call
    in inference's hot loop): on matrices and on scalars, what they compute is the hand computation."""
    m = ebmgraph.compile(ebmgraph.loads(
        "model M {\n  observed a : R[2, 3]\n  observed b : R[2, 3]\n  observed c : R[2, 3]\n"
        "  observed lo : R[2, 3]\n  observed hi : R[2, 3]\n  observed x : R[5]\n  observed y : R[5]\n"
        "  energy S = sq_dist(sum(a, b, c), mul(a, b))\n  energy Q = sq_dist(sum(x), sum(y))\n"
        "  energy L = l2(cat(a, b))\n  energy K = l2(clamp(a, lo, hi))\n}\n"))
    torch.manual_seed(0)
    v = {k: torch.randn(4, 2, 3) for k in "abc"} | {"x": torch.randn(4, 5), "y": torch.randn(4, 5)}
    v["lo"], v["hi"] = -0.5 * torch.ones(4, 2, 3), 0.5 * torch.ones(4, 2, 3)
    e = m.evaluate(m.check_inputs(v))
    a, b, c = v["a"], v["b"], v["c"]
    torch.testing.assert_close(e.terms["S"], ((a + b + c - a * b) ** 2).sum((1, 2)))
    torch.testing.assert_close(e.terms["Q"], (v["x"].sum(1) - v["y"].sum(1)) ** 2)  # of scalars
    torch.testing.assert_close(e.terms["L"], (a ** 2).sum((1, 2)) + (b ** 2).sum((1, 2)))
    torch.testing.assert_close(e.terms["K"], (a.clamp(-0.5, 0.5) ** 2).sum((1, 2)))
    ref = m.interpret(m.check_inputs(v))
    assert all(torch.equal(e.terms[k], ref.terms[k]) for k in e.terms)
    src = m.source()
    # written out: all but clamp and sum(x) of one input (x's total): three calls in all
    assert len(re.findall(r"\b[ft]\d+\(", src)) == 3, src


def test_clamp_with_bounds_of_another_shape_is_a_located_error() -> None:
    with pytest.raises(ebmgraph.EbmError) as err:
        ebmgraph.loads("model M {\n  observed a : R[3]\n  observed lo : R[2]\n  energy K = l2(clamp(a, lo, lo))\n}\n")
    text = str(err.value)
    assert "4:17" in text and "clamp(x, lo, hi)" in text and "R[3], R[2], R[2]" in text
