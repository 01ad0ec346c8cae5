"""A real PostgreSQL server for the ledger tests and benchmark: Debian's ``postgresql`` package,
``initdb`` into a fresh temporary folder, started with ``pg_ctl``, listening only on a unix socket
in that folder (no TCP port, nothing shared with any other server on the machine).

As root (CI runs as root) the server runs as the ``postgres`` user that Debian's package creates
(PostgreSQL refuses to run as root): the folder is made by root and given to that user; the tests
connect as root through the socket, as the database's superuser ``gkx`` (``trust`` on the socket
only, which only root and that user can reach).  As any other user the server runs as that user.

``python tests/_pg.py`` starts one and prints its URL, for trying things by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

#: the tests and the benchmark parametrised over both ledger backends (the ``ledger_db`` fixture of conftest.py)
both_backends = pytest.mark.parametrize("ledger_db", ["sqlite", "postgresql"], indirect=True)

SERVER_USER = "postgres"  # made by Debian's postgresql-common
DATABASE = "gkxtest"
ROLE = "gkx"


def bin_dir() -> Path | None:
    """The folder of initdb and pg_ctl: ``$GKXLSX_PG_BIN``, else the newest
    ``/usr/lib/postgresql/N/bin`` (Debian keeps them off PATH), else PATH."""
    env = os.environ.get("GKXLSX_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "pg_ctl").exists() else None
    found = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            m = re.match(r"\d+", d.parent.name)
            found.append((int(m.group()) if m else 0, d))
    if found:
        return max(found)[1]
    w = shutil.which("pg_ctl")
    return Path(w).parent if w and shutil.which("initdb") else None


def unavailable() -> str | None:
    """Why a PostgreSQL server cannot be started here (None: it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if bin_dir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no '{SERVER_USER}' user to run the server as"
    return None


class PgServer:
    """One private server; :attr:`url` is the URL of its database ``gkxtest``."""

    def __init__(self, settings: dict[str, str] | None = None):
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError(unavailable() or "no PostgreSQL")
        self.settings = dict(settings or {})
        self.dir: Path | None = None
        self.url = ""
        self.version = ""

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVER_USER)
            kw.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return subprocess.run(args, capture_output=True, text=True, check=False, cwd="/", **kw)

    def start(self) -> str:
        import psycopg

        assert self.bin is not None
        # as root, in /tmp itself: the server's user must reach the folder, and $TMPDIR may be root's own
        base = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.dir = Path(tempfile.mkdtemp(prefix="gkx-pg-", dir=base))
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        p = self._run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-locale"]
        )
        if p.returncode != 0:
            raise RuntimeError(f"initdb failed: {p.stdout}\n{p.stderr}")
        opts = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.dir}'",
            "port": "5432",
            **self.settings,
        }
        o = " ".join(f"-c {k}={v}" for k, v in opts.items())
        p = self._run(
            [str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", o]
            + ["start"]
        )
        if p.returncode != 0:
            log = (self.dir / "server.log").read_text(errors="replace") if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {p.stdout}\n{p.stderr}\n{log}")
        atexit.register(self.stop)
        admin = f"postgresql://{ROLE}@/postgres?host={self.dir}&port=5432"
        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(admin, autocommit=True) as c:
                    c.execute(f"CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8'")
                    self.version = c.execute("SHOW server_version").fetchone()[0]
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.url = f"postgresql://{ROLE}@/{DATABASE}?host={self.dir}&port=5432"
        return self.url

    def stop(self) -> None:
        if self.dir is None:
            return
        assert self.bin is not None
        d, self.dir = self.dir, None
        with contextlib.suppress(OSError):
            self._run([str(self.bin / "pg_ctl"), "-D", str(d / "data"), "-m", "fast", "-w", "stop"])
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - by hand
    srv = PgServer()
    print(srv.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
