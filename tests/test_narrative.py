"""The narrative rules (docs/FORMAT.md §5.2) as the importer calls them: one workbook's fields and
table numbers, ``check_narrative(form, values, unit=…, year=…)``.  Each rule fires on a real
mistake, quotes it, points at the field — and stays silent on correct text."""

from __future__ import annotations

import re

import pytest

from gkxlsx.form.model import load_form
from gkxlsx.rules.engine import compute_derived, with_derived
from gkxlsx.text.narrative import check_narrative, label_key, normalize


@pytest.fixture(scope="module")
def f21():
    return load_form("2021")


@pytest.fixture(scope="module")
def f19():
    return load_form("2019")


GOOD_TEXT = {
    "s1.overview": "2024年，本镇认真贯彻落实《中华人民共和国政府信息公开条例》，政府信息公开工作有序开展。",
    "s1.active": "全年通过县政府门户网站本镇专栏主动公开政府信息126条，其中重点领域信息57条。",
    "s1.on_request": "全年新收政府信息公开申请2件，均在法定期限内答复。",
    "s1.management": "严格执行公开属性源头认定和发布前保密审查制度，定期清理行政规范性文件。",
    "s1.platform": "持续加强政府网站信息公开专栏和政务新媒体建设，规范栏目设置。",
    "s1.supervision": "明确分管领导和专人负责，组织业务培训2次。本年度未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。",
    "s1.assessment": "将政府信息公开工作纳入年度考核，开展社会评议，未发生责任追究情况。",
    "s5.problems": "一是部分栏目更新不够及时；二是政策解读形式较为单一。",
    "s5.improvements": "2025年，本镇将建立栏目更新台账，丰富政策解读形式。",
    "s6.fee_notices": 0,
    "s6.fee_notice_amount": 0,
    "s6.fee_collected": 0,
    "meta.name": "示例县城关镇人民政府",
}


def tables(form, **cells):
    """Every entry cell 0, then the given ones; derived totals computed."""
    v = {k: 0 for k in form.entry_keys}
    for k, n in cells.items():
        v[k.replace("__", ".")] = n
    v.update(compute_derived(form, v))
    return v


def run(form, *, year=2024, unit="乡镇", fields_only=False, **changes):
    values = dict(tables(form, s3__new__natural=2, s3__r1_open__natural=2))
    values.update(GOOD_TEXT)
    for k, v in changes.items():
        values[k.replace("__", ".")] = v
    return check_narrative(
        form, values, unit=form.unit_type(unit) if unit else None, year=year, fields_only=fields_only
    )


def ids(findings):
    return sorted(f.rule_id for f in findings)


# --------------------------------------------------------------------------------------------


def test_a_correct_report_has_no_findings(f21):
    assert run(f21) == []


def test_required_fields_empty(f21):
    out = run(f21, s1__platform="", s5__improvements=None)
    assert ids(out) == ["E-TXT-EMPTY", "E-TXT-EMPTY"]
    assert {f.keys for f in out} == {("s1.platform",), ("s5.improvements",)}
    assert all(f.severity == "error" for f in out)
    assert "（四）政府信息公开平台建设" in " ".join(f.message for f in out)


def test_assessment_required_only_for_governments(f21):
    assert ids(run(f21, s1__assessment="")) == ["E-TXT-EMPTY"]
    assert run(f21, unit="街道", s1__assessment="") == []
    assert run(f21, unit=None, s1__assessment="") == []  # unknown unit type: not judged


def test_trivial_aspect_text(f21):
    out = run(f21, s1__management="无。")
    assert ids(out) == ["W-TXT-FIVE"]
    assert out[0].keys == ("s1.management",) and "“无。”" in out[0].message


def test_applications_text_versus_table(f21):
    out = run(f21, s1__on_request="全年共收到政府信息公开申请5件。")
    assert ids(out) == ["W-TXT-APPL"]
    f = out[0]
    assert "收到政府信息公开申请5件" in f.message and "总计为 2" in f.message
    assert f.keys == ("s3.new.total", "s1.on_request") and f.actual == 5 and f.expected == 2
    out = run(f21, s1__on_request="本年度未收到政府信息公开申请。")
    assert ids(out) == ["W-TXT-APPL"] and "未收到政府信息公开申请" in out[0].message
    # “…受理后15个工作日内答复” is not a count of applications
    assert run(f21, s1__on_request="收到申请后15个工作日内答复，全年新收政府信息公开申请2件。") == []
    # fields_only skips the comparison with the tables
    assert run(f21, fields_only=True, s1__on_request="全年共收到政府信息公开申请5件。") == []


