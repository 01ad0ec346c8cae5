"""Fetching returns from a real IMAPS server on loopback: Debian's dovecot, configured in a temporary
folder and started by the test (``dovecot -F -c conf``).  Skipped only when dovecot is not installed
and CI is not "true" (.ci/run installs dovecot-imapd)."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from _mail_helpers import client_mail, free_port, make_campaign, returned_workbook, self_signed_cert
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import CONFIG, Campaign, write_config
from gkxlsx.cli import app
from gkxlsx.mail.mail import MailError, fetch_from_imap, fetch_imap, imap_utf7

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
USER, PASSWORD = "office", "imap-s3cret"
FOLDER = "报送"  # a Chinese folder name: modified UTF-7 on the wire


def _need_dovecot():
    if DOVECOT is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is not installed (apt-get install -y dovecot-imapd); under CI every test must run")
        pytest.skip("dovecot is not installed (apt-get install -y dovecot-imapd)")


CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = gkxlsx-test-{port}
log_path = {d}/dovecot.log
mail_location = maildir:{d}/mail/%u
ssl = required
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 0
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def dovecot():
    """A running dovecot: (port, cafile).  Runs as root with mail owned by nobody (dovecot refuses
    root mail processes), or as the current user when not root."""
    _need_dovecot()
    # not under pytest's tmp_path: its 0700 parents would keep the unprivileged mail user out
    d = Path(tempfile.mkdtemp(prefix="gkxlsx-dovecot-"))
    os.chmod(d, 0o755)
    pair = self_signed_cert(d)
    if pair is None:
        shutil.rmtree(d, ignore_errors=True)
        if os.environ.get("CI") == "true":
            pytest.fail("cannot make a test certificate (neither cryptography nor openssl)")
        pytest.skip("cannot make a test certificate (neither cryptography nor openssl)")
    (d / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (d / "mail").mkdir()
    if os.geteuid() == 0:
        uid, gid = (
            pwd.getpwnam("nobody").pw_uid,
            grp.getgrnam("nogroup").gr_gid if _has_group("nogroup") else pwd.getpwnam("nobody").pw_gid,
        )
        os.chown(d / "mail", uid, gid)
        users = ""
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {grp.getgrgid(gid).gr_name}\n"
    port = free_port()
    conf = d / "dovecot.conf"
    conf.write_text(CONF.format(d=d, port=port, uid=uid, gid=gid, users=users))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                log = (d / "dovecot.log").read_text() if (d / "dovecot.log").exists() else ""
                pytest.fail(
                    f"dovecot exited with {proc.returncode}: {proc.stdout.read().decode(errors='replace')}\n{log}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("dovecot did not start listening within 20 s")
                time.sleep(0.1)
        yield port, pair[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _client(port, cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    M = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    M.login(USER, PASSWORD)
    return M


def _folder_state(port, cafile, folder):
    """(number of messages, flags of each) as the server holds them."""
    M = _client(port, cafile)
    try:
        typ, _ = M.select('"' + imap_utf7(folder) + '"', readonly=True)
        assert typ == "OK"
        _, data = M.search(None, "ALL")
        nums = data[0].split()
        flags = []
        for n in nums:
            _, f = M.fetch(n, "(FLAGS)")
            flags.append(imaplib.ParseFlags(f[0]))
        return len(nums), flags
    finally:
        M.logout()


@pytest.fixture
def loaded(dovecot, tmp_path):
    """A campaign, and a fresh IMAP folder holding the units' replies (appended over IMAP)."""
    port, cafile = dovecot
    camp = make_campaign(tmp_path, n=3, generate=False)
    folder = f"{FOLDER}{tmp_path.name[-12:]}"
    wb = {c: returned_workbook(camp, c) for c in ("SLX001", "SLX002", "SLX003")}
    u1, u2, u3 = (camp.unit(c) for c in ("SLX001", "SLX002", "SLX003"))
    mails = [
        client_mail(
            "u1@test.example",
            "城关镇年报",
            [(f"{u1.code}_{u1.name}_年报.xlsx", wb["SLX001"])],
            message_id="<i1@client.test>",
        ),
        client_mail(
            "u2@test.example",
            "两个单位的年报",
            [(f"{u2.name}.xlsx", wb["SLX002"]), (f"{u3.name}.xlsx", wb["SLX003"])],
            style="thunderbird",
            message_id="<i2@client.test>",
        ),
        client_mail("u3@test.example", "稍后报送", [], message_id="<i3@client.test>"),
    ]
    M = _client(port, cafile)
    try:
        typ, _ = M.create('"' + imap_utf7(folder) + '"')
        assert typ == "OK"
        for m in mails:
            typ, _ = M.append('"' + imap_utf7(folder) + '"', None, None, m)
            assert typ == "OK"
    finally:
        M.logout()
    cfg = {k: dict(v) for k, v in camp.config.items()}
    cfg["mail"].update(
        imap_host="127.0.0.1",
        imap_port=port,
        imap_folder=folder,
        user=USER,
        ca_file=str(cafile),
        password_env="TEST_IMAP_PW",
    )
    root = camp.root
    camp.close()
    write_config(root / CONFIG, cfg)
    camp = Campaign(root)
    yield camp, port, cafile, folder
    camp.close()


