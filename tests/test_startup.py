"""The front end starts without torch: `ebm check`, `fmt`, `show` and `render` never import it
(torch is imported when a model is compiled), nor pydantic (the training config's) nor networkx
(only a diagnostic about a cycle needs it). Checked in fresh processes, as a user runs them."""

from __future__ import annotations

import subprocess
import sys

from .conftest import LIBRARY

PROBE = """
import sys
import ebmgraph, ebmgraph.cli
from ebmgraph.frontend import check_file
from ebmgraph.draw import to_dot
for name in {files!r}:
    text = open(name).read()
    check_file(text, name)
    g = ebmgraph.load(name) if name.endswith(("jepa.ebm", "planner.ebm", "gmm.ebm")) else None
    if g is not None:
        to_dot(g, fold=True)
        ebmgraph.dumps(g)
print([m for m in ("torch", "pydantic", "networkx") if m in sys.modules])
"""


def test_the_front_end_never_imports_torch() -> None:
    files = [str(p) for p in sorted(LIBRARY.glob("*.ebm"))]
    r = subprocess.run([sys.executable, "-c", PROBE.format(files=files)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_ebm_check_show_fmt_render_run_without_torch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = ("import sys\nfrom ebmgraph.cli import main\nsys.argv = ['ebm'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('torch', 'pydantic', 'networkx') if m in sys.modules], file=sys.stderr)\n")
    for args in (["check", str(LIBRARY / "jepa.ebm")], ["show", str(LIBRARY / "planner.ebm")],
                 ["fmt", str(LIBRARY / "gmm.ebm")], ["render", str(LIBRARY / "hjepa.ebm"), "-o", str(tmp_path / "h.svg")]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert r.stderr.strip().endswith("[]"), (args, r.stderr)


def test_compiling_imports_torch_when_needed() -> None:
    code = ("import sys, ebmgraph\nm = ebmgraph.compile(ebmgraph.load(sys.argv[1]))\n"
            "print('torch' in sys.modules, type(m).__name__)\n")
    r = subprocess.run([sys.executable, "-c", code, str(LIBRARY / "ellipse.ebm")], capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.strip() == "True CompiledModel", r.stderr
