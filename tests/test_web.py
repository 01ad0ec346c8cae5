"""The web app through its HTTP interface (starlette's TestClient, a real ASGI app on real campaign
folders): account set-up and login, a campaign made from an uploaded roster, templates, uploads of
files, a .zip and a .eml, the unit page (findings by sheet, diff, accept, downloads), the unit's
own page, mail with a real SMTP server, the roll-up and reports, the audit page."""

from __future__ import annotations

import io
import re
import zipfile
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from _mail_helpers import make_campaign, returned_workbook
from _web_helpers import PASSWORD, USER, csrf_of, office_client, setup_code

from gkxlsx.campaign.campaign import Campaign
from gkxlsx.web.app import build

ROOT = Path(__file__).resolve().parents[1]


def error_edit(v):
    v["s3.new.natural"] = v["s3.new.natural"] + 5  # 本年新收 no longer adds up


def test_first_start_needs_the_start_code_then_login(tmp_path):
    camp = make_campaign(tmp_path, generate=False)
    camp.close()
    app = build(camp.root)
    from _web_helpers import TestClient

    c = TestClient(app, follow_redirects=False)
    assert c.get("/").headers["location"].startswith("/login")
    assert c.get("/login").headers["location"] == "/setup"
    page = c.get("/setup")
    assert "启动码" in page.text
    form = {"csrf": csrf_of(page.text), "username": USER, "password": PASSWORD, "password2": PASSWORD}
    wrong = c.post("/setup", data={**form, "setup_code": "WRONG123"})
    assert wrong.status_code == 200 and "启动码不对" in wrong.text
    assert not app.state.web.state.has_accounts()
    ok = c.post("/setup", data={**form, "setup_code": setup_code(camp.root).lower()})
    assert ok.status_code == 303
    assert not (camp.root / ".gkxlsx-web" / "setup-code").exists()  # used once
    assert c.get("/setup").headers["location"] == "/login"  # never again
    # log out, a wrong password, then the right one
    page = c.get("/c/_/")
    assert page.status_code == 200 and "已报/应报" in page.text
    c.post("/logout", data={"csrf": csrf_of(page.text)})
    assert c.get("/c/_/").status_code == 303
    lp = c.get("/login")
    bad = c.post("/login", data={"csrf": csrf_of(lp.text), "username": USER, "password": "nope nope"})
    assert "用户名或密码不对" in bad.text
    good = c.post("/login?next=/c/_/", data={"csrf": csrf_of(lp.text), "username": USER, "password": PASSWORD})
    assert good.status_code == 303 and good.headers["location"] == "/c/_/"
    # a second office account
    page = c.get("/accounts")
    r = c.post("/accounts", data={"csrf": csrf_of(page.text), "username": "李四", "password": "another pw 2"})
    assert r.status_code == 303
    assert app.state.web.state.accounts() == [USER, "李四"]
    short = c.post("/accounts", data={"csrf": csrf_of(page.text), "username": "王五", "password": "short"})
    assert "密码至少 8 位" in short.text


def test_create_campaign_from_roster_upload_lists_every_bad_line(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    c, csrf = office_client(root)
    bad = "单位代码,单位名称,单位类型\nA1,甲镇,乡镇\nA1,乙镇,乡镇\n,丙镇,乡镇\nA4,丁单位,外星机构\n".encode()
    r = c.post("/new", data={"csrf": csrf, "year": "2025"}, files={"roster": ("名单.csv", bad, "text/csv")})
    assert r.status_code == 400
    for line in ("第 3 行", "第 4 行", "第 5 行"):
        assert line in r.text, r.text
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]  # nothing half-made
    roster = (ROOT / "examples" / "roster.csv").read_bytes()
    r = c.post(
        "/new",
        data={"csrf": csrf, "year": "2025", "office": "示例县人民政府办公室", "deadline": "2026-01-20"},
        files={"roster": ("名单.csv", roster, "text/csv")},
    )
    assert r.status_code == 303
    cid = r.headers["location"].split("/")[2]
    home = c.get("/")
    assert "示例县人民政府办公室" in home.text and "2026-01-20" in home.text
    dash = c.get(f"/c/{cid}/")
    assert "已报/应报" in dash.text and "0/12" in dash.text
    # templates: generate all, download one and the zip
    assert c.post(f"/c/{cid}/generate", data={"csrf": csrf}).status_code == 303
    one = c.get(f"/c/{cid}/u/SLX001/template")
    assert one.status_code == 200 and one.content[:2] == b"PK"
    assert "filename*=UTF-8''SLX001_" in one.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(one.content))
    assert len(wb.sheetnames) > 5
    z = zipfile.ZipFile(io.BytesIO(c.get(f"/c/{cid}/templates.zip").content))
    assert len([n for n in z.namelist() if n.endswith(".xlsx")]) == 12


