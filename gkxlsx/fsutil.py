"""Writing files so that a full disk loses nothing, and naming such failures for people.

Every file a command writes for people (status lists, roll-ups, reports, workbooks) is written to a
temporary name in the same folder and renamed into place once complete: a write that fails (disk
full, quota, a read-only medium) leaves the previous file, or none, never half of one under the
final name.  :func:`write_problem` turns the error into Chinese words (磁盘已满 …) for the message.
Standard library only: the command line imports it at start-up.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the prefix and suffix of every temporary file written here (``.NAME.PID.NNN.tmp``)
TMP_SUFFIX = ".tmp"

_ERRNO_ZH = {
    getattr(errno, name): zh
    for name, zh in (
        ("ENOSPC", "磁盘已满"),
        ("EDQUOT", "超出磁盘配额"),
        ("EFBIG", "文件超过了允许的大小"),
        ("EROFS", "磁盘是只读的"),
        ("EIO", "磁盘读写出错"),
        ("EACCES", "没有写入权限"),
        ("EPERM", "没有写入权限"),
    )
    if hasattr(errno, name)
}

# SQLite reports a full disk / failed write as text only (sqlite3.OperationalError)
_SQLITE_ZH = (
    ("database or disk is full", "磁盘已满"),
    ("disk i/o error", "磁盘已满或磁盘读写出错"),
    ("readonly database", "磁盘已满或只读，账本只能读取"),
    ("unable to open database file", "无法打开或创建账本文件（磁盘已满或没有写入权限）"),
)


def write_problem(exc: BaseException) -> str | None:
    """What went wrong writing, in Chinese (``磁盘已满``), or None when ``exc`` is not a write
    failure of the disk (a bug, a bad argument: those are not to be explained away as disk trouble)."""
    if isinstance(exc, OSError):
        return _ERRNO_ZH.get(exc.errno or 0)
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, OSError):  # wrapped, as XlsxWriter's FileCreateError does
        return write_problem(cause)
    if type(exc).__module__ == "sqlite3" and type(exc).__name__ == "OperationalError":
        text = str(exc).lower()
        for needle, zh in _SQLITE_ZH:
            if needle in text:
                return zh
    return None


def failed_file(exc: BaseException) -> str | None:
    """The file an OSError names (the temporary name of an atomic write shown as its final name)."""
    for e in (exc, exc.args[0] if exc.args else None):
        name = getattr(e, "filename", None)
        if isinstance(name, (str, os.PathLike)):
            return str(final_name(Path(name)))
    return None


def temp_name(path: Path) -> Path:
    """A temporary name next to ``path``, unique to this process and moment."""
    import time

    return path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{TMP_SUFFIX}")


def final_name(path: Path) -> Path:
    """The final name of a temporary name made by :func:`temp_name` (other paths unchanged)."""
    name = path.name
    if name.startswith(".") and name.endswith(TMP_SUFFIX):
        parts = name[1 : -len(TMP_SUFFIX)].rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return path.with_name(parts[0])
    return path


def zombie(pid: int) -> bool:
    """Whether process ``pid`` is dead but not yet reaped (a zombie: it will never run again).
    ``kill(pid, 0)`` succeeds on one, and one can last: a killed import's worker is an orphan that
    only init reaps, which some inits (a container's, a VM's agent) do every second or two, some
    never.  Linux's /proc only; elsewhere False."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    end = stat.rfind(b")")  # "PID (COMM) STATE ...": COMM may hold spaces and parentheses
    return end > 0 and stat[end + 2 : end + 3] in (b"Z", b"X")


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists and can still run (one of another user counts as
    alive; a zombie does not).  On Windows, where ``os.kill(pid, 0)`` would end the process, every
    other process counts as alive (callers then go by a file's age)."""
    if pid <= 0:
        return False
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        pass
    return not zombie(pid)


def _alive(pid: int) -> bool:
    return pid_alive(pid)  # on Windows always: the file's age decides there


#: a temporary file older than this is stale even if its process id is in use again
STALE_AFTER = 24 * 3600.0


def stale_temps(folder: Path, before: float) -> Iterator[Path]:
    """The temporary files :func:`temp_name` made in ``folder`` that nothing will finish: written
    before ``before`` (a time.time()) by a process that is gone (killed mid-write), or a day old."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        name = e.name
        if not (name.startswith(".") and name.endswith(TMP_SUFFIX)) or final_name(Path(name)).name == name:
            continue
        try:
            mtime = e.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if mtime >= before:
            continue
        pid = int(name[1 : -len(TMP_SUFFIX)].rsplit(".", 2)[1])
        if mtime < before - STALE_AFTER or not _alive(pid):
            yield Path(e.path)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path(p) as tmp: write tmp`` — ``p`` appears only once ``tmp`` is complete;
    on any error the temporary file is removed and ``p`` is left as it was (an OSError that names
    no file — a failed ``write`` — then names ``p``)."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
