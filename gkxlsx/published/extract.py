"""Extract an already-published report — text copied from a web page, a saved HTML page, a .docx
or a PDF — into the same keyed data the workbooks produce.

The tables are read against the form definition, never by fixed positions: the labels, row order
and column counts come from :func:`gkxlsx.form.model.load_form`, and the label variants real pages
show (本年发件, 现行有效件, “商业\\n\\n企业”, truncated 结果/其他/尚未, 规范性文件 …) come from
``gkxlsx/data/extract.json``.  The text is cut into tokens (one per table cell as far as the
page shows cells: lines, “|”, tabs, runs of spaces); every recognised row label is an *anchor*;
the numbers between two anchors belong to the rows between them, and are assigned only when
their count leaves no doubt:

* exactly the row's cells → read;
* one extra number in front of every row whose label is not in the text → the label was replaced
  by that number (seed 001: “0” for “1.属于国家秘密”) → read, noted;
* a single run of digits with one way to split it into the row's cells (“0000000”) → read, noted;
* anything else → every cell of those rows is *ambiguous* (value ``None``), never shifted.

“/” “—” “无” read as 0 with a note; a blank cell (HTML/Word) is *missing*.  Nothing is guessed.

``extract_text(text) -> Extraction`` and ``extract_file(path) -> Extraction``; the Extraction has
``.report`` (a :class:`gkxlsx.form.report.Report` with every table key including the derived totals as
printed, the narrative fields, ``meta.*``), ``.status`` per cell (read / missing / ambiguous),
``.notes`` per cell, ``.positions`` (“三、表格第6行（（一）予以公开）第7列（总计）”),
``.format_id``, ``.title``, ``.publish_date``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import html
import html.parser
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from gkxlsx.form.datafiles import compiled, data_file
from gkxlsx.form.model import Form, FormError, HeaderNode, Leaf, Table, form_for_year, load_form
from gkxlsx.form.report import Report
from gkxlsx.published import fees, headings, notreport, runtogether
from gkxlsx.text.narrative import Document, NormText, canonical_titles, label_key, normalize, q, split_sections

BLANK = "\ue000"  # an empty table cell in HTML / Word input
READ, MISSING, AMBIGUOUS = "read", "missing", "ambiguous"
STATUS_ZH = {READ: "已读取", MISSING: "缺失", AMBIGUOUS: "无法确定"}
SUPPORTED = (".txt", ".text", ".md", ".html", ".htm", ".xhtml", ".docx", ".doc", ".pdf")
FORMS = ("2021", "2019")


class ExtractError(Exception):
    """The input cannot be read (message in Chinese, names the file)."""


def data() -> dict[str, Any]:
    return data_file("extract")


_re = compiled


# --------------------------------------------------------------------------------------------
# results


@dataclass
class LabelIssue:
    """A table label printed differently from the official one."""

    kind: str  # typo | older | newer | truncated | fuzzy | unrecognised | replaced | absent
    found: str  # as printed (original characters)
    expected: str  # the official label
    section: str
    where: str  # “二、第二十条第（一）项表头” / “三、表格第8行”
    keys: tuple[str, ...] = ()
    line: int = 0


@dataclass
class RowIssue:
    """Rows whose cells could not be read."""

    kind: str  # ambiguous | missing
    rows: tuple[str, ...]  # official row labels
    expected: int  # number of cells expected
    found: tuple[str, ...]  # the tokens found (as printed)
    section: str
    where: str
    keys: tuple[str, ...] = ()
    line: int = 0


@dataclass
class Extraction:
    report: Report
    status: dict[str, str]
    notes: dict[str, list[str]]
    positions: dict[str, str]
    format_id: str
    title: str
    publish_date: dt.date | None
    source: str = ""
    document: Document | None = None
    label_issues: list[LabelIssue] = field(default_factory=list)
    row_issues: list[RowIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # extraction-level remarks (Chinese)
    year_source: str = ""  # where the year was found: 标题 / 正文 / 统计期间 / ""
    format_reason: str = ""
    runon: list[runtogether.Pending] = field(default_factory=list)  # rows whose cells lost their separators
    not_report: str | None = None  # the file is not a report: table / notice / other (notreport.verdict)

    @property
    def form(self) -> Form:
        return self.report.form

    @property
    def full_text(self) -> str:
        return self.document.nt.display if self.document is not None else ""

    def counts(self) -> dict[str, int]:
        out = {READ: 0, MISSING: 0, AMBIGUOUS: 0}
        for s in self.status.values():
            out[s] += 1
        return out

    def keys_with(self, status: str) -> list[str]:
        return [k for k, s in self.status.items() if s == status]

    def to_dict(self) -> dict[str, Any]:
        """Keyed JSON for ``gkxlsx extract --json`` and a campaign baseline import."""

        def j(v):
            if isinstance(v, Decimal):
                return int(v) if v == v.to_integral_value() else float(v)
            return v

        r = self.report
        return {
            "schema": "gkxlsx.published.extract/1",
            "source": self.source,
            "title": self.title,
            "unit": r.unit_name,
            "unit_type": r.unit_type,
            "year": r.year or None,
            "format": None if self.not_report else self.format_id,
            "not_report": self.not_report,
            "publish_date": self.publish_date.isoformat() if self.publish_date else None,
            "counts": self.counts(),
            "values": {k: j(v) for k, v in r.values.items()},
            "status": dict(self.status),
            "notes": {k: list(v) for k, v in self.notes.items() if v},
            "positions": dict(self.positions),
            "label_issues": [li.__dict__ | {"keys": list(li.keys)} for li in self.label_issues],
            "row_issues": [
                ri.__dict__ | {"keys": list(ri.keys), "rows": list(ri.rows), "found": list(ri.found)}
                for ri in self.row_issues
            ],
            "warnings": list(self.warnings),
            "runon": [runtogether.to_dict(p) for p in self.runon],
        }


# --------------------------------------------------------------------------------------------
# reading files


def decode(raw: bytes, name: str = "") -> str:
    """Bytes → text: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ExtractError(f"{name}：无法识别文件的文字编码（不是 UTF-8 或 GB18030）。") from None


class _HTMLText(html.parser.HTMLParser):
    BLOCK = {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "section",
        "article",
        "header",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "caption",
        "dd",
        "dt",
        "dl",
    }
    SKIP = {"script", "style", "noscript", "template", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.cells: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
            return
        if tag in ("td", "th"):
            self.out.append("\n")
            self.cells.append([])
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr", "p", "div"):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in ("td", "th"):
            content = "".join(self.cells.pop()) if self.cells else ""
            if not content.strip(" \t\r\n\xa0\u3000"):
                self.out.append(BLANK)
            self.out.append("\n")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, d):
        if self.skip:
            return
        self.out.append(d)
        if self.cells:
            self.cells[-1].append(d)