def test_review_text_versus_table(f21):
    values = dict(GOOD_TEXT)
    values.update(tables(f21, s3__new__natural=2, s3__r1_open__natural=2, s4__review__upheld=1))
    out = check_narrative(f21, values, unit=f21.unit_type("乡镇"), year=2024)
    assert ids(out) == ["W-TXT-REVIEW"]
    assert "行政复议总计为 1" in out[0].message and "s4.review.total" in out[0].keys
    assert "未发生因政府信息公开工作被申请行政复议" in out[0].message


def test_documents_text_versus_table(f21, f19):
    out = run(f21, s1__active="全年制发行政规范性文件3件。")
    assert ids(out) == ["W-TXT-DOCS"] and "没有一项是 3" in out[0].message
    values = dict(GOOD_TEXT)
    values.update(
        tables(
            f21, s3__new__natural=2, s3__r1_open__natural=2, s2__normative_doc__issued=3, s2__normative_doc__in_force=9
        )
    )
    values["s1.active"] = "全年制发行政规范性文件3件，现行有效9件。"
    assert check_narrative(f21, values, unit=f21.unit_type("乡镇"), year=2024) == []


def test_fee_statement(f21, f19):
    # workbook: the three numbers are there → the renderer writes the sentence
    assert run(f21, s6__other="本年度没有其他需要报告的事项。") == []
    # without the numbers, section 六 must say it
    out = run(f21, s6__fee_notices=None, s6__other="本年度没有其他需要报告的事项。")
    assert ids(out) == ["W-TXT-FEE"] and "本年度没有其他需要报告的事项" in out[0].message
    for good in (
        "本年度未收取政府信息公开信息处理费，无其他说明事项。",
        "本年度未收取信息处理费。",
        "依据《政府信息公开信息处理费管理办法》，我镇不存在收取费用的情况。",
    ):
        assert run(f21, s6__fee_notices=None, s6__other=good) == [], good
    # 2020 report (2019 format): fees were not yet charged
    v = dict(GOOD_TEXT, **{"s6.other": "无。"})
    v.update(tables(f19))
    assert not [f for f in check_narrative(f19, v, unit=f19.unit_type("乡镇"), year=2020) if f.rule_id == "W-TXT-FEE"]


def test_fee_notices_text_part(f21):
    base = dict(GOOD_TEXT)
    base.update(tables(f21, s3__new__natural=2, s3__r1_open__natural=1, s3__r6_2__natural=1))
    base["s6.fee_notices"] = None
    base["s6.other"] = "本年度未发出收费通知，未收取信息处理费。"
    out = check_narrative(f21, base, unit=f21.unit_type("乡镇"), year=2024)
    assert ids(out) == ["W-T3-FEE"] and "未发出收费通知" in out[0].message
    base["s6.other"] = "本年度发出收费通知1件，金额100元，申请人逾期未缴纳，实际收取0元。"
    assert check_narrative(f21, base, unit=f21.unit_type("乡镇"), year=2024) == []


@pytest.mark.parametrize(
    "text, quote",
    [
        ("现将本镇20241月1日至12月31日期间的工作报告如下：", "“20241月1日”缺少“年”"),
        ("落款日期2025年1月8，特此报告。", "“2025年1月8”缺少“日”"),
        ("2024我们主要开展了以下工作。", "“2024”后缺少“年”"),
        ("本报告所列数据的统计期限自2023年1月1日起至2023年12月31日止。", "统计期间"),
        ("2023年，本镇政府信息公开工作有序开展。", "写的是 2023 年"),
    ],
)
def test_dates(f21, text, quote):
    out = run(f21, s1__overview=text)
    assert ids(out) == ["W-TXT-DATE"], out
    assert quote in out[0].message and out[0].keys == ("s1.overview",)


