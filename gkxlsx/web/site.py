"""The campaigns a server serves: one campaign folder, or a folder of campaign folders.

A campaign is named in URLs by an id that is looked up in this table and never joined to a path:
a campaign folder served alone is ``_``; the campaigns under a folder are named by their folder
names.  New campaigns made through the web get a folder name the server chooses (``2025-1``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gkxlsx.campaign.campaign import CONFIG, DB, DIRS, Campaign

log = logging.getLogger("gkxlsx.web")

SINGLE = "_"
STAGING = ".uploads"  # uploads staged for import, inside the campaign folder
_ID = re.compile(r"^[0-9A-Za-z_\-\u4e00-\u9fff]{1,64}$")


@dataclass(frozen=True)
class CampaignRef:
    id: str
    path: Path


class Site:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.single = (self.root / CONFIG).is_file()
        # per-unit locks so two uploads of one unit through this server are recorded one after the
        # other (the ledger serialises writers anyway; this keeps version numbers in upload order)
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._local = threading.local()

    def campaigns(self) -> list[CampaignRef]:
        if self.single:
            return [CampaignRef(SINGLE, self.root)]
        out = []
        for d in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if d.is_dir() and _ID.match(d.name) and (d / CONFIG).is_file():
                out.append(CampaignRef(d.name, d))
        return out

    def ref(self, cid: str) -> CampaignRef | None:
        for r in self.campaigns():
            if r.id == cid:
                return r
        return None

    @contextmanager
    def open(self, cid: str) -> Iterator[Campaign]:
        """The campaign, kept open between requests: one per campaign and thread (an SQLite
        connection belongs to its thread), opened again when campaign.toml or the ledger file
        changed on disk (the CLI or the mail settings page rewrote it).  Opening one per request
        cost more than most requests (the settings, the form, a cold connection whose page cache
        starts empty, and its close checkpointing the WAL).  A request that leaves a transaction
        open (it raised inside one) has it rolled back."""
        r = self.ref(cid)
        if r is None:
            raise LookupError(cid)
        camp = self._cached(r)
        try:
            yield camp
        finally:
            if camp.ledger.conn.in_transaction:
                camp.ledger.conn.rollback()

    def _cached(self, r: CampaignRef) -> Campaign:
        cache: dict[str, tuple[Path, tuple, Campaign]] = self._local.__dict__.setdefault("campaigns", {})
        stamp = _stamp(r.path)
        hit = cache.get(r.id)
        if hit is not None and hit[0] == r.path and hit[1] == stamp:
            return hit[2]
        if hit is not None:
            del cache[r.id]
            hit[2].close()
        camp = Campaign(r.path)
        cache[r.id] = (r.path, stamp, camp)
        return camp

    def close(self) -> None:
        """Close this thread's open campaigns (the others close with their threads)."""
        for _, _, camp in self._local.__dict__.pop("campaigns", {}).values():
            camp.close()

    def new_campaign_dir(self, year: int) -> tuple[str, Path]:
        """A fresh, empty folder for a campaign made through the web (only when serving a folder of
        campaigns), made by this call."""
        if self.single:
            raise ValueError("single")
        self.root.mkdir(parents=True, exist_ok=True)
        k = 1
        while True:  # made here, atomically: two requests never get (and later clean up) the same folder
            d = self.root / f"{year}-{k}"
            try:
                d.mkdir()
            except FileExistsError:
                k += 1
                continue
            return d.name, d

    def clean_staging(self) -> None:
        """Remove what a server killed mid-upload left in its campaigns: staged uploads
        (``.uploads/up-<pid>-…``) and half-written archive copies, of processes that are gone."""
        from gkxlsx.campaign.ledger import remove_stale_temp
        from gkxlsx.fsutil import pid_alive

        for r in self.campaigns():
            staging = r.path / STAGING
            try:
                entries = list(staging.iterdir()) if staging.is_dir() else []
            except OSError:
                entries = []
            for e in entries:
                m = re.match(r"up-(\d+)-", e.name)
                if m and pid_alive(int(m.group(1))):
                    continue  # another server on this folder is still using it
                if e.is_dir() and not e.is_symlink():
                    shutil.rmtree(e, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        e.unlink()
            try:
                remove_stale_temp(r.path / DIRS["archive"])
            except OSError:  # an unreadable folder is reported when the campaign is opened
                log.warning("cannot clean the archive of %s", r.id, exc_info=True)

    def unit_lock(self, cid: str, code: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((cid, code), threading.Lock())


def _stamp(root: Path) -> tuple:
    """What tells that a campaign folder's settings or ledger were replaced since it was opened."""
    out: list = []
    for name in (CONFIG, DB):
        try:
            st = (root / name).stat()
            out.append((st.st_ino, st.st_mtime_ns, st.st_size) if name == CONFIG else (st.st_dev, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)
