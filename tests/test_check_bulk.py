"""The checker's bulk paths (a whole sheet's entry cells, totals, formulas, cached results and
locked flags at once; every compiled rule in one function; the sheet/defined-name analysis shared
by returns of one template; the central directory read with struct) give exactly what the
cell-by-cell paths give — on real workbooks, good and broken in every way the bulk paths must
notice and hand over."""

from __future__ import annotations

import io
import zipfile

import pytest
from test_check_corpus import (
    FORM,
    ROSTER,
    S3,
    S4,
    U1,
    U3,
    YEAR,
    build,
    chain,
    quiet_values,
    remove_protection,
    set_cached,
    set_cell,
    sheet_part,
    write,
    zip_edit,
)

import gkxlsx.check.checks.cells as KC
import gkxlsx.check.checks.formulas as KF
import gkxlsx.check.checks.rules as KR
import gkxlsx.check.checks.structure as KS
import gkxlsx.check.plan as P
import gkxlsx.check.result as R
import gkxlsx.rules.codegen as CG
from gkxlsx.check.checker import check_file
from gkxlsx.check.result import STATUS_PASS
from gkxlsx.demo.samples import sample_values
from gkxlsx.workbook import reader


def _busy():
    return sample_values(FORM, U3.name, U3.type, YEAR, seed=11, busy=True)


def _with(**changes):
    v = quiet_values()
    v.update({k.replace("__", "."): x for k, x in changes.items()})
    return v


def _unlock_total(xml: bytes) -> bytes:
    # J6 (a total) gets the style of D6 (an unlocked entry cell)
    import re

    s = re.search(rb'<c r="D6" s="(\d+)"', xml).group(1)
    return re.sub(rb'<c r="J6" s="\d+"', b'<c r="J6" s="' + s + b'"', xml, count=1)