# The plain markup of a page (what gkxlsx renders and most sites print): start tags whose
# attributes are names with quoted or bare values, end tags, comments without “--” inside, the
# doctype.  Every character class stops at “<”, so one match never runs past the next tag and the
# whole scan stays linear.  Anything else (a stray “<”, a processing instruction, a script or
# style holding a “<”, an attribute html.parser reads in its own lenient way) sends the page to
# html.parser, whose events these are.
_WS = " \t\n\r\f"
_ATTR = (
    rf"[{_WS}]+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:[{_WS}]*=[{_WS}]*(?:\"[^\"<]*\"|'[^'<]*'|[^{_WS}\"'<>=`]+(?=[{_WS}>])))?"
)
_PLAIN_MARKUP = re.compile(  # the text before the next tag, and the tag
    rf"([^<]*)<(?:(?P<start>[a-zA-Z][a-zA-Z0-9]*)(?:{_ATTR})*[{_WS}]*(?P<close>/?)>"
    rf"|/(?P<end>[a-zA-Z][a-zA-Z0-9]*)[{_WS}]*>"
    r"|!--(?!-?>)[^<>-]*(?:-[^<>-]+)*-->"
    r"|![dD][oO][cC][tT][yY][pP][eE][^<>]*>)"
)
_RAW_TEXT = ("script", "style")  # html.parser's CDATA_CONTENT_ELEMENTS
_SPACES = re.compile(r"[ \t\r\f\v]+")


def _plain_markup_text(src: str) -> list[str] | None:
    """What :class:`_HTMLText` collects (``out``) from a page of plain markup, with its handlers'
    logic inlined; None as soon as the page holds anything else.  tests/test_extract_published.py
    compares the two on random markup."""
    out: list[str] = []
    cells: list[list[str]] = []
    skip = 0
    block, skipped = _HTMLText.BLOCK, _HTMLText.SKIP
    i, n = 0, len(src)
    match, unescape, append = _PLAIN_MARKUP.match, html.unescape, out.append
    while i < n:
        m = match(src, i)
        if m is None:
            if "<" in src[i:]:
                return None
            d = src[i:]  # the text after the last tag
        else:
            d = m.group(1)
        if d and not skip:
            if "&" in d:
                d = unescape(d)
            append(d)
            if cells:
                cells[-1].append(d)
        if m is None:
            break
        i = m.end()
        start, close, end = m.group(2, 3, 4)
        if start is not None:
            tag = start.lower()
            if close:  # handle_startendtag
                if tag in _RAW_TEXT:
                    return None
                if tag in ("br", "hr", "p", "div"):
                    append("\n")
                continue
            if tag in skipped:  # handle_starttag
                skip += 1
                if tag in _RAW_TEXT:  # its text, skipped, up to its end tag
                    e = match(src, i)
                    if e is None or (e.group(4) or "").lower() != tag:
                        return None
                    skip = max(0, skip - 1)
                    i = e.end()
            elif tag in ("td", "th"):
                append("\n")
                cells.append([])
            elif tag in block:
                append("\n")
        elif end is not None:  # handle_endtag
            tag = end.lower()
            if tag in skipped:
                skip = max(0, skip - 1)
            elif tag in ("td", "th"):
                content = "".join(cells.pop()) if cells else ""
                if not content.strip(" \t\r\n\xa0\u3000"):
                    append(BLANK)
                append("\n")
            elif tag in block:
                append("\n")
    return out


