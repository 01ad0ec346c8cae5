"""The house habits, run with the rest of the suite: ruff (lint and format) and mypy clean.

The linters are pinned in the ``test`` extra of pyproject.toml; without them (a bare install) these
tests skip, but never under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PATHS = ["gkxlsx", "tests", "benchmarks", "examples"]


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
        pytest.skip(f"{name} is not installed")
    return [name]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_ruff_check_is_clean():
    p = _run(_tool("ruff") + ["check", *PATHS])
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_format_is_clean():
    p = _run(_tool("ruff") + ["format", "--check", *PATHS])
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_is_clean():
    _tool("mypy")
    p = _run([sys.executable, "-m", "mypy"])  # files and settings: [tool.mypy] in pyproject.toml
    assert p.returncode == 0, p.stdout + p.stderr
