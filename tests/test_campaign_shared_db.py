"""Campaigns in a shared PostgreSQL database (issue 18 item 4): several campaigns (the counties of
one city) in one database, each seeing only its own rows; ``init --db`` and ``db = "postgresql://…"``
in campaign.toml; what a user is told when the database cannot be reached.  The ledger's
guarantees themselves (versions, re-import no-op, concurrent and killed imports, the review log)
are the tests of test_campaign.py, test_import_parallel.py and test_campaign_review.py, run on
both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import Campaign, CampaignError, import_files, init_campaign
from gkxlsx.cli import app
from tests.test_campaign import ROSTER, make_return

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _county(tmp_path: Path, name: str, url: str) -> Campaign:
    return init_campaign(tmp_path / name, year=2025, roster=ROSTER, office=f"{name}人民政府办公室", db=url)


def test_counties_of_one_city_share_a_database_and_see_only_their_own_rows(pg_url, tmp_path):
    a, b = _county(tmp_path, "甲县", pg_url), _county(tmp_path, "乙县", pg_url)
    assert a.db_schema != b.db_schema and a.db_url == b.db_url == pg_url
    assert not (a.root / "ledger.sqlite").exists()  # the ledger is in the database, not in the folder
    # the same unit codes in both (one roster): no clash
    assert [u.code for u in a.units()] == [u.code for u in b.units()]
    p1 = make_return(a, "SLX001", tmp_path / "in1")
    p2 = make_return(a, "SLX002", tmp_path / "in2", seed=7)
    assert [o.kind for o in import_files(a, [p1, p2])] == ["new", "new"]
    # 乙县 sees none of 甲县's rows
    assert b.ledger.currents() == {} and b.ledger.known_hashes() == frozenset()
    assert b.status().returned == 0 and a.status().returned == 2
    from gkxlsx.campaign.review import history

    assert history(b.ledger) == [] and len(history(a.ledger)) == 2
    # the very same file sent to both counties is new in each (each its own duplicate check)
    (o,) = import_files(b, [p1])
    assert (o.kind, o.version) == ("new", 1)
    assert import_files(b, [p1])[0].kind == "duplicate"
    # an office decision in one county leaves the other's
    a.ledger.accept("SLX001", "")
    assert a.ledger.current("SLX001").locked and not b.ledger.current("SLX001").locked
    # seen from the database: one schema per campaign, each holding its own rows only
    import psycopg

    with psycopg.connect(pg_url) as conn:
        n = {
            s: conn.execute(f'SELECT COUNT(*) FROM "{s}".submissions').fetchone()[0] for s in (a.db_schema, b.db_schema)
        }
    assert n == {a.db_schema: 2, b.db_schema: 1}
    a.close()
    b.close()


def test_init_with_db_writes_it_to_campaign_toml_and_every_command_uses_it(pg_url, tmp_path):
    d = tmp_path / "丙县"
    res = runner.invoke(app, ["init", str(d), "--year", "2025", "--roster", str(ROSTER), "--db", pg_url])
    assert res.exit_code == 0, res.output
    assert "账本：" in res.output and "模式 gkx_2025_" in res.output
    toml = (d / "campaign.toml").read_text(encoding="utf-8")
    assert f'db = "{pg_url}"' in toml and 'db_schema = "gkx_2025_' in toml and "PGPASSWORD" in toml
    assert not (d / "ledger.sqlite").exists()
    with Campaign(d) as c:
        assert c.ledger.backend == "postgresql"
        p = make_return(c, "SLX003", tmp_path / "in")
    # another process (the command line, as an office would run it) finds the same ledger
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "gkxlsx", "import", "-C", str(d), str(p)], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    res = runner.invoke(app, ["status", "-C", str(d), "--json"])
    assert res.exit_code == 0, res.output
    assert '"returned": 1' in res.output


def test_an_unreachable_database_is_said_in_chinese_and_init_can_be_run_again(tmp_path, pg_url):
    gone = "postgresql://gkx:secret@/gkxtest?host=" + str(tmp_path / "nosocket") + "&port=5432"
    with pytest.raises(CampaignError) as e:
        init_campaign(tmp_path / "丁县", year=2025, roster=ROSTER, db=gone)
    msg = str(e.value)
    assert msg.startswith("无法连接账本数据库") and "secret" not in msg and "***" in msg
    assert not (tmp_path / "丁县" / "campaign.toml").exists()  # nothing half-made: init again
    assert init_campaign(tmp_path / "丁县", year=2025, roster=ROSTER, db=pg_url).ledger.backend == "postgresql"
    with pytest.raises(CampaignError, match="postgresql://"):
        init_campaign(tmp_path / "戊县", year=2025, roster=ROSTER, db="mysql://localhost/x")


def test_a_schema_name_that_is_not_an_identifier_is_refused(pg_url, tmp_path):
    c = _county(tmp_path, "己县", pg_url)
    c.close()
    cfg = c.root / "campaign.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(c.db_schema, "x; DROP SCHEMA public; --"), encoding="utf-8")
    with pytest.raises(CampaignError, match="db_schema"):
        Campaign(c.root)