def html_to_text(src: str) -> str:
    """HTML → text with one table cell per line (empty cells as a blank mark)."""
    out = _plain_markup_text(src)
    if out is None:
        p = _HTMLText()
        p.feed(src)
        p.close()
        out = p.out
    text = _SPACES.sub(" ", "".join(out))
    lines = [ln.strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_to_text(path: Path) -> str:
    """A .docx → text: paragraphs one per line, table cells one per line (merge continuations
    skipped, empty cells as a blank mark)."""
    from defusedxml import ElementTree as ET

    try:
        with zipfile.ZipFile(path) as z:
            xml = z.read("word/document.xml")
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise ExtractError(f"{path}：不是有效的 Word（.docx）文件（{e}）。") from None
    try:
        root = ET.fromstring(xml)
    except Exception as e:  # defusedxml raises several kinds
        raise ExtractError(f"{path}：Word 文件内容无法解析（{e}）。") from None
    lines: list[str] = []

    def para(p) -> str:
        buf = []
        for el in p.iter():
            if el.tag == _W + "t":
                buf.append(el.text or "")
            elif el.tag == _W + "tab":
                buf.append("\t")
            elif el.tag in (_W + "br", _W + "cr"):
                buf.append("\n")
        return "".join(buf)

    def walk(el) -> None:
        for child in el:
            if child.tag == _W + "p":
                lines.append(para(child))
            elif child.tag == _W + "tbl":
                for tr in child.iter(_W + "tr"):
                    for tc in tr.findall(_W + "tc"):
                        vm = tc.find(f"{_W}tcPr/{_W}vMerge")
                        if vm is not None and vm.get(_W + "val", "continue") != "restart":
                            continue
                        text = "\n".join(para(p) for p in tc.iter(_W + "p")).strip()
                        lines.append(text if text else BLANK)
            elif child.tag in (_W + "body", _W + "sdt", _W + "sdtContent"):
                walk(child)

    body = root.find(_W + "body")
    walk(body if body is not None else root)
    return "\n".join(lines)


def pdf_to_text(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if not exe:
        raise ExtractError(
            f"{path}：读取 PDF 需要 pdftotext（poppler-utils），本机没有安装。请安装后重试，或把报告另存为文本、网页或 Word 文件。"
        )
    try:
        r = subprocess.run([exe, "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExtractError(f"{path}：pdftotext 运行失败（{e}）。") from None
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise ExtractError(f"{path}：不是可读取的 PDF 文件（{msg[-1] if msg else r.returncode}）。")
    text = r.stdout.decode("utf-8", errors="replace")
    if not text.strip():
        raise ExtractError(f"{path}：PDF 中没有可提取的文字（可能是扫描件图片）。")
    return text


def read_text(path: str | Path) -> str:
    """The text of a report file of any supported kind (raises :class:`ExtractError`)."""
    p = Path(path)
    if not p.exists():
        raise ExtractError(f"{p}：文件不存在。")
    if p.is_dir():
        raise ExtractError(f"{p}：是文件夹，不是报告文件。")
    ext = p.suffix.lower()
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ExtractError(f"{p}：无法读取（{e.strerror or e}）。") from None
    if ext == ".docx" or raw[:4] == b"PK\x03\x04":
        if raw[:4] != b"PK\x03\x04":
            raise ExtractError(f"{p}：不是有效的 Word（.docx）文件。")
        return docx_to_text(p)
    if ext == ".pdf" or raw[:5] == b"%PDF-":
        from gkxlsx.published import pdf  # tables along their ruling lines; pdftotext without them

        return pdf.pdf_to_text(p) or pdf_to_text(p)
    if raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        if ext in (".doc", ".wps", ".dot"):
            import tempfile

            from gkxlsx.published.word import ConversionError, doc_to_docx

            with tempfile.TemporaryDirectory(prefix="gkxlsx-doc-") as tmp:
                try:
                    return docx_to_text(doc_to_docx(p, Path(tmp)))
                except ConversionError as e:
                    raise ExtractError(f"{p}：{e}") from None
        raise ExtractError(f"{p}：是旧版 Word（.doc）或 Excel 文件，请另存为 .docx 或文本后再读取。")
    text = decode(raw, str(p))
    if "\x00" in text:
        raise ExtractError(f"{p}：不是文本文件。")
    head = text[:2000].lower()
    if ext in (".html", ".htm", ".xhtml") or re.search(r"<(html|body|table|p|div)\b", head):
        return html_to_text(text)
    return text


# --------------------------------------------------------------------------------------------
# tokens


@dataclass(slots=True)
class Token:
    text: str  # as printed (original characters)
    norm: str  # normalised
    line: int
    kind: str  # num | zero | blank | text
    value: Any = None
    note: str = ""
    unit: str = ""  # 元 / 万元 … written in the cell
    runon: bool = False  # a run of digits that may hold several cells

    @property
    def numeric(self) -> bool:
        return self.kind in ("num", "zero", "blank")


_NUM = r"[+\-]?\d+(?:\.\d+)?"
_SEPARATOR_LINE = re.compile(r"^[\s|:=\-─━┼+│┃]*$")
_SPLIT = re.compile(r"[|│┃\t]|\s{2,}|\u3000+")
_RULE_MARK = re.compile(r"-{3}|[|─━┼│┃]")


@cache
def _value_re() -> re.Pattern:
    units = sorted(list(data()["value_units"]) + data()["count_units"], key=len, reverse=True)
    return re.compile(rf"^({_NUM}|\d{{1,3}}(?:,\d{{3}})+)\s*({'|'.join(map(re.escape, units))})?$")


@cache
def _marks() -> tuple[frozenset[str], frozenset[str]]:
    """(blank marks, zero marks) as sets."""
    d = data()
    return frozenset(d["blank_marks"]) | {BLANK}, frozenset(d["zero_marks"])


_INT = re.compile(r"[+\-]?\d+")
_DIGITS2 = re.compile(r"\d{2,}")


def _classify(text: str, norm: str, line: int) -> Token:
    s = norm.strip().strip("*").strip()
    blank, zero = _marks()
    if s in blank:
        return Token(text, s, line, "blank", None, "空白")
    if s in zero:
        return Token(text, s, line, "zero", 0, f"“{text.strip()}”视为 0")
    if s.isdigit() and s.isascii():  # the common cell: what the pattern below reads, faster
        return Token(text, s, line, "num", int(s), "", "", runon=len(s) > 1)
    m = _value_re().match(s)
    if m:
        num, unit = m.group(1), m.group(2) or ""
        note = ""
        if "," in num:
            num = num.replace(",", "")
            note = "千位分隔符已去除"
        try:
            v: Any = int(num) if _INT.fullmatch(num) else Decimal(num)
        except (ValueError, InvalidOperation):
            return Token(text, s, line, "text")
        if unit:
            note = (note + "；" if note else "") + f"单元格内写有单位“{unit}”"
        return Token(text, s, line, "num", v, note, unit, runon=bool(_DIGITS2.fullmatch(num)))
    return Token(text, s, line, "text")


def _piece_tokens(piece_disp: str, piece_norm: str, line: int) -> list[Token]:
    """One cell-like piece → tokens; trailing space-separated numbers are split off."""
    n = piece_norm.strip()
    if not n:
        return []
    parts = n.split(" ")
    if len(parts) > 1:
        toks = [_classify(p, p, line) for p in parts if p]
        if all(t.numeric for t in toks):
            return toks
        # “规章 0 0 0”: a label followed by numbers
        k = len(toks)
        while k > 0 and toks[k - 1].numeric:
            k -= 1
        if k < len(toks):
            label = " ".join(t.norm for t in toks[:k])
            return [Token(label, label, line, "text")] + toks[k:]
    tok = _classify(piece_disp.strip(), n, line)
    return [tok]


def tokenize(nt: NormText, start: int, end: int) -> list[Token]:
    """Tokens of a text span: lines, then “|”, tabs and runs of spaces."""
    out: list[Token] = []
    text, disp = nt.norm, nt.display
    pos = start
    lineno = text.count("\n", 0, start) + 1
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl < 0 else nl
        line_n = text[pos:stop]
        if line_n.strip() and not (_SEPARATOR_LINE.match(line_n) and _RULE_MARK.search(line_n)):
            line_d = disp[pos:stop]
            if _SPLIT.search(line_n) is None:  # one piece (a cell on its own line)
                n = line_n.strip()
                if " " in n:
                    out.extend(_piece_tokens(line_d, line_n, lineno))
                else:  # what _piece_tokens does with one word
                    out.append(_classify(line_d.strip(), n, lineno))
            else:
                offs = 0
                for m in list(_SPLIT.finditer(line_n)) + [None]:
                    a = m.start() if m else len(line_n)
                    out.extend(_piece_tokens(line_d[offs:a], line_n[offs:a], lineno))
                    if m:
                        offs = m.end()
        pos = stop + 1
        lineno += 1
    return out


@cache
def _glue_labels() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Row labels (with and without numbering) and header labels of every built-in form, longest first."""
    rows: set[str] = set()
    heads: set[str] = set()
    for fid in FORMS:
        form = load_form(fid)
        for sid in ("s2", "s3", "s4"):
            sp = section_spec(form, sid)
            rows |= {a.lkey for a in sp.anchors if a.lkey}
            rows |= {a.core for a in sp.anchors if len(a.core) >= 4}
            for hs in sp.headers.values():
                heads |= {h[1] for h in hs if h[1]}

    def order(xs: set[str]) -> tuple[str, ...]:
        return tuple(sorted(xs, key=lambda x: (-len(x), x)))

    return order(rows), order(heads)


def split_runon(tokens: list[Token]) -> list[Token]:
    """Tokens of a table part with glued lines (labels and digits without separators) cut into
    labels and runs of digits (:func:`gkxlsx.published.runtogether.split_glued`)."""
    out: list[Token] = []
    for t in tokens:
        pieces = runtogether.split_glued(t.norm, *_glue_labels()) if t.kind == "text" else None
        if pieces is None:
            out.append(t)
            continue
        same = len(t.text) == len(t.norm)
        for kind, a, b in pieces:
            n = t.norm[a:b].strip()
            d = t.text[a:b].strip() if same else n
            if kind == "text":
                out.append(Token(d, n, t.line, "text"))
                continue
            tok = _classify(d, n, t.line)
            if tok.kind != "num":
                tok = Token(d, n, t.line, "num", None)
            tok.runon = len(n) > 1
            out.append(tok)
    return out


# --------------------------------------------------------------------------------------------
# the form's rows and headers, as the parser needs them


@lru_cache(maxsize=8192)
def _core(key: str) -> str:
    """A row label without its numbering and bracketed notes: “(二)部分公开(区分…)” → “部分公开”."""
    k = re.sub(r"^(?:\([一二三四五六七八九十]+\)|[一二三四五六七八九十]+、|\(\d+\)|\d+[.、])", "", key)
    k = re.sub(r"\([^()]*\)$", "", k)
    return k


@dataclass
class RowSpec:
    table: Table
    label: str
    lkey: str
    core: str
    leaf: Leaf | None  # None for a group
    first: int  # index of its first leaf in the section's leaf list
    keys: tuple[str, ...] = ()
    grid_row: int = 0


@dataclass
class SectionSpec:
    sid: str
    anchors: list[RowSpec]
    leaves: list[RowSpec]
    headers: dict[str, list[tuple[str, str, tuple[str, ...]]]]  # table id → [(label, lkey, keys)]
    tables: list[Table]


def _header_nodes(table: Table) -> list[tuple[str, tuple[str, ...]]]:
    """Header labels in the order a page prints them (row by row, left to right), with the keys
    of the data columns under each."""
    items: list[tuple[int, int, str, tuple[str, ...]]] = []
    leaves = list(table.columns)
    col_index = {id(c.path[-1]): i for i, c in enumerate(leaves)}

    def cols_under(node: HeaderNode) -> list[int]:
        if node.is_leaf:
            return [col_index[id(node)]] if id(node) in col_index else []
        out: list[int] = []
        for ch in node.children:
            out += cols_under(ch)
        return out

    def walk(node: HeaderNode, depth: int) -> None:
        cols = cols_under(node)
        if node.label:
            keys = tuple(table.key(r, leaves[c]) for c in cols for r in table.rows)
            items.append((depth, min(cols) if cols else 0, node.label, keys))
        for ch in node.children:
            walk(ch, depth + 1)

    for n in table.col_tree:
        walk(n, 0)
    items.sort(key=lambda x: (x[0], x[1]))
    out: list[tuple[str, tuple[str, ...]]] = []
    if table.caption:
        out.append((table.caption, ()))
    if table.corner:
        out.append((table.corner, ()))
    out += [(lab, keys) for _, _, lab, keys in items]
    return out


@cache
def section_spec(form: Form, sid: str) -> SectionSpec:
    sec = form.section(sid)
    anchors: list[RowSpec] = []
    leaves: list[RowSpec] = []
    headers = {}
    grid = 0
    for t in sec.tables:
        headers[t.id] = [(lab, label_key(lab), keys) for lab, keys in _header_nodes(t)]
        grid += (1 if t.caption else 0) + t.header_depth

        def walk(node: HeaderNode, prefix: str) -> None:
            nonlocal grid
            if node.children:
                spec = RowSpec(
                    t,
                    node.label or "",
                    label_key(node.label or ""),
                    _core(label_key(node.label or "")),
                    None,
                    len(leaves),
                )
                if node.label:
                    anchors.append(spec)
                for ch in node.children:
                    walk(ch, prefix)
                return
            leaf = next(r for r in t.rows if r.path[-1] is node)
            grid += 1
            keys = tuple(t.key(leaf, c) for c in t.columns)
            lab = node.label or ""
            spec = RowSpec(t, lab, label_key(lab), _core(label_key(lab)), leaf, len(leaves), keys, grid)
            leaves.append(spec)
            if lab:
                anchors.append(spec)

        for n in t.row_tree:
            walk(n, "")
    return SectionSpec(sid, anchors, leaves, headers, list(sec.tables))


@cache
def _variants() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for v in data()["label_variants"]:
        out.setdefault(label_key(v["found"]), []).append(v)
    return out


@cache
def _truncations() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for full, cuts in data()["truncations"].items():
        for c in cuts:
            out.setdefault(label_key(c), set()).add(label_key(full))
    return out


@cache
def _header_keys(form: Form) -> frozenset[str]:
    """Header, caption and corner labels (never row labels) of the table sections."""
    labs: set[str] = set()
    rows: set[str] = set()
    for sid in ("s2", "s3", "s4"):
        sp = section_spec(form, sid)
        rows |= {a.lkey for a in sp.anchors}
        for hs in sp.headers.values():
            labs |= {h[1] for h in hs}
    return frozenset(labs - rows)


@cache
def _form_labels(form: Form) -> frozenset[str]:
    labs: set[str] = set()
    for sid in ("s2", "s3"):
        sp = section_spec(form, sid)
        labs |= {a.lkey for a in sp.anchors}
        for hs in sp.headers.values():
            labs |= {h[1] for h in hs}
    return frozenset(labs)


# --------------------------------------------------------------------------------------------
# positions


def _col_no(table: Table, key: str) -> tuple[int, str]:
    for i, c in enumerate(table.columns, 1):
        if key.endswith("." + c.key) or key == f"{table.prefix}.{c.key}":
            labs = c.labels
            return i, "·".join(labs[-2:]) if table.id == "s4" else (c.label or "")
    return 0, ""


@cache
def _positions(form: Form) -> dict[str, str]:
    """Every table cell's position (:func:`position`), in the form's order."""
    return {k: position(form, k) for k in form.cells}


@cache
def position(form: Form, key: str) -> str:
    """A human position in the published table: “三、表格第6行（（一）予以公开）第7列（总计）”."""
    cell = form.cells[key]
    t = form.tables[cell.table]
    sp = section_spec(form, t.section)
    spec = next((lf for lf in sp.leaves if key in lf.keys), None)
    sec_no = canonical_titles()[t.section].split("、")[0]
    col_i, col_lab = 0, ""
    if spec is not None:
        col_i = spec.keys.index(key) + 1
        c = t.columns[col_i - 1]
        col_lab = "·".join(c.labels[-2:]) if not spec.label else (c.label or "")
    row_part = f"第{spec.grid_row}行" if spec else ""
    if spec and spec.label:
        row_part += f"（{spec.label}）"
    col_part = f"第{col_i}列（{col_lab}）" if len(t.columns) > 1 or not spec or not spec.label else ""
    return f"{sec_no}、表格{row_part}{col_part}"


# --------------------------------------------------------------------------------------------
# the table parser


@dataclass
class _Match:
    anchor: int  # index into spec.anchors
    token: int  # index into tokens
    kind: str  # exact | numbering | runon | truncated | variant | fuzzy
    extra: list[Token] = field(default_factory=list)  # numbers run into the label
    found: str = ""


class _SectionReader:
    def __init__(self, ex: _Builder, form: Form, sid: str, tokens: list[Token]):
        self.ex = ex
        self.form = form
        self.sid = sid
        self.spec = section_spec(form, sid)
        self.tokens = tokens

    # -- anchors ------------------------------------------------------------------------------

    def _keys_of(self, tok: Token) -> list[str]:
        k = label_key(tok.norm).strip("*#>")
        parts = [p for p in k.split("·") if p]
        return [parts[-1]] if parts else [k]

    def _match(self, tok: Token, cands: Sequence[int]) -> _Match | None:
        key = self._keys_of(tok)[0]
        if not key:
            return None
        anchors = self.spec.anchors
        for i in cands:
            if key == anchors[i].lkey:
                return _Match(i, -1, "exact")
        core = _core(key)
        for i in cands:
            if anchors[i].core and core == anchors[i].core:
                return _Match(i, -1, "numbering", found=tok.text)
        for i in cands:  # “行政许可8”, “一、本年新收…申请数量0000000”
            a = anchors[i]
            for lab in (a.lkey, a.core):
                if lab and key.startswith(lab) and len(key) > len(lab):
                    rest = key[len(lab) :]
                    extra = _piece_tokens(rest, rest, tok.line)
                    if extra and all(t.numeric for t in extra):
                        return _Match(i, -1, "runon", extra)
        from gkxlsx.published.ocr import fold  # characters OCR confuses (沭/沐, 未/末)

        fk, fcore = fold(key), fold(core)
        for i in cands:
            if fk == fold(anchors[i].lkey) or (anchors[i].core and fcore == fold(anchors[i].core)):
                return _Match(i, -1, "typo", found=tok.text)
        for i in cands:
            for v in _variants().get(key, []):
                if label_key(v["canonical"]) == anchors[i].lkey:
                    return _Match(i, -1, v["kind"], found=tok.text)
        d = data()
        for i in cands:
            if len(core) >= 4 and anchors[i].core.startswith(core):
                return _Match(i, -1, "truncated_ok", found=tok.text)
        if len(core) >= d["label_fuzzy_min_len"] and key not in _header_keys(self.form):
            best, best_r = None, 0.0
            for i in cands:
                a = anchors[i]
                if not a.core or not (0.7 <= len(core) / len(a.core) <= 1.4):
                    continue
                sm = difflib.SequenceMatcher(None, core, a.core)
                if sm.real_quick_ratio() < d["label_fuzzy_ratio"] or sm.quick_ratio() < d["label_fuzzy_ratio"]:
                    continue
                r = sm.ratio()
                if r > best_r:
                    best, best_r = i, r
            if best is not None and best_r >= d["label_fuzzy_ratio"]:
                return _Match(best, -1, "fuzzy", found=tok.text)
        return None

    def find_anchors(self) -> list[_Match]:
        found: list[_Match] = []
        nxt = 0
        n = len(self.spec.anchors)
        for ti, tok in enumerate(self.tokens):
            if tok.kind != "text" or nxt >= n:
                continue
            m = self._match(tok, range(nxt, min(n, nxt + 10)))
            if m is None:
                continue
            m.token = ti
            found.append(m)
            nxt = m.anchor + 1
        return found

    # -- reading ------------------------------------------------------------------------------

    def read(self) -> None:
        sp = self.spec
        toks = self.tokens
        if self.sid == "s4":
            self._read_s4()
            return
        matches = self.find_anchors()
        self._headers(matches)
        covered_until = 0  # leaves before the first anchor are missing
        for mi, m in enumerate(matches):
            a = sp.anchors[m.anchor]
            nxt = matches[mi + 1] if mi + 1 < len(matches) else None
            end_tok = nxt.token if nxt else len(toks)
            first_leaf = a.first
            last_leaf = sp.anchors[nxt.anchor].first if nxt else len(sp.leaves)
            if a.leaf is None and nxt is None:
                last_leaf = len(sp.leaves)
            rows = sp.leaves[first_leaf:last_leaf]
            self._label_note(a, m)
            run = list(m.extra) + toks[m.token + 1 : end_tok]
            self._assign(a, rows, run, m)
            covered_until = max(covered_until, last_leaf)
        # rows never reached by any anchor
        reached: set[int] = set()
        for mi, m in enumerate(matches):
            a = sp.anchors[m.anchor]
            nxt = matches[mi + 1] if mi + 1 < len(matches) else None
            reached.update(range(a.first, sp.anchors[nxt.anchor].first if nxt else len(sp.leaves)))
        lost = [lf for i, lf in enumerate(sp.leaves) if i not in reached]
        if lost:
            self._missing(lost, "表格中找不到这些行")

    def _label_note(self, a: RowSpec, m: _Match) -> None:
        if m.kind in ("exact", "numbering", "runon", "truncated_ok"):
            if m.kind == "runon":
                for k in a.keys:
                    self.ex.note(k, "行标签与数字连写")
            elif m.kind == "truncated_ok":
                for k in a.keys:
                    self.ex.note(k, f"行标签写作“{m.found.strip()}”")
            return
        self.ex.label_issue(
            LabelIssue(
                m.kind, m.found.strip(), a.label, self.sid, self._row_where(a), a.keys, self.tokens[m.token].line
            )
        )
        for k in a.keys:
            self.ex.note(k, f"行标签写作“{m.found.strip()}”（应为“{a.label}”）")

    def _row_where(self, a: RowSpec) -> str:
        sec_no = canonical_titles()[self.sid].split("、")[0]
        if a.leaf is not None:
            return f"{sec_no}、表格第{a.grid_row}行"
        return f"{sec_no}、表格“{a.label}”"

    def _assign(self, a: RowSpec, rows: list[RowSpec], run: list[Token], m: _Match) -> None:
        if not rows:
            return
        # leading text: a wrapped label's continuation; trailing text: the next table's header
        i = 0
        while i < len(run) and run[i].kind == "text":
            i += 1
        j = len(run)
        while j > i and run[j - 1].kind == "text":
            j -= 1
        body = run[i:j]
        widths = [len(r.keys) for r in rows]
        own = a.leaf is not None  # the anchor labels the first row
        nums = [t for t in body if t.numeric]
        texts = [t for t in body if t.kind == "text"]
        total = sum(widths)
        if not body:
            self._missing(rows, "表格中这些行没有数字")
            return
        if not texts:
            # (3) one run of digits: its splits, decided later with the form's relations
            if len(nums) == 1 and nums[0].runon and (total > 1 or nums[0].value is None):
                self._runon(rows, nums[0])
                return
            # (1) exactly the cells
            if len(nums) == total and not any(t.value is None and t.kind == "num" for t in nums):
                if own and len(rows) > 1:  # the rows after the labelled one have lost their labels
                    self._fill(rows[:1], nums[: widths[0]])
                    self._fill(rows[1:], nums[widths[0] :], unlabelled=True)
                else:
                    self._fill(rows, nums, unlabelled=not own)
                return
            # (2) a placeholder in front of every unlabelled row (label replaced by a number)
            need = total + len(rows) - (1 if own else 0)
            if len(rows) > (1 if own else 0) and len(nums) == need:
                pos = 0
                placeholders = []
                for r_i, r in enumerate(rows):
                    if r_i > 0 or not own:
                        placeholders.append(nums[pos])
                        pos += 1
                    self._fill([r], nums[pos : pos + len(r.keys)])
                    pos += len(r.keys)
                shown = "、".join(dict.fromkeys(f"“{p.text.strip()}”" for p in placeholders))
                labelled = [r for r_i, r in enumerate(rows) if r_i > 0 or not own]
                for r in labelled:
                    for k in r.keys:
                        self.ex.note(k, f"行标签被替换为{shown}，按数字个数识别")
                self.ex.label_issue(
                    LabelIssue(
                        "replaced",
                        shown,
                        "、".join(r.label for r in labelled),
                        self.sid,
                        self._row_where(labelled[0]) + (f"至第{labelled[-1].grid_row}行" if len(labelled) > 1 else ""),
                        tuple(k for r in labelled for k in r.keys),
                        placeholders[0].line,
                    )
                )
                return
        else:
            # (4) unrecognised labels between the rows
            segs: list[list[Token]] = [[]]
            heads: list[Token] = []
            # under a group's label, the text before the first number is the first row's label
            for t in ([run[i - 1]] if not own and i > 0 else []) + body:
                if t.kind == "text":
                    if heads and not segs[-1]:  # a group's label, then its row's: one label
                        heads[-1] = t
                        continue
                    segs.append([])
                    heads.append(t)
                else:
                    segs[-1].append(t)
            lead, rest = segs[0], segs[1:]
            expect_rest = rows[1:] if own else rows
            if (
                ((own and len(lead) == widths[0]) or (not own and not lead))
                and len(rest) == len(expect_rest)
                and all(len(s) == len(r.keys) for s, r in zip(rest, expect_rest))
            ):
                if own:
                    self._fill([rows[0]], lead)
                for s, r, h in zip(rest, expect_rest, heads):
                    self._fill([r], s)
                    self.ex.label_issue(
                        LabelIssue(
                            "unrecognised", h.text.strip(), r.label, self.sid, self._row_where(r), r.keys, h.line
                        )
                    )
                    for k in r.keys:
                        self.ex.note(k, f"行标签写作“{h.text.strip()}”（应为“{r.label}”），按位置识别")
                return
        self._ambiguous(rows, body, total)

    def _runon(self, rows: list[RowSpec], tok: Token) -> None:
        """A run of digits holding the cells of ``rows``: its splits, narrowed after every part is read."""
        keys = tuple(k for r in rows for k in r.keys)
        kinds = [runtogether.cell_kind(self.form, k) for k in keys]
        cands = runtogether.candidates(tok.norm, kinds)
        where = self._row_where(rows[0]) if rows[0].label else position(self.form, keys[0])
        self.ex.runon.append(
            runtogether.Pending(
                keys, tuple(r.label or "（数据行）" for r in rows), tok.text.strip(), self.sid, where, tok.line, cands
            )
        )
        for k in keys:
            self.ex.set_status(k, AMBIGUOUS)

    def _fill(self, rows: list[RowSpec], toks: list[Token], unlabelled: bool = False) -> None:
        pos = 0
        for _r_i, r in enumerate(rows):
            for k in r.keys:
                self.ex.set_cell(k, toks[pos])
                pos += 1
            if unlabelled and len(rows) > 0:
                for k in r.keys:
                    self.ex.note(k, "行标签缺失，按行序和数字个数识别")
        if unlabelled:
            self.ex.label_issue(
                LabelIssue(
                    "absent",
                    "",
                    "、".join(r.label for r in rows),
                    self.sid,
                    self._row_where(rows[0]),
                    tuple(k for r in rows for k in r.keys),
                    toks[0].line if toks else 0,
                )
            )

    def _ambiguous(self, rows: list[RowSpec], body: list[Token], total: int) -> None:
        nums = [t for t in body if t.numeric]
        for r in rows:
            for k in r.keys:
                self.ex.set_status(k, AMBIGUOUS)
                self.ex.note(
                    k,
                    f"“{'”“'.join(r.label for r in rows[:3])}”{'等' if len(rows) > 3 else ''}应有 {total} 个数字，文中有 {len(nums)} 个，无法确定对应关系",
                )
        self.ex.row_issue(
            RowIssue(
                AMBIGUOUS,
                tuple(r.label for r in rows),
                total,
                tuple(t.text.strip() or "（空白）" for t in body),
                self.sid,
                self._row_where(rows[0]),
                tuple(k for r in rows for k in r.keys),
                body[0].line if body else 0,
            )
        )

    def _missing(self, rows: list[RowSpec], why: str) -> None:
        for r in rows:
            for k in r.keys:
                self.ex.set_status(k, MISSING)
                self.ex.note(k, why)
        self.ex.row_issue(
            RowIssue(
                MISSING,
                tuple(r.label or "（数据行）" for r in rows),
                sum(len(r.keys) for r in rows),
                (),
                self.sid,
                self._row_where(rows[0]),
                tuple(k for r in rows for k in r.keys),
            )
        )

    def _read_s4(self) -> None:
        sp = self.spec
        toks = self.tokens
        first = next((i for i, t in enumerate(toks) if t.numeric), None)
        if first is None:
            self._headers_zone("s4", toks)
            self._missing(sp.leaves, "表格中没有数字")
            return
        self._headers_zone(sp.tables[0].id, toks[:first])
        j = first
        while j < len(toks) and toks[j].numeric:
            j += 1
        body = toks[first:j]
        row = sp.leaves[0]
        if len(body) == 1 and body[0].runon and (len(row.keys) > 1 or body[0].value is None):
            self._runon([row], body[0])
        elif len(body) == len(row.keys) and not any(t.value is None and t.kind == "num" for t in body):
            self._fill([row], body)
        else:
            self._ambiguous([row], body, len(row.keys))

    # -- headers ------------------------------------------------------------------------------

    def _headers(self, matches: list[_Match]) -> None:
        sp = self.spec
        toks = self.tokens
        # the text before each table's first row anchor, after the previous table's numbers
        starts: dict[str, int] = {}
        for m in matches:
            starts.setdefault(sp.anchors[m.anchor].table.id, m.token)
        prev_end = 0
        for t in sp.tables:
            if t.id not in starts:
                continue
            s = starts[t.id]
            zone = toks[prev_end:s]
            # the text after the previous table's last number is this table's caption and header
            k = len(zone)
            while k > 0 and zone[k - 1].kind == "text":
                k -= 1
            self._headers_zone(t.id, zone[k:])
            later = [m for m in matches if sp.anchors[m.anchor].table.id == t.id]
            prev_end = (later[-1].token if later else s) + 1

    def _headers_zone(self, table_id: str, zone: list[Token]) -> None:
        expected = self.spec.headers.get(table_id) or []
        if not expected:
            return
        items: list[Token] = []
        for t in zone:
            if t.kind != "text":
                continue
            parts = [p for p in label_key(t.norm).strip("*#>").split("·") if p]
            for p in parts:
                items.append(Token(t.text if len(parts) == 1 else p, p, t.line, "text"))
        norms = [x.norm for x in items]
        used = [False] * len(expected)
        last = -1
        at: dict[str, list[int]] = {}  # header label → its places in ``expected``, in order
        for place, e in enumerate(expected):
            at.setdefault(e[1], []).append(place)

        def pick_in(places: Iterable[int]) -> int | None:
            """The first unused place after the last one picked, else the first unused place."""
            free = [j for j in places if not used[j]]
            return next((j for j in free if j > last), free[0] if free else None)

        def pick(pred) -> int | None:
            return pick_in(j for j in range(len(expected)) if pred(j))

        i = 0
        while i < len(items):
            done = False
            for L in (4, 3, 2, 1):
                if i + L > len(items):
                    continue
                joined = "".join(norms[i : i + L])
                if joined not in at:
                    continue
                j = pick_in(at[joined])
                if j is not None:
                    used[j] = True
                    last = j
                    if L > 1:
                        for k in expected[j][2]:
                            self.ex.note(
                                k,
                                f"表头“{expected[j][0]}”被拆开（{'/'.join(x.text.strip() for x in items[i : i + L])}）",
                            )
                    i += L
                    done = True
                    break
            if done:
                continue
            tok = items[i]
            for L in (1, 2):
                if i + L > len(items):
                    continue
                joined = "".join(norms[i : i + L])
                for v in _variants().get(joined, []):
                    ck = label_key(v["canonical"])
                    j = pick_in(at.get(ck, ()))
                    if j is not None:
                        used[j] = True
                        last = j
                        found = "".join(x.text.strip() for x in items[i : i + L])
                        self._header_issue(v["kind"], found, expected[j], table_id, tok.line)
                        i += L
                        done = True
                        break
                if done:
                    break
            if done:
                continue
            full = _truncations().get(tok.norm)
            if full:
                j = pick(lambda j: expected[j][1] in full)
                if j is not None:
                    used[j] = True
                    last = j
                    self._header_issue("truncated", tok.text.strip(), expected[j], table_id, tok.line)
                    i += 1
                    continue
            i += 1

    def _header_issue(
        self, kind: str, found: str, exp: tuple[str, str, tuple[str, ...]], table_id: str, line: int
    ) -> None:
        t = self.form.tables[table_id]
        sec_no = canonical_titles()[self.sid].split("、")[0]
        where = f"{sec_no}、{t.caption + '表头' if t.caption else '表格表头'}"
        self.ex.label_issue(LabelIssue(kind, found, exp[0], self.sid, where, exp[2], line))
        for k in exp[2]:
            self.ex.note(k, f"表头写作“{found}”（应为“{exp[0]}”）")


# --------------------------------------------------------------------------------------------
# the builder


class _Builder:
    def __init__(self, form: Form):
        self.form = form
        self.values: dict[str, Any] = {}
        self.status: dict[str, str] = {}
        self.notes: dict[str, list[str]] = {}
        self.label_issues: list[LabelIssue] = []
        self.row_issues: list[RowIssue] = []
        self.runon: list[runtogether.Pending] = []

    def note(self, key: str, text: str) -> None:
        lst = self.notes.setdefault(key, [])
        if text not in lst:
            lst.append(text)

    def set_status(self, key: str, status: str) -> None:
        self.status[key] = status
        if status != READ:
            self.values[key] = None

    def set_cell(self, key: str, tok: Token) -> None:
        cell = self.form.cells[key]
        if tok.kind == "blank":
            self.values[key] = None
            self.status[key] = MISSING
            self.note(key, "空白")
            return
        v = tok.value
        if tok.note:
            self.note(key, tok.note)
        if tok.unit and tok.unit in data()["value_units"] and cell.type.unit:
            factor = Decimal(str(data()["value_units"][tok.unit])) / Decimal(
                str(data()["value_units"].get(cell.type.unit, 1))
            )
            if factor != 1:
                v = (Decimal(v) * factor).normalize()
                if v == v.to_integral_value():
                    v = int(v)
                self.note(key, f"已由{tok.unit}换算为{cell.type.unit}")
        if cell.type.kind == "int" and isinstance(v, Decimal):
            if v == v.to_integral_value():
                v = int(v)
            else:
                self.values[key] = None
                self.status[key] = AMBIGUOUS
                self.note(key, f"“{tok.text.strip()}”不是整数")
                return
        self.values[key] = v
        self.status[key] = READ

    def label_issue(self, li: LabelIssue) -> None:
        self.label_issues.append(li)

    def row_issue(self, ri: RowIssue) -> None:
        self.row_issues.append(ri)


# --------------------------------------------------------------------------------------------
# metadata: title, unit, year, date


def _title(doc: Document) -> tuple[str, int]:
    d = data()["title"]
    nt = doc.nt
    end = doc.bodies.get("pre", (0, len(nt)))[1]
    pos = 0
    rx = _re(d["pattern"])
    for _line_no, line in enumerate(nt.norm[:end].split("\n")):
        s = line.strip().strip("#*").strip()
        if s and len(s) <= d["max_len"] and rx.search(s) and not _re(d["exclude"]).match(s) and "《" not in s:
            start = nt.norm.find(line, pos)
            return nt.display[start : start + len(line)].strip().strip("#*").strip(), start
        pos += len(line) + 1
    return "", -1


def unit_from_title(title: str) -> str:
    u = data()["unit_from_title"]
    t = label_key(title)
    t = _re(u["suffix"]).sub("", t)
    t = _re(u["year"]).sub("", t)
    if t.endswith("人民"):
        t += "政府"
    return t.strip()


def guess_unit_type(name: str) -> str:
    """乡镇 / 街道 / 县级部门 / 市级部门 / … from a unit's name ("" when unknown)."""
    n = label_key(name)
    if not n:
        return ""
    for u in data()["unit_types"]:
        if _re(u["pattern"]).search(n):
            return u["type"]
    return ""


def _year_of(doc: Document, title: str) -> tuple[int | None, str]:
    m = re.search(r"(\d{4})\s*年", label_key(title))
    if m:
        return int(m.group(1)), "标题"
    text = doc.nt.norm
    m = _re(data()["title_in_text"]).search(text)
    if m:
        return int(m.group(2)), "正文"
    pre_s1 = text[: doc.bodies.get("s2", (len(text),))[0]]
    m = re.search(r"(\d{4})年1月1日(?:起)?\s*(?:至|到|—+|-|~)\s*(?:(\d{4})年)?12月31日", pre_s1)
    if m:
        return int(m.group(1)), "统计期间"
    return None, ""


def _publish_date(doc: Document, title_pos: int) -> dt.date | None:
    text = doc.nt.norm
    end = doc.bodies.get("pre", (0, len(text)))[1]
    head = text[:end]
    for p in data()["publish_date"]:
        m = _re(p, re.M).search(head)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
    return None


# --------------------------------------------------------------------------------------------
# format detection


@cache
def _unique_labels() -> dict[str, frozenset[str]]:
    forms = {fid: load_form(fid) for fid in FORMS}
    labs = {fid: _form_labels(f) for fid, f in forms.items()}
    out = {}
    for fid in FORMS:
        others = frozenset().union(*(labs[o] for o in FORMS if o != fid))
        own = set(labs[fid] - others)
        # label variants that point only at this form's labels count too
        for found, vs in _variants().items():
            if found in others:
                continue
            if any(label_key(v["canonical"]) in labs[fid] - others for v in vs):
                own.add(found)
        out[fid] = frozenset(own)
    return out


def detect_format(tokens: Iterable[Token], year: int | None) -> tuple[Form, str, str | None]:
    """The form the tables are printed in: by the labels only one format has; else by the year."""
    uniq = _unique_labels()
    score = {fid: 0 for fid in FORMS}
    for t in tokens:
        if t.kind != "text":
            continue
        for k in (label_key(t.norm).split("·")[-1],):
            for fid in FORMS:
                if k in uniq[fid]:
                    score[fid] += 1
    by_year = None
    if year:
        try:
            by_year = form_for_year(year).id
        except FormError:
            by_year = None
    best = max(FORMS, key=lambda f: score[f])
    if score[best] > 0 and all(score[best] > score[o] for o in FORMS if o != best):
        mismatch = None
        if by_year and by_year != best:
            mismatch = by_year
        return load_form(best), f"表格标签（{score[best]} 处为{best}年版格式所特有）", mismatch
    if by_year:
        return load_form(by_year), f"报告年度 {year}", None
    return load_form("2021"), "默认（未能从表格或年度判断）", None


# --------------------------------------------------------------------------------------------
# entry points


def extract_text(text: str, *, source: str = "") -> Extraction:
    """Extract one published report given as text (HTML is recognised and converted)."""
    if re.search(r"<(html|body|table)\b", text[:3000], re.I):
        text = html_to_text(text)
    elif "|" in text:
        from gkxlsx.published import markdown  # pipe tables of OCR / PDF converters

        if markdown.has_pipe_tables(text):
            text = markdown.markdown_to_text(text)
    nt = headings.unglue(normalize(text))
    doc = split_sections(nt)
    title, title_pos = _title(doc)
    year, year_src = _year_of(doc, title)
    spans = {sid: doc.bodies[sid] for sid in ("s2", "s3", "s4") if sid in doc.bodies}
    tokens = {sid: split_runon(tokenize(nt, *span)) for sid, span in spans.items()}
    form, reason, mismatch = detect_format((t for sid in ("s2", "s3") for t in tokens.get(sid, [])), year)
    b = _Builder(form)
    for k in form.cells:
        b.values[k] = None
        b.status[k] = MISSING
    for sid in ("s2", "s3", "s4"):
        if sid in tokens:
            _SectionReader(b, form, sid, tokens[sid]).read()
        else:
            keys = [k for k, c in form.cells.items() if c.section == sid]
            for k in keys:
                b.note(k, f"找不到“{canonical_titles()[sid]}”部分")
            b.row_issue(
                RowIssue(MISSING, (canonical_titles()[sid],), len(keys), (), sid, canonical_titles()[sid], tuple(keys))
            )
    _resolve_runon(b, form)
    # unit, narrative, meta
    unit = unit_from_title(title) if title else ""
    if not unit:
        m = _re(data()["title_in_text"]).search(nt.norm)
        if m:
            unit = label_key(m.group(1))
    if not unit and doc.signoff:
        lines = [ln.strip() for ln in nt.display[doc.signoff[0] : doc.signoff[1]].split("\n") if ln.strip()]
        cand = [ln for ln in lines if not re.search(r"\d", ln)]
        if cand:
            unit = label_key(cand[0])
    unit_type = guess_unit_type(unit)
    values: dict[str, Any] = dict(b.values)
    for key in form.fields:
        if form.fields[key].section in ("s1", "s5", "s6") and form.fields[key].type.kind == "text":
            txt = doc.field_text(key).replace(BLANK, "").strip()
            values[key] = txt or None
    for key, (v, said) in fees.read_fees(form, doc.text("s6")).items():
        values[key] = v
        b.note(key, f"从第六部分的文字读取：{q(said)}")
    values["meta.name"] = unit or None
    values["meta.year"] = year
    values["meta.type"] = unit_type or None
    c = data()["contact"]
    pre = doc.text("pre")
    for mk, rk in (("meta.address", "address"), ("meta.postcode", "postcode"), ("meta.contact_phone", "phone")):
        m = _re(c[rk]).search(pre)
        values[mk] = m.group(1).strip() if m else None
    if doc.signoff_date:
        try:
            values["meta.report_date"] = dt.date(*doc.signoff_date).isoformat()
        except ValueError:
            values["meta.report_date"] = None
    else:
        values["meta.report_date"] = None
    report = Report(
        form=form, year=year or 0, unit_name=unit, unit_type=unit_type, values=values, source=source or "extract:text"
    )
    positions = dict(_positions(form))
    warnings = []
    if mismatch:
        warnings.append(
            f"表格是{form.id}年版格式（{form.document_number}），但按报告年度 {year} 年应使用{load_form(mismatch).id}年版格式（{load_form(mismatch).document_number}）。"
        )
    ex = Extraction(
        report=report,
        status=b.status,
        notes={k: v for k, v in b.notes.items()},
        positions=positions,
        format_id=form.id,
        title=title,
        publish_date=_publish_date(doc, title_pos),
        source=source,
        document=doc,
        label_issues=b.label_issues,
        row_issues=b.row_issues,
        warnings=warnings,
        year_source=year_src,
        format_reason=reason,
        runon=b.runon,
    )
    ex.not_report = notreport.verdict(ex)
    return ex


def _resolve_runon(b: _Builder, form: Form) -> None:
    """Decide the runs of digits (:mod:`gkxlsx.published.runtogether`) once every part is read."""
    if not b.runon:
        return
    runtogether.resolve(form, dict(b.values), b.runon)
    for p in b.runon:
        for k, v in runtogether.agreed(p).items():
            b.values[k] = v
            b.status[k] = READ
        for k, n in runtogether.notes(form, p).items():
            b.note(k, n)
        p.read = tuple(k for k in p.keys if b.status[k] == READ)
        p.ambiguous = tuple(k for k in p.keys if b.status[k] != READ)


def extract_file(path: str | Path) -> Extraction:
    """Extract one report file (.txt/.html/.htm/.docx/.pdf; UTF-8 or GB18030).  Raises
    :class:`ExtractError` with a Chinese message when the file cannot be read."""
    p = Path(path)
    text = read_text(p)
    ex = extract_text(text, source=str(p))
    ex.report.source = str(p)
    return ex


__all__ = [
    "AMBIGUOUS",
    "BLANK",
    "Extraction",
    "ExtractError",
    "LabelIssue",
    "MISSING",
    "READ",
    "RowIssue",
    "STATUS_ZH",
    "SUPPORTED",
    "decode",
    "detect_format",
    "docx_to_text",
    "extract_file",
    "extract_text",
    "guess_unit_type",
    "html_to_text",
    "position",
    "read_text",
    "tokenize",
    "unit_from_title",
]