@pytest.fixture
def served(tmp_path):
    camp = make_campaign(tmp_path, n=4)
    root = camp.root
    files = {
        "ok": returned_workbook(camp, "SLX001"),
        "err": returned_workbook(camp, "SLX002", edit=error_edit),
        "fixed": returned_workbook(camp, "SLX002", seed=4),
    }
    camp.close()
    c, csrf = office_client(root)
    return root, c, csrf, files


def test_upload_files_zip_and_eml_each_answered_like_import(served):
    root, c, csrf, files = served
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("返回/SLX002.xlsx", files["err"])
        z.writestr("说明.txt", "不是表格")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "u3@test.example", "office@test.example", "报送"
    msg["Message-ID"] = "<web-upload-1@test.example>"
    msg.set_content("附件是我单位的报告")
    msg.add_attachment(files["ok"], maintype="application", subtype="octet-stream", filename="SLX001.xlsx")
    r = c.post(
        "/c/_/upload",
        data={"csrf": csrf},
        files=[
            ("files", ("城关镇.xlsx", files["ok"], "application/octet-stream")),
            ("files", ("一批.zip", buf.getvalue(), "application/zip")),
            ("files", ("邮件.eml", bytes(msg), "message/rfc822")),
            ("files", ("空的.xlsx", b"", "application/octet-stream")),
        ],
    )
    assert r.status_code == 200
    text = r.text
    assert "城关镇.xlsx" in text and "已登记为 SLX001 第 1 版：通过" in text
    assert "一批.zip → SLX002.xlsx" in text and "已登记为 SLX002 第 1 版：有错误" in text
    assert "邮件.eml → SLX001.xlsx" in text and "此前已导入" in text
    assert "空的.xlsx" in text and "0 字节" in text
    with Campaign(root) as camp:
        hist = camp.ledger.history("SLX001")
        assert [h.filename for h in hist] == ["城关镇.xlsx"]
        assert hist[0].source.startswith("网页上传（" + USER)
        assert camp.ledger.current("SLX002").filename == "一批.zip → SLX002.xlsx"
    staging = root / ".uploads"
    assert not staging.exists() or not list(staging.iterdir())  # nothing left staged on disk
    # the unit page: findings grouped by sheet with the cell and the fix
    page = c.get("/c/_/u/SLX002")
    assert "第 1 版的问题" in page.text and "三、" in page.text
    assert re.search(r"三、[^!<]*!J\d+|三、[^!<]*![A-Z]+\d+", page.text), "no sheet!cell shown"
    assert "怎样修改" in page.text


def test_unit_page_diff_accept_and_downloads(served):
    root, c, csrf, files = served
    c.post("/c/_/upload", data={"csrf": csrf}, files=[("files", ("a.xlsx", files["err"], "x"))])
    c.post("/c/_/upload", data={"csrf": csrf}, files=[("files", ("b.xlsx", files["fixed"], "x"))])
    page = c.get("/c/_/u/SLX002")
    assert "第 2 版" in page.text and "（当前）" in page.text
    d = c.get("/c/_/u/SLX002/diff?a=1&b=2")
    assert d.status_code == 200 and "处变化" in d.text
    assert re.search(r'class="mono">[^<]+![A-Z]+\d+<', d.text)
    orig = c.get("/c/_/u/SLX002/v/1/original")
    assert orig.content == files["err"]
    fb = c.get("/c/_/u/SLX002/v/1/feedback")
    assert (
        fb.status_code == 200
        and "修改意见" in fb.headers["content-disposition"]
        or "%E4%BF%AE%E6%94%B9" in fb.headers["content-disposition"]
    )
    openpyxl.load_workbook(io.BytesIO(fb.content))
    # accept refuses a version with errors; the reason is required
    r = c.post("/c/_/u/SLX002/accept", data={"csrf": csrf, "version": "1", "note": "已核实"})
    assert r.status_code == 400 and "不能确认" in r.text
    with Campaign(root) as camp:
        sub = camp.ledger.current("SLX002")
        assert sub.version == 2


