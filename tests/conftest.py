"""Shared pytest fixtures.  LibreOffice tests call gkxlsx.lo.require_or_skip(), which skips on a
machine without LibreOffice but fails under CI=true, where every test must run."""

import pytest


@pytest.fixture
def form2021():
    from gkxlsx.model import load_form

    return load_form("2021")


@pytest.fixture
def form2019():
    from gkxlsx.model import load_form

    return load_form("2019")
