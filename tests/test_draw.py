"""Drawing in the Fig. 18 symbols: DOT attributes per node kind, SVG/PNG output, clusters, folding."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import ebmgraph
from ebmgraph.draw import render, to_dot

from .conftest import LIBRARY, LIBRARY_FILES


def _attrs(dot: str, label: str) -> str:
    m = re.search(r"^\s*\S+ \[(.*?label=\"?" + re.escape(label) + r"\"?[ \]].*)$", dot, re.M)
    assert m, f"no node labelled {label}\n{dot}"
    return m.group(1)


def test_fig18_symbols_in_dot() -> None:
    dot = to_dot(ebmgraph.load(LIBRARY / "jepa.ebm"))
    x, z, sy, enc, d = (_attrs(dot, n) for n in ("x", "z", "sy", "enc_x", "D"))
    assert "shape=circle" in x and "style=filled" in x and "fillcolor=gray80" in x      # observed: filled
    assert "shape=circle" in z and "style=solid" in z and "fillcolor=white" in z       # latent: hollow
    assert "shape=circle" in sy and "style=filled" in sy                               # function output: filled
    assert "shape=box" in enc and "style=rounded" in enc                                # function: rounded box
    assert "shape=box" in d and "fillcolor=\"#e06666\"" in d                            # energy: red box
    assert re.search(r"-> \S+ \[color=\"#990000\" dir=none\]", dot)                    # undirected energy links
    assert "rankdir=LR" in dot
    assert to_dot(ebmgraph.load(LIBRARY / "jepa.ebm")) == dot                          # deterministic


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=[p.stem for p in LIBRARY_FILES])
def test_every_library_file_renders_svg(path: Path, tmp_path: Path) -> None:
    g = ebmgraph.load(path)
    out = render(g, tmp_path / f"{path.stem}.svg")
    root = ET.parse(out).getroot()
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert len([t for t in titles if t and re.fullmatch(r"n\d+", t)]) == len(g)
    svg = out.read_text()
    assert ("#e06666" in svg) == bool(g.energies) and "<ellipse" in svg  # world_model.ebm is a part: no energy


def test_subgraphs_and_folding() -> None:
    g = ebmgraph.load(LIBRARY / "hjepa.ebm")
    dot = to_dot(g)
    assert "subgraph cluster_lo {" in dot and "subgraph cluster_hi {" in dot
    assert 'label="lo : JEPA"' in dot
    folded = to_dot(g, fold=True)
    assert "cluster_" not in folded and 'label="hi : JEPA"' in folded
    assert folded.count("->") < dot.count("->")


def test_png_and_dot_outputs(tmp_path: Path) -> None:
    g = ebmgraph.load(LIBRARY / "planner.ebm")
    png = render(g, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = render(g, tmp_path / "p.dot")
    assert dot.read_text() == to_dot(g)
    with pytest.raises(ValueError, match="use a .svg"):
        render(g, tmp_path / "p.jpeg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.dot", "p.png"]


def test_a_graph_and_a_compiled_model_show_their_drawing_in_a_notebook() -> None:
    """Issue 30.2: Jupyter calls _repr_svg_; the drawing is the one `ebm render` writes."""
    import ebmgraph
    from ebmgraph.draw import svg
    g = ebmgraph.load(LIBRARY / "ellipse.ebm")
    drawn = g._repr_svg_()
    assert drawn is not None and drawn.lstrip().startswith("<?xml") and "<svg" in drawn
    assert ">z</text>" in drawn and ">y</text>" in drawn  # the model's variables are drawn
    assert ebmgraph.compile(g)._repr_svg_() == drawn
    folded = svg(ebmgraph.load(LIBRARY / "hjepa.ebm"), fold=True)
    assert folded is not None and folded != svg(ebmgraph.load(LIBRARY / "hjepa.ebm"))
