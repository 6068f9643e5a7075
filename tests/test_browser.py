"""The composer in a real browser: Playwright driving Debian's Chromium against `streamlit run`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run 'make test' (it installs it with apt-get)"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exe = Path(sys.executable).parent / "streamlit"
    proc = subprocess.Popen([str(exe), "run", str(ROOT / "app" / "app.py"), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ})
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("streamlit did not start")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script is idle and the canvas is drawn once (a rerun may briefly show two)."""
    for _ in range(3):
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=90000)
        time.sleep(0.3)
    end = time.time() + 30
    while page.locator("iframe[title*='streamlit_flow']").count() > 1 and time.time() < end:
        time.sleep(0.2)


def _wait_text(page, needle: str, present: bool = True, timeout: float = 30.0) -> str:  # type: ignore[no-untyped-def]
    """The editor's text once it contains (or no longer contains) `needle`; the app reruns after edits."""
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        text = page.locator("textarea").first.input_value()
        if (needle in text) == present:
            return text
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} {'never appeared' if present else 'never went away'} in the editor:\n{text}")


def _choose(page, scope, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of a Streamlit selectbox; a rerun may close the list, so try again."""
    for attempt in range(4):
        _settle(page)
        scope.get_by_label(label, exact=True).click()
        opt = page.get_by_role("option", name=option, exact=True)
        try:
            opt.wait_for(timeout=5000)
            opt.click()
            _settle(page)
            return
        except Exception:  # noqa: BLE001 - the list was closed by a rerun: reopen it
            page.keyboard.press("Escape")
            if attempt == 3:
                raise


def _retry(fn):  # type: ignore[no-untyped-def]
    """Call a canvas query again while a rerun briefly shows two canvas frames (Playwright's strict mode)."""
    from playwright.sync_api import Error

    for attempt in range(40):
        try:
            return fn()
        except Error:
            if attempt == 39:
                raise
            time.sleep(0.25)
    return None


def _stable_box(locator) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """A node's box once it stops moving (React Flow animates fitView after new nodes arrive)."""
    last = None
    for _ in range(40):
        box = _retry(locator.bounding_box)
        if box is not None and box == last:
            return box
        last = box
        time.sleep(0.25)
    assert last is not None
    return last


def _center(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_compose_in_the_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(server)
        page.wait_for_selector("textarea", timeout=90000)
        _settle(page)
        editor = page.locator("textarea").first
        assert "model JEPA" in editor.input_value()
        flow = page.frame_locator("iframe[title*='streamlit_flow']")
        node_z = flow.locator(".react-flow__node[data-id='z']")
        node_z.wait_for(timeout=90000)
        assert _retry(flow.locator(".react-flow__node").count) == 12

        # drag a node: it moves and stays where it was put
        before = _retry(node_z.bounding_box)
        assert before is not None
        x, y = _center(before)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 60, steps=10)
        page.mouse.up()
        _settle(page)
        after = _retry(flow.locator(".react-flow__node[data-id='z']").bounding_box)
        assert after is not None and abs(after["y"] - before["y"]) > 20

        # add an energy term from the palette: the text changes
        sidebar = page.locator("[data-testid='stSidebar']")
        _choose(page, sidebar, "Add", "energy")
        sidebar.get_by_label("Name", exact=True).fill("Q")
        sidebar.get_by_label("Name", exact=True).press("Enter")
        _settle(page)
        _choose(page, sidebar, "Energy", "l2")
        sidebar.get_by_role("button", name="Add to the diagram").click()
        _settle(page)
        _wait_text(page, "energy Q = l2()")

        # connect z to Q on the canvas: the text gets energy Q = l2(z)
        flow.locator(".react-flow__node[data-id='energy:Q']").wait_for(timeout=60000)
        for attempt in range(3):  # the canvas may still be fitting its view after the rerun: retry the gesture
            src = _stable_box(flow.locator(".react-flow__node[data-id='z'] .react-flow__handle.source"))
            dst = _stable_box(flow.locator(".react-flow__node[data-id='energy:Q'] .react-flow__handle.target"))
            page.mouse.move(*_center(src))
            page.mouse.down()
            page.mouse.move(*_center(dst), steps=15)
            page.mouse.up()
            _settle(page)
            try:
                _wait_text(page, "energy Q = l2(z)", timeout=10 if attempt < 2 else 30)
                break
            except AssertionError:
                if attempt == 2:
                    raise

        # a mistake typed in the text shows at its line and column; the canvas keeps the last good graph
        text = page.locator("textarea").first.input_value()
        page.locator("textarea").first.fill(text.replace("sq_dist(sy, sy_hat)", "sq_dist(sy, sy_hatt)"))
        page.locator("textarea").first.press("Control+Enter")
        _settle(page)
        page.get_by_text("did you mean 'sy_hat'?").first.wait_for(timeout=30000)
        assert page.get_by_text("jepa.ebm:18:26: error[E016]: unknown variable 'sy_hatt'").count() >= 1
        assert _retry(flow.locator(".react-flow__node").count) == 13
        page.screenshot(path=str(tmp_path / "error.png"))

        # open the ellipse, load the moons, run inference: a landscape plot with the minimizer
        _choose(page, sidebar, "Library model (template)", "ellipse.ebm")
        sidebar.locator("[data-testid='stBaseButton-secondary']", has_text="Open").click()
        _settle(page)
        _wait_text(page, "model Ellipse")
        _choose(page, sidebar, "Dataset", "moons")
        page.get_by_role("tab", name="Inference").click()
        page.get_by_role("button", name="Run inference").click()
        _settle(page)
        page.locator("[data-testid='stImage'] img, [data-testid='stPyplot'] img, img[src*='media']").first.wait_for(
            timeout=90000)
        page.get_by_text("free energy F").first.wait_for(timeout=30000)
        # the README's screenshots: refreshed with UPDATE_SCREENSHOTS=1, otherwise written to a temporary folder
        shots = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
        shots.mkdir(exist_ok=True)
        page.get_by_text("free energy F").first.scroll_into_view_if_needed()
        page.mouse.wheel(0, 350)
        time.sleep(0.5)
        page.screenshot(path=str(shots / "app-inference.png"))
        page.get_by_role("tab", name="Compose").click()
        _settle(page)
        page.screenshot(path=str(shots / "app.png"))
        browser.close()
