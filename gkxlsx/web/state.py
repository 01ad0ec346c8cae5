"""What the web app keeps beside the campaigns: office accounts, unit links and the mail password.

Everything lives in one folder under the served root, ``.gkxlsx-web/``:

* ``secret.key`` (mode 0600): 32 random bytes made on first start.  Signs the session cookies,
  derives every unit's link and CSRF token, and encrypts the SMTP password.  Anyone who can read
  it can forge sessions — it is to the web app what the ledger file is to the CLI.
* ``web.sqlite`` (mode 0600): office accounts (argon2 hashes, never passwords), unit links (only
  the sha256 of each link's token, so a stolen database opens no unit's page), settings (the SMTP
  password Fernet-encrypted with a key derived from ``secret.key``), open office sessions (the
  sha256 of each session id: a signed cookie is only good while its session is open here, so
  signing out or expiry ends it even for a copied cookie).

A unit's link token is ``HMAC(secret, campaign|unit|generation)``: nothing secret is stored to
show it again on the office's page, and revoking it means moving to the next generation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

STATE_DIR = ".gkxlsx-web"

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY, pwhash TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unit_links (
    campaign TEXT NOT NULL, unit_code TEXT NOT NULL, generation INTEGER NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, unit_code)
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    sid_sha256 TEXT PRIMARY KEY, username TEXT NOT NULL, started REAL NOT NULL
);
"""

MIN_PASSWORD = 8


