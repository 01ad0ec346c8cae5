"""Where a ledger's rows live: the storage interface and its two backends.

* :class:`SQLiteStore` (the default): ``ledger.sqlite`` in the campaign folder, WAL mode; a write
  transaction is ``BEGIN IMMEDIATE``, so writers serialise on the whole file.
* :class:`PostgresStore`: a campaign in a PostgreSQL database shared by several campaigns (the
  counties of one city), chosen by ``db = "postgresql://…"`` in ``campaign.toml`` (``init --db``).
  Each campaign is one *schema* of that database (``db_schema``, made by ``init``), and the
  connection's ``search_path`` is that schema alone: every query of the ledger is the same text on
  both backends and sees only its own campaign's rows, and a database administrator can grant,
  dump (``pg_dump -n``) or drop one county's campaign by itself.  A write transaction locks the
  schema's one ``ledger_lock`` row (``SELECT … FOR UPDATE``), so the writers of one campaign
  serialise exactly as on SQLite while readers and other campaigns go on (READ COMMITTED: every
  statement after the lock sees what the previous writer committed).

psycopg 3 is used directly rather than through SQLAlchemy: the ledger is a few dozen hand-written
statements over DB-API cursors already, the two dialects differ in four places (id columns, the
write lock, the column list, the integrity check), and a second abstraction layer would cost
start-up time on every command (CONTRIBUTING: heavy imports only where used — psycopg is imported
only when a campaign names a PostgreSQL database) for no query it would write better.

The SQL shared by both stays in a small portable subset so that the databases speaking
PostgreSQL's protocol used by government IT (人大金仓 KingbaseES, openGauss) work too: plain tables
and indexes, ``SERIAL``, savepoints, ``SELECT … FOR UPDATE``; no extensions, no ``ON CONFLICT``,
no advisory locks, no identity columns (writers are serialised, so an upsert is an UPDATE and,
when it touched no row, an INSERT).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

#: the ledger's tables and indexes; ``{ID}`` is the auto-numbered id column of each backend
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, parent TEXT DEFAULT '',
    contact TEXT DEFAULT '', email TEXT DEFAULT '', phone TEXT DEFAULT '', ord INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS submissions (
    id {ID},
    unit_code TEXT NOT NULL REFERENCES units(code),
    version INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    archive_path TEXT NOT NULL,
    application TEXT DEFAULT '',
    format TEXT DEFAULT '',
    year INTEGER,
    status TEXT NOT NULL,
    n_errors INTEGER NOT NULL DEFAULT 0,
    n_warnings INTEGER NOT NULL DEFAULT 0,
    n_info INTEGER NOT NULL DEFAULT 0,
    findings TEXT NOT NULL DEFAULT '[]',
    vals TEXT NOT NULL DEFAULT '{}',
    is_current INTEGER NOT NULL DEFAULT 0,
    accepted_note TEXT,
    accepted_at TEXT,
    UNIQUE (unit_code, version)
);
CREATE INDEX IF NOT EXISTS sub_unit ON submissions(unit_code, is_current);
CREATE TABLE IF NOT EXISTS quarantine (
    id {ID},
    received_at TEXT NOT NULL, source TEXT NOT NULL, filename TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE, archive_path TEXT NOT NULL, reason TEXT NOT NULL,
    findings TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS previous (
    unit_code TEXT PRIMARY KEY, format TEXT NOT NULL, year INTEGER NOT NULL,
    vals TEXT NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_log (
    id {ID}, unit_code TEXT, kind TEXT NOT NULL, address TEXT,
    sent_at TEXT NOT NULL, message_id TEXT, status TEXT NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS fetched (message_id TEXT PRIMARY KEY, fetched_at TEXT NOT NULL, summary TEXT{SEQ});
CREATE TABLE IF NOT EXISTS review_log (
    id {ID},
    unit_code TEXT NOT NULL,
    version INTEGER,
    action TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS review_log_unit ON review_log(unit_code, id);
CREATE TABLE IF NOT EXISTS explanations (
    id {ID},
    unit_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    finding TEXT NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    log_id INTEGER
);
CREATE INDEX IF NOT EXISTS explanations_unit ON explanations(unit_code, version);
"""


