"""Triage and reading of returned files — fast, bounded and safe.

:func:`load` reads a file once and returns a :class:`FileInfo` (size, sha256, what kind of file it
really is) and a :class:`Book` through which the checker reads cells by sheet and address.  It
never runs macros, never resolves XML entities and never lets a hostile file raise anything but
:class:`ReadError`, whose findings say in Chinese what the file is and what to do.

Triage order (each with its own message, docs/ENGINEERING.md pitfalls 9 and 12): size limit → magic bytes
(xlsx / xlsm, ods, xls, WPS .et, an HTML or SpreadsheetML-XML file named .xls, an encrypted OOXML
package or a password-protected .xls, Word/PDF/plain text …) → zip-bomb guard on the central
directory (declared uncompressed sizes, compression ratio, member count) before anything is
decompressed → the parts.

.xlsx is read directly from its XML parts with regular expressions over the few parts needed.  No
XML parser runs, so no entity can be expanded and no external resource fetched; a part that
declares a DTD or an entity is refused outright (the defusedxml policy).  What is read:
cell values, types, formulas (shared formulas expanded), cached results, style flags (locked,
quote prefix, date formats), sheet protection, merges, defined names, workbook protection,
``docProps/app.xml`` Application and ``docProps/custom.xml``.  This is several times faster than
openpyxl.  .xls / .et / .ods are read with python-calamine (values only): the checker then reports
that integrity checks were reduced.
"""

from __future__ import annotations

import hashlib
import io
import operator
import re
import stat
import struct
import types
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gkxlsx.check.values import BLANK, RawCell
from gkxlsx.filekinds import SPREADSHEET_SUFFIXES
from gkxlsx.findings import Finding, make_finding
from gkxlsx.form.cells import a1, col_letter

_inflate: types.ModuleType
try:  # zlib-ng: the same deflate streams, inflated ~2× and CRC-checked ~9× faster than zlib
    from zlib_ng import zlib_ng as _inflate
except ImportError:  # pragma: no cover - a dependency; zlib gives the same bytes, slower
    _inflate = zlib

# limits (a filled template is ~40–200 KB; a LibreOffice-saved one ~50 KB)
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_MEMBER_BYTES = 60 * 1024 * 1024
MAX_MEMBERS = 2000
MAX_RATIO = 200  # uncompressed / compressed, for members larger than RATIO_MIN_SIZE
RATIO_MIN_SIZE = 1024 * 1024
# python-calamine builds every sheet it reads as a dense grid (~64 bytes a cell, then a Python list):
# an .ods saying 2^31 repeated rows or spaces, or an .xls with two values at A1 and IV65536, is a
# few KB that would take seconds and gigabytes.  A template sheet is ~100 × 30 cells.
MAX_GRID_CELLS = 1_000_000
MAX_ODS_TEXT = 32 * 1024 * 1024

KIND_LABELS = {
    "xlsx": "Excel 工作簿（.xlsx）",
    "xlsm": "启用宏的 Excel 工作簿（.xlsm）",
    "xls": "Excel 97-2003 工作簿（.xls）",
    "et": "WPS 表格文件（.et）",
    "ods": "OpenDocument 电子表格（.ods）",
    "html": "网页（HTML）文件",
    "spreadsheetml": "XML 电子表格 2003 文件",
    "xml": "XML 文件",
    "text": "纯文本文件",
    "pdf": "PDF 文件",
    "image": "图片文件",
    "archive": "压缩包",
    "zip": "压缩包",
    "docx": "Word 文档",
    "doc": "Word 97-2003 文档",
    "encrypted": "加密文件",
    "empty": "空文件",
    "missing": "文件不存在或无法读取",
    "too-large": "过大的文件",
    "unknown": "未知类型的文件",
}


class ReadError(Exception):
    """The file cannot be read as a workbook; ``finding`` says why, in Chinese."""

    def __init__(self, finding: Finding, kind: str = "unknown"):
        super().__init__(finding.message)
        self.finding = finding
        self.kind = kind


@dataclass
class FileInfo:
    path: Path
    size: int = 0
    sha256: str = ""
    kind: str = "unknown"  # xlsx | xlsm | xls | et | ods | html | spreadsheetml | text | … (see sniff)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


# --------------------------------------------------------------------------------------------
# magic bytes


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _type_error(what: str, kind: str) -> ReadError:
    return ReadError(make_finding("E-FILE-TYPE", what=what), kind)


def _corrupt(reason: str, kind: str = "unknown") -> ReadError:
    return ReadError(make_finding("E-FILE-CORRUPT", reason=reason), kind)


def sniff(data: bytes, name: str = "") -> str:
    """What a file really is, from its first bytes (and, for containers, their directory)."""
    ext = Path(name).suffix.lower()
    if not data:
        return "empty"
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if data[:8] == OLE_MAGIC:
        return "ole"
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if data[:4] in (b"Rar!", b"7z\xbc\xaf") or data[:2] == b"\x1f\x8b":
        return "archive"
    if data[:5] == b"{\\rtf":
        return "rtf"
    head = data[:4096]
    text = _decode_head(head)
    if text is not None:
        t = text.lstrip("\ufeff \t\r\n").lower()
        if t.startswith("<"):
            if (
                "urn:schemas-microsoft-com:office:spreadsheet" in text.lower()
                or '<?mso-application progid="excel.sheet"?>' in t
            ):
                return "spreadsheetml"
            if "<html" in t or "<!doctype html" in t or "<table" in t or "<meta" in t:
                return "html"
            return "xml"
        return "text"
    if ext in (".xls", ".et") and data[:2] in (b"\x09\x08", b"\x09\x04", b"\x09\x02", b"\x09\x00"):
        return "biff-raw"
    return "unknown"


