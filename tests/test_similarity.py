"""W-XY-SIMILAR (内容雷同): a report whose narrative copies another unit's is flagged; reports
written independently are not."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.render import load_report_json, render_text
from gkxlsx.similarity import cross_findings, jaccard, narrative_text, shingles

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
    found = cross_findings([(a.unit_name, a.unit_name, a.values), (b.unit_name, b.unit_name, b.values), ("示例县青石镇人民政府", "示例县青石镇人民政府", copied)])
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
