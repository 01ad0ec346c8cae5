"""Hostile and unlucky machines: a full disk, an import killed with SIGKILL, a campaign used from
several folders, a LibreOffice without Writer.  Every command answers in Chinese, exits non-zero,
prints no traceback and loses nothing already stored.

The full disk is real: a small tmpfs mounted for the test (root only; outside CI a machine that
cannot mount one skips, under CI=true that is a failure)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gkxlsx.campaign.campaign import Campaign, import_files, init_campaign
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.fsutil import stale_temps, temp_name, zombie
from gkxlsx.workbook.generate import build_workbook
from tests._pg import both_backends

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "roster.csv"
CI = os.environ.get("CI") == "true"


def make_return(camp: Campaign, code: str, out: Path, seed: int = 1) -> Path:
    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    p = out / workbook_filename(u, camp.year)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def gkxlsx(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run the command line in its own process (a real full disk, a real exit)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "gkxlsx", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def ledger_dump(db: Path) -> list[tuple]:
    """Everything the ledger holds (read without writing anything, the disk may be full)."""
    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    try:
        return [
            *conn.execute("SELECT * FROM submissions ORDER BY id"),
            *conn.execute("SELECT * FROM quarantine ORDER BY id"),
            *conn.execute("SELECT * FROM meta ORDER BY key"),
        ]
    finally:
        conn.close()


def files_under(folder: Path) -> set[str]:
    """The files in ``folder`` but SQLite's own (-wal, -shm: a failed open may leave them empty)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


# --------------------------------------------------------------------------------------------
# a full disk


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    why = ""
    if shutil.which("mount") is None:
        why = "没有 mount 命令"
    else:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
        if r.returncode != 0:
            why = r.stderr.decode(errors="replace").strip() or "mount 失败"
    if why:
        msg = f"无法挂载 tmpfs 模拟磁盘已满（需要 root）：{why}"
        if CI:
            pytest.fail(msg + "（CI 环境必须能挂载）", pytrace=False)
        pytest.skip(msg)


def _fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        block = b"\0" * 4096
        while True:
            os.write(fd, block)
    except OSError as e:
        assert e.errno == 28, e  # ENOSPC
    finally:
        os.close(fd)
    try:  # the last few bytes too
        with open(disk / "filler2", "wb", buffering=0) as f:
            while True:
                f.write(b"\0")
    except OSError:
        pass


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """A campaign on a disk that is full: four returns imported, one unit accepted-able."""
    disk = tmp_path_factory.mktemp("disk") / "mnt"
    _mount_tmpfs(disk, "6m")
    try:
        camp = init_campaign(disk / "c", year=2025, roster=ROSTER, office="示例县人民政府办公室")
        src = tmp_path_factory.mktemp("returns")
        files = [make_return(camp, u.code, src, seed=i) for i, u in enumerate(camp.units()[:4])]
        assert [o.kind for o in import_files(camp, files)] == ["new"] * 4
        camp.close()
        _fill(disk)
        yield disk / "c"
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


FULL_DISK_COMMANDS = {
    "status --xlsx": (["status", "--xlsx", "{c}/报告/报送情况.xlsx"], "文件 {c}/报告/报送情况.xlsx"),
    "status --html": (["status", "--html", "{c}/报告/报送情况.html"], "文件 {c}/报告/报送情况.html"),
    "aggregate": (["aggregate"], "文件 {c}/报告/2025年度汇总_示例县人民政府办公室.xlsx"),
    "render": (["render", "--all", "--to", "html,txt,docx"], "文件 {c}/报告/SLX001_"),
    "accept": (["accept", "SLX001", "--note", "已核实"], "账本（ledger.sqlite）"),
    "generate": (["generate", "--quiet"], "文件 {c}/模板/SLX001_"),
}


@pytest.mark.parametrize("name", list(FULL_DISK_COMMANDS))
def test_full_disk_commands_say_so_and_lose_nothing(full_disk, name):
    args, names = FULL_DISK_COMMANDS[name]
    c = str(full_disk)
    before, listing = ledger_dump(full_disk / "ledger.sqlite"), files_under(full_disk)
    r = gkxlsx(*[a.format(c=c) for a in args], "-C", c)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout and "Exception" not in r.stderr, r.stderr
    assert f"无法写入{names.format(c=c)}" in r.stderr, r.stderr
    assert "磁盘已满" in r.stderr and "请腾出磁盘空间后重试" in r.stderr, r.stderr
    assert ledger_dump(full_disk / "ledger.sqlite") == before  # nothing stored lost, nothing half-written
    assert files_under(full_disk) == listing  # no file under its final name, no temporary file left


