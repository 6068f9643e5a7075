"""Uploads in the composer: a hostile or broken file is one message on the page, never a traceback;
the text being edited stays as it was; nothing is left on disk. The readers (app/uploads.py) on
their own, then the page driven through its uploaders in Streamlit's AppTest."""

from __future__ import annotations

import io
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.uploads import UploadError, read_data, read_ebm, read_layout
from ebmgraph.syntax import MAX_SOURCE_CHARS

from .conftest import ROOT

APP = str(ROOT / "app" / "app.py")
JEPA = (ROOT / "library" / "jepa.ebm").read_text()


def npy(arr: np.ndarray) -> bytes:
    fh = io.BytesIO()
    np.save(fh, arr, allow_pickle=True)
    return fh.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8", tail: bytes = b"\0" * 64) -> bytes:
    """A .npy file whose header promises `shape`, followed by `tail` (not what it promises)."""
    fh = io.BytesIO()
    np.lib.format.write_array_header_1_0(fh, {"descr": descr, "fortran_order": False, "shape": shape})
    return fh.getvalue() + tail


BIG_EBM = b"# a comment line\n" * (MAX_SOURCE_CHARS // 17 + 1)  # ~5 MB, past the parser's limit
TEN_TO_12_ROWS = npy_header((10**12, 1))  # would be 7.28 TiB of float64
PROMISE = npy_header((10**7, 12))  # within the limits (960 MB), but 64 bytes came
OBJECTS = npy(np.array([{"a": 1}, None], dtype=object))
TRUNCATED = npy(np.arange(200, dtype=np.float32).reshape(50, 4))[:-40]


# ---------------------------------------------------------------- the readers
@pytest.mark.parametrize(("data", "says"), [
    (BIG_EBM, "too large"),
    (b"", "is empty"),
    (b"  \n\t\n", "is empty"),
    (b"model M {\n  observed x : R[2] \xff\xfe }\n", "not UTF-8 text (byte 0xff at offset 30)"),
])
def test_a_refused_ebm_file_is_one_message(data: bytes, says: str) -> None:
    with pytest.raises(UploadError) as err:
        read_ebm(data, "m.ebm")
    assert says in str(err.value), str(err.value)


def test_an_ebm_file_within_the_limits_is_its_text() -> None:
    assert read_ebm(JEPA.encode(), "jepa.ebm") == JEPA
    assert read_ebm("# é\nmodel M { }\n".encode(), "m.ebm") == "# é\nmodel M { }\n"


def _layout(positions: object) -> bytes:
    return json.dumps({"ebmgraph_layout": 1, "positions": positions}).encode()


@pytest.mark.parametrize(("data", "says"), [
    (b"5", "is not a layout file"),
    (b"[1, 2]", "is not a layout file"),
    (json.dumps({"ebmgraph_layout": 1, "positions": 5}).encode(), "is not a layout file"),
    (json.dumps({"ebmgraph_layout": True, "positions": {}}).encode(), "is not a layout file"),
    (json.dumps({"ebmgraph_layout": 2, "positions": {}}).encode(), "is not a layout file"),
    (_layout({"x": 5}), "the position of 'x' is 5"),
    (_layout({"x": [1.0]}), "the position of 'x' is [1.0]"),
    (_layout({"x": [1.0, 2.0, 3.0]}), "the position of 'x'"),
    (_layout({"x": ["1", 2]}), "the position of 'x'"),
    (_layout({"x": [True, 2]}), "the position of 'x'"),
    (_layout({"x": None}), "the position of 'x'"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [NaN, 1]}}', "NaN is not a number"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [1, Infinity]}}', "Infinity is not a number"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [1, -Infinity]}}', "-Infinity is not a number"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [1e400, 1]}}', "finite number"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [1' + b"0" * 400 + b', 1]}}', "finite number"),
    (_layout({"x": [1e12, 1]}), "finite number"),
    (b"", "is not JSON"),
    (b"{", "is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not"),
    (b'\xff{"ebmgraph_layout": 1}', "not UTF-8"),
])
def test_a_refused_layout_is_one_message(data: bytes, says: str) -> None:
    with pytest.raises(UploadError) as err:
        read_layout(data, "m.layout.json")
    assert says in str(err.value) and str(err.value).startswith("m.layout.json"), str(err.value)


