"""The narrative rules' fast paths give the same answers as the plain ones, and quotes keep whole
numbers (the W-TXT-APPL quote once read “025年未收到…”)."""

from __future__ import annotations

import unicodedata

import pytest

from gkxlsx.form.model import load_form
from gkxlsx.rules.engine import compute_derived
from gkxlsx.text import narrative
from gkxlsx.text.narrative import check_narrative, normalize

GOOD_TEXT = {
    "s1.overview": "2025年，本镇认真贯彻落实《中华人民共和国政府信息公开条例》，政府信息公开工作有序开展。",
    "s1.active": "全年通过县政府门户网站本镇专栏主动公开政府信息126条，其中重点领域信息57条。",
    "s1.on_request": "全年新收政府信息公开申请3件，均在法定期限内答复。",
    "s1.management": "严格执行公开属性源头认定和发布前保密审查制度，定期清理行政规范性文件。",
    "s1.platform": "持续加强政府网站信息公开专栏和政务新媒体建设，规范栏目设置。",
    "s1.supervision": "明确分管领导和专人负责，组织业务培训2次。",
    "s1.assessment": "将政府信息公开工作纳入年度考核，开展社会评议，未发生责任追究情况。",
    "s5.problems": "一是部分栏目更新不够及时；二是政策解读形式较为单一。",
    "s5.improvements": "2026年，本镇将建立栏目更新台账，丰富政策解读形式。",
    "s6.fee_notices": 0,
    "s6.fee_notice_amount": 0,
    "s6.fee_collected": 0,
    "meta.name": "示例县城关镇人民政府",
}


@pytest.fixture(scope="module")
def f21():
    return load_form("2021")


def _values(form, **changes):
    v = {k: 0 for k in form.entry_keys}
    v["s3.new.natural"] = v["s3.r1_open.natural"] = 3
    v.update(compute_derived(form, v))
    v.update(GOOD_TEXT)
    for k, x in changes.items():
        v[k.replace("__", ".")] = x
    return v


def test_appl_quote_keeps_the_whole_year(f21):
    out = check_narrative(
        f21, _values(f21, s1__on_request="2025年未收到政府信息公开申请。"), unit=f21.unit_type("乡镇"), year=2025
    )
    appl = [f for f in out if f.rule_id == "W-TXT-APPL"]
    assert len(appl) == 1
    assert "“2025年未收到政府信息公开申请”" in appl[0].message, appl[0].message
    assert appl[0].raw == "2025年未收到政府信息公开申请"


def test_appl_quote_keeps_the_whole_count(f21):
    out = check_narrative(
        f21,
        _values(f21, s1__on_request="本年度全年共收到政府信息公开申请12345件。"),
        unit=f21.unit_type("乡镇"),
        year=2025,
    )
    appl = [f for f in out if f.rule_id == "W-TXT-APPL"]
    assert len(appl) == 1 and appl[0].actual == 12345
    assert "12345件" in appl[0].raw


def _reference_norm(text: str) -> str:
    """What normalize() computed before its translation table: one character at a time."""
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch)
        if len(n) != 1:
            n = ch
        if n == "\u2212":
            n = "-"
        out.append(narrative._t2s().get(n, n))
    return "".join(out)


def test_normalize_table_matches_per_character_normalisation():
    sample = "".join(chr(i) for i in range(0x20, 0x3000, 7)) + "臺灣縣政府資訊公開（一）ＡＢＣ１２３㎡…−𝐀𝟙😀\U0002f800"
    nt = normalize(sample)
    assert len(nt.norm) == len(nt.display) == len(sample)
    assert nt.norm == _reference_norm(sample)
    assert normalize("鎮(zhèn)政府\r\n公開").display == "鎮政府\n公開"
    assert normalize("鎮(zhèn)政府\r\n公開").norm == "镇政府\n公开"


def test_prefilters_do_not_hide_findings(f21):
    """Typos, citations and foreign terms still fire through their one-regex pre-filters."""
    unit = f21.unit_type("乡镇")
    v = _values(
        f21,
        s1__platform="围绕市场监管工作，进一步深化公开内容。截止目前已完成整改。",
        s5__problems="依据《关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2019〕60号）编制。",
    )
    ids = {f.rule_id for f in check_narrative(f21, v, unit=unit, year=2025)}
    assert {"W-TXT-FOREIGN", "W-TXT-TYPO", "W-TXT-CITE"} <= ids
    assert not {"W-TXT-FOREIGN", "W-TXT-TYPO", "W-TXT-CITE"} & {
        f.rule_id for f in check_narrative(f21, _values(f21), unit=unit, year=2025)
    }


