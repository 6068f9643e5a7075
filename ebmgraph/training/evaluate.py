"""`ebm eval`: a model's free energy on the data a config names, with no training step.

For a trained run (its checkpoint) or a model with nothing to train (fixed parts, 002 sec. 4.2.1
sparse coding over a given dictionary; prototype tables started from the data by `[[init]]`): the
config's data, scale and held-out split are built exactly as `ebm train` builds them, the free
energy is computed on the held-out rows (every row without a split), and, asked for, the values the
declared inference reaches for each latent are kept (the sparse code z, the component k)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_into
from ..compiled import CompiledModel
from ..files import OutputError, write_atomic
from ..inference.method import ConvergenceWarning
from ..limits import Limits
from .config import TrainConfig
from .data import held_out, init_from_data, make_dataset, subset
from .loop import mean_free_energy

EVAL = "eval.json"  # the mean free energy of the evaluated rows, and which rows they were
LATENTS = "latents.npz"  # --latents: the inferred value of each latent, one row per evaluated row


def _folder(out: str | Path) -> Path:
    where = Path(out)
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make '{where}': {exc}") from None
    return where


def _split(cfg: TrainConfig, n: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(the training rows, or None without a split; the rows evaluated): the rows `ebm train` holds out."""
    if cfg.data is not None and cfg.data.test_fraction > 0:
        return held_out(n, cfg.data.test_fraction, cfg.seed)
    return None, torch.arange(n)


@dataclass
class EvalResult:
    F_mean: float
    rows: list[int]  # the evaluated rows of the data (the held-out ones under a split)
    split: str  # "test" (the config's test_fraction) or "all"
    latents: dict[str, np.ndarray] = field(default_factory=dict)
    init: list[str] = field(default_factory=list)  # what [[init]] did (no checkpoint)
    files: list[Path] = field(default_factory=list)


def evaluate_config(model: CompiledModel, cfg: TrainConfig, checkpoint: str | Path | None = None,
                    out: str | Path | None = None, latents: bool = False) -> EvalResult:
    """F on the config's held-out rows (all rows without a split), from `checkpoint`'s weights or,
    without one, the model as compiled with the config's `[[init]]` applied to the training rows.
    With `out`, writes eval.json (and latents.npz) there, atomically."""
    if cfg.data is None:
        raise ValueError("the config has no [data] section: say which data to evaluate on")
    data = make_dataset(model, cfg.data, cfg.seed)
    fit_rows, rows = _split(cfg, len(data))
    fit, split = (data, "all") if fit_rows is None else (subset(data, fit_rows), "test")
    done: list[str] = []
    if checkpoint is not None:
        load_into(model, checkpoint)  # its weights, term weights and standardization
    elif cfg.init:
        done = init_from_data(model, cfg.init, fit, cfg.seed)
    model.eval()
    names = tuple(v.name for v in model.graph.latents()) if latents else ()
    mean, kept = mean_free_energy(model, subset(data, rows), cfg.batch_size, names)
    values = {n: v.numpy() for n, v in kept.items()}
    missing = [n for n in names if n not in values]
    result = EvalResult(mean, [int(i) for i in rows], split, values, done)
    if out is not None:
        where = _folder(out)
        summary: dict[str, Any] = {"F_mean": result.F_mean, "n_rows": len(result.rows), "split": split,
                                   "rows": result.rows, "checkpoint": str(checkpoint) if checkpoint else None}
        if missing:  # summed out in closed form (marginal): no single value to keep
            summary["latents_not_kept"] = {n: "marginalized, so no single value" for n in missing}
        result.files.append(write_atomic(where / EVAL, json.dumps(summary) + "\n"))
        if values:
            def write(fh: Any) -> None:
                np.savez(fh, rows=np.asarray(result.rows), **values)  # type: ignore[arg-type]
            result.files.append(write_atomic(where / LATENTS, write))
    return result


INFER = "infer.npz"  # ebm infer: the minimizers per row (and per repeat), their energies, the rows


@dataclass
class InferResult:
    values: dict[str, np.ndarray]  # target -> (rows, repeats, *shape)
    energy: np.ndarray  # (rows, repeats): E at each solution
    rows: list[int]
    file: Path | None = None


def infer_config(model: CompiledModel, cfg: TrainConfig, targets: list[str], repeats: int = 1,
                 checkpoint: str | Path | None = None, out: str | Path | None = None,
                 start: bool = False) -> InferResult:
    """argmin over `targets` given the config's data (every row; the held-out ones under a split),
    each row solved `repeats` times from the declared init (random inits find different minima of
    a multimodal energy, 002 Fig. 3b). `start`: the data gives the targets too, as the starting
    points (minimization's init; a sampler's chains: a Hopfield net's recall from a pattern).
    With `out`, writes infer.npz there, atomically."""
    from ..inference import infer, sample_variable

    if cfg.data is None:
        raise ValueError("the config has no [data] section: say which data the targets are inferred from")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    data = make_dataset(model, cfg.data, cfg.seed)
    rows = _split(cfg, len(data))[1]
    limit = cfg.limits.apply(model.graph.limits).max_rows
    if len(rows) * repeats > limit:
        raise ValueError(f"{len(rows)} rows x {repeats} repeats are {len(rows) * repeats:,} solutions, more than the "
                         f"limit max_rows = {limit:,}: fewer repeats, or raise it ({Limits.flag('max_rows')} or "
                         "[limits] max_rows = ...)")
    for t in targets:
        if t in data.tensors and not start:
            raise ValueError(f"'{t}' is given by the data (data.map); infer a variable the data does not give, or "
                             "pass --start to start from the data's values")
        if start and t not in data.tensors:
            raise ValueError(f"--start: the data gives no '{t}' to start from (data.map gives "
                             f"{', '.join(sorted(data.tensors))})")
    sampled = [t for t in targets if (var := model.inputs.get(t)) is not None and var.infer is not None
               and var.infer.method == "sample"]
    if sampled and len(targets) > 1:
        raise ValueError(f"'{sampled[0]}' is sampled (infer sample): infer it alone")
    if checkpoint is not None:
        load_into(model, checkpoint)
    model.eval()
    data = subset(data, rows)
    torch.manual_seed(cfg.seed)
    found: dict[str, list[torch.Tensor]] = {t: [] for t in targets}
    energies: list[torch.Tensor] = []
    for first in range(0, len(data), cfg.batch_size):
        idx = torch.arange(first, min(first + cfg.batch_size, len(data)))
        batch = {k: t[idx].repeat_interleave(repeats, 0).to(model._device()) for k, t in data.tensors.items()}
        given = {k: t for k, t in batch.items() if k not in targets}
        starts = {k: t for k, t in batch.items() if k in targets}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if sampled:
                x = sample_variable(model, sampled[0], given, init=starts.get(sampled[0]))
                values, energy = {sampled[0]: x}, model.evaluate({**given, sampled[0]: x}).total
            else:
                res = infer(model, targets, given, init=starts or None)
                values, energy = res.values, res.energy
        for t in targets:
            got = values[t].detach().cpu()
            found[t].append(got.reshape(len(idx), repeats, *got.shape[1:]))
        energies.append(energy.detach().cpu().reshape(len(idx), repeats))
    result = InferResult({t: torch.cat(v).numpy() for t, v in found.items()}, torch.cat(energies).numpy(),
                         [int(i) for i in rows])
    if out is not None:
        where = _folder(out)

        def write(fh: Any) -> None:
            np.savez(fh, rows=np.asarray(result.rows), energy=result.energy, **result.values)  # type: ignore[arg-type]
        result.file = write_atomic(where / INFER, write)
    return result
