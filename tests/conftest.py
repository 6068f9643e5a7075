"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "library"
GOLDEN = Path(__file__).resolve().parent / "golden"
LIBRARY_FILES = sorted(LIBRARY.glob("*.ebm"))
MODELS = Path(__file__).resolve().parent / "models"  # test models that are not in the library


@pytest.fixture(autouse=True, scope="session")
def _graphviz_present() -> None:
    # Drawing tests need Graphviz's `dot`: `make test` installs it; fail loudly, never skip.
    assert shutil.which("dot"), "Graphviz 'dot' is missing: run 'make test' (it installs graphviz with apt-get)"


@pytest.fixture(autouse=True, scope="session")
def _dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # bundled data sets are cached once made (training/data.py): one cache per test session, not ~/.cache
    os.environ["EBMGRAPH_CACHE"] = str(tmp_path_factory.mktemp("ebmgraph-cache"))


@pytest.fixture
def in_tmp(tmp_path: Path) -> Path:
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


def opened_app() -> AppTest:
    """The composer as `make app` opens it, run once, in Streamlit's AppTest (no exception)."""
    from streamlit.testing.v1 import AppTest
    app = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.fixture
def at() -> AppTest:
    """The opened composer (the app tests' usual start)."""
    return opened_app()
