"""Seeded fuzzing of returned files, shared by the standing test (``tests/test_fuzz.py``, a few
hundred files) and the long run (``benchmarks/fuzz.py``, ten thousand and more).

A case is a generated workbook (good values, busy values, the 2019 format, random values written
by the generator) put through one to three mutations, written under a file name that may itself
be hostile.  The families (``FAMILIES``):

- the first fuzzer's: ``truncate``, ``flip`` (bytes anywhere in the zip), ``xmlbytes`` (random bytes
  inside one XML part), ``cells`` (random cell contents and types), ``delete`` / ``dup`` (a part
  deleted, or duplicated with other content), ``names`` (defined names and identity mangled),
  ``sheets`` (sheet names), ``garbage`` (not a package at all), ``ole`` (random OLE streams);
- issue 15's: ``surrogate`` (``&#xD800;``, ``_xD800_`` escapes, CESU bytes in cells, shared strings,
  attributes, sheet names and identity), ``numbers`` (thousands of digits, 24-digit amounts, NaN,
  inf, 1E+23, 1E+999999, sNaN and other literals that trip ``decimal.InvalidOperation``), ``lying``
  (a member whose sizes lie: stored, deflate, bzip2, LZMA; inflating past the declared size, short
  of it, a local header that disagrees with the central directory), ``unclosed`` (``<xf>``,
  ``<f>``, ``<c>``, ``<row>``, ``<si>`` … never closed, up to 100,000 times), ``nested`` (deeply nested
  elements), ``sst`` (huge shared-string tables, lying counts, indexes past the end), ``parts``
  (duplicated and missing parts, relationships to nowhere, odd member names, 2,000 members).

File names (:func:`file_name`): ASCII, Chinese UTF-8, GBK bytes (not UTF-8), up to 250 bytes,
control characters, CESU-encoded surrogates.

Nothing here asserts: the callers check every case (the test in process, the long run in a child
process with a timeout and its memory measured).
"""

from __future__ import annotations

import bz2
import functools
import inspect
import io
import json
import lzma
import random
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from test_check_corpus import FORM, ROSTER, U1, U3, YEAR, build, ole_file, quiet_values

from gkxlsx.demo.samples import sample_values
from gkxlsx.form.model import load_form

__all__ = ["FORM", "ROSTER", "YEAR", "Case", "FAMILIES", "make_bases", "make_case", "mutate", "file_name"]

# ---- one file checked in a fresh process: its time and peak memory --------------------------------


def peak_mb() -> float:
    """The peak resident memory of this process image in MB: VmHWM.  ``ru_maxrss`` would keep the
    parent's resident memory from before exec (a pytest process of 200 MB makes every child 200 MB)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PEAK_MB = inspect.getsource(peak_mb)  # the same function in a probe's fresh process

_PROBE = (
    PEAK_MB
    + """
import json, sys, time
from gkxlsx.check.checker import check_file
t = time.perf_counter()
res = check_file(sys.argv[1])
print(json.dumps({"ids": [f.rule_id for f in res.findings], "messages": [f.message for f in res.findings],
                  "status": res.status, "seconds": time.perf_counter() - t, "rss_mb": peak_mb()}))
"""
)


def probe(path) -> dict:
    """``check_file(path)`` in a fresh process: finding ids and messages, status, seconds, peak MB."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- building zips by hand (zipfile cannot write a lying size) --------------------------------