def _ddl(**parts: str) -> str:
    out = SCHEMA
    for k, v in parts.items():
        out = out.replace("{" + k + "}", v)
    return out


#: a campaign's schema name in a shared PostgreSQL database (made by ``init``: ``gkx_2025_1a2b3c4d``)
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_url(db: str | Path | None) -> bool:
    """Whether ``db`` names a PostgreSQL database (else it is a SQLite file)."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


class Store:
    """The interface the ledger writes through.  ``execute`` takes ``?`` placeholders and returns a
    cursor (``fetchone``, ``fetchall``, iteration) whose rows are read by position or by column name
    (``r[0]``, ``r["code"]``, ``dict(r)``)."""

    kind = ""
    #: the backend's database error: what a failed statement raises (an import catches it per file)
    Error: type[Exception] = Exception
    #: the expression that orders a table's rows as they were inserted (``fetched`` has no id)
    insert_order = "rowid"
    #: opened read-only (a SQLite ledger on a full disk): reads work, writes fail
    read_only = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT into a table with an ``id`` column; the new row's id."""
        raise NotImplementedError

    def begin(self) -> None:
        """Start a write transaction that waits for, then excludes, every other writer of this campaign."""
        raise NotImplementedError

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def problems(self) -> list[str]:
        """What the database itself finds wrong with its storage (Chinese), empty when sound."""
        return []

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the ledger is, as people read it in messages."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# SQLite


class SQLiteStore(Store):
    kind = "sqlite"
    Error = sqlite3.Error
    insert_order = "rowid"

    def __init__(self, conn: sqlite3.Connection, path: Path, read_only: bool = False):
        self.conn = conn
        self.path = path
        self.read_only = read_only
        self.execute = conn.execute  # type: ignore[method-assign,assignment]  # the hot path: no wrapper

    @classmethod
    def open(cls, path: str | Path) -> SQLiteStore:
        path = Path(path)
        conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_ddl(ID="INTEGER PRIMARY KEY AUTOINCREMENT", SEQ=""))
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_read_only(cls, path: str | Path) -> SQLiteStore | None:
        """The ledger for reading when it cannot be opened for writing — on a full disk SQLite
        cannot create the WAL index (``-shm``) that opening needs: ``status`` and ``render`` still
        show what is stored, and any write fails with "readonly database".  Only when no write-ahead
        log holds committed data (no other process has the ledger open): the file alone is then
        the whole ledger.  None when that is not so."""
        path = Path(path)
        wal = path.with_name(path.name + "-wal")
        try:
            if not path.is_file() or (wal.exists() and wal.stat().st_size > 0):
                return None
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("SELECT COUNT(*) FROM meta").fetchone()
        except (OSError, sqlite3.Error):
            return None
        return cls(conn, path, read_only=True)

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        return self.conn.execute(sql, params).lastrowid  # type: ignore[return-value]

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def problems(self) -> list[str]:
        r = self.conn.execute("PRAGMA integrity_check").fetchone()[0]
        return [] if r == "ok" else [f"数据库校验失败：{r}"]

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return str(self.path)


# --------------------------------------------------------------------------------------------
# PostgreSQL (and the databases that speak its protocol)


class _Row(tuple):
    """A row read by position or by column name, as sqlite3.Row (one subclass per column list)."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, k):
        if isinstance(k, str):
            return tuple.__getitem__(self, self._index[k])
        return tuple.__getitem__(self, k)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    return type("Row", (_Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    return _row_class(tuple(c.name for c in desc))


@lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """A statement with ``?`` placeholders in psycopg's style (``%s``; a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _table_of(statement: str) -> str:
    """The table a CREATE TABLE / CREATE INDEX statement of :data:`SCHEMA` makes or indexes."""
    m = re.match(r"CREATE\s+(?:TABLE|INDEX)\s+(?:IF NOT EXISTS\s+)?(\w+)(?:\s+ON\s+(\w+))?", statement)
    if not m:
        raise ValueError(statement)
    return m.group(2) or m.group(1)


