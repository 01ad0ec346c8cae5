"""Score extraction per input kind: how many table cells are read right, read wrong (must be 0),
ambiguous or missing, on reports made from known data (tests/_published_corpus.py):

* text, md, html, docx — rendered by gkxlsx (the clean case);
* md-ocr — Markdown as OCR / PDF converters write it (labels lost, OCR confusions, page marks);
* pdf-lo — Word → PDF by LibreOffice, read with the ruling lines (pdfplumber);
* pdf-text — the same PDFs through pdftotext -layout only (the fallback without pdfplumber);
* doc-lo — Word saved as .doc by LibreOffice, read through LibreOffice.

    python benchmarks/score_extract.py              # 4 data sets per unit (20 reports a kind)
    python benchmarks/score_extract.py -n 10 --no-lo
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from _published_corpus import Score, ocr_markdown  # noqa: E402
from test_extract_roundtrip import rendered_reports  # noqa: E402

from gkxlsx.published.extract import extract_file, extract_text  # noqa: E402
from gkxlsx.render import renderer as render  # noqa: E402


def score_kinds(n: int, lo: bool, n_lo: int | None = None) -> list[tuple[Score, float]]:
    reps = rendered_reports(n)
    out: list[tuple[Score, float]] = []
    fns = {"text": render.render_text, "md": render.render_markdown, "html": render.render_html}
    for fn in fns.values():  # warm the caches (forms, compiled patterns) outside the timing
        extract_text(fn(reps[0][0]))
    for kind, fn in fns.items():
        sc, t = Score(kind), 0.0
        for i, (rep, v) in enumerate(reps):
            text = fn(rep)
            a = time.perf_counter()
            sc.add(extract_text(text, source=f"{kind}{i}"), v)
            t += time.perf_counter() - a
        out.append((sc, t))
    sc, t = Score("md-ocr"), 0.0
    for i, (rep, v) in enumerate(reps):
        text = ocr_markdown(rep, i)
        a = time.perf_counter()
        sc.add(extract_text(text, source=f"md-ocr{i}"), v)
        t += time.perf_counter() - a
    out.append((sc, t))
    with tempfile.TemporaryDirectory(prefix="gkxlsx-score-") as tmp:
        sc, t = Score("docx"), 0.0
        for i, (rep, v) in enumerate(reps):
            p = render.render_docx(rep, Path(tmp) / f"r{i}.docx")
            a = time.perf_counter()
            sc.add(extract_file(p), v)
            t += time.perf_counter() - a
        out.append((sc, t))
        if not lo:
            return out
        from gkxlsx.office import lo as office_lo

        if not office_lo.available():
            print("LibreOffice 不可用：跳过 pdf-lo、pdf-text、doc-lo")
            return out
        lo_reps = reps[: n_lo * 5] if n_lo else reps
        pdfs, docs = [], []
        with office_lo.LibreOffice() as office:
            for i, (rep, _v) in enumerate(lo_reps):
                pdfs.append(render.render_pdf(rep, Path(tmp) / f"r{i}.pdf", office=office))
                if i % 2 == 0:
                    docs.append((i, office.convert(Path(tmp) / f"r{i}.docx", "doc", Path(tmp) / "doc")))
        sc, t = Score("pdf-lo"), 0.0
        for (_rep, v), p in zip(lo_reps, pdfs):
            a = time.perf_counter()
            sc.add(extract_file(p), v)
            t += time.perf_counter() - a
        out.append((sc, t))
        sc, t = Score("pdf-text"), 0.0
        with mock.patch("gkxlsx.published.pdf.pdf_to_text", return_value=None):
            for (_rep, v), p in zip(lo_reps, pdfs):
                a = time.perf_counter()
                sc.add(extract_file(p), v)
                t += time.perf_counter() - a
        out.append((sc, t))
        sc, t = Score("doc-lo"), 0.0
        for i, p in docs:
            a = time.perf_counter()
            sc.add(extract_file(p), lo_reps[i][1])
            t += time.perf_counter() - a
        out.append((sc, t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=4, help="data sets per unit (5 units, both formats; default 4)")
    ap.add_argument("--no-lo", action="store_true", help="leave out the kinds that need LibreOffice")
    args = ap.parse_args()
    results = score_kinds(args.n, lo=not args.no_lo)
    bad = 0
    for sc, t in results:
        print(sc.line() + f"  {sc.reports / t if t else 0:8.1f} reports/s")
        for w in sc.wrong_cells[:5]:
            print("   wrong:", w)
        bad += sc.wrong
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