CASES = {
    "quiet": lambda: build(),
    "busy": lambda: build(_busy(), unit=U3),
    "text in a number cell": lambda: build(_with(s3__r1_open__commercial="3条")),
    "blank entry": lambda: build(_with(s3__r3_1__natural=None)),
    "narrative of spaces": lambda: build(_with(s1__overview="   ", s5__problems="")),
    "contact typed as a number": lambda: build(_with(meta__contact_phone=12345678)),
    "decimal in an int cell": lambda: build(_with(s3__r4_1__natural=1.5)),
    "negative": lambda: build(_with(s4__review__upheld=-1)),
    "a number in the date window": lambda: build(_with(s2__regulation__issued=45800, s3__r1_open__commercial=45800)),
    "total typed over": lambda: zip_edit(build(), {sheet_part(S3): set_cell("J6", "<v>99</v>")}),
    "formula changed": lambda: zip_edit(
        build(), {sheet_part(S3): set_cell("J6", '<f>IF(COUNT(D6:I6)&lt;6,"",SUM(D6:H6))</f><v>0</v>')}
    ),
    "formula deleted": lambda: zip_edit(build(), {sheet_part(S3): set_cell("J6", "")}),
    "stale cached result": lambda: zip_edit(build(), {sheet_part(S3): set_cached("J6", "7")}),
    "stale check cell": lambda: zip_edit(build(), {sheet_part(S3): set_cached("K6", "✗")}),
    "total unlocked": lambda: zip_edit(build(), {sheet_part(S3): _unlock_total}),
    "protection removed": lambda: zip_edit(build(), {sheet_part(S4): remove_protection}),
    "label retyped": lambda: zip_edit(
        build(), {sheet_part(S3): set_cell("A6", "<is><t>（一）公开</t></is>", t="inlineStr")}
    ),
    "number stored as text": lambda: zip_edit(
        build(), {sheet_part(S3): set_cell("D6", "<is><t>5</t></is>", t="inlineStr")}
    ),
    "number with a type": lambda: zip_edit(
        build(), {sheet_part(S3): chain(set_cell("D6", "<v>0</v>", t="n"), set_cell("E6", "<v>0</v>", t="n"))}
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bulk")
    return {
        name: write(tmp, f"{U3.code if name == 'busy' else U1.code}_{i}.xlsx", make())
        for i, (name, make) in enumerate(CASES.items())
    }


def _result(path):
    r = check_file(path, roster=ROSTER, year=YEAR)
    d = r.to_dict()
    d.pop("timings_ms", None)
    return d, sorted((r.values or {}).items(), key=str), sorted(r.inputs.items(), key=str)


def _slow(monkeypatch):
    """Every bulk path and shared result switched off: the cell-by-cell checker."""
    monkeypatch.setattr(KC, "bulk_ints", lambda *a: None)
    monkeypatch.setattr(KC, "bulk_formulas", lambda *a: False)
    monkeypatch.setattr(KF, "totals_locked", lambda *a: False)
    monkeypatch.setattr(P.FormulaRun, "as_expected", lambda self, wants: False)
    for m in (KR, CG):  # the rules check and the recomputation of the totals
        monkeypatch.setattr(m, "all_int", lambda values, keys: all(type(values.get(k)) is int for k in keys))
    monkeypatch.setattr(
        KF,
        "formula_runs",
        lambda cells: tuple((fc.sheet, (fc,), P._getter([b"\0"]), [fc.esc[0]], ([b""], {}, (fc.pos,))) for fc in cells),
    )
    monkeypatch.setattr(KS, "_LAYOUT_MEMO", _NoMemo())
    monkeypatch.setattr(reader, "_central_directory", lambda data: None)
    monkeypatch.setattr(reader.XlsxBook, "shared_text", lambda self, sheet, ref: None)
    monkeypatch.setattr(reader, "_rows_get", lambda row: None)
    monkeypatch.setattr(reader, "_rows_put", lambda row, cells: None)


class _NoMemo(dict):
    def get(self, key, default=None):
        return None

    def __setitem__(self, key, value):
        pass


@pytest.mark.parametrize("case", list(CASES))
def test_bulk_and_cell_by_cell_agree(files, case, monkeypatch):
    fast = _result(files[case])
    with monkeypatch.context() as m:
        _slow(m)
        slow = _result(files[case])
    assert fast == slow
    # and again fast, now that the per-template results are shared
    assert _result(files[case]) == fast


def test_the_bulk_paths_carry_a_clean_return(files, monkeypatch):
    """A clean return goes through the bulk paths (so the agreement above is not vacuous)."""
    used = {"ints": 0, "formulas": 0, "runs": 0}
    real_ints, real_as_expected = KC.bulk_ints, P.FormulaRun.as_expected

    def ints(*a):
        got = real_ints(*a)
        used["ints"] += got is not None
        return got

    def as_expected(self, wants):
        ok = real_as_expected(self, wants)
        used["runs"] += ok
        return ok

    monkeypatch.setattr(KC, "bulk_ints", ints)
    monkeypatch.setattr(P.FormulaRun, "as_expected", as_expected)
    r = check_file(files["quiet"], roster=ROSTER, year=YEAR)
    assert r.status == STATUS_PASS, [f.message for f in r.findings]
    assert used["ints"] == 3 and used["runs"] >= 3


def test_found_problems_are_the_same_whichever_path(files):
    """Spot checks that the broken files are caught at the right cells (on the bulk path)."""
    by = {name: check_file(p, roster=ROSTER, year=YEAR) for name, p in files.items()}
    assert any(
        f.rule_id == "E-CELL-TEXT" and f.locations == (f"{S3}!E6",) for f in by["text in a number cell"].findings
    )
    assert any(f.rule_id == "E-CELL-DATE" for f in by["a number in the date window"].findings)
    assert any(f.rule_id == "E-STRUCT-FORMULA" and f"{S3}!J6" in f.locations for f in by["total typed over"].findings)
    assert any(f.rule_id == "E-STRUCT-FORMULA" and f"{S3}!J6" in f.locations for f in by["formula changed"].findings)
    assert any(f.rule_id == "W-CACHE-STALE" and f"{S3}!J6" in f.locations for f in by["stale cached result"].findings)
    assert any(f.rule_id == "W-CACHE-STALE" and f"{S3}!K6" in f.locations for f in by["stale check cell"].findings)
    assert any(f.rule_id == "E-STRUCT-PROTECT" and f"{S3}!J6" in f.locations for f in by["total unlocked"].findings)
    assert by["number with a type"].status == STATUS_PASS
    assert any(f.rule_id == "E-STRUCT-LABEL" and f.locations == (f"{S3}!A6",) for f in by["label retyped"].findings)


def test_central_directory_agrees_with_zipfile(files):
    data = files["busy"].read_bytes()
    ours = reader._central_directory(data)
    theirs = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert ours is not None
    assert [
        (m.filename, m.flag_bits, m.compress_type, m.CRC, m.compress_size, m.file_size, m.header_offset) for m in ours
    ] == [
        (i.filename, i.flag_bits, i.compress_type, i.CRC, i.compress_size, i.file_size, i.header_offset) for i in theirs
    ]


def test_a_package_with_bytes_in_front_is_left_to_zipfile(files):
    """A prefix (a self-extracting archive) moves every offset: the struct reader declines and
    zipfile, which corrects the offsets, reads the package — the same parts come out."""
    data = files["quiet"].read_bytes()
    prefixed = b"\0" * 512 + data
    assert reader._central_directory(prefixed) is None
    _kind, book = reader._open_zip(prefixed, ".xlsx")
    plain = reader.XlsxBook(data)
    assert book.custom == plain.custom and book.custom["GKX_UNIT_CODE"] == U1.code
    assert book.sheet_cells(S3) == plain.sheet_cells(S3)


def test_truncated_central_directory_is_a_clear_error(files, tmp_path):
    data = files["quiet"].read_bytes()
    cut = data[:-30]
    assert reader._central_directory(cut) is None
    r = check_file(write(tmp_path, f"{U1.code}_cut.xlsx", cut), roster=ROSTER, year=YEAR)
    assert r.findings and r.findings[0].rule_id.startswith("E-FILE")


@pytest.mark.parametrize("case", ["quiet", "busy", "blank entry", "total typed over"])
def test_results_travel_between_processes_unchanged(files, case):
    """A worker's result, pickled with its values packed in the form's order, arrives as it was
    (also the order of the values and inputs)."""
    import pickle

    r = check_file(files[case], roster=ROSTER, year=YEAR)
    back = pickle.loads(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.to_dict() == r.to_dict()
    assert list((back.values or {}).items()) == list((r.values or {}).items())
    assert list(back.inputs.items()) == list(r.inputs.items())
    if case == "quiet":  # the common case is the packed one
        _fn, args = r.__reduce__()
        assert type(args[-2]) is R._Packed and type(args[-1]) is R._Packed


def test_the_row_cache_is_bounded(monkeypatch):
    """Rows are kept in two generations of ROWS_KEPT: memory does not grow with the files."""
    monkeypatch.setattr(reader, "ROWS_KEPT", 50)
    monkeypatch.setattr(reader, "_ROWS", {})
    monkeypatch.setattr(reader, "_ROWS_OLD", {})
    for i in range(500):
        row = f'<row r="{i + 1}"><c r="A{i + 1}"><v>{i}</v></c>'.encode()
        got = reader._parse_row(row)
        assert got[f"A{i + 1}".encode()][4] == f"<v>{i}</v>".encode()
        assert reader._rows_get(row) is got
    assert len(reader._ROWS) <= 50 and len(reader._ROWS_OLD) <= 50


def test_a_row_the_fast_pattern_cannot_read_sends_the_sheet_to_the_generic_parser(files):
    """A cell with its attributes in another order (as some writers write them) is not lost."""
    import re

    def swap(xml: bytes) -> bytes:
        out, n = re.subn(rb'<c r="D6" s="(\d+)"', rb'<c s="\1" r="D6"', xml, count=1)
        assert n == 1
        return out

    original = reader.XlsxBook(files["busy"].read_bytes()).sheet_cells(S3)
    cells = reader.XlsxBook(zip_edit(files["busy"].read_bytes(), {sheet_part(S3): swap})).sheet_cells(S3)
    assert cells.keys() == original.keys()
    assert cells[b"D6"][1:3] + cells[b"D6"][4:] == original[b"D6"][1:3] + original[b"D6"][4:]