def test_a_layout_is_its_positions() -> None:
    assert read_layout(_layout({"x": [1, 2.5], "energy:D": [-3.0, 4]})) == {"x": (1.0, 2.5),
                                                                            "energy:D": (-3.0, 4.0)}
    for sidecar in (ROOT / "library").glob("*.layout.json"):  # every layout the library ships reads
        assert read_layout(sidecar.read_bytes(), sidecar.name)


@pytest.mark.parametrize(("name", "data", "says"), [
    ("huge.npy", TEN_TO_12_ROWS, "has 1000000000000 rows (its header says shape (1000000000000, 1)); the limit"),
    ("promise.npy", PROMISE, "is cut short: its header promises shape (10000000, 12) of float64 (915.5 MB) but "
                             "64 bytes follow the header"),
    ("gigabytes.npy", npy_header(((1 << 24), 256), "<f8", b""), "is 32.0 GB (shape (16777216, 256) of float64)"),
    ("objects.npy", OBJECTS, "holds Python objects"),
    ("truncated.npy", TRUNCATED, "is cut short"),
    ("long.npy", npy(np.zeros((4, 2))) + b"\0" * 16, "has bytes after its array"),
    ("empty.npy", b"", "is empty"),
    ("magic.npy", b"not a numpy file at all", "is not a .npy file"),
    ("header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 5}   \n", "header cannot be read"),
    ("text.npy", npy(np.array(["a", "b"])), "values of type <U1"),
    ("complex.npy", npy(np.zeros(3, dtype=np.complex64)), "values of type complex64"),
    ("record.npy", npy(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])), "values of type"),
    ("scalar.npy", npy(np.array(1.0, dtype=np.float32)), "a single value"),
    ("none.npy", npy(np.zeros((0, 3))), "no values"),
    ("negative.npy", npy_header((-1, 3)), "negative size"),
    ("wide.npy", npy_header((1, 1 << 28), "<f4", b""), "the limit is 512 MB a sample"),
    ("many.npy", npy_header(((1 << 24) + 1,), "|b1", b""), "has 16777217 rows"),
    ("v3.npy", b"\x93NUMPY\x03\x00" + b"\0" * 30, "format version 3.0"),
    ("pickle.npy", pickle.dumps([1, 2, 3]), "is not a .npy file"),
    ("empty.csv", b"", "is empty"),
    ("header_only.csv", b"a,b\n", "no rows of numbers"),
    ("ragged.csv", b"1,2\n3\n", "cannot read ragged.csv"),
    ("words.csv", b"a,b\nx,y\n", "cannot read words.csv"),
    ("latin1.csv", b"1,2\n\xe9,3\n", "not UTF-8 text (byte 0xe9 at offset 4)"),
])
def test_a_refused_data_file_is_one_message(name: str, data: bytes, says: str) -> None:
    with pytest.raises(UploadError) as err:
        read_data(data, name)
    assert says in str(err.value), str(err.value)


def test_a_data_file_is_its_rows() -> None:
    arr = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert np.array_equal(read_data(npy(arr), "a.npy")["data"], arr)
    assert np.array_equal(read_data(npy(np.asfortranarray(arr.astype(np.float64))), "f.npy")["data"], arr)
    assert read_data(npy(np.arange(5)), "one.npy")["data"].shape == (5, 1)  # 1-D: one value a row
    assert read_data(npy(np.zeros((3, 8, 8), dtype=np.uint8)), "img.npy")["data"].shape == (3, 8, 8)
    assert np.array_equal(read_data(b"x,y\n0,1\n2,3\n4,5\n6,7\n8,9\n10,11\n", "a.csv")["data"], arr)
    assert np.array_equal(read_data(b"0,1\n2,3\n4,5\n6,7\n8,9\n10,11", "b.csv")["data"], arr)


# ---------------------------------------------------------------- the page
@pytest.fixture
def at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The composer with the temporary directory its process uses moved to an empty folder of this test."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    return app


def _left_behind() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).iterdir())


def _upload(at: AppTest, key: str, name: str, data: bytes) -> None:
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize(("name", "data", "says"), [
    ("big.ebm", BIG_EBM, f"big.ebm is too large ({len(BIG_EBM)} characters; the limit is {MAX_SOURCE_CHARS})"),
    ("empty.ebm", b"", "empty.ebm is empty"),
    ("latin1.ebm", "# modèle\nmodel M { }\n".encode("latin-1"), "the file is not UTF-8 text (byte 0xe8"),
])
def test_a_refused_ebm_upload_is_a_message_and_keeps_the_text(at: AppTest, name: str, data: bytes,
                                                               says: str) -> None:
    before = (at.session_state.editor, at.session_state.file_name)
    _upload(at, "upload_ebm", name, data)
    assert any(says in e for e in _errors(at)), _errors(at)
    assert (at.session_state.editor, at.session_state.file_name) == before
    at.run()  # the next rerun (where the too-large text used to be parsed) is fine too
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state.editor == before[0] and any(says in e for e in _errors(at))
    _upload(at, "upload_ebm", "ok.ebm", b"model Ok {\n  observed x : R[2]\n}\n")  # the next file opens
    assert at.session_state.editor.startswith("model Ok") and not _errors(at)


