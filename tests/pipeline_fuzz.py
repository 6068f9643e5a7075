"""Mutation fuzzing through the whole pipeline: `loads` -> `compile` -> one `free_energy`, each case in
a forked worker under a memory limit (RLIMIT_AS) and a time limit. A case passes when it either
works or stops with a located diagnostic (EbmError) or a named InputError; anything else (another
exception, a crash, a hang past the limit, memory exhaustion) is a finding.

    python -m tests.pipeline_fuzz --cases 5000 [--seed 1] [--mem-gib 6] [--timeout 10] [--jobs 2]

The test suite runs a small number of cases (tests/test_attack.py); the closing notes give the
counts of the large runs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import sys
import traceback
from collections import Counter
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "library"
NUMBERS = ["0", "1", "-1", "2", "3", "7", "64", "1000", "65536", "100000000", "1e9", "0.5", "-0.5", "1e-30",
           "1e308", "99999999999999999999", "nope", "true", "false", "2.5"]
WORDS = ["x", "y", "z", "s", "t", "T", "nope", "mlp", "linear", "sq_dist", "l1", "vicreg", "minimize", "enumerate",
         "marginal", "sample", "amortized", "steps", "lr", "refine", "restarts", "samples", "bits", "spins", "R",
         "box", "sphere", "attention", "gru", "conv1d", "embedding", "cat", "sum", "bias", "true", "lbfgs", "fista"]
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e-?\d+)?|\S")


def mutate(text: str, rng: random.Random) -> str:
    """One to four random edits of a file's tokens or lines."""
    for _ in range(rng.randint(1, 4)):
        toks = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
        if not toks:
            return text
        a, b = toks[rng.randrange(len(toks))]
        tok = text[a:b]
        kind = rng.random()
        if tok[0].isdigit() or kind < 0.35:
            new = rng.choice(NUMBERS)
        elif kind < 0.6:
            new = rng.choice(WORDS)
        elif kind < 0.7:
            new = ""
        elif kind < 0.8:
            new = tok + rng.choice(["(", ")", "[", "]", ",", "=", ".", " * 2", "[0]", "[t + 1]", " + 1"])
        elif kind < 0.9:
            lines = text.splitlines()
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
            text = "\n".join(lines) + "\n"
            continue
        else:
            new = tok * 2
        text = text[:a] + new + text[b:]
    return text


def run_case(text: str) -> str:
    """'ok', 'located', 'input' or 'FINDING: <exception>' for one mutated file."""
    import warnings

    import torch

    import ebmgraph
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    try:
        g = ebmgraph.loads(text, file="<mutant>")
        m = ebmgraph.compile(g)
        given = {}
        for name, v in m.inputs.items():
            if v.role != "observed":
                continue
            if v.domain.kind == "categorical":
                given[name] = torch.zeros(2, *v.domain.shape, dtype=torch.long)
            elif v.domain.kind == "spins":
                given[name] = torch.ones(2, *v.domain.shape)
            else:
                given[name] = torch.zeros(2, *v.domain.shape)
        m.free_energy(**given)
        return "ok"
    except ebmgraph.EbmError as exc:
        return "located" if exc.diagnostics and all(d.line >= 1 for d in exc.diagnostics) else "FINDING: unlocated"
    except ebmgraph.InputError:
        return "input"
    except Exception as exc:  # noqa: BLE001 - anything else is what we look for
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return f"FINDING: {type(exc).__name__}: {str(exc)[:160]} @ {Path(tb.filename).name}:{tb.lineno}"


def _worker(text: str, mem_gib: float, timeout: float, conn: object) -> None:
    limit = int(mem_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("hang")))
    signal.alarm(int(timeout))
    try:
        out = run_case(text)
    except MemoryError:
        out = "FINDING: MemoryError (memory limit)"
    except TimeoutError:
        out = "FINDING: hang (time limit)"
    conn.send(out)  # type: ignore[attr-defined]


_CTX: mp.context.ForkServerContext | None = None


def _context() -> mp.context.ForkServerContext:
    """Workers are forked from a fork server: a clean, single-threaded process that has imported
    ebmgraph and run nothing. Forking the test process itself (threads, torch's OpenMP pool) can
    deadlock the child, which would read as a hang of ours."""
    global _CTX
    if _CTX is None:
        _CTX = mp.get_context("forkserver")
        # torch and the compiled model are imported once, in the server, not by every case
        # (torch._dynamo too: torch.optim imports it on the first optimizer made, about 1.3 s)
        _CTX.set_forkserver_preload(["ebmgraph", "ebmgraph.compiled", "ebmgraph.inference", "ebmgraph.training", "torch._dynamo",
                                     "tests.pipeline_fuzz"])
    return _CTX


def guarded(text: str, mem_gib: float = 6.0, timeout: float = 10.0) -> str:
    """Run one case in a fresh worker process under the limits."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_worker, args=(text, mem_gib, timeout, child))
    p.start()
    p.join(timeout + 5)
    if p.is_alive():
        p.kill()
        p.join()
        return "FINDING: hang (killed)"
    if parent.poll():
        return str(parent.recv())
    return f"FINDING: crashed (exit {p.exitcode})"


def cases(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    files = sorted(LIBRARY.glob("*.ebm"))
    texts = {f.name: f.read_text() for f in files}
    out = []
    for _ in range(n):
        name = rng.choice(files).name
        out.append((name, mutate(texts[name], rng)))
    return out


def _one(args: tuple[str, str, float, float]) -> tuple[str, str, str]:
    name, text, mem, timeout = args
    return name, text, guarded(text, mem, timeout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mem-gib", type=float, default=6.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--show", type=int, default=5, help="mutants printed per finding")
    args = ap.parse_args()
    import ebmgraph  # noqa: F401  (loaded once, shared by the forked workers)
    todo = [(n, t, args.mem_gib, args.timeout) for n, t in cases(args.cases, args.seed)]
    counts: Counter[str] = Counter()
    findings: dict[str, list[tuple[str, str]]] = {}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(args.jobs) as pool:
        for i, (name, text, out) in enumerate(pool.map(_one, todo), 1):
            key = out if out.startswith("FINDING") else out
            counts[key.split(" @")[0] if key.startswith("FINDING") else key] += 1
            if out.startswith("FINDING"):
                findings.setdefault(out, []).append((name, text))
            if i % 250 == 0:
                print(f"{i} cases: {dict(counts)}", file=sys.stderr, flush=True)
    print(f"{args.cases} mutants (seed {args.seed}, {args.mem_gib:g} GiB, {args.timeout:g} s per case):")
    for k, v in sorted(counts.items()):
        print(f"  {v:6d}  {k}")
    for f, where in sorted(findings.items()):
        print(f"\n{f} ({len(where)}x)")
        for name, text in where[: args.show]:
            print(f"--- mutant of {name}\n{text}")
    return 1 if findings else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # the fork server re-imports this module as the workers' main module; run with -m it says so
    os.environ.setdefault("PYTHONWARNINGS", "ignore::RuntimeWarning")
    sys.exit(main())
