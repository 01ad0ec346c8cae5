"""The web app used as a person would: a real ``gkxlsx serve`` process, a real headless Chromium
(selenium), a real LibreOffice as the unit's spreadsheet program.

The office starts the server for the first time and makes its account, logs out and in, makes a
campaign from a roster file, generates the workbooks and downloads one unit's workbook through the
browser.  The unit's clerk types the report into it in LibreOffice with a number that breaks a
balance rule; the office uploads it (app.js, one request per file, with a second unit's clean return)
and reads the error with its cell on the unit page.  A second return has only a warning, whose
quoted narrative holds ``<script>alert(1)</script>``: the page shows the text and runs nothing; the
office accepts it with a written reason.  The unit opens its own link in a fresh browser (no
cookies), sees only its own data, and uploads a corrected return that passes.  The dashboard's
tiles and filters follow every step.  On every page the browser console has no CSP violation and
no script error, and the server logs no unexpected error.

Skipped without Chromium/chromedriver/selenium or LibreOffice — never under CI=true.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from _browser import REPO, chrome, require_or_skip, serving, wait_download

from gkxlsx.office import lo

pytestmark = [pytest.mark.browser, pytest.mark.lo]
require_or_skip()
lo.require_or_skip()

from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROSTER = REPO / "examples" / "roster.csv"
SEED = REPO / "tests" / "data" / "seeds" / "000_4e10bf6db70e4a46.txt"  # a real published report
USER, PASSWORD = "zhangsan", "gongkai-2025!"
OFFICE = "测试县政务公开办公室"  # contains no unit's name: the unit's page must name no other unit
SCRIPT = "<script>alert(1)</script>"
REASON = "已电话核实：本年度确有 1 件行政复议，正文表述有误，已要求下次改正。"


# --------------------------------------------------------------------------------------------
# the browser


def console_problems(driver, allow: tuple[str, ...] = ()) -> list[str]:
    """Errors in the browser console since the last call: CSP violations, script errors, failed loads."""
    out = []
    for e in driver.get_log("browser"):
        msg = e.get("message", "")
        if any(a in msg for a in allow):
            continue
        if e.get("level") == "SEVERE" or "Content Security Policy" in msg or "Refused to" in msg:
            out.append(f"{e.get('level')}: {msg}")
    return out


def clean_console(driver, where: str, allow: tuple[str, ...] = ()) -> None:
    problems = console_problems(driver, allow)
    assert not problems, f"browser console on {where} ({driver.current_url}):\n" + "\n".join(problems)


def wait(driver, timeout: float = 30.0) -> WebDriverWait:
    # a swapped part of the page (htmx, app.js) may go stale between finding and reading it
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.05,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    )


def go(driver, url: str, allow: tuple[str, ...] = ()) -> None:
    driver.get(url)
    clean_console(driver, url, allow)


def click_and_load(driver, element) -> None:
    """Click something that loads a new page; wait until it has."""
    what = element.text or element.get_attribute("value") or element.tag_name
    driver.execute_script("window.__oldPage = true")  # gone with the page: a new page has loaded
    element.click()
    # during the navigation a script may find no page to run in: ask again
    WebDriverWait(driver, 30, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__oldPage && document.readyState === 'complete'")
    )
    clean_console(driver, f"the page after clicking “{what}”")


def button(driver, text: str):
    return driver.find_element(By.XPATH, f"//button[contains(normalize-space(.), '{text}')]")


def link(driver, text: str):
    return driver.find_element(By.XPATH, f"//a[contains(normalize-space(.), '{text}')]")


def body_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def flash(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "p.flash").text


def tile(driver, label: str) -> str:
    """The number of the dashboard tile whose caption starts with ``label``."""
    for t in driver.find_elements(By.CSS_SELECTOR, ".tiles .tile"):
        if t.find_element(By.TAG_NAME, "span").text.startswith(label):
            return t.find_element(By.TAG_NAME, "b").text
    raise AssertionError(f"no tile {label!r} on {driver.current_url}")


def no_alert(driver) -> None:
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a script ran: alert({text!r})")


def upload_with_app_js(driver, files: list[Path]) -> list[str]:
    """Choose files in the upload page's file input and press the button: app.js sends them one by
    one; returns the text of each result row once all are done."""
    before = len(driver.find_elements(By.CSS_SELECTOR, "#result-rows tr:not(.summary)"))
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in files))
    assert f"已选择 {len(files)} 个文件" in driver.find_element(By.ID, "progress").text
    driver.find_element(By.ID, "upload-btn").click()
    wait(driver, 60).until(lambda d: "全部完成" in d.find_element(By.ID, "progress").text)
    rows = driver.find_elements(By.CSS_SELECTOR, "#result-rows tr:not(.summary)")
    assert len(rows) == before + len(files)
    clean_console(driver, "the upload page after uploading")
    return [r.text for r in rows[before:]]


# --------------------------------------------------------------------------------------------
# the unit's clerk, typing in LibreOffice


def text_of(v) -> str:
    return format(v, "f") if isinstance(v, Decimal) else str(v)


def typed(form, values: dict) -> list[tuple[str, str, str]]:
    """(sheet, cell, text) for every input cell of ``values`` (totals are the workbook's formulas)."""
    from gkxlsx.form.cells import a1
    from gkxlsx.form.layout import layout

    lay = layout(form)
    out = []
    for key, v in values.items():
        if key in form.cells and form.cells[key].derived:
            continue
        s, r, c = lay.where[key]
        out.append((s, a1(r, c), text_of(v)))
    return out


def fill(office, src: Path, dst: Path, form, values: dict) -> Path:
    results = office.fill(src, dst, typed(form, values))
    assert all(r["ok"] and not r["refused"] for r in results), [r for r in results if not r["ok"] or r["refused"]][:3]
    return dst


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def office_lo():
    with lo.LibreOffice(timeout=300) as o:
        yield o


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    with serving(root, tmp_path_factory.mktemp("log") / "server.log") as s:
        yield s
    out = s.output()
    assert "Traceback" not in out and " ERROR " not in out, out


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    d = chrome(downloads)
    try:
        yield d
    finally:
        d.quit()


def roster_units() -> list[tuple[str, str]]:
    with open(ROSTER, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    return [(r[0], r[1]) for r in rows[1:] if r]


# --------------------------------------------------------------------------------------------
# the scenario


def test_office_and_unit_use_the_web_app_in_a_real_browser(server, browser, downloads, office_lo, tmp_path):
    from gkxlsx.campaign.campaign import Campaign
    from gkxlsx.check.checker import check_file
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.workbook.generate import build_workbook

    d, url = browser, server.url
    units = roster_units()
    code_a, name_a = units[0]  # 示例县城关镇人民政府 (乡镇)
    code_b, name_b = units[5]  # 示例县财政局 (县级部门)

    # -- first start: the office's account, then out and in again ---------------------------------
    go(d, url + "/")
    assert d.current_url.endswith("/setup") and "首次使用" in body_text(d)
    d.find_element(By.NAME, "setup_code").send_keys(server.setup_code())
    d.find_element(By.NAME, "username").send_keys(USER)
    d.find_element(By.NAME, "password").send_keys(PASSWORD)
    d.find_element(By.NAME, "password2").send_keys(PASSWORD)
    click_and_load(d, button(d, "建立账号并登录"))
    assert "办公室账号已建立" in flash(d) and d.find_element(By.TAG_NAME, "h1").text == "收集任务"
    click_and_load(d, button(d, f"退出（{USER}）"))
    assert "/login" in d.current_url
    d.find_element(By.NAME, "username").send_keys(USER)
    d.find_element(By.NAME, "password").send_keys("not-the-password")
    click_and_load(d, button(d, "登录"))
    assert "用户名或密码不对" in body_text(d)
    d.find_element(By.NAME, "username").clear()
    d.find_element(By.NAME, "username").send_keys(USER)
    d.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_and_load(d, button(d, "登录"))
    assert d.find_element(By.TAG_NAME, "h1").text == "收集任务" and f"退出（{USER}）" in body_text(d)

    # -- a campaign from a roster file -----------------------------------------------------------
    deadline = (date.today() + timedelta(days=30)).isoformat()
    d.find_element(By.NAME, "office").send_keys(OFFICE)
    d.find_element(By.NAME, "contact").send_keys("政务公开办 0000-1234567")
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.NAME, "deadline"), deadline)
    d.find_element(By.NAME, "roster").send_keys(str(ROSTER))
    click_and_load(d, button(d, "新建"))
    assert f"已创建收集任务（{len(units)} 个单位）" in flash(d)
    dashboard = d.current_url
    assert tile(d, "已报/应报") == f"0/{len(units)}" and tile(d, "未报") == str(len(units))
    assert deadline in body_text(d)

    click_and_load(d, button(d, "生成全部填报工作簿"))
    assert f"已生成 {len(units)} 个单位的填报工作簿" in flash(d)

    # -- one unit's workbook, downloaded by the browser -------------------------------------------
    click_and_load(d, d.find_element(By.LINK_TEXT, code_a))
    assert d.find_element(By.TAG_NAME, "h1").text.startswith(f"{code_a} {name_a}")
    link(d, "下载本单位的填报工作簿").click()
    template = wait_download(downloads, ".xlsx")
    clean_console(d, "the unit page after the download")

    camp_dir = next(p for p in server.root.iterdir() if p.is_dir() and (p / "campaign.toml").is_file())
    camp = Campaign(camp_dir)
    try:
        form, year, office_info = camp.form, camp.year, camp.office_info
        unit_a, unit_b = camp.unit(code_a), camp.unit(code_b)
    finally:
        camp.close()
    assert template.name == workbook_filename(unit_a, year)

    # -- the clerk types the report in LibreOffice: first with a balance error --------------------
    clean = sample_values(form, unit_a.name, unit_a.type, year, seed=7)
    v1 = dict(clean)
    v1["s3.r1_open.natural"] = clean["s3.r1_open.natural"] + 1  # 一、予以公开 one too many: 三 does not balance
    v2 = dict(clean)  # corrected, but the text says there was no review while 四 counts one
    v2["s4.review.upheld"] = 1
    v2["s1.supervision"] = f"建立工作责任制。本年度未发生因政府信息公开工作被申请行政复议{SCRIPT}的情况。"
    work = tmp_path / "clerk"
    work.mkdir()
    (work / "v1").mkdir()
    (work / "v2").mkdir()
    (work / "v3").mkdir()
    ret1 = fill(office_lo, template, work / "v1" / template.name, form, v1)
    ret2 = fill(
        office_lo,
        ret1,
        work / "v2" / template.name,
        form,
        {k: v2[k] for k in ("s3.r1_open.natural", "s4.review.upheld", "s1.supervision")},
    )
    ret3 = fill(
        office_lo,
        ret2,
        work / "v3" / template.name,
        form,
        {k: clean[k] for k in ("s4.review.upheld", "s1.supervision")},
    )
    errors1 = [f for f in check_file(ret1).findings if f.severity == "error"]
    assert errors1 and {f.rule_id for f in errors1} == {"E-T3-BAL"}
    # a second unit's clean return, as the generator prefills it
    data_b, _ = build_workbook(
        form, unit_b, year, prefill=sample_values(form, unit_b.name, unit_b.type, year, seed=7), office=office_info
    )
    ret_b = work / workbook_filename(unit_b, year)
    ret_b.write_bytes(data_b)

    # -- the office uploads both (app.js: one request per file, with progress) ---------------------
    click_and_load(d, link(d, "上传报告"))
    rows = upload_with_app_js(d, [ret1, ret_b])
    assert ret1.name in rows[0] and "有错误" in rows[0] and f"{code_a} 第 1 版" in rows[0], rows
    assert ret_b.name in rows[1] and "通过" in rows[1] and f"{code_b} 第 1 版" in rows[1], rows
    assert f"已报 2/{len(units)}" in d.find_element(By.CSS_SELECTOR, "#result-rows tr.summary").text

    # the finding, with its cells, on the unit page
    first_row = d.find_elements(By.CSS_SELECTOR, "#result-rows tr:not(.summary)")[0]
    click_and_load(d, first_row.find_element(By.LINK_TEXT, "查看问题"))
    assert d.find_element(By.TAG_NAME, "h1").text.startswith(f"{code_a} {name_a}")
    findings = d.find_element(By.CSS_SELECTOR, "table.findings").text
    for f in errors1:
        assert "E-T3-BAL" in findings and "、".join(f.locations) in findings, (f.locations, findings)
        assert f.locations[0].split("!")[0] in [h.text for h in d.find_elements(By.TAG_NAME, "h3")]
    assert "第 1 版的问题（错误 %d，警告 0）" % len(errors1) in body_text(d)

    # the dashboard counts it; the 有错误 filter (htmx) shows just that unit
    go(d, dashboard)
    assert tile(d, "已报/应报") == f"2/{len(units)}"
    assert tile(d, "有错误") == "1" and tile(d, "通过") == "1" and tile(d, "未报") == str(len(units) - 2)
    d.find_element(By.XPATH, "//label[contains(@class,'chip')][starts-with(normalize-space(.), '有错误')]").click()
    wait(d).until(lambda dr: dr.find_element(By.CSS_SELECTOR, "#units p.muted").text == "显示 1 个单位")
    assert [a.text for a in d.find_elements(By.CSS_SELECTOR, "#units tbody tr td:first-child a")] == [code_a]
    clean_console(d, "the dashboard after filtering")

    # -- a return with only a warning; its quoted text is shown, never run; accepted with a reason -
    click_and_load(d, link(d, "上传报告"))
    rows = upload_with_app_js(d, [ret2])
    assert "有警告" in rows[0] and f"{code_a} 第 2 版" in rows[0], rows
    click_and_load(
        d, d.find_elements(By.CSS_SELECTOR, "#result-rows tr:not(.summary)")[0].find_element(By.LINK_TEXT, "查看问题")
    )
    no_alert(d)
    text = body_text(d)
    assert "第 2 版的问题（错误 0，警告 1）" in text and "W-TXT-REVIEW" in text
    assert SCRIPT in text  # the literal text, visible
    assert not d.find_elements(By.XPATH, "//script[contains(., 'alert(1)')]")
    d.find_element(By.NAME, "note").send_keys(REASON)
    click_and_load(d, button(d, "确认并锁定第 2 版"))
    no_alert(d)
    assert f"已确认并锁定 {name_a} 第 2 版（1 个警告）" in flash(d)
    assert REASON in d.find_element(By.CSS_SELECTOR, "td.note").text
    assert "已确认" in d.find_element(By.CSS_SELECTOR, "tr.selected").text
    steps = d.find_element(By.ID, "steps").text  # the trail: who accepted, with the reason
    assert "确认并锁定" in steps and USER in steps and REASON in steps

    go(d, dashboard)
    assert tile(d, "已报/应报") == f"2/{len(units)}" and tile(d, "有错误") == "0"
    assert tile(d, "通过") == "2" and "含已确认 1" in d.find_element(By.CSS_SELECTOR, ".tiles .tile.ok span").text

    # -- the unit's own link, in a fresh browser without the office's cookies ----------------------
    click_and_load(d, d.find_element(By.LINK_TEXT, code_a))
    unit_page = d.current_url
    unit_link = d.find_element(By.ID, "unit-link").get_attribute("href")
    assert d.find_element(By.CSS_SELECTOR, "input.link-box").get_attribute("value") == unit_link
    assert "本机地址（127.0.0.1）" in body_text(d)  # no unit can open a 127.0.0.1 link: said so

    unit_downloads = tmp_path / "unit-downloads"
    unit_downloads.mkdir()
    u = chrome(unit_downloads)
    try:
        go(u, unit_link)
        assert f"{name_a}：{year} 年政府信息公开工作年度报告" in u.find_element(By.TAG_NAME, "h1").text
        assert OFFICE in body_text(u) and "退出" not in body_text(u)

        def only_own_data():
            page = u.page_source
            others = [(c, n) for c, n in units if c != code_a and (c in page or n in page)]
            assert not others, f"the unit's page shows other units: {others}"
            # and leads nowhere but to itself (not to the office's pages, which would ask for a login)
            links = [a.get_attribute("href") for a in u.find_elements(By.TAG_NAME, "a")]
            assert all(h.startswith(unit_link) for h in links), links
            assert not u.find_elements(By.CSS_SELECTOR, "tr.summary") and "应报" not in body_text(u)  # no totals

        only_own_data()
        no_alert(u)
        assert SCRIPT in body_text(u)  # its own warning, as text
        link(u, "下载工作簿").click()
        got = wait_download(unit_downloads, ".xlsx")
        assert got.name == template.name and got.read_bytes() == template.read_bytes()

        u.find_element(By.NAME, "files").send_keys(str(ret3))
        click_and_load(u, button(u, "上传并校验"))
        no_alert(u)
        text = body_text(u)
        assert "第 3 版的校验结果：通过（错误 0，警告 0）" in text, text
        assert "✓ 通过" in u.find_element(By.ID, "results").text
        # the office had accepted version 2: the new one waits for the office, it does not replace it
        assert "正等待收集单位审核" in u.find_element(By.ID, "held").text
        only_own_data()
        # an error leads the unit back to its own page; a dead link leads nowhere
        go(u, unit_link + "/v/99/feedback", allow=("404 (Not Found)",))
        assert "没有第 99 版" in body_text(u)
        assert [a.get_attribute("href") for a in u.find_elements(By.CSS_SELECTOR, "main a")] == [unit_link]
        go(u, unit_link + "x", allow=("404 (Not Found)",))
        assert "链接无效或已停用" in body_text(u) and not u.find_elements(By.CSS_SELECTOR, "main a")
        go(u, dashboard)  # the link opens the unit's page, not the office's
        assert "/login" in u.current_url
    finally:
        u.quit()

    # -- the office sees version 3 held, reopens with it; every version, the change between the two -
    go(d, unit_page)
    assert "待审核，未替换当前版" in d.find_element(By.XPATH, "//tr[td/a[text()='第 3 版']]").text
    click_and_load(d, d.find_element(By.LINK_TEXT, "第 3 版"))
    d.find_element(By.CSS_SELECTOR, "#reopen textarea[name=reason]").send_keys("单位更正了正文表述，采用第 3 版")
    click_and_load(d, button(d, "重新打开并采用第 3 版"))
    no_alert(d)
    go(d, unit_page)
    assert [td.text for td in d.find_elements(By.CSS_SELECTOR, "tr.selected td")][:1] == ["第 3 版（当前）"]
    assert "通过" in d.find_element(By.CSS_SELECTOR, "tr.selected").text
    click_and_load(d, button(d, "逐格比较"))
    diff = body_text(d)
    assert "第 2 版 → 第 3 版" in diff and SCRIPT in diff
    no_alert(d)
    go(d, dashboard)
    assert tile(d, "已报/应报") == f"2/{len(units)}" and tile(d, "通过") == "2"
    assert "含已确认 0" in d.find_element(By.CSS_SELECTOR, ".tiles .tile.ok span").text
    row_a = d.find_element(By.XPATH, f"//tr[td/a[text()='{code_a}']]").text
    assert "通过" in row_a and " 3 " in f" {row_a} "

    # -- the other office pages open without console errors -----------------------------------------
    for page in ("/upload", "/report", "/mail"):
        go(d, dashboard.rstrip("/") + page)
    d.find_element(By.XPATH, "//input[@name='kind'][@value='remind']").click()
    click_and_load(d, button(d, "预览"))
    assert "预览：共" in body_text(d)
    go(d, url + "/accounts")

    # -- the audit of a published report: an unreadable file says so (never "no problems") ---------
    go(d, url + "/audit")
    bad = tmp_path / "已发布报告.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    d.find_element(By.NAME, "file").send_keys(str(bad))
    click_and_load(d, button(d, "审查"))
    result = d.find_element(By.ID, "result").text
    assert f"无法审查：{bad.name}" in result and "没有发现问题" not in result and "/tmp" not in result, result
    d.find_element(By.NAME, "file").send_keys(str(SEED))
    click_and_load(d, button(d, "审查"))
    result = d.find_element(By.ID, "result").text
    assert "政府信息公开工作年度报告" in result.splitlines()[0] and "W-TXT-" in result, result

    # -- logged out in another tab: a filter (htmx) goes to the login page, an upload (app.js) says so -
    go(d, dashboard)
    d.delete_all_cookies()
    d.find_element(By.XPATH, "//label[contains(@class,'chip')][starts-with(normalize-space(.), '通过')]").click()
    wait(d).until(lambda dr: "/login" in dr.current_url)
    clean_console(d, "the login page after a logged-out filter", allow=("401 (Unauthorized)",))
    d.find_element(By.NAME, "username").send_keys(USER)
    d.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_and_load(d, button(d, "登录"))
    assert d.current_url == dashboard
    click_and_load(d, link(d, "上传报告"))
    d.delete_all_cookies()
    d.find_element(By.ID, "files").send_keys(f"{ret3}\n{ret_b}")
    d.find_element(By.ID, "upload-btn").click()
    wait(d).until(lambda dr: "已停止" in dr.find_element(By.ID, "progress").text)
    rows = d.find_elements(By.CSS_SELECTOR, "#result-rows tr")
    assert len(rows) == 1 and "登录已过期" in rows[0].text and "未登记" in rows[0].text, [r.text for r in rows]
    assert not d.find_elements(By.CSS_SELECTOR, "#result-rows form, #result-rows header")  # no login page inside
    assert "2 个文件未上传" in d.find_element(By.ID, "progress").text
    clean_console(d, "the upload page after a logged-out upload", allow=("401 (Unauthorized)",))