def test_accept_warning_with_reason_shows_reason(tmp_path):
    camp = make_campaign(tmp_path, n=4)
    # a fee above the notice amount is a warning (核实), not an error
    warn = returned_workbook(
        camp, "SLX003", edit=lambda v: v.update({"s2.regulation.issued": 1, "s2.regulation.in_force": 1})
    )
    root = camp.root
    camp.close()
    c, csrf = office_client(root)
    c.post("/c/_/upload", data={"csrf": csrf}, files=[("files", ("w.xlsx", warn, "x"))])
    with Campaign(root) as camp:
        sub = camp.ledger.current("SLX003")
    assert sub.n_warnings and not sub.n_errors, "the fixture must be a warning-only return"
    page = c.get("/c/_/u/SLX003")
    assert "确认这些警告的理由" in page.text and "待审核" in page.text
    rule = next(f["instance"] or f["rule"] for f in sub.findings if f["severity"] == "warning")
    assert f'name="explain.{rule}"' in page.text
    empty = c.post("/c/_/u/SLX003/accept", data={"csrf": csrf, "version": str(sub.version), "note": "  "})
    assert empty.status_code == 400 and "理由" in empty.text
    short = c.post("/c/_/u/SLX003/accept", data={"csrf": csrf, "version": str(sub.version), "note": "已核实"})
    assert short.status_code == 400 and "至少 6 个字" in short.text
    reason = "已电话核实，系转发上级规章"
    r = c.post(
        "/c/_/u/SLX003/accept",
        data={"csrf": csrf, "version": str(sub.version), f"explain.{rule}": reason, "note": "其余警告已逐条核实"},
    )
    assert r.status_code == 303
    page = c.get("/c/_/u/SLX003")
    assert reason in page.text and "已确认" in page.text and "已锁定" in page.text
    # the trail names who accepted; a second accept keeps the first reason
    steps = page.text[page.text.index('id="steps"') :]
    assert "确认并锁定" in steps and USER in steps
    r = c.post(
        "/c/_/u/SLX003/accept",
        data={"csrf": csrf, "version": str(sub.version), f"explain.{rule}": "补充：已要求单位说明"},
    )
    assert r.status_code == 303
    with Campaign(root) as camp:
        assert camp.ledger.current("SLX003").accepted_note.startswith(reason)
    dash = c.get("/c/_/?f=已确认")
    assert "SLX003" in dash.text
    # only the office reopens; then the return can be sent back with a reason
    refused = c.post("/c/_/u/SLX003/return", data={"csrf": csrf, "reason": "请修改"})
    assert refused.status_code == 400 and "重新打开" in refused.text
    r = c.post("/c/_/u/SLX003/reopen", data={"csrf": csrf, "reason": "单位要求更正"})
    assert r.status_code == 303
    r = c.post("/c/_/u/SLX003/return", data={"csrf": csrf, "reason": "请更正第二部分"})
    assert r.status_code == 303
    page = c.get("/c/_/u/SLX003")
    assert "退回" in page.text and "请更正第二部分" in page.text and "重新打开" in page.text


def test_unit_link_page_upload_and_only_own_data(served):
    root, c, csrf, files = served
    page = c.get("/c/_/u/SLX002")
    link = re.search(r'href="(/u/[^"]+)" id="unit-link"', page.text).group(1)
    other = re.search(r'href="(/u/[^"]+)" id="unit-link"', c.get("/c/_/u/SLX001").text).group(1)
    assert link != other
    from _web_helpers import TestClient

    unit = TestClient(c.app, follow_redirects=False)  # a fresh browser: no office session
    p = unit.get(link)
    assert p.status_code == 200 and "第一步" in p.text and "SLX001" not in p.text
    t = unit.get(link + "/template")
    assert t.status_code == 200 and t.content[:2] == b"PK"
    ucsrf = csrf_of(p.text)
    up = unit.post(link + "/upload", data={"csrf": ucsrf}, files=[("files", ("报告.xlsx", files["err"], "x"))])
    assert up.status_code == 200 and "有错误" in up.text and "修改意见工作簿" in up.text
    fb = unit.get(link + "/v/1/feedback")
    assert fb.status_code == 200 and fb.content[:2] == b"PK"
    # another unit's workbook through this link is refused and nothing is recorded
    wrong = unit.post(link + "/upload", data={"csrf": ucsrf}, files=[("files", ("x.xlsx", files["ok"], "x"))])
    assert "不是本单位" in wrong.text
    with Campaign(root) as camp:
        assert camp.ledger.current("SLX001") is None
    ok = unit.post(link + "/upload", data={"csrf": ucsrf}, files=[("files", ("改好.xlsx", files["fixed"], "x"))])
    assert "通过" in ok.text
    # revoke: the old link stops working
    c.post("/c/_/u/SLX002/link", data={"csrf": csrf, "action": "reissue"})
    gone = unit.get(link)
    assert gone.status_code == 404 and "链接无效或已停用" in gone.text


