"""The training loop: losses, samplers and regularizers around a compiled model, with progress,
metrics, plots, checkpoints that resume exactly, guards against divergence, a collapse monitor
and data-parallel training on torch.distributed."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..catalogue import FUNCTIONS, Config
from ..catalogue import regularizers as R
from ..catalogue.regularizers import REGULARIZERS
from ..checkpoint import CheckpointError, load_into, save
from ..checkpoint import read as read_checkpoint
from ..compiled import CompiledModel, _key
from ..diagnostics import Diagnostic, EbmError, did_you_mean
from ..files import OutputError, check_writable, describe, write_atomic
from ..inference import free_energy
from ..inference.domains import domain_values
from ..inference.method import ConvergenceWarning
from ..limits import Limits
from .config import TrainConfig, _locate
from .data import Dataset, held_out, init_from_data, make_dataset, subset
from .losses import LOSSES, LossSpec, gan_generator, margin
from .samplers import ContrastiveSampler

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
PLOT = "metrics.png"
SPLIT = "split.json"  # data.test_fraction: the held-out rows
TEST = "test.json"  # their mean free energy after training


class TrainingStopped(RuntimeError):
    """Training stopped on NaN/inf or divergence; the last good checkpoint is kept."""


class CollapseWarning(UserWarning):
    """A monitored representation collapsed (per-dimension std near 0 or effective rank near 1)."""


@dataclass
class TrainResult:
    history: list[dict[str, float]]
    out_dir: Path
    checkpoint: Path | None
    metrics: Path
    plot: Path | None
    collapse: list[str] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)  # data.test_fraction: the held-out rows' F_test


# ------------------------------------------------------------------ distributed helpers
def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _gather(x: torch.Tensor) -> torch.Tensor:
    """All processes' rows of a batch statistic's input, differentiably (VICReg on the global batch)."""
    _, world = _dist()
    if world == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(x.contiguous()), dim=0)


def init_distributed(timeout_s: float = 300.0) -> None:
    """Join the process group that torchrun describes in the environment (gloo on CPU, nccl on GPU).
    A rank that waits longer than `timeout_s` for the others (one failed) stops with an error."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not torch.distributed.is_initialized():
        import datetime
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))


def finish_distributed(ok: bool = True) -> None:
    """Leave the process group on every path (success, error, Ctrl-C), which joins gloo's threads
    (without it a process could end in 'terminate called without an active exception', SIGABRT).
    After a success a barrier comes first, so no rank tears down what another still uses; after a
    failure there is none (the others are in a collective this rank will not join: torchrun stops them)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if ok:
            try:
                torch.distributed.barrier()
            except RuntimeError:
                pass  # another rank failed meanwhile: leave anyway
        torch.distributed.destroy_process_group()


# ------------------------------------------------------------------ validation against the graph
@dataclass
class ActiveRegularizer:
    """A regularizer as training runs it: the model file's, overridden or added to by the config."""

    name: str
    kind: str
    on: list[str]
    options: dict[str, Any]  # every option of the catalogue entry, weight included
    source: str  # "model" (a regularize statement), "model + config" (overridden) or "config"


def active_regularizers(model: CompiledModel, cfg: TrainConfig, text: str | None = None,
                        file: str = "<config>") -> list[ActiveRegularizer]:
    """The model's `regularize` statements, then the config's entries: an entry overrides the
    model's regularizer of its `name` (or, unnamed, the one of its kind on the same variables),
    otherwise it adds one. Located errors for names and variables that do not exist."""
    g = model.graph
    active: dict[str, ActiveRegularizer] = {}
    for r in g.regularizers.values():
        opts = {**REGULARIZERS[r.method].defaults(), **dict(r.options)}
        active[r.name] = ActiveRegularizer(r.name, r.method, list(r.args), opts, "model")
    diags: list[Diagnostic] = []
    for i, rc in enumerate(cfg.regularizers):
        target = None
        if rc.name is not None and rc.name in active:
            target = active[rc.name]
        elif rc.name is None:
            target = next((a for a in active.values() if a.source == "model" and a.kind == rc.kind
                           and (rc.on is None or a.on == list(rc.on))), None)
        if target is not None:
            kind = rc.kind or target.kind
            base = target.options if kind == target.kind else REGULARIZERS[kind].defaults()
            on = list(rc.on) if rc.on is not None else target.on
            if len(on) != REGULARIZERS[kind].arity:
                diags.append(_config_diag(text, file, ("regularizers", i, "on"),
                                          f"{kind} takes {REGULARIZERS[kind].arity} variable(s); give on = [...]"))
                continue
            active[target.name] = ActiveRegularizer(target.name, kind, on, {**base, **rc.options}, "model + config")
            continue
        if rc.kind is None or rc.on is None:
            have = ", ".join(active) or "none"
            diags.append(_config_diag(text, file, ("regularizers", i, "name"),
                                      f"the model has no regularizer named '{rc.name}' to override (it has {have}); "
                                      "to add one, give kind and on"))
            continue
        name = rc.name or (rc.kind if rc.kind not in active else f"{rc.kind}{i}")
        active[name] = ActiveRegularizer(name, rc.kind, list(rc.on), {**REGULARIZERS[rc.kind].defaults(),
                                                                      **rc.options}, "config")
    if diags:
        raise EbmError(diags)
    return list(active.values())