def test_full_disk_status_still_shows_what_is_stored(full_disk):
    r = gkxlsx("status", "-C", str(full_disk))
    assert r.returncode == 0, r.stderr
    assert "已报 4/12" in r.stdout and "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------------
# an import killed with SIGKILL; a campaign used from several folders


def _archive_temps(camp_root: Path) -> list[Path]:
    return sorted((camp_root / "原件归档").rglob("*.tmp"))


@pytest.fixture(scope="module")
def many_returns(tmp_path_factory):
    """200 distinct returns of the twelve units (versions with different figures)."""
    base = tmp_path_factory.mktemp("many")
    proto = init_campaign(tmp_path_factory.mktemp("proto") / "c", year=2025, roster=ROSTER)
    units = proto.units()
    paths = [make_return(proto, units[i % 12].code, base / f"v{i // 12:02d}", seed=1000 + i) for i in range(200)]
    proto.close()
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}) == 200
    return base


@both_backends
def test_killed_import_leaves_no_stale_temp_and_a_consistent_ledger(many_returns, tmp_path, ledger_db):
    camp = init_campaign(tmp_path / "c", year=2025, roster=ROSTER, db=ledger_db)
    root = camp.root
    camp.close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gkxlsx", "import", "-C", str(root), "--jobs", "2", str(many_returns)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    archive = root / "原件归档"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if sum(1 for _ in archive.rglob("*.xlsx")) >= 40:  # well into the batch
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the import and its workers
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    # what a kill in the middle of archive_file leaves (the dead process's own temporary names)
    sha = "ab" * 32
    (archive / "ab").mkdir(exist_ok=True)
    left = [
        archive / "ab" / f".{sha}.xlsx.{proc.pid}.{time.monotonic_ns()}.tmp",
        archive / "ab" / f".{sha}.bin.{proc.pid}.{time.monotonic_ns()}.tmp",
    ]
    keep = [
        archive / "ab" / f".{sha}.xlsx.{os.getpid()}.{time.monotonic_ns()}.tmp",  # a live process's
        archive / "ab" / "说明.tmp",  # not ours
    ]
    past = time.time() - 60
    for p in left + keep:
        p.write_bytes(b"PK\x03\x04 half")
        os.utime(p, (past, past))
    ours = [p for p in _archive_temps(root) if p not in keep]
    assert set(left) <= set(ours)

    r = gkxlsx("import", "-C", str(root), str(many_returns), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _archive_temps(root) == sorted(keep)
    camp = Campaign(root)
    assert camp.ledger.integrity() == []  # every row's archived file exists with its sha256
    rows = camp.ledger.all_submissions()
    assert len(rows) == 200
    for row in rows:
        p = Path(row["archive_path"])
        assert hashlib.sha256(p.read_bytes()).hexdigest() == row["sha256"]
    # the archive holds no file the ledger does not know, but for the ones put there above
    known = {Path(row["archive_path"]).name for row in rows}
    stray = {p.name for p in archive.rglob("*") if p.is_file()} - known - {p.name for p in keep}
    assert stray == set(), stray
    camp.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are seen through Linux's /proc")
def test_a_killed_workers_temp_is_stale_before_it_is_reaped(tmp_path):
    """A killed import's worker is an orphan that only init reaps (some every second or two, some
    never): until then it is a zombie, which kill(pid, 0) finds, yet it will never finish its file."""
    folder = tmp_path / "ab"
    folder.mkdir()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: a temporary name of its own, then killed mid-write
        try:
            tmp = temp_name(folder / f"{'ab' * 32}.xlsx")
            tmp.write_bytes(b"PK\x03\x04 half")
            os.write(w, b"x")
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    try:
        os.close(w)
        assert os.read(r, 1) == b"x"
        os.close(r)
        while not zombie(pid):  # dead, not reaped
            time.sleep(0.001)
        (tmp,) = folder.iterdir()
        os.utime(tmp, (time.time() - 60,) * 2)
        assert list(stale_temps(folder, time.time())) == [tmp]
    finally:
        os.waitpid(pid, 0)


def test_archived_paths_do_not_depend_on_the_folder_import_ran_in(tmp_path, many_returns):
    a, b, c = (tmp_path / n for n in ("a", "b", "c"))
    for d in (a, b, c):
        d.mkdir()
    camp = init_campaign(tmp_path / "任务", year=2025, roster=ROSTER)
    camp.close()
    first, second = many_returns / "v00", many_returns / "v01"
    assert gkxlsx("import", "-C", "../任务", str(first), cwd=a).returncode == 0
    assert gkxlsx("import", str(second), cwd=tmp_path / "任务" / "报告").returncode == 0  # found from below
    conn = sqlite3.connect(tmp_path / "任务" / "ledger.sqlite")
    stored = [r[0] for r in conn.execute("SELECT archive_path FROM submissions")]
    conn.close()
    assert len(stored) == 24 and all(s.startswith("原件归档/") and not os.path.isabs(s) for s in stored), stored
    # status and the originals from a third folder, the campaign named another way
    r = gkxlsx("status", "SLX001", "-C", "../任务", cwd=c)
    assert r.returncode == 0 and "第 2 版（当前）" in r.stdout, r.stdout + r.stderr
    old = os.getcwd()
    os.chdir(c)
    try:
        camp = Campaign(Path("../任务"))
        for code in ("SLX001", "SLX200"):
            for sub in camp.ledger.history(code):
                assert hashlib.sha256(Path(sub.archive_path).read_bytes()).hexdigest() == sub.sha256
        assert camp.ledger.integrity() == []
        # a row written before (a path relative to where that import ran) is still found
        sub = camp.ledger.current("SLX001")
        legacy = f"elsewhere/任务/原件归档/{sub.sha256[:2]}/{Path(sub.archive_path).name}"
        camp.ledger.conn.execute("UPDATE submissions SET archive_path=? WHERE id=?", (legacy, sub.id))
        again = camp.ledger.current("SLX001")
        assert Path(again.archive_path).read_bytes() == Path(sub.archive_path).read_bytes()
        assert camp.ledger.integrity() == []
        camp.close()
    finally:
        os.chdir(old)


# --------------------------------------------------------------------------------------------
# LibreOffice with Calc and without Writer


WRITER_FILES = ("libsw", "libwriter", "libmsword", "libhwp", "liblwpft", "libt602", "libvbasw", "libwpftwriter")
WRITER_NAMES = ("swriter", "pagein-writer")


def calc_only_libreoffice(dst: Path) -> Path:
    """A copy of this machine's LibreOffice installation without its Writer component — what the
    packages libreoffice-calc without libreoffice-writer install (Debian, UOS, Kylin): the
    installation folder linked file by file, minus Writer's libraries and its registry
    (writer.xcd).  Its soffice fails the way a Calc-only one does: ``soffice --convert-to pdf
    x.docx`` prints "Error: source file could not be loaded"."""
    from gkxlsx.office import lo

    soffice = lo.find_soffice()
    real = Path(os.path.realpath(soffice)).parent.parent if soffice else None
    if real is None or not (real / "program" / "fundamentalrc").is_file():
        msg = f"这台机器的 LibreOffice 不是可复制的 Linux 安装（{soffice}）"
        if CI:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    registries = {}
    for reg in ("registry", ".registry"):
        if (real / "share" / reg).is_dir():
            registries[reg] = (real / "share" / reg).resolve()
    rc = (real / "program" / "fundamentalrc").read_text(encoding="utf-8")
    dst.mkdir(parents=True)
    for e in real.iterdir():
        if e.name == "presets":  # copied into each new profile: LibreOffice refuses a link here
            shutil.copytree(e, dst / e.name, symlinks=False)
        elif e.name not in ("program", "share"):
            (dst / e.name).symlink_to(e.resolve())
    (dst / "program").mkdir()
    for e in (real / "program").iterdir():
        if e.name.startswith(WRITER_FILES) or e.name in WRITER_NAMES:
            continue
        if e.name == "fundamentalrc":  # its paths point at the real installation
            text = rc.replace(real.as_uri(), dst.as_uri())
            for reg, target in registries.items():
                text = text.replace(target.as_uri(), (dst / "share" / reg).as_uri())
            (dst / "program" / e.name).write_text(text, encoding="utf-8")
        elif e.name in ("soffice", "soffice.bin", "oosplash"):  # found by their own path: copies
            shutil.copy2(e, dst / "program" / e.name)
        else:
            (dst / "program" / e.name).symlink_to(e.resolve())
    (dst / "share").mkdir()
    for e in (real / "share").iterdir():
        if e.name in registries:
            (dst / "share" / e.name).mkdir()
            for x in registries[e.name].iterdir():
                if x.name != "writer.xcd":
                    (dst / "share" / e.name / x.name).symlink_to(x)
        else:
            (dst / "share" / e.name).symlink_to(e.resolve())
    return dst / "program" / "soffice"


@pytest.fixture(scope="module")
def calc_only(tmp_path_factory):
    from gkxlsx.office import lo

    lo.require_or_skip()
    soffice = calc_only_libreoffice(tmp_path_factory.mktemp("lo") / "libreoffice")
    env = {"GKXLSX_SOFFICE": str(soffice)}
    # really Calc without Writer: a spreadsheet converts, a Word document cannot be loaded
    work = tmp_path_factory.mktemp("probe")
    (work / "a.csv").write_text("1,2\n", encoding="utf-8")
    (work / "a.docx").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    for name in ("a.csv", "a.docx"):
        subprocess.run(
            [str(soffice), "--headless", f"-env:UserInstallation={(work / 'profile').as_uri()}"]
            + ["--convert-to", "pdf", "--outdir", str(work), str(work / name)],
            capture_output=True,
            timeout=180,
        )
    assert (work / "a.pdf").exists(), "the Calc-only copy cannot convert a spreadsheet"
    return env


@pytest.mark.lo
def test_render_pdf_without_writer_says_what_to_install_and_goes_on(calc_only, tmp_path):
    camp = init_campaign(tmp_path / "c", year=2025, roster=ROSTER, office="示例县人民政府办公室")
    files = [make_return(camp, code, tmp_path / "in", seed=3) for code in ("SLX001", "SLX002")]
    assert {o.status for o in import_files(camp, files)} == {"通过"}
    camp.close()
    out = tmp_path / "out"
    r = gkxlsx("render", "--all", "-C", str(tmp_path / "c"), "--to", "html,pdf,txt", "-o", str(out), env=calc_only)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "没有安装文字处理组件 Writer" in r.stderr and "apt-get install libreoffice-writer" in r.stderr, r.stderr
    assert r.stderr.count("apt-get install libreoffice-writer") == 1  # said once, not per unit
    assert "无法打开文件" not in r.stderr  # the file is not to blame
    made = sorted(p.name for p in out.iterdir())
    assert [n.rsplit(".", 1)[1] for n in made] == ["html", "txt", "html", "txt"], made  # both units, no PDF
    assert "共生成 4 个文件；2 份未生成 PDF" in r.stdout, r.stdout
    # the same with the Word document asked for: it is written, its PDF is not
    r = gkxlsx(
        "render", "SLX001", "-C", str(tmp_path / "c"), "--to", "word,pdf", "-o", str(tmp_path / "w"), env=calc_only
    )
    assert r.returncode == 1 and "apt-get install libreoffice-writer" in r.stderr, r.stderr
    assert [p.suffix for p in (tmp_path / "w").iterdir()] == [".docx"]


@pytest.mark.lo
def test_the_worker_reports_writer_missing(calc_only, tmp_path, monkeypatch):
    from gkxlsx.office import lo
    from gkxlsx.render import renderer

    monkeypatch.setenv("GKXLSX_SOFFICE", calc_only["GKXLSX_SOFFICE"])
    docx = tmp_path / "报告.docx"
    docx.write_bytes(
        renderer.render_docx_bytes(renderer.load_report_json(ROOT / "examples/report_data/cgz_chengguanzhen.json"))
    )
    with lo.LibreOffice() as office:
        assert office.has_writer() is False
        with pytest.raises(lo.LibreOfficeError) as e:
            office.convert(docx, "pdf", tmp_path)
        assert e.value.missing == "writer" and "apt-get install libreoffice-writer" in e.value.message
        with pytest.raises(renderer.PdfUnavailable, match="libreoffice-writer"):
            renderer.docx_to_pdf(docx, tmp_path / "pdf", office=office)