def pack(
    members: list[tuple[str | bytes, int, bytes, int, int]], *, local_sizes: dict[int, int] | None = None
) -> bytes:
    """A zip from (name, method, compressed bytes, crc, declared uncompressed size).  ``local_sizes``:
    member index → another uncompressed size written in that member's local header only."""
    out = io.BytesIO()
    central = []
    for k, (name, method, comp, crc, usize) in enumerate(members):
        nb = name.encode() if isinstance(name, str) else name
        off = out.tell()
        version = 46 if method == zipfile.ZIP_BZIP2 or method == zipfile.ZIP_LZMA else 20
        lsize = (local_sizes or {}).get(k, usize)
        out.write(
            struct.pack("<4s5H3L2H", b"PK\x03\x04", version, 0, method, 0, 0x21, crc, len(comp), lsize, len(nb), 0)
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


def compress(method: int, body_chunks) -> bytes:
    """``body_chunks`` (an iterable of bytes) compressed raw, as a zip member of ``method`` stores them."""
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


def members(data: bytes, method: int = zipfile.ZIP_DEFLATED) -> list[tuple[str | bytes, int, bytes, int, int]]:
    """The members of ``data`` recompressed with ``method``, honest sizes (input for :func:`pack`)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    out: list[tuple[str | bytes, int, bytes, int, int]] = []
    for i in z.infolist():
        body = z.read(i.filename)
        out.append((i.filename, method, compress(method, [body]), zlib.crc32(body), len(body)))
    return out


@functools.cache
def zeros(method: int, size: int) -> bytes:
    """``size`` zero bytes compressed with ``method`` (made once per run: bzip2 of 300 MB ≈ 2 s)."""
    chunk = bytes(1 << 20)
    n, rest = divmod(size, 1 << 20)
    return compress(method, [*(chunk for _ in range(n)), bytes(rest)])


# ---- the bases -----------------------------------------------------------------------------------

JUNK = [
    "/",
    "—",
    "无",
    "3条",
    "１２",
    "'7",
    "251000元",
    "-1",
    "1e308",
    "NaN",
    "inf",
    "",
    " ",
    "\t",
    "=1+1",
    "#N/A",
    "<",
    "&",
    "&amp;",
    "]]>",
    "\x00",
    "\x01",
    "\ud7ff",
    "😀",
    "一二三",
    "0x1F",
    "1,2,3",
    "１２３４５６７８９０" * 20,
    "a" * 5000,
    "TRUE",
    "1/2",
    "2025-01-01",
    "   12   ",
]


def random_value(rng: random.Random):
    k = rng.randrange(10)
    if k == 0:
        return None
    if k == 1:
        return rng.choice(JUNK)
    if k == 2:
        return rng.randint(-(10**6), 10**12)
    if k == 3:
        return rng.uniform(-1e6, 1e9)
    if k == 4:
        return Decimal(rng.randint(0, 10**8)) / Decimal(10 ** rng.randint(0, 8))
    if k == 5:
        return rng.choice([True, False])
    if k == 6:
        return rng.choice([date(2026, 1, 2), datetime(2025, 12, 31, 23, 59)])
    if k == 7:
        return "".join(chr(rng.randint(0x20, 0x9FFF)) for _ in range(rng.randint(1, 40)))
    return rng.randint(0, 50)


def make_bases(seed: int, n_random: int = 12) -> list[bytes]:
    """The workbooks mutated: a quiet and a busy return, the 2019 format, and ``n_random`` returns with
    random values written by the generator into every kind of cell."""
    rng = random.Random(seed)
    out = [build(), build(sample_values(FORM, U3.name, U3.type, YEAR, seed=5, busy=True), unit=U3)]
    f19 = load_form("2019")
    out.append(build(sample_values(f19, U1.name, U1.type, 2020, seed=1), year=2020, form=f19))
    keys = list(FORM.entry_keys) + [k for k, f in FORM.fields.items() if not f.prefilled]
    for _ in range(n_random):
        v = quiet_values()
        for k in rng.sample(keys, rng.randint(1, 40)):
            v[k] = random_value(rng)
        out.append(build(v))
    out += [ods_from_xlsx(out[0]), ods_from_xlsx(out[1])]  # read by calamine, values only
    out += [xls_from_xlsx(out[0]), xls_from_xlsx(out[1])]
    return out


_ODS_NS = (
    b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"'
)
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"


def ods_package(body: bytes, mimetype: bytes = ODS_MIME) -> bytes:
    """An OpenDocument spreadsheet whose ``<office:spreadsheet>`` holds ``body`` (the tables)."""
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        + _ODS_NS
        + b"><office:body><office:spreadsheet>"
        + body
        + b"</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        b'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        b'<manifest:file-entry manifest:full-path="/" manifest:media-type="' + ODS_MIME + b'"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # first and stored, as the format wants
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _ods_cell(v) -> bytes:
    from xml.sax.saxutils import escape

    if v is None:
        return b"<table:table-cell/>"
    if isinstance(v, bool):
        return b'<table:table-cell office:value-type="boolean" office:boolean-value="%s"/>' % (
            b"true" if v else b"false"
        )
    if isinstance(v, (int, float, Decimal)):
        return (
            b'<table:table-cell office:value-type="float" office:value="%s"><text:p>%s</text:p></table:table-cell>'
            % (
                str(v).encode(),
                str(v).encode(),
            )
        )
    text = escape(str(v)).encode("utf-8", "replace")
    return b'<table:table-cell office:value-type="string"><text:p>' + text + b"</text:p></table:table-cell>"


def ods_from_xlsx(data: bytes) -> bytes:
    """The values of a generated workbook as an .ods (what LibreOffice's “save as” keeps of it for
    a values-only reader): every sheet, every stored value or cached result, at its place."""
    from gkxlsx.workbook import reader

    _info, book = reader.load("x.xlsx", data=data)
    tables = []
    for sheet in book.sheet_names:
        grid: dict[int, dict[int, object]] = {}
        for ref in book.refs(sheet):
            raw = book.cell(sheet, ref)
            r, c = reader.split_ref(ref)
            value = raw.value
            if (raw.cached_kind if raw.kind == "formula" else raw.kind) == "number":
                value = Decimal(str(value))
            grid.setdefault(r, {})[c] = value
        rows = []
        for r in range(max(grid, default=-1) + 1):
            cols = grid.get(r, {})
            rows.append(
                b"<table:table-row>"
                + b"".join(_ods_cell(cols.get(c)) for c in range(max(cols, default=-1) + 1))
                + b"</table:table-row>"
            )
        name = sheet.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").encode()
        tables.append(b'<table:table table:name="' + name + b'">' + b"".join(rows) + b"</table:table>")
    return ods_package(b"".join(tables))


# ---- .xls (BIFF8 in an OLE file, read by calamine) ---------------------------------------------------


def biff(typ: int, body: bytes) -> bytes:
    return struct.pack("<HH", typ, len(body)) + body


def biff_bof(kind: int) -> bytes:  # 0x0005 workbook globals, 0x0010 worksheet
    return biff(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))


def biff_number(r: int, c: int, v: float, raw: bytes | None = None) -> bytes:
    return biff(0x0203, struct.pack("<HHH", r, c, 0) + (raw if raw is not None else struct.pack("<d", v)))


def biff_label(r: int, c: int, text: str) -> bytes:
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * 4000]
    return biff(0x0204, struct.pack("<HHHHB", r, c, 0, len(units) // 2, 1) + units)


def xls_workbook(sheets: list[tuple[str, bytes]], globals_extra: bytes = b"") -> bytes:
    """A BIFF8 workbook stream: globals (BOF, CODEPAGE 1200, ``globals_extra``, one BOUNDSHEET a
    sheet, EOF), then each sheet's records between its BOF and EOF."""
    head = biff_bof(0x0005) + biff(0x0042, struct.pack("<H", 1200)) + globals_extra
    names = [n.encode("utf-16-le", "surrogatepass")[:510] for n, _ in sheets]
    off = len(head) + sum(4 + 8 + len(nb) for nb in names) + 4
    bound, bodies = b"", b""
    for nb, (_n, recs) in zip(names, sheets):
        bound += biff(0x0085, struct.pack("<IBBBB", off + len(bodies), 0, 0, len(nb) // 2, 1) + nb)
        bodies += biff_bof(0x0010) + recs + biff(0x000A, b"")
    return head + bound + biff(0x000A, b"") + bodies


def ole_small(name: str, body: bytes) -> bytes:
    """An OLE compound file whose one stream (< 4,096 bytes) lives in the mini stream."""
    assert len(body) < 4096
    ss, ms = 512, 64
    container = body.ljust(-(-len(body) // ms) * ms or ms, b"\0")
    k = -(-len(container) // ss)  # regular sectors of the mini-stream container
    minifat = [*range(1, len(container) // ms), 0xFFFFFFFE]
    minifat += [0xFFFFFFFF] * (ss // 4 - len(minifat))
    fat = [*range(1, k), 0xFFFFFFFE, 0xFFFFFFFE, 0xFFFFFFFE, 0xFFFFFFFD]
    fat += [0xFFFFFFFF] * (ss // 4 - len(fat))

    def entry(nm: str, typ: int, start: int, size: int, child: int = 0xFFFFFFFF) -> bytes:
        raw = (nm + "\0").encode("utf-16-le")
        e = raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), typ, 1)
        e += struct.pack("<III", 0xFFFFFFFF, 0xFFFFFFFF, child)
        return (e.ljust(116, b"\0") + struct.pack("<IQ", start, size)).ljust(128, b"\0")

    directory = (entry("Root Entry", 5, 0, len(container), child=1) + entry(name, 2, 0, len(body))).ljust(ss, b"\0")
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9)
    struct.pack_into("<H", header, 0x20, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, k + 1, 0, 4096, k, 1, 0xFFFFFFFE, 0)
    struct.pack_into("<109I", header, 0x4C, k + 2, *([0xFFFFFFFF] * 108))
    return (
        bytes(header)
        + container.ljust(k * ss, b"\0")
        + struct.pack(f"<{ss // 4}I", *minifat)
        + directory
        + struct.pack(f"<{ss // 4}I", *fat)
    )


def xls_from_xlsx(data: bytes) -> bytes:
    """The values of a generated workbook as a BIFF8 .xls (NUMBER and LABEL records at their
    places), as a values-only reader sees a workbook saved in the old format."""
    from gkxlsx.workbook import reader

    _info, book = reader.load("x.xlsx", data=data)
    sheets = []
    for sheet in book.sheet_names:
        recs = []
        for ref in book.refs(sheet):
            raw = book.cell(sheet, ref)
            r, c = reader.split_ref(ref)
            kind = raw.cached_kind if raw.kind == "formula" else raw.kind
            if kind == "number":
                recs.append(biff_number(r, c, float(raw.value)))
            elif raw.value not in (None, ""):
                recs.append(biff_label(r, c, str(raw.value)))
        sheets.append((sheet, b"".join(recs)))
    return ole_file({"Workbook": xls_workbook(sheets)})


# ---- zip helpers -----------------------------------------------------------------------------------


class NotAPackage(Exception):
    """The bytes are no readable zip: a part-level mutation cannot apply."""


def parts(data: bytes) -> list[tuple[str, bytes]]:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]
    except Exception as e:  # noqa: BLE001 - any damage: the caller falls back to a byte mutation
        raise NotAPackage(str(e)) from None


def rezip(items) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the mutations
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in items:
                z.writestr(name, body, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _pick(items, rng: random.Random, pred: Callable[[str], bool]) -> int:
    idx = [n for n, (name, _) in enumerate(items) if pred(name)]
    if not idx:
        raise NotAPackage("no such part")
    return rng.choice(idx)


def _is_sheet(name: str) -> bool:
    return name.startswith("xl/worksheets/sheet")


def _is_xml(name: str) -> bool:
    return name.endswith((".xml", ".rels"))


def _insert(body: bytes, rng: random.Random, blob: bytes, anchors: tuple[bytes, ...]) -> bytes:
    """``blob`` before one of ``anchors`` (the first found) or at a random place."""
    found = [a for a in anchors if a in body]
    if found and rng.random() < 0.8:
        a = rng.choice(found)
        pos = body.index(a) if rng.random() < 0.5 or not a.startswith(b"</") else body.rindex(a)
    else:
        pos = rng.randrange(len(body) + 1)
    return body[:pos] + blob + body[pos:]


# ---- the first fuzzer's families ---------------------------------------------------------------------


def m_truncate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    return "truncate", data[: rng.randrange(len(data) or 1)]


def m_flip(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    if not data:
        return "flip", data
    b = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return "flip", bytes(b)


def m_xmlbytes(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    n = _pick(items, rng, _is_xml)
    name, body = items[n]
    b = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    items[n] = (name, bytes(b))
    return f"xmlbytes:{name}", rezip(items)


_CELL = re.compile(rb'<c r="[A-Z]+\d+"[^>]*?(?:/>|>.*?</c>)', re.S)


_NUMBER_CELL = re.compile(rb'<c r="[A-Z]+\d+"(?: s="\d+")?><v>[^<]*</v></c>')


def _recell(
    body: bytes, rng: random.Random, k: int, content: Callable[[], tuple[bytes, bytes]], numbers: bool = False
) -> bytes:
    """Up to ``k`` cells of a sheet rewritten: ``content()`` gives (attributes, inner XML); ``numbers``:
    cells holding a number (entry cells and totals), when the sheet has some."""
    cells = list(_NUMBER_CELL.finditer(body)) if numbers else []
    cells = cells or list(_CELL.finditer(body))
    out = body
    for m in sorted(rng.sample(cells, min(len(cells), k)), key=lambda m: -m.start()):
        ref_m = re.match(rb'<c r="([A-Z]+\d+)"', m.group(0))
        assert ref_m is not None
        attrs, inner = content()
        new = b'<c r="' + ref_m.group(1) + b'"' + attrs + (b">" + inner + b"</c>" if inner else b"/>")
        out = out[: m.start()] + new + out[m.end() :]
    return out


def m_cells(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    n = _pick(items, rng, _is_sheet)
    name, body = items[n]

    def content() -> tuple[bytes, bytes]:
        t = rng.choice(
            [b"", b' t="s"', b' t="str"', b' t="b"', b' t="e"', b' t="n"', b' t="d"', b' t="inlineStr"', b' t="zz"']
        )
        s = rng.choice([b"", b' s="0"', b' s="9999"', b' s="-1"', b' s="x"'])
        v = rng.choice(
            [
                b"<v>" + str(rng.randint(-5, 10**9)).encode() + b"</v>",
                b"<v>abc</v>",
                b"<v></v>",
                b"<v>99999999</v>",
                b"<f>1/0</f><v>#DIV/0!</v>",
                b"<is><t>" + "填".encode() * rng.randint(0, 9) + b"</t></is>",
                b'<f t="shared" si="77"/>',
                b"<v>1.5E+400</v>",
                b"",
            ]
        )
        return s + t, v

    items[n] = (name, _recell(body, rng, rng.randint(1, 15), content))
    return f"cells:{name}", rezip(items)


def m_delete(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    n = rng.randrange(len(items))
    name = items[n][0]
    del items[n]
    return f"delete:{name}", rezip(items)


def m_dup(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    name, body = rng.choice(items)
    items.append((name, body[: len(body) // 2]))
    return f"dup:{name}", rezip(items)


def m_names(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = []
    for name, body in parts(data):
        if name == "xl/workbook.xml":
            body = re.sub(
                rb"\$([A-Z]+)\$(\d+)",
                lambda m: rng.choice(
                    [
                        m.group(0),
                        b"#REF!",
                        b"$" + m.group(1) + b"$" + str(int(m.group(2)) + rng.randint(-3, 3)).encode(),
                    ]
                ),
                body,
            )
        if name == "docProps/custom.xml":
            body = re.sub(
                rb"<vt:lpwstr>[^<]*</vt:lpwstr>",
                lambda m: rng.choice(
                    [m.group(0), b"<vt:lpwstr></vt:lpwstr>", b"<vt:lpwstr>9999</vt:lpwstr>", b"<vt:i4>1</vt:i4>"]
                ),
                body,
            )
        out.append((name, body))
    return "names", rezip(out)


def m_sheets(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = []
    for name, body in parts(data):
        if name == "xl/workbook.xml":
            sheets = re.findall(rb'<sheet name="([^"]+)"', body)
            if sheets:
                victim = rng.choice(sheets)
                body = body.replace(
                    b'name="' + victim + b'"', b'name="' + rng.choice([b"Sheet1", victim[:2], b""]) + b'"', 1
                )
        out.append((name, body))
    return "sheets", rezip(out)


def m_garbage(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    head = rng.choice([b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"<html>", b"%PDF-", b"", b"\xef\xbb\xbf"])
    return "garbage", head + rng.randbytes(rng.randint(0, 3000))


def m_ole(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    names = rng.sample(
        ["Workbook", "Book", "EncryptionInfo", "WordDocument", "Data", "\x05SummaryInformation"], rng.randint(1, 3)
    )
    blob = ole_file({n: rng.randbytes(rng.randint(0, 6000)) for n in names})
    if rng.random() < 0.5:
        b = bytearray(blob)
        for _ in range(rng.randint(1, 10)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        blob = bytes(b)
    return "ole", blob


# ---- issue 15: lone surrogates ------------------------------------------------------------------------

SURROGATES = [
    b"&#xD800;",
    b"&#xDFFF;",
    b"&#xdbff;",
    b"&#55296;",
    b"&#xD83D;&#xDE00;",  # a pair written as two references (not XML, but seen)
    b"_xD800_",
    b"_xDBFF__x0041_",
    b"_xD83D__xDE00_",  # Excel's escape of a real pair
    b"_xDC00_",
    b"_x0000_",
    b"_x001F_",
    b"_xFFFE_",
    b"&#x0;",
    b"&#xFFFE;",
    b"&#x110000;",
    b"&#xFFFFFFFFFFFF;",
    b"&#99999999999999999999;",
    b"\xed\xa0\x80",  # a surrogate encoded in UTF-8 (CESU): not UTF-8
    b"\xed\xbf\xbf",
    b"\xff\xfe",
]


def m_surrogate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    where = rng.choice(["sheet", "sst", "attr", "workbook", "custom", "app"])
    bad = lambda: b"".join(rng.choice(SURROGATES) for _ in range(rng.randint(1, 3)))  # noqa: E731
    if where == "sheet":
        n = _pick(items, rng, _is_sheet)
        name, body = items[n]

        def content() -> tuple[bytes, bytes]:
            if rng.random() < 0.5:
                return b' t="inlineStr"', b"<is><t>" + rng.choice(
                    [b"1", b"", "未收到".encode()]
                ) + bad() + b"2</t></is>"
            return rng.choice([b"", b' t="str"', b' t="n"']), b"<v>1" + bad() + b"</v>"

        body = _recell(body, rng, rng.randint(1, 10), content)
    elif where == "sst":
        n = _pick(items, rng, lambda s: s.endswith("sharedStrings.xml"))
        name, body = items[n]
        texts = list(re.finditer(rb"<t[^>]*>", body))
        for m in sorted(rng.sample(texts, min(len(texts), rng.randint(1, 10))), key=lambda m: -m.end()):
            body = body[: m.end()] + bad() + body[m.end() :]
    elif where == "attr":
        n = _pick(items, rng, _is_sheet)
        name, body = items[n]
        body = re.sub(
            rb'(<c r="[A-Z]+\d+)"', lambda m: m.group(1) + bad() + b'"' if rng.random() < 0.05 else m.group(0), body
        )
    else:
        target = {"workbook": "xl/workbook.xml", "custom": "docProps/custom.xml", "app": "docProps/app.xml"}[where]
        n = _pick(items, rng, lambda s: s == target)
        name, body = items[n]
        pat = rb'(name="|<vt:lpwstr>|<Application>|<AppVersion>)'
        hits = list(re.finditer(pat, body))
        for m in sorted(rng.sample(hits, min(len(hits), rng.randint(1, 4))), key=lambda m: -m.end()):
            body = body[: m.end()] + bad() + body[m.end() :]
    items[n] = (name, body)
    return f"surrogate:{where}", rezip(items)


# ---- issue 15: absurd numbers ---------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "9" * 5000,
    "9" * 4301 + ".5",
    "0." + "0" * 5000 + "1",
    "1" * 24,
    "1" * 24 + ".00",
    "-" + "1" * 24,
    "1E+23",
    "1E+999999",
    "1E-999999",
    "1E+999999999999999999",
    "1E-999999999999999999",
    "0E+999999999",
    "1e400",
    "-1e400",
    "1e-400",
    "4.9E-324",
    "1e308",
    "1.7976931348623157e308",
    "9.99999999999999999999999999999E+28",
    "12345678901234567890.123456789012345678901",
    "1" * 60 + "E-50",
    "NaN",
    "nan",
    "-NaN",
    "sNaN",
    "-sNaN",
    "NaN12",
    "sNaN99999",
    "Infinity",
    "-Infinity",
    "inf",
    "-inf",
    "+Inf",
    "-0",
    "-0.0",
    "+5",
    "1_000",
    "١٢٣",  # Arabic-Indic digits: Decimal() takes them
    "１２",
    "1,000",
    "1.5.5",
    "0x10",
    " 7 ",
    "7\n",
    "1e",
    "e5",
    ".",
    "-",
    "",
    "1E2.5",
    "Infinity1",
]


def hostile_number(rng: random.Random) -> str:
    k = rng.randrange(4)
    if k == 0:
        return rng.choice(HOSTILE_NUMBERS)
    if k == 1:  # many digits, maybe a decimal point
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([13, 20, 24, 29, 100, 4300, 4301, 20000])))
        if rng.random() < 0.4:
            cut = rng.randrange(len(digits) + 1)
            digits = digits[:cut] + "." + digits[cut:]
        return rng.choice(["", "-"]) + digits
    if k == 2:  # exponent forms
        mant = rng.choice(["1", "9.99", "0", "-1", "123456789012", "1.5", ".5"])
        exp = rng.choice([23, 28, 29, 308, 309, 400, 999999, 10**9, 10**18, 10**30])
        return f"{mant}{rng.choice('Ee')}{rng.choice(['+', '-', ''])}{exp}"
    return str(rng.choice([float("nan"), float("inf"), 1e23, 1e300, 2.5e-300, 0.1 + 0.2, -0.0]))


def m_numbers(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    n = _pick(items, rng, _is_sheet)
    name, body = items[n]

    def content() -> tuple[bytes, bytes]:
        lit = hostile_number(rng).encode()
        k = rng.randrange(4)
        if k == 0:
            return b' t="inlineStr"', b"<is><t>" + lit + b"</t></is>"
        if k == 1:
            return b' t="str"', b"<f>1+1</f><v>" + lit + b"</v>"
        return rng.choice([b"", b' t="n"', b' s="0"']), b"<v>" + lit + b"</v>"

    items[n] = (name, _recell(body, rng, rng.randint(1, 20), content, numbers=rng.random() < 0.8))
    return f"numbers:{name}", rezip(items)


# ---- issue 15: members that lie about their size ----------------------------------------------------

METHODS = {
    "stored": zipfile.ZIP_STORED,
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}


def m_lying(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    try:
        ms = members(data, rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
    except Exception as e:  # noqa: BLE001
        raise NotAPackage(str(e)) from None
    mname = rng.choice(list(METHODS))
    method = METHODS[mname]
    k = rng.randrange(len(ms))
    name, _m, _c, crc, size = ms[k]
    body = zipfile.ZipFile(io.BytesIO(data)).read(name if isinstance(name, str) else name.decode())
    how = rng.choice(["zeros", "grown", "short", "crc", "local", "huge-declared"])
    local: dict[int, int] | None = None
    if how == "zeros":  # a bomb: far more than declared
        real = rng.choice([1 << 16, 1 << 20, 8 << 20] if method == zipfile.ZIP_STORED else [1 << 20, 8 << 20, 64 << 20])
        comp, crc, declared = zeros(method, real), 0, rng.choice([0, 1, size, 40_000, real - 1])
    elif how == "grown":  # the real part, then more than declared
        extra = body * rng.randint(1, 4) + bytes(rng.choice([1, 1000, 1 << 20]))
        comp, crc, declared = compress(method, [body, extra]), zlib.crc32(body), size
    elif how == "short":  # less than declared
        cut = body[: rng.randrange(len(body) + 1)]
        comp, crc, declared = compress(method, [cut]), zlib.crc32(body), size
    elif how == "crc":
        comp, crc, declared = compress(method, [body]), rng.randrange(1 << 32), size
    elif how == "local":  # the local header says another size than the central directory
        comp, declared = compress(method, [body]), size
        local = {k: rng.choice([0, 1, size * 1000, 0xFFFFFFFF])}
    else:  # declares far more than it holds (and than the limits)
        comp, declared = compress(method, [body]), rng.choice([0xFFFFFFFF, 61 << 20, 101 << 20])
    ms[k] = (name, method, comp, crc, declared)
    out = pack(ms, local_sizes=local)
    if rng.random() < 0.2:  # data before the package: the zipfile module reads the directory
        out = b"PK\x03\x04" + b"\x00" * 508 + out
    return f"lying:{how}:{mname}:{name!s}", out


# ---- issue 15: unclosed and nested elements -------------------------------------------------------------

UNCLOSED = {
    "styles": [b'<xf numFmtId="0" fontId="0" applyProtection="1">', b'<xf numFmtId="0" ', b"<xf>", b"<protection "],
    "sheet": [
        b'<c r="B900" t="str"><f>1+1',
        b'<c r="B900"><v>1',
        b'<c r="B900" t="inlineStr"><is><t>x',
        b"<c>",
        b"<row>",
        b'<row r="900">',
        b"<f>",
        b"<v>",
        b'<c r="A1" ',
        b"<is><t>",
    ],
    "sst": [b"<si><t>x", b"<si>", b"<t>", b'<rPh sb="0">x', b"<r><t>"],
    "workbook": [b'<definedName name="a" ', b"<definedName>", b'<sheet name="x" '],
    "app": [b"<Application>x", b"<AppVersion>"],
    "custom": [b'<property fmtid="x" pid="2" name="a">', b"<vt:lpwstr>"],
}
_TARGETS = {
    "styles": (lambda s: s.endswith("styles.xml"), (b"</cellXfs>", b"<cellXfs", b"</styleSheet>")),
    "sheet": (_is_sheet, (b"</sheetData>", b"<sheetData>", b"</row>", b"</c>")),
    "sst": (lambda s: s.endswith("sharedStrings.xml"), (b"</sst>", b"</si>", b"<si>")),
    "workbook": (lambda s: s == "xl/workbook.xml", (b"</definedNames>", b"</sheets>", b"<definedName ")),
    "app": (lambda s: s == "docProps/app.xml", (b"</Properties>", b"<Application>")),
    "custom": (lambda s: s == "docProps/custom.xml", (b"</Properties>", b"<property ")),
}


def m_unclosed(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    where = rng.choice(list(UNCLOSED))
    pred, anchors = _TARGETS[where]
    n = _pick(items, rng, pred)
    name, body = items[n]
    unit = rng.choice(UNCLOSED[where])
    count = rng.choice([1, 2, 10, 1000, 20_000, 100_000])
    items[n] = (name, _insert(body, rng, unit * count, anchors))
    return f"unclosed:{where}:{count}", rezip(items)


NEST_TAGS = [b"c", b"row", b"si", b"r", b"t", b"is", b"a", b"sheetData", b"f", b"v", b"xf", b"x:y"]


def m_nested(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    where = rng.choice(["sheet", "sheet", "sst", "styles", "workbook", "custom"])
    pred, anchors = _TARGETS[where]
    n = _pick(items, rng, pred)
    name, body = items[n]
    tag = rng.choice(NEST_TAGS)
    depth = rng.choice([100, 1000, 10_000, 200_000])
    opening = b"<" + tag + rng.choice([b"", b' r="A1"', b' t="s"']) + b">"
    blob = (
        opening * depth
        + rng.choice([b"", b"1", b"<v>1</v>"])
        + (b"</" + tag + b">") * rng.choice([depth, 0, depth // 2])
    )
    items[n] = (name, _insert(body, rng, blob, anchors))
    return f"nested:{where}:{tag.decode()}:{depth}", rezip(items)


# ---- issue 15: huge and lying shared-string tables --------------------------------------------------------


def m_sst(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    n = _pick(items, rng, lambda s: s.endswith("sharedStrings.xml"))
    name, body = items[n]
    how = rng.choice(["many", "long", "runs", "count", "index"])
    if how == "many":
        k = rng.choice([10_000, 100_000, 500_000])
        blob = b"".join(b"<si><t>x%d</t></si>" % i for i in range(k))
        body = body.replace(b"</sst>", blob + b"</sst>")
    elif how == "long":
        body = body.replace(
            b"</sst>", b"<si><t>" + "长".encode() * rng.choice([10_000, 1_000_000, 5_000_000]) + b"</t></si></sst>"
        )
    elif how == "runs":
        k = rng.choice([1000, 100_000])
        body = body.replace(b"</sst>", b"<si>" + b"<r><rPr/><t>y</t></r>" * k + b"</si></sst>")
    elif how == "count":
        value = rng.choice([b"-1", b"0", b"4294967296", b"99999999999999999999", b"x", b""])
        body = re.sub(rb'(count|uniqueCount)="\d+"', lambda m: m.group(1) + b'="' + value + b'"', body)
    else:  # cells pointing past the table
        s = _pick(items, rng, _is_sheet)
        sname, sbody = items[s]

        def content() -> tuple[bytes, bytes]:
            return b' t="s"', b"<v>" + rng.choice(
                [b"-1", b"4294967296", b"99999999999999999999999", b"1e3", b"1.5"]
            ) + b"</v>"

        items[s] = (sname, _recell(sbody, rng, rng.randint(1, 10), content))
    items[n] = (name, body)
    return f"sst:{how}", rezip(items)


# ---- issue 15: duplicated, missing and odd parts -------------------------------------------------------


def m_parts(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    items = parts(data)
    how = rng.choice(
        ["dup-same", "dup-types", "dup-empty", "empty", "rels", "case", "many", "oddname", "twice", "no-rels"]
    )
    if how == "dup-same":
        items.insert(rng.randrange(len(items) + 1), rng.choice(items))
    elif how == "dup-types":
        items.append(("[Content_Types].xml", b"<Types/>"))
    elif how == "dup-empty":
        name, _ = rng.choice(items)
        items.insert(rng.randrange(len(items) + 1), (name, b""))
    elif how == "empty":
        k = rng.randrange(len(items))
        items[k] = (items[k][0], b"")
    elif how == "rels":  # a relationship to nowhere (or outside the package)
        k = _pick(items, rng, lambda s: s.endswith(".rels"))
        name, body = items[k]
        target = rng.choice(
            [
                b"worksheets/none.xml",
                b"/xl/../../etc/passwd",
                b"",
                b"../" * 50 + b"x",
                b"x" * 5000,
                b"worksheets/sheet1.xml#a",
                b"%2e%2e/x",
            ]
        )
        hits = list(re.finditer(rb'Target="[^"]*"', body))
        if hits:
            m = rng.choice(hits)
            body = body[: m.start()] + b'Target="' + target + b'"' + body[m.end() :]
        items[k] = (name, body)
    elif how == "case":
        k = rng.randrange(len(items))
        items[k] = (items[k][0].upper() if rng.random() < 0.5 else "/" + items[k][0], items[k][1])
    elif how == "many":
        extra = rng.choice([100, 1999, 2001])
        items += [(f"xl/media/x{i}.bin", b"") for i in range(extra)]
    elif how == "oddname":
        k = rng.randrange(len(items))
        items[k] = (
            rng.choice(["xl\\workbook.xml", "../x.xml", "xl/工作簿.xml", "a" * 1000, "xl/./workbook.xml"]),
            items[k][1],
        )
    elif how == "twice":  # two sheets point to the same part
        k = _pick(items, rng, lambda s: s == "xl/_rels/workbook.xml.rels")
        name, body = items[k]
        body = re.sub(rb"worksheets/sheet\d+\.xml", b"worksheets/sheet1.xml", body, count=rng.randint(1, 3))
        items[k] = (name, body)
    else:
        items = [(n, b) for n, b in items if not n.endswith(".rels") or rng.random() < 0.5]
    return f"parts:{how}", rezip(items)


# ---- OpenDocument (read by calamine) ------------------------------------------------------------------

_REPEATS = [
    b"2",
    b"1000",
    b"1048576",
    b"16384",
    b"2147483647",
    b"4294967297",
    b"99999999999999999999",
    b"-1",
    b"0",
    b"x",
]


def m_ods(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """content.xml of an .ods: absurd values and repeat counts, hostile text, nesting; or the
    mimetype changed."""
    items = parts(data)
    n = _pick(items, rng, lambda s: s == "content.xml")
    name, body = items[n]
    how = rng.choice(
        ["value", "type", "repeat-rows", "repeat-cols", "spaces", "surrogate", "nested", "span", "mimetype"]
    )
    if how == "value":
        body = re.sub(
            rb'office:value="[^"]*"',
            lambda m: b'office:value="' + hostile_number(rng).encode() + b'"' if rng.random() < 0.2 else m.group(0),
            body,
        )
    elif how == "type":
        vt = rng.choice([b"currency", b"percentage", b"date", b"time", b"boolean", b"string", b"void", b"zz"])
        extra = rng.choice(
            [
                b"",
                b' office:date-value="99999-99-99"',
                b' office:time-value="PT99999999H"',
                b' office:boolean-value="x"',
            ]
        )
        body = re.sub(
            rb'office:value-type="float"',
            lambda m: b'office:value-type="' + vt + b'"' + extra if rng.random() < 0.2 else m.group(0),
            body,
        )
    elif how in ("repeat-rows", "repeat-cols", "span"):
        tag, attr = {
            "repeat-rows": (b"<table:table-row", b"table:number-rows-repeated"),
            "repeat-cols": (b"<table:table-cell", b"table:number-columns-repeated"),
            "span": (b"<table:table-cell", rng.choice([b"table:number-columns-spanned", b"table:number-rows-spanned"])),
        }[how]
        hits = [m.end() for m in re.finditer(re.escape(tag), body)]
        for pos in sorted(rng.sample(hits, min(len(hits), rng.randint(1, 3))), reverse=True):
            body = body[:pos] + b" " + attr + b'="' + rng.choice(_REPEATS) + b'"' + body[pos:]
    elif how == "spaces":  # <text:s text:c="…"/>: a run of spaces of that length
        hits = [m.end() for m in re.finditer(rb"<text:p>", body)]
        for pos in sorted(rng.sample(hits, min(len(hits), rng.randint(1, 3))), reverse=True):
            body = body[:pos] + b'<text:s text:c="' + rng.choice(_REPEATS) + b'"/>' + body[pos:]
    elif how == "surrogate":
        hits = [m.end() for m in re.finditer(rb"<text:p>|office:value=\"|table:name=\"", body)]
        for pos in sorted(rng.sample(hits, min(len(hits), rng.randint(1, 5))), reverse=True):
            body = body[:pos] + rng.choice(SURROGATES) + body[pos:]
    elif how == "nested":
        tag = rng.choice([b"table:table-row", b"table:table-cell", b"text:p", b"text:span", b"table:table"])
        depth = rng.choice([100, 10_000, 200_000])
        close = (b"</" + tag + b">") * rng.choice([depth, 0])
        body = _insert(body, rng, (b"<" + tag + b">") * depth + close, (b"</table:table>", b"<table:table-row>"))
    else:
        k = _pick(items, rng, lambda s: s == "mimetype")
        items[k] = ("mimetype", rng.choice([b"", b"application/zip", ODS_MIME + b"\n", ODS_MIME * 1000]))
    items[n] = (name, body)
    return f"ods:{how}", rezip(items)


# ---- .xls (BIFF8 records read by calamine) ------------------------------------------------------------


def _biff_records(stream: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(stream):
        typ, ln = struct.unpack_from("<HH", stream, pos)
        out.append((typ, stream[pos + 4 : pos + 4 + ln]))
        pos += 4 + ln
    return out


def parse_xls(data: bytes) -> list[tuple[str, list[tuple[int, bytes]]]]:
    """The sheets of an .xls made by :func:`xls_from_xlsx`: (name, records between BOF and EOF)."""
    from gkxlsx.workbook import reader

    try:
        ole = reader.ole_streams(data)
        stream = reader.ole_stream(data, ole, *ole.streams["Workbook"])
    except Exception as e:  # noqa: BLE001 - not (any more) an OLE file with a workbook
        raise NotAPackage(str(e)) from None
    names, sheets, cur = [], [], None
    for typ, body in _biff_records(stream):
        if typ == 0x0085 and len(body) >= 8:
            names.append(body[8 : 8 + 2 * body[6]].decode("utf-16-le", "surrogatepass"))
        elif typ == 0x0809 and body[2:4] == b"\x10\x00":
            cur = []
        elif typ == 0x000A and cur is not None:
            sheets.append(cur)
            cur = None
        elif cur is not None:
            cur.append((typ, body))
    if not names or len(names) != len(sheets):
        raise NotAPackage("no sheets")
    return list(zip(names, sheets))


_DOUBLES = [
    b"\x00\x00\x00\x00\x00\x00\xf8\x7f",  # NaN
    b"\x01\x00\x00\x00\x00\x00\xf0\x7f",  # signalling NaN
    b"\xff\xff\xff\xff\xff\xff\xff\xff",  # NaN with every bit set
    b"\x00\x00\x00\x00\x00\x00\xf0\x7f",  # +inf
    b"\x00\x00\x00\x00\x00\x00\xf0\xff",  # -inf
    b"\x00\x00\x00\x00\x00\x00\x00\x80",  # -0
    b"\x01\x00\x00\x00\x00\x00\x00\x00",  # the smallest denormal
    struct.pack("<d", 1e23),
    struct.pack("<d", 1.7976931348623157e308),
    struct.pack("<d", 123456789012345678901234.0),
    struct.pack("<d", 0.1 + 0.2),
    struct.pack("<d", -1e-300),
]


def m_xls(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """The records of an .xls: values far apart, absurd doubles, lying lengths and strings, odd
    sheet entries; or a tiny workbook in the mini stream."""
    sheets = parse_xls(data)
    k = rng.randrange(len(sheets))
    name, recs = sheets[k]
    recs = list(recs)
    how = rng.choice(
        ["far", "mulrk", "double", "rk", "label", "labelsst", "length", "bytes", "boundsheet", "small", "formula"]
    )
    pos = rng.randrange(len(recs) + 1)
    extra = b""
    if how in ("far", "small"):
        r, c = rng.choice([(65535, 255), (65535, 0), (0, 65535), (9999, 99), (1000, 1000), (65535, 65535)])
        recs.insert(pos, (0x0203, struct.pack("<HHHd", r, c, 0, 1.0)))
    elif how == "mulrk":
        first, n = rng.choice([0, 5, 255]), rng.choice([1, 3, 1000])
        last = rng.choice([first + n - 1, 65535, 0])
        body = (
            struct.pack("<HH", rng.choice([3, 65535]), first) + struct.pack("<HI", 0, 2) * n + struct.pack("<H", last)
        )
        recs.insert(pos, (0x00BD, body))
    elif how == "double":
        for j, (typ, body) in enumerate(recs):
            if typ == 0x0203 and len(body) == 14 and rng.random() < 0.3:
                recs[j] = (typ, body[:6] + rng.choice(_DOUBLES))
    elif how == "rk":
        rk = rng.choice([0xFFFFFFFF, 0x7FFFFFFE, 0x80000002, 3, 1, 0x7FF00000, 0xFFF00001])
        recs.insert(pos, (0x027E, struct.pack("<HHHI", rng.randrange(60), rng.randrange(20), 0, rk)))
    elif how == "label":
        text = rng.choice(["\ud800", "a\udfffb", "\udbff\udbff", "未\ud83d", "\x00", "x" * 4000])
        units = text.encode("utf-16-le", "surrogatepass")
        cch = rng.choice([len(units) // 2, 65535, len(units) // 2 + 7, 0])
        flag = rng.choice([1, 1, 0, 8, 4])
        recs.insert(pos, (0x0204, struct.pack("<HHHHB", rng.randrange(60), rng.randrange(20), 0, cch, flag) + units))
    elif how == "labelsst":
        sst = struct.pack("<II", rng.choice([1, 0x7FFFFFFF, 0xFFFFFFFF]), 1) + struct.pack("<HB", 1, 0) + b"a"
        extra = biff(0x00FC, sst)
        idx = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF])
        recs.insert(pos, (0x00FD, struct.pack("<HHHI", rng.randrange(60), rng.randrange(20), 0, idx)))
    elif how == "formula":
        cached = rng.choice(
            [b"\x00\x00\x00\x00\x00\x00\xff\xff", b"\x01\x00\x01\x00\x00\x00\xff\xff", rng.choice(_DOUBLES)]
        )
        body = struct.pack("<HHH", rng.randrange(60), rng.randrange(20), 0) + cached + b"\x00\x00" + b"\x00" * 4
        body += struct.pack("<H", 3) + b"\x1e\x01\x00"  # tInt 1
        recs.insert(pos, (0x0006, body))
        if rng.random() < 0.5:
            recs.insert(pos + 1, (0x0207, struct.pack("<HB", rng.choice([3, 65535]), 0) + b"abc"))
    sheets[k] = (name, recs)
    stream = xls_workbook([(n, b"".join(biff(t, b) for t, b in rs)) for n, rs in sheets], extra)
    if how == "small":  # the sheet alone, in the mini stream
        one = xls_workbook([(name, b"".join(biff(t, b) for t, b in recs[:40]))])
        return f"xls:{how}", ole_small("Workbook", one[:4095])
    if how == "length":  # a record says it is longer than the stream
        off = rng.randrange(len(stream) - 4)
        stream = stream[:off] + struct.pack("<HH", 0x0203, 0xFFFF) + stream[off + 4 :]
    elif how == "bytes":
        b = bytearray(stream)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        stream = bytes(b)
    elif how == "boundsheet":
        b = bytearray(stream)
        at = stream.find(b"\x85\x00")
        if at >= 0:
            struct.pack_into(
                "<I", b, at + 4, rng.choice([0, 1, len(stream) - 1, 0xFFFFFFFF, rng.randrange(len(stream))])
            )
        stream = bytes(b)
    return f"xls:{how}", ole_file({"Workbook": stream})


# ---- putting it together ---------------------------------------------------------------------------------

FAMILIES: dict[str, Callable[[bytes, random.Random], tuple[str, bytes]]] = {
    "truncate": m_truncate,
    "flip": m_flip,
    "xmlbytes": m_xmlbytes,
    "cells": m_cells,
    "delete": m_delete,
    "dup": m_dup,
    "names": m_names,
    "sheets": m_sheets,
    "garbage": m_garbage,
    "ole": m_ole,
    "surrogate": m_surrogate,
    "numbers": m_numbers,
    "lying": m_lying,
    "unclosed": m_unclosed,
    "nested": m_nested,
    "sst": m_sst,
    "parts": m_parts,
    "ods": m_ods,
    "xls": m_xls,
}
_WHOLE = ("garbage", "ole")  # replace the file: pointless after another mutation


def mutate(data: bytes, rng: random.Random, first: str | None = None) -> tuple[str, bytes]:
    """One to three mutations of ``data`` (``first``: the family of the first); a part-level one on
    bytes that are no longer a package becomes ``flip``.  The kind: the families applied, joined
    by ``+``."""
    kinds = []
    for step in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
        fam = first if first and not step else rng.choice([f for f in FAMILIES if not (step and f in _WHOLE)])
        try:
            kind, data = FAMILIES[fam](data, rng)
        except NotAPackage:
            kind, data = m_flip(data, rng)
        kinds.append(kind)
    return "+".join(kinds), data


# ---- file names ---------------------------------------------------------------------------------------------

EXTS = [".xlsx", ".xlsx", ".xlsx", ".xls", ".ods", ".et", "", ".XLSX", ".xlsm", ".zip"]


def file_name(i: int, rng: random.Random) -> tuple[str, bytes]:
    """(kind, name as bytes) for the ``i``-th case: unique by its number; at most 250 bytes."""
    ext = rng.choice(EXTS).encode()
    head = b"%05d" % i
    k = rng.randrange(8)
    if k < 3:
        return "ascii", head + ext
    word = "城关镇人民政府2025年政府信息公开年报"
    if k == 3:
        return "utf8", head + word.encode() + ext
    if k == 4:
        return "gbk", head + word.encode("gbk") + ext
    if k == 5:  # very long: what an archive made of a unit's long name unzips to
        enc = rng.choice(["utf-8", "gbk"])
        body = (word * 20).encode(enc)[: 250 - len(head) - len(ext)]
        body = body.decode(enc, "ignore").encode(enc)  # whole characters
        return f"long-{enc}", head + body + ext
    if k == 6:
        return "control", head + rng.choice([b"\x01", b"\t", b"\n", b"\x7f", b" ", b"-", b"\xe2\x80\xa8"]) + b"x" + ext
    return "cesu", head + rng.choice([b"\xed\xa0\x80", b"\xff", b"\x80\x80", b"\xc3"]) + ext


@dataclass
class Case:
    i: int
    kind: str  # the mutations applied
    name_kind: str
    name: bytes  # the file name (bytes: it may not be UTF-8)
    data: bytes
    year: int | None
    roster: bool  # check against ROSTER


def make_case(i: int, bases: list[bytes], rng: random.Random) -> Case:
    first = rng.choice(list(FAMILIES))
    if first == "ods":
        base = rng.choice([b for b in bases if b[30:38] == b"mimetype"])
    elif first == "xls":
        base = rng.choice([b for b in bases if b[:4] == b"\xd0\xcf\x11\xe0"])
    else:
        base = rng.choice(bases)
    kind, data = mutate(base, rng, first)
    name_kind, name = file_name(i, rng)
    year = YEAR if rng.random() < 0.7 else None
    return Case(i, kind, name_kind, name, data, year, rng.random() < 0.5)
