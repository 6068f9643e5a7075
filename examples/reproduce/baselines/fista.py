"""Plain torch: FISTA on 1/2 ||x - D z||^2 + lam ||z||_1 (the same steps and step size as ebm's
minimize(optimizer = fista)), on the rows given; prints {"F": mean energy, "zeros": share of exact 0}.

    python fista.py ATOMS.npy ROWS.npy LAM STEPS"""

import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)
D = torch.as_tensor(np.load(sys.argv[1]))  # (64, 32): column j is atom j
x = torch.as_tensor(np.load(sys.argv[2]))
lam, steps = float(sys.argv[3]), int(sys.argv[4])
L = float(torch.linalg.matrix_norm(D, 2)) ** 2  # the Lipschitz constant of the smooth part's gradient
z = torch.zeros(x.shape[0], D.shape[1])
y, t = z.clone(), 1.0
for _ in range(steps):
    grad = (y @ D.T - x) @ D
    z_next = torch.nn.functional.softshrink(y - grad / L, lam / L)
    t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
    y = z_next + (t - 1) / t_next * (z_next - z)
    z, t = z_next, t_next
F = 0.5 * ((x - z @ D.T) ** 2).sum(1) + lam * z.abs().sum(1)
print(json.dumps({"F": float(F.mean()), "zeros": float((z == 0).float().mean())}))
