"""Uploaded files, staged for import under names the server chooses.

An uploaded name is only ever shown (escaped) and recorded as the file's name in the ledger; the
bytes are named ``<staging>/<n><suffix>`` where the suffix comes from a fixed list.  Files are
taken one at a time from the request's spooled upload.  The first 256 KB of a request's files are
kept in memory and handed to the import as they are (a unit's upload — one return — never touches
the disk before the import archives it); the rest is written to the staging folder, so a request
of many files is never all in memory.  A .zip is opened
with the same bounds as the checker (entry count — counted before the zip module builds its
entries —, each entry's and the total inflated size, read in chunks so a member that lies about
its size is stopped); a .eml goes to the mail importer, which takes its spreadsheet attachments.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gkxlsx.filekinds import SPREADSHEET_SUFFIXES
from gkxlsx.workbook.reader import zip_member

MAX_FILE = 20 * 1024 * 1024  # one return, one .eml or one member of a .zip
MAX_REQUEST = 200 * 1024 * 1024  # one upload request (many files)
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_TOTAL = 400 * 1024 * 1024
# of one request's files, kept in memory rather than staged to disk: a unit's return (tens of KB,
# rarely over 200 KB); a batch beyond it is staged, so memory stays bounded per request
IN_MEMORY = 256 * 1024

# suffixes a staged file may carry: what the checker reads (it triages by content anyway)
_STAGED = SPREADSHEET_SUFFIXES | {".csv", ".xml", ".htm", ".html"}


def size_text(n: int) -> str:
    """A size limit in words (“20 MB”, “500 KB”)."""
    return f"{n // 1048576} MB" if n >= 1048576 else f"{max(1, n // 1024)} KB"


@dataclass
class Staged:
    path: Path  # the file's name for the import (chosen by the server); on disk when ``data`` is None
    name: str  # the name the user gave, for display and the ledger
    kind: str  # file | mail
    data: bytes | None = field(default=None, repr=False)  # the bytes, when kept in memory

    def read(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()


def clean_name(name: str | None) -> str:
    """The last component of an uploaded name, printable and bounded (never used as a path)."""
    from gkxlsx.form.identity import fit_bytes

    n = (name or "").replace("\\", "/").split("/")[-1]
    n = "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else "_" for ch in n).strip()
    if not n.strip(". "):  # "." or ".." names a folder, not a file
        n = ""
    return fit_bytes(n or "未命名文件", 200)


def staged_suffix(name: str) -> str:
    s = PurePosixPath(name.lower()).suffix
    return s if s in _STAGED else ".bin"


@dataclass
class Refusal:
    name: str
    message: str  # Chinese
    too_large: bool = False


class Stager:
    def __init__(self, folder: Path, max_file: int = MAX_FILE, in_memory: int = IN_MEMORY):
        self.folder = folder  # made when the first file is written to it
        self.max_file = max_file
        self.in_memory = in_memory  # bytes still to keep in memory
        self.n = 0
        self.items: list[Staged] = []
        self.refused: list[Refusal] = []

    def _write(self, data: bytes, name: str, kind: str = "file") -> None:
        self.n += 1
        p = self.folder / f"{self.n:05d}{'.eml' if kind == 'mail' else staged_suffix(name)}"
        if len(data) <= self.in_memory:
            self.in_memory -= len(data)
            self.items.append(Staged(p, name, kind, data))
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        self.items.append(Staged(p, name, kind))

    def add_file(self, raw_name: str | None, f: BinaryIO) -> None:
        """An uploaded file, read from its (spooled) file object: at most the limit and one byte."""
        self.add(raw_name, f.read(self.max_file + 1))

    def add(self, raw_name: str | None, data: bytes) -> None:
        name = clean_name(raw_name)
        if len(data) > self.max_file:
            self.refused.append(
                Refusal(
                    name,
                    f"文件超过 {size_text(self.max_file)}，未接收。报告工作簿一般不超过 1 MB，请检查是否传错了文件。",
                    too_large=True,
                )
            )
            return
        if not data:
            self.refused.append(Refusal(name, "文件是空的（0 字节），未接收。请重新保存后再上传。"))
            return
        low = name.lower()
        if low.endswith(".eml"):
            self._write(data, name, "mail")
        elif low.endswith(".zip") and data[:4] == b"PK\x03\x04":
            self._unzip(name, data)
        else:
            self._write(data, name)

    def _unzip(self, name: str, data: bytes) -> None:
        import io

        too_many = f"压缩包中的文件超过 {MAX_ZIP_ENTRIES} 个，未接收。请分批上传。"
        if central_entries(data) > MAX_ZIP_ENTRIES:  # before zipfile builds an object per entry
            self.refused.append(Refusal(name, too_many))
            return
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, struct.error):
            self.refused.append(Refusal(name, "压缩包已损坏，无法打开。请重新压缩后上传，或直接上传其中的工作簿。"))
            return
        if _is_workbook(infos):  # an .xlsx renamed .zip is a return, not a folder of returns
            self._write(data, name)
            return
        members = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        if len(members) > MAX_ZIP_ENTRIES:
            self.refused.append(Refusal(name, too_many))
            return
        total = 0
        taken = 0
        for info in members:
            inner = clean_name(_zip_name(info))
            if PurePosixPath(inner.lower()).suffix not in SPREADSHEET_SUFFIXES | {".eml"}:
                continue
            big = f"解压后超过 {size_text(self.max_file)}，未接收。"
            if info.file_size > self.max_file:
                self.refused.append(Refusal(f"{name} → {inner}", big, too_large=True))
                continue
            try:
                buf = zip_member(data, info)
            except ValueError as e:
                self.refused.append(Refusal(f"{name} → {inner}", f"无法解压：{e}，未接收。"))
                continue
            if len(buf) > self.max_file:
                self.refused.append(Refusal(f"{name} → {inner}", big, too_large=True))
                continue
            total += len(buf)
            if total > MAX_ZIP_TOTAL:
                self.refused.append(
                    Refusal(name, f"压缩包解压后超过 {size_text(MAX_ZIP_TOTAL)}，其余文件未接收。", too_large=True)
                )
                break
            self._write(buf, f"{name} → {inner}", "mail" if inner.lower().endswith(".eml") else "file")
            taken += 1
        if not taken and not any(r.name.startswith(name) for r in self.refused):
            self.refused.append(Refusal(name, "压缩包中没有表格文件（.xlsx/.xls/.et/.ods）或邮件（.eml）。"))


def central_entries(data: bytes) -> int:
    """At most how many entries :mod:`zipfile` would build from ``data``'s central directory,
    counted without building them: every entry starts with the signature ``PK\\1\\2``, and zipfile
    reads the entries from the ``size`` bytes that end where the end record (or the ZIP64 record)
    begins.  A 20 MB zip can declare 400,000 entries: zipfile would take 170 MB and seconds."""
    sig = b"PK\x01\x02"
    n = data.count(sig)
    if n <= MAX_ZIP_ENTRIES:  # the usual case: the whole file holds no more signatures than that
        return n
    # the end record where zipfile looks for it: the last 22 bytes without a comment, else the last
    # signature in the last 64 KiB (zipfile._EndRecData)
    if len(data) >= 22 and data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\x00\x00":
        end = len(data) - 22
    else:
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65536 - 22))
    if end < 0 or end + 22 > len(data):
        return n
    size = struct.unpack_from("<L", data, end + 12)[0]
    if end >= 20 and data[end - 20 : end - 16] == b"PK\x06\x07":  # ZIP64: its record precedes the locator
        end -= 20 + 56
        if end < 0 or data[end : end + 4] != b"PK\x06\x06":
            return n
        size = struct.unpack_from("<Q", data, end + 40)[0]
    return data.count(sig, max(0, end - size), end)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its maker meant it: names without the UTF-8 flag are usually GBK."""
    n = info.filename
    if not info.flag_bits & 0x800:
        try:
            n = n.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return n


def _is_workbook(infos: list[zipfile.ZipInfo]) -> bool:
    """Whether the zip's own members are a workbook's parts (by their names: the first bytes of a
    zip of returns stored without compression are a workbook's too)."""
    names = {i.filename for i in infos}
    return "[Content_Types].xml" in names and any(n.startswith(("xl/", "docProps/")) for n in names)
