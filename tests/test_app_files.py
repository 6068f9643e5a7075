"""Files in the composer as people keep them (issue 27): library models in folders open with their
imports beside them; Save never overwrites a change made elsewhere (another editor, another browser
tab) without asking; a change on disk is noticed and can be reloaded; Save as writes a new file and
refuses an existing one unless told. Driven in Streamlit's AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import ROOT, opened_app

APP = str(ROOT / "app" / "app.py")
JEPA = (ROOT / "library" / "jepa.ebm").read_text()
CHOICES = {"file_reload": "Reload from disk", "file_diff_go": "Show diff", "file_overwrite": "Overwrite"}


def _opened(monkeypatch: pytest.MonkeyPatch, path: Path) -> AppTest:
    """The app opened on `path` as `streamlit run app/app.py -- path` opens it (Save writes it back)."""
    monkeypatch.setattr(sys, "argv", [APP, str(path)])
    at = opened_app()
    assert at.session_state.file_path == str(path)
    return at


def _type(at: AppTest, text: str) -> None:
    at.session_state.editor = text
    at.run()
    assert not at.exception, at.exception


def _click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def _buttons(at: AppTest) -> dict[str, str]:
    return {b.key: b.label for b in at.button if b.key in CHOICES}


def test_the_library_lists_models_in_folders_and_agent_planner_imports_beside_it(at: AppTest) -> None:
    names = at.selectbox(key="library_pick").options
    assert "agent/planner.ebm" in names and "agent/world_model.ebm" in names and "jepa.ebm" in names
    at.selectbox(key="library_pick").set_value("agent/planner.ebm").run()
    _click(at, "open_library")
    assert at.session_state.editor == (ROOT / "library" / "agent" / "planner.ebm").read_text()
    assert not _errors(at), _errors(at)
    _, name, graph, diags, _ = at.session_state.checked
    assert name == "planner.ebm" and not [d for d in diags if d.severity == "error"]
    assert graph is not None and not graph.missing
    imported = {Path(p) for p in graph.imported}
    agent = (ROOT / "library" / "agent").resolve()
    assert agent / "world_model.ebm" in imported  # the one beside it,
    assert (ROOT / "library" / "world_model.ebm").resolve() not in imported  # never library/world_model.ebm
    assert not any("has no folder" in w for w in _warnings(at))
    assert not at.session_state.file_path  # a template: Save never writes into the library


def test_an_uploaded_file_takes_no_library_import_silently(at: AppTest) -> None:
    text = (ROOT / "library" / "agent" / "planner.ebm").read_text()
    at.file_uploader(key="upload_ebm").set_value(("planner.ebm", text.encode(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    line = text.splitlines().index('import "cost.ebm"') + 1
    # an import found nowhere is a located error naming it
    assert any(f"planner.ebm:{line}:" in e and "E051" in e and "'cost.ebm'" in e for e in _errors(at)), _errors(at)
    # the one found in library/ (another world_model.ebm than the agent's) is said, not taken silently
    assert any("has no folder" in w and "library/world_model.ebm" in w for w in _warnings(at)), _warnings(at)


def test_save_refuses_a_file_changed_on_disk_and_overwrite_writes_it(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    target = tmp_path / "jepa.ebm"
    target.write_text(JEPA)
    at = _opened(monkeypatch, target)
    mine = JEPA.replace("0.1 * l1(z)", "0.3 * l1(z)")
    _type(at, mine)
    theirs = JEPA.replace("0.1 * l1(z)", "0.25 * l1(z)")  # another editor saved the file meanwhile
    target.write_text(theirs)
    _click(at, "save_file")
    assert target.read_text() == theirs  # nothing written
    assert any(f"{target} was changed on disk" in w and "Save did not write it" in w for w in _warnings(at)), \
        _warnings(at)
    assert _buttons(at) == CHOICES
    assert at.session_state.editor == mine  # the text here is kept
    _click(at, "file_diff_go")
    diff = [c.value for c in at.code if "(on disk)" in c.value]
    assert diff and "-  energy R = 0.3 * l1(z)" in diff[0] and "+  energy R = 0.25 * l1(z)" in diff[0], diff
    assert target.read_text() == theirs
    _click(at, "file_overwrite")
    assert target.read_text() == mine
    assert not _buttons(at) and not _warnings(at)
    assert any(f"saved {target}" in s.value for s in at.success)
    _type(at, mine.replace("0.3 * l1(z)", "0.4 * l1(z)"))  # the write remembered: the next Save just writes
    _click(at, "save_file")
    assert "0.4 * l1(z)" in target.read_text() and not _buttons(at)


def test_of_two_sessions_saving_one_file_the_second_gets_the_conflict(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    target = tmp_path / "jepa.ebm"
    target.write_text(JEPA)
    first, second = _opened(monkeypatch, target), _opened(monkeypatch, target)  # two browser tabs
    one, two = JEPA.replace("0.1 * l1(z)", "0.5 * l1(z)"), JEPA.replace("0.1 * l1(z)", "0.7 * l1(z)")
    _type(first, one)
    _type(second, two)
    _click(first, "save_file")
    assert target.read_text() == one
    _click(second, "save_file")
    assert target.read_text() == one  # the second did not silently win
    assert any("Save did not write it" in w for w in _warnings(second)), _warnings(second)
    assert _buttons(second) == CHOICES
    assert second.session_state.editor == two
    first.run()  # the first session's own write is no change to it
    assert not _buttons(first) and not _warnings(first)


def test_a_change_on_disk_is_noticed_on_the_next_rerun_and_reloads_byte_for_byte(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "jepa.ebm"
    target.write_text(JEPA)
    at = _opened(monkeypatch, target)
    assert not _warnings(at) and not _buttons(at)
    theirs = JEPA.replace("0.1 * l1(z)", "0.125 * l1(z)") + "# é, a comment added elsewhere\n"
    target.write_bytes(theirs.encode("utf-8"))
    at.run()
    assert any(f"{target} was changed on disk" in w for w in _warnings(at)), _warnings(at)
    assert _buttons(at) == CHOICES
    assert at.session_state.editor == JEPA  # only offered: nothing replaced yet
    _click(at, "file_reload")
    assert at.session_state.editor.encode("utf-8") == target.read_bytes()
    assert not _warnings(at) and not _buttons(at) and not _errors(at)
    assert any(f"reloaded {target}" in s.value for s in at.success)
    _type(at, theirs.replace("0.125", "0.5"))  # and the reloaded text saves without a conflict
    _click(at, "save_file")
    assert "0.5 * l1(z)" in target.read_text() and not _buttons(at)


def test_save_as_writes_a_new_file_and_refuses_an_existing_one_unless_ticked(
        at: AppTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert not at.session_state.file_path and "save_file" not in [b.key for b in at.button]  # a template: no Save
    at.session_state.canvas_ops = [{"op": "new_model", "name": "Fresh", "params": {}, "comment": ""}]
    at.run()
    text = at.session_state.editor
    assert "model Fresh" in text
    at.text_input(key="save_as_path").set_value("fresh.ebm").run()
    _click(at, "save_as_go")
    assert (tmp_path / "fresh.ebm").read_text() == text
    assert at.session_state.file_path == str(tmp_path / "fresh.ebm")
    assert at.button(key="save_file").label == "Save fresh.ebm"
    keep = tmp_path / "kept.ebm"
    keep.write_text("model Kept { }\n")
    at.text_input(key="save_as_path").set_value("kept.ebm").run()
    _click(at, "save_as_go")
    assert keep.read_text() == "model Kept { }\n"
    assert any("kept.ebm exists: nothing was written" in e for e in _errors(at)), _errors(at)
    assert at.session_state.file_path == str(tmp_path / "fresh.ebm")
    at.checkbox(key="save_as_confirm").check().run()
    _click(at, "save_as_go")
    assert keep.read_text() == text and at.session_state.file_path == str(keep)


def test_the_palettes_shape_starts_afresh_when_the_domain_changes(at: AppTest) -> None:
    """Issue 27.5: a shape typed for a real vector stayed when the domain became categorical, and
    `latent k : {3}[2]` came out."""
    at.selectbox(key="palette_kind").set_value("latent").run()
    at.text_input(key="palette_name").set_value("k").run()
    at.text_input(key="palette_shape").set_value("2").run()
    at.selectbox(key="palette_domain").set_value("categorical").run()
    assert at.text_input(key="palette_shape").value == ""
    at.text_input(key="palette_k").set_value("3").run()
    at.button(key="palette_add").click().run()
    assert not at.exception, at.exception
    assert "latent k : {3}\n" in at.session_state["editor"]
    at.selectbox(key="palette_domain").set_value("real").run()
    assert at.text_input(key="palette_shape").value == "4"
