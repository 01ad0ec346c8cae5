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
