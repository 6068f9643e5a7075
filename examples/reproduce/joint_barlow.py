"""003 sec. 4.5: a joint embedding trained with Barlow Twins (library/joint_embedding.ebm,
joint_barlow.toml), its linear-probe accuracy on the digits over 3 seeds, bar >= 0.96 and >= PCA
of the same width, within seed noise of a plain-torch script of the same math."""

from _joint import run

if __name__ == "__main__":
    run("joint_barlow.toml", "barlow", "003 sec. 4.5 joint embedding, Barlow Twins", __doc__ or "")
