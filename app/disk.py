"""The opened file on disk: what this session loaded or last saved of it (its sha256, mtime and size),
so that Save never overwrites a change made elsewhere (an editor, another browser tab, git) and a
change made while the file is open is noticed on the next rerun."""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path

import streamlit as st

from ebmgraph.files import read_bounded, write_atomic

Sig = tuple[str, str, int, int]  # (path, sha256 of its bytes, mtime in ns, size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remember(path: str | Path, data: bytes | None = None) -> None:
    """This session has the file's content as it is now (`data`: the bytes it just wrote or read)."""
    ss = st.session_state
    p = Path(path)
    try:
        info = p.stat()
        if data is None:
            data = read_bounded(p)
    except OSError:
        ss.file_sig = None
        return
    ss.file_sig = (str(path), sha(data), info.st_mtime_ns, info.st_size)


def state(full: bool = False) -> str:
    """'same', 'changed' or 'deleted': the opened file on disk against what this session loaded or saved.
    A stat first; the content is hashed only when its mtime or size moved (`full`: always, as Save does,
    since a write within one mtime tick keeping the size is not seen by a stat)."""
    ss = st.session_state
    path = ss.file_path
    if not path:
        return "same"
    sig = ss.file_sig
    if sig is None or sig[0] != path:  # opened before this session knew it (the command line): as it is now
        remember(path)
        return "same"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "deleted"
    except OSError:
        return "changed"
    if not full and (info.st_mtime_ns, info.st_size) == (sig[2], sig[3]):
        return "same"
    try:
        data = read_bounded(path)
    except OSError:
        return "changed"
    if sha(data) != sig[1]:
        return "changed"
    ss.file_sig = (path, sig[1], info.st_mtime_ns, info.st_size)  # touched, not changed
    return "same"


def disk_text(path: str) -> str:
    """The file's text byte for byte (no newline translation); an OSError or UnicodeDecodeError."""
    return read_bounded(path).decode("utf-8")


def write(path: str | Path, text: str) -> None:
    """Write the text (ebmgraph.files.write_atomic: an OutputError) and remember it as this session's."""
    write_atomic(path, text)
    remember(path, text.encode("utf-8"))


def diff(text: str, path: str) -> str:
    """The unified diff from the text being edited to the file on disk."""
    try:
        other = disk_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {path}: {exc}"
    lines = difflib.unified_diff(text.splitlines(keepends=True), other.splitlines(keepends=True),
                                 fromfile="the text here", tofile=f"{path} (on disk)")
    out = "".join(x if x.endswith("\n") else x + "\n" for x in lines)
    return out or "no difference in the text (only the file's bytes or time changed)"
