"""The training configuration (pydantic), read from TOML, with located errors for typos."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalogue.regularizers import REGULARIZERS
from ..diagnostics import Diagnostic, EbmError, did_you_mean
from ..files import read_bounded
from ..limits import Limits
from .losses import LOSSES

LossKind = Literal["nll_exhaustive", "nll_mc", "contrastive_divergence", "pairwise_hinge", "min_hinge",
                   "square_square", "square_exp", "logistic", "gan", "infonce", "denoising", "energy"]
NEEDS_SAMPLER = {k for k, spec in LOSSES.items() if spec.contrast == "sampler"}
assert set(LOSSES) == set(LossKind.__args__)  # type: ignore[attr-defined]


M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Augment(_Strict):
    """An augmentation of one variable's values (joint-embedding views)."""

    kind: Literal["noise", "mask", "crop"]
    std: float = Field(0.1, ge=0)  # noise
    p: float = Field(0.25, ge=0, le=1)  # mask: fraction of entries set to 0
    size: int = Field(6, ge=1)  # crop: a random size x size window of a square image, scaled back


class DataConfig(_Strict):
    source: str  # digits | iris | moons | swiss_roll | circles, or a .npy / .npz / .csv path
    map: dict[str, str]  # variable -> array ("data", "target", "data[:, 0:2]", an npz key, a csv column range)
    n_samples: int = Field(1000, ge=1)  # for generated sets (moons, swiss_roll, circles)
    noise: float = Field(0.05, ge=0)
    standardize: bool = False  # real variables to mean 0, std 1; the statistics go into the checkpoint
    center: bool = False  # real variables to mean 0 only (PCA's centering); the means go into the checkpoint
    binarize: float | None = None  # bits/spins variables: values above this threshold are 1 (else 0, or -1)
    scale: float = Field(1.0, gt=0)  # multiplies the source's `data` array first (digits: 0.0625 gives [0, 1])
    test_fraction: float = Field(0.0, ge=0, lt=1)  # rows held out (seeded by `seed`): split.json in the run,
    # the held-out mean free energy in test.json and TrainResult.test
    augment: dict[str, list[Augment]] = {}


class LossConfig(_Strict):
    kind: LossKind = "energy"
    target: str | None = None  # the variable whose contrastive samples are made (y)
    margin: float = 1.0
    margin_scale: float = Field(0.0, ge=0)  # m(y, y^) = margin + margin_scale * d(y, y^)
    margin_distance: Literal["squared", "euclidean"] = "squared"  # d = ||y - y^||^2 (003 eq. 7) or ||y - y^||
    beta: float = Field(1.0, gt=0)
    temperature: float = Field(1.0, gt=0)
    pair: list[str] | None = None  # infonce: the two variables whose batch elements are paired
    corrupt: str | None = None  # denoising: the variable given a corrupted copy of the data
    generator_noise: int = Field(8, ge=1)  # gan: noise dimension of the generator
    generator_hidden: int = Field(64, ge=1)


class SamplerConfig(_Strict):
    # cd: chains from the data, `steps` long (CD-k); pcd: persistent chains kept across steps in a buffer
    # (Tieleman 2008), never restarted unless reinit says so; langevin: persistent chains from a replay
    # buffer, a fraction restarted from noise each step (Du & Mordatch 2019)
    kind: Literal["exhaustive", "langevin", "cd", "pcd", "most_offending", "corruption", "batch"]
    n: int = Field(1, ge=1)  # contrastive samples per training sample
    steps: int = Field(20, ge=0)
    step_size: float = Field(0.01, gt=0)
    noise: float = Field(0.1, ge=0)
    mask: float = Field(0.0, ge=0, le=1)
    lr: float = Field(0.1, gt=0)  # most_offending: gradient step on y
    buffer_size: int = Field(1000, ge=1)  # langevin: replay buffer of persistent chains
    reinit: float | None = Field(None, ge=0, le=1)  # fraction of chains restarted from noise each step
    # (unset: 0.05 for langevin, 0 for pcd)

    def restart_fraction(self) -> float:
        if self.reinit is not None:
            return self.reinit
        return 0.0 if self.kind == "pcd" else 0.05