def test_imap_fetch_imports_once_and_leaves_the_mailbox_untouched(loaded):
    camp, port, cafile, folder = loaded
    before = _folder_state(port, cafile, folder)
    assert before[0] == 3 and all("\\Seen" not in f for f in before[1])
    rep = fetch_from_imap(camp, PASSWORD)
    kinds = {m.message_id: m.kind for m in rep.mails}
    assert kinds == {
        "<i1@client.test>": "imported",
        "<i2@client.test>": "imported",
        "<i3@client.test>": "no_attachment",
    }
    new = sorted(o.unit_code for o in rep.outcomes if o.kind == "new")
    assert new == ["SLX001", "SLX002", "SLX003"]  # the mail with two workbooks gave both
    assert all(m.origin.startswith(f"IMAP {folder} UID") for m in rep.mails)
    # nothing deleted, moved or even marked read
    assert _folder_state(port, cafile, folder) == before
    # a second fetch downloads nothing new and imports nothing
    again = fetch_from_imap(camp, PASSWORD)
    assert again.mails == [] and again.outcomes == []
    assert camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 3
    assert _folder_state(port, cafile, folder) == before


def test_imap_new_mail_after_a_fetch_is_picked_up(loaded):
    camp, port, cafile, folder = loaded
    fetch_from_imap(camp, PASSWORD)
    wb = returned_workbook(camp, "SLX001", seed=9)  # a corrected version
    M = _client(port, cafile)
    M.append(
        '"' + imap_utf7(folder) + '"',
        None,
        None,
        client_mail("u1@test.example", "修改后的年报", [("年报（修改）.xlsx", wb)], message_id="<i4@client.test>"),
    )
    M.logout()
    rep = fetch_from_imap(camp, PASSWORD)
    assert [m.message_id for m in rep.mails] == ["<i4@client.test>"]
    assert camp.ledger.current("SLX001").version == 2
    assert _folder_state(port, cafile, folder)[0] == 4


def test_cli_fetch_imap_with_password_from_environment(loaded):
    camp, port, cafile, folder = loaded
    runner = CliRunner()
    r = runner.invoke(app, ["fetch", "--imap", "-C", str(camp.root)], env={"TEST_IMAP_PW": PASSWORD})
    assert r.exit_code == 0, r.output
    assert "只读" in r.output and "登记报送 3 份" in r.output and "— 无附件" in r.output
    bad = runner.invoke(app, ["fetch", "--imap", "-C", str(camp.root)], env={"TEST_IMAP_PW": "wrong"})
    assert bad.exit_code == 2 and "登录收件服务器" in bad.output and "授权码" in bad.output
    nopw = runner.invoke(app, ["fetch", "--imap", "-C", str(camp.root)], env={"TEST_IMAP_PW": ""})
    assert nopw.exit_code == 2 and "TEST_IMAP_PW" in nopw.output


def test_imap_errors_are_clear(dovecot):
    port, cafile = dovecot
    with pytest.raises(MailError, match="证书无法验证"):
        list(fetch_imap("127.0.0.1", port, USER, PASSWORD, "INBOX"))  # the system CAs do not know the test cert
    ctx = ssl.create_default_context(cafile=str(cafile))
    with pytest.raises(MailError, match="没有文件夹“不存在的文件夹”"):
        list(fetch_imap("127.0.0.1", port, USER, PASSWORD, "不存在的文件夹", ssl_context=ctx))
    with pytest.raises(MailError, match="无法连接收件服务器"):
        list(fetch_imap("127.0.0.1", free_port(), USER, PASSWORD, "INBOX", ssl_context=ctx))


def test_imap_utf7_folder_names():
    assert imap_utf7("INBOX") == "INBOX"
    assert imap_utf7("收件箱") == "&ZTZO9nux-"
    assert imap_utf7("A&B") == "A&-B"