# -- the checker's compiled rules and derived cells --------------------------------------------


def _random_values(form, rng, odd: bool):
    from decimal import Decimal

    from gkxlsx.demo.samples import sample_values

    t = rng.choice(["乡镇", "街道", "县级部门", "县级政府"])
    v = sample_values(form, "示例单位", t, 2025, seed=rng.randrange(10**6), busy=rng.random() < 0.3)
    for k in rng.sample(list(form.entry_keys), rng.randint(1, 6)):
        v[k] = rng.choice([None, Decimal("1.5"), True, 7, -1, 0, 250]) if odd else rng.randint(0, 40)
    return t, v


def test_compiled_derived_cells_equal_the_rule_engine(f21):
    import random

    from gkxlsx.rules.codegen import derived_values

    rng = random.Random(7)
    for i in range(200):
        _t, v = _random_values(f21, rng, odd=i % 2 == 0)
        got, want = derived_values(f21, v), compute_derived(f21, v)
        assert list(got.items()) == list(want.items())


def test_compiled_rules_equal_the_rule_engine(f21):
    import random

    from gkxlsx.rules.codegen import rule_tests
    from gkxlsx.rules.engine import PASS

    rng = random.Random(8)
    compiled = rule_tests(f21)
    assert sum(c is not None for c in compiled) >= len(f21.rules) // 2
    fails = 0
    for i in range(300):
        t, v = _random_values(f21, rng, odd=i % 3 == 0)
        v.update(compute_derived(f21, v))
        if i % 4 == 0:
            v["s3.new.natural"] = (v["s3.new.natural"] or 0) + 1  # a broken balance, totals as shown
        ut = f21.unit_type(t)
        for inst, fast in zip(f21.rules, compiled):
            if fast is None or not inst.applicable(ut, None):
                continue
            keys, test = fast
            if all(type(v.get(k)) is int for k in keys):
                want = inst.evaluate(v, None, ut, None).status == PASS
                assert test(v) == want, inst.iid
                fails += not want
    assert fails > 0  # the failing side was exercised too


# -- the reader's direct decompression ----------------------------------------------------------


def _rezip(data: bytes, method) -> bytes:
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


def test_stored_and_deflated_members_read_alike_and_bad_crc_is_reported(f21, tmp_path):
    import zipfile

    from gkxlsx.check.checker import check_file
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.form.roster import Unit
    from gkxlsx.workbook.generate import build_workbook

    u = Unit("SLX001", "示例县城关镇人民政府", "乡镇", "示例县人民政府")
    v = sample_values(f21, u.name, u.type, 2025, seed=3, busy=True)
    data, _ = build_workbook(f21, u, 2025, prefill=v)
    name = workbook_filename(u, 2025)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / name).write_bytes(_rezip(data, zipfile.ZIP_DEFLATED))
    (tmp_path / "b" / name).write_bytes(_rezip(data, zipfile.ZIP_STORED))
    a, b = check_file(tmp_path / "a" / name, year=2025), check_file(tmp_path / "b" / name, year=2025)
    assert a.status == b.status == "通过", (a.headline(), b.headline())
    assert a.report.values == b.report.values and a.report.values["s3.new.natural"] == v["s3.new.natural"]
    # one flipped byte inside the stored sheet of 三、依申请公开: the CRC catches it
    stored = bytearray((tmp_path / "b" / name).read_bytes())
    member = zipfile.ZipFile(tmp_path / "b" / name).getinfo("xl/worksheets/sheet5.xml")
    i = stored.find(b"<sheetData>", member.header_offset) + 40
    stored[i] = ord("Q") if stored[i] != ord("Q") else ord("R")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / name).write_bytes(bytes(stored))
    c = check_file(tmp_path / "c" / name, year=2025)
    assert c.status in ("有错误", "无法识别")
    assert any(
        f.rule_id == "E-FILE-CORRUPT" and "sheet5.xml" in f.message and "无法解压" in f.message for f in c.findings
    ), [f.message for f in c.findings]
