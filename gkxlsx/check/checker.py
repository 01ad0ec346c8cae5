"""Check returned workbooks: one :class:`~gkxlsx.check.result.FileResult` per file, never an exception.

:func:`check_file` reads one file into a :class:`~gkxlsx.check.returned.ReturnedWorkbook` (what
was read) and runs the registered checks of :mod:`gkxlsx.check.checks` on it, in order, each with
its own plain Chinese message; the per-form plans they compare with are in
:mod:`gkxlsx.check.plan`.  Every finding carries its rule id, severity, the cells as the user sees
them (``三、依申请公开!J6``), the values involved, the expected value and the fix in the
workbook's words.  :func:`check_paths` / :func:`iter_check` check files and folders, in parallel
with ``jobs > 1`` (:mod:`gkxlsx.check.parallel`; results cross processes in the compact form of
:mod:`gkxlsx.check.result`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gkxlsx.check.checks import run
from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.context import CheckContext, roster_dict
from gkxlsx.check.result import (
    SEVERITY_ORDER,
    STATUS_ERR,
    STATUS_PASS,
    STATUS_UNREADABLE,
    STATUS_WARN,
    STATUSES,
    FileResult,
    from_wire,
    to_wire,
)
from gkxlsx.findings import make_finding
from gkxlsx.workbook.reader import is_library_failure


def check_file(
    path: str | Path,
    *,
    roster=None,
    year: int | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    prev_lookup: Callable[[str], Any] | None = None,
    context: CheckContext | None = None,
    data: bytes | None = None,
    sha256: str | None = None,
) -> FileResult:
    """Check one returned file.  Never raises for a bad file (and not for an internal error
    either: that becomes an E-INTERNAL finding, status 无法识别).

    ``roster``: a roster path, a list of :class:`Unit` or {code: Unit} — the unit must be in it;
    ``year``: the report year being collected; ``prev``/``prev_format``: last year's values of this
    unit (cross-year checks); ``prev_lookup``: code → (format, year, values) or values;
    ``data``: the file's bytes when the caller has already read them (``sha256``: and hashed).
    """
    ctx = context or CheckContext(
        roster=roster_dict(roster), year=year, prev=prev, prev_format=prev_format, prev_lookup=prev_lookup
    )
    chk = FileCheck(Path(path), ctx)
    try:
        return run(chk, data, sha256)
    except BaseException as e:  # noqa: BLE001 - never a traceback, never a stopped batch
        if not is_library_failure(e):  # Ctrl+C, exit: not the file's doing
            raise
        chk.add(make_finding("E-INTERNAL", reason=f"{type(e).__name__}: {e}"[:200]))
        return chk.finish(STATUS_UNREADABLE)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the files inside folders given (recursively; hidden files, Office lock
    files ~$…, manifest.json and the documentation or scripts kept beside returns — .md, .json,
    .py — skipped).  Sorted within each folder."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                sorted(
                    x
                    for x in p.rglob("*")
                    if x.is_file()
                    and not x.name.startswith((".", "~$", ".~lock"))
                    and x.name != "manifest.json"
                    and x.suffix.lower() not in (".md", ".json", ".py")
                )
            )
        else:
            out.append(p)
    return out


class _CheckTask:
    """check_file with one context: what each process of a parallel check runs (picklable)."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx

    def __call__(self, path: Path) -> FileResult:
        return check_file(path, context=self.ctx)


def check_paths(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    roster=None,
    year: int | None = None,
    prev_by_unit: Mapping[str, Any] | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Check files and folders; ``jobs`` > 1: that many processes check (this one and ``jobs - 1``
    workers, at most one per core; see :mod:`gkxlsx.check.parallel`).  Results are in
    the order of the files.  Files of the same unit get a W-UNIT-DUP warning."""
    results: list[FileResult] = []
    for r in iter_check(paths, jobs=jobs, roster=roster, year=year, prev_by_unit=prev_by_unit):
        results.append(r)
        if progress:
            progress(r)
    _mark_duplicates(results)
    return results


def iter_check(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    roster=None,
    year: int | None = None,
    prev_by_unit: Mapping[str, Any] | None = None,
) -> Iterator[FileResult]:
    """:func:`check_paths` as a stream: each result as soon as it is ready, in the order of the
    files, none kept — memory stays flat however many files (no W-UNIT-DUP: that needs them all)."""
    files = expand_paths(paths)
    ctx = CheckContext(roster=roster_dict(roster), year=year, prev_by_unit=prev_by_unit)
    jobs = max(1, min(int(jobs or 1), os.cpu_count() or 1, len(files) or 1))
    if jobs == 1 or len(files) < 2:
        for p in files:
            yield check_file(p, context=ctx)
        return
    from gkxlsx.check.parallel import ordered_map

    yield from ordered_map(_CheckTask(ctx), files, jobs, encode=to_wire, decode=from_wire)


def _mark_duplicates(results: list[FileResult]) -> None:
    by_unit: dict[tuple[str, int | None], list[FileResult]] = {}
    for r in results:
        if r.identity and r.identity.unit_code:
            by_unit.setdefault((r.identity.unit_code, r.identity.year), []).append(r)
    for (code, _y), group in by_unit.items():
        if len(group) < 2:
            continue
        names = "、".join(g.name for g in group)
        for g in group:
            g.findings.append(
                make_finding(
                    "W-UNIT-DUP", code=code, name=g.identity.unit_name if g.identity else "", n=len(group), files=names
                )
            )
            g.findings.sort(key=lambda x: SEVERITY_ORDER.get(x.severity, 3))
            if g.status == STATUS_PASS:
                g.status = STATUS_WARN


def summary(results: Sequence[FileResult]) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    out["total"] = len(results)
    return out


def exit_code(results: Sequence[FileResult]) -> int:
    """0 when nothing blocks, 1 when any file has errors or could not be read."""
    return 1 if any(r.status in (STATUS_ERR, STATUS_UNREADABLE) for r in results) else 0
