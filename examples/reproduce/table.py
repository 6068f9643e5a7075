"""docs/reproductions.md from the rows the reproduction scripts kept (docs/reproductions/*.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reproductions"


def main() -> None:
    rows = [json.loads(p.read_text()) for p in sorted(DOCS.glob("*.json"))]
    lines = ["# The seeds reproduced", "",
             "Made by `make reproduce` (examples/reproduce/): each row trains a library model from its `.ebm` file and",
             "a config through `ebm train`, and runs the peer in the same process on the same data and held-out split.",
             "Times are whole processes (`ebm` and the plain-torch script of the same math each start Python and",
             "import torch); the peer's is its fit alone, in this process.",
             "", "| seed item | metric | ours | peer | ratio | bar | | our time | plain torch | peer's time | also |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "pass" if r["passed"] else "**fail**"
        plain = (f"{r['torch_s']:.1f} s ({r['ours_s'] / r['torch_s']:.2f}x)" if r.get("torch_s") else "")
        lines.append(f"| {r['name']} | {r['metric']} | {r['ours']:.4f} | {r['peer']:.4f} | {r['ratio']:.4f} | "
                     f"{r['bar']} | {mark} | {r['ours_s']:.1f} s | {plain} | {r['peer_s']:.2f} s | "
                     f"{r.get('note', '')} |")
    lines.append("")
    for r in rows:
        if r.get("figure"):
            lines += [f"### {r['name']}", "", f"![{r['name']}](reproductions/{r['figure']})", ""]
    (ROOT / "docs" / "reproductions.md").write_text("\n".join(lines))
    print(f"wrote docs/reproductions.md ({len(rows)} rows)")
    missed = [r["name"] for r in rows if not r["passed"] and not r.get("quick")]
    if missed:
        print("bars missed: " + "; ".join(missed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