def _decode_head(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16", errors="strict")[:2000]
        except UnicodeDecodeError:
            return None
    if b"\x00" in head:
        return None
    for enc in ("utf-8", "gb18030"):
        try:
            return head.decode(enc)
        except UnicodeDecodeError as e:
            if e.start > len(head) - 4:  # cut in the middle of a character
                return head[: e.start].decode(enc, errors="ignore")
    return None


# --------------------------------------------------------------------------------------------
# OLE compound files (xls, et, doc, encrypted OOXML): a minimal, bounded directory reader


@dataclass
class OleDirectory:
    streams: dict[str, tuple[int, int]]  # name → (start sector, size)
    fat: list[int]
    sector_size: int
    n_sectors: int


def ole_streams(data: bytes) -> OleDirectory:
    """The directory of an OLE compound file.  Raises ValueError when the structure is broken.
    Bounded: every chain is limited by the number of sectors in the file."""
    if len(data) < 512:
        raise ValueError("文件头不完整")
    shift = struct.unpack_from("<H", data, 0x1E)[0]
    if shift not in (9, 12):
        raise ValueError("扇区大小无效")
    ss = 1 << shift
    n_sectors = max(0, (len(data) - ss) // ss)
    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    n_difat = struct.unpack_from("<I", data, 0x48)[0]
    first_difat = struct.unpack_from("<I", data, 0x44)[0]
    fat_sectors = [x for x in struct.unpack_from("<109I", data, 0x4C) if x < 0xFFFFFFFA]
    nxt = first_difat
    for _ in range(min(n_difat, n_sectors + 1)):
        if nxt >= 0xFFFFFFFA:
            break
        off = ss * (nxt + 1)
        if off + ss > len(data):
            raise ValueError("DIFAT 越界")
        vals = struct.unpack_from(f"<{ss // 4}I", data, off)
        fat_sectors.extend(x for x in vals[:-1] if x < 0xFFFFFFFA)
        nxt = vals[-1]

    def sector_off(n: int) -> int:
        return (n + 1) * ss

    fat: list[int] = []
    for s in fat_sectors[: n_sectors + 1]:
        off = sector_off(s)
        if off + ss > len(data):
            raise ValueError("FAT 越界")
        fat.extend(struct.unpack_from(f"<{ss // 4}I", data, off))

    def chain(start: int) -> Iterable[int]:
        seen = 0
        n = start
        while n < 0xFFFFFFFA:
            if n >= len(fat) or seen > n_sectors:
                raise ValueError("扇区链无效")
            yield n
            seen += 1
            n = fat[n]

    streams: dict[str, tuple[int, int]] = {}
    for sec in chain(first_dir):
        off = sector_off(sec)
        if off + ss > len(data):
            raise ValueError("目录越界")
        for i in range(ss // 128):
            e = data[off + i * 128 : off + (i + 1) * 128]
            name_len = struct.unpack_from("<H", e, 64)[0]
            typ = e[66]
            if typ not in (1, 2, 5) or not 2 <= name_len <= 64:
                continue
            name = e[: name_len - 2].decode("utf-16-le", errors="replace")
            start, size = struct.unpack_from("<IQ", e, 116)
            if ss == 512:
                size &= 0xFFFFFFFF
            streams[name] = (start, size)
    return OleDirectory(streams, fat, ss, n_sectors)


def _ole_read_head(data: bytes, ole: OleDirectory, start: int, size: int, limit: int = 4096) -> bytes:
    """The first ``limit`` bytes of a (regular, ≥ 4096-byte) stream."""
    fat, ss, n_sectors = ole.fat, ole.sector_size, ole.n_sectors
    out = bytearray()
    n, seen = start, 0
    while n < 0xFFFFFFFA and len(out) < min(limit, size) and seen <= n_sectors:
        off = (n + 1) * ss
        out += data[off : off + ss]
        if n >= len(fat):
            break
        n = fat[n]
        seen += 1
    return bytes(out[: min(limit, size)])


def ole_stream(data: bytes, ole: OleDirectory, start: int, size: int, limit: int = MAX_FILE_BYTES) -> bytes:
    """A stream's first ``min(size, limit)`` bytes: from regular sectors, or — under the 4,096-byte
    cutoff — from the mini stream (64-byte sectors inside the root entry's stream, chained by the
    mini FAT).  Bounded like every chain here; a broken chain gives what could be read."""
    cutoff = struct.unpack_from("<I", data, 0x38)[0] if len(data) >= 0x3C else 4096
    if size >= cutoff:
        return _ole_read_head(data, ole, start, size, limit)
    root = ole.streams.get("Root Entry")
    if root is None:
        return b""
    container = _ole_read_head(data, ole, root[0], root[1], min(root[1], len(data)))
    first_mini_fat, n_mini_fat = struct.unpack_from("<II", data, 0x3C)
    minifat_bytes = _ole_read_head(data, ole, first_mini_fat, min(n_mini_fat, ole.n_sectors + 1) * ole.sector_size)
    minifat = struct.unpack_from(f"<{len(minifat_bytes) // 4}I", minifat_bytes)
    ms = 1 << (struct.unpack_from("<H", data, 0x20)[0] & 15)
    out = bytearray()
    n, seen = start, 0
    while n < 0xFFFFFFFA and len(out) < min(size, limit) and seen <= len(minifat):
        out += container[n * ms : (n + 1) * ms]
        if n >= len(minifat):
            break
        n = minifat[n]
        seen += 1
    return bytes(out[: min(size, limit)])


# BIFF records holding a value (calamine puts them in the grid; BLANK / MULBLANK it skips)
_BIFF_VALUES = {0x0203, 0x027E, 0x00FD, 0x0204, 0x0205, 0x0006, 0x00D6, 0x0406, 0x0206, 0x0003, 0x0004, 0x0005}
_BIFF_MULRK = 0x00BD


def biff_scan(stream: bytes) -> tuple[int, bool]:
    """What python-calamine would make of a BIFF workbook stream: the cells of the dense grids it
    builds — for every substream (BOF … EOF), (last row + 1) × (last column + 1) of its value
    records — and whether a sheet entry (BOUNDSHEET) points past the stream (calamine panics on
    it).  One pass over the records, linear in ``stream``."""
    cells = 0
    max_r = max_c = -1
    outside = False
    pos, end = 0, len(stream) - 4
    while pos <= end:
        typ, ln = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if typ == 0x0085 and ln >= 4 and body + 4 <= len(stream):
            outside = outside or struct.unpack_from("<I", stream, body)[0] >= len(stream)
        elif typ == 0x0809 or typ == 0x000A:  # BOF / EOF: a substream starts or ends
            cells += (max_r + 1) * (max_c + 1)
            max_r = max_c = -1
        elif (typ in _BIFF_VALUES or typ == _BIFF_MULRK) and ln >= 4 and body + 4 <= len(stream):
            r, c = struct.unpack_from("<HH", stream, body)
            if typ == _BIFF_MULRK and ln >= 6 and body + ln <= len(stream):
                c = max(c, struct.unpack_from("<H", stream, body + ln - 2)[0])
            max_r, max_c = max(max_r, r), max(max_c, c)
        pos = body + ln
    return cells + (max_r + 1) * (max_c + 1), outside


def _biff_encrypted(head: bytes) -> bool:
    """A FILEPASS record among the first records of the workbook stream → password-protected."""
    pos = 0
    for _ in range(40):
        if pos + 4 > len(head):
            return False
        typ, ln = struct.unpack_from("<HH", head, pos)
        if typ == 0x002F:
            return True
        if typ == 0x000A:  # EOF of the globals substream
            return False
        pos += 4 + ln
    return False


# --------------------------------------------------------------------------------------------
# books


@dataclass(frozen=True)
class SheetInfo:
    protection: Mapping[str, str] | None = None  # attributes of <sheetProtection> (read-only), None if absent


_NO_PROTECTION = SheetInfo(protection=None)


class Book:
    """A workbook opened for checking.  ``full`` tells whether formulas, styles and protection are
    available (.xlsx) or only values (.xls / .ods / .et)."""

    kind: str = "xlsx"
    full: bool = True
    application: str = ""
    app_version: str = ""
    macros: bool = False
    custom: dict[str, str]
    names: dict[str, str]
    sheet_names: list[str]
    sheet_states: dict[str, str]
    workbook_protection: dict[str, str] | None = None

    def has_sheet(self, name: str) -> bool:
        return name in self.sheet_states

    def cell(self, sheet: str, ref: str) -> RawCell:  # pragma: no cover - interface
        raise NotImplementedError

    def sheet_info(self, sheet: str) -> SheetInfo:
        return SheetInfo()

    def name_raw(self, name: bytes) -> bytes | None:
        txt = self.names.get(name.decode())
        return txt.encode() if txt is not None else None

    def refs(self, sheet: str) -> Iterable[str]:
        """Addresses of the non-blank cells of a sheet."""
        return ()

    @property
    def app_label(self) -> str:
        return app_label(self.application)


def app_label(application: str) -> str:
    a = (application or "").lower()
    if "libreoffice" in a or "openoffice" in a:
        return "LibreOffice"
    if "wps" in a or "kingsoft" in a:
        return "WPS Office"
    if "microsoft" in a or "excel" in a:
        return "Microsoft Excel"
    return application or "未知"


# ---- xlsx -------------------------------------------------------------------------------------

_P = rb"(?:[A-Za-z_][\w.-]*:)?"  # optional namespace prefix


class _Rx:
    """A pattern over an element that some writers give a namespace prefix (<x:sheet>).  The plain
    form (fast: the regex engine searches for its literal start) is used unless the data contains
    the prefixed element."""

    def __init__(self, pattern: bytes, name: bytes, flags: int = 0):
        self.plain = re.compile(pattern.replace(b"{P}", b""), flags)
        self.pref = re.compile(pattern.replace(b"{P}", _P), flags)
        self.marker = b":" + name

    def __call__(self, data: bytes) -> re.Pattern:
        return self.pref if self.marker in data else self.plain


def _inner(name: bytes, prefix: bytes = _P) -> bytes:
    """The inner XML of an element ``name`` up to its end tag, in linear time: it stops at any start
    or end tag of the same name (elements that never nest), so an unclosed element fails at the
    next one instead of scanning to the end of the part for every start (quadratic).  Equal to
    ``(.*?)`` followed by the end tag on well-formed parts (tests/test_hostile_zip.py)."""
    return rb"([^<]*(?:<(?!/?" + prefix + name + rb"[\s/>])[^<]*)*)"


# attributes: [^<>] — a well-formed start tag holds no "<", so an unclosed one stops at the next tag
_CELL = re.compile(rb"<" + _P + rb"c(\s[^<>]*?)?(?:/>|>" + _inner(b"c") + rb"</" + _P + rb"c>)")
# a cell's content stops at "</c>" or at the next "<c" (an unclosed cell fails there: linear)
_CELL_FAST = re.compile(
    rb'<c r="([A-Z]{1,3}[0-9]{1,7})"(?: s="([0-9]*)")?(?: t="([A-Za-z]*)")?([^<>/]*)(?:/>|>([^<]*(?:<(?:[^/c]|/(?!c>)|c(?![\s/>]))[^<]*)*)</c>)'
)
_EXTRA = operator.itemgetter(3)
_REF0 = operator.itemgetter(0)
_R_ATTR = re.compile(rb"\sr\s*=\s*[\"']([A-Za-z]{1,3}[0-9]{1,7})[\"']")
_ATTR = re.compile(rb"(?<![\w:.-])([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_V = re.compile(rb"<" + _P + rb"v(?:\s[^<>]*)?>" + _inner(b"v") + rb"</" + _P + rb"v>")
_F = re.compile(rb"<" + _P + rb"f(\s[^<>]*?)?(?:/>|>" + _inner(b"f") + rb"</" + _P + rb"f>)")
# a cell's inner XML (see XlsxBook.sheet_cells) that starts with a formula element: match_formula(body)
match_formula = _F.match
_T = re.compile(rb"<" + _P + rb"t(?:\s[^<>]*)?>" + _inner(b"t") + rb"</" + _P + rb"t>|<" + _P + rb"t(?:\s[^<>]*)?/>")
_RPH = re.compile(rb"<" + _P + rb"rPh\b[^<>]*>" + _inner(b"rPh") + rb"</" + _P + rb"rPh>|<" + _P + rb"rPh\b[^<>]*/>")
_SI = re.compile(rb"<" + _P + rb"si(?:\s[^<>]*)?>" + _inner(b"si") + rb"</" + _P + rb"si>|<" + _P + rb"si\s*/>")
_SI_START = re.compile(rb"<" + _P + rb"si[\s/>]")
_ROW = re.compile(rb"<" + _P + rb"row(\s[^<>]*?)?(?:/>|>" + _inner(b"row") + rb"</" + _P + rb"row>)")
_ROW_START = re.compile(rb"<" + _P + rb"row[\s/>]")
_CELL_START = re.compile(rb"<" + _P + rb"c[\s/>]")
_SHEETDATA_END = re.compile(rb"</" + _P + rb"sheetData>|<" + _P + rb"sheetData\s*/>")
_PROTECTION = re.compile(rb"<" + _P + rb"sheetProtection\b([^<>]*?)/?>")
_SHEET_FAST = re.compile(rb'<sheet name="([^"]*)" sheetId="\d+"(?: state="(\w+)")? r:id="([^"]+)"\s*/>')
_PROPERTY_FAST = re.compile(rb'<property [^<>]*?\bname="([^"]*)"[^<>]*>\s*<vt:\w+>([^<]*)</vt:\w+>\s*</property>')
_RELATIONSHIP = _Rx(rb"<{P}Relationship\s([^<>]*?)/?>", b"Relationship")
_WB_ROOT = _Rx(rb"<{P}workbook\b", b"workbook")
_SHEET_EL = _Rx(rb"<{P}sheet\s([^<>]*?)/?>", b"sheet ")
_DEFINED_NAME = re.compile(
    rb"<" + _P + rb"definedName\b([^<>]*?)\sname\s*=\s*\"([^\"]*)\"([^<>]*)>([^<]*)</" + _P + rb"definedName>"
)
_DN_FAST = re.compile(rb'<definedName (?![^<>]*localSheetId)[^<>]*?\bname="([^"]+)"[^<>]*>([^<]*)</definedName>')
_WB_PROTECTION = _Rx(rb"<{P}workbookProtection\b([^<>]*?)/?>", b"workbookProtection")
_WB_PR = _Rx(rb"<{P}workbookPr\b([^<>]*?)/?>", b"workbookPr")
_APPLICATION = _Rx(rb"<{P}Application>" + _inner(b"Application", b"{P}") + rb"</{P}Application>", b"Application")
_APP_VERSION = _Rx(rb"<{P}AppVersion>" + _inner(b"AppVersion", b"{P}") + rb"</{P}AppVersion>", b"AppVersion")
_PROPERTY = _Rx(rb"<{P}property\s([^<>]*?)(?:/>|>" + _inner(b"property", b"{P}") + rb"</{P}property>)", b"property")
_PROP_START = re.compile(rb"<" + _P + rb"\w+>")  # the value element of a custom property: up to the first "</"
_NUMFMT = _Rx(rb"<{P}numFmt\s([^<>]*?)/?>", b"numFmt")
_CELLXFS = _Rx(rb"<{P}cellXfs\b[^<>]*>" + _inner(b"cellXfs", b"{P}") + rb"</{P}cellXfs>", b"cellXfs")
_XF = _Rx(rb"<{P}xf\b([^<>]*?)(?:/>|>" + _inner(b"xf", b"{P}") + rb"</{P}xf>)", b"xf")
_XF_START = _Rx(rb"<{P}xf[\s/>]", b"xf")
_CELLXFS_START = _Rx(rb"<{P}cellXfs[\s/>]", b"cellXfs")
_NUMFMT_ID = re.compile(rb"numFmtId\s*=\s*[\"'](\d+)[\"']")
_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_XESC = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ENT = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _ent(m: re.Match) -> str:
    e = m.group(1)
    if e[0] == "#":
        try:
            n = int(e[2:], 16) if e[1] in "xX" else int(e[1:])
            return chr(n) if 0 < n < 0x110000 else ""
        except ValueError:
            return ""
    return _ENT[e]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _paired(s: str) -> str:
    """``s`` without lone surrogates: a high + low pair written as two escapes becomes its character,
    any other surrogate U+FFFD.  Decoded bytes never hold one (``errors="replace"``); only a numeric
    reference (``&#xD800;``) or Excel's ``_xD800_`` can make one, and a str holding one cannot be
    printed, written as UTF-8 JSON or stored in SQLite — so every text read from a workbook is
    cleaned here, where escapes are decoded, and nothing downstream has to care."""
    if _SURROGATE.search(s) is None:
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def readable_name(name: str) -> str:
    """A file name or path fit to print, write as UTF-8 JSON and store in the ledger.  On Linux a
    name whose bytes are not UTF-8 (GBK, as unzipped from an archive made on Chinese Windows)
    reaches Python with its bytes as lone surrogates: they are decoded as GBK when that works,
    else shown as U+FFFD.  The file itself is still opened by its real name."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    if "/" in name:  # a path: each part on its own (a UTF-8 folder holding a GBK name)
        return "/".join(readable_name(part) for part in name.split("/"))
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that did not come from undecodable bytes
        return _paired(name)
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def xml_text(b: bytes) -> str:
    s = b.decode("utf-8", errors="replace")
    if "&" in s:
        s = _paired(_ENTITY.sub(_ent, s))
    return s


def _xesc(m: re.Match) -> str:
    return chr(int(m.group(1), 16))


def ooxml_text(b: bytes) -> str:
    """Text content of <t>: XML entities and the OOXML _xHHHH_ escapes decoded (lone surrogates
    as U+FFFD, see :func:`_paired`)."""
    s = xml_text(b)
    if "_x" in s:
        s = _paired(_XESC.sub(_xesc, s))
    return s


def _attrs(b: bytes | None) -> dict[bytes, bytes]:
    if not b:
        return {}
    return {k.split(b":")[-1]: (v1 if v1 or not v2 else v2) for k, v1, v2 in _ATTR.findall(b)}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def split_ref(ref: str) -> tuple[int, int]:
    """“J6” → (5, 9), 0-based."""
    m = re.match(r"^\$?([A-Za-z]{1,3})\$?(\d+)$", ref)
    if not m:
        raise ValueError(ref)
    return int(m.group(2)) - 1, col_index(m.group(1))


_REF_TOKEN = re.compile(
    r"(\"(?:[^\"]|\"\")*\")|('(?:[^']|'')*'!)|(?<![A-Za-z0-9_.$])(\$?)([A-Z]{1,3})(\$?)([0-9]{1,7})(?![0-9A-Za-z_(])"
)


def shift_formula(formula: str, drow: int, dcol: int) -> str:
    """Move the relative references of a formula by (drow, dcol) — expands shared formulas."""
    if not drow and not dcol:
        return formula

    def sub(m: re.Match) -> str:
        if m.group(1) or m.group(2):
            return m.group(0)
        cabs, col, rabs, row = m.group(3), m.group(4), m.group(5), m.group(6)
        c = col_index(col) + (0 if cabs else dcol)
        r = int(row) - 1 + (0 if rabs else drow)
        if c < 0 or r < 0:
            return "#REF!"
        letters = col_letter(c)
        return f"{cabs}{letters}{rabs}{r + 1}"

    return _REF_TOKEN.sub(sub, formula)


_BUILTIN_DATE_FMTS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))


def _is_date_format(code: str) -> bool:
    c = re.sub(r"\"[^\"]*\"|\[[^\]]*\]|\\.|_.|\*.", "", code)
    c = c.split(";")[0].lower()
    if "general" in c:
        return False
    return bool(re.search(r"[ymdhs]|e{1,2}|aaa", c))


@dataclass
class CellStyles:
    """Per cell-format index (a cell's ``s`` attribute): locked, quote prefix, date number format."""

    locked: list[bool] = field(default_factory=list)
    quote: list[bool] = field(default_factory=list)
    date: list[bool] = field(default_factory=list)


def _parse_styles(data: bytes) -> CellStyles:
    """Per cell-format index: locked, quote prefix, date number format."""
    st = CellStyles()
    fmts: dict[int, str] = {}
    for m in _NUMFMT(data).finditer(data):
        at = _attrs(m.group(1))
        try:
            fmts[int(at.get(b"numFmtId", b"-1"))] = xml_text(at.get(b"formatCode", b""))
        except ValueError:
            pass
    xm = _CELLXFS(data).search(data)
    xfs = xm.group(1) if xm else b""
    if xm is None and _CELLXFS_START(data).search(data):
        raise ValueError("cellXfs")
    xf_items = _XF(xfs).findall(xfs)
    if len(xf_items) != len(_XF_START(xfs).findall(xfs)):  # an unclosed <xf>: the indexes would shift
        raise ValueError("xf")
    for attrs, body in xf_items:
        nm = _NUMFMT_ID.search(attrs)
        fid = int(nm.group(1)) if nm else 0
        locked = not (body and (b'locked="0"' in body or b'locked="false"' in body or b"locked='0'" in body))
        st.locked.append(locked)
        st.quote.append(b'quotePrefix="1"' in attrs or b'quotePrefix="true"' in attrs)
        st.date.append(fid in _BUILTIN_DATE_FMTS or (fid in fmts and _is_date_format(fmts[fid])))
    return st


_MEMO: dict = {}
_PART_MEMO: dict = {}  # (name, crc, size, local header + compressed bytes) → decompressed part
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_SST_TEXT: dict[bytes, str] = {}
_PROT_ATTRS: dict[bytes, SheetInfo] = {}


def si_text(b: bytes) -> str:
    """The text of a shared-string item's inner XML (runs joined, phonetic runs dropped)."""
    if b"<" in b:
        if b"rPh" in b:
            b = _RPH.sub(b"", b)
        return "".join(ooxml_text(m.group(1) or b"") for m in _T.finditer(b))
    return ooxml_text(b)


def _parse_workbook(data: bytes):
    """(sheets as (name, state, rId), raw global defined names, decoded names or None,
    workbook protection attributes or None, date1904) of a workbook.xml."""
    fast = _SHEET_FAST.findall(data)
    if len(fast) == data.count(b"<sheet "):  # name, sheetId, state, r:id: as every writer orders them
        items = [
            (xml_text(n) if b"&" in n else n.decode("utf-8", "replace"), st or b"visible", rid) for n, st, rid in fast
        ]
    else:
        items = []
        for m in _SHEET_EL(data).finditer(data):
            at = _attrs(m.group(1))
            items.append((xml_text(at.get(b"name", b"")), at.get(b"state", b"visible"), at.get(b"id", b"")))
    sheets = tuple(
        (name, state.decode("ascii", "replace"), rid.decode("utf-8", "replace")) for name, state, rid in items
    )
    names = None
    if b":definedName" in data:  # namespace-prefixed writer: generic path
        names_raw: dict[bytes, bytes] = {}
        names = {}
        for pre, name, post, text in _DEFINED_NAME.findall(data):
            if b"localSheetId" not in pre and b"localSheetId" not in post:
                names[xml_text(name)] = xml_text(text)
    else:
        # global names only; sheet-scoped ones (Print_Titles …) are not used
        names_raw = dict(_DN_FAST.findall(data))
    wp = _WB_PROTECTION(data).search(data)
    wprot = {k.decode(): xml_text(v) for k, v in _attrs(wp.group(1)).items()} if wp else None
    pr = _WB_PR(data).search(data)
    date1904 = pr is not None and _attrs(pr.group(1)).get(b"date1904", b"").lower() in (b"1", b"true")
    return sheets, names_raw, names, wprot, date1904


def _memo(key, compute):
    """Results of pure functions of a part's bytes: the parts that are the same in every file of a
    batch (styles, relationships) are parsed once."""
    got = _MEMO.get(key)
    if got is None:
        if len(_MEMO) > 256:
            _MEMO.clear()
        got = _MEMO[key] = compute()
    return got


_BAD_ROW: dict = {}  # a row the fast pattern does not read completely
_ROWS: dict[bytes, dict] = {}  # row XML → its cells (two generations, ROWS_KEPT each)
_ROWS_OLD: dict[bytes, dict] = {}
ROWS_KEPT = 2048


def _rows_get(row: bytes) -> dict | None:
    got = _ROWS.get(row)
    if got is None:
        got = _ROWS_OLD.get(row)
        if got is not None:
            _rows_put(row, got)
    return got


def _rows_put(row: bytes, cells: dict) -> None:
    global _ROWS, _ROWS_OLD
    if len(_ROWS) >= ROWS_KEPT:
        _ROWS_OLD, _ROWS = _ROWS, {}
    _ROWS[row] = cells


def _parse_row(row: bytes) -> dict:
    """The cells of one row's XML (a chunk of <sheetData> ending before </row>) by the fast
    pattern: <c r="D4" s="17" t="s"> as Excel, WPS, LibreOffice and XlsxWriter write it; _BAD_ROW
    when some cell is not read by it (the sheet is then read by the generic parser)."""
    items = _CELL_FAST.findall(row)
    n = len(items)
    # every cell matched? (only <c> elements start with "<c", but for the run properties of
    # inline rich text, e.g. <color>: then count exactly)
    if n != row.count(b"<c") and n != row.count(b"<c ") + row.count(b"<c>"):
        return _BAD_ROW
    cells = dict(zip(map(_REF0, items), items))
    if any(map(_EXTRA, items)):  # other attributes after r/s/t (rare): look at them
        for ref, st, t, extra, content in items:
            if extra.strip() and (b"s=" in extra or b"t=" in extra):
                at = _attrs(extra)
                cells[ref] = (ref, at.get(b"s", st), at.get(b"t", t), b"", content)
    _rows_put(row, cells)
    return cells


_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class _Inflated(Exception):
    """A member decompressed to more bytes than its declared size (zip bomb or damaged file)."""


def _inflated(name: str, kind: str) -> ReadError:
    return ReadError(make_finding("E-FILE-INFLATED", part=name), kind)


def _bounded_decompress(ctype: int, comp: memoryview, bound: int, until: bytes | None) -> tuple[bytes, bool]:
    """Decompress ``comp`` (deflate, bzip2 or LZMA as zip stores them) in chunks, never past
    ``bound`` bytes of output; with ``until``, stop a little after that marker.  Returns the bytes
    and whether the whole stream (or the bound) was reached."""
    dobj: Any
    if ctype == zipfile.ZIP_DEFLATED:
        dobj = _inflate.decompressobj(-15)
    elif ctype == zipfile.ZIP_BZIP2:
        import bz2

        dobj = bz2.BZ2Decompressor()
    else:  # LZMA in zip: version (2 bytes), size of the properties (2 bytes), LZMA1 properties
        import lzma

        if len(comp) < 4:
            raise EOFError("LZMA header truncated")
        psize = comp[2] | comp[3] << 8
        props = bytes(comp[4 : 4 + psize])
        if psize < 5 or len(props) < 5:
            raise EOFError("LZMA properties truncated")
        lc_lp_pb = props[0]
        if lc_lp_pb >= 9 * 5 * 5:
            raise ValueError("invalid LZMA properties")
        filt = {
            "id": lzma.FILTER_LZMA1,
            "lc": lc_lp_pb % 9,
            "lp": (lc_lp_pb // 9) % 5,
            "pb": lc_lp_pb // 45,
            "dict_size": int.from_bytes(props[1:5], "little"),
        }
        dobj = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
        comp = comp[4 + psize :]
    is_zlib = ctype == zipfile.ZIP_DEFLATED
    buf = bytearray()
    tail: Any = comp
    while len(buf) < bound:
        if not is_zlib and dobj.eof:
            break
        chunk = dobj.decompress(tail, min(65536, bound - len(buf)))
        tail = dobj.unconsumed_tail if is_zlib else b""
        if not chunk:
            break
        buf += chunk
        if until is not None and buf.find(until, max(0, len(buf) - len(chunk) - len(until))) >= 0:
            if is_zlib or not dobj.eof:
                buf += dobj.decompress(tail, 4096)
            return bytes(buf), False
    return bytes(buf), True


def _member_bytes(d: bytes, info: zipfile.ZipInfo | _Member, until: bytes | None = None) -> bytes | None:
    """A member's bytes straight from the package in memory (no file object): stored, deflated,
    bzip2 or LZMA, not encrypted; the CRC is checked when the whole member is read.  Output is
    bounded while decompressing by the declared size (capped by MAX_MEMBER_BYTES): a member
    that inflates beyond what the central directory says (a lying size: zip bomb or damaged
    file) is refused after at most one byte more, never decompressed into memory.
    None where the zipfile module must do it (encrypted, not in memory)."""
    if info.flag_bits & 0x1 or info.compress_type not in _COMPRESSIONS:
        return None
    off = info.header_offset
    if d[off : off + 4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"Bad magic number for file header of {info.filename}")
    n, m = struct.unpack_from("<HH", d, off + 26)
    start = off + 30 + n + m
    comp = memoryview(d)[start : start + info.compress_size]
    if len(comp) != info.compress_size:
        raise zipfile.BadZipFile(f"{info.filename} is truncated")
    bound = min(info.file_size, MAX_MEMBER_BYTES) + 1  # one byte more tells a lying size
    if info.compress_type == zipfile.ZIP_STORED:
        data = bytes(comp[:bound])
        whole = True
    elif info.compress_type == zipfile.ZIP_DEFLATED and (until is None or info.file_size < 65536):
        data = _inflate.decompressobj(-15).decompress(comp, bound)
        whole = True
    else:
        data, whole = _bounded_decompress(info.compress_type, comp, bound, until if info.file_size >= 65536 else None)
    if len(data) > info.file_size:
        raise _Inflated(info.filename)
    if whole and (len(data) != info.file_size or _inflate.crc32(data) != info.CRC):
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return data


def zip_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """One member of a zip held in memory, decompressed within the same bounds as a workbook's
    parts (used for uploaded .zip folders of returns).  Raises ValueError with a Chinese reason:
    encrypted or unsupported, larger than its declared size (a zip bomb), or damaged."""
    try:
        got = _member_bytes(data, info)
    except _Inflated:
        raise ValueError("解压后比压缩包记录的大小更大（疑似“压缩炸弹”或文件已损坏）") from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, struct.error) as e:
        raise ValueError(f"文件已损坏（{type(e).__name__}）") from None
    if got is None:
        raise ValueError("加了密码或压缩方式不支持")
    return got


class XlsxBook(Book):
    """Direct reading of an Office Open XML workbook."""

    def __init__(
        self, data: bytes, kind: str = "xlsx", zf: zipfile.ZipFile | None = None, infos: Sequence[Any] | None = None
    ):
        self.kind = kind
        self.full = True
        self._data = data if isinstance(data, bytes) else None
        self._zip = zf
        if infos is None:
            infos = _central_directory(self._data) if zf is None and self._data is not None else None
            if infos is None:
                infos = self.zip.infolist()
        self.members = {i.filename: i for i in infos}
        _zip_guard(infos, kind)
        self.macros = any(n.lower().endswith("vbaproject.bin") for n in self.members)
        self._sheets: dict[str, dict[bytes, tuple[bytes, bytes, bytes, bytes, bytes]]] = {}
        self._sheet_info: dict[str, SheetInfo] = {}
        self._xml_cache: dict[str, tuple[bytes, bytes]] = {}
        self._xml_whole: set[str] = set()
        self._shared: dict[str, dict[bytes, tuple[int, int, str]]] = {}
        self._strings: list[bytes] | None = None
        self._si_cut = False
        self._string_cache: dict[int, str] = {}
        self._styles: CellStyles | None = None
        self._memo_parts: set[str] = {"docProps/app.xml", "_rels/.rels"}
        self._read_workbook()
        self._read_props()

    # -- parts -----------------------------------------------------------------------------

    def part(self, name: str, *, required: bool = True, until: bytes | None = None) -> bytes | None:
        """The decompressed part (bounded by MAX_MEMBER_BYTES).  With ``until``, decompression stops
        a little after that marker (a sheet's data validations and print set-up are not needed)."""
        info = self.members.get(name)
        if info is None:
            # tolerate case differences and leading slashes in targets
            low = name.lower().lstrip("/")
            info = next((i for n, i in self.members.items() if n.lower() == low), None)
            if info is None:
                if required:
                    raise _corrupt(f"缺少必需的组成部分 {name}", self.kind)
                return None
        memo_key = None
        d = self._data
        if (
            until is None
            and (name in self._memo_parts or name.endswith(".rels"))
            and info.compress_size <= 65536
            and d is not None
        ):
            # styles, relationships, app.xml: the same bytes in every return of a batch —
            # decompressed and checked once, keyed by the compressed bytes themselves
            off = info.header_offset
            if d[off : off + 4] == b"PK\x03\x04" and len(d) >= off + 30:
                n, m = struct.unpack_from("<HH", d, off + 26)
                start = off + 30 + n + m
                memo_key = (name, info.CRC, info.file_size, info.compress_type, d[start : start + info.compress_size])
                got = _PART_MEMO.get(memo_key)
                if got is not None:
                    return got
        try:
            data = self._member(info, until)
            if data is None and info.flag_bits & 0x1:
                raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted")
            if data is None and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                # the zipfile module would decompress such a member whole, whatever its size
                raise _corrupt(f"{name} 使用了不支持的压缩方式（{info.compress_type}）", self.kind)
            if data is None:  # not in memory: the zipfile module (deflate output bounded by read())
                with self.zip.open(self.zip.getinfo(info.filename) if isinstance(info, _Member) else info) as fh:
                    if until is None or info.file_size < 65536:
                        data = fh.read(MAX_MEMBER_BYTES + 1)
                    else:
                        buf = bytearray()
                        while len(buf) <= MAX_MEMBER_BYTES:
                            chunk = fh.read(32768)
                            if not chunk:
                                break
                            buf += chunk
                            if buf.find(until, max(0, len(buf) - len(chunk) - len(until))) >= 0:
                                buf += fh.read(4096)
                                break
                        data = bytes(buf)
        except _Inflated:
            raise _inflated(name, self.kind) from None
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            ValueError,
            OSError,
            EOFError,
            NotImplementedError,
            RuntimeError,
        ) as e:
            if "encrypted" in str(e).lower() or "password" in str(e).lower():
                raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted") from None
            raise _corrupt(f"{name} 无法解压（{_short(e)}）", self.kind) from None
        except Exception as e:  # zlib.error and friends
            raise _corrupt(f"{name} 无法解压（{_short(e)}）", self.kind) from None
        if len(data) > MAX_MEMBER_BYTES:
            raise ReadError(
                make_finding(
                    "E-FILE-TOO-LARGE",
                    reason=f"{name} 解压后超过 {MAX_MEMBER_BYTES // 1048576} MB",
                    limit=f"{MAX_MEMBER_BYTES // 1048576} MB",
                ),
                self.kind,
            )
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            try:
                data = data.decode("utf-16").encode("utf-8")
            except UnicodeError:
                raise _corrupt(f"{name} 编码无效", self.kind) from None
        # a DTD (and so any entity declaration) can only stand in the prolog, before the root element
        root = _ROOT_START.search(data)
        if b"<!" in (data[: root.start()] if root else data):
            prolog = data[: root.start()] if root else data
            if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                raise _corrupt(f"{name} 中含有不允许的 DTD/实体声明（出于安全原因拒绝读取）", self.kind)
        if memo_key is not None:
            if len(_PART_MEMO) >= 64:
                _PART_MEMO.clear()
            _PART_MEMO[memo_key] = data
        return data

    def _member(self, info: zipfile.ZipInfo | _Member, until: bytes | None) -> bytes | None:
        return None if self._data is None else _member_bytes(self._data, info, until)

    def _rels(self, base: str) -> dict[str, tuple[str, str]]:
        """rId → (type suffix, resolved part name) for the part ``base``."""
        d, _, f = base.rpartition("/")
        data = self.part(f"{d}/_rels/{f}.rels" if d else f"_rels/{f}.rels", required=False)
        if not data:
            return {}
        return _memo(("rels", base, data), lambda: self._parse_rels(d, data))

    @staticmethod
    def _parse_rels(d: str, data: bytes) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for m in _RELATIONSHIP(data).finditer(data):
            at = _attrs(m.group(1))
            if at.get(b"TargetMode") == b"External":
                continue
            target = xml_text(at.get(b"Target", b""))
            if target.startswith("/"):
                path = target.lstrip("/")
            else:
                parts = (d.split("/") if d else []) + target.split("/")
                stack: list[str] = []
                for p in parts:
                    if p == "..":
                        if stack:
                            stack.pop()
                    elif p and p != ".":
                        stack.append(p)
                path = "/".join(stack)
            out[xml_text(at.get(b"Id", b""))] = (xml_text(at.get(b"Type", b"")).rsplit("/", 1)[-1], path)
        return out

    def _read_workbook(self) -> None:
        root_rels = self._rels("")
        wb_part = next((p for t, p in root_rels.values() if t == "officeDocument"), "xl/workbook.xml")
        self.wb_part = wb_part
        data = self.part(wb_part) or b""
        if not _WB_ROOT(data).search(data[:4096]):
            raise _corrupt(f"{wb_part} 不是有效的工作簿定义", self.kind)
        rels = self._rels(wb_part)
        # the parse is a pure function of the part's bytes: the same workbook.xml in many files
        # (returns of one template) is parsed once
        # (the workbook protection, whose password hash differs per unit, is read on its own)
        i = data.find(b"<workbookProtection")
        j = data.find(b">", i) + 1 if i >= 0 else -1
        key = data[:i] + data[j:] if i >= 0 and j > 0 else data
        items, names_raw, names, wprot, date1904 = _memo(("workbook", key), lambda: _parse_workbook(data))
        if key is not data or i < 0:  # never taken from another file's parse
            wp = _WB_PROTECTION(data).search(data, max(i, 0))
            wprot = {k.decode(): xml_text(v) for k, v in _attrs(wp.group(1)).items()} if wp else None
        self.sheet_names, self.sheet_states, self._sheet_parts = [], {}, {}
        for name, state, rid in items:
            self.sheet_names.append(name)
            self.sheet_states[name] = state
            if rid in rels:
                self._sheet_parts[name] = rels[rid][1]
        self._names_raw = names_raw
        self._names = dict(names) if names is not None else None
        self.workbook_protection = dict(wprot) if wprot is not None else None
        self.date1904 = date1904
        self._styles_part = next((p for t, p in rels.values() if t == "styles"), None)
        if self._styles_part:
            self._memo_parts.add(self._styles_part)
        self._strings_part = next((p for t, p in rels.values() if t == "sharedStrings"), None)

    @property
    def names(self) -> dict[str, str]:  # type: ignore[override]
        if self._names is None:
            self._names = {xml_text(k): xml_text(v) for k, v in self._names_raw.items()}
        return self._names

    def name_raw(self, name: bytes) -> bytes | None:
        """The raw (XML-escaped) text of a global defined name, without decoding every name."""
        if self._names_raw:
            return self._names_raw.get(name)
        txt = self.names.get(name.decode())
        return txt.encode() if txt is not None else None

    def _read_props(self) -> None:
        self.application = ""
        self.app_version = ""
        self.custom = {}
        app = self.part("docProps/app.xml", required=False)
        if app:
            m = _APPLICATION(app).search(app)
            self.application = xml_text(m.group(1)).strip() if m else ""
            m = _APP_VERSION(app).search(app)
            self.app_version = xml_text(m.group(1)).strip() if m else ""
        custom = self.part("docProps/custom.xml", required=False)
        if custom:
            fast = _PROPERTY_FAST.findall(custom)
            if len(fast) == custom.count(b"<property "):
                self.custom = {xml_text(k): xml_text(v) for k, v in fast}
            else:
                for m in _PROPERTY(custom).finditer(custom):
                    at = _attrs(m.group(1))
                    body = m.group(2) or b""
                    vm = _PROP_START.search(body)  # its text: up to the first end tag (str.find: linear)
                    end = body.find(b"</", vm.end()) if vm else -1
                    self.custom[xml_text(at.get(b"name", b""))] = (
                        xml_text(body[vm.end() : end]) if vm and end >= 0 else ""
                    )

    @property
    def styles(self) -> CellStyles:
        """The cell formats of the styles part (parsed once per batch: the same part in every return)."""
        if self._styles is not None:
            return self._styles
        data = self.part(self._styles_part, required=False) if self._styles_part else None
        try:
            self._styles = _memo(("styles", data), lambda: _parse_styles(data)) if data else CellStyles()
        except ValueError:
            raise _corrupt(f"{self._styles_part} 中的单元格格式（cellXfs / xf）缺少结束标记", self.kind) from None
        return self._styles

    def shared_items(self) -> tuple[list[bytes], bool]:
        """(the shared-string items as raw XML, cut) — with ``cut`` each item is the text after
        its ``<si>`` up to the end of the part (its own ``</si>`` included: compare prefixes);
        else each is the inner XML of its ``<si>``.  :meth:`shared_string` decodes one."""
        return self._load_strings(), self._si_cut

    @property
    def names_raw(self) -> Mapping[bytes, bytes]:
        """The global defined names, raw (XML-escaped) as in workbook.xml; empty for a workbook
        whose names are namespace-prefixed (read through :attr:`names`).  The same object for the
        returns of one template (the part is parsed once): an identity to memoise on."""
        return self._names_raw

    def _load_strings(self) -> list[bytes]:
        if self._strings is None:
            data = self.part(self._strings_part, required=False) if self._strings_part else None
            if not data:
                self._strings = []
            elif b":si>" in data or b"<si " in data or b"<si/>" in data:
                self._strings = [m.group(1) or b"" for m in _SI.finditer(data)]
                if len(self._strings) != len(_SI_START.findall(data)):  # an unclosed <si>: indexes would shift
                    self._strings = None
                    raise _corrupt(f"{self._strings_part} 中的共享字符串（si）缺少结束标记", self.kind)
            else:  # <si>…</si> only: splitting is ~3× faster than a regex; each item is cut at
                # its </si> when it is used (most are not: user texts of other cells)
                self._strings = data.split(b"<si>")[1:]
                self._si_cut = True
        return self._strings

    def shared_string(self, i: int) -> str | None:
        if i in self._string_cache:
            return self._string_cache[i]
        strings = self._load_strings()
        if not 0 <= i < len(strings):
            return None
        b = strings[i]
        if self._si_cut:
            end = b.find(b"</si>")
            if end < 0:  # an unclosed <si> (it would run into the next item)
                raise _corrupt(f"{self._strings_part} 中的共享字符串（si）缺少结束标记", self.kind)
            b = b[:end]
        s = _SST_TEXT.get(b)  # the same string item in other files (labels): decoded once
        if s is None:
            s = si_text(b)
            if len(_SST_TEXT) >= 20000:
                _SST_TEXT.clear()
            _SST_TEXT[b] = s
        self._string_cache[i] = s
        return s

    # -- sheets ----------------------------------------------------------------------------

    def _sheet_xml(self, sheet: str, *, whole: bool = False) -> tuple[bytes, bytes]:
        """(sheetData part, what follows it) of a sheet's XML, read once.  The part is decompressed
        only a little past </sheetData> (where <sheetProtection> belongs) unless ``whole``."""
        got = self._xml_cache.get(sheet)
        if got is not None and (not whole or sheet in self._xml_whole):
            return got
        part = self._sheet_parts.get(sheet)
        if part is None:
            raise _corrupt(f"工作表“{sheet}”的数据缺失", self.kind)
        data = self.part(part, until=None if whole else b"</sheetData>") or b""
        if whole:
            self._xml_whole.add(sheet)
        cut = data.find(b"</sheetData>")
        if cut >= 0:
            cut += len(b"</sheetData>")
        else:
            end = _SHEETDATA_END.search(data)
            cut = end.end() if end else len(data)
        got = (data[:cut], data[cut:])
        self._xml_cache[sheet] = got
        return got

    def sheet_cells(self, sheet: str) -> dict[bytes, tuple[bytes, bytes, bytes, bytes, bytes]]:
        """A sheet's cells: ASCII address (b"D4") → (address, style index, type, other
        attributes, inner XML), all raw bytes."""
        cells = self._sheets.get(sheet)
        if cells is not None:
            return cells
        body, _tail = self._sheet_xml(sheet)
        # fast path: <c r="D4" s="17" t="s"> as Excel, WPS, LibreOffice and XlsxWriter write it
        # (from <sheetData> on: what comes before it, <cols> and <col>, is not cells)
        start = max(body.find(b"<sheetData"), 0)
        # row by row: a row's cells are a pure function of its bytes, and most rows are the same
        # in every return of a batch (labels, formulas, rows of zeros) — each is parsed once
        cells = {}
        whole = True
        for row in body[start:].split(b"</row>"):
            got = _rows_get(row)
            if got is None:
                got = _parse_row(row)
            if got is _BAD_ROW:
                whole = False
                break
            cells.update(got)
        if not whole or (not cells and b":c " in body):
            cells = self._cells_generic(body)
            if cells is None:
                raise _corrupt(
                    f"工作表“{sheet}”（{self._sheet_parts.get(sheet, '')}）中的行或单元格缺少结束标记", self.kind
                )
        self._sheets[sheet] = cells
        return cells

    @staticmethod
    def _cells_generic(body: bytes) -> dict[bytes, tuple[bytes, bytes, bytes, bytes, bytes]] | None:
        """Slow path: any attribute order, namespace prefixes, cells or rows without r=.  None when
        a row or a cell is not closed (the part is damaged)."""
        cells: dict[bytes, tuple[bytes, bytes, bytes, bytes, bytes]] = {}
        row_no = -1
        n_rows = n_cells = 0
        for rm in _ROW.finditer(body):
            n_rows += 1
            ra = _attrs(rm.group(1))
            try:
                row_no = int(ra[b"r"]) - 1 if b"r" in ra else row_no + 1
            except ValueError:
                row_no += 1
            col = -1
            for m in _CELL.finditer(rm.group(2) or b""):
                at = _attrs(m.group(1))
                ref = at.get(b"r", b"").decode("ascii", "replace").upper()
                try:
                    r, col = split_ref(ref)
                except ValueError:
                    col += 1
                    r = row_no
                key = a1(r, col).encode()
                cells[key] = (key, at.get(b"s", b""), at.get(b"t", b""), b"", m.group(2) or b"")
                n_cells += 1
        if n_rows != len(_ROW_START.findall(body)) or n_cells != len(_CELL_START.findall(body)):
            return None
        return cells

    def sheet_info(self, sheet: str) -> SheetInfo:
        info = self._sheet_info.get(sheet)
        if info is None:
            tail = self._sheet_xml(sheet)[1]
            if b"sheetProtection" not in tail:  # not right after the data: read the whole part
                tail = self._sheet_xml(sheet, whole=True)[1]
            i = tail.find(b"<sheetProtection")
            prot = (
                _PROTECTION.search(tail, i)
                if i >= 0
                else (_PROTECTION.search(tail) if b":sheetProtection" in tail else None)
            )
            if prot:
                raw = prot.group(1)
                info = _PROT_ATTRS.get(raw)  # a unit's sheets share one protection element
                if info is None:
                    if len(_PROT_ATTRS) > 512:
                        _PROT_ATTRS.clear()
                    info = _PROT_ATTRS[raw] = SheetInfo(
                        protection=MappingProxyType(
                            {k.decode(): v.decode("utf-8", "replace") for k, v in _attrs(raw).items()}
                        )
                    )
            else:
                info = _NO_PROTECTION
            self._sheet_info[sheet] = info
        return info

    def refs(self, sheet: str) -> Iterable[str]:
        return [r.decode() for r in self.sheet_cells(sheet)]

    def cell(self, sheet: str, ref: str) -> RawCell:
        cells = self._sheets.get(sheet)
        if cells is None:
            cells = self.sheet_cells(sheet)
        item = cells.get(ref.encode())
        if item is None:
            return BLANK
        _r, s, t, _x, body = item
        st = self._styles or self.styles
        i = int(s) if s.isdigit() else 0
        if i < len(st.locked):
            locked, quote, is_date = st.locked[i], st.quote[i], st.date[i]
        else:
            locked, quote, is_date = True, False, False
        if not body:
            return RawCell("blank", None, None, None, quote, locked)
        formula = None
        inline = None
        if body[:3] == b"<v>" and body[-4:] == b"</v>":
            v = body[3:-4]
            if t == b"s":
                try:
                    txt = self.shared_string(int(v))
                except ValueError:
                    txt = None
                if txt is not None:
                    return RawCell("text", txt, None, None, quote, locked)
        else:
            v = None
            fm = _F.search(body)
            if fm is not None:
                formula = self._formula(sheet, ref, fm)
            vm = _V.search(body)
            if vm is not None:
                v = vm.group(1)
            if t == b"inlineStr":
                inline = "".join(ooxml_text(m.group(1) or b"") for m in _T.finditer(_RPH.sub(b"", body)))
        kind, value = self._value(t, v, inline, is_date)
        if formula is not None:
            return RawCell("formula", value, formula, kind, quote, locked)
        return RawCell(kind, value, None, None, quote, locked)

    def is_formula(self, sheet: str, ref: str) -> bool:
        """``cell(sheet, ref).kind == "formula"``, without building the cell."""
        cells = self._sheets.get(sheet)
        if cells is None:
            cells = self.sheet_cells(sheet)
        item = cells.get(ref.encode())
        if item is None:
            return False
        body = item[4]
        if not body or (body[:3] == b"<v>" and body[-4:] == b"</v>"):
            return False
        return _F.search(body) is not None

    def locked(self, sheet: str, ref: str) -> bool | None:
        """``cell(sheet, ref).locked``, without building the cell."""
        cells = self._sheets.get(sheet)
        if cells is None:
            cells = self.sheet_cells(sheet)
        item = cells.get(ref.encode())
        if item is None:
            return BLANK.locked
        s = item[1]
        st = self._styles or self.styles
        i = int(s) if s.isdigit() else 0
        return st.locked[i] if i < len(st.locked) else True

    def shared_text(self, sheet: str, ref: str) -> tuple[str, bool] | None:
        """(text, quote prefix) of a cell holding a shared string — what :meth:`cell` gives as
        a text cell — else None (any other cell: ask :meth:`cell`)."""
        cells = self._sheets.get(sheet)
        if cells is None:
            cells = self.sheet_cells(sheet)
        item = cells.get(ref.encode())
        if item is None or item[2] != b"s":
            return None
        body = item[4]
        if body[:3] != b"<v>" or body[-4:] != b"</v>" or len(body) > 30 or not body[3:-4].isdigit():
            return None
        txt = self.shared_string(int(body[3:-4]))
        if txt is None:
            return None
        s = item[1]
        st = self._styles or self.styles
        i = int(s) if s.isdigit() else 0
        return txt, (st.quote[i] if i < len(st.quote) else False)

    def formula_parts(self, sheet: str, ref: str) -> tuple[bytes, bytes] | None:
        """(type attribute, raw XML body) of a cell — for the checker's fast formula comparison."""
        cells = self._sheets.get(sheet)
        if cells is None:
            cells = self.sheet_cells(sheet)
        item = cells.get(ref.encode())
        return (item[2], item[4]) if item is not None else None

    def _value(self, t: bytes, v: bytes | None, inline: str | None, is_date: bool) -> tuple[str, Any]:
        if t == b"inlineStr":
            return ("text", inline) if inline else ("blank", None)
        if not v:
            return "blank", None
        if t == b"s":
            try:
                s = self.shared_string(int(v))
            except ValueError:
                s = None
            return ("text", s) if s is not None else ("error", "#共享字符串缺失")
        if t in (b"str", b"e"):
            txt = xml_text(v)
            if t == b"e":
                return "error", txt
            return ("text", txt) if txt != "" else ("blank", None)
        if t == b"b":
            return "bool", v.strip() in (b"1", b"true")
        if t == b"d":
            txt = xml_text(v).strip()
            try:
                return "date", datetime.fromisoformat(txt.replace("Z", ""))
            except ValueError:
                return "text", txt
        txt = v.decode("ascii", errors="replace").strip()
        if is_date:
            return "date", txt
        return "number", txt

    def _formula(self, sheet: str, ref: str, fm: re.Match) -> str:
        fa = _attrs(fm.group(1))
        text = ooxml_text(fm.group(2)) if fm.group(2) else ""
        if fa.get(b"t") == b"shared":
            si = fa.get(b"si", b"")
            if text:
                return text
            master = self._shared_masters(sheet).get(si)
            if master is None:
                return ""
            mr, mc, mtext = master
            r, c = split_ref(ref)
            return shift_formula(mtext, r - mr, c - mc)
        return text

    def _shared_masters(self, sheet: str) -> dict[bytes, tuple[int, int, str]]:
        m = self._shared.get(sheet)
        if m is not None:
            return m
        m = {}
        for ref, (_r, _s, _t, _x, body) in self.sheet_cells(sheet).items():
            if not body or b"shared" not in body:
                continue
            fm = _F.search(body)
            if fm is None:
                continue
            fa = _attrs(fm.group(1))
            if fa.get(b"t") == b"shared" and fm.group(2):
                r, c = split_ref(ref.decode())
                m[fa.get(b"si", b"")] = (r, c, ooxml_text(fm.group(2)))
        self._shared[sheet] = m
        return m

    @property
    def zip(self) -> zipfile.ZipFile:
        """The zipfile module's view of the package, opened only where it is needed (members our
        own reading does not handle: encrypted, ZIP64, unusual compression)."""
        if self._zip is None:
            try:
                self._zip = zipfile.ZipFile(io.BytesIO(self._data or b""))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
                raise _corrupt(f"压缩包结构损坏（{_short(e)}）", self.kind) from None
        return self._zip

    def close(self) -> None:
        if self._zip is not None:
            try:
                self._zip.close()
            except Exception:  # noqa: BLE001
                pass


class _Member:
    """What the reader needs of a central-directory entry (the attributes of zipfile.ZipInfo)."""

    __slots__ = ("filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size", "header_offset")
    filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (22 bytes)
_CDIR = struct.Struct("<4s4B4HL2L5H2L")  # central directory entry (46 bytes), as in zipfile


def _central_directory(data: bytes) -> list[_Member] | None:
    """The central directory of a plain single-disk zip read with struct (~5× faster than
    zipfile for the 20 parts of a workbook); None for anything else (ZIP64, data prepended,
    inconsistent entries): the zipfile module then reads it, and judges it."""
    n = len(data)
    i = data.rfind(b"PK\x05\x06", max(0, n - 65557))
    if i < 0 or i + 22 > n:
        return None
    _sig, disk, disk_cd, count_disk, count, size_cd, off_cd, _clen = _EOCD.unpack_from(data, i)
    if disk or disk_cd or count != count_disk or count == 0xFFFF or size_cd == 0xFFFFFFFF or off_cd == 0xFFFFFFFF:
        return None
    if off_cd + size_cd != i or (i >= 20 and data[i - 20 : i - 16] == b"PK\x06\x07"):
        return None
    out = []
    p = off_cd
    unpack = _CDIR.unpack_from
    for _ in range(count):
        if p + 46 > i:
            return None
        sig, _cv, _cs, _ev, _es, flags, ctype, _t, _d, crc, csize, usize, nlen, xlen, klen, _ds, _ia, _ea, hoff = (
            unpack(data, p)
        )
        if sig != b"PK\x01\x02" or csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or hoff == 0xFFFFFFFF:
            return None
        raw = data[p + 46 : p + 46 + nlen]
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if "\x00" in name:
            name = name[: name.find("\x00")]
        m = _Member()
        m.filename, m.flag_bits, m.compress_type, m.CRC, m.compress_size, m.file_size, m.header_offset = (
            name,
            flags,
            ctype,
            crc,
            csize,
            usize,
            hoff,
        )
        out.append(m)
        p += 46 + nlen + xlen + klen
    if p != i:
        return None
    return out


def _zip_guard(infos: Sequence[Any], kind: str) -> None:
    """Zip-bomb guard on the central directory, before anything is decompressed."""
    if len(infos) > MAX_MEMBERS:
        raise ReadError(
            make_finding("E-FILE-TOO-LARGE", reason=f"压缩包内有 {len(infos)} 个组成部分", limit=f"{MAX_MEMBERS} 个"),
            kind,
        )
    total = 0
    for i in infos:
        total += i.file_size
        if i.file_size > MAX_MEMBER_BYTES:
            raise ReadError(
                make_finding(
                    "E-FILE-TOO-LARGE",
                    reason=f"组成部分 {i.filename} 解压后有 {i.file_size // 1048576} MB",
                    limit=f"{MAX_MEMBER_BYTES // 1048576} MB",
                ),
                kind,
            )
        if i.file_size > RATIO_MIN_SIZE and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise ReadError(
                make_finding(
                    "E-FILE-TOO-LARGE",
                    reason=f"组成部分 {i.filename} 的压缩比异常（{i.file_size // max(i.compress_size, 1)} 倍，疑似“压缩炸弹”）",
                    limit=f"{MAX_RATIO} 倍",
                ),
                kind,
            )
    if total > MAX_UNZIPPED_BYTES:
        raise ReadError(
            make_finding(
                "E-FILE-TOO-LARGE",
                reason=f"解压后共 {total // 1048576} MB",
                limit=f"{MAX_UNZIPPED_BYTES // 1048576} MB",
            ),
            kind,
        )


# ---- values-only reading (xls, et, ods) ---------------------------------------------------------

# the tags of content.xml whose repeat counts python-calamine expands (matched by qualified name, as
# calamine does); attributes stop at the next '<' or '>' (linear on unclosed tags)
_ODS_TAG = re.compile(
    rb"<(/?)(table:table|table:table-row|table:table-cell|table:covered-table-cell|text:s)(?=[\s/>])([^<>]*)>"
)
_ODS_ROWS = re.compile(rb'table:number-rows-repeated\s*=\s*["\']\s*(\d+)')
_ODS_COLS = re.compile(rb'table:number-columns-repeated\s*=\s*["\']\s*(\d+)')
_ODS_SPACES = re.compile(rb'text:c\s*=\s*["\']\s*(\d+)')
_ODS_VALUE = re.compile(rb"office:value-type\s*=")
_ODS_MAX_REPEAT = 1 << 40  # a repeat count is capped here before it is multiplied (calamine caps far lower)


def _ods_count(rx: re.Pattern[bytes], attrs: bytes) -> int:
    m = rx.search(attrs)
    if m is None:
        return 1
    digits = m.group(1).lstrip(b"0")
    return min(int(digits), _ODS_MAX_REPEAT) if 0 < len(digits) <= 13 else (_ODS_MAX_REPEAT if digits else 1)


def ods_expansion(xml: bytes) -> tuple[int, int]:
    """(cells, text bytes) python-calamine would build from an .ods content.xml: per table, the rows
    up to the last row with a non-empty cell times the widest such row; and the text of non-empty
    cells (inner XML plus runs of spaces, ``<text:s text:c=…/>``) times their repeats.  Empty rows
    and cells repeated after the last value (LibreOffice writes them up to 1,048,576 rows) cost
    nothing.  One pass, linear in ``xml``."""
    cells = text = 0
    height = width = used_height = 0
    row_rep = 1
    row_w = row_last = 0
    cell_start = -1
    cell_rep = 1
    cell_spaces = 0
    for m in _ODS_TAG.finditer(xml):
        close, tag, attrs = m.group(1), m.group(2), m.group(3)
        empty = attrs.endswith(b"/")
        if tag == b"text:s":
            n = _ods_count(_ODS_SPACES, attrs)
            if cell_start >= 0:
                cell_spaces += n
            else:
                text += n
        elif tag == b"table:table":
            if not close:
                height = width = used_height = 0
            else:
                cells += used_height * width
                height = width = used_height = 0
        elif tag == b"table:table-row":
            if not close:
                row_rep, row_w, row_last = _ods_count(_ODS_ROWS, attrs), 0, 0
            if close or empty:
                height += row_rep
                if row_last:
                    width, used_height = max(width, row_last), height
                row_rep = 1
        elif not close:  # a cell starts
            rep = _ods_count(_ODS_COLS, attrs)
            row_w += rep
            if empty:
                if _ODS_VALUE.search(attrs):
                    row_last = row_w
            else:
                cell_start, cell_rep, cell_spaces = m.end(), rep, 0
        elif cell_start >= 0:  # a cell ends: it holds text (or at least elements)
            row_last = row_w
            text += (m.start() - cell_start + cell_spaces) * cell_rep * row_rep
            cell_start = -1
    cells += used_height * width  # a table left open
    return cells, text


def _ods_guard(data: bytes, z: zipfile.ZipFile, name: str | None) -> None:
    """Refuse an .ods whose repeat counts would expand past MAX_GRID_CELLS / MAX_ODS_TEXT, before
    python-calamine builds them (content.xml read bounded by its declared size)."""
    if name is None:
        return  # calamine reports the missing part
    try:
        xml = _zip_read(data, z, name)
    except _Inflated:
        raise _inflated(name, "ods") from None
    except Exception as e:  # noqa: BLE001 - any damage: the same words as the rest of the package
        raise _corrupt(f"{name} 无法解压（{_short(e)}）", "ods") from None
    cells, text = ods_expansion(xml)
    if cells > MAX_GRID_CELLS:
        raise ReadError(
            make_finding(
                "E-FILE-TOO-LARGE",
                reason=f"组成部分 {name} 中重复的行、列展开后约有 {min(cells, 10**13):,} 个单元格",
                limit=f"{MAX_GRID_CELLS // 10000} 万个单元格",
            ),
            "ods",
        )
    if text > MAX_ODS_TEXT:
        raise ReadError(
            make_finding(
                "E-FILE-TOO-LARGE",
                reason=f"组成部分 {name} 中的文字（含重复的单元格和空格）展开后约 {min(text, 10**13) / 1048576:,.0f} MB",
                limit=f"{MAX_ODS_TEXT // 1048576} MB",
            ),
            "ods",
        )


def is_library_failure(e: BaseException) -> bool:
    """An exception of a library reading a file — an ordinary one, or the PanicException a Rust
    library (python-calamine) raises when it panics on a damaged file: a BaseException, which
    ``except Exception`` lets through as a traceback (an .xls whose sheet offset is 0xFFFFFFFF)."""
    return isinstance(e, Exception) or type(e).__name__ == "PanicException"


class ValuesBook(Book):
    """.xls / .et / .ods read with python-calamine: values (and cached formula results) only."""

    def __init__(self, data: bytes, kind: str):
        self.kind = kind
        self.full = False
        self.custom = {}
        self.names = {}
        self.workbook_protection = None
        self.application = ""
        self._rows: dict[str, list[list[Any]]] = {}
        try:
            from python_calamine import CalamineWorkbook

            self.wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
            meta = self.wb.sheets_metadata
        except BaseException as e:  # noqa: BLE001 - calamine raises many error types, and panics
            if not is_library_failure(e):
                raise
            msg = str(e).lower()
            if "password" in msg or "encrypt" in msg:
                raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted") from None
            raise _corrupt(f"无法读取 {KIND_LABELS.get(kind, kind)}（{_short(e)}）", kind) from None
        self.sheet_names = [m.name for m in meta]
        self.sheet_states = {}
        for m in meta:
            vis = str(getattr(m, "visible", "")).lower()
            self.sheet_states[m.name] = (
                "veryHidden" if "veryhidden" in vis else ("hidden" if "hidden" in vis else "visible")
            )

    def _sheet(self, sheet: str) -> list[list[Any]]:
        rows = self._rows.get(sheet)
        if rows is None:
            try:
                rows = self.wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            except BaseException as e:  # noqa: BLE001 - and panics
                if not is_library_failure(e):
                    raise
                raise _corrupt(f"工作表“{sheet}”无法读取（{_short(e)}）", self.kind) from None
            self._rows[sheet] = rows
        return rows

    def cell(self, sheet: str, ref: str) -> RawCell:
        from gkxlsx.check.values import as_raw

        r, c = split_ref(ref)
        rows = self._sheet(sheet)
        if r >= len(rows) or c >= len(rows[r]):
            return BLANK
        return as_raw(rows[r][c])

    def refs(self, sheet: str) -> Iterable[str]:
        out = []
        for r, row in enumerate(self._sheet(sheet)):
            for c, v in enumerate(row):
                if v not in (None, ""):
                    out.append(a1(r, c))
        return out


# --------------------------------------------------------------------------------------------
# load


def _short(e: BaseException) -> str:
    s = str(e) or type(e).__name__
    return s[:120]


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[FileInfo, bytes]:
    info = FileInfo(path=path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ReadError(make_finding("E-FILE-READ", reason="找不到文件"), "missing") from None
    except OSError as e:
        raise ReadError(make_finding("E-FILE-READ", reason=e.strerror or _short(e)), "missing") from None
    info.size = st.st_size
    if not stat.S_ISREG(st.st_mode):
        raise ReadError(make_finding("E-FILE-READ", reason="这不是一个普通文件"), "missing")
    if st.st_size > max_bytes:
        raise ReadError(
            make_finding(
                "E-FILE-TOO-LARGE",
                reason=f"文件大小为 {st.st_size / 1048576:.1f} MB",
                limit=f"{max_bytes // 1048576} MB",
            ),
            "too-large",
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ReadError(make_finding("E-FILE-READ", reason=e.strerror or _short(e)), "missing") from None
    info.size = len(data)
    info.sha256 = hashlib.sha256(data).hexdigest()
    return info, data


def open_book(data: bytes, name: str) -> tuple[str, Book]:
    """Triage ``data`` and open it.  Returns (kind, book) or raises ReadError."""
    ext = Path(name).suffix.lower()
    kind = sniff(data, name)
    if kind == "empty":
        raise _corrupt("文件是空的（0 字节）", "empty")
    if kind == "zip":
        return _open_zip(data, ext)
    if kind == "ole":
        return _open_ole(data, ext)
    if kind == "html":
        raise _type_error(
            f"这是一个网页（HTML）文件，只是扩展名为“{ext or '无'}”，不是真正的 Excel 工作簿（常见于从网页或某些系统“导出 Excel”得到的文件）。",
            "html",
        )
    if kind == "spreadsheetml":
        raise _type_error(
            f"这是“XML 电子表格 2003”格式的文件（扩展名为“{ext or '无'}”），不是本次下发的填报工作簿格式。",
            "spreadsheetml",
        )
    if kind == "xml":
        raise _type_error("这是一个 XML 文本文件，不是 Excel 工作簿。", "xml")
    if kind == "text":
        raise _type_error(
            f"这是一个纯文本文件（如 TXT、CSV），只是扩展名为“{ext or '无'}”，不是 Excel 工作簿。", "text"
        )
    if kind == "pdf":
        raise _type_error(
            "这是一个 PDF 文件，不是 Excel 工作簿。请报送填写好的填报工作簿本身，而不是打印或导出的 PDF。", "pdf"
        )
    if kind == "image":
        raise _type_error(
            "这是一个图片文件，不是 Excel 工作簿。请报送填写好的填报工作簿本身，不要截图或拍照。", "image"
        )
    if kind == "archive":
        raise _type_error("这是一个压缩包（RAR/7z/gz），不是 Excel 工作簿。请解压后报送其中的填报工作簿。", "archive")
    if kind == "rtf":
        raise _type_error("这是一个 RTF 文档，不是 Excel 工作簿。", "rtf")
    if kind == "biff-raw":
        raise _type_error("这是一个很旧的 Excel 文件格式（Excel 4.0 或更早），无法读取。", "biff-raw")
    raise _type_error("无法识别这个文件的类型，它不是 Excel 或 WPS 表格文件。", "unknown")


def _zip_read(data: bytes, z: zipfile.ZipFile, name: str) -> bytes:
    """A member read with its output bounded (see _member_bytes); zipfile only for the rest."""
    got = _member_bytes(data, z.getinfo(name))
    if got is not None:
        return got
    with z.open(name) as fh:
        return fh.read(MAX_MEMBER_BYTES + 1)


def _open_zip(data: bytes, ext: str) -> tuple[str, Book]:
    infos: Sequence[_Member | zipfile.ZipInfo] | None = _central_directory(data)
    z = None
    try:
        if infos is None:
            z = zipfile.ZipFile(io.BytesIO(data))
            infos = z.infolist()
        names = {i.filename for i in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise _corrupt(f"压缩包结构损坏（{_short(e)}）", "zip") from None
    low = {n.lower(): n for n in names}
    if "mimetype" in low:
        try:
            z = z or zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
            raise _corrupt(f"压缩包结构损坏（{_short(e)}）", "ods") from None
        try:
            _zip_guard(z.infolist(), "ods")
            mt = _zip_read(data, z, low["mimetype"])[:200]
        except ReadError:
            raise
        except _Inflated:
            raise _inflated(low["mimetype"], "ods") from None
        except Exception as e:  # noqa: BLE001
            raise _corrupt(f"压缩包结构损坏（{_short(e)}）", "ods") from None
        if b"opendocument.spreadsheet" in mt:
            man = low.get("meta-inf/manifest.xml")
            if man is not None:
                try:
                    if b"encryption-data" in _zip_read(data, z, man)[: 1 << 20]:
                        raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted")
                except ReadError:
                    raise
                except Exception:  # noqa: BLE001
                    pass
            _ods_guard(data, z, low.get("content.xml"))
            return "ods", ValuesBook(data, "ods")
        if b"opendocument.text" in mt:
            raise _type_error("这是一个 OpenDocument 文字文档（.odt），不是电子表格。", "odt")
        raise _type_error("这是一个 OpenDocument 文件，但不是电子表格。", "odf")
    if "word/document.xml" in low:
        raise ReadError(make_finding("E-FILE-TYPE", variant="docx"), "docx")
    if "ppt/presentation.xml" in low:
        raise _type_error("这是一个 PowerPoint 演示文稿，不是 Excel 工作簿。", "pptx")
    if "[content_types].xml" in low and any(n.startswith("xl/") for n in low):
        kind = "xlsm" if any(n.endswith("vbaproject.bin") for n in low) else "xlsx"
        return kind, XlsxBook(data, kind, z, infos)
    if any(Path(n).suffix.lower() in SPREADSHEET_SUFFIXES for n in names):
        raise _type_error("这是一个压缩包（.zip），里面包含表格文件。请解压后直接报送其中的填报工作簿。", "zip")
    raise _type_error("这是一个压缩包（.zip）或其他压缩格式的文件，不是 Excel 工作簿。", "zip")


def _open_ole(data: bytes, ext: str) -> tuple[str, Book]:
    try:
        ole = ole_streams(data)
        streams = ole.streams
    except (ValueError, struct.error, IndexError) as e:
        raise _corrupt(f"文件结构损坏（{_short(e)}）", "ole") from None
    names = {n.lower(): n for n in streams}
    if "encryptioninfo" in names or "encryptedpackage" in names:
        raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted")
    if "workbook" in names or "book" in names:
        start, size = streams[names.get("workbook") or names["book"]]
        if size >= 4096:
            try:
                if _biff_encrypted(_ole_read_head(data, ole, start, size)):
                    raise ReadError(make_finding("E-FILE-ENCRYPTED"), "encrypted")
            except (struct.error, IndexError, KeyError):
                pass
        kind = "et" if ext == ".et" else "xls"
        try:
            cells, outside = biff_scan(ole_stream(data, ole, start, size))
        except (struct.error, IndexError, ValueError):
            cells, outside = 0, False  # calamine reports the damage in its own words
        if outside:  # before calamine panics on it (and prints its panic on stderr)
            raise _corrupt("工作表的位置超出了工作簿数据流", kind)
        if cells > MAX_GRID_CELLS:
            raise ReadError(
                make_finding(
                    "E-FILE-TOO-LARGE",
                    reason=f"工作表中数据所在的区域约有 {cells:,} 个单元格",
                    limit=f"{MAX_GRID_CELLS // 10000} 万个单元格",
                ),
                kind,
            )
        return kind, ValuesBook(data, kind)
    if "worddocument" in names:
        raise _type_error("这是一个 Word 97-2003 文档（.doc），不是 Excel 工作簿。", "doc")
    if "powerpoint document" in names:
        raise _type_error("这是一个 PowerPoint 演示文稿，不是 Excel 工作簿。", "ppt")
    raise _type_error("这是一个 Office 复合文档，但其中没有工作簿数据。", "ole")


def load(
    path: str | Path, *, max_bytes: int = MAX_FILE_BYTES, data: bytes | None = None, sha256: str | None = None
) -> tuple[FileInfo, Book]:
    """Read and triage one file.  Raises ReadError (with a Chinese finding) when it cannot be read.
    ``data``: the file's bytes, already read by the caller (``path`` then only names the file);
    ``sha256``: their hash, when the caller has computed it.

    The returned FileInfo is also attached to the ReadError as ``.info`` when possible."""
    p = Path(path)
    info = FileInfo(path=p)
    try:
        if data is None:
            info, data = read_bytes(p, max_bytes)
        else:
            info.size = len(data)
            if info.size > max_bytes:
                raise ReadError(
                    make_finding(
                        "E-FILE-TOO-LARGE",
                        reason=f"文件大小为 {info.size / 1048576:.1f} MB",
                        limit=f"{max_bytes // 1048576} MB",
                    ),
                    "too-large",
                )
            info.sha256 = sha256 or hashlib.sha256(data).hexdigest()
        kind, book = open_book(data, p.name)
        info.kind = kind
        return info, book
    except ReadError as e:
        if info.kind == "unknown":
            info.kind = e.kind
        e.info = info  # type: ignore[attr-defined]
        raise
