"""The Fig. 18 drawing: scaled to fit within bounds, zoomable, sub-models and loops foldable."""

from __future__ import annotations

import base64

import streamlit as st

import ebmgraph
from ebmgraph.draw import to_dot


@st.cache_data(max_entries=64, show_spinner=False)
def render(dot: str, fmt: str) -> bytes:
    """Graphviz's output for a DOT text, kept across reruns (every rerun draws every tab)."""
    import graphviz
    return graphviz.Source(dot).pipe(format=fmt)  # type: ignore[no-any-return]


def show(graph: ebmgraph.Graph | None, file_name: str) -> None:
    if graph is None:
        st.info("fix the errors to see the drawing")
        return
    c1, c2, c3 = st.columns(3)
    fold = c1.checkbox("Fold sub-models", key="fold", value=bool(graph.instances))
    loops = c2.checkbox("Fold loops", key="fold_loops", value=len(graph) > 40)
    zoom = c3.slider("Zoom", 0.25, 3.0, 1.0, 0.05, key="drawing_zoom")
    dot = to_dot(graph, fold=fold, fold_loops=loops)
    svg = render(dot, "svg")
    # the SVG at its own size times the zoom, in a box that scrolls: never stretched to the
    # page's width (labels keep their size), never wider than the page without a scroll bar
    data = base64.b64encode(svg).decode("ascii")
    st.markdown(f'<div style="max-height: 720px; overflow: auto; border: 1px solid #ddd">'
                f'<img src="data:image/svg+xml;base64,{data}" style="zoom: {zoom}; max-width: none"/></div>',
                unsafe_allow_html=True)
    stem = file_name.rsplit(".", 1)[0]
    d1, d2, d3 = st.columns(3)
    d1.download_button("SVG", svg, file_name=f"{stem}.svg", key="dl_svg")
    d2.download_button("PNG", render(dot, "png"), file_name=f"{stem}.png", key="dl_png")
    d3.download_button("DOT", dot, file_name=f"{stem}.dot", key="dl_dot")
    with st.expander("DOT source"):
        st.code(dot, language="dot")
