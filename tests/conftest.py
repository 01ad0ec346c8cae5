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
    """The five real published reports in shared/seeds beside the repository (or $GKXLSX_SEEDS).

    Skips the calling test when they are missing — but fails under CI=true, where they must be."""
    import os
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    for c in (
        os.environ.get("GKXLSX_SEEDS"),
        repo.parent / "shared" / "seeds",
        repo / "shared" / "seeds",
        Path("/work/shared/seeds"),
    ):
        if c and Path(c).is_dir():
            files = sorted(Path(c).glob("00*.txt"))
            if files:
                return files
    if os.environ.get("CI") == "true":
        pytest.fail("seeds not found (expected shared/seeds beside the repository)")
    pytest.skip("seeds not found")