class RegularizerConfig(BaseModel):
    """A regularizer the config adds, or one of the model file's that it overrides.

    The model file's `regularize` statements apply; an entry here overrides the model's regularizer
    named `name` (or, without a name, the one of the same kind on the same variables), and any
    other entry adds a regularizer. Options are those of the regularizer catalogue
    (ebmgraph/catalogue/regularizers.py); `weight = 0` switches a model's regularizer off."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    kind: str | None = None
    on: list[str] | None = None

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _against_catalogue(self) -> RegularizerConfig:
        if self.kind is None:
            if self.name is None:
                raise ValueError("a regularizer needs kind = \"...\" (one of " + ", ".join(REGULARIZERS) +
                                 "), or name = \"...\" to override the model's regularizer of that name")
            return self
        spec = REGULARIZERS.get(self.kind)
        if spec is None:
            close = did_you_mean(self.kind, REGULARIZERS)
            raise ValueError(f"unknown regularizer kind '{self.kind}'" + (f"; {close}" if close else "") +
                             " (valid choices: " + ", ".join(REGULARIZERS) + ")")
        for k, v in self.options.items():
            option = spec.option(k)
            if option is None:
                names = [o.name for o in spec.options]
                close = did_you_mean(k, names)
                raise ValueError(f"regularizer '{self.kind}' has no option '{k}'" + (f"; {close}" if close else "") +
                                 " (its options: " + ", ".join(names) + ")")
            want = option.problem(v)
            if want is not None:
                raise ValueError(f"option '{k}' of regularizer '{self.kind}' must be {want}, got {v!r}")
        if self.on is not None and len(self.on) != spec.arity:
            raise ValueError(f"{self.kind} takes {spec.arity} variable(s) in 'on', got {len(self.on)}")
        return self


class InitConfig(_Strict):
    """`[[init]]`: a prototype table started from the data before training (002 sec. 4.2.1): `fn`
    names a `linear(K, d, bias = false)` applied to a one-hot (its K columns) or an `embedding(K, d)`
    (its K rows); `from` the observed variable whose rows it starts from; `method` how."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    fn: str
    from_: str = Field(alias="from")
    method: Literal["data", "kmeans++", "log_var"] = "data"  # K distinct rows at random, k-means++ seeding,
    # or log(variance of the rows per dimension + min_var) in each of the K (a mixture's log-variances)
    min_var: float = Field(1e-6, ge=0)  # log_var: the floor added to the variance (scikit-learn's reg_covar)


class OptimizerConfig(_Strict):
    kind: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0)  # sgd: torch's default (and scikit-learn's BernoulliRBM's): none


class ScheduleConfig(_Strict):
    kind: Literal["constant", "cosine", "step"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    step_every: int = Field(1000, ge=1)
    gamma: float = Field(0.5, gt=0)


class LimitsConfig(_Strict):
    """`[limits]`: raise the bounds of ebmgraph.limits.Limits for this run (the model is checked against them)."""

    max_params: int | None = Field(None, ge=1)
    max_sample_mb: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=1)
    max_rows: int | None = Field(None, ge=1)
    max_draws: int | None = Field(None, ge=1)
    max_nodes: int | None = Field(None, ge=1)
    max_work: int | None = Field(None, ge=1)
    max_train_steps: int | None = Field(None, ge=1)

    def apply(self, base: Limits) -> Limits:
        return base.with_(**self.model_dump())


class TrainConfig(_Strict):
    data: DataConfig | None = None
    loss: LossConfig = LossConfig()
    sampler: SamplerConfig | None = None
    regularizers: list[RegularizerConfig] = []
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0, lt=2**63)  # torch's and numpy's generators take up to 64 bits
    out_dir: str = "runs/run"
    checkpoint_every: int = Field(100, ge=1)  # steps between checkpoints ...
    checkpoint_seconds: float = Field(60.0, gt=0)  # ... or seconds, whichever comes first; always at the end
    threads: int | None = Field(None, ge=1, le=256)  # torch's intra-op threads; None: `ebm train` uses 1 on a machine
    # of <= 4 cores (loop.set_threads), ebmgraph.train leaves torch's setting as the caller made it
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...: where the model and its batches live
    monitor: list[str] = []  # representations watched for collapse (default: the regularizers' variables)
    divergence: float = Field(1e6, gt=0)  # stop when |loss| exceeds this
    grad_clip: float | None = Field(None, gt=0)
    progress: bool = True
    plot: bool = True  # write metrics.png (loss parts and collapse monitor) at the end
    limits: LimitsConfig = LimitsConfig()
    params: dict[str, int | float] = {}  # the model's parameters, set without editing its text (ebm train)
    init: list[InitConfig] = []  # prototype tables started from the data (not on a resume)
    plugins: list[str] = []  # modules to import first: they register parts (ebmgraph/plugins.py)

    @model_validator(mode="after")
    def _needs(self) -> TrainConfig:
        if self.loss.kind in NEEDS_SAMPLER and self.sampler is None:
            raise ValueError(f"loss '{self.loss.kind}' needs contrastive samples: add a [sampler] section "
                             "(kind = langevin, cd, pcd, most_offending, corruption or batch)")
        if self.loss.kind == "infonce" and (self.loss.pair is None or len(self.loss.pair) != 2):
            raise ValueError("loss 'infonce' needs pair = [\"x\", \"y\"], the two variables to pair across the batch")
        if self.loss.kind == "denoising" and self.loss.corrupt is None:
            raise ValueError("loss 'denoising' needs corrupt = \"<variable>\", the input given a corrupted copy")
        return self


