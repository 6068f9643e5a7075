"""Data for training: arrays from .npy / .npz / .csv files or scikit-learn's bundled sets, mapped
onto the graph's observed variables, and augmentations for joint-embedding views."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..compiled import CompiledModel
from .config import Augment, DataConfig

SKLEARN_SETS = ("digits", "iris", "moons", "swiss_roll", "circles", "wine", "breast_cancer")


class DataError(ValueError):
    """Data that cannot be read or does not fit the graph; the message names both shapes."""


def load_arrays(cfg: DataConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Named arrays of a data source: 'data' and 'target' for scikit-learn sets and .npy/.csv files,
    the stored names for .npz files."""
    src = cfg.source
    if src in SKLEARN_SETS:
        return _cached(src, cfg, seed)
    return _read_file(src)


def cache_dir() -> Path:
    """Where bundled data sets are kept once made ($EBMGRAPH_CACHE, else ~/.cache/ebmgraph/datasets)."""
    env = os.environ.get("EBMGRAPH_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ebmgraph"
    return base / "datasets"


def _cached(src: str, cfg: DataConfig, seed: int) -> dict[str, np.ndarray]:
    """A scikit-learn set, kept in the cache after the first use: importing scikit-learn costs more
    than a second, paid once per machine instead of once per run. A cache that cannot be written or
    read is skipped silently: the set is made again, the same (it is seeded)."""
    from importlib.metadata import version

    key = f"{src}-n{cfg.n_samples}-noise{cfg.noise!r}-seed{seed}" if src in ("moons", "circles", "swiss_roll") else src
    path = cache_dir() / f"{key}-sklearn{version('scikit-learn')}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        pass
    arrays = _make(src, cfg, seed)
    try:
        from ..files import write_atomic
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a cache is an optimization; the data is here either way
        pass
    return arrays


def _make(src: str, cfg: DataConfig, seed: int) -> dict[str, np.ndarray]:
    from sklearn import datasets
    if src in ("digits", "iris", "wine", "breast_cancer"):
        ds = getattr(datasets, f"load_{src}")()
        return {"data": np.asarray(ds.data, dtype=np.float32), "target": np.asarray(ds.target)}
    if src == "moons":
        x, t = datasets.make_moons(cfg.n_samples, noise=cfg.noise, random_state=seed)
    elif src == "circles":
        x, t = datasets.make_circles(cfg.n_samples, noise=cfg.noise, factor=0.5, random_state=seed)
    else:
        x, t = datasets.make_swiss_roll(cfg.n_samples, noise=cfg.noise, random_state=seed)
    return {"data": x.astype(np.float32), "target": np.asarray(t)}


def _npy_header(fh: Any, size: int, what: str) -> None:
    """An .npy array's header read and checked before its data is: a numeric dtype (no objects, no
    complex numbers, whose imaginary part training would drop), and as many bytes as the shape
    promises (a header claiming 10^12 rows is refused, not allocated)."""
    from numpy.lib import format as npformat
    try:
        version = npformat.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"version {version} of the .npy format; save it with numpy.save (1.0 or 2.0)")
        read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, _, dtype = read(fh)
    except ValueError as exc:
        raise DataError(f"{what} is not a valid .npy array: {exc}") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        kind = "complex numbers" if dtype.kind == "c" else f"dtype {dtype}"
        raise DataError(f"{what} holds {kind}; give real numbers (float or integer), e.g. np.real(a) or a.astype(float)")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = size - fh.tell()
    if need > have:
        raise DataError(f"{what} is damaged or truncated: its header promises shape {tuple(shape)} ({need:,} bytes) "
                        f"but it holds {have:,}")


def _checked_npy(path: Path) -> None:
    with path.open("rb") as fh:
        _npy_header(fh, path.stat().st_size, f"'{path}'")


def _checked_npz(path: Path) -> None:
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with zf.open(info) as fh:
                        _npy_header(fh, info.file_size, f"'{path}' member '{info.filename[:-4]}'")
    except zipfile.BadZipFile as exc:
        raise DataError(f"cannot read '{path}': {exc}") from None


def _read_file(src: str) -> dict[str, np.ndarray]:
    path = Path(src)
    if not path.exists():
        raise DataError(f"data source '{src}' is neither a file nor one of {', '.join(SKLEARN_SETS)}")
    if not path.is_file():
        raise DataError(f"data source '{src}' is not a regular file (a folder, a device or a pipe)")
    try:
        if path.suffix == ".npy":
            _checked_npy(path)
        elif path.suffix == ".npz":
            _checked_npz(path)
    except OSError as exc:
        raise DataError(f"cannot read '{src}': {exc.strerror or exc}") from None
    try:
        if path.suffix == ".npy":
            return {"data": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if path.suffix == ".csv":
            arr = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2, skiprows=_header_rows(path))
            return {"data": arr}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read '{src}': {exc}") from None
    raise DataError(f"'{src}': use a .npy, .npz or .csv file")


