"""Hostile and unlucky packages (issue 15, items 4 and 5): a member that lies about its size, and
XML parts with thousands of unclosed elements.

Every hostile file is built here from a generated workbook.  Each must end in a clear Chinese
finding with bounded memory (measured in a subprocess: VmHWM) and bounded time — the real proof
of the scans is linear scaling (n and 4n), the time limits are only a safety net.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from fuzzlib import members, pack, probe, zeros
from test_check_corpus import build, zip_edit

from gkxlsx.check.checker import check_file
from gkxlsx.workbook import reader

ROOT = Path(__file__).resolve().parents[1]
HUGE = 300 << 20  # what the lying member really inflates to
DECLARED = 40_000  # what its central-directory entry says


# ---- building zips by hand (zipfile cannot write a lying size): shared with the fuzzer -----------

_pack, _members, _zeros = pack, members, zeros


def _lying(base: bytes, part: str, method: int, huge: int = HUGE, *, same_method: bool = False) -> bytes:
    """``base`` with ``part`` replaced by ``huge`` zero bytes compressed with ``method``, declared
    as DECLARED bytes in both headers."""
    members = _members(base, method if same_method else zipfile.ZIP_DEFLATED)
    comp = _zeros(method, huge)
    return _pack([(n, method, comp, 0, DECLARED) if n == part else (n, m, c, k, s) for n, m, c, k, s in members])


@pytest.fixture(scope="module")
def base() -> bytes:
    return build()


_probe = probe


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
    data = _pack([("mimetype", zipfile.ZIP_BZIP2, _zeros(zipfile.ZIP_BZIP2, HUGE), 0, 46)])
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


# ---- item 5: unclosed elements, scanned in linear time -----------------------------------------


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _linear(fn, n: int) -> tuple[float, float]:
    """(time at n, time at 4n): a linear scan takes ~4×, a quadratic one ~16×."""
    return _best(lambda: fn(n)), _best(lambda: fn(4 * n))


def _assert_linear(t1: float, t4: float) -> None:
    # generous: noise on a shared machine; quadratic would be ≥ 16×
    assert t4 < 8 * t1 + 0.05, (t1, t4)
    assert t4 < 5, (t1, t4)  # safety net only


# every scan over an element's inner XML, fed thousands of unclosed starts of that element
_UNCLOSED = [
    ("_CELL", b'<c r="A1" s="1">1'),
    ("_CELL_FAST", b'<c r="A1" s="1">1'),
    ("_V", b"<v>1"),
    ("_F", b"<f>A1+"),
    ("_T", b'<t xml:space="preserve">x'),
    ("_RPH", b'<rPh sb="0">x'),
    ("_SI", b"<si>x"),
    ("_ROW", b'<row r="1">'),
    ("_CELLXFS", b'<cellXfs count="1">'),
    ("_XF", b'<xf numFmtId="0" fontId="0">'),
    ("_APPLICATION", b"<Application>x"),
    ("_PROPERTY", b'<property fmtid="x" pid="2" name="a">'),
    ("_DN_FAST", b'<definedName name="a" '),
    ("_ATTR", b"aaaa"),  # one long attribute name that is never followed by "="
    ("_XF", b'<xf numFmtId="0" '),  # start tags never closed
    ("_CELL", b'<c r="A1" '),
]


@pytest.mark.parametrize("name,unit", _UNCLOSED, ids=[f"{n}:{u[:12]!r}" for n, u in _UNCLOSED])
def test_scans_are_linear_on_unclosed_elements(name, unit):
    pat = getattr(reader, name)

    def scan(n: int) -> None:
        data = unit * n
        rx = pat(data) if isinstance(pat, reader._Rx) else pat
        rx.findall(data)

    _assert_linear(*_linear(scan, 2000))


def _styles_with_unclosed_xf(base: bytes, n: int) -> bytes:
    st = zipfile.ZipFile(io.BytesIO(base)).read("xl/styles.xml")
    bad = st.replace(b"</cellXfs>", b'<xf numFmtId="0" fontId="0" applyProtection="1">' * n + b"</cellXfs>")
    return zip_edit(base, {"xl/styles.xml": bad})


def _sheet_with_unclosed(base: bytes, n: int, unit: bytes) -> bytes:
    part = "xl/worksheets/sheet3.xml"  # 一、总体情况
    sh = zipfile.ZipFile(io.BytesIO(base)).read(part)
    bad = sh.replace(b"</sheetData>", b'<row r="900">' + unit * n + b"</c></row></sheetData>")
    return zip_edit(base, {part: bad})


def _check_seconds(data: bytes, name: str = "单位.xlsx"):
    t = time.perf_counter()
    res = check_file(name, data=data)
    return time.perf_counter() - t, res


def test_unclosed_xf_in_styles_is_damaged_and_linear(base):
    n = 3000  # ~130 KB of styles.xml (121 KB took 100 s before)
    t1, res = _check_seconds(_styles_with_unclosed_xf(base, n))
    t4, res4 = _check_seconds(_styles_with_unclosed_xf(base, 4 * n))
    for r in (res, res4):
        ids = [f.rule_id for f in r.findings]
        assert ids == ["E-FILE-CORRUPT"], ids
        assert "styles.xml" in r.findings[0].message and "结束标记" in r.findings[0].message
    _assert_linear(t1, t4)


@pytest.mark.parametrize(
    "unit", [b'<c r="B900" t="str"><f>1+1', b'<c r="B900"><v>1', b'<c r="B900" t="inlineStr"><is><t>x'], ids=str
)
def test_unclosed_cells_in_a_sheet_are_damaged_and_linear(base, unit):
    n = 3000  # ~100 KB of sheet XML (143 KB took 35 s before)
    t1, res = _check_seconds(_sheet_with_unclosed(base, n, unit))
    t4, res4 = _check_seconds(_sheet_with_unclosed(base, 4 * n, unit))
    for r in (res, res4):
        msgs = [f.message for f in r.findings if f.rule_id == "E-FILE-CORRUPT"]
        assert msgs and "一、总体情况" in msgs[0] and "结束标记" in msgs[0], [f.message for f in r.findings]
        assert not any(f.rule_id == "E-INTERNAL" for f in r.findings)
    _assert_linear(t1, t4)


@pytest.mark.parametrize("cut", [False, True], ids=["regex", "split"])
def test_unclosed_shared_string_is_damaged(base, cut):
    ss = zipfile.ZipFile(io.BytesIO(base)).read("xl/sharedStrings.xml")
    if cut:  # every item read by splitting at <si>: an item used by the checked cells are not closed
        bad = ss.replace(b"</si>", b"")
    else:
        bad = ss.replace(b"<si>", b"<si >", 1).replace(b"</sst>", b"<si><t>x" * 20000 + b"</sst>")
    t = time.perf_counter()
    res = check_file("单位.xlsx", data=zip_edit(base, {"xl/sharedStrings.xml": bad}))
    assert time.perf_counter() - t < 5
    assert any(f.rule_id == "E-FILE-CORRUPT" and "sharedStrings.xml" in f.message for f in res.findings), [
        f.message for f in res.findings
    ]


# ---- the design rule: the fast scans equal a real XML parse on well-formed parts -----------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _texts(el) -> str:
    """The text of a <si> / <is>: its <t> elements outside phonetic runs."""
    out = []

    def walk(e, skip: bool) -> None:
        for ch in e:
            name = _local(ch.tag)
            if name == "t" and not skip:
                out.append(ch.text or "")
            walk(ch, skip or name == "rPh")

    walk(el, False)
    return "".join(out)


def _corpus() -> list[tuple[str, bytes]]:
    from test_check_corpus import FORM, U1, U3, YEAR

    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.model import load_form

    f19 = load_form("2019")
    out = [
        ("quiet", build()),
        ("busy", build(sample_values(FORM, U3.name, U3.type, YEAR, seed=5, busy=True), unit=U3)),
        ("2019", build(sample_values(f19, U1.name, U1.type, 2020, seed=1), year=2020, form=f19)),
    ]
    out += [(str(p.relative_to(ROOT)), p.read_bytes()) for p in sorted((ROOT / "examples").rglob("*.xlsx"))]
    return out


CORPUS = _corpus()


@pytest.mark.parametrize("name,data", CORPUS, ids=[n for n, _ in CORPUS])
def test_fast_scans_equal_an_xml_parser(name, data):
    from defusedxml import ElementTree as DET

    z = zipfile.ZipFile(io.BytesIO(data))
    _info, book = reader.load(name, data=data)
    assert isinstance(book, reader.XlsxBook)
    # styles: one entry per <xf> of <cellXfs>, in order
    st = DET.fromstring(z.read(book._styles_part))
    xfs = [x for c in st if _local(c.tag) == "cellXfs" for x in c if _local(x.tag) == "xf"]
    styles = book.styles
    assert len(styles.locked) == len(xfs)
    for i, x in enumerate(xfs):
        prot = [p for p in x if _local(p.tag) == "protection"]
        locked = not (prot and prot[0].get("locked") in ("0", "false"))
        assert styles.locked[i] == locked, (name, i)
        assert styles.quote[i] == (x.get("quotePrefix") in ("1", "true")), (name, i)
    # shared strings: the same items, the same texts
    if book._strings_part:
        sst = DET.fromstring(z.read(book._strings_part))
        items = [si for si in sst if _local(si.tag) == "si"]
        assert len(book._load_strings()) == len(items)
        for i, si in enumerate(items):
            assert book.shared_string(i) == _texts(si), (name, i)
    # sheets: the same cells (fast and generic path), styles, types, formulas, values, inline texts
    for sheet in book.sheet_names:
        xml = DET.fromstring(z.read(book._sheet_parts[sheet]))
        cells = {}
        for sd in (e for e in xml if _local(e.tag) == "sheetData"):
            for row in sd:
                for c in row:
                    cells[c.get("r")] = c
        fast = book.sheet_cells(sheet)
        body = book._sheet_xml(sheet)[0]
        generic = reader.XlsxBook._cells_generic(body)
        assert generic is not None
        assert sorted(k.decode() for k in fast) == sorted(cells), (name, sheet)
        assert sorted(k.decode() for k in generic) == sorted(cells), (name, sheet)
        for ref, c in cells.items():
            for got in (fast[ref.encode()], generic[ref.encode()]):
                _r, s, t, _x, inner = got
                assert s.decode() == (c.get("s") or ""), (name, sheet, ref)
                assert t.decode() == (c.get("t") or ""), (name, sheet, ref)
                kids = {_local(k.tag): k for k in c}
                fm, vm = reader._F.search(inner), reader._V.search(inner)
                assert (fm is not None) == ("f" in kids), (name, sheet, ref)
                if fm is not None:
                    assert reader.xml_text(fm.group(2) or b"") == (kids["f"].text or ""), (name, sheet, ref)
                    assert reader._attrs(fm.group(1)) == {
                        k.encode(): v.encode() for k, v in kids["f"].attrib.items()
                    }, (name, sheet, ref)
                assert (vm is not None) == ("v" in kids), (name, sheet, ref)
                if vm is not None:
                    assert reader.xml_text(vm.group(1)) == (kids["v"].text or ""), (name, sheet, ref)
                if "is" in kids:
                    text = "".join(
                        reader.ooxml_text(m.group(1) or b"") for m in reader._T.finditer(reader._RPH.sub(b"", inner))
                    )
                    assert text == _texts(kids["is"]), (name, sheet, ref)
    # app.xml: Application and AppVersion
    if "docProps/app.xml" in z.namelist():
        app = DET.fromstring(z.read("docProps/app.xml"))
        want = {_local(e.tag): e.text or "" for e in app}
        assert book.application == want.get("Application", book.application)
