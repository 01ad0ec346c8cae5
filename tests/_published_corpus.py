"""Published reports as they really appear, made from known data, and a scorer.

* ``md-ocr``: Markdown as OCR / PDF-to-Markdown converters write it from a published PDF: the
  tables of the Word document as pipe tables (merged cells empty or repeated), cut at page breaks
  (page number, running header, the header rows printed again or not), some row labels lost, OCR
  confusions in labels and in the unit's name, prose wrapped at the PDF's line ends, now and then a
  number OCR'd with a letter (“1O”: must not be read).
* ``pdf-lo``: the Word document converted to PDF by LibreOffice, read back by
  :mod:`gkxlsx.published.pdf`; ``pdf-text``: the same PDF through ``pdftotext -layout`` only;
  ``doc-lo``: the Word document saved as .doc by LibreOffice.

:func:`score` compares an extraction with the data it was made from, cell by cell.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

from defusedxml import ElementTree as ET

from gkxlsx.form.report import Report
from gkxlsx.published.extract import READ

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

# confusions an OCR engine makes; the first three groups are not in gkxlsx/data/extract.json, so a
# label hit by them must be recognised some other way or not at all
OCR_SWAPS = [
    "公么",
    "开廾",
    "息怠",
    "沭沐",
    "未末",
    "已己",
    "日曰",
    "处外",
    "复夏",
    "项顶",
    "政玫",
    "理埋",
    "请清",
    "申甲",
]


HMERGED, VMERGED = "\x00h", "\x00v"  # the covered parts of a horizontally / vertically merged cell


def docx_blocks(docx: bytes) -> list[tuple[str, object]]:
    """The Word document's body: ("p", text) and ("t", grid); a grid's merged parts are marked
    HMERGED / VMERGED."""
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml"))
    body = root.find(_W + "body")
    out: list[tuple[str, object]] = []

    def ptext(p) -> str:
        return "".join(t.text or "" for t in p.iter(_W + "t"))

    for el in body if body is not None else ():
        if el.tag == _W + "p":
            out.append(("p", ptext(el)))
        elif el.tag == _W + "tbl":
            grid: list[list[str | None]] = []
            for tr in el.iter(_W + "tr"):
                row: list[str | None] = []
                for tc in tr.findall(_W + "tc"):
                    span_el = tc.find(f"{_W}tcPr/{_W}gridSpan")
                    span = int(span_el.get(_W + "val", "1")) if span_el is not None else 1
                    vm = tc.find(f"{_W}tcPr/{_W}vMerge")
                    cont = vm is not None and vm.get(_W + "val", "continue") != "restart"
                    text = "\n".join(ptext(p) for p in tc.iter(_W + "p")).strip()
                    row.append(VMERGED if cont else text)
                    row += [HMERGED] * (span - 1)
                grid.append(row)
            out.append(("t", grid))
    return out


def _real(x: str | None) -> bool:
    return bool(x) and x not in (HMERGED, VMERGED)


def _swap(rng: random.Random, text: str) -> str:
    idx = [(i, g) for i, ch in enumerate(text) for g in OCR_SWAPS if ch == g[0] or ch in g[1:]]
    if not idx:
        return text
    i, g = rng.choice(idx)
    other = [c for c in g if c != text[i]]
    return text[:i] + rng.choice(other) + text[i + 1 :]


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def ocr_markdown(report: Report, seed: int) -> str:
    """The report as a converter's Markdown of its PDF, degraded as described above."""
    from gkxlsx.render import renderer as render

    rng = random.Random(f"ocr-md|{seed}")
    blocks = docx_blocks(render.render_docx_bytes(report))
    merged = rng.choice(["empty", "repeat"])
    wrap = rng.random() < 0.5
    running = report.unit_name + "政府信息公开工作年度报告" if rng.random() < 0.5 else ""
    mark_style = rng.choice(["— {n} —", "- {n} -", "第 {n} 页", "{n}"])
    page = [1]
    out: list[str] = []

    def page_break() -> None:
        page[0] += 1
        out.extend(["", mark_style.format(n=page[0]), ""])
        if running:
            out.extend([running, ""])

    lines_on_page = 0
    for kind, content in blocks:
        if kind == "p":
            text = str(content)
            if not text.strip():
                continue
            if "年度报告" in text and len(text) < 60 and report.unit_name[:2] in text:
                text = text.replace("沭", "沐")  # the unit's name OCR'd wrong
            for ln in _wrap(text, 28) if wrap else [text]:
                out.append(ln)
                lines_on_page += 1
                if lines_on_page > 30:
                    page_break()
                    lines_on_page = 0
            out.append("")
            continue
        grid = [list(r) for r in content]  # type: ignore[union-attr]
        ncols = max(len(r) for r in grid)
        label_cols = 0
        for c in range(ncols):
            data_rows = [r for r in grid if any(re.fullmatch(r"\d+(\.\d+)?", x or "") for x in r)]
            if any(_real(r[c]) and not re.fullmatch(r"[+\-\d.]+", r[c] or "") for r in data_rows if c < len(r)):
                label_cols = c + 1
            else:
                break
        body_rows = [i for i, r in enumerate(grid) if any(re.fullmatch(r"\d+(\.\d+)?", x or "") for x in r)]
        # labels lost, OCR confusions in labels, a number OCR'd with a letter
        for i in body_rows:
            r = grid[i]
            last = max((c for c in range(label_cols) if _real(r[c])), default=None)
            if last is not None and rng.random() < 0.12:
                r[last] = ""
            for c in range(label_cols):
                if _real(r[c]) and rng.random() < 0.25:
                    r[c] = _swap(rng, r[c])
            if rng.random() < 0.01:
                nums = [c for c in range(label_cols, len(r)) if r[c] and "0" in r[c]]
                if nums:
                    c = rng.choice(nums)
                    r[c] = r[c].replace("0", "O", 1)
        # merged cells as the converter writes them: empty, or the merged cell's text repeated
        filled: list[list[str]] = []
        for i, r in enumerate(grid):
            row: list[str] = []
            for c in range(ncols):
                v = r[c] if c < len(r) else HMERGED
                if v == HMERGED:
                    v = row[-1] if merged == "repeat" and row and c < label_cols + (i not in body_rows) * ncols else ""
                elif v == VMERGED:
                    v = filled[-1][c] if merged == "repeat" and filled and c < label_cols else ""
                row.append(v.replace("\n", "<br>") if rng.random() < 0.5 else v.replace("\n", ""))
            filled.append(row)
        header = [i for i in range(len(filled)) if i not in body_rows and i < (body_rows[0] if body_rows else 0)]
        cut = rng.choice(body_rows[3:-2]) if len(body_rows) > 8 and rng.random() < 0.8 else None

        def emit(rows: list[list[str]]) -> None:
            for j, row in enumerate(rows):
                out.append("| " + " | ".join(row) + " |")
                if j == 0:
                    out.append("|" + "|".join(" --- " for _ in row) + "|")

        out.append("")
        if cut is None:
            emit(filled)
        else:
            emit(filled[:cut])
            page_break()
            again = [filled[i] for i in header] if rng.random() < 0.6 else []
            emit(again + filled[cut:])
        out.append("")
        lines_on_page += len(filled)
    return "\n".join(out)