def _config_diag(text: str | None, file: str, loc: tuple[Any, ...], message: str, hint: str | None = None
                 ) -> Diagnostic:
    line, col = _locate(text or "", loc)
    lines = (text or "").splitlines()
    src = lines[line - 1] if text and 0 < line <= len(lines) else None
    return Diagnostic("error", "C002", message, file, line, col, hint=hint, source_line=src)


def check_config(model: CompiledModel, cfg: TrainConfig, text: str | None = None, file: str = "<config>") -> None:
    """Every variable a config names must exist in the graph: a located error with the choices."""
    g = model.graph
    variables = sorted(v.name for v in g.variables if not v.anonymous)
    names = set(variables)
    inputs = sorted(model.inputs)
    diags: list[Diagnostic] = []

    def bad(loc: tuple[Any, ...], name: str, choices: list[str], what: str) -> None:
        close = did_you_mean(name, choices)
        hint = (f"{close} " if close else "") + f"{what}: {', '.join(choices)}"
        diags.append(_config_diag(text, file, loc, f"'{'.'.join(map(str, loc))}' names '{name}', which is not "
                                  f"{'an input variable' if what.startswith('inputs') else 'a variable'} of "
                                  f"{g.name}", hint))

    for i, reg in enumerate(cfg.regularizers):
        for n in reg.on or []:
            if n not in names:
                bad(("regularizers", i, "on"), n, variables, "variables")
    for n in cfg.monitor:
        if n not in names:
            bad(("monitor",), n, variables, "variables")
    for key in ("target", "corrupt"):
        n = getattr(cfg.loss, key)
        if n is not None and n not in model.inputs:
            bad(("loss", key), n, inputs, "inputs")
    for n in cfg.loss.pair or []:
        if n not in model.inputs:
            bad(("loss", "pair"), n, inputs, "inputs")
    if cfg.data is not None:
        for n in cfg.data.map:
            if n not in model.inputs:
                bad(("data", "map", n), n, inputs, "inputs")
    if LOSSES[cfg.loss.kind].needs_target and cfg.loss.target is None:
        diags.append(_config_diag(text, file, ("loss", "kind"), f"loss '{cfg.loss.kind}' needs target = "
                                  "\"<variable>\": the variable whose contrastive samples are made",
                                  "inputs: " + ", ".join(inputs)))
    lim = cfg.limits.apply(model.graph.limits)
    counts = [(("max_steps",), cfg.max_steps, "max_train_steps", "optimizer steps"),
              (("epochs",), cfg.epochs, "max_train_steps", "epochs (each at least one optimizer step)"),
              (("data", "n_samples"), cfg.data.n_samples if cfg.data else None, "max_rows", "generated rows")]
    for where, value, bound, what in counts:
        if value is not None and value > getattr(lim, bound):
            diags.append(_config_diag(text, file, where, f"{'.'.join(where)} = {value} asks for more {what} than "
                                      f"the limit {bound} = {getattr(lim, bound)}",
                                      f"lower it, or raise the limit: [limits] {bound} = ... (or "
                                      f"{Limits.flag(bound)} on the command line)"))
    s = cfg.sampler
    if s is not None:
        for key, bound in (("n", "max_draws"), ("steps", "max_steps"), ("buffer_size", "max_draws")):
            value = getattr(s, key)
            if value > getattr(lim, bound):
                diags.append(_config_diag(text, file, ("sampler", key), f"sampler.{key} = {value} is more work than "
                                          f"the limit {bound} = {getattr(lim, bound)}",
                                          f"lower it, or raise the limit: [limits] {bound} = ... (or "
                                          f"{Limits.flag(bound)} on the command line)"))
    if diags:
        raise EbmError(diags)
    for r in active_regularizers(model, cfg, text, file):
        if REGULARIZERS[r.kind].on_input:
            for n in r.on:
                if n not in model.inputs:
                    raise EbmError([_config_diag(text, file, ("regularizers",), f"{r.kind} '{r.name}' acts on an "
                                                 f"input variable; '{n}' is not one ({', '.join(inputs)})")])


