"""Shared pytest configuration."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    # Under CI every test must run: LibreOffice tests never skip there (gkxlsx.lo.require_or_skip
    # fails instead of skipping when CI=true).
    if os.environ.get("CI") == "true":
        for item in items:
            item.user_properties.append(("ci", True))


@pytest.fixture
def form2021():
    from gkxlsx.model import load_form

    return load_form("2021")


@pytest.fixture
def form2019():
    from gkxlsx.model import load_form

    return load_form("2019")
