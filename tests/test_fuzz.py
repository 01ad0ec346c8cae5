"""Fuzzing the importer (issue 15): ≥ 500 mutated returned files per run (seeded), zero uncaught
exceptions, zero internal errors.

The cases come from :mod:`fuzzlib` (shared with the long run, ``benchmarks/fuzz.py``): the first
fuzzer's mutations (truncated packages, flipped bytes, random bytes in XML, random cells, deleted or
duplicated parts, mangled names and identity, files that are no package) mixed with hostile and
unlucky input — lone surrogates, absurd numbers, members lying about their size, unclosed and deeply
nested elements, huge shared-string tables, odd parts, .ods repeat counts — under file names that
may be GBK bytes or 250 bytes long.  For every file the checker must answer with a status; a file
that does not pass must say why (at least one finding); nothing may surface as an internal error;
the JSON report and the terminal lines must encode as strict UTF-8.  A batch also goes through
the real command line (``gkxlsx check --json`` in a subprocess, strict UTF-8 stdout).

``GKXLSX_FUZZ_SEED`` / ``GKXLSX_FUZZ_N`` explore other files; the long run is
``python benchmarks/fuzz.py --n 10000``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fuzzlib import FAMILIES, ROSTER, make_bases, make_case

from gkxlsx.check.checker import check_file
from gkxlsx.check.result import STATUS_PASS, STATUSES
from gkxlsx.cli.check import print_result
from gkxlsx.workbook.feedback import write_feedback

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("GKXLSX_FUZZ_SEED", "20250131"))  # another seed explores other files
N = int(os.environ.get("GKXLSX_FUZZ_N", "540"))
CLI_N = 48
MAX_SECONDS = 5.0  # per file (issue 15); the long run measures it in a child process


@pytest.fixture(scope="module")
def bases():
    return make_bases(SEED)


def write_case(folder: Path, case) -> Path:
    """The case's bytes under its (possibly non-UTF-8) name; the path as Python sees it."""
    raw = os.path.join(os.fsencode(folder), case.name)
    with open(raw, "wb") as fh:
        fh.write(case.data)
    return Path(os.fsdecode(raw))


def terminal_lines(r) -> bytes:
    """What ``gkxlsx check`` prints for the file, encoded strictly as UTF-8 (a lone surrogate
    would raise here, as it would on a UTF-8 terminal)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    with contextlib.redirect_stdout(out):
        print_result(r, 1, 1, limit=None)
    out.flush()
    return out.buffer.getvalue()  # type: ignore[attr-defined]


def test_fuzz_no_uncaught_exceptions(bases, tmp_path):
    rng = random.Random(SEED)
    families: dict[str, int] = {}
    statuses: dict[str, int] = {}
    names: dict[str, int] = {}
    slowest = (0.0, "")
    for i in range(N):
        case = make_case(i, bases, rng)
        for k in case.kind.split("+"):
            families[k.split(":")[0]] = families.get(k.split(":")[0], 0) + 1
        names[case.name_kind] = names.get(case.name_kind, 0) + 1
        p = write_case(tmp_path, case)
        where = f"file {i} ({case.kind}, name {case.name!r}, seed {SEED})"
        t = time.perf_counter()
        r = check_file(p, year=case.year, roster=ROSTER if case.roster else None)
        dt = time.perf_counter() - t
        slowest = max(slowest, (dt, where))
        assert r.status in STATUSES, where
        internal = [f.message for f in r.findings if f.rule_id == "E-INTERNAL"]
        assert not internal, f"{where}: {internal}"
        if r.status != STATUS_PASS:
            assert r.findings, where
        for f in r.findings:
            assert f.rule_id and f.severity in ("error", "warning", "info") and f.message, where
        json.dumps(r.to_dict(), ensure_ascii=False).encode("utf-8")  # the JSON report, as written
        assert terminal_lines(r), where
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if i % 20 == 0 and r.identity is not None:
            write_feedback(r, tmp_path / "feedback")  # regenerating from any checked values works
        p.unlink()
    assert slowest[0] < MAX_SECONDS, slowest
    assert sum(families.values()) >= min(N, 500)
    assert set(families) == set(FAMILIES) | {"flip"}, families  # every mutation family ran
    assert len(names) >= 6, names  # and every kind of file name
    assert len(statuses) >= 3, statuses  # and they produced different outcomes


def test_fuzz_through_the_command_line(bases, tmp_path):
    """A batch of fuzzed files, hostile names included, through ``gkxlsx check --json`` and the
    terminal output of ``gkxlsx check`` (real file names, real stdout encoding)."""
    rng = random.Random(SEED + 1)
    folder = tmp_path / "returns"
    folder.mkdir()
    cases = [make_case(i, bases, rng) for i in range(CLI_N)]
    for c in cases:
        write_case(folder, c)
    assert len({c.name_kind for c in cases}) >= 6
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict")
    cmd = [sys.executable, "-m", "gkxlsx", "check", "--year", "2025", str(folder)]
    for extra in (["--json"], []):
        cp = subprocess.run(cmd + extra, env=env, capture_output=True, timeout=300)
        err = cp.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err, err[-3000:]
        assert cp.returncode in (0, 1), err[-3000:]
        out = cp.stdout.decode("utf-8")  # strict: the output is valid UTF-8
        if extra:
            report = json.loads(out)
            assert report["summary"]["total"] == CLI_N
            assert len(report["files"]) == CLI_N
            ids = [f["rule"] for r in report["files"] for f in r["findings"]]
            assert "E-INTERNAL" not in ids
            assert all(r["status"] for r in report["files"])
        else:
            assert "E-INTERNAL" not in out and "内部错误" not in out
