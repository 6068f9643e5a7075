"""The `ebm` command: check, fmt, render (and the trainers' and app's commands as they arrive)."""

from __future__ import annotations

import functools
import inspect
import json
import math
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .diagnostics import Diagnostic, EbmError
from .files import OutputError, check_writable, read_bounded, write_atomic
from .frontend import check_file, decode, load
from .limits import DEFAULT as DEFAULT_LIMITS
from .limits import NAMES as LIMIT_NAMES
from .limits import Limits
from .printer import dumps_file
from .syntax import parse

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ebmgraph: energy-based model diagrams as .ebm files.")


def with_limits(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the --max-* options of ebmgraph.limits.Limits; it receives `limits=Limits(...)`."""
    hints = typing.get_type_hints(command, include_extras=True)
    sig = inspect.signature(command)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=Annotated[float | None, typer.Option(Limits.flag(name), help=f"raise the "
                                                    f"limit {name} (default {getattr(DEFAULT_LIMITS, name):g})",
                                                    show_default=False)])
             for name in LIMIT_NAMES]
    wants_params = "params" in sig.parameters
    if wants_params:
        extra.append(inspect.Parameter(
            "param", inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[list[str] | None, typer.Option("--param", "-p", help="set a model parameter: "
                                                                "--param T=10 (repeat for more)")]))
    extra.append(inspect.Parameter(
        "plugins", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[list[str] | None, typer.Option(
            "--plugins", help="a Python module that registers parts (ebmgraph.register), imported first; found on "
            "the import path, in the working folder or beside the .ebm file: --plugins myparts (repeat for more)")]))
    params = [p.replace(annotation=hints[p.name]) for p in sig.parameters.values()
              if p.name not in ("limits", "params")] + extra

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        _import_plugins(kwargs.pop("plugins", None) or [], kwargs.get("file") or (kwargs.get("files") or [None])[0])
        given = {n: kwargs.pop(n) for n in LIMIT_NAMES if n in kwargs}
        for n, v in given.items():
            if v is not None and not (math.isfinite(v) and v > 0 and (n == "max_sample_mb" or v == int(v))):
                typer.echo(f"error: {Limits.flag(n)} must be a positive {'number' if n == 'max_sample_mb' else 'whole number'}"
                           f", got {v:g}", err=True)
                raise typer.Exit(2)
        kwargs["limits"] = DEFAULT_LIMITS.with_(**{n: (v if n == "max_sample_mb" else int(v))
                                                   for n, v in given.items() if v is not None})
        if wants_params:
            kwargs["params"] = _parse_params(kwargs.pop("param", None) or [])
        command(*args, **kwargs)

    run.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def _import_plugins(modules: list[str], file: Path | None) -> None:
    """--plugins: import the modules (the working folder and the .ebm file's on the path); one that
    cannot be imported is a message and exit 2, nothing else run."""
    if not modules:
        return
    from .plugins import PluginError, import_modules
    folders = [str(Path.cwd())] + ([str(Path(file).resolve().parent)] if file is not None else [])
    try:
        import_modules(modules, folders)
    except PluginError as exc:
        typer.echo(f"error: --plugins: {exc}", err=True)
        raise typer.Exit(2) from None


def _parse_params(items: list[str]) -> dict[str, int | float]:
    """`T=10`, `lr=0.5` -> {"T": 10, "lr": 0.5}; a malformed one is a usage error (exit 2)."""
    out: dict[str, int | float] = {}
    for item in items:
        name, eq, value = item.partition("=")
        try:
            if not eq or not name.strip().isidentifier():
                raise ValueError
            v = value.strip()
            out[name.strip()] = int(v) if v.lstrip("-").isdigit() else float(v)
        except ValueError:
            raise typer.BadParameter(f"'{item}': write --param NAME=NUMBER, e.g. --param T=10",
                                     param_hint="--param") from None
    return out


def _read(path: Path) -> str:
    try:
        return decode(read_bounded(path), str(path))
    except OSError as exc:
        d = Diagnostic("error", "E004", f"cannot read '{path}': {exc.strerror or exc}", str(path))
        raise EbmError([d]) from None


@app.command()
@with_limits
def check(files: Annotated[list[Path], typer.Argument(help=".ebm files to check")],
          as_json: Annotated[bool, typer.Option("--json", help="print diagnostics as JSON")] = False,
          model: Annotated[str | None, typer.Option(help="check only this model of each file (its parameters "
                                                         "from --param)")] = None,
          limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """Parse and check FILES; exit 0 when clean, 1 when any has errors."""
    all_diags: list[Diagnostic] = []
    for f in files:
        try:
            diags = check_file(_read(f), str(f), limits=limits, model=model, params=params or None)
        except EbmError as exc:
            diags = exc.diagnostics
        all_diags.extend(diags)
    errors = sum(d.severity == "error" for d in all_diags)
    warnings = len(all_diags) - errors
    if as_json:
        typer.echo(json.dumps({"diagnostics": [d.to_json() for d in all_diags], "errors": errors,
                               "warnings": warnings}, indent=2))
    else:
        for d in all_diags:
            typer.echo(d.render() + "\n", err=True)
        status = "ok" if not errors else "failed"
        typer.echo(f"{status}: {len(files)} file(s), {errors} error(s), {warnings} warning(s)", err=True)
    raise typer.Exit(1 if errors else 0)


@app.command()
def fmt(files: Annotated[list[Path], typer.Argument(help=".ebm files to format")],
        check_only: Annotated[bool, typer.Option("--check", help="exit 1 if a file is not canonical")] = False,
        write: Annotated[bool, typer.Option("--write", help="rewrite files in place")] = False) -> None:
    """Print FILES in canonical form (or --check them, or --write them in place)."""
    failed = 0
    for f in files:
        try:
            text = _read(f)
            canonical = dumps_file(parse(text, str(f)))
        except EbmError as exc:
            typer.echo(exc.render(), err=True)
            failed += 1
            continue
        if check_only:
            if canonical != text:
                typer.echo(f"would reformat {f}", err=True)
                failed += 1
        elif write:
            if canonical != text:
                write_atomic(f, canonical)
                typer.echo(f"reformatted {f}", err=True)
        else:
            typer.echo(canonical, nl=False)
    raise typer.Exit(1 if failed else 0)


@app.command()
@with_limits
def render(file: Annotated[Path, typer.Argument(help="the .ebm file")],
           out: Annotated[Path, typer.Option("-o", "--out", help="output file: .svg, .png, .pdf or .dot")],
           model: Annotated[str | None, typer.Option(help="which model of the file (needed when it declares several)")] = None,
           fold: Annotated[bool, typer.Option(help="draw sub-model instances as single boxes")] = False,
           fold_loops: Annotated[bool, typer.Option(help="draw each loop as one box with its range")] = False,
           limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """Draw FILE in the symbols of Fig. 18 and write OUT."""
    if out.suffix.lower() not in (".svg", ".png", ".pdf", ".dot", ".gv"):
        typer.echo(f"error: cannot render to '{out}': use a .svg, .png, .pdf or .dot file name", err=True)
        raise typer.Exit(2)
    try:
        check_writable(out)
        graph = load(file, model=model, limits=limits, params=params)
        from .draw import render as render_graph  # graphviz is imported by the command that draws
        path = render_graph(graph, out, fold=fold, fold_loops=fold_loops)
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except OutputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {path}", err=True)


@app.command()
@with_limits
def show(file: Annotated[Path | None, typer.Argument(help="the .ebm file")] = None,
         model: Annotated[str | None, typer.Option(help="which model of the file (needed when it declares several)")] = None,
         methods: Annotated[bool, typer.Option("--methods", help="list every inference method's options")] = False,
         parts: Annotated[bool, typer.Option("--parts", help="list every function, energy and regularizer "
                                                              "(plugins' included)")] = False,
         limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """Print the elaborated graph as a table (every variable, application, energy term and
    regularizer with its shape), then how each variable is inferred, every option resolved."""
    from .inference import METHODS, resolve
    if methods:
        for m in METHODS.values():
            typer.echo(f"{m.name}: {m.doc}")
            for o in m.options:
                typer.echo(f"    {o.describe()}")
    if parts:
        from .catalogue import ENERGIES, FUNCTIONS, REGULARIZERS
        from .plugins import load_entry_points
        load_entry_points()
        tables: list[tuple[str, dict[str, Any]]] = [("functions", FUNCTIONS), ("energies", ENERGIES),
                                                   ("regularizers", REGULARIZERS)]
        for title, table in tables:
            typer.echo(f"{title}:")
            for name, spec in sorted(table.items()):
                if name != "param":
                    typer.echo(f"  {name:14} {spec.doc}")
    if file is None and (methods or parts):
        return
    if file is None:
        typer.echo("error: give a .ebm file (or --methods, --parts)", err=True)
        raise typer.Exit(2)
    try:
        graph = load(file, model=model, limits=limits, params=params)
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    typer.echo(str(graph))
    from .check import estimate
    est = estimate(graph)
    typer.echo(f"work: {est['params']:,} parameters, about {est['sample_mb']:.3g} MB per sample, "
               f"{est['work']:,} evaluations per inference call")
    typer.echo("inference (when not given):")
    for v in graph.variables:
        if not v.computed:
            site = graph.infer_sites.get(v.name)
            by = f"  (set at {site[0]}:{site[1].line})" if site and site[1] else ""
            typer.echo(f"  {v.role:9} {v.name:24} {resolve(graph, v).text()}{by}")


@app.command()
@with_limits
def train(file: Annotated[Path, typer.Argument(help="the .ebm file of the model")],
          config: Annotated[Path, typer.Option("--config", "-c", help="a TOML training config")],
          model: Annotated[str | None, typer.Option(help="which model of the file (needed when it declares several)")] = None,
          resume: Annotated[bool, typer.Option(help="continue the run in the config's out_dir")] = False,
          threads: Annotated[int | None, typer.Option(min=1, help="torch threads (default: the config's threads, "
                                                      "else 1 on a machine of 4 cores or fewer)")] = None,
          device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: the config's device)")] = None,
          limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """Train the model of FILE as CONFIG says: progress bar, metrics, plots, checkpoints."""
    import warnings

    from .compiled import compile as compile_graph
    from .inference import ConvergenceWarning
    from .training import CollapseWarning, TrainingStopped, import_plugins, load_config
    from .training import train as run_training
    from .training.data import DataError
    from .training.loop import _dist, finish_distributed, init_distributed, set_threads

    ok = False
    try:
        cfg = load_config(config)
        if threads is not None:
            cfg.threads = threads
        if device is not None:
            from .training.loop import resolve_device
            try:
                resolve_device(device)  # said of --device here, not located in a config that does not name it
            except ValueError as exc:
                typer.echo(f"error: --device: {exc}", err=True)
                raise typer.Exit(2) from None
            cfg.device = device
        import_plugins(cfg)
        # the config's limits, then the command line's (which win)
        given = {k: v for k, v in vars(limits).items() if v != getattr(DEFAULT_LIMITS, k)}
        graph = load(file, model=model, limits=cfg.limits.apply(DEFAULT_LIMITS).with_(**given),
                     params={**cfg.params, **(params or {})})  # the command line's win
        init_distributed()
        set_threads(cfg.threads)  # the config's, --threads, or the default for this machine
        import torch
        torch.manual_seed(cfg.seed)  # the initial weights follow the config's seed
        compiled = compile_graph(graph)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_training(compiled, cfg, resume=resume)
        shown: set[str] = set()
        for w in caught:  # what the user must know about the run, each once
            if issubclass(w.category, CollapseWarning | ConvergenceWarning) and str(w.message) not in shown:
                shown.add(str(w.message))
                typer.echo(f"warning: {w.message}", err=True)
        ok = True
        reporter = _dist()[0] == 0  # in a data-parallel run, rank 0 reports
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except (DataError, FileExistsError, TrainingStopped, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        typer.echo(f"stopped: {exc}" if str(exc) else "interrupted (Ctrl-C)", err=True)
        raise typer.Exit(130) from None
    finally:  # every path leaves the process group (its threads joined), so the process exits cleanly
        finish_distributed(ok)
    if not reporter:
        return
    last = result.history[-1] if result.history else {}
    typer.echo(f"trained {graph.name} for {last.get('step', 0)} steps; final loss {last.get('loss', float('nan')):.4g}",
               err=True)
    typer.echo(f"checkpoint: {result.checkpoint}\nmetrics: {result.metrics}\nplot: {result.plot}", err=True)


def _compiled_for(file: Path, config: Path, model: str | None, limits: Limits, params: dict[str, Any] | None,
                  threads: int | None = None) -> tuple[Any, Any]:
    """(the config, the model compiled as `ebm train` would start it): plugins imported, the config's
    limits and parameters under the command line's, its threads and seed applied."""
    from .compiled import compile as compile_graph
    from .training import import_plugins, load_config
    from .training.loop import set_threads

    cfg = load_config(config)
    import_plugins(cfg)
    given = {k: v for k, v in vars(limits).items() if v != getattr(DEFAULT_LIMITS, k)}
    graph = load(file, model=model, limits=cfg.limits.apply(DEFAULT_LIMITS).with_(**given),
                 params={**cfg.params, **(params or {})})
    set_threads(threads if threads is not None else cfg.threads)
    import torch
    torch.manual_seed(cfg.seed)  # the initial weights follow the config's seed, as in ebm train
    return cfg, compile_graph(graph)


@app.command("infer")
@with_limits
def infer_(file: Annotated[Path, typer.Argument(help="the .ebm file of the model")],
           config: Annotated[Path, typer.Option("--config", "-c", help="a TOML config: its [data] gives the rest")],
           target: Annotated[list[str], typer.Option("--target", "-t", help="a variable to infer (repeat for more)")],
           repeats: Annotated[int, typer.Option(min=1, help="solve each row this many times from random inits "
                                                "(to find every minimum)")] = 1,
           checkpoint: Annotated[Path | None, typer.Option(help="weights of a trained run")] = None,
           out: Annotated[Path | None, typer.Option(help="where infer.npz goes (default: the config's out_dir)")] = None,
           start: Annotated[bool, typer.Option(help="start the targets at the data's values (data.map gives them): "
                                               "a Hopfield net's recall, a refinement")] = False,
           model: Annotated[str | None, typer.Option(help="which model of the file (needed when it declares several)")] = None,
           limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """argmin over the targets of FILE's model, given CONFIG's data, row by row: infer.npz."""
    from .checkpoint import CheckpointError
    from .training.data import DataError
    from .training.evaluate import infer_config

    try:
        cfg, compiled = _compiled_for(file, config, model, limits, params)
        res = infer_config(compiled, cfg, target, repeats, checkpoint,
                           out if out is not None else Path(cfg.out_dir), start=start)
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except (DataError, CheckpointError, ValueError, OSError) as exc:  # InputError is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"inferred {', '.join(target)} for {len(res.rows)} rows x {repeats}; mean E {res.energy.mean():.6g}")
    typer.echo(f"wrote {res.file}", err=True)


@app.command("eval")
@with_limits
def eval_(file: Annotated[Path, typer.Argument(help="the .ebm file of the model")],
          config: Annotated[Path, typer.Option("--config", "-c", help="a TOML config: its [data], split, [[init]]")],
          checkpoint: Annotated[Path | None, typer.Option(help="weights of a trained run (default: the model as "
                                                          "compiled, [[init]] applied)")] = None,
          out: Annotated[Path | None, typer.Option(help="where eval.json (and latents.npz) go (default: the "
                                                   "config's out_dir)")] = None,
          latents: Annotated[bool, typer.Option(help="keep each latent's inferred value in latents.npz")] = False,
          model: Annotated[str | None, typer.Option(help="which model of the file (needed when it declares several)")] = None,
          threads: Annotated[int | None, typer.Option(min=1, help="torch threads (default: 1 on a small machine)")] = None,
          limits: Limits = DEFAULT_LIMITS, params: dict[str, Any] | None = None) -> None:
    """The free energy of FILE's model on CONFIG's held-out rows (every row without a split), no training."""
    import warnings

    from .checkpoint import CheckpointError
    from .training.data import DataError
    from .training.evaluate import evaluate_config

    try:
        cfg, compiled = _compiled_for(file, config, model, limits, params, threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = evaluate_config(compiled, cfg, checkpoint, out if out is not None else Path(cfg.out_dir), latents)
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except (DataError, CheckpointError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in res.init:
        typer.echo(f"init: {line}", err=True)
    typer.echo(f"F = {res.F_mean:.6g}, mean over {len(res.rows)}{' held-out' if res.split == 'test' else ''} rows")
    typer.echo("wrote " + ", ".join(str(p) for p in res.files), err=True)


@app.command()
def agent(config: Annotated[Path, typer.Argument(help="a TOML agent config (examples/agent/*.toml)")],
          quick: Annotated[bool, typer.Option("--quick", help="a small run of the same loop (tests, a first look)")] = False,
          planner: Annotated[str | None, typer.Option(help="the planner: one of ebmgraph.agent.PLANNERS (gradient, "
                                                      "cem, enumerate); default: the config's planner_kind")] = None,
          out: Annotated[Path | None, typer.Option(help="where the run's files go (default: the config's out_dir)")] = None,
          threads: Annotated[int | None, typer.Option(min=1, help="torch threads (default: 1 on a small machine)")] = None,
          world_model: Annotated[str | None, typer.Option(
              "--world-model", help="learned, or true: plan over the environment's own dynamics (the upper "
              "reference)")] = None,
          fresh: Annotated[bool, typer.Option("--fresh", help="start over, not from the run saved in the out "
                                              "folder")] = False,
          ) -> None:
    """The agent of 003: learn a world model from the environment, plan with it (Mode-2), evaluate on
    held-out starts. A run killed on the way goes on from its last saved round when started again."""
    from .agent import PLANNERS, load_agent_config, run
    from .agent import quick as small
    from .agent.pixel_agent import is_pixel_config
    if is_pixel_config(config):
        _pixel_agent(config, quick, out, threads, fresh, given={"--planner": planner, "--world-model": world_model})
        return
    overrides: dict[str, object] = {}
    if planner is not None:  # merged into the file's settings before they are checked
        if planner not in PLANNERS:
            typer.echo(f"error: --planner: '{planner}' is not a planner; choose one of {', '.join(PLANNERS)}", err=True)
            raise typer.Exit(2)
        overrides["planner_kind"] = planner
    if world_model is not None:
        if world_model not in ("learned", "true"):
            typer.echo(f"error: --world-model: '{world_model}' is not one; choose learned or true", err=True)
            raise typer.Exit(2)
        overrides["world_model_kind"] = world_model
    result = _run_agent(lambda: load_agent_config(config, overrides=overrides), run, small, quick, out, threads, fresh)
    lines = [f"{name:10} {score}  (mean ± standard error over {len(score.returns)} held-out starts)"
             for name, score in result.scores.items()]
    typer.echo("\n".join(lines))
    typer.echo(f"{result.env_steps} environment steps, {result.learned_steps} of them learned from")
    typer.echo("wrote " + ", ".join(str(p) for p in result.files), err=True)


def _run_agent(load: Callable[[], Any], run: Callable[..., Any], small: Callable[[Any], Any], quick: bool,
               out: Path | None, threads: int | None, fresh: bool) -> Any:
    """Load an agent's config, apply the command line's --fresh, --out and --threads, run it (small
    with --quick); a user's mistake is an error message and exit status 1, not a traceback."""
    from .agent import AgentError
    try:
        cfg = load()
        if fresh:
            cfg.resume = False
        if out is not None:
            cfg.out_dir = str(out.resolve())
        if threads is not None:
            cfg.threads = threads
        return run(small(cfg) if quick else cfg, log=lambda m: typer.echo(m, err=True))
    except EbmError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(1) from None
    except (AgentError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _pixel_agent(config: Path, quick: bool, out: Path | None, threads: int | None, fresh: bool,
                 given: dict[str, str | None]) -> None:
    """`ebm agent` on a pixel agent's config (kind = "pixels"): ebmgraph/agent/pixel_agent.py."""
    from .agent.pixel_agent import load_pixel_config, quick_pixels, run_pixels
    for flag, value in given.items():
        if value is not None:
            typer.echo(f"error: {flag}: {config} is a pixel agent's config (kind = \"pixels\"), whose planners are "
                       "listed in its `planners` (flat, hierarchical, true_flat, true_hierarchical, random)", err=True)
            raise typer.Exit(2)
    result = _run_agent(lambda: load_pixel_config(config), run_pixels, quick_pixels, quick, out, threads, fresh)
    typer.echo(f"probe R^2 of {result.probe_target} from one observation: " + ", ".join(f"{k} {v:.3f}" for k, v in result.probe.items()))
    for name, score in result.scores.items():
        typer.echo(f"{name:18} {score}")
    typer.echo(f"world model trained {result.train_steps} steps in {result.train_seconds:.0f} s")
    typer.echo("wrote " + ", ".join(str(p) for p in result.files), err=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - a training run stops; its last checkpoint is kept
        print("interrupted (Ctrl-C); files written so far are complete, a training run continues with --resume",
              file=sys.stderr)
        sys.exit(130)
    except MemoryError:  # what the limits' estimates did not foresee: one line, not a traceback
        print("error: out of memory: lower the batch size, the model's sizes or the rows asked for (the limits "
              "--max-sample-mb and --max-rows bound what is estimated before any work)", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
