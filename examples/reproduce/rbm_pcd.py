"""002 sec. 5.2: an RBM with 64 hidden units trained by persistent contrastive divergence
(library/rbm.ebm, rbm_pcd.toml), against scikit-learn's BernoulliRBM (PCD itself) at equal epochs,
learning rate and batch size on the same split: the held-out pseudo-log-likelihood, bar >= peer."""

from _rbm import run

if __name__ == "__main__":
    run("rbm_pcd.toml", "002 sec. 5.2 RBM, 64 hidden, PCD", __doc__ or "")
