"""Memory stays flat with the number of files (not timed): checking or importing 2,000 returns
needs no meaningfully more memory than 200 — results are streamed, not accumulated, and the
caches shared across files are bounded.  Each run is a fresh process; its peak resident memory
(and its worker processes') is compared."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from gkxlsx.campaign.campaign import init_campaign
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.workbook.generate import build_workbook

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "roster.csv"
SLACK_MB = 12  # "not meaningfully above": interpreter noise, not per-file growth (2,000 files)

RUN = r"""
import json, resource, sys
from pathlib import Path
mode, folder, jobs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
n = 0
if mode == "check":
    from gkxlsx.check.checker import iter_check
    for r in iter_check([folder], jobs=jobs, year=2025):
        n += r.status in ("通过", "有警告", "有错误")
else:
    from gkxlsx.campaign.campaign import Campaign, import_files
    camp = Campaign(sys.argv[4])
    import_files(camp, [folder], jobs=jobs, keep=False)
    n = camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    camp.close()
print(json.dumps({"n": n, "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _with_comment(data: bytes, comment: bytes) -> bytes:
    """The same workbook with a zip archive comment: same content, different bytes (sha256)."""
    assert data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\x00\x00"
    return data[:-2] + struct.pack("<H", len(comment)) + comment


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two folders of distinct returns (every file different bytes) of the 12 example units: 200
    and 2,000 files, made from 24 generated workbooks."""
    base = tmp_path_factory.mktemp("scaling")
    camp = init_campaign(base / "proto", year=2025, roster=ROSTER)
    protos = []
    for i, u in enumerate(camp.units() * 2):
        data, _ = build_workbook(
            camp.form, u, 2025, prefill=sample_values(camp.form, u.name, u.type, 2025, seed=i, busy=i % 5 == 0)
        )
        protos.append((u, data))
    camp.close()
    out = {}
    for n in (200, 2000):
        d = base / f"f{n}"
        d.mkdir()
        for i in range(n):
            u, data = protos[i % len(protos)]
            (d / f"{i:05d}_{workbook_filename(u, 2025)}").write_bytes(_with_comment(data, f"copy {i}".encode()))
        out[n] = d
    return base, out


def _peak(mode: str, folder: Path, jobs: int, camp: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-c", RUN, mode, str(folder), str(jobs)] + ([str(camp)] if camp else [])
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("jobs", [1, 2])
def test_check_memory_flat_200_vs_2000(folders, jobs):
    _, f = folders
    small, large = _peak("check", f[200], jobs), _peak("check", f[2000], jobs)
    assert small["n"] == 200 and large["n"] == 2000  # every file was really checked
    assert large["main"] <= small["main"] + SLACK_MB, (small, large)
    if jobs > 1:
        assert large["worker"] <= small["worker"] + SLACK_MB, (small, large)


def test_import_memory_flat_200_vs_2000(folders):
    base, f = folders
    peaks = {}
    for n in (200, 2000):
        root = base / f"camp{n}"
        init_campaign(root, year=2025, roster=ROSTER).close()
        peaks[n] = _peak("import", f[n], 2, root)
    assert peaks[200]["n"] == 200 and peaks[2000]["n"] == 2000  # all distinct bytes: all recorded
    assert peaks[2000]["main"] <= peaks[200]["main"] + SLACK_MB, peaks
    assert peaks[2000]["worker"] <= peaks[200]["worker"] + SLACK_MB, peaks