def test_improvement_plan_year(f21):
    out = run(f21, s5__improvements="2024年本镇主要从以下方面作进一步改进：一是……")
    assert ids(out) == ["W-TXT-DATE"] and "下一年度（2025 年）" in out[0].message
    assert run(f21, s5__improvements="2025年，本镇将进一步改进政策解读。") == []


def test_dates_that_are_right(f21):
    for ok in (
        "截至2024年12月31日，共公开信息2000余条。",
        "全年发布信息2024条。",
        "依据国办公开办函〔2021〕30号要求，2024年1月1日至2024年12月31日。",
    ):
        assert run(f21, s1__overview=ok) == [], ok


CITE_30 = "根据《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2021〕30号）要求，编制本报告。"
CITE_60 = "根据《国务院办公厅政府信息与政务公开办公室关于政府信息公开工作年度报告有关事项的通知》（国办公开办函〔2019〕60号）要求，编制本报告。"


def test_citations(f21, f19):
    assert run(f21, s1__overview=CITE_30) == []
    out = run(f21, s1__overview=CITE_60)
    assert ids(out) == ["W-TXT-CITE"] and "国办公开办函〔2021〕30号" in out[0].message
    mixed = CITE_60.replace("〔2019〕60号", "〔2021〕30号")
    out = run(f21, s1__overview=mixed)
    assert ids(out) == ["W-TXT-CITE"] and "文号却写成了国办公开办函〔2021〕30号" in out[0].message
    out = run(f21, s1__overview="按照国办公开函202130号文件要求。")
    assert ids(out) == ["W-TXT-CITE"] and out[0].severity == "warning" and "“国办公开函202130号”" in out[0].message
    out = run(f21, s1__overview="按照国办公开办函[2021]30号文件要求。")
    assert ids(out) == ["W-TXT-CITE"] and out[0].severity == "info"
    # 2020 report citing 60号 is right; citing 30号 is not
    v = dict(GOOD_TEXT, **{"s1.overview": CITE_60})
    v.update(tables(f19))
    assert not [f for f in check_narrative(f19, v, unit=f19.unit_type("乡镇"), year=2020) if f.rule_id == "W-TXT-CITE"]
    v["s1.overview"] = CITE_30
    assert [
        f.rule_id for f in check_narrative(f19, v, unit=f19.unit_type("乡镇"), year=2020) if f.rule_id == "W-TXT-CITE"
    ] == ["W-TXT-CITE"]


def test_foreign_terms(f21):
    base = dict(GOOD_TEXT)
    base.update(tables(f21, s3__new__natural=2, s3__r1_open__natural=2))
    base["s1.platform"] = "着力搭建医保政府信息公开融媒体矩阵。"

    def chk(name, unit):
        v = dict(base, **{"meta.name": name})
        return [f for f in check_narrative(f21, v, unit=f21.unit_type(unit), year=2024) if f.rule_id == "W-TXT-FOREIGN"]

    out = chk("绵阳市机关事务管理局", "市级部门")
    assert len(out) == 1 and "医保政府信息公开" in out[0].message and out[0].keys == ("s1.platform",)
    assert chk("绵阳市医疗保障局", "市级部门") == []
    base["s1.platform"] = "围绕市场监管工作，进一步深化公开内容。"
    assert len(chk("示例县城关镇人民政府", "乡镇")) == 1
    assert chk("示例县市场监督管理局", "县级部门") == []
    base["s1.platform"] = "本镇政务服务中心将进一步规范窗口信息公开。"
    assert len(chk("示例县城关镇人民政府", "乡镇")) == 1
    assert chk("示例县人民政府", "县级政府") == []  # a county government may speak of its centre
    # a township mentioning its service centre as a place is fine
    base["s1.platform"] = "在镇政务服务中心设置政府信息公开查阅点。"
    assert chk("示例县城关镇人民政府", "乡镇") == []


