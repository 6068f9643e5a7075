"""Plain torch: an RBM trained by CD-1 or PCD (one Gibbs step; plain SGD; the same epochs, batch
size and learning rate as rbm_cd.toml / rbm_pcd.toml); prints {"steps": n}.

    python rbm.py TRAIN.npy HIDDEN EPOCHS BATCH LR cd|pcd SEED"""

import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
v_all = torch.as_tensor(np.load(sys.argv[1]), dtype=torch.float32)
nh, epochs, bs, lr, kind, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), \
    sys.argv[6], int(sys.argv[7])
torch.manual_seed(seed)
nv = v_all.shape[1]
W = torch.randn(nv, nh) * 0.01
b, c = torch.zeros(nv), torch.zeros(nh)
chains = torch.bernoulli(torch.full((bs, nv), 0.5))
steps = 0
for _ in range(epochs):
    order = torch.randperm(len(v_all))
    for start in range(0, len(v_all), bs):
        v = v_all[order[start:start + bs]]
        ph = torch.sigmoid(v @ W + c)
        v0 = v if kind == "cd" else chains[:len(v)]
        h = torch.bernoulli(torch.sigmoid(v0 @ W + c))
        vn = torch.bernoulli(torch.sigmoid(h @ W.T + b))
        if kind == "pcd":
            chains[:len(v)] = vn
        phn = torch.sigmoid(vn @ W + c)
        W += lr * (v.T @ ph - vn.T @ phn) / len(v)
        b += lr * (v - vn).mean(0)
        c += lr * (ph - phn).mean(0)
        steps += 1
print(json.dumps({"steps": steps}))
