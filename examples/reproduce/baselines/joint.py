"""Plain torch: the same joint embedding (two MLP encoders 64 -> 256 -> 64, Gaussian-noise views of
std 0.2, ||s_x - s_y||^2 plus VICReg through an expander 64 -> 256 -> 256, or Barlow Twins), the
same epochs, batches and Adam; prints {"accuracy": the linear probe's on the held-out rows}.

    python joint.py TRAIN_ROWS.npy TEST_ROWS.npy vicreg|barlow EPOCHS SEED"""

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
tr, te = np.load(sys.argv[1]), np.load(sys.argv[2])
kind, epochs, seed = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(seed)
d = load_digits()
X, y = (d.data / 16).astype(np.float32), d.target
xt = torch.as_tensor(X[tr])


def mlp(a: int, h: int, b: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(a, h), torch.nn.ReLU(), torch.nn.Linear(h, b))


enc_x, enc_y = mlp(64, 256, 64), mlp(64, 256, 64)
expander = mlp(64, 256, 256) if kind == "vicreg" else torch.nn.Identity()


def vicreg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    def std(z: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - torch.sqrt(z.var(0) + 1e-4)).mean()

    def cov(z: torch.Tensor) -> torch.Tensor:
        z = z - z.mean(0)
        c = z.T @ z / (len(z) - 1)
        return (c - torch.diag(torch.diag(c))).pow(2).sum() / z.shape[1]
    return 25 * F.mse_loss(a, b) + 25 * (std(a) + std(b)) / 2 + cov(a) + cov(b)


def barlow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = F.batch_norm(a, None, None, training=True), F.batch_norm(b, None, None, training=True)
    c = a.T @ b / len(a)
    return (torch.diagonal(c) - 1).pow(2).sum() + 5e-3 * (c - torch.diag(torch.diagonal(c))).pow(2).sum()


params = [*enc_x.parameters(), *enc_y.parameters(), *expander.parameters()]
opt = torch.optim.Adam(params, lr=1e-3)
reg = vicreg if kind == "vicreg" else barlow
for _ in range(epochs):
    order = torch.randperm(len(xt))
    for k in range(0, len(xt), 256):
        xb = xt[order[k:k + 256]]
        sx, sy = enc_x(xb + 0.2 * torch.randn_like(xb)), enc_y(xb + 0.2 * torch.randn_like(xb))
        loss = ((sx - sy) ** 2).sum(1).mean() + reg(expander(sx), expander(sy))
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    r_tr, r_te = enc_x(torch.as_tensor(X[tr])).numpy(), enc_x(torch.as_tensor(X[te])).numpy()
probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(r_tr, y[tr])
print(json.dumps({"accuracy": float(probe.score(r_te, y[te]))}))