def test_numbering_filler_structure_typos(f21):
    out = run(f21, s5__problems="（一）栏目更新不及时。\n（二）解读形式单一。\n（二）培训不足。")
    assert ids(out) == ["W-TXT-NUMBERING"] and "“（二）”重复" in out[0].message and out[0].keys == ("s5.problems",)
    out = run(f21, s1__overview="本街道总面积57.06平方千米，现有常住人口49377人，有机关单位108家。")
    assert ids(out) == ["W-TXT-FILLER"] and "辖区面积" in out[0].message and "人口" in out[0].message
    assert run(f21, s1__overview="配备专职工作人员1名负责政府信息公开工作。") == []  # one staffing fact is relevant
    out = run(f21, s1__overview="本报告由概述、主动公开情况、依申请公开情况、存在的问题及改进措施等部分组成。")
    assert ids(out) == ["W-TXT-OLDSTRUCT"] and "概述" in out[0].message
    assert (
        run(
            f21,
            s1__overview="本报告由总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项六个部分组成。",
        )
        == []
    )
    out = run(f21, s1__on_request="接照政府信息依申请公开工作要求，全年新收政府信息公开申请2件。")
    assert ids(out) == ["W-TXT-TYPO"] and out[0].severity == "info" and "“接照" in out[0].message


def test_period_statements(f21):
    out = run(f21, s1__overview="数据核定时间点为2024年1月1日—2024年12月31日。")
    assert ids(out) == ["W-TXT-DUPPERIOD"] and out[0].severity == "info"


def test_published_text_mode_sections_and_keys(f21):
    text = (
        "示例镇2024年政府信息公开工作年度报告\n\n"
        + CITE_30
        + "\n\n一、总体情况\n\n（一）主动公开\n\n全年主动公开信息10条。\n\n"
        "（二）依申请公开\n\n本年度未收到政府信息公开申请。\n\n（三）政府信息管理\n\n严格保密审查。\n\n（四）政府信息公开平台建设\n\n"
        "加强网站专栏建设。\n\n（五）监督保障\n\n纳入年度考核。\n\n二、主动公开政府信息情况\n\n三、收到和处理政府信息公开申请情况\n\n"
        "四、政府信息公开行政复议、行政诉讼情况\n\n五、存在的主要问题及改进情况\n\n栏目更新不及时。2025年将改进。\n\n六、其他需要报告的事项\n\n"
        "本年度未收取信息处理费。\n\n示例镇人民政府\n\n2025年1月10日\n"
    )
    values = dict(tables(f21, s3__new__natural=1, s3__r1_open__natural=1), **{"meta.name": "示例镇人民政府"})
    out = check_narrative(f21, values, unit=f21.unit_type("乡镇"), year=2024, full_text=text)
    # narrative fields empty: no E-TXT-EMPTY in published mode; the text contradicts the table
    assert ids(out) == ["W-TXT-APPL"]
    assert out[0].keys == ("s3.new.total", "s1.on_request") and out[0].locations == ("一、总体情况·(二)依申请公开",)


def test_normalisation():
    nt = normalize("墊江縣周嘉鎮(zhèn)人民政府（一）２０２０年")
    assert nt.norm == "垫江县周嘉镇人民政府(一)2020年"
    assert len(nt.norm) == len(nt.display) and nt.display.startswith("墊江縣周嘉鎮人民")
    assert label_key("商业\n\n企业") == "商业企业" == label_key("商业 企业")
    assert label_key("一,、本年新收政府信息公开申请数量") == "一、本年新收政府信息公开申请数量"
    assert label_key("3.危及“三安全一稳定”") == "3.危及三安全一稳定"


# --------------------------------------------------------------------------------------------
# the fast paths: pre-filters may only skip searches that cannot match


def _rule_patterns():
    """(pattern, flags) of every regular expression the rules search the text with."""
    from gkxlsx.text import narrative as N

    d = N.data()
    pats = [(d["headings"]["subheading"], re.MULTILINE)]
    pats += [(p, 0) for p in d["applications"]["count"] + d["applications"]["zero"] + d["docs"]["count"]]
    pats += [(d["review"]["none"], 0), (d["fee"]["statement"], 0), (d["fee"]["notice"], 0), (d["fee"]["no_notice"], 0)]
    pats += [(v, 0) for k, v in d["dates"].items() if isinstance(v, str)]
    pats += [(d["cite"]["number"], 0), (d["cite"]["regulation_unbracketed"], 0), (d["oldstruct"]["sentence"], 0)]
    pats += [(d["period"]["statement"], 0), (d["period"]["time_point"], 0)]
    pats += [(p, 0) for ps in d["filler"]["categories"].values() for p in ps]
    pats += [(t["pattern"], 0) for t in d["typos"]]
    pats += [(p, 0) for p in N._foreign_rx()[1]]
    return pats


