"""The composer's speed where people wait, in a real browser (Playwright driving Debian's Chromium
against `streamlit run`), medians of N tries:

1. warm open to the first canvas node (the server already up, the page opened once before);
2. a text edit to the canvas (Ctrl+Enter on a new `latent` line until its node is drawn);
3. a canvas connection to the text (a drag from a node's handle until the text has the argument);
4. whether a node drag reruns the app (the script's state turns to running).

Targets (issue 13): <= 1.5 s, <= 250 ms, <= 300 ms, and no rerun on a drag.

    python benchmarks/bench_app.py [--tries 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_browser import (  # noqa: E402 - the browser tests' server and helpers, shared
    CHROMIUM,
    EDITOR,
    FLAGS,
    _center,
    _settle,
    _stable_box,
    _wait_text,
    streamlit_server,
)


def _until(check, timeout: float = 30.0, every: float = 0.005) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the page never got there")
        time.sleep(every)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    opens, edits, connects, drag_reruns = [], [], [], 0
    with streamlit_server() as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)  # cold: not measured
            page.wait_for_selector(EDITOR, timeout=120000)
            _settle(page)
            flow = page.frame_locator("iframe[title*='streamlit_flow']")
            for _ in range(args.tries):
                t0 = time.perf_counter()
                page.goto(url)
                flow.locator(".react-flow__node").first.wait_for(timeout=120000)
                opens.append(time.perf_counter() - t0)
                _settle(page)
            for i in range(args.tries):
                editor = page.locator(EDITOR).first
                text = editor.input_value()
                name = f"w{i}"
                editor.fill(text.replace("  latent z", f"  latent {name} : R[2]\n  latent z", 1))
                t0 = time.perf_counter()
                editor.press("Control+Enter")
                node = flow.locator(f".react-flow__node[data-id='{name}']")
                _until(lambda node=node: node.count() == 1)
                edits.append(time.perf_counter() - t0)
                _settle(page)
            for i in range(args.tries):
                src = _stable_box(flow.locator(f".react-flow__node[data-id='w{i}'] .react-flow__handle.source"))
                dst = _stable_box(flow.locator(".react-flow__node[data-id='energy:R'] .react-flow__handle.target"))
                page.mouse.move(*_center(src))
                page.mouse.down()
                page.mouse.move(*_center(dst), steps=8)
                t0 = time.perf_counter()
                page.mouse.up()
                editor = page.locator(EDITOR).first
                _until(lambda i=i, editor=editor: f"w{i}" in editor.input_value().split("energy R", 1)[-1])
                connects.append(time.perf_counter() - t0)
                _settle(page)
                _wait_text(page, f"w{i}")
            for _ in range(args.tries):
                box = _stable_box(flow.locator(".react-flow__node[data-id='x']"))
                x, y = _center(box)
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + 30, y + 30, steps=6)
                page.mouse.up()
                time.sleep(0.5)
                running = page.locator("[data-testid='stApp'][data-test-script-state='running']").count()
                drag_reruns += int(running > 0 or page.locator("[data-testid='stStatusWidget']").count() > 0)
                _settle(page)
            browser.close()
    print(f"{'measure':44} {'median':>9} {'best':>9} {'target':>9}")
    for label, xs, target in (("warm open to the first canvas node", opens, 1.5),
                              ("text edit to the canvas", edits, 0.25),
                              ("canvas connect to the text", connects, 0.30)):
        print(f"{label:44} {statistics.median(xs) * 1e3:7.0f}ms {min(xs) * 1e3:7.0f}ms {target * 1e3:7.0f}ms")
    print(f"{'node drags that reran the app':44} {drag_reruns:>7}/{args.tries}")


if __name__ == "__main__":
    main()
