"""Hostile .ods returns (issue 15, found by the fuzzer): repeat counts that python-calamine expands
in memory.  An 8 KB .ods whose content.xml says ``<text:s text:c="2147483647"/>`` (a run of 2^31
spaces) took 11 s and 4 GB; ``table:number-rows-repeated="2147483647"`` on a row with values 7 s and
1.9 GB.  They are refused before calamine sees them (E-FILE-TOO-LARGE), in bounded time and memory;
the trailing empty rows and columns LibreOffice writes (repeated up to 1,048,576 rows) cost nothing.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from fuzzlib import ods_from_xlsx, ods_package, probe
from test_check_corpus import ROSTER, YEAR, build

from gkxlsx.check.checker import check_file
from gkxlsx.workbook import reader

ROOT = Path(__file__).resolve().parents[1]
V = b'<table:table-cell office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell>'


def row(cells: bytes, rep: int | str = 1) -> bytes:
    return b'<table:table-row table:number-rows-repeated="%s">' % str(rep).encode() + cells + b"</table:table-row>"


def empty(rep: int | str) -> bytes:
    return b'<table:table-cell table:number-columns-repeated="%s"/>' % str(rep).encode()


def table(*rows: bytes) -> bytes:
    return b'<table:table table:name="S">' + b"".join(rows) + b"</table:table>"


@pytest.fixture(scope="module")
def ods() -> bytes:
    return ods_from_xlsx(build())


def content(data: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read("content.xml")


def with_content(data: bytes, xml: bytes) -> bytes:
    z = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for i in z.infolist():
            body = xml if i.filename == "content.xml" else z.read(i.filename)
            dst.writestr(i.filename, body, zipfile.ZIP_STORED if i.filename == "mimetype" else zipfile.ZIP_DEFLATED)
    return out.getvalue()


# the fuzzer's files, rebuilt: the return itself with one attribute or element added
def _first_value_row(xml: bytes, attr: bytes, at: bytes = b"office:value-type") -> bytes:
    i = xml.index(at)
    r = xml.rindex(b"<table:table-row", 0, i) + len(b"<table:table-row")
    return xml[:r] + b" " + attr + xml[r:]


HOSTILE = {
    "spaces-2^31": lambda x: x.replace(b"<text:p>", b'<text:p><text:s text:c="2147483647"/>', 1),
    "rows-2^31": lambda x: _first_value_row(x, b'table:number-rows-repeated="2147483647"'),
    "rows-2^32+1": lambda x: _first_value_row(x, b'table:number-rows-repeated="4294967297"'),
    "rows-1048576": lambda x: _first_value_row(x, b'table:number-rows-repeated="1048576"'),
    "rows-20-digits": lambda x: _first_value_row(x, b'table:number-rows-repeated="99999999999999999999"'),
    "value-cols-16384x100": lambda x: _first_value_row(
        x.replace(b'office:value-type="float"', b'office:value-type="float" table:number-columns-repeated="16384"', 1),
        b'table:number-rows-repeated="100"',
        b'"16384"',
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_expanding_ods_is_refused_with_bounded_memory(ods, tmp_path, name):
    path = tmp_path / "单位.ods"
    path.write_bytes(with_content(ods, HOSTILE[name](content(ods))))
    assert path.stat().st_size < 20_000
    got = probe(path)
    assert got["ids"] == ["E-FILE-TOO-LARGE"], got
    assert "content.xml" in got["messages"][0] and "展开后" in got["messages"][0], got
    assert got["seconds"] < 1 and got["rss_mb"] < 150, got


def test_libreoffice_trailing_repeats_cost_nothing(ods):
    """LibreOffice ends every table with empty rows and columns repeated to the sheet's edge, and
    pads rows with styled empty cells: the return still reads and passes."""
    lo_tail = row(empty(1024), 1048500) + b"</table:table>"
    xml = content(ods).replace(b"</table:table-row>", empty(1000) + b"</table:table-row>")
    xml = xml.replace(b"</table:table>", lo_tail)
    xml = xml.replace(
        b"<table:table-cell/>", b'<table:table-cell table:style-name="ce1" table:number-columns-repeated="1"/>'
    )
    data = with_content(ods, xml)
    cells, text = reader.ods_expansion(content(data))
    assert cells < 100_000 and text < 100_000, (cells, text)
    t = time.perf_counter()
    r = check_file("单位.ods", data=data, year=YEAR, roster=ROSTER)
    assert time.perf_counter() - t < 2
    assert r.status == "通过", [f.message for f in r.findings]
    assert [f.rule_id for f in r.findings] == ["I-FORMAT-REDUCED"]


P1 = len(b"<text:p>1</text:p>")  # a value cell's text: its inner XML
VALUED_7 = b'<table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="7"/>'
SPACES = b'<table:table-cell><text:p>a<text:s text:c="500"/></text:p></table:table-cell>'
EXPANSION = {
    "one": (table(row(V)), 1, P1),
    "trailing-empty-cells": (table(row(V + empty(1 << 30))), 1, P1),
    "trailing-empty-rows": (table(row(V), row(empty(1024), 1 << 30)), 1, P1),
    "empty-rows-between": (table(row(V), row(empty(1024), 1000), row(V)), 1002, 2 * P1),
    "empty-cells-before": (table(row(empty(999) + V)), 1000, P1),
    "widest-row": (table(row(V, 10), row(V + V)), 22, 12 * P1),
    "two-tables": (table(row(V)) + table(row(V + V, 3)), 1 + 6, 7 * P1),
    "valued-empty-element": (table(row(VALUED_7, 3)), 21, 0),
    "spaces": (table(row(SPACES, 2)), 2, 2 * (len(b'<text:p>a<text:s text:c="500"/></text:p>') + 500)),
    "not-numbers": (table(row(V, "x"), row(V, "-5"), row(V, "")), 3, 3 * P1),
    "5000-digits": (table(row(V, "9" * 5000)), 1 << 40, P1 << 40),  # capped, never int() of 5,000 digits
}


@pytest.mark.parametrize("body,cells,text", list(EXPANSION.values()), ids=list(EXPANSION))
def test_ods_expansion(body, cells, text):
    xml = content(ods_package(body))
    assert reader.ods_expansion(xml) == (cells, text)


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize(
    "unit", [b"<table:table-row ", b'<table:table-cell table:number-columns-repeated="9"', b"<text:s "], ids=str
)
def test_ods_expansion_is_linear_on_unclosed_tags(unit):
    t1, t4 = (_best(lambda n=n: reader.ods_expansion(unit * n)) for n in (20_000, 80_000))
    assert t4 < 8 * t1 + 0.05, (t1, t4)  # generous (a shared machine); quadratic would be ≥ 16×