def redact(url: str) -> str:
    """A database URL fit to print: the password, if one was written into it, hidden."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


class PostgresStore(Store):
    kind = "postgresql"
    insert_order = "seq"

    def __init__(self, conn: Any, url: str, schema: str):
        import psycopg

        self.Error = psycopg.Error
        self.conn = conn
        self.url = url
        self.schema = schema
        self._idle = psycopg.pq.TransactionStatus.IDLE

    @classmethod
    def open(cls, url: str, schema: str, *, create: bool = True) -> PostgresStore:
        """Connect and make ``schema`` the connection's only schema, creating the ledger's tables
        in it when they are not there (``create``)."""
        import psycopg

        if not SCHEMA_NAME.match(schema or ""):
            raise ValueError(f"schema {schema!r}")
        conn = psycopg.connect(url, autocommit=True, row_factory=_row_factory, application_name="gkxlsx")
        try:
            store = cls(conn, url, schema)
            if create:
                store._create()
            conn.execute(f'SET search_path TO "{schema}"')
        except BaseException:
            conn.close()
            raise
        return store

    def _tables(self) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s", (self.schema,)
            )
        }

    def _create(self) -> None:
        """The schema and the tables missing from it (all of them for a new campaign; a table added
        by a later version for an older one), made in one transaction; another process making them
        at the same moment wins, and this one finds them made."""
        import psycopg

        statements = [
            st.strip() for st in _ddl(ID="SERIAL PRIMARY KEY", SEQ=", seq SERIAL").split(";") if st.strip()
        ] + ["CREATE TABLE IF NOT EXISTS ledger_lock (id INTEGER PRIMARY KEY)"]
        for _attempt in range(5):
            have = self._tables()
            todo = [st for st in statements if _table_of(st) not in have]
            if not todo:
                return
            try:
                with self.conn.transaction():
                    if not self.conn.execute(
                        "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (self.schema,)
                    ).fetchone():
                        self.conn.execute(f'CREATE SCHEMA "{self.schema}"')
                    self.conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
                    for st in todo:  # only what is missing: no IF NOT EXISTS needed
                        self.conn.execute(st.replace(" IF NOT EXISTS", ""))
                    if "ledger_lock" not in have:
                        self.conn.execute("INSERT INTO ledger_lock(id) VALUES (1)")
                return
            except (
                psycopg.errors.UniqueViolation,
                psycopg.errors.DuplicateObject,
                psycopg.errors.DuplicateSchema,
                psycopg.errors.DuplicateTable,
            ):
                continue  # made by another process meanwhile: look again
        if {_table_of(st) for st in statements} - self._tables():
            raise RuntimeError(f"cannot create the ledger's tables in schema {self.schema}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_pg_sql(sql), params)

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        return self.conn.execute(_pg_sql(sql) + " RETURNING id", params).fetchone()[0]

    def begin(self) -> None:
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT id FROM ledger_lock WHERE id = 1 FOR UPDATE")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != self._idle

    def columns(self, table: str) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (self.schema, table),
            )
        }

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return f"{redact(self.url)}（模式 {self.schema}）"


def open_store(db: str | Path, schema: str | None = None) -> Store:
    """The store a campaign names: a PostgreSQL URL (with its schema) or a SQLite file."""
    if is_url(db):
        return PostgresStore.open(str(db), schema or "")
    return SQLiteStore.open(db)


def drop_schema(url: str, schema: str) -> None:  # pragma: no cover - used by tests and benchmarks
    """Remove a campaign's schema and everything in it (tests, benchmarks)."""
    import psycopg

    if not SCHEMA_NAME.match(schema):
        raise ValueError(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
