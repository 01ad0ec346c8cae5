"""Hostile and unlucky packages (issue 15, items 4 and 5): a member that lies about its size, and
XML parts with thousands of unclosed elements.

Every hostile file is built here from a generated workbook.  Each must end in a clear Chinese
finding with bounded memory (measured in a subprocess: ru_maxrss) and bounded time — the real proof
of the scans is linear scaling (n and 4n), the time limits are only a safety net.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest
from test_check_corpus import build

from gkxlsx.workbook import reader

ROOT = Path(__file__).resolve().parents[1]
HUGE = 300 << 20  # what the lying member really inflates to
DECLARED = 40_000  # what its central-directory entry says


# ---- building zips by hand (zipfile cannot write a lying size) --------------------------------


def _pack(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip from (name, method, compressed bytes, crc, declared uncompressed size)."""
    out = io.BytesIO()
    central = []
    for name, method, comp, crc, usize in members:
        nb = name.encode()
        off = out.tell()
        version = 46 if method == zipfile.ZIP_BZIP2 or method == zipfile.ZIP_LZMA else 20
        out.write(
            struct.pack("<4s5H3L2H", b"PK\x03\x04", version, 0, method, 0, 0x21, crc, len(comp), usize, len(nb), 0)
        )
        out.write(nb)
        out.write(comp)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                version,
                version,
                0,
                method,
                0,
                0x21,
                crc,
                len(comp),
                usize,
                len(nb),
                0,
                0,
                0,
                0,
                0,
                off,
            )
            + nb
        )
    cd_off = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), len(cd), cd_off, 0))
    return out.getvalue()


def _compress(method: int, body_chunks, total: int) -> bytes:
    if method == zipfile.ZIP_STORED:
        return b"".join(body_chunks)
    if method == zipfile.ZIP_DEFLATED:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
    elif method == zipfile.ZIP_BZIP2:
        c = bz2.BZ2Compressor(9)
    else:
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 1})  # type: ignore[attr-defined]
        c = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "preset": 1}])
        head = struct.pack("<BBH", 9, 4, len(props)) + props
        return head + b"".join(c.compress(x) for x in body_chunks) + c.flush()
    return b"".join(c.compress(x) for x in body_chunks) + c.flush()


def _members(data: bytes, method: int = zipfile.ZIP_DEFLATED) -> list[tuple[str, int, bytes, int, int]]:
    z = zipfile.ZipFile(io.BytesIO(data))
    out = []
    for i in z.infolist():
        body = z.read(i.filename)
        out.append((i.filename, method, _compress(method, [body], len(body)), zlib.crc32(body), len(body)))
    return out


def _lying(base: bytes, part: str, method: int, huge: int = HUGE, *, same_method: bool = False) -> bytes:
    """``base`` with ``part`` replaced by ``huge`` zero bytes compressed with ``method``, declared
    as DECLARED bytes in both headers."""
    members = _members(base, method if same_method else zipfile.ZIP_DEFLATED)
    chunk = bytes(1 << 20)
    comp = _compress(method, (chunk for _ in range(huge >> 20)), huge)
    return _pack([(n, method, comp, 0, DECLARED) if n == part else (n, m, c, k, s) for n, m, c, k, s in members])


@pytest.fixture(scope="module")
def base() -> bytes:
    return build()


_PROBE = textwrap.dedent(
    """
    import json, resource, sys, time
    from gkxlsx.check.checker import check_file
    path = sys.argv[1]
    t = time.perf_counter()
    res = check_file(path)
    dt = time.perf_counter() - t
    ids = [f.rule_id for f in res.findings]
    msgs = [f.message for f in res.findings]
    print(json.dumps({"ids": ids, "messages": msgs, "status": res.status, "seconds": dt,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def _probe(path: Path) -> dict:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- item 4: a member that lies about its uncompressed size -----------------------------------


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED],
    ids=["bzip2", "lzma", "deflate", "stored"],
)
@pytest.mark.parametrize("prepend", [False, True], ids=["own-reader", "zipfile-fallback"])
def test_lying_member_size_is_refused_with_bounded_memory(base, tmp_path, method, prepend):
    huge = HUGE if method != zipfile.ZIP_STORED else 12 << 20  # stored: the file itself is the size
    data = _lying(base, "xl/workbook.xml", method, huge)
    if prepend:  # data before the package: the central directory is read by the zipfile module
        data = b"PK\x03\x04" + b"\x00" * 508 + data
    assert len(data) < 13 << 20
    path = tmp_path / "单位.xlsx"
    path.write_bytes(data)
    got = _probe(path)
    assert "E-FILE-INFLATED" in got["ids"], got
    assert any("xl/workbook.xml" in m and "压缩炸弹" in m for m in got["messages"]), got
    assert got["rss_mb"] < 200, got
    assert got["seconds"] < 5, got


def test_lying_sheet_member_read_until_sheetdata(base, tmp_path):
    """A sheet is read only up to </sheetData>: the bound holds on that path too."""
    data = _lying(base, "xl/worksheets/sheet3.xml", zipfile.ZIP_BZIP2, HUGE, same_method=True)  # 一、总体情况
    path = tmp_path / "单位.xlsx"
    path.write_bytes(data)
    got = _probe(path)
    assert "E-FILE-INFLATED" in got["ids"], got
    assert got["rss_mb"] < 200, got


def test_lying_ods_mimetype(tmp_path):
    chunk = bytes(1 << 20)
    comp = _compress(zipfile.ZIP_BZIP2, (chunk for _ in range(HUGE >> 20)), HUGE)
    data = _pack([("mimetype", zipfile.ZIP_BZIP2, comp, 0, 46)])
    path = tmp_path / "单位.ods"
    path.write_bytes(data)
    got = _probe(path)
    assert "E-FILE-INFLATED" in got["ids"], got
    assert got["rss_mb"] < 200, got


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED], ids=str
)
def test_honest_members_of_every_method_read_the_same(base, method):
    """bzip2 and LZMA members (zipfile writes them) are read by the bounded reader, byte for byte."""
    data = _pack(_members(base, method))
    z = zipfile.ZipFile(io.BytesIO(data))
    for i in z.infolist():
        assert reader._member_bytes(data, i) == z.read(i.filename)
        if i.file_size >= 65536:  # the path that stops after a marker reads a prefix
            got = reader._member_bytes(data, i, until=b"</sheetData>")
            assert got is not None and z.read(i.filename).startswith(got)
    info, book = reader.load("x.xlsx", data=data)
    ref_info, ref = reader.load("x.xlsx", data=base)
    assert book.sheet_names == ref.sheet_names
    for s in ref.sheet_names:
        assert list(book.refs(s)) == list(ref.refs(s))
