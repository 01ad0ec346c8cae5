"""Helpers for driving the web app as a person would: ``gkxlsx serve`` as a real server process and a
real headless Chromium through selenium (tests/test_web_browser.py, examples/pictures/web).

Without Chromium, chromedriver or selenium the browser tests are skipped — except under CI=true,
where a missing browser is a failure, never a skip (the pattern of ``gkxlsx.office.lo``).
Environment overrides: ``GKXLSX_CHROMIUM`` (browser binary), ``GKXLSX_CHROMEDRIVER`` (driver).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WINDOW = (1366, 768)


def find_chromium() -> str | None:
    env = os.environ.get("GKXLSX_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def find_chromedriver() -> str | None:
    env = os.environ.get("GKXLSX_CHROMEDRIVER")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("chromedriver")


def unavailable_reason() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if find_chromium() is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    if find_chromedriver() is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    return None


def require_or_skip() -> None:
    """Skip when the browser is missing, but fail when CI == "true"."""
    why = unavailable_reason()
    if why is None:
        return
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {why} — CI must install chromium and chromium-driver", pytrace=False)
    pytest.skip(f"browser tests skipped: {why}", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m gkxlsx serve ROOT`` of this checkout on 127.0.0.1 and a free port."""

    def __init__(self, root: Path, log: Path):
        self.root, self.log = Path(root), Path(log)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def setup_code(self) -> str:
        """The one-time start code, as the office reads it in the window running ``gkxlsx serve``."""
        import re

        m = re.search(r"启动码 ([0-9A-Z]{8})", self.output())
        assert m, "gkxlsx serve did not print a start code:\n" + self.output()
        return m.group(1)

    def start(self, timeout: float = 40.0) -> Server:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gkxlsx",
                    "serve",
                    str(self.root),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.root),
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.output()}")
            try:
                urllib.request.urlopen(self.url + "/login", timeout=2).close()
                return self
            except urllib.error.HTTPError:
                return self  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.output()}") from None
                time.sleep(0.1)

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def serving(root: Path, log: Path) -> Iterator[Server]:
    server = Server(root, log).start()
    try:
        yield server
    finally:
        server.stop()


def chrome(download_dir: Path | None = None, lang: str = "zh-CN"):
    """A headless Chromium with a fresh profile (no cookies), a 1366×768 window, its console kept
    for ``get_log("browser")`` and downloads saved to ``download_dir`` without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = find_chromium() or "chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--lang={lang}",
    ):
        opts.add_argument(arg)
    prefs: dict = {"intl.accept_languages": lang}
    if download_dir is not None:
        prefs.update(
            {
                "download.default_directory": str(download_dir),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
                "safebrowsing.enabled": False,
            }
        )
    opts.add_experimental_option("prefs", prefs)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(find_chromedriver() or "chromedriver"))
    driver.set_page_load_timeout(60)
    if download_dir is not None:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def fit_viewport(driver, width: int = WINDOW[0], height: int = WINDOW[1]) -> None:
    """Make the page's viewport (not the window with its frame) width × height CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def wait_download(folder: Path, suffix: str, timeout: float = 30.0) -> Path:
    """The file the browser finished downloading into ``folder`` (no partial .crdownload left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        partial = [p for p in folder.iterdir() if p.name.endswith(".crdownload")]
        if done and not partial:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded into {folder} within {timeout:.0f} s: {os.listdir(folder)}")