def test_mail_preview_and_send_through_a_real_smtp_server(served):
    from test_mail_smtp import Recorder, smtp_server

    root, c, csrf, files = served
    h = Recorder()
    with smtp_server(h) as port:
        r = c.post(
            "/c/_/mail/settings",
            data={
                "csrf": csrf,
                "host": "127.0.0.1",
                "port": str(port),
                "security": "none",
                "user": "",
                "sender": "office@test.example",
                "sender_name": "示例县政务公开办",
                "password": "",
            },
        )
        assert r.status_code == 303
        pv = c.post("/c/_/mail/preview", data={"csrf": csrf, "kind": "send", "only": "SLX001 SLX002"})
        assert pv.status_code == 200 and "预览：共 2 封" in pv.text
        assert "/u/" in pv.text  # the unit's own link is in the mail
        sent = c.post("/c/_/mail/send", data={"csrf": csrf, "kind": "send", "only": "SLX001 SLX002"})
        assert "成功 2 个地址" in sent.text
    assert len(h.messages) == 2
    body = h.parsed()[0][2].get_body(("plain",)).get_content()
    link = re.search(r"http://testserver(/u/\S+)", body).group(1)
    from _web_helpers import TestClient

    assert TestClient(c.app).get(link).status_code == 200


def test_report_page_and_downloads(served):
    root, c, csrf, files = served
    c.post("/c/_/upload", data={"csrf": csrf}, files=[("files", ("a.xlsx", files["ok"], "x"))])
    page = c.get("/c/_/report")
    assert page.status_code == 200 and "本报告汇总了" in page.text
    for fmt, magic in (("html", b"<!DOCTYPE"), ("md", b"#"), ("docx", b"PK")):
        r = c.get(f"/c/_/report.{fmt}")
        assert r.status_code == 200, r.text
        # a draft: the office has not written its own part (汇总报告文字.txt); Markdown says so first
        assert magic in (r.content if fmt == "md" else r.content[:400]), r.content[:40]
        if fmt == "md":
            assert (
                "草稿".encode() in r.content[:40] and "尚未填写".encode() in r.content or b"E-CELL-EMPTY" in r.content
            )
        if fmt != "docx":  # one of four units in: said on the office's page, never in the public report
            assert "4个单位中的1个单位".encode() not in r.content and "示例县青石镇".encode() not in r.content
            assert "示例县2021年政府信息公开工作年度报告".encode() in r.content  # titled after the area
    assert "未纳入汇总的单位" in page.text and "示例县青石镇人民政府" in page.text
    for name in ("status.xlsx", "aggregate.xlsx"):
        r = c.get("/c/_/" + name)
        assert r.status_code == 200
        openpyxl.load_workbook(io.BytesIO(r.content))


def test_report_page_offers_the_return_to_the_level_above(served):
    root, c, csrf, files = served
    c.post("/c/_/upload", data={"csrf": csrf}, files=[("files", ("a.xlsx", files["ok"], "x"))])
    page = c.get("/c/_/report")
    assert 'href="/c/_/return.xlsx"' in page.text and "报送上级的本级汇总工作簿" in page.text
    r = c.get("/c/_/return.xlsx")  # who the office is upstairs is not set yet: said in Chinese
    assert r.status_code == 400 and "[return]" in r.text
    toml = root / "campaign.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[return]\ncode = "C01"\nname = "示例县人民政府"\ntype = "县级政府"\n',
        encoding="utf-8",
    )
    r = c.get("/c/_/return.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert "C01_" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert "分单位明细" in wb.sheetnames and "未纳入汇总单位" in wb.sheetnames
    # the level above reads it as the county's return, summing the one unit that passed
    from gkxlsx.check.checker import check_file

    p = root / "C01.xlsx"
    p.write_bytes(r.content)
    res = check_file(p, year=2021)
    assert any(f.rule_id == "I-ROLLUP" and "纳入汇总 1 个" in f.message for f in res.findings)
    assert not any(f.rule_id.startswith("E-ROLLUP") for f in res.findings)


def test_audit_page_reads_a_pasted_report(served):
    root, c, csrf, files = served
    seed = sorted((ROOT / "tests" / "data" / "seeds").glob("*.txt")) or sorted(
        (ROOT / "tests" / "data" / "seeds").glob("*")
    )
    text = seed[0].read_text(encoding="utf-8", errors="replace")
    r = c.post("/audit", data={"csrf": csrf, "text": text})
    assert r.status_code == 200
    assert "规则" in r.text or "没有发现问题" in r.text


def test_unknown_pages_and_campaigns_are_chinese_404s(served):
    root, c, csrf, files = served
    for url in ("/nothing", "/c/nope/", "/c/_/u/NOPE", "/u/not-a-token"):
        r = c.get(url)
        assert r.status_code == 404, url
        assert "找不到" in r.text or "无效" in r.text
        assert "Traceback" not in r.text
