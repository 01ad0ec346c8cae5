"""Plausibility rules (issue 17): year on year against the unit's previous values (核实), against
the peers of the same 单位类型 (提示), declared in the form data."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import import_files, init_campaign
from gkxlsx.cli import app
from gkxlsx.form.model import load_form
from gkxlsx.rules.plausibility import Peer, jump, peer_outliers, spec, year_on_year
from tests.test_campaign import ROSTER, make_return

runner = CliRunner()


@pytest.fixture
def camp(tmp_path):
    c = init_campaign(
        tmp_path / "c", year=2025, roster=ROSTER, office="示例县人民政府办公室", deadline=dt.date(2026, 1, 20)
    )
    yield c
    c.close()


def applications(total: int):
    """An edit of sample values: 本年新收 总计 ``total``, the balance kept (the extra ones 予以公开)."""

    def edit(v):
        delta = total - sum(v[k] for k in v if k.startswith("s3.new.") and not k.endswith(".total"))
        v["s3.new.natural"] += delta
        v["s3.r1_open.natural"] += delta

    return edit


def test_the_rules_are_data_of_both_forms():
    for fid in ("2021", "2019"):
        form = load_form(fid)
        s = spec(form, "year_on_year")
        assert s is not None and s["severity"] == "warning" and all(k in form.cells for k in s["keys"])
        p = spec(form, "peers")
        assert p is not None and p["severity"] == "info"
        assert all(k in form.cells or k in form.fields for k in p["keys"])


@pytest.mark.parametrize(
    "value, prev, how",
    [
        (300, 3, "up"),
        (3, 300, "down"),
        (300, 300, None),
        (50, 0, "from_zero"),
        (49, 0, None),
        (9, 1, None),
        (0, 12, "down"),
        (20, 5, None),
    ],
)
def test_year_on_year_thresholds(value, prev, how):
    assert jump(value, prev, spec(load_form("2021"), "year_on_year")) == how


def test_a_jump_from_3_to_300_is_a_warning_naming_both_values(camp, tmp_path):
    camp.ledger.set_previous("SLX101", camp.form.id, 2024, {"s3.new.total": 3}, "test")
    (r,) = import_files(camp, [make_return(camp, "SLX101", tmp_path / "a", edit=applications(300))])
    yoy = [f for f in r.findings if f["rule"] == "W-YOY-JUMP"]
    assert len(yoy) == 1 and r.status == "有警告"
    f = yoy[0]
    assert f["severity"] == "warning" and "本年为 300" in f["message"] and "上年为 3" in f["message"]
    assert f["locations"][0].startswith("三、依申请公开!")
    # a 核实 finding: accepted only with a reason
    res = runner.invoke(app, ["accept", "SLX101", "-C", str(camp.root)])
    assert res.exit_code == 1 and "W-YOY-JUMP" in res.output
    res = runner.invoke(
        app,
        [
            "accept",
            "SLX101",
            "--explain",
            "W-YOY-JUMP=本年开展专项整治，申请集中增加",
            "--note",
            "其余警告已电话核实",
            "-C",
            str(camp.root),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "W-YOY-JUMP[s3.new.total]" in res.output and "本年开展专项整治，申请集中增加" in res.output


def test_the_same_figures_after_a_year_of_300_are_plausible(camp, tmp_path):
    camp.ledger.set_previous("SLX101", camp.form.id, 2024, {"s3.new.total": 300}, "test")
    (r,) = import_files(camp, [make_return(camp, "SLX101", tmp_path / "a", edit=applications(300))])
    assert not [f for f in r.findings if f["rule"] == "W-YOY-JUMP"]


def test_without_previous_values_there_is_no_year_on_year_finding(camp, tmp_path):
    (r,) = import_files(camp, [make_return(camp, "SLX101", tmp_path / "a", edit=applications(300))])
    assert not [f for f in r.findings if f["rule"] == "W-YOY-JUMP"]
    assert year_on_year(camp.form, {"s3.new.total": 300}, None) == []


def test_an_outlier_among_peers_is_a_hint_with_its_rank(camp, tmp_path):
    depts = [u.code for u in camp.units() if u.type == camp.unit("SLX101").type]
    assert len(depts) >= 5
    for i, code in enumerate(depts):
        edit = applications(900) if code == "SLX103" else applications(60 + i)
        import_files(camp, [make_return(camp, code, tmp_path / code, edit=edit, seed=i)])
    peers = camp.peer_findings()
    hits = [f for f in peers.get("SLX103", []) if f.instance == "W-PEER-OUTLIER[s3.new.total]"]
    assert len(hits) == 1 and hits[0].severity == "info"
    assert "为 900" in hits[0].message and "排第 1 位" in hits[0].message and f"共 {len(depts)} 个" in hits[0].message
    assert not any(
        f.instance == "W-PEER-OUTLIER[s3.new.total]" for c in depts if c != "SLX103" for f in peers.get(c, [])
    )
    res = runner.invoke(app, ["status", "SLX103", "-C", str(camp.root)])
    assert "与同类单位比较" in res.output and "提示（提示）" in res.output
    # a hint never blocks: the unit's status is what its own checks say
    d = json.loads(runner.invoke(app, ["status", "--json", "-C", str(camp.root)]).output)
    assert next(u for u in d["units"] if u["unit_code"] == "SLX103")["errors"] == 0


def test_peers_need_enough_units_and_spread():
    form = load_form("2021")
    few = [Peer(f"U{i}", "乡镇", {"s3.new.total": x}) for i, x in enumerate([1, 2, 900])]
    assert peer_outliers(form, few) == {}
    same = [Peer(f"U{i}", "乡镇", {"s3.new.total": 5}) for i in range(8)]
    assert peer_outliers(form, same) == {}
    mostly_zero = [Peer(f"U{i}", "乡镇", {"s3.new.total": 0}) for i in range(8)] + [
        Peer("X", "乡镇", {"s3.new.total": 60})
    ]
    assert list(peer_outliers(form, mostly_zero)) == ["X"]