class AccountError(ValueError):
    """An account cannot be made or used; the Chinese message says why."""


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class WebState:
    def __init__(self, root: Path):
        self.dir = Path(root) / STATE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.secret = self._secret()
        self._keys: dict[str, bytes] = {}
        self._local = threading.local()
        self._write = threading.RLock()
        self.conn.executescript(SCHEMA)
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher()

    # -- storage ---------------------------------------------------------------------------

    def _secret(self) -> bytes:
        p = self.dir / "secret.key"
        try:
            data = p.read_bytes()
            if len(data) >= 32:
                if p.stat().st_mode & 0o077:  # copied or restored with loose permissions
                    os.chmod(p, 0o600)
                return data[:32]
        except FileNotFoundError:
            pass
        data = secrets.token_bytes(32)
        fd = os.open(str(p), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return data

    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            db = self.dir / "web.sqlite"
            if not db.exists():  # made private before SQLite creates it (its -wal/-shm files follow its mode)
                os.close(os.open(str(db), os.O_WRONLY | os.O_CREAT, 0o600))
            elif db.stat().st_mode & 0o077:
                os.chmod(db, 0o600)
            c = sqlite3.connect(str(db), timeout=30, isolation_level=None)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA busy_timeout=30000")
            self._local.conn = c
        return c

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        c = self.conn
        with self._write:  # this process's writers queue here, not in SQLite's sleeping busy wait
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            else:
                c.execute("COMMIT")

    def key(self, purpose: str) -> bytes:
        """A key for one purpose, derived from the secret (sessions, links, CSRF, settings) once."""
        k = self._keys.get(purpose)
        if k is None:
            k = self._keys[purpose] = hmac.new(self.secret, b"gkxlsx-web:" + purpose.encode(), hashlib.sha256).digest()
        return k

    # -- accounts --------------------------------------------------------------------------

    def has_accounts(self) -> bool:
        return self.conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None

    def setup_code(self) -> str | None:
        """While no office account exists: a one-time code, printed by ``gkxlsx serve`` and kept in
        ``setup-code`` (0600), that the first-start page asks for — so that whoever reaches a new
        server first on the network cannot make the office account.  None once an account exists."""
        p = self.dir / "setup-code"
        if self.has_accounts():
            p.unlink(missing_ok=True)
            return None
        try:
            code = p.read_text(encoding="ascii").strip()
            if len(code) >= 8:
                return code
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        code = "".join(secrets.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8))
        p.unlink(missing_ok=True)
        fd = os.open(str(p), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(code + "\n")
        return code

    def check_setup_code(self, given: str) -> bool:
        code = self.setup_code()
        norm = "".join((given or "").split()).upper()
        return code is not None and hmac.compare_digest(code.encode(), norm.encode("utf-8", "replace"))

    def accounts(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT username FROM accounts ORDER BY created_at, username")]

    def add_account(self, username: str, password: str, *, first: bool = False) -> None:
        username = (username or "").strip()
        if not username or len(username) > 40 or any(ch.isspace() or ord(ch) < 32 for ch in username):
            raise AccountError("用户名不能为空、不能含空格，最长 40 个字。")
        if len(password or "") < MIN_PASSWORD:
            raise AccountError(f"密码至少 {MIN_PASSWORD} 位。")
        h = self._hasher.hash(password)
        with self.tx() as c:
            if first and c.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                raise AccountError("办公室账号已经建立，请登录。")
            if c.execute("SELECT 1 FROM accounts WHERE username=?", (username,)).fetchone():
                raise AccountError(f"用户名“{username}”已经存在。")
            c.execute("INSERT INTO accounts(username, pwhash, created_at) VALUES (?,?,?)", (username, h, _now()))
        if first:
            (self.dir / "setup-code").unlink(missing_ok=True)

    def verify(self, username: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        r = self.conn.execute("SELECT pwhash FROM accounts WHERE username=?", ((username or "").strip(),)).fetchone()
        if r is None:
            # the same work as a real check, so the time does not tell which user names exist
            try:
                self._hasher.verify(self._dummy_hash(), password or "")
            except (VerificationError, InvalidHashError):
                pass
            return False
        try:
            ok = self._hasher.verify(r[0], password or "")
        except (VerificationError, InvalidHashError):
            return False
        if ok and self._hasher.check_needs_rehash(r[0]):
            with self.tx() as c:
                c.execute(
                    "UPDATE accounts SET pwhash=? WHERE username=?", (self._hasher.hash(password), username.strip())
                )
        return bool(ok)

    def _dummy_hash(self) -> str:
        h = getattr(self, "_dummy", None)
        if h is None:
            h = self._dummy = self._hasher.hash(secrets.token_hex(8))
        return h

    # -- office sessions -------------------------------------------------------------------

    def open_session(self, username: str, max_age: float) -> str:
        """A new session id for a signed-in user (the cookie carries it; only its hash is kept)."""
        sid = secrets.token_urlsafe(24)
        now = time.time()
        with self.tx() as c:
            c.execute("DELETE FROM sessions WHERE started < ?", (now - max_age,))
            c.execute("INSERT INTO sessions(sid_sha256, username, started) VALUES (?,?,?)", (_sha(sid), username, now))
        return sid

    def session_user(self, sid: str, max_age: float) -> str | None:
        """The user of an open, unexpired session, or None."""
        if not sid or len(sid) > 64:
            return None
        r = self.conn.execute(
            "SELECT s.username, s.started FROM sessions s JOIN accounts a ON a.username = s.username "
            "WHERE s.sid_sha256=?",
            (_sha(sid),),
        ).fetchone()
        if r is None or time.time() - r["started"] > max_age:
            return None
        return str(r["username"])

    def close_session(self, sid: str) -> None:
        if sid:
            with self.tx() as c:
                c.execute("DELETE FROM sessions WHERE sid_sha256=?", (_sha(sid),))

    # -- unit links ------------------------------------------------------------------------

    def _token(self, campaign: str, code: str, generation: int) -> str:
        mac = hmac.new(self.key("unit-link"), f"{campaign}\x00{code}\x00{generation}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:24]).decode().rstrip("=")

    def unit_token(self, campaign: str, code: str) -> str | None:
        """The unit's current link token (made on first use); None when the office revoked it."""
        r = self.conn.execute(
            "SELECT generation, revoked FROM unit_links WHERE campaign=? AND unit_code=?", (campaign, code)
        ).fetchone()
        if r is None:
            tok = self._token(campaign, code, 1)
            with self.tx() as c:
                c.execute(
                    "INSERT OR IGNORE INTO unit_links(campaign, unit_code, generation, token_sha256, created_at) "
                    "VALUES (?,?,?,?,?)",
                    (campaign, code, 1, _sha(tok), _now()),
                )
            return self.unit_token(campaign, code)
        return None if r["revoked"] else self._token(campaign, code, r["generation"])

    def reissue(self, campaign: str, code: str) -> str:
        """A new link for the unit; the old one stops working at once."""
        self.unit_token(campaign, code)
        with self.tx() as c:
            g = c.execute(
                "SELECT generation FROM unit_links WHERE campaign=? AND unit_code=?", (campaign, code)
            ).fetchone()[0]
            tok = self._token(campaign, code, g + 1)
            c.execute(
                "UPDATE unit_links SET generation=?, token_sha256=?, created_at=?, revoked=0 "
                "WHERE campaign=? AND unit_code=?",
                (g + 1, _sha(tok), _now(), campaign, code),
            )
        return tok

    def revoke(self, campaign: str, code: str) -> None:
        self.unit_token(campaign, code)
        with self.tx() as c:
            c.execute("UPDATE unit_links SET revoked=1 WHERE campaign=? AND unit_code=?", (campaign, code))

    def resolve(self, token: str) -> tuple[str, str] | None:
        """(campaign, unit code) of a valid link token, or None."""
        if not token or len(token) > 64:
            return None
        r = self.conn.execute(
            "SELECT campaign, unit_code, generation, revoked FROM unit_links WHERE token_sha256=?", (_sha(token),)
        ).fetchone()
        if r is None or r["revoked"]:
            return None
        expected = self._token(r["campaign"], r["unit_code"], r["generation"])
        if not hmac.compare_digest(expected.encode(), token.encode()):
            return None
        return r["campaign"], r["unit_code"]

    # -- settings (SMTP password, encrypted) -----------------------------------------------

    def _fernet(self):
        from cryptography.fernet import Fernet

        return Fernet(base64.urlsafe_b64encode(self.key("settings")))

    def set_secret_setting(self, name: str, value: str) -> None:
        token = self._fernet().encrypt(value.encode()).decode()
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?,?)", (name, token))

    def secret_setting(self, name: str) -> str | None:
        from cryptography.fernet import InvalidToken

        r = self.conn.execute("SELECT value FROM settings WHERE key=?", (name,)).fetchone()
        if r is None:
            return None
        try:
            return self._fernet().decrypt(r[0].encode()).decode()
        except InvalidToken:
            return None


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(key: bytes, binding: str) -> str:
    """A CSRF token bound to a session (or a unit link): HMAC, compared in constant time."""
    return base64.urlsafe_b64encode(hmac.new(key, binding.encode(), hashlib.sha256).digest()[:24]).decode().rstrip("=")


def csrf_ok(key: bytes, binding: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(key, binding).encode(), (given or "").encode())
