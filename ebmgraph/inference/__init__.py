"""Free energy and inference for any split of a compiled model's variables into given and unknown.

Each unknown is eliminated by its declared method (003 sec. 4.2, 002 sec. 3.2 and App. A):
  minimize   F = min_z E, batched per-sample gradient descent (SGD / Adam / LBFGS), projected
             onto boxed or sphere domains; `amortized` starts it (or replaces it) from an
             encoder's proposal (003 appendix, Fig. 19-20);
  enumerate  discrete values as a tensor dimension, then min (or soft-min with beta);
  marginal   F = -1/beta log sum exp(-beta E): exact for discrete (closed form, unit by unit,
             when the energy is linear in each unit, as in an RBM, 002 eq. 9), Monte Carlo
             (importance sampling) for continuous;
  sample     a draw from the Gibbs distribution: Langevin for reals, Gibbs sampling for spins,
             bits and categories.
The minimizer is treated as a constant when gradients flow to the parameters through F, or
differentiated through the unrolled steps with `minimize(unroll = true)`.
"""

from .engine import Inference, free_energy, infer, sample

__all__ = ["Inference", "free_energy", "infer", "sample"]
