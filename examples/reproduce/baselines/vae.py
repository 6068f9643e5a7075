"""Plain torch: the same VAE as library/vae.ebm and vae.toml (encoders mlp(64, 128, 8) for the mean
and log-variance, decoder mlp(8, 128, 64), z = mu + exp(lv / 2) * eps, the energy 0.5 ||x - dec(z)||^2
+ KL(N(mu, exp(lv)) || N(0, I)), Adam, the same epochs, batches and held-out rows); prints
{"F": the held-out mean negative ELBO, averaged over DRAWS draws of eps a row}.

    python vae.py DATA.npy TRAIN_ROWS.npy TEST_ROWS.npy EPOCHS SEED DRAWS"""

import json
import sys

import numpy as np
import torch
from _batches import batches

torch.set_num_threads(1)
data = np.load(sys.argv[1]).astype(np.float32)
tr, te, epochs, seed, draws = np.load(sys.argv[2]), np.load(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.manual_seed(seed)
x_tr, x_te = torch.as_tensor(data[tr]), torch.as_tensor(data[te])


def mlp(a: int, h: int, b: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(a, h), torch.nn.ReLU(), torch.nn.Linear(h, b))


enc_mu, enc_lv, dec = mlp(64, 128, 8), mlp(64, 128, 8), mlp(8, 128, 64)
params = [*enc_mu.parameters(), *enc_lv.parameters(), *dec.parameters()]


def F(x: torch.Tensor) -> torch.Tensor:
    mu, lv = enc_mu(x), enc_lv(x)
    z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
    kl = 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).sum(1)
    return 0.5 * (x - dec(z)).pow(2).sum(1) + kl


opt = torch.optim.Adam(params, lr=1e-3)
for _ in range(epochs):
    for rows in batches(len(x_tr), 128):
        loss = F(x_tr[rows]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    held = torch.stack([F(x_te) for _ in range(draws)]).mean(0)
print(json.dumps({"F": float(held.mean())}))