@dataclass
class Score:
    kind: str
    reports: int = 0
    cells: int = 0
    read: int = 0  # read and right
    wrong: int = 0  # read and not what the data say
    ambiguous: int = 0
    missing: int = 0
    wrong_cells: list[str] = field(default_factory=list)

    def add(self, ex, values: dict) -> None:
        self.reports += 1
        for k in ex.form.cells:
            self.cells += 1
            st = ex.status[k]
            if st == READ:
                got, want = ex.report.values[k], values.get(k)
                if isinstance(got, Decimal) or isinstance(want, Decimal):
                    same = want is not None and Decimal(str(got)) == Decimal(str(want))
                else:
                    same = got == want
                if same:
                    self.read += 1
                else:
                    self.wrong += 1
                    self.wrong_cells.append(f"{ex.source}:{k}={got!r}≠{want!r}")
            elif st == "ambiguous":
                self.ambiguous += 1
            else:
                self.missing += 1

    @property
    def pct(self) -> float:
        return 100.0 * self.read / self.cells if self.cells else 0.0

    def line(self) -> str:
        return (
            f"{self.kind:<10} {self.reports:>4} reports {self.cells:>6} cells  read {self.pct:6.2f} %  "
            f"wrong {self.wrong:>3}  ambiguous {self.ambiguous:>5}  missing {self.missing:>5}"
        )


HEADER = f"{'kind':<10} {'':>4} {'':>7} {'':>6} {'':>6}"