# ------------------------------------------------------------------ located errors
def _locate(text: str, loc: tuple[Any, ...]) -> tuple[int, int]:
    """Line and column of a key path in TOML text (best effort; 1, 1 when not found)."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return 1, 1
    section, index = "", {}  # type: tuple[str, dict[str, int]]
    candidates: list[tuple[int, int, str]] = []
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        head = re.match(r"^\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?", stripped)
        if head:
            section = head.group(1)
            if stripped.startswith("[["):
                index[section] = index.get(section, -1) + 1
            candidates.append((i, line.index("[") + 1, section))
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_\"]+)\s*=", line)
        if m:
            candidates.append((i, len(m.group(1)) + 1, f"{section}.{m.group(2).strip(chr(34))}".lstrip(".")))
    want = ".".join(keys)
    for i, col, name in candidates:
        if name == want:
            return i, col
    for i, col, name in candidates:  # the key inside a table (e.g. data.map.x written inline)
        if name.split(".")[-1] == keys[-1] and name.split(".")[0] == keys[0]:
            return i, col
    for i, col, name in candidates:
        if name == keys[0]:
            return i, col
    return 1, 1


def _fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys at a location of the config."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        f = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if f is None:
            return []
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        nxt = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            for a in args:
                nxt = next((b for b in getattr(a, "__args__", ()) if isinstance(b, type) and issubclass(b, BaseModel)),
                           None)
                if nxt:
                    break
        current = nxt
    return list(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


def config_error(exc: ValidationError, text: str, file: str, schema: type[BaseModel] | None = None) -> EbmError:
    diags = []
    lines = text.splitlines()
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        line, col = _locate(text, loc)
        hint = None
        if err["type"] == "extra_forbidden":
            valid = _fields(schema or TrainConfig, loc)
            msg = f"unknown key '{loc[-1]}' in {'.'.join(str(p) for p in loc[:-1]) or 'the config'}"
            hint = did_you_mean(str(loc[-1]), valid) or ("valid keys: " + ", ".join(valid) if valid else None)
            if hint and hint.startswith("did you mean"):
                hint += " (valid keys: " + ", ".join(valid) + ")"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            got = err.get("input")
            choices = re.findall(r"'([^']+)'", expected)
            msg = f"'{where}' cannot be {got!r}; valid choices: {', '.join(choices)}"
            hint = did_you_mean(str(got), choices)
        elif err["type"] == "missing":
            msg = f"missing key '{where}'"
        else:
            msg = f"'{where}': {err['msg']}" + (f" (got {err.get('input')!r})" if err["type"] != "value_error" else "")
            msg = msg.replace("Value error, ", "")
        src = lines[line - 1] if 0 < line <= len(lines) else None
        diags.append(Diagnostic("error", "C001", msg, file, line, col, hint=hint, source_line=src))
    return EbmError(diags)


def parse_config(text: str, file: str = "<config>") -> TrainConfig:
    """A validated TrainConfig from TOML text; EbmError with file:line:col for every mistake."""
    return parse_toml(text, file, TrainConfig)


def parse_toml(text: str, file: str, schema: type[M], overrides: dict[str, Any] | None = None) -> M:
    """A validated config of any schema (training, agent) from TOML text, with `overrides` (the command
    line's) over its top-level keys before validation; EbmError with file:line:col for every mistake."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        lines = text.splitlines()
        src = lines[line - 1] if 0 < line <= len(lines) else None
        raise EbmError([Diagnostic("error", "C000", f"not valid TOML: {exc}", file, line, col, source_line=src,
                                   hint="keys are written key = value; strings need double quotes")]) from None
    raw.update(overrides or {})
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, text, file, schema) from None


def read_config_text(path: str | Path) -> str:
    """A config file's text; one that cannot be read is a C000 error naming it."""
    try:
        return read_bounded(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise EbmError([Diagnostic("error", "C000", f"cannot read config '{path}': {why}", str(path))]) from None


def load_config(path: str | Path) -> TrainConfig:
    p = Path(path)
    text = read_config_text(p)
    cfg = parse_config(text, str(path))
    cfg_file_dir = p.resolve().parent
    if cfg.data is not None and not Path(cfg.data.source).is_absolute() and "." in Path(cfg.data.source).name:
        cfg.data.source = str(cfg_file_dir / cfg.data.source)
    cfg.__dict__["_text"] = text
    cfg.__dict__["_file"] = str(path)
    return cfg


def import_plugins(cfg: TrainConfig) -> None:
    """Import the modules `plugins = [...]` names (on the import path or in the config's folder),
    before the model file is read; a module that fails is a located config error (C001) saying why."""
    from ..plugins import PluginError, import_modules

    file = cfg.__dict__.get("_file")
    try:
        import_modules(cfg.plugins, [str(Path(file).resolve().parent)] if file else [])
    except PluginError as exc:
        text, file = cfg.__dict__.get("_text", ""), cfg.__dict__.get("_file", "<config>")
        line, col = _locate(text, ("plugins",))
        lines = text.splitlines()
        raise EbmError([Diagnostic("error", "C001", str(exc), file, line, col,
                                   source_line=lines[line - 1] if 0 < line <= len(lines) else None,
                                   hint="the module must be importable (installed, or on PYTHONPATH) and register "
                                        "its parts with ebmgraph.register(...)")]) from None

