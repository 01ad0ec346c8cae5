"""Uploaded files, staged for import under names the server chooses.

An uploaded name is only ever shown (escaped) and recorded as the file's name in the ledger; the
bytes are kept in memory under a name the server makes, ``<staging>/<n><suffix>`` with the suffix
from a fixed list, and handed to the import as they are (nothing is written to disk before the
import archives the file under its sha256).  A .zip is
opened with the same bounds as the checker (entry count, each entry's and the total inflated
size, read in chunks so a member that lies about its size is stopped); a .eml goes to the mail
importer, which takes its spreadsheet attachments.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gkxlsx.filekinds import SPREADSHEET_SUFFIXES
from gkxlsx.workbook.reader import zip_member

MAX_FILE = 20 * 1024 * 1024  # one return, one .eml or one member of a .zip
MAX_REQUEST = 200 * 1024 * 1024  # one upload request (many files)
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_TOTAL = 400 * 1024 * 1024

# suffixes a staged file may carry: what the checker reads (it triages by content anyway)
_STAGED = SPREADSHEET_SUFFIXES | {".csv", ".xml", ".htm", ".html"}


class UploadError(ValueError):
    """An upload that cannot be taken; the Chinese message names the file."""


@dataclass
class Staged:
    path: Path  # the name the import knows the bytes by (chosen by the server; not on disk)
    name: str  # the name the user gave, for display and the ledger
    kind: str  # file | mail
    data: bytes = field(repr=False, default=b"")


def clean_name(name: str | None) -> str:
    """The last component of an uploaded name, printable and bounded (never used as a path)."""
    from gkxlsx.form.identity import fit_bytes

    n = (name or "").replace("\\", "/").split("/")[-1]
    n = "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else "_" for ch in n).strip()
    return fit_bytes(n or "未命名文件", 200)


def staged_suffix(name: str) -> str:
    s = PurePosixPath(name.lower()).suffix
    return s if s in _STAGED else ".bin"


class Stager:
    def __init__(self, folder: Path):
        self.folder = folder  # names only: nothing is written there
        self.n = 0
        self.items: list[Staged] = []
        self.refused: list[tuple[str, str]] = []  # (name, Chinese reason)

    def _write(self, data: bytes, name: str, kind: str = "file") -> None:
        self.n += 1
        p = self.folder / f"{self.n:05d}{'.eml' if kind == 'mail' else staged_suffix(name)}"
        self.items.append(Staged(p, name, kind, data))

    def add(self, raw_name: str | None, data: bytes) -> None:
        name = clean_name(raw_name)
        if len(data) > MAX_FILE:
            self.refused.append(
                (
                    name,
                    f"文件超过 {MAX_FILE // 1024 // 1024} MB，未接收。报告工作簿一般不超过 1 MB，请检查是否传错了文件。",
                )
            )
            return
        if not data:
            self.refused.append((name, "文件是空的（0 字节），未接收。请重新保存后再上传。"))
            return
        low = name.lower()
        if low.endswith(".eml"):
            self._write(data, name, "mail")
        elif low.endswith(".zip") and data[:4] == b"PK\x03\x04" and not _looks_like_workbook(data):
            self._unzip(name, data)
        else:
            self._write(data, name)

    def _unzip(self, name: str, data: bytes) -> None:
        import io

        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
            self.refused.append((name, "压缩包已损坏，无法打开。请重新压缩后上传，或直接上传其中的工作簿。"))
            return
        members = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        if len(members) > MAX_ZIP_ENTRIES:
            self.refused.append(
                (name, f"压缩包中有 {len(members)} 个文件，超过 {MAX_ZIP_ENTRIES} 个，未接收。请分批上传。")
            )
            return
        total = 0
        taken = 0
        for info in members:
            inner = clean_name(_zip_name(info))
            if PurePosixPath(inner.lower()).suffix not in SPREADSHEET_SUFFIXES | {".eml"}:
                continue
            if info.file_size > MAX_FILE:
                self.refused.append((f"{name} → {inner}", f"解压后超过 {MAX_FILE // 1024 // 1024} MB，未接收。"))
                continue
            try:
                buf = zip_member(data, info)
            except ValueError as e:
                self.refused.append((f"{name} → {inner}", f"无法解压：{e}，未接收。"))
                continue
            if len(buf) > MAX_FILE:
                self.refused.append((f"{name} → {inner}", f"解压后超过 {MAX_FILE // 1024 // 1024} MB，未接收。"))
                continue
            total += len(buf)
            if total > MAX_ZIP_TOTAL:
                self.refused.append((name, f"压缩包解压后超过 {MAX_ZIP_TOTAL // 1024 // 1024} MB，其余文件未接收。"))
                break
            self._write(buf, f"{name} → {inner}", "mail" if inner.lower().endswith(".eml") else "file")
            taken += 1
        if not taken and not any(r[0].startswith(name) for r in self.refused):
            self.refused.append((name, "压缩包中没有表格文件（.xlsx/.xls/.et/.ods）或邮件（.eml）。"))


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its maker meant it: names without the UTF-8 flag are usually GBK."""
    n = info.filename
    if not info.flag_bits & 0x800:
        try:
            n = n.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return n


def _looks_like_workbook(data: bytes) -> bool:
    """An .xlsx (or .ods) renamed .zip is a return, not a folder of returns: judged by the
    package's own member names (its central directory), not by bytes that a stored member holds."""
    import io

    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return "[Content_Types].xml" in names or "mimetype" in names
