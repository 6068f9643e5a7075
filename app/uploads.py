"""What the sidebar's uploads read, as plain functions of the uploaded bytes: a `.ebm` text, canvas
positions, a data array. Each returns the value or raises UploadError with one message that names
the file and what is wrong with it; nothing is written to disk and nothing is allocated before the
size is checked against the bytes that came (a .npy header can promise any shape)."""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from typing import Any

import numpy as np

from ebmgraph.diagnostics import EbmError
from ebmgraph.frontend import decode
from ebmgraph.limits import DEFAULT
from ebmgraph.syntax import MAX_SOURCE_CHARS

MAX_LAYOUT_BYTES = 10_000_000  # a layout is ~40 bytes a node: ample for the most nodes a model may have
MAX_POSITION = 1e7  # canvas pixels: far beyond any drawing, short of what makes the layout arithmetic overflow
MAX_DATA_BYTES = 1 << 30  # an uploaded array, as it is held in memory (Streamlit's own upload limit is lower)
NPY_KINDS = "biuf"  # bool, signed and unsigned integers, floats: what a model's variables can be given


class UploadError(ValueError):
    """An upload refused, with the message the page shows."""


def _size(n: int) -> str:
    for unit, step in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} bytes"


# ---------------------------------------------------------------- .ebm files
def read_ebm(data: bytes, name: str) -> str:
    """The text of an uploaded `.ebm` file: UTF-8, not empty, within the parser's size limit."""
    if not data.strip():
        raise UploadError(f"{name} is empty: nothing was opened")
    if len(data) > 4 * MAX_SOURCE_CHARS:  # more bytes than any text within the limit can take in UTF-8
        raise UploadError(f"{name} is too large ({_size(len(data))}; the limit is {MAX_SOURCE_CHARS} characters): "
                          "split the model into several files and import them")
    try:
        text = decode(data, name)
    except EbmError as exc:
        raise UploadError(exc.render()) from None
    if len(text) > MAX_SOURCE_CHARS:
        raise UploadError(f"{name} is too large ({len(text)} characters; the limit is {MAX_SOURCE_CHARS}): "
                          "split the model into several files and import them")
    return text


# ---------------------------------------------------------------- layouts (.layout.json)
def _no_constant(word: str) -> Any:
    raise UploadError(f"{word} is not a number a position can have")


def read_layout(data: bytes | str, name: str = "the layout") -> dict[str, tuple[float, float]]:
    """Canvas positions by node name from a layout file: {"ebmgraph_layout": 1, "positions": {node: [x, y]}},
    every position two finite numbers."""
    expected = 'expected {"ebmgraph_layout": 1, "positions": {"node": [x, y], ...}}'
    if len(data) > MAX_LAYOUT_BYTES:
        raise UploadError(f"{name} is too large ({_size(len(data))}; a layout is at most {_size(MAX_LAYOUT_BYTES)})")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise UploadError(f"{name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except UploadError as exc:
        raise UploadError(f"{name} is not a layout file: {exc}") from None
    except RecursionError:
        raise UploadError(f"{name} is not a layout file: it nests too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise UploadError(f"{name} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or type(doc.get("ebmgraph_layout")) is not int or doc["ebmgraph_layout"] != 1 \
            or not isinstance(doc.get("positions"), dict):
        raise UploadError(f"{name} is not a layout file: {expected}")
    positions = doc["positions"]
    if len(positions) > DEFAULT.max_nodes:
        raise UploadError(f"{name} places {len(positions)} nodes; a model has at most {DEFAULT.max_nodes}")
    out: dict[str, tuple[float, float]] = {}
    for node, xy in positions.items():
        if not (isinstance(xy, list) and len(xy) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in xy)):
            raise UploadError(f"{name}: the position of '{node}' is {json.dumps(xy)[:60]}; {expected}")
        try:
            x, y = float(xy[0]), float(xy[1])
        except OverflowError:  # an integer past float's range
            x = y = math.inf
        if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= MAX_POSITION and abs(y) <= MAX_POSITION):
            raise UploadError(f"{name}: the position of '{node}' is [{xy[0]}, {xy[1]}]; each coordinate must be a "
                              f"finite number of pixels within ±{MAX_POSITION:g}")
        out[str(node)] = (x, y)
    return out


