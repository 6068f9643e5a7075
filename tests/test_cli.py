"""The `ebm` command: exit codes, JSON diagnostics, fmt --check/--write, render."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ebmgraph.cli import app

from .conftest import GOLDEN, LIBRARY_FILES

runner = CliRunner()


def test_check_library_is_clean() -> None:
    r = runner.invoke(app, ["check", *map(str, LIBRARY_FILES)])
    assert r.exit_code == 0, r.output
    assert f"ok: {len(LIBRARY_FILES)} file(s), 0 error(s)" in r.output


def test_check_three_mistakes_exit_1_no_traceback() -> None:
    r = runner.invoke(app, ["check", str(GOLDEN / "three_mistakes.ebm")])
    assert r.exit_code == 1
    assert r.output.count("error[") == 3 and "Traceback" not in r.output
    assert "help: did you mean 'sy_hat'?" in r.output


def test_check_json() -> None:
    r = runner.invoke(app, ["check", "--json", str(GOLDEN / "three_mistakes.ebm")])
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["errors"] == 3
    assert [(x["line"], x["column"]) for x in data["diagnostics"]] == [(8, 3), (13, 7), (15, 26)]


def test_check_missing_and_binary_files(tmp_path: Path) -> None:
    bad = tmp_path / "bin.ebm"
    bad.write_bytes(b"model M {\n  observed x : R[2]\xff\xfe }\n")
    r = runner.invoke(app, ["check", str(tmp_path / "nope.ebm"), str(bad)])
    assert r.exit_code == 1
    assert "cannot read" in r.output and "not UTF-8" in r.output and f"{bad}:2:20" in r.output


def test_fmt_check_and_write(tmp_path: Path) -> None:
    f = tmp_path / "m.ebm"
    f.write_text("model M{observed x:R[2] energy E=l2(x)}")
    r = runner.invoke(app, ["fmt", "--check", str(f)])
    assert r.exit_code == 1 and "would reformat" in r.output
    r = runner.invoke(app, ["fmt", "--write", str(f)])
    assert r.exit_code == 0
    assert f.read_text() == "model M {\n  observed x : R[2]\n\n  energy E = l2(x)\n}\n"
    assert runner.invoke(app, ["fmt", "--check", str(f)]).exit_code == 0
    assert runner.invoke(app, ["fmt", "--check", *map(str, LIBRARY_FILES)]).exit_code == 0


def test_fmt_write_keeps_a_broken_file_untouched(tmp_path: Path) -> None:
    f = tmp_path / "m.ebm"
    f.write_text("model M { observed x R[2] }")
    r = runner.invoke(app, ["fmt", "--write", str(f)])
    assert r.exit_code == 1 and "missing ':'" in r.output
    assert f.read_text() == "model M { observed x R[2] }"
    assert [p.name for p in tmp_path.iterdir()] == ["m.ebm"]


def test_render_and_failed_render_writes_nothing(tmp_path: Path) -> None:
    r = runner.invoke(app, ["render", str(LIBRARY_FILES[0]), "-o", str(tmp_path / "a.svg")])
    assert r.exit_code == 0 and (tmp_path / "a.svg").read_text().startswith("<?xml")
    r = runner.invoke(app, ["render", str(GOLDEN / "three_mistakes.ebm"), "-o", str(tmp_path / "b.svg")])
    assert r.exit_code == 1 and not (tmp_path / "b.svg").exists()


def test_console_script_is_installed() -> None:
    exe = shutil.which("ebm") or str(Path(sys.executable).parent / "ebm")
    out = subprocess.run([exe, "check", str(LIBRARY_FILES[0])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_check_takes_a_model_and_its_parameters(tmp_path: Path) -> None:
    """Issue 25.6: `ebm check --model` checks one model of a file, --param sets its parameters."""
    f = tmp_path / "two.ebm"
    f.write_text("model A(n = 2) {\n  observed x : R[n]\n\n  energy E = l2(x)\n}\n\n"
                 "model B {\n  observed y : R[2]\n  latent z : R[2]\n\n  energy E = sq_dist(y, z)\n}\n")
    r = runner.invoke(app, ["check", str(f), "--model", "A", "--param", "n=5"])
    assert r.exit_code == 0 and "0 error(s), 0 warning(s)" in r.output  # B's collapse warning is not A's
    r = runner.invoke(app, ["check", str(f), "--model", "C"])
    assert r.exit_code == 1 and "no model named 'C'" in r.output
    r = runner.invoke(app, ["check", str(f), "--model", "A", "--param", "m=5"])
    assert r.exit_code == 1 and "model 'A' has no parameter 'm' to set" in r.output
    r = runner.invoke(app, ["check", str(f)])
    assert "W001" in r.output  # without --model: every model, B's warning included
