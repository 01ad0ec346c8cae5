"""What a non-editable install ships: every package of the source tree and the web app's files.

An editable install (the README's commands) finds every module in the checkout, so a package
missing from pyproject.toml's explicit list would go unnoticed until someone installs a wheel —
the checker's ``gkxlsx.check.checks`` was missing that way.  This builds the wheel and looks inside."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def source_packages() -> set[str]:
    return {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "gkxlsx").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    # built from a clean copy: setuptools reuses a checkout's build/ folder, whose stale files
    # would hide a package missing from the list
    src = tmp_path_factory.mktemp("src") / "gkxlsx"
    keep = ("pyproject.toml", "README.md", "gkxlsx", "templates")
    src.mkdir()
    for name in keep:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("gkxlsx-*.whl")
    return set(zipfile.ZipFile(whl).namelist())


def test_every_package_is_in_the_wheel(wheel_names):
    missing = sorted(p for p in source_packages() if p.replace(".", "/") + "/__init__.py" not in wheel_names)
    assert not missing, f"packages missing from pyproject.toml [tool.setuptools] packages: {missing}"


def test_every_module_is_in_the_wheel(wheel_names):
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "gkxlsx").rglob("*.py") if "__pycache__" not in p.parts}
    assert not sorted(modules - wheel_names)


def test_data_templates_and_web_files_are_in_the_wheel(wheel_names):
    wanted = {
        f"gkxlsx/data/{p.relative_to(ROOT / 'gkxlsx' / 'data')}" for p in (ROOT / "gkxlsx" / "data").rglob("*.json")
    }
    wanted |= {f"gkxlsx/web/static/{p.name}" for p in (ROOT / "gkxlsx" / "web" / "static").iterdir() if p.is_file()}
    wanted |= {
        f"gkxlsx/templates/{p.relative_to(ROOT / 'templates')}"
        for p in (ROOT / "templates").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert not sorted(wanted - wheel_names)