def test_a_text_past_the_parsers_limit_is_its_error_not_a_traceback(at: AppTest) -> None:
    at.session_state.editor = BIG_EBM.decode()  # typed or pasted: the editor holds it, the check says why
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("file is too large" in e for e in _errors(at)), _errors(at)


@pytest.mark.parametrize(("data", "says"), [
    (b"5", "is not a layout file"),
    (_layout({"x": [1.0]}), "the position of 'x' is [1.0]"),
    (_layout({"x": 7}), "the position of 'x' is 7"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [NaN, 1]}}', "NaN is not a number"),
    (b'{"ebmgraph_layout": 1, "positions": {"x": [Infinity, 1]}}', "Infinity is not a number"),
    (b"\xff\xfe", "not UTF-8"),
    (b"", "is not JSON"),
])
def test_a_refused_layout_upload_is_a_message_and_keeps_the_positions(at: AppTest, data: bytes, says: str) -> None:
    at.session_state.positions = {"x": (10.0, 20.0)}
    at.run()
    text = at.session_state.editor
    _upload(at, "upload_layout", "jepa.ebm.layout.json", data)
    assert any(e.startswith("jepa.ebm.layout.json") and says in e for e in _errors(at)), _errors(at)
    assert at.session_state.positions == {"x": (10.0, 20.0)} and at.session_state.editor == text
    _upload(at, "upload_layout", "good.layout.json", _layout({"x": [1, 2]}))
    assert at.session_state.positions == {"x": (1.0, 2.0)} and not _errors(at)


@pytest.mark.parametrize(("name", "data", "says"), [
    ("huge.npy", TEN_TO_12_ROWS, "huge.npy has 1000000000000 rows"),
    ("promise.npy", PROMISE, "promise.npy is cut short"),
    ("objects.npy", OBJECTS, "objects.npy holds Python objects"),
    ("truncated.npy", TRUNCATED, "truncated.npy is cut short"),
    ("empty.npy", b"", "empty.npy is empty"),
    ("empty.csv", b"", "empty.csv is empty"),
    ("latin1.csv", b"1,2\n\xe9,3\n", "not UTF-8 text"),
])
def test_a_refused_data_upload_is_a_message_leaving_nothing_behind(at: AppTest, name: str, data: bytes,
                                                                   says: str) -> None:
    text = at.session_state.editor
    at.selectbox(key="dataset").set_value("upload").run()
    _upload(at, "upload_data", "good.npy", npy(np.zeros((20, 64), dtype=np.float32)))
    assert at.session_state.upload_arrays["data"].shape == (20, 64) and not _errors(at)
    _upload(at, "upload_data", name, data)
    assert [e for e in _errors(at) if says in e], _errors(at)
    assert at.session_state.upload_arrays is None  # nothing runs on the data of the file before
    assert at.session_state.editor == text
    at.session_state["tab"] = "Inference"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(i.value == "upload data first" for i in at.info)
    assert not _left_behind(), _left_behind()


def test_a_data_upload_is_read_once_from_memory(at: AppTest) -> None:
    at.selectbox(key="dataset").set_value("upload").run()
    _upload(at, "upload_data", "moons.csv", b"x,y\n" + b"".join(b"%d,%d\n" % (i, -i) for i in range(30)))
    arrays = at.session_state.upload_arrays
    assert arrays["data"].shape == (30, 2) and not _errors(at)
    assert any(c.value == "moons.csv: 30 rows of 2 values" for c in at.caption)
    at.run()
    assert at.session_state.upload_arrays is arrays  # a rerun does not read it again (results stay current)
    _upload(at, "upload_data", "a.npy", npy(np.ones((7, 3))))
    assert at.session_state.upload_arrays["data"].shape == (7, 3)
    assert not _left_behind(), _left_behind()  # no tmp*.npy or tmp*.csv in the temporary directory
    at.file_uploader(key="upload_data").set_value(None).run()
    assert at.session_state.upload_arrays is None  # the file removed, its data with it
