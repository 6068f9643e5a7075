"""The ebmgraph composer (Streamlit): `app.py` is the page; each panel is a module of `panels`;
`state.py` declares every session key. Nothing here runs at import."""
