"""W-XY-SIMILAR (内容雷同): a report whose narrative copies another unit's is flagged; reports
written independently are not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.render.renderer import load_report_json, render_text
from gkxlsx.text import similarity
from gkxlsx.text.similarity import Doc, cross_findings, jaccard, narrative_text, shingles, similar_pairs

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "report_data"
runner = CliRunner()


def test_copied_narrative_scores_high_and_own_name_does_not_matter():
    a = load_report_json(DATA / "cgz_chengguanzhen.json")
    copied = {k: (v.replace("城关镇", "青石镇") if isinstance(v, str) else v) for k, v in a.values.items()}
    s1 = shingles(narrative_text(a.values), "示例县城关镇人民政府")
    s2 = shingles(narrative_text(copied), "示例县青石镇人民政府")
    assert jaccard(s1, s2) > 0.95
    other = load_report_json(DATA / "czj_caizhengju.json")
    s3 = shingles(narrative_text(other.values), other.unit_name)
    assert jaccard(s1, s3) < 0.3


def test_cross_findings_name_the_other_report():
    a = load_report_json(DATA / "cgz_chengguanzhen.json")
    b = load_report_json(DATA / "czj_caizhengju.json")
    copied = {k: (v.replace("城关镇", "青石镇") if isinstance(v, str) else v) for k, v in a.values.items()}
    found = cross_findings(
        [
            (a.unit_name, a.unit_name, a.values),
            (b.unit_name, b.unit_name, b.values),
            ("示例县青石镇人民政府", "示例县青石镇人民政府", copied),
        ]
    )
    assert set(found) == {0, 2}
    assert found[0][0].rule_id == "W-XY-SIMILAR" and "示例县青石镇人民政府" in found[0][0].message
    assert "示例县城关镇人民政府" in found[2][0].message


def test_audit_of_a_folder_flags_the_copied_report(tmp_path):
    a = load_report_json(DATA / "cgz_chengguanzhen.json")
    b = load_report_json(DATA / "czj_caizhengju.json")
    (tmp_path / "城关镇.txt").write_text(render_text(a), encoding="utf-8")
    (tmp_path / "财政局.txt").write_text(render_text(b), encoding="utf-8")
    a.unit_name = "示例县青石镇人民政府"
    a.values = {k: (v.replace("城关镇", "青石镇") if isinstance(v, str) else v) for k, v in a.values.items()}
    (tmp_path / "青石镇.txt").write_text(render_text(a), encoding="utf-8")
    res = runner.invoke(app, ["audit", str(tmp_path), "--json", "--summary", str(tmp_path / "s.xlsx")])
    data = json.loads(res.output)
    flagged = {Path(r["file"]).name for r in data["reports"] if any(f["rule"] == "W-XY-SIMILAR" for f in r["findings"])}
    assert flagged == {"城关镇.txt", "青石镇.txt"}


@pytest.mark.parametrize("masks", [True, False])
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.85, 0.9, 1.0])
@pytest.mark.parametrize("seed", range(6))
def test_the_join_finds_exactly_the_pairs_comparing_every_pair_finds(threshold, seed, masks, monkeypatch):
    """The prefix-filtered join against the plain definition, on families of near-copies (every
    pair near the threshold), unrelated documents, duplicates and empty ones."""
    if not masks:  # as a join too large for bit sets compares
        monkeypatch.setattr(similarity, "MASK_BUDGET", 0)
    rnd = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]
    docs = []
    for _ in range(12):
        base = set(rnd.sample(vocab, rnd.randint(5, 60)))
        for _ in range(rnd.randint(1, 6)):
            d = set(base)
            for _ in range(rnd.randint(0, max(1, len(base) // 4))):
                d.discard(rnd.choice(sorted(d))) if d and rnd.random() < 0.5 else d.add(rnd.choice(vocab))
            docs.append(Doc(f"d{len(docs)}", frozenset(d)))
    docs.append(Doc("empty", frozenset()))
    docs.append(Doc("copy", docs[0].shingles))
    want = sorted(
        (
            (i, j, jaccard(docs[i].shingles, docs[j].shingles))
            for i in range(len(docs))
            for j in range(i + 1, len(docs))
            if docs[i].shingles and docs[j].shingles and jaccard(docs[i].shingles, docs[j].shingles) >= threshold
        ),
        key=lambda x: (-x[2], x[0], x[1]),
    )
    assert similar_pairs(docs, threshold) == want
    assert want, "no pair at this threshold: the case tests nothing"


def test_campaign_status_names_units_whose_returns_copy_each_other(tmp_path):
    from gkxlsx.campaign.campaign import import_files, init_campaign
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.workbook.generate import build_workbook

    camp = init_campaign(tmp_path / "camp", year=2025, roster=REPO / "examples" / "roster.csv")
    units = camp.units()
    a, b = units[0], units[1]
    out = tmp_path / "returns"
    out.mkdir()
    original = sample_values(camp.form, a.name, a.type, 2025, seed=3)
    for i, u in enumerate(units):
        v = sample_values(camp.form, u.name, u.type, 2025, seed=40 + i)
        if u is b:  # b's clerk took a's report and changed the name
            short_a, short_b = a.name.replace("人民政府", ""), b.name.replace("人民政府", "")
            v.update(
                {
                    k: x.replace(short_a, short_b)
                    for k, x in original.items()
                    if k.startswith(("s1.", "s5.", "s6.")) and isinstance(x, str)
                }
            )
        elif u is a:
            v = original
        data, _ = build_workbook(camp.form, u, 2025, prefill=v)
        (out / workbook_filename(u, 2025)).write_bytes(data)
    assert [o.kind for o in import_files(camp, [out])] == ["new"] * len(units)
    pairs = camp.similar()
    assert [(x.code, y.code) for x, y, _ in pairs] == [(a.code, b.code)] and pairs[0][2] > 0.9
    camp.close()

    text = runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp")])
    assert text.exit_code == 0, text.output
    assert "内容雷同 1 对" in text.output and f"{a.name} 与 {b.code} {b.name}：相似度" in text.output
    doc = json.loads(runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp"), "--json"]).output)
    assert [(p["a"]["unit_code"], p["b"]["unit_code"], p["rule"]) for p in doc["similar"]] == [
        (a.code, b.code, "W-XY-SIMILAR")
    ]
    # the exports the office passes on: a 内容雷同 sheet and section
    out = runner.invoke(
        app,
        [
            "status",
            "--campaign",
            str(tmp_path / "camp"),
            "--xlsx",
            str(tmp_path / "s.xlsx"),
            "--html",
            str(tmp_path / "s.html"),
        ],
    )
    assert out.exit_code == 0, out.output
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "s.xlsx")["内容雷同"]
    assert ws["A1"].value == "内容雷同：1 对"
    assert [c.value for c in ws[5]][:4] == [a.code, a.name, b.code, b.name] and ws["E5"].value.endswith("%")
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert "内容雷同（1 对）" in page and f"<td>{b.name}</td>" in page
    # a large campaign compares only when asked; asking is honoured below the line too
    import gkxlsx.cli.campaign as CC

    old = CC.SIMILAR_AUTO
    try:
        CC.SIMILAR_AUTO = len(units) - 1
        big = runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp")])
        assert "内容雷同" not in big.output and "未比较各单位的文字是否雷同" in big.output and "--similar" in big.output
        asked = runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp"), "--similar"])
        assert "内容雷同 1 对" in asked.output
    finally:
        CC.SIMILAR_AUTO = old
    off = runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp"), "--no-similar", "--json"])
    assert json.loads(off.output)["similar"] is None
    off = runner.invoke(app, ["status", "--campaign", str(tmp_path / "camp"), "--no-similar"])
    assert "内容雷同" not in off.output and "未比较" not in off.output


def test_a_pair_exactly_at_the_threshold_is_found():
    # 55 of 100 shingles: 0.55 * 100 is 55.00000000000001 in floating point
    big = frozenset(f"w{i}" for i in range(100))
    small = frozenset(f"w{i}" for i in range(55))
    assert jaccard(big, small) == 0.55
    assert similar_pairs([Doc("a", big), Doc("b", small)], 0.55) == [(0, 1, 0.55)]
    with pytest.raises(ValueError):
        similar_pairs([Doc("a", big)], 0)
