"""Fuzzing the importer: ≥ 500 mutated returned files per run (seeded), zero uncaught exceptions.

Mutations: truncated packages, flipped bytes in the zip, random bytes inside XML parts (re-zipped,
so the package is valid and the XML is not), random cell contents and types, deleted or duplicated
parts, mangled defined names and identity, random cell values written by the generator, and files
that are not packages at all.  For every file the checker must answer with a status; a file that
does not pass must say why (at least one finding); nothing may surface as an internal error.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import warnings
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from test_check_corpus import FORM, ROSTER, U1, U3, YEAR, build, ole_file, quiet_values

from gkxlsx.check.checker import check_file
from gkxlsx.check.result import STATUS_PASS, STATUSES
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.model import load_form
from gkxlsx.workbook.feedback import write_feedback

SEED = int(os.environ.get("GKXLSX_FUZZ_SEED", "20250131"))  # another seed explores other files
N = int(os.environ.get("GKXLSX_FUZZ_N", "520"))

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


@pytest.fixture(scope="module")
def bases():
    rng = random.Random(SEED)
    out = [build(), build(sample_values(FORM, U3.name, U3.type, YEAR, seed=5, busy=True), unit=U3)]
    f19 = load_form("2019")
    out.append(build(sample_values(f19, U1.name, U1.type, 2020, seed=1), year=2020, form=f19))
    # random values written by the generator into every kind of cell
    keys = list(FORM.entry_keys) + [k for k, f in FORM.fields.items() if not f.prefilled]
    for _ in range(12):
        v = quiet_values()
        for k in rng.sample(keys, rng.randint(1, 40)):
            v[k] = random_value(rng)
        out.append(build(v))
    return out


def _parts(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    z = zipfile.ZipFile(io.BytesIO(data))
    return [(i, z.read(i.filename)) for i in z.infolist()]


def _zip(parts) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the mutations
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in parts:
                z.writestr(name, body)
    return buf.getvalue()


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.randrange(11)
    if kind == 0:  # truncated package
        return "truncate", data[: rng.randrange(len(data))]
    if kind == 1:  # flipped bytes anywhere in the zip
        b = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return "flip", bytes(b)
    parts = [(i.filename, body) for i, body in _parts(data)]
    xml_idx = [n for n, (name, _) in enumerate(parts) if name.endswith((".xml", ".rels"))]
    if kind == 2:  # random bytes inside one XML part
        n = rng.choice(xml_idx)
        name, body = parts[n]
        b = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(b) + 1)
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        parts[n] = (name, bytes(b))
        return f"xmlbytes:{name}", _zip(parts)
    if kind in (3, 4):  # random cell contents / types in a sheet
        sheets = [n for n, (name, _) in enumerate(parts) if name.startswith("xl/worksheets/")]
        n = rng.choice(sheets)
        name, body = parts[n]
        cells = list(re.finditer(rb'<c r="[A-Z]+\d+"[^>]*?(?:/>|>.*?</c>)', body, re.S))
        b = body
        for m in sorted(rng.sample(cells, min(len(cells), rng.randint(1, 15))), key=lambda m: -m.start()):
            ref = re.match(rb'<c r="([A-Z]+\d+)"', m.group(0)).group(1)
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
            new = b'<c r="' + ref + b'"' + s + t + (b">" + v + b"</c>" if v else b"/>")
            b = b[: m.start()] + new + b[m.end() :]
        parts[n] = (name, b)
        return f"cells:{name}", _zip(parts)
    if kind == 5:  # a part deleted
        n = rng.randrange(len(parts))
        name = parts[n][0]
        del parts[n]
        return f"delete:{name}", _zip(parts)
    if kind == 6:  # a part duplicated with different content
        name, body = rng.choice(parts)
        parts.append((name, body[: len(body) // 2]))
        return f"dup:{name}", _zip(parts)
    if kind == 7:  # defined names and identity mangled
        out = []
        for name, body in parts:
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
        return "names", _zip(out)
    if kind == 8:  # sheets renamed / removed from workbook.xml
        out = []
        for name, body in parts:
            if name == "xl/workbook.xml":
                sheets = re.findall(rb'<sheet name="([^"]+)"', body)
                victim = rng.choice(sheets)
                body = body.replace(
                    b'name="' + victim + b'"', b'name="' + rng.choice([b"Sheet1", victim[:2], b""]) + b'"', 1
                )
            out.append((name, body))
        return "sheets", _zip(out)
    if kind == 9:  # not a package at all
        head = rng.choice(
            [b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"<html>", b"%PDF-", b"", b"\xef\xbb\xbf"]
        )
        return "garbage", head + bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    # an OLE file with random streams
    names = rng.sample(
        ["Workbook", "Book", "EncryptionInfo", "WordDocument", "Data", "\x05SummaryInformation"], rng.randint(1, 3)
    )
    blob = ole_file({n: bytes(rng.randrange(256) for _ in range(rng.randint(0, 6000))) for n in names})
    if rng.random() < 0.5:
        b = bytearray(blob)
        for _ in range(rng.randint(1, 10)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        blob = bytes(b)
    return "ole", blob


def test_fuzz_no_uncaught_exceptions(bases, tmp_path):
    rng = random.Random(SEED)
    kinds: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for i in range(N):
        base = rng.choice(bases)
        kind, data = mutate(base, rng)
        kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
        ext = rng.choice([".xlsx", ".xlsx", ".xls", ".ods", ".et", ""])
        p = tmp_path / f"f{i:04d}{ext}"
        p.write_bytes(data)
        r = check_file(p, year=YEAR if rng.random() < 0.7 else None, roster=ROSTER if rng.random() < 0.5 else None)
        where = f"file {i} ({kind}, seed {SEED})"
        assert r.status in STATUSES, where
        internal = [f.message for f in r.findings if f.rule_id == "E-INTERNAL"]
        assert not internal, f"{where}: {internal}"
        if r.status != STATUS_PASS:
            assert r.findings, where
        for f in r.findings:
            assert f.rule_id and f.severity in ("error", "warning", "info") and f.message, where
        json.dumps(r.to_dict(), ensure_ascii=False)  # the JSON report always serialises
        statuses[r.status] = statuses.get(r.status, 0) + 1
        if i % 20 == 0 and r.identity is not None:
            write_feedback(r, tmp_path / "feedback")  # regenerating from any checked values works
    assert sum(kinds.values()) >= min(N, 500)
    assert len(kinds) >= 10  # every mutation family ran
    assert len(statuses) >= 3  # and they produced different outcomes
