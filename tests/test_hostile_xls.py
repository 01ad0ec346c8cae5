"""Hostile .xls returns (issue 15, found by the fuzzer), read by python-calamine:

- a sheet entry (BOUNDSHEET) whose offset is 0xFFFFFFFF made calamine panic; its PanicException is
  a BaseException, so it went through ``except Exception`` as a traceback that stopped the batch —
  now E-FILE-CORRUPT (and any panic elsewhere in a check is E-INTERNAL for that file, never a
  traceback);
- two values at A1 and IV65536 (a 4 KB file) made calamine build a dense grid of 16.7 million cells:
  1.2 GB — now E-FILE-TOO-LARGE before calamine reads it, for streams in regular sectors and in the
  mini stream alike.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from fuzzlib import biff, biff_label, biff_number, ole_small, parse_xls, probe, xls_from_xlsx, xls_workbook
from test_check_corpus import ROSTER, YEAR, build, ole_file

from gkxlsx.check.checker import check_file
from gkxlsx.workbook import reader

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def xls() -> bytes:
    return xls_from_xlsx(build())


def stream_of(sheets) -> bytes:
    return xls_workbook([(n, b"".join(biff(t, b) for t, b in recs)) for n, recs in sheets])


def test_the_built_xls_passes(xls):
    r = check_file("单位.xls", data=xls, year=YEAR, roster=ROSTER)
    assert r.status == "通过", [f.message for f in r.findings]


def _offset(xls: bytes, offset: int) -> bytes:
    stream = stream_of(parse_xls(xls))
    at = stream.index(b"\x85\x00")  # the first BOUNDSHEET
    bad = bytearray(stream)
    struct.pack_into("<I", bad, at + 4, offset)
    return ole_file({"Workbook": bytes(bad)})


@pytest.mark.parametrize("offset", [0xFFFFFFFF, 0x7FFFFFFF, 28_159, 1])
def test_sheet_offset_out_of_the_stream_is_corrupt_not_a_traceback(xls, offset):
    r = check_file("单位.xls", data=_offset(xls, offset), year=YEAR)
    ids = [f.rule_id for f in r.findings]
    assert ids == ["E-FILE-CORRUPT"], [f.message for f in r.findings]


def test_sheet_offset_out_of_the_stream_on_the_command_line(xls, tmp_path):
    """No traceback and no panic printed by calamine (it never sees the file)."""
    (tmp_path / "单位.xls").write_bytes(_offset(xls, 0xFFFFFFFF))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8:strict"}
    cp = subprocess.run(
        [sys.executable, "-m", "gkxlsx", "check", "--json", str(tmp_path)], env=env, capture_output=True, timeout=120
    )
    assert cp.returncode == 1 and cp.stderr == b"", cp.stderr.decode("utf-8", "replace")[-2000:]
    files = json.loads(cp.stdout.decode("utf-8"))["files"]
    assert [f["rule"] for f in files[0]["findings"]] == ["E-FILE-CORRUPT"]


def test_a_panic_anywhere_is_one_files_internal_error(monkeypatch):
    """The last resort of check_file: a panicking library is this file's E-INTERNAL."""
    from gkxlsx.check import checker

    PanicException = type("PanicException", (BaseException,), {})  # as pyo3 names it

    def boom(*_a, **_k):
        raise PanicException("range start index 4294967295 out of range")

    monkeypatch.setattr(checker, "run", boom)
    r = check_file("单位.xls", data=b"x")
    assert [f.rule_id for f in r.findings] == ["E-INTERNAL"]
    monkeypatch.setattr(checker, "run", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # Ctrl+C still stops the batch
        check_file("单位.xls", data=b"x")


_probe = probe


FAR = [(65535, 255), (2000, 2000), (65535, 65535)]


@pytest.mark.parametrize("small", [False, True], ids=["regular-sectors", "mini-stream"])
@pytest.mark.parametrize("far", FAR, ids=[f"{r}x{c}" for r, c in FAR])
def test_values_far_apart_are_refused_with_bounded_memory(xls, tmp_path, small, far):
    sheets = parse_xls(xls)
    name, recs = sheets[2]
    if small:  # a template sheet's first records and the far value: under 4 KB, in the mini stream
        one = xls_workbook([(name, b"".join(biff(t, b) for t, b in recs[:20]) + biff_number(*far, 1.0))])
        data = ole_small("Workbook", one)
    else:
        sheets[2] = (name, [*recs, (0x0203, struct.pack("<HHHd", *far, 0, 1.0))])
        data = ole_file({"Workbook": stream_of(sheets)})
    path = tmp_path / "单位.xls"
    path.write_bytes(data)
    got = _probe(path)
    assert got["ids"] == ["E-FILE-TOO-LARGE"], got
    assert "个单元格" in got["messages"][0], got
    assert got["seconds"] < 1 and got["rss_mb"] < 150, got


def test_mini_stream_is_read_like_calamine_reads_it():
    import io

    from python_calamine import CalamineWorkbook

    body = xls_workbook([("S", biff_number(0, 0, 1.5) + biff_label(1, 1, "公开"))])
    data = ole_small("Workbook", body)
    ole = reader.ole_streams(data)
    assert reader.ole_stream(data, ole, *ole.streams["Workbook"]) == body
    assert CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("S").to_python() == [
        [1.5, ""],
        ["", "公开"],
    ]


def _mulrk(r: int, first: int, n: int, last: int) -> bytes:
    return biff(0x00BD, struct.pack("<HH", r, first) + struct.pack("<HI", 0, 2) * n + struct.pack("<H", last))


@pytest.mark.parametrize(
    "records,cells",
    [
        (biff_number(0, 0, 1), 1),
        (biff_number(2, 3, 1), 12),  # the grid starts at A1
        (biff_number(0, 0, 1) + biff(0x0201, struct.pack("<HHH", 65535, 255, 0)), 1),  # BLANK: not in the grid
        (biff_label(9, 1, "x") + biff_number(0, 4, 1), 50),
        (_mulrk(3, 2, 3, 4), 20),
        (_mulrk(0, 0, 1, 65535), 65536),
        (biff(0x0203, b"\x01"), 0),  # too short to hold a cell
    ],
)
def test_biff_scan(records, cells):
    # the globals substream (no cells) and one sheet
    stream = xls_workbook([("S", records)])
    assert reader.biff_scan(stream) == (cells, False)
    assert reader.biff_scan(stream + b"\x03\x02\xff\xff") == (cells, False)  # a record cut short at the end
