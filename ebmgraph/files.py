"""Writing files so that a failure never leaves a half-written one: write beside, then rename.
Every failure is an OutputError that says which file, what went wrong and what to do."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class OutputError(OSError):
    """A file could not be written: the message names the file, the reason and what to do."""


MAX_INPUT_BYTES = 20_000_000  # a .ebm file or a config: 5,000,000 characters of up to 4 bytes


def read_bounded(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A user's file, read only when it is a regular file of at most `limit` bytes: a device
    (/dev/zero), a pipe or a huge file is an OSError saying so, before anything is read."""
    p = Path(path)
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a folder, a device or a pipe)")
    if st.st_size > limit:
        raise OSError(errno.EFBIG, f"the file is {st.st_size:,} bytes; the limit is {limit:,}")
    with p.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"the file is over {limit:,} bytes")
    return data


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: Path) -> None:
    """Refuse, before any work, an output path that cannot be written."""
    if path.is_dir():
        raise OutputError(f"cannot write '{path}': it is a directory; give a file name inside it")
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"cannot write '{path}': the folder '{parent}' does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"cannot write '{path}': '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{path}': no permission to write in '{parent}'")


def describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write there"
    return exc.strerror or str(exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove_stale(path: Path) -> None:
    """The temporary files of earlier writes of `path` whose process is gone (killed mid-write, e.g.
    by kill -9): `.NAME.PID.xxxx.tmp`, removed once the path has been written again."""
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{prefix}*.tmp"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Write `data` (bytes, text, or a function writing to a binary file) to `path` atomically:
    into a temporary file in the same folder, then `os.replace`. An existing file keeps its mode;
    a new one gets the usual 0666 less the umask. Raises OutputError, leaving nothing behind."""
    path = Path(path)
    check_writable(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {describe(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        _remove_stale(path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write '{path}': {describe(exc)}; nothing was written") from None
        if isinstance(exc, RuntimeError):  # torch.save reports a failed write as a RuntimeError
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__cause__ or cause.__context__
            why = describe(cause) if isinstance(cause, OSError) else (
                f"the write failed ({str(exc).splitlines()[0][:120]}), most likely no space left on the device")
            raise OutputError(f"cannot write '{path}': {why}; nothing was written") from None
        raise
    return path
