"""Plain torch: the same math as kmeans.toml, pca.toml, ellipse.toml and denoising.toml (the same
starts, epochs, batches and Adam), on the same training rows; prints {"F": the held-out mean}.

    python small.py kmeans|pca|ellipse|denoising DATA.npy TRAIN_ROWS.npy TEST_ROWS.npy EPOCHS"""

import json
import math
import sys

import numpy as np
import torch
from _batches import batches

torch.set_num_threads(1)
torch.manual_seed(0)
kind, data = sys.argv[1], np.load(sys.argv[2]).astype(np.float32)
tr, te, epochs = np.load(sys.argv[3]), np.load(sys.argv[4]), int(sys.argv[5])
x_tr, x_te = torch.as_tensor(data[tr]), torch.as_tensor(data[te])


if kind == "kmeans":
    from sklearn.cluster import kmeans_plusplus
    centers = torch.tensor(kmeans_plusplus(x_tr.double().numpy(), 10, random_state=0)[0], dtype=torch.float32,
                           requires_grad=True)
    params, size, lr = [centers], 256, 0.01

    def F(x: torch.Tensor) -> torch.Tensor:
        return ((x[:, None] - centers) ** 2).sum(-1).min(1).values
elif kind == "pca":
    mean = x_tr.mean(0)
    x_tr, x_te = x_tr - mean, x_te - mean
    W = torch.nn.Linear(64, 16, bias=False)
    params, size, lr = list(W.parameters()), 128, 3e-3

    def F(x: torch.Tensor) -> torch.Tensor:
        return ((x - (x @ W.weight.T) @ W.weight) ** 2).sum(1)
elif kind == "ellipse":
    r = torch.tensor([1.0, 2.0], requires_grad=True)
    params, size, lr = [r], 100, 0.02

    def F(x: torch.Tensor) -> torch.Tensor:  # min over the angle: Adam, 60 steps, 8 starts, in the box
        z = torch.cat([torch.zeros(len(x), 1), (torch.rand(len(x), 7) * 2 - 1) * 3.1416], 1).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.2)
        rd = r.detach()
        for _ in range(60):
            e = (x[:, :1] - rd[0] * torch.sin(z)) ** 2 + (x[:, 1:] - rd[1] * torch.cos(z)) ** 2
            opt.zero_grad()
            e.sum().backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(-3.1416, 3.1416)
        z = z.detach()
        e = (x[:, :1] - r[0] * torch.sin(z)) ** 2 + (x[:, 1:] - r[1] * torch.cos(z)) ** 2
        return e.min(1).values
else:
    def mlp(a: int, h: int, b: int) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(a, h), torch.nn.ReLU(), torch.nn.Linear(h, b))
    enc, dec = mlp(2, 64, 64), mlp(64, 64, 2)
    params, size, lr = [*enc.parameters(), *dec.parameters()], 128, 3e-3

    def F(x: torch.Tensor) -> torch.Tensor:
        return ((x - dec(enc(x + 0.1 * torch.randn_like(x)))) ** 2).sum(1)
opt = torch.optim.Adam(params, lr=lr)
for _ in range(epochs):
    for rows in batches(len(x_tr), size):
        loss = F(x_tr[rows]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
print(json.dumps({"F": float(F(x_te).mean().detach()), "steps": math.nan}))
