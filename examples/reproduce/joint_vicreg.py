"""003 sec. 4.5: a joint embedding trained with VICReg (library/joint_embedding.ebm, joint_vicreg.toml),
its linear-probe accuracy on the digits over 3 seeds, bar >= 0.96 and >= PCA of the same width,
within seed noise of a plain-torch script of the same math."""

from _joint import run

if __name__ == "__main__":
    run("joint_vicreg.toml", "vicreg", "003 sec. 4.5 joint embedding, VICReg", __doc__ or "")
