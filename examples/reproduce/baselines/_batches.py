"""The batches of `ebm train`, for the plain-torch baselines (imported from this folder)."""

import torch


def batches(n: int, size: int) -> list[torch.Tensor]:
    """Every row once per epoch; a remainder under half a batch joins the last (as ebm train does)."""
    order = torch.randperm(n)
    full, rest = divmod(n, size)
    cuts = [order[i * size:(i + 1) * size] for i in range(full)]
    if rest and rest < size / 2 and cuts:
        cuts[-1] = torch.cat([cuts[-1], order[full * size:]])
    elif rest:
        cuts.append(order[full * size:])
    return cuts
