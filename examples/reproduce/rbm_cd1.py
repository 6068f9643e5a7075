"""002 sec. 5.2: an RBM with 64 hidden units trained by CD-1 (library/rbm.ebm, rbm_cd.toml), against
scikit-learn's BernoulliRBM at equal epochs, learning rate and batch size on the same split: the
held-out pseudo-log-likelihood, bar >= peer."""

from _rbm import run

if __name__ == "__main__":
    run("rbm_cd.toml", "002 sec. 5.2 RBM, 64 hidden, CD-1", __doc__ or "")