# ------------------------------------------------------------------ the loop
class Trainer:
    def __init__(self, model: CompiledModel, cfg: TrainConfig, data: Dataset):
        self.model, self.cfg, self.data = model, cfg, data
        self.rank, self.world = _dist()
        self.sampler = (ContrastiveSampler(model, cfg.sampler, cfg.loss.target)
                        if cfg.sampler is not None and cfg.loss.target is not None and cfg.sampler.kind != "exhaustive"
                        else None)
        self.regularizers = active_regularizers(model, cfg, cfg.__dict__.get("_text"),
                                                cfg.__dict__.get("_file", "<config>"))
        self.expanders = nn.ModuleDict()
        for reg in self.regularizers:
            if reg.options.get("expander"):
                d = model.graph.var(reg.on[0]).domain.numel
                self.expanders[_key(reg.name)] = FUNCTIONS["mlp"].build(
                    Config((d, *reg.options["expander"]), {}), [(d,)])
        self.generator: nn.Module | None = None
        self.gen_opt: torch.optim.Optimizer | None = None
        if cfg.loss.kind == "gan":
            t = model.inputs[cfg.loss.target or ""]
            d = t.domain.numel
            self.generator = nn.Sequential(nn.Linear(cfg.loss.generator_noise, cfg.loss.generator_hidden), nn.ReLU(),
                                           nn.Linear(cfg.loss.generator_hidden, d))
            self.gen_opt = torch.optim.Adam(self.generator.parameters(), lr=cfg.optimizer.lr)
        params = [p for p in list(model.parameters()) + list(self.expanders.parameters()) if p.requires_grad]
        if not params:
            fixed = sorted(n for n, f in model.graph.fns.items() if f.fixed)
            raise ValueError(f"{model.graph.name} has nothing to train: it has no parameters"
                             + (f" but those of its fixed functions ({', '.join(fixed)})" if fixed else "")
                             + "; its energy can be computed and inferred without training")
        o = cfg.optimizer
        if o.kind == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum,
                                                              weight_decay=o.weight_decay)
        elif o.kind == "adamw":
            self.opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        else:
            self.opt = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        self.step = 0
        self.epoch = 0

    def lr_at(self, step: int, total: int) -> float:
        s, base = self.cfg.schedule, self.cfg.optimizer.lr
        if s.warmup_steps and step < s.warmup_steps:
            return base * (step + 1) / s.warmup_steps
        if s.kind == "cosine":
            t = min(1.0, (step - s.warmup_steps) / max(1, total - s.warmup_steps))
            return base * 0.5 * (1 + math.cos(math.pi * t))
        if s.kind == "step":
            return base * s.gamma ** (step // s.step_every)
        return base

    # ------------------------------------------------------------ one step's loss
    def free(self, values: dict[str, torch.Tensor]) -> Any:
        return free_energy(self.model, values, validate=False)  # the dataset was checked against the graph

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float], Any]:
        """One step's loss: the data's free energy, the loss of its kind against its contrastive
        samples (losses.py), the regularizers, and the losses the inference methods define."""
        cfg = self.cfg
        kind = cfg.loss.kind
        spec = LOSSES[kind]
        parts: dict[str, float] = {}
        r = self.free(self._corrupted(batch) if kind == "denoising" else batch)
        f_pos = r.free_energy
        parts["F_data"] = float(f_pos.detach().mean())
        per = getattr(self, f"_contrast_{spec.contrast}")(spec, batch, f_pos, parts)
        total = per.mean()
        parts["loss_" + kind] = float(total.detach())
        values = {**r.all_values, **r.values}
        for reg in self.regularizers:
            rspec = REGULARIZERS[reg.kind]
            if float(reg.options["weight"]) == 0.0:
                continue  # switched off by the config
            vs = [values[n] for n in reg.on]
            if _key(reg.name) in self.expanders:
                vs = [self.expanders[_key(reg.name)](v.reshape(v.shape[0], -1)) for v in vs]
            if rspec.on_input:  # score matching on an input variable, other inputs as given
                name = reg.on[0]
                others = {k: v for k, v in batch.items() if k != name}

                def energy_of(y: torch.Tensor, others: dict[str, torch.Tensor] = others, name: str = name
                              ) -> torch.Tensor:
                    return self.model.total_energy({**others, name: y})

                value, sub = rspec.fn([batch[name]], reg.options, energy_of)
            else:
                gathered = [_gather(v) for v in vs] if rspec.info_maximizing else vs  # batch statistics: global
                value, sub = rspec.fn(gathered, reg.options)
            total = total + float(reg.options["weight"]) * value
            for k, v in sub.items():
                parts[f"{reg.name}.{k}"] = v
        for k, h in r.losses.items():  # losses the inference defines (an amortized encoder's H)
            total = total + h.mean()
            parts[k] = float(h.detach().mean())
        for k, v in r.terms.items():
            parts[f"E.{k}"] = float(v.detach().mean())
        for var, d in r.diagnostics.items():  # how inference ended: the share of samples that converged
            c = d.get("converged")
            if c is not None:
                parts[f"converged.{var}"] = float(c.float().mean()) if isinstance(c, torch.Tensor) else float(c)
        parts["loss"] = float(total.detach())
        return total, parts, values

    def _corrupted(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Row 10's input: the `corrupt` variable with noise (and a mask) from the sampler's settings."""
        noisy = dict(batch)
        s, name = self.cfg.sampler, self.cfg.loss.corrupt or ""
        std, p = (s.noise, s.mask) if s is not None else (0.1, 0.0)
        x = batch[name] + std * torch.randn_like(batch[name])
        noisy[name] = x * (torch.rand_like(x) >= p) if p > 0 else x
        return noisy

    def _contrast_none(self, spec: LossSpec, batch: dict[str, torch.Tensor], f_pos: torch.Tensor,
                       parts: dict[str, float]) -> torch.Tensor:
        return spec.fn(f_pos)

    def _contrast_exhaustive(self, spec: LossSpec, batch: dict[str, torch.Tensor], f_pos: torch.Tensor,
                             parts: dict[str, float]) -> torch.Tensor:
        t = self.model.inputs[self.cfg.loss.target or ""]
        every = domain_values(t.domain, f_pos.device)
        K, B = every.shape[0], f_pos.shape[0]
        reps = {k: v.repeat_interleave(K, dim=0) for k, v in batch.items() if k != t.name}
        f_all = self.free({**reps, t.name: every.repeat(B, *([1] * (every.dim() - 1)))}).free_energy.reshape(B, K)
        return spec.fn(f_pos, f_all, self.cfg.loss.beta)

    def _contrast_batch(self, spec: LossSpec, batch: dict[str, torch.Tensor], f_pos: torch.Tensor,
                        parts: dict[str, float]) -> torch.Tensor:
        _, second = self.cfg.loss.pair or ["", ""]
        B = f_pos.shape[0]
        rows = {k: v.repeat_interleave(B, dim=0) for k, v in batch.items() if k != second}
        rows[second] = batch[second].repeat(B, *([1] * (batch[second].dim() - 1)))
        return spec.fn(self.free(rows).free_energy.reshape(B, B), self.cfg.loss.temperature)

    def _contrast_generator(self, spec: LossSpec, batch: dict[str, torch.Tensor], f_pos: torch.Tensor,
                            parts: dict[str, float]) -> torch.Tensor:
        assert self.generator is not None
        t = self.model.inputs[self.cfg.loss.target or ""]
        B = f_pos.shape[0]
        fake = self.generator(torch.randn(B, self.cfg.loss.generator_noise)).reshape(B, *t.domain.shape)
        others = {k: v for k, v in batch.items() if k != t.name}
        f_fake = self.free({**others, t.name: fake.detach()}).free_energy
        parts["F_contrastive"] = float(f_fake.detach().mean())
        self._gan_others, self._gan_target = others, t.name
        return spec.fn(f_pos, f_fake[:, None])

    def _contrast_sampler(self, spec: LossSpec, batch: dict[str, torch.Tensor], f_pos: torch.Tensor,
                          parts: dict[str, float]) -> torch.Tensor:
        assert self.sampler is not None
        cfg, tname = self.cfg.loss, self.cfg.loss.target or ""
        y_neg = self.sampler(batch)
        B, N = y_neg.shape[:2]
        reps = {k: v.repeat_interleave(N, dim=0) for k, v in batch.items() if k != tname}
        f_neg = self.free({**reps, tname: y_neg.reshape(B * N, *y_neg.shape[2:])}).free_energy.reshape(B, N)
        parts["F_contrastive"] = float(f_neg.detach().mean())
        if spec.uses_margin:
            return spec.fn(f_pos, f_neg, margin(batch[tname].float(), y_neg.float(), cfg.margin, cfg.margin_scale,
                                                cfg.margin_distance))
        if spec.uses_beta:
            return spec.fn(f_pos, f_neg, cfg.beta)
        return spec.fn(f_pos, f_neg)

    # ------------------------------------------------------------ state for exact resume
    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"optimizer": self.opt.state_dict(), "step": self.step, "epoch": self.epoch,
                              "expanders": self.expanders.state_dict()}
        if self.sampler is not None:
            st["sampler"] = self.sampler.state_dict()
        if self.generator is not None and self.gen_opt is not None:
            st["generator"] = self.generator.state_dict()
            st["generator_opt"] = self.gen_opt.state_dict()
        return st

    def restore(self, st: dict[str, Any]) -> None:
        self.opt.load_state_dict(st["optimizer"])
        self.step, self.epoch = int(st["step"]), int(st["epoch"])
        self.expanders.load_state_dict(st.get("expanders", {}))
        if self.sampler is not None and "sampler" in st:
            self.sampler.load_state_dict(st["sampler"])
        if self.generator is not None and "generator" in st and self.gen_opt is not None:
            self.generator.load_state_dict(st["generator"])
            self.gen_opt.load_state_dict(st["generator_opt"])


def _metrics_until(path: Path, step: int) -> list[dict[str, float]]:
    """The metrics rows up to `step` (a torn last line from a killed run is dropped)."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int | float) and row["step"] <= step:
            rows.append(row)
    return rows


def _save(model: CompiledModel, ckpt: Path, trainer: Trainer, stats: dict[str, Any], last_good: Path | None) -> Path:
    """Write the checkpoint; a failed write (a full disk) stops training and says which checkpoint is kept."""
    try:
        return save(model, ckpt, extra=trainer.state(), standardization=stats)
    except OutputError as exc:
        kept = (f"the last good checkpoint, {last_good}, is kept" if last_good is not None else
                "no checkpoint had been written yet")
        raise TrainingStopped(f"step {trainer.step}: {exc}; {kept}. Free some space (or choose an out_dir on "
                              "another disk) and continue with --resume") from None


def seed_step(seed: int) -> None:
    """Seed the generators a step draws from (cheaper than torch.manual_seed, which visits every backend)."""
    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.manual_seed(seed)


def _grad_norm(params: list[nn.Parameter]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0  # one fused (foreach) norm


class _GracefulStop:
    """Ctrl-C during training: the step in progress finishes, a checkpoint is written, then the run
    stops (KeyboardInterrupt, saying how to resume). A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _config_error(cfg: Any, loc: tuple[str, ...], message: str, hint: str | None = None) -> EbmError:
    """A mistake in a config read from a file (training or agent), located at its key."""
    text, file = cfg.__dict__.get("_text") or "", cfg.__dict__.get("_file", "<config>")
    line, col = _locate(text, loc)
    lines = text.splitlines()
    return EbmError([Diagnostic("error", "C001", message, file, line, col, hint=hint,
                                source_line=lines[line - 1] if 0 < line <= len(lines) else None)])


def set_threads(threads: int | None) -> int:
    """torch's intra-op threads: as asked, or 1 on a machine of 4 cores or fewer, where torch's
    default (one per core) made the small models of benchmarks/ up to 20x slower on a loaded machine."""
    n = threads if threads is not None else (1 if (os.cpu_count() or 1) <= 4 else min(8, os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


def resolve_device(name: str) -> torch.device:
    """The device a config names; a clear error when it is not there."""
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"device = \"{name}\" is not a device; write \"cpu\" or \"cuda\" (or \"cuda:1\")") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device = \"{name}\" but torch sees no CUDA device here; use device = \"cpu\"")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device = \"{name}\" but there are {torch.cuda.device_count()} CUDA device(s)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device = \"{name}\" is not supported; write \"cpu\" or \"cuda\"")
    return dev


def _collapse(values: dict[str, torch.Tensor], names: list[str], initial: dict[str, float]
              ) -> tuple[dict[str, float], list[str]]:
    """Per-dimension std and effective rank of each monitored representation; collapsed when the std
    fell below 10% of its value at the first step (or 1e-4), or the effective rank below 1.5."""
    metrics, collapsed = {}, []
    for n in names:
        if n not in values:
            continue
        z = values[n].detach().reshape(values[n].shape[0], -1).float()
        if z.shape[0] < 2:
            continue
        std = R.std_per_dim(z)
        rank = R.effective_rank(z)
        metrics[f"collapse.{n}.std_mean"] = float(std.mean())
        metrics[f"collapse.{n}.std_min"] = float(std.min())
        metrics[f"collapse.{n}.effective_rank"] = rank
        first = initial.setdefault(n, float(std.mean()))
        if float(std.mean()) < max(0.1 * first, 1e-4) or (z.shape[1] > 1 and rank < 1.5):
            collapsed.append(f"'{n}' has collapsed: mean per-dimension std {float(std.mean()):.2e}, "
                             f"effective rank {rank:.2f} of {z.shape[1]}")
    return metrics, collapsed


def plot_metrics(history: list[dict[str, float]], path: Path) -> Path | None:
    """Loss parts and collapse monitor against the step, as a PNG (plots.training_curves)."""
    from ..plots import training_curves
    fig = training_curves(history)
    if fig is None:
        return None
    import matplotlib.pyplot as plt
    write_atomic(path, lambda fh: fig.savefig(fh, dpi=90, format="png"))
    plt.close(fig)
    return path


def train(model: CompiledModel, config: TrainConfig | dict[str, Any], data: Dataset | None = None, *,
          resume: bool = False, on_step: Callable[[dict[str, float]], bool | None] | None = None) -> TrainResult:
    """Train a compiled model as the config says; see TrainConfig for every option.
    `on_step(row)` sees each step's metrics (live curves); returning False stops after that step,
    with a checkpoint written."""
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config)
    check_config(model, cfg, cfg.__dict__.get("_text"), cfg.__dict__.get("_file", "<config>"))
    try:
        device = resolve_device(cfg.device)
    except ValueError as exc:
        raise _config_error(cfg, ("device",), str(exc)) from None
    if cfg.threads is not None:  # from Python, torch's own setting stands unless the config names one;
        set_threads(cfg.threads)  # `ebm train` applies the default (set_threads(None)) itself
    model.to(device)
    rank, world = _dist()
    out = Path(cfg.out_dir)
    ckpt, metrics_path = out / CHECKPOINT, out / METRICS
    if out.exists() and not out.is_dir():
        raise OutputError(f"out_dir '{out}' is {'a file' if out.is_file() else 'a device, a pipe or a socket'}, not a "
                          "folder; choose another out_dir")
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"'{out}' already holds a run; pass resume=True (ebm train --resume) to continue "
                              "it, or choose another out_dir: nothing there is overwritten")
    if data is None:
        if cfg.data is None:
            raise ValueError("no data: pass a Dataset or give the config a [data] section")
        data = make_dataset(model, cfg.data, cfg.seed)  # standardized on the training rows of the split
    held: Dataset | None = None
    if cfg.data is not None and cfg.data.test_fraction > 0:
        train_rows, test_rows = held_out(len(data), cfg.data.test_fraction, cfg.seed)
        data, held = subset(data, train_rows), subset(data, test_rows)
        held_rows = [int(i) for i in test_rows]
    if cfg.init and not (resume and ckpt.exists()):  # a resume continues from the checkpoint's tables
        init_from_data(model, cfg.init, data, cfg.seed)
    trainer = Trainer(model, cfg, data)
    if world > 1:  # every process starts from rank 0's weights, as DistributedDataParallel does
        with torch.no_grad():
            for param in list(model.parameters()) + list(trainer.expanders.parameters()):
                torch.distributed.broadcast(param, src=0)
    history: list[dict[str, float]] = []
    if resume and ckpt.exists():
        payload = read_checkpoint(ckpt, training=True)  # the safe loader, training state checked
        load_into(model, ckpt)
        try:
            trainer.restore(payload["extra"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"checkpoint '{ckpt}' does not fit this run's optimizer or sampler ({exc}); was "
                                  "the config changed? start a new run in another out_dir") from None
        if metrics_path.exists():
            history = _metrics_until(metrics_path, trainer.step)
            if rank == 0:  # the steps after the checkpoint are replayed: their rows go
                write_atomic(metrics_path, "".join(json.dumps(h) + "\n" for h in history))
    elif resume and not ckpt.exists() and out.exists() and any(out.iterdir()):
        raise CheckpointError(f"'{out}' has no {CHECKPOINT} to resume from")
    made_dir = not out.exists()
    if rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make out_dir '{out}': {describe(exc)}") from None
        check_writable(metrics_path)
    if held is not None and rank == 0:  # which rows were held out, kept with the run
        write_atomic(out / SPLIT, json.dumps({"test_fraction": cfg.data.test_fraction if cfg.data else 0,
                                              "seed": cfg.seed, "train_rows": len(data),
                                              "test_rows": held_rows}) + "\n")
    n = len(data)
    gb = cfg.batch_size
    # an epoch covers every sample: batches of batch_size, and the remainder as one more batch, or,
    # when it is under half a batch, as part of the last (1797 digits in 256s: 6 of 256 and one of 261;
    # in 20s: 89 of 20 and one of 17, the 90 steps scikit-learn takes). Data-parallel, each batch is cut
    # to a multiple of the processes (collectives need equal shapes): at most world - 1 rows sit out.
    full, rest = divmod(n, gb)
    steps_per_epoch = max(1, full + (1 if rest and (full == 0 or 2 * rest >= gb) else 0))

    def rows_of(i: int) -> tuple[int, int]:
        start, end = i * gb, (i + 1) * gb if i < steps_per_epoch - 1 else n
        return start, start + (end - start) // world * world

    total = cfg.max_steps or steps_per_epoch * cfg.epochs
    limit = cfg.limits.apply(model.graph.limits).max_train_steps
    if total > limit:
        raise _config_error(cfg, ("epochs",), f"{cfg.epochs} epochs of {steps_per_epoch} batches are {total} optimizer "
                            f"steps, more than the limit max_train_steps = {limit}",
                            hint="fewer epochs or a larger batch_size, or raise the limit: [limits] max_train_steps = ...")
    monitor = cfg.monitor or sorted({v for r in trainer.regularizers for v in r.on
                                     if REGULARIZERS[r.kind].info_maximizing})
    params = [p for group in trainer.opt.param_groups for p in group["params"]]
    collapse_msgs: list[str] = []
    initial_std: dict[str, float] = {}
    bar = None
    if cfg.progress and rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, initial=trainer.step, desc=f"train {model.graph.name}", unit="step",
                   dynamic_ncols=True)
    last_good: Path | None = ckpt if ckpt.exists() else None
    pending: list[str] = []  # metrics rows not yet written: they go out with each checkpoint (a resume
    # replays the steps after the last checkpoint and drops their rows anyway), and at the end
    last_save = time.monotonic()
    # one process: Ctrl-C finishes the step and saves; in a data-parallel run every rank gets the signal
    # at its own step, so it interrupts at once (torchrun stops the group) rather than let ranks diverge
    stop = _GracefulStop() if world == 1 else None

    def flush() -> None:
        if rank != 0 or not pending:
            return
        try:
            with metrics_path.open("a") as fh:
                fh.write("".join(pending))
        except OSError as exc:
            kept = f"the last good checkpoint, {last_good}, is kept" if last_good else "no checkpoint was written"
            raise TrainingStopped(f"step {trainer.step}: cannot write '{metrics_path}': {describe(exc)}; "
                                  f"{kept}. Free some space and continue with --resume") from None
        pending.clear()

    def checkpoint() -> None:
        nonlocal last_good, last_save
        flush()
        if rank == 0:
            last_good = _save(model, ckpt, trainer, stats, last_good)
        last_save = time.monotonic()

    model.train()
    # the data arrives standardized: the model takes it as it is during training, and raw values
    # (standardized by the data's statistics, which every checkpoint keeps) afterwards
    stats = dict(data.standardization)
    model.standardization = {}
    started = last_good is not None
    try:
        orders: dict[int, torch.Tensor] = {}  # the epoch's shuffle, made once per epoch (not per step)
        while trainer.step < total:
            epoch = trainer.step // steps_per_epoch
            trainer.epoch = epoch
            if epoch not in orders:
                orders.clear()
                orders[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
            order = orders[epoch]
            i = trainer.step % steps_per_epoch
            lo, hi = rows_of(i)
            idx = order[lo:hi]
            seed_step(cfg.seed * 1_000_003 + trainer.step)  # every random draw of a step: exact resume
            batch = data.batch(idx)  # the global batch, augmented the same way in every process
            if world > 1:
                batch = {k: v[rank::world] for k, v in batch.items()}
            if device.type != "cpu":
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            for group in trainer.opt.param_groups:
                group["lr"] = trainer.lr_at(trainer.step, total)
            trainer.opt.zero_grad(set_to_none=True)
            loss, parts, values = trainer.loss(batch)
            value = float(loss.detach())
            if not math.isfinite(value) or abs(value) > cfg.divergence:
                why = "is not finite" if not math.isfinite(value) else f"exceeds divergence = {cfg.divergence:g}"
                kept = f"the last good checkpoint is kept at {last_good}" if last_good else "no checkpoint was written"
                raise TrainingStopped(f"step {trainer.step}: the loss {value:.4g} {why}; stopped. {kept}. "
                                      "Lower optimizer.lr, add grad_clip, or check the data for NaN")
            loss.backward()
            if world > 1:
                for p in params:
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                        p.grad /= world
            gnorm = _grad_norm(params)
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            trainer.opt.step()
            if trainer.generator is not None and trainer.gen_opt is not None:
                trainer.gen_opt.zero_grad(set_to_none=True)
                t = model.inputs[cfg.loss.target or ""]
                B = next(iter(batch.values())).shape[0]
                fake = trainer.generator(torch.randn(B, cfg.loss.generator_noise)).reshape(B, *t.domain.shape)
                g_loss = gan_generator(model.free_energy(**trainer._gan_others, **{t.name: fake}).free_energy).mean()
                grads = torch.autograd.grad(g_loss, list(trainer.generator.parameters()))
                for p, g in zip(trainer.generator.parameters(), grads, strict=True):
                    p.grad = g
                trainer.gen_opt.step()
                parts["generator_loss"] = float(g_loss.detach())
            trainer.step += 1
            row = {"step": trainer.step, "epoch": epoch, "lr": trainer.opt.param_groups[0]["lr"], "grad_norm": gnorm,
                   **parts}
            end_of_epoch = trainer.step % steps_per_epoch == 0 or trainer.step == total
            if end_of_epoch or trainer.step == 1:
                cm, collapsed = _collapse(values, monitor, initial_std)
                row.update(cm)
                for msg in collapsed:
                    if msg not in collapse_msgs:
                        collapse_msgs.append(msg)
                        warnings.warn(f"collapse: {msg} (003 sec. 4.3, Fig. 10); add an information-maximizing "
                                      "regularizer such as vicreg, or a contrastive loss", CollapseWarning,
                                      stacklevel=2)
            history.append(row)
            if rank == 0:
                pending.append(json.dumps(row) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}", epoch=epoch, refresh=False)
            asked = on_step is not None and on_step(row) is False
            interrupted = stop is not None and stop.requested  # Ctrl-C during this step: it is complete now
            if asked or interrupted:
                checkpoint()
                if interrupted:
                    raise KeyboardInterrupt(f"interrupted after step {trainer.step}; the checkpoint {last_good} "
                                            "is complete: continue with --resume")
                break
            if (trainer.step % cfg.checkpoint_every == 0 or trainer.step == total
                    or time.monotonic() - last_save >= cfg.checkpoint_seconds):
                checkpoint()
    except BaseException:
        # a run that failed before its first checkpoint leaves nothing in the way of a rerun
        if rank == 0 and not started and last_good is None:
            pending.clear()
            metrics_path.unlink(missing_ok=True)
            if made_dir and out.exists() and not any(out.iterdir()):
                out.rmdir()
        raise
    finally:
        model.standardization = stats
        if stop is not None:
            stop.restore()
        if bar is not None:
            bar.close()
        try:
            flush()  # the rows of the steps run (a resume drops those after its checkpoint)
        except TrainingStopped:
            pass
    plot = plot_metrics(history, out / PLOT) if rank == 0 and cfg.plot else None
    test = evaluate(model, held, gb) if held is not None else {}
    if test and rank == 0:
        write_atomic(out / TEST, json.dumps(test) + "\n")
    return TrainResult(history, out, last_good, metrics_path, plot, collapse_msgs, test)


def evaluate(model: CompiledModel, data: Dataset, batch_size: int) -> dict[str, float]:
    """The held-out rows' mean free energy (latents eliminated as declared), in batches."""
    return {"F_test": mean_free_energy(model, data, batch_size)[0], "test_rows": float(len(data))}


def mean_free_energy(model: CompiledModel, data: Dataset, batch_size: int, keep: tuple[str, ...] = ()
                     ) -> tuple[float, dict[str, torch.Tensor]]:
    """The rows' mean free energy (latents eliminated as declared), in batches, no augmentation;
    with the value inference reached for each latent in `keep` that has one (a marginalized latent
    has none)."""
    total, n = 0.0, len(data)
    kept: dict[str, list[torch.Tensor]] = {name: [] for name in keep}
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n))
        batch = {k: t[idx].to(model._device()) for k, t in data.tensors.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a report per batch would repeat itself
            res = free_energy(model, batch, validate=False)
        total += float(res.free_energy.detach().sum())
        for name in keep:
            if name in res.values:
                kept[name].append(res.values[name].detach().cpu())
    return total / max(n, 1), {name: torch.cat(v) for name, v in kept.items() if v}