def _header_rows(path: Path) -> int:
    with path.open() as fh:
        first = fh.readline()
    return 0 if re.fullmatch(r"[\s0-9eE.,+-]*", first) else 1


_INDEX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*:\s*,\s*(\d*)\s*(?::\s*(\d*))?\s*\])?\s*$")


def select(expr: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """'data', 'target', 'data[:, 2]' or 'data[:, 0:2]' from the named arrays."""
    m = _INDEX.match(expr)
    if not m:
        raise DataError(f"cannot read the column selection '{expr}'; write 'data', 'data[:, 3]' or 'data[:, 0:2]'")
    name, a, b = m.group(1), m.group(2), m.group(3)
    if name not in arrays:
        raise DataError(f"no array '{name}' in the data; it has {', '.join(sorted(arrays))}")
    arr = arrays[name]
    if a is None:
        return arr
    if arr.ndim < 2:
        raise DataError(f"'{expr}': array '{name}' has shape {arr.shape}, it has no columns")
    cols = arr.shape[1]
    for idx in (a, b):
        if idx and int(idx) > cols - (0 if idx is b else 1):
            raise DataError(f"'{expr}': array '{name}' has {cols} columns (0..{cols - 1}); column {idx} is past the end")
    if b is None and ":" not in expr.split(",", 1)[1]:
        return arr[:, int(a)]
    return arr[:, int(a) if a else None:int(b) if b else None]


@dataclass
class Dataset:
    """Tensors for the observed variables, one row per sample, plus their augmentations."""

    tensors: dict[str, torch.Tensor]
    augment: dict[str, list[Augment]]
    # per standardized variable, the (mean, std) the data was standardized with
    standardization: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def __len__(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for k, t in self.tensors.items():
            x = t[idx]
            for aug in self.augment.get(k, []):
                x = apply_augment(x, aug)
            out[k] = x
        return out


def apply_augment(x: torch.Tensor, aug: Augment) -> torch.Tensor:
    if aug.kind == "noise":
        return x + aug.std * torch.randn_like(x)
    if aug.kind == "mask":
        return x * (torch.rand_like(x) >= aug.p)
    # crop: a random window of a square image (flattened side x side), resized back to side x side
    n = x.shape[-1]
    side = int(round(n ** 0.5))
    if side * side != n or aug.size > side:
        raise DataError(f"crop needs square images: {n} values is not side x side with side >= {aug.size}")
    img = x.reshape(-1, 1, side, side)
    i, j = (int(v) for v in torch.randint(0, side - aug.size + 1, (2,)))
    win = img[:, :, i:i + aug.size, j:j + aug.size]
    out = torch.nn.functional.interpolate(win, size=(side, side), mode="bilinear", align_corners=False)
    return out.reshape(x.shape)


def make_dataset(model: CompiledModel, cfg: DataConfig, seed: int = 0) -> Dataset:
    """Arrays mapped onto the model's observed variables, with shapes checked against the graph.
    With a held-out split (test_fraction), standardization statistics come from the training rows
    only (held_out with the same seed): the held-out rows tell the model nothing."""
    arrays = load_arrays(cfg, seed)
    if cfg.scale != 1.0 and "data" in arrays:
        arrays = {**arrays, "data": np.asarray(arrays["data"], dtype=np.float32) * np.float32(cfg.scale)}
    tensors: dict[str, torch.Tensor] = {}
    standardization: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    n = None
    for var, expr in cfg.map.items():
        if var not in model.inputs:
            raise DataError(f"data.map names '{var}', which is not an input variable of {model.graph.name} "
                            f"({', '.join(sorted(model.inputs))})")
        arr = select(expr, arrays)
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise DataError(f"data '{expr}' from '{cfg.source}' has no rows (shape {arr.shape}); give a file with "
                            "one sample per row")
        v = model.inputs[var]
        want = v.domain.shape
        if arr.ndim == 1 and want == (1,):
            arr = arr[:, None]
        if tuple(arr.shape[1:]) != want:
            raise DataError(f"data '{expr}' has rows of shape {tuple(arr.shape[1:])} (array {arr.shape}) but "
                            f"variable '{var}' is {v.domain}, shape {want}")
        if n is not None and arr.shape[0] != n:
            raise DataError(f"data '{expr}' has {arr.shape[0]} rows, the other arrays {n}")
        n = arr.shape[0]
        if v.domain.kind == "categorical":
            t = torch.as_tensor(np.asarray(arr), dtype=torch.long)
        else:
            t = torch.as_tensor(np.asarray(arr, dtype=np.float32))
            bad = ~torch.isfinite(t)
            if bad.any():
                row = int(bad.reshape(t.shape[0], -1).any(1).nonzero()[0])
                raise DataError(f"data '{expr}' for variable '{var}' has NaN or infinite values (first in row {row})")
            if v.domain.kind in ("bits", "spins"):
                t = _binary(t, v.domain.kind, cfg.binarize, expr, var)
        tensors[var] = t
    if (cfg.standardize or cfg.center) and n is not None:
        fit_rows = held_out(n, cfg.test_fraction, seed)[0] if cfg.test_fraction > 0 else None
        for var, t in tensors.items():
            if model.inputs[var].domain.kind != "real":
                continue
            fit = t if fit_rows is None else t[fit_rows]
            mean = fit.mean(0)
            std = fit.std(0) + 1e-6 if cfg.standardize else torch.ones_like(mean)
            standardization[var] = (mean, std)
            tensors[var] = (t - mean) / std
    for var in cfg.augment:
        if var not in tensors:
            raise DataError(f"data.augment names '{var}', which data.map does not give")
    if not tensors:
        raise DataError("data.map is empty: map at least one variable, e.g. map = { x = \"data\" }")
    return Dataset(tensors, dict(cfg.augment), standardization)


def init_from_data(model: CompiledModel, inits: list[Any], data: Dataset, seed: int) -> list[str]:
    """Start each `[[init]]` prototype table from the training rows: K distinct rows at random,
    scikit-learn's k-means++ seeding, or (a Gaussian mixture's log-variances) the log of the rows'
    variance per dimension in every one of the K. Returns what was done, one line per table."""
    done = []
    for ini in inits:
        if ini.fn not in model.fns:
            raise DataError(f"init names fn '{ini.fn}', which {model.graph.name} does not declare "
                            f"(its functions: {', '.join(sorted(model.graph.fns)) or 'none'})")
        if ini.from_ not in data.tensors:
            raise DataError(f"init of '{ini.fn}' starts from '{ini.from_}', which the data does not give "
                            f"({', '.join(sorted(data.tensors))})")
        mod = model.fns[ini.fn]
        rows = data.tensors[ini.from_].reshape(len(data), -1).float()
        table = getattr(mod, "table", None)
        if isinstance(table, torch.nn.Embedding):
            target, transpose = table.weight, False
        elif isinstance(mod, torch.nn.Linear) and mod.bias is None:
            target, transpose = mod.weight, True  # y = W one_hot(k): the K columns of W
        else:
            raise DataError(f"init of '{ini.fn}': only an embedding(K, d) or a linear(K, d, bias = false) applied to "
                            f"a one-hot is a prototype table; '{ini.fn}' is {model.graph.fns[ini.fn].func}")
        K, d = (target.shape[1], target.shape[0]) if transpose else tuple(target.shape)
        if d != rows.shape[1]:
            raise DataError(f"init of '{ini.fn}': its prototypes have {d} values, the rows of '{ini.from_}' "
                            f"{rows.shape[1]}")
        if K > rows.shape[0] and ini.method != "log_var":
            raise DataError(f"init of '{ini.fn}': {K} prototypes from {rows.shape[0]} rows")
        if ini.method == "log_var":  # every component's log-variance: the data's, per dimension
            var = rows.var(0, unbiased=False) + float(ini.min_var)
            start = var.log().expand(K, d).to(target.dtype)
        elif ini.method == "kmeans++":
            from sklearn.cluster import kmeans_plusplus
            centers, _ = kmeans_plusplus(rows.numpy().astype(np.float64), K, random_state=seed)
            start = torch.as_tensor(centers, dtype=target.dtype)
        else:
            pick = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(seed))[:K]
            start = rows[pick].to(target.dtype)
        with torch.no_grad():
            target.copy_(start.T if transpose else start)
        done.append(f"{ini.fn}: {K} prototypes from '{ini.from_}' ({ini.method})")
    return done


def held_out(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training rows, held-out rows): a seeded share of the n rows held out, the same for the same
    seed (a resumed run holds out the same rows)."""
    k = int(round(n * fraction))
    if k < 1 or k >= n:
        raise DataError(f"test_fraction = {fraction:g} of {n} rows holds out {k}: it must leave at least one row "
                        "on each side")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 104729 + 17))
    return order[k:].sort().values, order[:k].sort().values


def subset(data: Dataset, rows: torch.Tensor) -> Dataset:
    return Dataset({name: t[rows] for name, t in data.tensors.items()}, data.augment, data.standardization)


def _binary(t: torch.Tensor, kind: str, threshold: float | None, expr: str, var: str) -> torch.Tensor:
    """Data for a bits/spins variable: already binary, or thresholded where the config says so."""
    low = 0.0 if kind == "bits" else -1.0
    if threshold is not None:
        return torch.where(t > threshold, torch.ones_like(t), torch.full_like(t, low))
    if not torch.all((t == low) | (t == 1)):
        values = torch.unique(t)
        shown = ", ".join(f"{float(x):g}" for x in values[:5]) + (", ..." if len(values) > 5 else "")
        raise DataError(f"data '{expr}' for {kind} variable '{var}' is not binary (values {shown}); set "
                        f"binarize = <threshold> in [data] (e.g. binarize = {float(values.float().mean()):.3g}), "
                        f"so values above it become 1 and the others {low:g}")
    return t
