"""Free energy and inference for any split of a compiled model's variables into given and unknown.

Each unknown is eliminated by its declared method, one file each (003 sec. 4.2, 002 sec. 3.2 and App. A):
  minimize.py   F = min_z E, batched per-sample descent (LBFGS, Adam, SGD, ISTA/FISTA for l1 terms),
                projected onto box and sphere domains, each latent with its own settings;
  enumerate.py  discrete values as a tensor dimension, then min (or soft-min with beta);
  marginal.py   F = -1/beta log sum exp(-beta E): exact for discrete latents (closed form, unit by
                unit, when the energy is linear in each unit, as in an RBM, 002 eq. 9), importance
                sampling for real ones;
  sample.py     a draw from the Gibbs distribution: Langevin for reals, Gibbs sampling for discrete;
  amortized.py  an encoder's proposal, used directly or refined, training the encoder (003 Fig. 19-20).
Every method is registered in one table, `METHODS` (method.py), with its options and defaults.
The minimizer is treated as a constant when gradients flow to the parameters through F, or
differentiated through the unrolled steps with `minimize(unroll = true)`.
"""

from . import amortized, marginal, minimize, sample  # noqa: F401  (each registers its method)
from . import enumerate as _enumerate  # noqa: F401
from .engine import Inference, free_energy, infer
from .engine import sample as sample_variable
from .method import METHODS, ConvergenceWarning, Method, Option, Resolved, register_method, resolve

__all__ = ["METHODS", "ConvergenceWarning", "Inference", "Method", "Option", "Resolved", "free_energy", "infer",
           "register_method", "resolve", "sample_variable"]