# ---------------------------------------------------------------- data (.npy, .csv)
def read_data(data: bytes, name: str) -> dict[str, np.ndarray]:
    """The arrays of an uploaded data file ({"data": rows}), read from memory: a .npy array of numbers,
    or a .csv of numbers (one header line allowed). A 1-D array is one value a row."""
    if not data:
        raise UploadError(f"{name} is empty")
    arr = _read_npy(data, name) if name.lower().endswith(".npy") else _read_csv(data, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    return {"data": arr}


def _read_npy(data: bytes, name: str) -> np.ndarray:
    fmt = np.lib.format
    fh = io.BytesIO(data)
    try:
        version = fmt.read_magic(fh)
    except ValueError:
        raise UploadError(f"{name} is not a .npy file (it does not start with numpy's magic string)") from None
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        raise UploadError(f"{name} is .npy format version {version[0]}.{version[1]}; save it with numpy.save as an "
                          "array of numbers (versions 1.0 and 2.0 are read)")
    try:
        shape, fortran, dtype = readers[version](fh)
    except (ValueError, TypeError, SyntaxError, EOFError, MemoryError, RecursionError) as exc:
        raise UploadError(f"{name}: its .npy header cannot be read ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject or dtype.names is not None or dtype.kind not in NPY_KINDS:
        what = "Python objects (it would have to be unpickled)" if dtype.hasobject else f"values of type {dtype}"
        raise UploadError(f"{name} holds {what}; upload an array of numbers (bool, integer or float)")
    if any(n < 0 for n in shape):
        raise UploadError(f"{name}: its .npy header gives a negative size in shape {shape}")
    if len(shape) == 0:
        raise UploadError(f"{name} holds a single value; upload an array with one row per sample")
    rows = shape[0]
    if rows == 0 or math.prod(shape) == 0:
        raise UploadError(f"{name} has shape {shape}: no values")
    # what the header asks for, against the limits and then against the bytes that came, before anything
    # is allocated (Python ints: no shape a header can give overflows these)
    promised = math.prod(shape) * dtype.itemsize
    if rows > DEFAULT.max_rows:
        raise UploadError(f"{name} has {rows} rows (its header says shape {shape}); the limit is {DEFAULT.max_rows}")
    row_mb = math.prod(shape[1:]) * 4 / 2**20  # as float32, what the model is given
    if row_mb > DEFAULT.max_sample_mb:
        raise UploadError(f"{name} has rows of shape {shape[1:]} ({row_mb:.0f} MB each as float32); the limit is "
                          f"{DEFAULT.max_sample_mb:.0f} MB a sample")
    if promised > MAX_DATA_BYTES:
        raise UploadError(f"{name} is {_size(promised)} (shape {shape} of {dtype}); the app reads arrays up to "
                          f"{_size(MAX_DATA_BYTES)}")
    have = len(data) - fh.tell()
    if promised != have:
        how = "is cut short" if promised > have else "has bytes after its array"
        raise UploadError(f"{name} {how}: its header promises shape {shape} of {dtype} ({_size(promised)}) but "
                          f"{_size(have)} follow the header")
    fh.seek(0)
    try:
        return np.load(fh, allow_pickle=False)  # type: ignore[no-any-return]
    except (ValueError, OSError, EOFError) as exc:
        raise UploadError(f"cannot read {name}: {exc}") from None


_NUMBERS = re.compile(r"[\s0-9eE.,+-]*")


def _read_csv(data: bytes, name: str) -> np.ndarray:
    if len(data) > MAX_DATA_BYTES:
        raise UploadError(f"{name} is {_size(len(data))}; the app reads files up to {_size(MAX_DATA_BYTES)}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadError(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    first = text.split("\n", 1)[0]
    skip = 0 if _NUMBERS.fullmatch(first) else 1  # one header line of column names
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": said below
            arr = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2, skiprows=skip)
    except ValueError as exc:
        raise UploadError(f"cannot read {name} as comma-separated numbers: {exc}") from None
    if arr.size == 0:
        raise UploadError(f"{name} has no rows of numbers")
    if arr.shape[0] > DEFAULT.max_rows:
        raise UploadError(f"{name} has {arr.shape[0]} rows; the limit is {DEFAULT.max_rows}")
    return arr