FRAGMENTS = [
    "2024",
    "2025",
    "20241",
    "年",
    "月",
    "日",
    "1",
    "12",
    "31",
    "号",
    "件",
    "申请",
    "收到",
    "未",
    "没有",
    "无",
    "行政复议",
    "行政诉讼",
    "规范性文件",
    "制发",
    "共",
    " ",
    "\t",
    "\n",
    "。",
    ";",
    ",",
    "、",
    "?",
    "(",
    ")",
    "(一)",
    "(二)",
    "(三)",
    "一",
    "截止",
    "截至",
    "多余",
    "人",
    "我",
    "认真",
    "接照",
    "环保保护",
    "报告如下",
    "国办公开办函",
    "国办函",
    "〔",
    "〕",
    "[",
    "]",
    "30",
    "60",
    "》",
    "国务院令第",
    "711",
    "本报告",
    "由",
    "部分",
    "概述",
    "总面积",
    "平方千米",
    "常住人口",
    "户",
    "下辖",
    "个",
    "村",
    "党员",
    "名",
    "企业",
    "家",
    "GDP",
    "时间点",
    "至",
    "—",
    "医保",
    "政府信息公开",
    "围绕",
    "工作",
    "市场监管",
    "政务服务中心",
    "将",
    "进一步",
    "收费通知",
    "信息处理费",
    "度",
    "起",
    "计划",
    "改进",
    "x",
    "a",
    "٢٠٢٤",
    "\x00",
]


def _random_texts(n, seed):
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def test_prefilters_never_hide_a_match():
    from gkxlsx.text import prefilter

    texts = _random_texts(4000, 1)
    matched = 0
    for pattern, flags in _rule_patterns():
        rx = re.compile(pattern, flags)
        for t in texts:
            if rx.search(t):
                matched += 1
                assert prefilter.may_match(pattern, t, flags), (pattern, t)
    assert matched > 2000  # the texts do exercise the patterns


def test_joined_fields_test_is_exact():
    """For a pattern joined_rx accepts, the joined fields match iff one field does."""
    import random

    from gkxlsx.text import narrative as N
    from gkxlsx.text import prefilter

    rng = random.Random(2)
    texts = _random_texts(3000, 3)
    accepted = 0
    from test_prefilter import TRICKY_SEPARATOR as tricky

    for pattern, flags in _rule_patterns() + [(p, 0) for p in tricky]:
        rx = re.compile(pattern, flags)
        exact = prefilter.joined_rx(pattern, flags) is not None
        accepted += exact
        for _ in range(300):
            fields = rng.sample(texts, rng.randint(1, 6))
            anywhere = any(rx.search(f) for f in fields)
            joined = N._Doc(False, [], None, "\x00".join(fields), N._Joined(fields)).may(pattern, flags)
            assert joined == anywhere if exact else (joined or not anywhere), (pattern, fields)
    assert accepted > 20


def test_gate_analysis():
    from gkxlsx.text.prefilter import gate, joined_rx, may_match

    assert gate("(?i)abc") is None and gate("abc", re.IGNORECASE) is None and gate(r"\d+") is None
    assert may_match("x(?=yz)", "xyz") and not may_match("x(?=yz)", "xy")  # a lookahead is what follows
    assert may_match("(?<=q)x", "x")  # a lookbehind may look before the searched span: ignored
    assert not may_match("ab|cd", "ac") and may_match("ab|cd", "xcd")
    assert may_match("a(?:b)?c", "ac") and not may_match("a(?:b)?c", "abd")
    assert joined_rx("^a", 0) is None and joined_rx("^a", re.MULTILINE) is not None and joined_rx("a.b", 0)[0] == "\n"
    assert joined_rx("a*", 0) is None  # empty matches


