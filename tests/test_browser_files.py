"""Two browser tabs on one file (issue 27): the second Save gets the conflict, it does not silently
win. Playwright driving Debian's Chromium against `streamlit run app/app.py -- FILE`."""

from __future__ import annotations

from pathlib import Path

from .conftest import ROOT
from .test_browser import CHROMIUM, FLAGS, _settle, editor_text, streamlit_server, type_text, wait_editor

JEPA = (ROOT / "library" / "jepa.ebm").read_text()


def _save(page) -> None:  # type: ignore[no-untyped-def]
    """Press Save once the text typed has reached the app (sent 120 ms after the last key; then idle)."""
    page.wait_for_timeout(600)
    _settle(page)
    page.locator("[data-testid='stSidebar']").get_by_role("button", name="Save jepa.ebm").click()
    _settle(page)


def test_two_tabs_saving_one_file_the_second_gets_the_conflict(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    target = tmp_path / "jepa.ebm"
    target.write_text(JEPA)
    one, two = JEPA.replace("0.1 * l1(z)", "0.5 * l1(z)"), JEPA.replace("0.1 * l1(z)", "0.7 * l1(z)")
    with streamlit_server(str(target)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tabs = [browser.new_context().new_page(), browser.new_context().new_page()]  # two sessions
        for page in tabs:
            page.set_viewport_size({"width": 1600, "height": 1000})
            page.goto(url)
            wait_editor(page)
            _settle(page)
            assert editor_text(page) == JEPA
        first, second = tabs
        type_text(first, one)
        type_text(second, two)
        _save(first)
        sidebar = first.locator("[data-testid='stSidebar']")
        expect(first.get_by_text(f"saved {target}").first).to_be_visible(timeout=90000)
        assert target.read_text() == one
        _save(second)
        bar = second.locator("[data-testid='stSidebar']")
        expect(bar.get_by_text("Save did not write it", exact=False).first).to_be_visible(timeout=90000)
        for label in ("Reload from disk", "Show diff", "Overwrite"):
            expect(bar.get_by_role("button", name=label)).to_be_visible()
        assert target.read_text() == one  # the second tab did not silently win
        bar.get_by_role("button", name="Reload from disk").click()
        _settle(second)
        expect(second.get_by_text(f"reloaded {target} from disk").first).to_be_visible(timeout=90000)
        assert editor_text(second) == one
        assert not sidebar.get_by_text("was changed on disk", exact=False).count()  # the first tab saw no change
        browser.close()
