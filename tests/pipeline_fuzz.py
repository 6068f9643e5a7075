"""Mutation fuzzing through the whole pipeline: `loads` -> `compile` -> one `free_energy`, each case in
a forked worker under a memory limit (RLIMIT_AS) and a time limit. The cases are mutants of every
file of library/ and library/agent/ (one of the file's models, its imports resolved beside it), and
before them, a categorical variable fed to every argument of every energy of the catalogue. A case passes when it either
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
from dataclasses import dataclass
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


def run_case(text: str, file: str = "<mutant>", model: str | None = None) -> str:
    """'ok', 'located', 'input' or 'FINDING: <exception>' for one mutated file (`file`: where its
    imports are resolved from; `model`: which of its models)."""
    import warnings

    import torch

    import ebmgraph
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    try:
        g = ebmgraph.loads(text, file=file, model=model)
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


def _worker(text: str, mem_gib: float, timeout: float, conn: object, file: str, model: str | None) -> None:
    limit = int(mem_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # the hang detector counts this process's CPU time, not the wall clock: on a loaded machine a
    # case waiting for a core is not hanging (a case that blocks without computing is the parent's)
    signal.signal(signal.SIGPROF, lambda *_: (_ for _ in ()).throw(TimeoutError("hang")))
    signal.setitimer(signal.ITIMER_PROF, timeout)
    try:
        out = run_case(text, file, model)
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


def guarded(text: str, mem_gib: float = 6.0, timeout: float = 10.0, file: str = "<mutant>",
            model: str | None = None) -> str:
    """Run one case in a fresh worker process under the limits."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_worker, args=(text, mem_gib, timeout, child, file, model))
    p.start()
    p.join(max(60.0, 6 * timeout))  # wall clock: a case blocked (not computing) for this long is a hang
    if p.is_alive():
        p.kill()
        p.join()
        return "FINDING: hang (killed)"
    if parent.poll():
        return str(parent.recv())
    return f"FINDING: crashed (exit {p.exitcode})"


MODEL = re.compile(r"(?m)^model\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Case:
    name: str  # what it is a mutant of (the file and model), or the categorical probe
    text: str
    file: str = "<mutant>"  # where its imports are resolved from
    model: str | None = None


def categorical_cases() -> list[Case]:
    """A categorical variable y : {3} fed to each argument of each energy of the catalogue, the other
    arguments real vectors R[3]: each works or is a located error (issue 26.3)."""
    from ebmgraph.catalogue import ENERGIES
    out = []
    for name, spec in sorted(ENERGIES.items()):
        n = spec.arity or max(spec.min_args, 1)
        for pos in range(n):
            args = ", ".join("y" if i == pos else f"r{i}" for i in range(n))
            reals = "".join(f"  observed r{i} : R[3]\n" for i in range(n) if i != pos)
            out.append(Case(f"categorical into {name}, argument {pos + 1}",
                            f"model M {{\n  observed y : {{3}}\n{reals}  energy E = {name}({args})\n}}\n"))
    return out


def cases(n: int, seed: int) -> list[Case]:
    """The categorical probes, then n mutants of library/ and library/agent/ files."""
    rng = random.Random(seed)
    files = sorted(LIBRARY.glob("*.ebm")) + sorted((LIBRARY / "agent").glob("*.ebm"))
    texts = {f: f.read_text() for f in files}
    out = categorical_cases()
    for _ in range(n):
        f = rng.choice(files)
        models = MODEL.findall(texts[f])
        model = rng.choice(models) if len(models) > 1 else None
        out.append(Case(f"{f.relative_to(LIBRARY)}" + (f" ({model})" if model else ""), mutate(texts[f], rng),
                        str(f), model))
    return out


def _one(args: tuple[Case, float, float]) -> tuple[Case, str]:
    case, mem, timeout = args
    return case, guarded(case.text, mem, timeout, case.file, case.model)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mem-gib", type=float, default=6.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="CPU seconds a case may take")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--show", type=int, default=5, help="mutants printed per finding")
    args = ap.parse_args()
    import ebmgraph  # noqa: F401  (loaded once, shared by the forked workers)
    todo = [(c, args.mem_gib, args.timeout) for c in cases(args.cases, args.seed)]
    counts: Counter[str] = Counter()
    findings: dict[str, list[tuple[str, str]]] = {}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(args.jobs) as pool:
        for i, (case, out) in enumerate(pool.map(_one, todo), 1):
            counts[out.split(" @")[0] if out.startswith("FINDING") else out] += 1
            if out.startswith("FINDING"):
                findings.setdefault(out, []).append((case.name, case.text))
            if i % 250 == 0:
                print(f"{i} cases: {dict(counts)}", file=sys.stderr, flush=True)
    print(f"{len(todo)} cases: {len(todo) - args.cases} categorical probes and {args.cases} mutants (seed "
          f"{args.seed}, {args.mem_gib:g} GiB, {args.timeout:g} CPU seconds per case):")
    for k, v in sorted(counts.items()):
        print(f"  {v:6d}  {k}")
    for f, where in sorted(findings.items()):
        print(f"\n{f} ({len(where)}x)")
        for name, text in where[: args.show]:
            print(f"--- {name}\n{text}")
    return 1 if findings else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # the fork server re-imports this module as the workers' main module; run with -m it says so
    os.environ.setdefault("PYTHONWARNINGS", "ignore::RuntimeWarning")
    sys.exit(main())
