"""The reproduction scripts (examples/reproduce/, `make reproduce`) run in their --quick mode: each
trains its library model from its config through `ebm train`, runs its peer, prints its row and
keeps it with its figure. The bars themselves are checked by `make reproduce` (full epochs)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "examples" / "reproduce").glob("*.py") if not p.name.startswith("_")
                 and p.name != "table.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_a_reproduction_runs_and_keeps_its_row(script: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=600, cwd=script.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    row_line = [x for x in r.stdout.splitlines() if " | ours " in x]
    assert len(row_line) == 1, r.stdout
    rows = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(rows) == 1 and rows[0]["quick"] is True
    row = rows[0]
    assert math.isfinite(row["ours"]) and math.isfinite(row["peer"]) and row["peer"] != 0
    assert abs(row["ratio"] - row["ours"] / row["peer"]) < 1e-9
    assert (tmp_path / row["figure"]).stat().st_size > 1000  # the figure the seed shows, as a PNG


def test_the_table_lists_every_kept_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "examples" / "reproduce"))
    import table
    docs = tmp_path / "docs"
    (docs / "reproductions").mkdir(parents=True)
    row = {"name": "002 x", "metric": "m", "ours": 1.0, "peer": 2.0, "ratio": 0.5, "bar": "<= 1 x peer",
           "passed": True, "ours_s": 1.0, "peer_s": 0.1, "figure": "x.png", "quick": False}
    (docs / "reproductions" / "x.json").write_text(json.dumps(row))
    monkeypatch.setattr(table, "ROOT", tmp_path)
    monkeypatch.setattr(table, "DOCS", docs / "reproductions")
    table.main()
    text = (docs / "reproductions.md").read_text()
    assert "| 002 x | m | 1.0000 | 2.0000 | 0.5000 | <= 1 x peer | pass | 1.0 s |  | 0.10 s |  |" in text
    assert "![002 x](reproductions/x.png)" in text


def test_the_table_fails_when_a_full_run_missed_its_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "examples" / "reproduce"))
    import table
    docs = tmp_path / "docs"
    (docs / "reproductions").mkdir(parents=True)
    row = {"name": "002 y", "metric": "m", "ours": 3.0, "peer": 2.0, "ratio": 1.5, "bar": "<= 1 x peer",
           "passed": False, "ours_s": 1.0, "peer_s": 0.1, "torch_s": 0.5, "note": "n", "quick": False}
    (docs / "reproductions" / "y.json").write_text(json.dumps(row))
    monkeypatch.setattr(table, "ROOT", tmp_path)
    monkeypatch.setattr(table, "DOCS", docs / "reproductions")
    with pytest.raises(SystemExit) as exc:
        table.main()
    assert exc.value.code == 1
    text = (docs / "reproductions.md").read_text()  # written all the same, the miss marked
    assert "| 002 y | m | 3.0000 | 2.0000 | 1.5000 | <= 1 x peer | **fail** | 1.0 s | 0.5 s (2.00x) | 0.10 s | n |" in text
