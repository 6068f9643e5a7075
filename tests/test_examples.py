"""The README's examples and configs work as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import ebmgraph
from ebmgraph.training import load_config
from ebmgraph.training.loop import check_config

from .conftest import LIBRARY, ROOT

CONFIGS = {"jepa_vicreg_digits.toml": "joint_embedding", "rbm_cd1_digits.toml": "rbm", "moons_hinge.toml": "energy_net"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_example_configs_fit_their_models(name: str) -> None:
    cfg = load_config(ROOT / "examples" / "configs" / name)
    model = ebmgraph.compile(ebmgraph.load(LIBRARY / f"{CONFIGS[name]}.ebm"))
    check_config(model, cfg)
    assert cfg.data is not None
    from ebmgraph.training.data import make_dataset
    data = make_dataset(model, cfg.data)
    assert len(data) > 100


def test_readme_commands_name_existing_files() -> None:
    readme = (ROOT / "README.md").read_text()
    first = readme.splitlines()[3:5]
    assert first[0].startswith("make app ") and first[1].startswith("make test ")
    for name in CONFIGS:
        assert f"examples/configs/{name}" in readme


def test_from_diagram_to_model_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "from_diagram_to_model.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "parabola minima for x = 4: 2.0" in out and "-2.0" in out
    assert Path(ROOT / "examples" / "from_diagram_to_model.py").exists()
