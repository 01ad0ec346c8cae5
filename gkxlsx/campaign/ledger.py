"""The ledger: a real database of every submission of a collection campaign — a SQLite file in
the campaign folder by default, or a campaign's schema in a shared PostgreSQL database
(:mod:`gkxlsx.campaign.store`, the storage interface the ledger writes through).

Invariants (on both backends):
* every received file is archived by sha256 before it is recorded, written to a temporary name
  and renamed into place (never overwritten, never deleted);
* records are written in write transactions that exclude the campaign's other writers
  (:meth:`Store.begin`: ``BEGIN IMMEDIATE`` on SQLite, the campaign's lock row on PostgreSQL) — one
  per submission (:meth:`Ledger.record`) or one per batch of submissions (:meth:`Ledger.batch`, each
  file in its own savepoint) — so two imports at once serialise, and a process killed mid-import
  leaves every transaction either whole or absent (a batch's files were archived before it began);
* re-importing the same bytes is a no-op; a new version of a unit's return becomes current and
  the older versions stay — unless it is held (:mod:`gkxlsx.campaign.review`): the unit's return
  is locked (the office accepted it), or the file looks sent by mistake (疑似误发); a held version
  is recorded but becomes current only by an office decision;
* every submission and every office decision is one row of the append-only ``review_log``, and
  every reason given for a warning one row of ``explanations`` (nothing in either is updated or
  deleted); times are stored with their UTC offset (:mod:`gkxlsx.clock`).

Schema changes are additive (new tables, new columns with defaults) and applied when a ledger is
opened (:func:`_migrate`), so a campaign made by an older version keeps working.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from gkxlsx.campaign.store import SQLiteStore, Store, is_url, open_store
from gkxlsx.findings import severity_counts
from gkxlsx.fsutil import stale_temps, temp_name

# columns added to ``submissions`` since the first ledgers: (name, declaration); added in place
# by :func:`_migrate` (ALTER TABLE … ADD COLUMN, the same on both backends)
ADDED_COLUMNS = (
    ("hold", "TEXT NOT NULL DEFAULT ''"),  # why this version was held back (not made current); '' = not held
    ("review", "TEXT NOT NULL DEFAULT ''"),  # the office's decision on it: '' | returned | locked
)
REVIEW_RETURNED, REVIEW_LOCKED = "returned", "locked"
#: why a version was held: the unit's return was locked when it came
HOLD_LOCKED = "单位报告已锁定，新版本待审核"

STATUS_PASS, STATUS_WARN, STATUS_ERR, STATUS_ACCEPTED = "通过", "有警告", "有错误", "已确认"
ACCEPTED_STATUSES = (STATUS_PASS, STATUS_ACCEPTED)


class LedgerError(RuntimeError):
    """A ledger operation was refused; the message is Chinese and says why."""


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$dec": str(v)}
    if isinstance(v, (datetime,)):
        return v.isoformat()
    return str(v)


def dump_values(values: Mapping[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, default=_json_default, sort_keys=True)


def load_values(text: str) -> dict[str, Any]:
    def hook(d):
        if set(d) == {"$dec"}:
            return Decimal(d["$dec"])
        return d

    return json.loads(text, object_hook=hook)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Submission:
    id: int
    unit_code: str
    version: int
    received_at: str
    source: str
    filename: str
    sha256: str
    archive_path: str
    application: str
    format: str
    year: int | None
    status: str
    n_errors: int
    n_warnings: int
    n_info: int
    findings_json: str = field(repr=False)
    values_json: str = field(repr=False)
    is_current: bool = False
    accepted_note: str | None = None
    accepted_at: str | None = None
    hold: str = ""  # why this version was held back (not made current); "" when it was not
    review: str = ""  # the office's decision: "" | returned | locked

    @property
    def held(self) -> bool:
        return bool(self.hold) and not self.is_current

    @property
    def locked(self) -> bool:
        return self.review == REVIEW_LOCKED

    # findings and values are parsed when first used: a status of ten thousand units reads every
    # current submission and needs neither (parsed, they took ~280 MB)

    @cached_property
    def findings(self) -> list[dict]:
        return json.loads(self.findings_json)

    @cached_property
    def values(self) -> dict[str, Any]:
        return load_values(self.values_json)


_MADE_DIRS: set[Path] = set()


def archive_file(
    archive_dir: Path, path: Path, sha: str | None = None, *, sync: bool = True, data: bytes | None = None
) -> tuple[str, Path]:
    """Copy ``path`` into ``archive_dir`` under its sha256: written to a temporary name, synced to
    disk, renamed into place; an existing archived copy with the right hash is never overwritten.
    Safe to call from several processes at once.  Returns (sha, archived path).

    ``sync=False``: not synced here — the caller must call :func:`sync_archive` before anything
    refers to the file (an import syncs a whole batch at once).  ``data``: the file's bytes, when
    the caller has read them."""
    if data is None:
        data = Path(path).read_bytes()
    sha = sha or hashlib.sha256(data).hexdigest()
    suffix = "".join(Path(path).suffixes[-1:]).lower()[:8] or ".bin"
    if not suffix.isascii():  # the archived path is stored in the ledger: no undecodable bytes (GBK names)
        try:
            suffix.encode("utf-8")
        except UnicodeEncodeError:
            suffix = ".bin"
    dest = Path(archive_dir) / sha[:2] / f"{sha}{suffix}"
    if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == sha:
        return sha, dest
    if dest.parent not in _MADE_DIRS:  # 256 folders: each made (or found) once per process
        dest.parent.mkdir(parents=True, exist_ok=True)
        if len(_MADE_DIRS) > 4096:
            _MADE_DIRS.clear()
        _MADE_DIRS.add(dest.parent)
    tmp = temp_name(dest)  # .NAME.PID.NNN.tmp: a killed import's are removed by the next (clean_archive)
    try:
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:  # the folder went away since it was made: make it again
            dest.parent.mkdir(parents=True, exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return sha, dest


@functools.cache
def _syncfs():
    """The C library's syncfs, looked up once per process (None where there is none)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def clean_archive(archive_dir: Path, before: float) -> int:
    """Remove the temporary files an import killed while archiving left in the archive (made by
    :func:`archive_file`, older than ``before``, their process gone); returns how many."""
    n = 0
    try:
        folders = [e.path for e in os.scandir(archive_dir) if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    for folder in folders:
        for p in stale_temps(Path(folder), before):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n


def remove_stale_temp(archive_dir: Path) -> int:
    """The half-written copies that killed processes left in the archive, removed now (a server
    starting up): :func:`clean_archive` with the present time."""
    return clean_archive(Path(archive_dir), time.time())


def sync_archive(archive_dir: Path, paths: Sequence[Path]) -> None:
    """Make archived files (and their renames) durable: one ``syncfs`` of the archive's file
    system where the C library has it, else an fsync of each file and folder.  Raises OSError."""
    if not paths:
        return
    syncfs = _syncfs()
    if syncfs is not None:
        import ctypes

        fd = os.open(str(archive_dir), os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)
    dirs = set()
    for p in paths:
        fd = os.open(str(p), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dirs.add(str(Path(p).parent))
    for d in dirs:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems cannot sync a folder
        finally:
            os.close(fd)


def dump_findings(findings: list[dict]) -> str:
    return json.dumps(findings, ensure_ascii=False, default=_json_default)


@dataclass(frozen=True)
class Received:
    """A file as it arrived, archived under its sha256: what the ledger keeps of every file."""

    sha: str
    archive_path: Path
    filename: str
    source: str  # 邮件, 文件夹 …
    received_at: str  # ISO time


@dataclass(frozen=True)
class NewSubmission:
    """A checked return to record as its unit's next version.  ``findings_json`` / ``values_json``:
    the findings and values already serialised (by an import worker), else serialised here."""

    received: Received
    unit_code: str
    application: str
    format: str
    year: int | None
    status: str
    findings: list[dict]
    values: Mapping[str, Any] | None = None
    findings_json: str | None = None
    values_json: str | None = None
    hold: str = ""  # why not to make it current (疑似误发 …); "" = current unless the unit is locked


def _log(
    c: Store,
    unit_code: str,
    version: int | None,
    action: str,
    actor: str,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
    at: str | None = None,
) -> int:
    """Append one row to the review log (inside the caller's transaction); its id."""
    from gkxlsx.clock import stamp

    return c.insert(
        "INSERT INTO review_log(unit_code, version, action, actor, at, reason, detail) VALUES (?,?,?,?,?,?,?)",
        (
            unit_code,
            version,
            action,
            actor,
            at or stamp(),
            reason,
            json.dumps(dict(detail or {}), ensure_ascii=False, default=_json_default),
        ),
    )


def _record(c: Store, new: NewSubmission, archived: str) -> tuple[int, int] | None:
    """Insert a submission as the unit's current version inside the caller's transaction:
    (id, version), or None if these bytes were already recorded.  ``archived``: the archived
    file's path as stored (:meth:`Ledger.stored_path`)."""
    rc = new.received
    counts = severity_counts(new.findings)
    # one statement for the four facts (one round trip to a database server): these bytes already
    # recorded; the unit's last version; its current version locked; it has a current version
    dup, last, locked, has_current = c.execute(
        "SELECT EXISTS(SELECT 1 FROM submissions WHERE sha256=?), "
        "(SELECT COALESCE(MAX(version), 0) FROM submissions WHERE unit_code=?), "
        "EXISTS(SELECT 1 FROM submissions WHERE unit_code=? AND is_current=1 AND review=?), "
        "EXISTS(SELECT 1 FROM submissions WHERE unit_code=? AND is_current=1)",
        (rc.sha, new.unit_code, new.unit_code, REVIEW_LOCKED, new.unit_code),
    ).fetchone()
    if dup:
        return None
    v = last + 1
    hold = new.hold or (HOLD_LOCKED if locked else "")
    if not hold and has_current:
        c.execute("UPDATE submissions SET is_current=0 WHERE unit_code=? AND is_current=1", (new.unit_code,))
    sid = c.insert(
        "INSERT INTO submissions(unit_code, version, received_at, source, filename, sha256, archive_path, application, "
        "format, year, status, n_errors, n_warnings, n_info, findings, vals, is_current, hold) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            new.unit_code,
            v,
            rc.received_at,
            rc.source,
            rc.filename,
            rc.sha,
            archived,
            new.application,
            new.format,
            new.year,
            new.status,
            counts["error"],
            counts["warning"],
            counts["info"],
            new.findings_json if new.findings_json is not None else dump_findings(new.findings),
            new.values_json if new.values_json is not None else dump_values(new.values or {}),
            0 if hold else 1,
            hold,
        ),
    )
    _log(
        c,
        new.unit_code,
        v,
        "hold" if hold else "submit",
        rc.source,
        hold,
        {"received_at": rc.received_at, "filename": rc.filename, "status": new.status},
    )
    return sid, v


def _quarantine(c: Store, rc: Received, reason: str, findings: list[dict], archived: str) -> bool:
    if c.execute("SELECT 1 FROM quarantine WHERE sha256=?", (rc.sha,)).fetchone():
        return False
    c.execute(
        "INSERT INTO quarantine(received_at, source, filename, sha256, archive_path, reason, findings) VALUES (?,?,?,?,?,?,?)",
        (
            rc.received_at,
            rc.source,
            rc.filename,
            rc.sha,
            archived,
            reason,
            json.dumps(findings, ensure_ascii=False, default=_json_default),
        ),
    )
    return True


class Batch:
    """Writes inside one open transaction (see :meth:`Ledger.batch`)."""

    def __init__(self, conn: Store, ledger: Ledger):
        self.conn = conn
        self.ledger = ledger

    def _savepoint(self, fn, *args):
        self.conn.execute("SAVEPOINT gkx_item")
        try:
            got = fn(self.conn, *args)
        except BaseException:
            self.conn.execute("ROLLBACK TO SAVEPOINT gkx_item")
            self.conn.execute("RELEASE SAVEPOINT gkx_item")
            raise
        self.conn.execute("RELEASE SAVEPOINT gkx_item")
        return got

    def record(self, new: NewSubmission) -> tuple[int, int] | None:
        """As :meth:`Ledger.record`, returning (id, version) or None for bytes already recorded."""
        return self._savepoint(_record, new, self.ledger.stored_path(new.received.archive_path))

    def quarantine(self, received: Received, reason: str, findings: list[dict]) -> bool:
        """Set a file aside for a person to look at (its unit is not known); False if these bytes
        were set aside before."""
        return self._savepoint(_quarantine, received, reason, findings, self.ledger.stored_path(received.archive_path))


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(key: str) -> threading.RLock:
    """The lock the writers of this process take for one ledger (its SQLite file, or its
    PostgreSQL database and schema) — re-entrant: a thread that nests two ledgers' transactions
    meets the database's own wait, as before, not a deadlock."""
    lock = _WRITE_LOCKS.get(key)
    if lock is None:
        with _WRITE_LOCKS_GUARD:
            lock = _WRITE_LOCKS.setdefault(key, threading.RLock())
    return lock


def _migrate(conn: Store) -> None:
    """Bring a ledger written by an older version up to the current schema, in place: the added
    columns, and a review log begun from what the old ledger knew (each version's arrival, each
    acceptance — an accepted return is locked).  Runs once; a ledger already current is untouched."""
    have = conn.columns("submissions")
    missing = [(n, decl) for n, decl in ADDED_COLUMNS if n not in have]
    if not missing:
        return
    conn.begin()
    try:
        have = conn.columns("submissions")  # another process may have done it
        for name, decl in ADDED_COLUMNS:
            if name not in have:
                conn.execute(f"ALTER TABLE submissions ADD COLUMN {name} {decl}")
        if "review" not in have:
            conn.execute(
                "UPDATE submissions SET review=? WHERE status=? AND is_current=1", (REVIEW_LOCKED, STATUS_ACCEPTED)
            )
            if not conn.execute("SELECT 1 FROM review_log").fetchone():
                rows = list(conn.execute("SELECT * FROM submissions ORDER BY id"))
                for r in rows:
                    detail = {"received_at": r["received_at"], "filename": r["filename"], "status": r["status"]}
                    _log(conn, r["unit_code"], r["version"], "submit", r["source"], "", detail, at=r["received_at"])
                for r in rows:
                    if r["accepted_at"]:
                        _log(
                            conn,
                            r["unit_code"],
                            r["version"],
                            "accept",
                            "",
                            r["accepted_note"] or "",
                            at=r["accepted_at"],
                        )
        conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def _upsert(c: Store, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Set a row's ``values`` by its ``key``, inserting it when there is none — inside a write
    transaction, which excludes every other writer (so no ``INSERT OR REPLACE`` / ``ON CONFLICT``,
    which not every database speaking PostgreSQL's protocol has)."""
    cur = c.execute(
        f"UPDATE {table} SET {', '.join(f'{k}=?' for k in values)} WHERE {' AND '.join(f'{k}=?' for k in key)}",
        (*values.values(), *key.values()),
    )
    if cur.rowcount == 0:
        cols = {**key, **values}
        c.execute(
            f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            tuple(cols.values()),
        )


class Ledger:
    """The ledger of one campaign.  ``db``: the SQLite file (default ``ledger.sqlite`` in the campaign
    folder) or a PostgreSQL URL, with ``schema`` the campaign's schema in that database; ``root``:
    the campaign folder (archived files are recorded relative to it), by default the SQLite file's."""

    def __init__(
        self, db: str | Path, archive_dir: str | Path, *, schema: str | None = None, root: str | Path | None = None
    ):
        self.url = str(db) if is_url(db) else None
        self.db_path = None if self.url else Path(db)
        self._write_lock = _write_lock(f"{self.url}|{schema}" if self.url else os.path.realpath(db))
        self.archive_dir = Path(archive_dir)
        # the campaign folder: archived files are recorded relative to it (wherever import runs)
        self._root = Path(root).resolve() if root is not None else Path(db).parent.resolve()
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        store: Store
        if self.url is not None:
            store = open_store(self.url, schema)
            try:
                _migrate(store)
            except BaseException:
                store.close()
                raise
        else:
            try:
                store = SQLiteStore.open(Path(db))
                try:
                    _migrate(store)
                except BaseException:
                    store.close()
                    raise
            except sqlite3.OperationalError:
                # opened read-only because the disk is full (see SQLiteStore.open_read_only)
                ro = SQLiteStore.open_read_only(Path(db))
                if ro is None:
                    raise
                store = ro
        #: the store the ledger reads and writes through (``ledger.conn.execute(sql, params)``)
        self.conn: Store = store
        #: the backend's database error (what a failed write raises)
        self.Error: type[Exception] = store.Error
        #: opened read-only because the disk is full: reads work, writes fail
        self.read_only = store.read_only

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.conn.kind

    def describe(self) -> str:
        """Where the ledger is, as people read it (the file, or the database and schema)."""
        return self.conn.describe()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """A write transaction: waits for the campaign's other writers, then excludes them until
        it is committed (at the end of the block) or rolled back (an exception).  The writers of
        one process (a server's request threads) queue on a lock first and start the moment the one
        before commits: SQLite's own wait polls with sleeps of up to 100 ms, which twenty uploads at
        once turned into most of their time."""
        with self._write_lock:
            self.conn.begin()
            try:
                yield self.conn
                self.conn.commit()
            except BaseException:
                # the block failed, or the commit did (a full disk): the transaction leaves no trace
                if self.conn.in_transaction:
                    try:
                        self.conn.rollback()
                    except self.Error:
                        pass
                raise

    # -- meta and units ------------------------------------------------------------------

    def set_meta(self, **kv: Any) -> None:
        with self.transaction() as c:
            for k, v in kv.items():
                _upsert(c, "meta", {"key": k}, {"value": json.dumps(v, ensure_ascii=False)})

    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM meta")}

    def set_units(self, units: Sequence[Any]) -> None:
        with self.transaction() as c:
            for i, u in enumerate(units):
                _upsert(
                    c,
                    "units",
                    {"code": u.code},
                    {
                        "name": u.name,
                        "type": u.type,
                        "parent": u.parent,
                        "contact": u.contact,
                        "email": u.email,
                        "phone": u.phone,
                        "ord": i,
                    },
                )

    def units(self) -> list[Any]:
        return list(self.conn.execute("SELECT * FROM units ORDER BY ord, code"))

    def unit(self, code: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM units WHERE code=?", (code,)).fetchone()

    # -- archive ---------------------------------------------------------------------------

    def stored_path(self, archived: str | Path) -> str:
        """An archived file's path as the ledger records it: relative to the campaign folder
        (``原件归档/ab/abcd….xlsx``, whatever folder import ran in and however the campaign was
        named), absolute only for a file outside it."""
        p = Path(archived)
        try:
            return p.resolve().relative_to(self._root).as_posix()
        except ValueError:
            return str(p.resolve())

    def archived(self, stored: str) -> Path:
        """The archived file a recorded path names.  Rows written before paths were relative to
        the campaign hold the path as given to import (relative to the folder it ran in, or
        absolute): the file is found by its name (its sha256) in this campaign's archive."""
        p = Path(stored)
        if not p.is_absolute() and len(p.parts) == 3 and p.parts[0] == self.archive_dir.name:
            return self._root / p
        if p.is_absolute() and p.exists():
            return p
        by_name = self.archive_dir.resolve() / p.name[:2] / p.name
        return by_name if by_name.exists() or not p.is_absolute() else p

    def archive(self, path: Path, sha: str | None = None) -> tuple[str, Path]:
        """Copy ``path`` into the archive under its sha256 (never overwriting); returns (sha, archived path)."""
        return archive_file(self.archive_dir, path, sha)

    # -- recording -------------------------------------------------------------------------

    def record(self, new: NewSubmission) -> Submission | None:
        """Record a submission as the unit's new current version; None if these bytes were already recorded."""
        with self.transaction() as c:
            got = _record(c, new, self.stored_path(new.received.archive_path))
        return self.submission(got[0]) if got else None

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Many records in one transaction (an import of thousands of files): ``with ledger.batch()
        as b: b.record(...); b.quarantine(...)``.  Each call runs in its own savepoint, so one that
        fails (raises the backend's :attr:`Error`) leaves the others; the batch is committed at the end of the
        block, or not at all (an exception out of the block, a killed process)."""
        with self.transaction() as c:
            yield Batch(c, self)

    def accept(
        self,
        unit_code: str,
        note: str = "",
        version: int | None = None,
        *,
        explain: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> Submission:
        """确认 and lock a version: see :func:`gkxlsx.campaign.review.accept`."""
        from gkxlsx.campaign.review import accept

        return accept(self, unit_code, note, version, explain=explain, actor=actor)

    # -- queries ---------------------------------------------------------------------------

    def _sub(self, r: Any) -> Submission | None:
        if r is None:
            return None
        return Submission(
            id=r["id"],
            unit_code=r["unit_code"],
            version=r["version"],
            received_at=r["received_at"],
            source=r["source"],
            filename=r["filename"],
            sha256=r["sha256"],
            archive_path=str(self.archived(r["archive_path"])),
            application=r["application"],
            format=r["format"],
            year=r["year"],
            status=r["status"],
            n_errors=r["n_errors"],
            n_warnings=r["n_warnings"],
            n_info=r["n_info"],
            findings_json=r["findings"],
            values_json=r["vals"],
            is_current=bool(r["is_current"]),
            accepted_note=r["accepted_note"],
            accepted_at=r["accepted_at"],
            hold=r["hold"] if "hold" in r.keys() else "",
            review=r["review"] if "review" in r.keys() else ("locked" if r["status"] == STATUS_ACCEPTED else ""),
        )

    def submission(self, sid: int) -> Submission | None:
        return self._sub(self.conn.execute("SELECT * FROM submissions WHERE id=?", (sid,)).fetchone())

    def submission_by_version(self, unit_code: str, version: int) -> Submission | None:
        return self._sub(
            self.conn.execute(
                "SELECT * FROM submissions WHERE unit_code=? AND version=?", (unit_code, version)
            ).fetchone()
        )

    def current(self, unit_code: str) -> Submission | None:
        return self._sub(
            self.conn.execute("SELECT * FROM submissions WHERE unit_code=? AND is_current=1", (unit_code,)).fetchone()
        )

    def history(self, unit_code: str) -> list[Submission]:
        rows = self.conn.execute("SELECT * FROM submissions WHERE unit_code=? ORDER BY version", (unit_code,))
        return [s for r in rows if (s := self._sub(r)) is not None]

    def known_hashes(self) -> frozenset[str]:
        """The sha256 of every file recorded or quarantined."""
        return frozenset(
            r[0] for r in self.conn.execute("SELECT sha256 FROM submissions UNION SELECT sha256 FROM quarantine")
        )

    def knows(self, sha: str) -> bool:
        """Whether a file with this sha256 was recorded or set aside."""
        return (
            self.conn.execute(
                "SELECT 1 FROM submissions WHERE sha256=? UNION ALL SELECT 1 FROM quarantine WHERE sha256=? LIMIT 1",
                (sha, sha),
            ).fetchone()
            is not None
        )

    def iter_currents(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(unit code, status, values) of every current submission, one row at a time."""
        for code, status, vals in self.conn.execute(
            "SELECT unit_code, status, vals FROM submissions WHERE is_current=1"
        ):
            yield code, status, load_values(vals)

    def current_figures(self, keys: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(unit code, {key: value}) of every current submission, only ``keys`` — on SQLite each read
        as the JSON of its value by the database and decoded as :func:`load_values` decodes it; the
        values as :meth:`iter_currents` gives them elsewhere (PostgreSQL, SQLite before 3.38)."""
        keys = list(keys)
        paths = ['$."' + k.replace('"', '""') + '"' for k in keys]
        sql = "SELECT unit_code, " + ", ".join("vals -> ?" for _ in keys) + " FROM submissions WHERE is_current=1"
        rows = None
        if self.backend == "sqlite":
            try:
                rows = self.conn.execute(sql, paths).fetchall()
            except sqlite3.OperationalError:  # no -> before SQLite 3.38
                rows = None
        if rows is None:
            for code, _status, vals in self.iter_currents():
                yield code, {k: vals[k] for k in keys if k in vals}
            return
        for code, *got in rows:
            yield code, {k: load_values(t) for k, t in zip(keys, got) if t is not None}

    def current_values(self, unit_code: str) -> dict[str, Any] | None:
        r = self.conn.execute(
            "SELECT vals FROM submissions WHERE unit_code=? AND is_current=1", (unit_code,)
        ).fetchone()
        return load_values(r[0]) if r is not None else None

    def currents(self) -> dict[str, Submission]:
        return {r["unit_code"]: self._sub(r) for r in self.conn.execute("SELECT * FROM submissions WHERE is_current=1")}  # type: ignore[misc]

    def _resolved(self, rows: Iterable[Any]) -> list[dict[str, Any]]:
        """Rows as dicts, ``archive_path`` the archived file's real path (:meth:`archived`)."""
        out = []
        for r in rows:
            d = dict(r)
            d["archive_path"] = str(self.archived(d["archive_path"]))
            out.append(d)
        return out

    def quarantine_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]

    def quarantined(self) -> list[dict[str, Any]]:
        return self._resolved(self.conn.execute("SELECT * FROM quarantine ORDER BY id"))

    def all_submissions(self) -> list[dict[str, Any]]:
        return self._resolved(
            self.conn.execute("SELECT id, unit_code, version, sha256, archive_path FROM submissions ORDER BY id")
        )

    # -- previous year ---------------------------------------------------------------------

    def set_previous(self, unit_code: str, fmt: str, year: int, values: Mapping[str, Any], source: str) -> None:
        with self.transaction() as c:
            _upsert(
                c,
                "previous",
                {"unit_code": unit_code},
                {"format": fmt, "year": year, "vals": dump_values(values), "source": source},
            )

    def previous(self, unit_code: str) -> tuple[str, int, dict[str, Any]] | None:
        r = self.conn.execute("SELECT * FROM previous WHERE unit_code=?", (unit_code,)).fetchone()
        if r is None:
            return None
        return r["format"], r["year"], load_values(r["vals"])

    def previous_all(self) -> dict[str, tuple[str, int, dict[str, Any]]]:
        return {
            r["unit_code"]: (r["format"], r["year"], load_values(r["vals"]))
            for r in self.conn.execute("SELECT * FROM previous")
        }

    # -- mail ------------------------------------------------------------------------------

    def log_mail(
        self, unit_code: str | None, kind: str, address: str, status: str, message_id: str = "", error: str = ""
    ) -> None:
        from gkxlsx.clock import stamp

        with self.transaction() as c:
            c.execute(
                "INSERT INTO mail_log(unit_code, kind, address, sent_at, message_id, status, error) VALUES (?,?,?,?,?,?,?)",
                (unit_code, kind, address, stamp(), message_id, status, error),
            )

    def integrity(self) -> list[str]:
        """Problems found in the ledger and archive (empty when consistent)."""
        problems = self.conn.problems()
        for row in self.conn.execute(
            "SELECT unit_code, COUNT(*) AS n FROM submissions WHERE is_current=1 GROUP BY unit_code HAVING COUNT(*) > 1"
        ):
            problems.append(f"单位 {row['unit_code']} 有多个当前版本")
        for row in self.conn.execute("SELECT unit_code FROM submissions GROUP BY unit_code HAVING SUM(is_current) = 0"):
            problems.append(f"单位 {row['unit_code']} 没有当前版本")
        for row in self.all_submissions():
            p = Path(row["archive_path"])
            if not p.exists():
                problems.append(f"归档文件缺失：{p}")
            elif sha256_file(p) != row["sha256"]:
                problems.append(f"归档文件已损坏：{p}")
        return problems
