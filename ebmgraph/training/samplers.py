"""Ways to make contrastive samples y^ of one variable (003 sec. 4.3 and Table 1): exhaustive,
Langevin MCMC with a replay buffer, short-run CD from the data, most-offending (hard negative)
search, corruption of the data (noise, masking), and the other elements of the batch."""

from __future__ import annotations

import torch

from ..compiled import CompiledModel
from ..graph import Variable
from ..inference.domains import domain_values, initial, project
from ..inference.marginal import factorizes
from ..inference.sample import block_gibbs, gibbs, langevin
from .config import SamplerConfig


class ContrastiveSampler:
    """Makes `cfg.n` contrastive samples of `target` per training sample: a tensor (batch, n, *shape)."""

    def __init__(self, model: CompiledModel, cfg: SamplerConfig, target: str):
        self.model = model
        self.cfg = cfg
        self.target = model.inputs[target]
        self.buffer: torch.Tensor | None = None

    # ------------------------------------------------------------ persistent state (replay buffer)
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"buffer": self.buffer} if self.buffer is not None else {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.buffer = state.get("buffer")

    # ------------------------------------------------------------ sampling
    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        kind, n = self.cfg.kind, self.cfg.n
        y = batch[self.target.name]
        B = y.shape[0]
        if kind == "batch":
            if B < 2:
                raise ValueError("the 'batch' sampler needs batches of at least 2 samples")
            return torch.stack([torch.roll(y, j % (B - 1) + 1, dims=0) for j in range(n)], dim=1)
        if kind == "corruption":
            return torch.stack([self.corrupt(y) for _ in range(n)], dim=1)
        if kind == "most_offending":
            return self.most_offending(batch).reshape(B, n, *y.shape[1:])
        if kind in ("langevin", "cd", "pcd"):
            return self.mcmc(batch).reshape(B, n, *y.shape[1:])
        raise ValueError(f"sampler '{kind}' does not make samples of one variable (exhaustive is used by "
                         "nll_exhaustive directly)")

    def corrupt(self, y: torch.Tensor) -> torch.Tensor:
        dom = self.target.domain
        if dom.kind in ("bits", "spins"):
            flip = torch.rand_like(y) < max(self.cfg.noise, self.cfg.mask)
            return torch.where(flip, (1 - y) if dom.kind == "bits" else -y, y)
        if dom.kind == "categorical":
            k = dom.k or 1
            return (y + torch.randint(1, max(k, 2), y.shape, device=y.device)) % k
        out = y + self.cfg.noise * torch.randn_like(y)
        if self.cfg.mask > 0:
            out = out * (torch.rand_like(y) >= self.cfg.mask)
        return project(out, dom)

    def _rows(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
        n = self.cfg.n
        others = {k: t.detach().repeat_interleave(n, dim=0) for k, t in batch.items() if k != self.target.name}
        B = batch[self.target.name].shape[0]
        return others, B * n

    def _unknown_latents(self, batch: dict[str, torch.Tensor]) -> list[Variable]:
        return [self.model.inputs[n] for n in self.model.latent_names if n not in batch]

    def most_offending(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hard negatives: gradient descent on the energy, started from a perturbed training sample."""
        y = batch[self.target.name].detach()
        dom = self.target.domain
        others, rows = self._rows(batch)
        if dom.discrete:
            # the lowest-energy value other than the right one, by enumeration
            values = domain_values(dom, y.device)
            K = values.shape[0]
            reps = {k: t.repeat_interleave(K, dim=0) for k, t in others.items()}
            cand = values.repeat(rows, *([1] * (values.dim() - 1)))
            with torch.no_grad():
                f = self.model.free_energy(**reps, **{self.target.name: cand}).free_energy.reshape(rows, K)
            truth = y.repeat_interleave(self.cfg.n, dim=0)
            same = (cand.reshape(rows, K, -1) == truth.reshape(rows, 1, -1)).all(-1)
            f = f.masked_fill(same, float("inf"))
            return values[f.argmin(1)]
        latents = [v for v in self._unknown_latents(batch) if not v.domain.discrete]
        start = y.repeat_interleave(self.cfg.n, dim=0)
        cur = {self.target.name: project(start + self.cfg.noise * torch.randn_like(start), dom)}
        for v in latents:
            cur[v.name] = initial(v.domain, rows, "zeros", y.device)
        doms = {self.target.name: dom, **{v.name: v.domain for v in latents}}
        for _ in range(self.cfg.steps):
            leaves = {k: t.detach().requires_grad_(True) for k, t in cur.items()}
            with torch.enable_grad():
                grads = torch.autograd.grad(self.model.total_energy({**others, **leaves}).sum(), list(leaves.values()))
            cur = {k: project(t.detach() - self.cfg.lr * g, doms[k])
                   for (k, t), g in zip(leaves.items(), grads, strict=True)}
        return cur[self.target.name].detach()

    def mcmc(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Langevin / Gibbs chains on the target and the unknown latents: from the data for
        contrastive divergence (`cd`), from a buffer of persistent chains for `pcd` and `langevin`."""
        y = batch[self.target.name].detach()
        others, rows = self._rows(batch)
        device = y.device
        if self.cfg.kind == "cd":
            x = y.repeat_interleave(self.cfg.n, dim=0).clone()
            idx = None
        else:
            size = self.cfg.buffer_size
            if self.buffer is None or self.buffer.shape[0] != size:
                self.buffer = self._fresh(size, device)
            idx = torch.randint(0, size, (rows,), device=device)
            x = self.buffer[idx].clone()
            restart = torch.rand(rows, device=device) < self.cfg.restart_fraction()
            if restart.any():
                x[restart] = self._fresh(int(restart.sum()), device)
        state = {**others, self.target.name: x}
        latents = self._unknown_latents(batch)
        for v in latents:
            state[v.name] = (initial(v.domain, rows, "randn", device) if not v.domain.discrete
                             else self._fresh_units(v, rows, device))
        energy = self.model.total_energy
        order = latents + [self.target]  # latents first: CD-1 on an RBM samples h | v, then v | h
        graph = self.model.graph
        for _ in range(max(self.cfg.steps, 1)):
            for v in order:
                if v.domain.discrete and factorizes(graph, v):
                    state[v.name] = block_gibbs(self.model, state, v, 1.0)
                elif v.domain.discrete:
                    state[v.name] = gibbs(energy, state, v, rows, 1, 1.0, device, init=state[v.name])
                else:
                    state[v.name] = langevin(energy, state, v, rows, 1, self.cfg.step_size, 1.0, device,
                                             init=state[v.name])
        out = state[self.target.name].detach()
        if idx is not None and self.buffer is not None:
            self.buffer[idx] = out
        return out

    @staticmethod
    def _fresh_units(v: Variable, n: int, device: torch.device) -> torch.Tensor:
        """Uniformly random values of a discrete variable, unit by unit (never the whole domain)."""
        dom = v.domain
        values = domain_values(type(dom)(dom.kind, (), k=dom.k), device)
        return values[torch.randint(0, values.shape[0], (n, *dom.shape), device=device)]

    def _fresh(self, n: int, device: torch.device) -> torch.Tensor:
        dom = self.target.domain
        if dom.discrete:
            return self._fresh_units(self.target, n, device)
        return initial(dom, n, "uniform" if dom.box is not None else "randn", device)
