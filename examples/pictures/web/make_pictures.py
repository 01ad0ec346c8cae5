"""Pictures of the web app (``gkxlsx serve``) as the office and a unit see it, on the demo campaign.

    python examples/pictures/web/make_pictures.py      # → examples/pictures/web/NN_<page>.png

A fresh demo campaign (``gkxlsx demo``) is made in a temporary folder and served by a real
``gkxlsx serve`` process; a headless Chromium (1366×768, an ordinary office screen) makes the first
account, logs out and in, uploads a few returns, and opens every page: login, dashboard, upload
with results, a unit's findings, the change between two versions, the unit's own page (through its
link, without the office's cookies), the mail preview, the roll-up and report, the audit of a
published report.  Each page's browser console must be clean (no CSP violation, no script error).
Needs Chromium and chromedriver (Debian: chromium, chromium-driver) and selenium; see
tests/_browser.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests"))  # the browser helpers shared with tests/test_web_browser.py

from _browser import chrome, fit_viewport, serving, unavailable_reason  # noqa: E402

USER, PASSWORD = "wangfang", "gongkai-2025!"
AUDITED = REPO / "tests" / "data" / "seeds" / "000_4e10bf6db70e4a46.txt"  # a real published report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="folder for the pictures (default: beside this script)")
    args = ap.parse_args()
    why = unavailable_reason()
    if why:
        print(f"cannot make the pictures: {why}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gkxlsx-web-pictures-") as tmp:
        root = Path(tmp) / "demo"
        returns = _demo(root, Path(tmp) / "returns")
        with serving(root, Path(tmp) / "server.log") as server:
            problems = _pictures(server.url, server.setup_code(), returns, args.out, Path(tmp) / "downloads")
            log = server.output()
    if "Traceback" in log:
        problems.append("the server logged an error:\n" + log)
    for p in problems:
        print("!", p, file=sys.stderr)
    return 1 if problems else 0


def _demo(root: Path, out: Path) -> list[Path]:
    """The demo campaign, and returns for the upload picture: the unit that had not reported, with a
    mistake; a clean late return; a file that is no report."""
    from gkxlsx.campaign.campaign import Campaign
    from gkxlsx.demo.demo import run_demo
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.workbook.generate import build_workbook

    run_demo(root, echo=lambda _s: None, render=False).close()
    out.mkdir(parents=True)
    camp = Campaign(root)
    try:
        files = []
        for code, broken in (("SLX104", True), ("SLX003", False)):
            u = camp.unit(code)
            v = sample_values(camp.form, u.name, u.type, camp.year, seed=11)
            if broken:
                v["s3.r1_open.natural"] = (v.get("s3.r1_open.natural") or 0) + 2
            data, _ = build_workbook(camp.form, u, camp.year, prefill=v, office=camp.office_info)
            p = out / workbook_filename(u, camp.year)
            if not broken:
                p = p.with_name(p.stem + "（修改后）.xlsx")
            p.write_bytes(data)
            files.append(p)
    finally:
        camp.close()
    stray = root / "收到的文件" / "会议通知回执.xlsx"
    files.append(out / stray.name)
    files[-1].write_bytes(stray.read_bytes())
    return files


def _pictures(url: str, setup_code: str, returns: list[Path], out: Path, downloads: Path) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    downloads.mkdir()
    problems: list[str] = []

    def console(d, where: str) -> None:
        for e in d.get_log("browser"):
            if e.get("level") == "SEVERE" or "Content Security Policy" in e.get("message", ""):
                problems.append(f"console on {where}: {e.get('message')}")

    def shot(d, name: str) -> None:
        """The page as a person sees it first (where the browser put it: the top, or a #fragment)."""
        time.sleep(0.3)
        console(d, name)
        d.save_screenshot(str(out / f"{name}.png"))
        print("saved", out / f"{name}.png")

    def submit(d, xpath: str) -> None:
        old = d.find_element(By.TAG_NAME, "html")
        d.find_element(By.XPATH, xpath).click()
        WebDriverWait(d, 60).until(lambda dr: _stale(old))

    d = chrome(downloads)
    try:
        fit_viewport(d)
        # first start: the account; then out, and the login page
        d.get(url + "/")
        d.find_element(By.NAME, "setup_code").send_keys(setup_code)
        d.find_element(By.NAME, "username").send_keys(USER)
        d.find_element(By.NAME, "password").send_keys(PASSWORD)
        d.find_element(By.NAME, "password2").send_keys(PASSWORD)
        submit(d, "//button[@type='submit']")
        submit(d, "//button[contains(., '退出')]")
        d.find_element(By.NAME, "username").send_keys(USER)
        d.find_element(By.NAME, "password").send_keys(PASSWORD)
        shot(d, "01_登录")
        submit(d, "//button[@type='submit']")

        shot(d, "02_总览")

        d.get(url + "/c/_/upload")
        d.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in returns))
        d.find_element(By.ID, "upload-btn").click()
        WebDriverWait(d, 120).until(lambda dr: "全部完成" in dr.find_element(By.ID, "progress").text)
        shot(d, "03_上传结果")

        d.get(url + "/c/_/u/SLX003?v=1")
        shot(d, "04_单位的问题")

        d.get(url + "/c/_/u/SLX002/diff?a=1&b=2")
        shot(d, "05_版本比较")

        d.get(url + "/c/_/u/SLX104")  # the unit that just sent a return with a mistake
        unit_link = d.find_element(By.ID, "unit-link").get_attribute("href")
        u = chrome()  # a fresh browser: the unit has no office account
        try:
            fit_viewport(u)
            u.get(unit_link)
            shot(u, "06_单位填报页")
        finally:
            u.quit()

        d.get(url + "/c/_/mail")
        d.find_element(By.XPATH, "//input[@name='kind'][@value='remind']").click()
        submit(d, "//button[contains(., '预览')]")
        shot(d, "07_邮件预览")

        d.get(url + "/c/_/report")
        shot(d, "08_汇总与报告")

        d.get(url + "/audit")
        d.find_element(By.NAME, "file").send_keys(str(AUDITED))
        submit(d, "//button[contains(., '审查')]")
        shot(d, "09_审查已发布报告")
    finally:
        d.quit()
    return problems


def _stale(element) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    return False


if __name__ == "__main__":
    raise SystemExit(main())
