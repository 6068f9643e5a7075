"""Plain torch: the same diagonal Gaussian mixture, the same starts (k-means++ means, the data's
log-variances) and the same full-batch Adam steps as gmm.toml; prints {"loglik": held-out mean}.

    python gmm.py TRAIN.npy TEST.npy K STEPS LR SEED"""

import json
import math
import sys

import numpy as np
import torch
from sklearn.cluster import kmeans_plusplus

torch.set_num_threads(1)
xtr, xte = (torch.as_tensor(np.load(p)) for p in sys.argv[1:3])
K, steps, lr, seed = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(seed)
centers, _ = kmeans_plusplus(xtr.double().numpy(), K, random_state=seed)
mu = torch.tensor(centers, dtype=torch.float32, requires_grad=True)
log_var = torch.log(xtr.var(0, unbiased=False) + 1e-6).expand(K, -1).clone().requires_grad_(True)
logits = torch.zeros(K, requires_grad=True)


def nll(x: torch.Tensor) -> torch.Tensor:
    var = log_var.exp() + 1e-6
    lp = -0.5 * (((x[:, None] - mu) ** 2 / var).sum(-1) + var.log().sum(-1) + x.shape[1] * math.log(2 * math.pi))
    return -torch.logsumexp(lp + torch.log_softmax(logits, 0), 1).mean()


opt = torch.optim.Adam([mu, log_var, logits], lr=lr)
for _ in range(steps):
    loss = nll(xtr)
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    print(json.dumps({"loglik": -float(nll(xte))}))
