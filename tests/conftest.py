"""Shared pytest fixtures.  LibreOffice tests call gkxlsx.office.lo.require_or_skip(), which skips on a
machine without LibreOffice but fails under CI=true, where every test must run."""

import pytest


@pytest.fixture
def form2021():
    from gkxlsx.form.model import load_form

    return load_form("2021")


@pytest.fixture
def form2019():
    from gkxlsx.form.model import load_form

    return load_form("2019")


def seed_files() -> list:
    """The five real published reports of docs/FORMAT.md §7, kept in tests/data/seeds."""
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parent / "data" / "seeds").glob("00*.txt"))
    assert len(files) == 5, files
    return files


@pytest.fixture(scope="session")
def pg_url():
    """A real PostgreSQL server for this test session (tests/_pg.py: initdb and pg_ctl of Debian's
    postgresql package in a temporary folder, a unix socket only), started once; the URL of its
    database.  Skipped on a machine without PostgreSQL or psycopg — never under CI=true, where that
    is a failure."""
    import os

    from tests._pg import PgServer, unavailable

    why = unavailable()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: the PostgreSQL ledger tests must run, but {why}")
        pytest.skip(why)
    srv = PgServer()
    url = srv.start()
    yield url
    srv.stop()


@pytest.fixture
def ledger_db(request):
    """Where a test's campaign keeps its ledger: None (ledger.sqlite in the folder) or the URL of the
    session's PostgreSQL database (each campaign its own schema in it).  SQLite unless the test is
    parametrised with ``tests._pg.both_backends``."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return None
    return request.getfixturevalue("pg_url")