def test_normalisation_regex_is_the_translation_table():
    from gkxlsx.text.narrative import _bmp_changes, _bmp_table

    rx, repl = _bmp_changes()
    every = "".join(chr(i) for i in range(0x10000) if not 0xD800 <= i < 0xE000)
    assert rx.sub(repl, every) == every.translate(_bmp_table())


def test_fast_paths_agree_with_the_plain_scan(f21, f19, monkeypatch):
    """Every pre-filter switched off (each search runs): the same findings, for workbook fields
    and published texts with the mistakes the rules look for."""
    import random

    from gkxlsx.text import narrative as N
    from gkxlsx.text import prefilter

    rng = random.Random(4)
    snippets = _random_texts(200, 5) + [
        CITE_30,
        CITE_60,
        "现将本镇20241月1日至12月31日期间的工作报告如下：",
        "2023年，本镇政府信息公开工作有序开展。",
        "2024年本镇将进一步改进。",
        "全年共收到政府信息公开申请5件。",
        "本年度未收到政府信息公开申请。",
        "未发生行政复议。",
        "全年制发行政规范性文件3件。",
        "本街道总面积57.06平方千米，现有常住人口49377人。",
        "（一）甲。\n（三）乙。",
        "接照要求",
        "截止2024年底",
        "着力搭建医保政府信息公开融媒体矩阵。",
        "数据核定时间点为2024年1月1日—2024年12月31日。",
        "本报告由概述、依申请公开情况等部分组成。",
        "本年度未发出收费通知。",
    ]
    cases = []
    for i in range(150):
        form = f19 if i % 7 == 0 else f21
        values = dict(
            tables(
                form,
                s3__new__natural=rng.choice([0, 2]),
                s4__review__upheld=rng.choice([0, 1]),
                s3__r6_2__natural=rng.choice([0, 1]),
            )
        )
        values.update(GOOD_TEXT)
        for _ in range(rng.randint(1, 4)):
            k = rng.choice(
                [
                    "s1.overview",
                    "s1.active",
                    "s1.on_request",
                    "s1.supervision",
                    "s5.problems",
                    "s5.improvements",
                    "s6.other",
                ]
            )
            values[k] = (values.get(k) or "") + rng.choice(snippets)
        if i % 5 == 0:
            values["s6.fee_notices"] = None
        full = None
        if i % 6 == 0:
            full = "示例镇2024年政府信息公开工作年度报告\n" + "\n".join(
                f"{h}\n{rng.choice(snippets)}"
                for h in (
                    "一、总体情况",
                    "二、主动公开政府信息情况",
                    "五、存在的主要问题及改进情况",
                    "六、其他需要报告的事项",
                )
            )
        cases.append(
            (
                form,
                values,
                form.unit_type(rng.choice(["乡镇", "县级部门", "县级政府"])),
                rng.choice([0, 2020, 2024, 2025]),
                full,
            )
        )

    def run():
        return [repr(N.check_narrative(f, v, unit=u, year=y, full_text=t)) for f, v, u, y, t in cases]

    fast = run()
    for cache in ("_SCANS", "_DOC_TESTS"):
        monkeypatch.setattr(N, cache, {})
    monkeypatch.setattr(prefilter, "_GATES", {})
    monkeypatch.setattr(prefilter, "gate", lambda pattern, flags=0: None)
    monkeypatch.setattr(prefilter, "joined_rx", lambda pattern, flags=0: None)
    monkeypatch.setattr(prefilter, "first_literals", lambda patterns: None)
    monkeypatch.setattr(N, "_stale_years", lambda text, d, year: True)
    monkeypatch.setattr(N, "_plan_years", lambda text, d, year: True)
    table, titles, _ = N._cite_titles()
    monkeypatch.setattr(N, "_cite_titles", lambda: (table, titles, None))
    monkeypatch.setattr(N, "_plain", lambda vals, keys: False)

    def table_values(form, values):  # the copy the view stands for
        vals = with_derived(form, {k: v for k, v in values.items() if k in form.cells})
        if "s6.fee_notices" in values:
            vals["s6.fee_notices"] = values["s6.fee_notices"]
        return vals

    monkeypatch.setattr(N, "_table_values", table_values)
    plain = run()
    assert sum(s != "[]" for s in fast) > 100
    assert fast == plain
