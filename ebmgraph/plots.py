"""Figures people look at, for the composer and for notebooks: energy landscapes (002 Fig. 3b, 4b)
and training curves with the collapse monitor. Each returns a matplotlib Figure (Agg backend),
so it can be shown (`st.pyplot(fig)`, a notebook cell) or saved (`fig.savefig(...)`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure

    from .compiled import CompiledModel
else:
    from ._lazy import torch

__all__ = ["landscape_1d", "landscape_2d", "training_curves", "collapse_table", "robust_limits", "agent_returns",
           "agent_episode"]


def _figure(w: float = 4.8, h: float = 3.8) -> tuple[Figure, Any]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(w, h))
    return fig, ax


def landscape_1d(model: CompiledModel, given: dict[str, torch.Tensor], var: str, best: torch.Tensor) -> Figure:
    """E over one inferred scalar, the others given, with the minimizer marked (002 Fig. 4b's z)."""
    v = model.inputs[var]
    center = float(best.flatten()[0])
    lo, hi = v.domain.box if v.domain.box else (center - 3, center + 3)
    grid = torch.linspace(lo, hi, 400)[:, None].reshape(400, *v.domain.shape)
    others = {k: t.expand(400, *t.shape[1:]) for k, t in given.items() if k != var}
    with torch.no_grad():
        e = model.energy(**others, **{var: grid}).total if not (set(model.inputs) - set(others) - {var}) else \
            model.free_energy(**others, **{var: grid}).free_energy
    fig, ax = _figure()
    ax.plot(grid.flatten().numpy(), e.numpy())
    ax.axvline(center, color="red", ls="--", label=f"minimizer {var} = {center:.3f}")
    ax.set_xlabel(var)
    ax.set_ylabel("E")
    ax.set_title(f"energy over {var}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def landscape_2d(model: CompiledModel, given: dict[str, torch.Tensor], var: str,
                 closest: torch.Tensor | None, n: int = 50, choices: torch.Tensor | None = None,
                 choice_label: str = "each value of the latent") -> Figure:
    """F over a 2-D given variable, the latents eliminated at every point (002 Fig. 3b, 4b);
    `closest` (a star) is the model's point at the minimizer, `choices` (rows of 2) the points every
    value of a discrete latent gives (k-means' centres)."""
    v = model.inputs[var]
    point = given[var].flatten()
    marks = [point.abs().max()] + ([choices.abs().max()] if choices is not None and choices.numel() else [])
    span = max(3.0, float(max(marks)) * 1.5)
    a = torch.linspace(-span, span, n)
    A, B = torch.meshgrid(a, a, indexing="xy")
    grid = torch.stack([A.flatten(), B.flatten()], 1).reshape(n * n, *v.domain.shape)
    others = {k: t.expand(n * n, *t.shape[1:]) for k, t in given.items() if k != var}
    with torch.no_grad():
        e = model.free_energy(**others, **{var: grid}).free_energy.reshape(n, n)
    fig, ax = _figure()
    cs = ax.contourf(A.numpy(), B.numpy(), e.numpy(), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="F")
    ax.plot(float(point[0]), float(point[1]), "o", color="lime", ms=9, label=f"{var} (the sample)")
    if choices is not None and choices.numel():
        ch = choices.detach().reshape(-1, 2)
        ax.plot(ch[:, 0].numpy(), ch[:, 1].numpy(), "wx", ms=9, mew=2, label=choice_label)
    if closest is not None:
        c = closest.flatten()
        ax.plot(float(c[0]), float(c[1]), "r*", ms=14, label="at the minimizer")
    ax.set_xlabel(f"{var}[0]")
    ax.set_ylabel(f"{var}[1]")
    ax.set_title(f"free energy over {var}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def robust_limits(values: list[float], pad: float = 0.08) -> tuple[float, float] | None:
    """y limits holding the bulk of a curve: the 2nd..98th percentile of its finite values, padded
    (a first step's spike or one outlier does not squash the rest into a line)."""
    xs = sorted(x for x in values if math.isfinite(x))
    if not xs:
        return None
    lo = xs[int(0.02 * (len(xs) - 1))]
    hi = xs[int(math.ceil(0.98 * (len(xs) - 1)))]
    if hi - lo < 1e-12:
        lo, hi = lo - max(abs(lo), 1.0) * 0.05, hi + max(abs(hi), 1.0) * 0.05
    span = hi - lo
    return lo - pad * span, hi + pad * span


def training_curves(history: list[dict[str, float]], keys: list[str] | None = None) -> Figure | None:
    """Loss parts against the step (left) and the collapse monitor's spread and effective rank
    (right, when the run recorded them); x runs over the steps run, y over the bulk of the values."""
    if not history:
        return None
    all_keys = sorted({k for h in history for k in h if k not in ("step", "epoch", "lr")})
    loss_keys = keys or [k for k in all_keys if not k.startswith("collapse.") and k != "grad_norm"]
    col_keys = [k for k in all_keys if k.startswith("collapse.") and k.endswith(("std_mean", "effective_rank"))]
    if len(loss_keys) > 12 or len(col_keys) > 12:  # an unrolled model's terms (d[0].D ... d[15].D): one line each
        history, loss_keys, col_keys = _grouped(history, loss_keys, col_keys)  # kind, summed (collapse: averaged)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2 if col_keys else 1, figsize=(11 if col_keys else 6.5, 3.8), squeeze=False)
    ax = axes[0][0]
    shown: list[float] = []
    for label, pts in _distinct(history, loss_keys):
        ax.plot(*zip(*pts, strict=True), label=label, lw=1)
        shown.extend(y for _, y in pts)
    steps = [h["step"] for h in history]
    ax.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
    lim = robust_limits(shown)
    if lim is not None:
        ax.set_ylim(*lim)
    ax.set_xlabel("step")
    ax.set_title("loss parts and energies")
    if shown:
        ax.legend(fontsize=7)
    if col_keys:
        ax2 = axes[0][1]
        for k in col_keys:
            pts = [(h["step"], h[k]) for h in history if k in h]
            ax2.plot(*zip(*pts, strict=True), label=k.removeprefix("collapse."), marker="o", lw=1)
        ax2.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
        ax2.set_xlabel("step")
        ax2.set_title("collapse monitor")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _distinct(history: list[dict[str, float]], keys: list[str]) -> list[tuple[str, list[tuple[float, float]]]]:
    """One curve per distinct series: keys whose values agree at every step (the loss of a model with
    one energy term and that term, say) are drawn once, labelled "loss = E"."""
    curves: list[tuple[list[str], list[tuple[float, float]]]] = []
    for k in keys:
        pts = [(h["step"], h[k]) for h in history if k in h and math.isfinite(h[k])]
        if not pts:
            continue
        same = next((names for names, other in curves if len(other) == len(pts) and all(
            a[0] == b[0] and abs(a[1] - b[1]) <= 1e-9 * max(1.0, abs(a[1])) for a, b in zip(other, pts, strict=True))),
            None)
        if same is not None:
            same.append(k)
        else:
            curves.append(([k], pts))
    return [(" = ".join(names), pts) for names, pts in curves]


def _grouped(history: list[dict[str, float]], loss_keys: list[str], col_keys: list[str]
             ) -> tuple[list[dict[str, float]], list[str], list[str]]:
    """The terms of an unrolled model grouped by their name without indices (d[3].D -> d[*].D): the
    energies and loss parts summed over the indices, the collapse measures averaged."""
    import re

    def base(k: str) -> str:
        return re.sub(r"\[\d+\]", "[*]", k)
    out = []
    for h in history:
        row: dict[str, float] = {"step": h["step"]}
        counts: dict[str, int] = {}
        for k in loss_keys + col_keys:
            if k in h:
                b = base(k)
                row[b] = row.get(b, 0.0) + h[k]
                counts[b] = counts.get(b, 0) + 1
        for b, n in counts.items():
            if b.startswith("collapse."):
                row[b] /= n
        out.append(row)
    return out, sorted({base(k) for k in loss_keys}), sorted({base(k) for k in col_keys})


def collapse_table(history: list[dict[str, float]]) -> dict[str, list[Any]]:
    """The collapse monitor as a small table: per measure, its first and last value and the change."""
    keys = sorted({k for h in history for k in h if k.startswith("collapse.")})
    rows: dict[str, list[Any]] = {"measure": [], "first": [], "last": [], "change": []}
    for k in keys:
        vals = [h[k] for h in history if k in h]
        rows["measure"].append(k.removeprefix("collapse."))
        rows["first"].append(round(vals[0], 4))
        rows["last"].append(round(vals[-1], 4))
        rows["change"].append(round(vals[-1] - vals[0], 4))
    return rows


def agent_returns(returns: list[float], random_return: float, title: str) -> Figure:
    """The agent's evaluation returns, one bar an episode, beside random actions and their mean."""
    from matplotlib.ticker import MaxNLocator
    fig, ax = _figure(6, 3.2)
    ax.bar(range(len(returns)), returns, color="#4a7ab5")
    ax.axhline(random_return, color="#999", ls="--", label=f"random {random_return:.0f}")
    ax.axhline(sum(returns) / len(returns), color="#c33", label=f"planner mean {sum(returns) / len(returns):.0f}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluation episode")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def agent_episode(episode: dict[str, Any], goal: list[float], title: str,
                  subgoals: list[tuple[int, list[float]]] | None = None) -> Figure:
    """One episode step by step: the state against the goal, the action taken, and the planning
    energy beside the environment's cost (minus its reward). `subgoals` (a hierarchical planner's):
    each subgoal state at the step it was set for, marked on the state's entries."""
    import matplotlib.pyplot as plt
    import numpy as np
    state, action = np.asarray(episode["state"]), np.asarray(episode["action"])
    fig, axs = plt.subplots(3, 1, figsize=(6, 5.4), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j in range(state.shape[1]):
        axs[0].plot(state[:, j], color=colors[j % len(colors)], label=f"s[{j}]")
        if subgoals:
            axs[0].scatter([t for t, _ in subgoals], [g[j] for _, g in subgoals], marker="x", s=28,
                           color=colors[j % len(colors)], label=f"s[{j}] subgoal")
    axs[0].plot(np.broadcast_to(goal, state.shape), color="#999", ls=":", lw=1)
    axs[0].set_ylabel("state")
    axs[0].legend(loc="upper right", fontsize=7, ncol=state.shape[1])
    axs[0].set_title(title, fontsize=10)
    axs[1].plot(action, color="#c33")
    axs[1].set_ylabel("action a[0]")
    axs[2].plot(episode["energy"], color="#4a7ab5", label="planning energy")
    axs[2].plot(-np.asarray(episode["reward"]), color="#e69500", label="cost (- reward)")
    axs[2].set_ylabel("per step")
    axs[2].set_xlabel("step")
    axs[2].legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def agent_planning(detail: dict[str, Any], step: int, goal: list[float], title: str) -> Figure:
    """An episode of the Planning panel (ebmgraph.agent.episode_detail): the states visited beside the
    plan made at `step` (the states the world model predicted for it), each energy term of the plan
    per step, and the return so far."""
    import matplotlib.pyplot as plt
    import numpy as np
    state = np.asarray(detail["state"])
    plan = np.asarray(detail["plans"][step])
    fig, axs = plt.subplots(3, 1, figsize=(6.4, 6.2), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j in range(state.shape[1]):
        c = colors[j % len(colors)]
        axs[0].plot(state[:, j], color=c, label=f"s[{j}] visited")
        axs[0].plot(np.arange(step, step + len(plan)), plan[:, j], color=c, ls="--", lw=1.4,
                    label=f"s[{j}] planned at step {step}")
        axs[0].axhline(goal[j], color=c, ls=":", lw=0.8)
    axs[0].axvline(step, color="#999", lw=0.8)
    axs[0].set_ylabel("state")
    axs[0].legend(loc="upper right", fontsize=7, ncol=2)
    axs[0].set_title(title)
    for name, values in detail["terms"].items():
        axs[1].plot(values, label=name)
    axs[1].set_ylabel("plan's energy, by term")
    axs[1].legend(loc="upper right", fontsize=7)
    axs[2].plot(np.arange(1, len(detail["reward"]) + 1), np.cumsum(detail["reward"]), color="#e69500")
    axs[2].set_ylabel("return so far")
    axs[2].set_xlabel("step")
    fig.tight_layout()
    return fig
