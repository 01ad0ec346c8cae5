"""Benchmark: extract and audit 1,000 published-report texts; prints reports per second.

The texts: the five real seeds (tests/data/seeds) and random valid data sets written
in the seeds' shape (one cell per line, blank lines between) for the 2021 and 2019 formats, plus
reports rendered by gkxlsx (plain text and HTML) and Markdown as OCR / PDF converters write it
(md-ocr, tests/_published_corpus.py).  Rates are printed per input kind too; ``--pdf N`` adds N
PDFs made by LibreOffice from the Word report (read with pdfplumber; needs LibreOffice).  Run from
the repository:

    python benchmarks/bench_extract.py            # 1000 reports
    python benchmarks/bench_extract.py -n 200     # fewer
    python benchmarks/bench_extract.py --pdf 10   # and 10 PDFs
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from _published_corpus import ocr_markdown  # noqa: E402
from test_extract_roundtrip import UNITS, random_tables, seed_shaped  # noqa: E402

from gkxlsx.form.model import load_form  # noqa: E402
from gkxlsx.form.report import Report  # noqa: E402
from gkxlsx.published.audit import audit_extraction  # noqa: E402
from gkxlsx.published.extract import extract_file, extract_text  # noqa: E402


def corpus(n: int) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    seeds = REPO / "tests" / "data" / "seeds"
    texts += [("seed", p.read_text(encoding="utf-8")) for p in sorted(seeds.glob("00*.txt"))]
    try:
        from gkxlsx.demo import samples
        from gkxlsx.render import renderer as render
    except ImportError:  # pragma: no cover
        render = samples = None
    rng = random.Random(2024)
    i = 0
    pool: list[tuple[str, str]] = []
    while len(pool) < 200:
        fid, name, utype = UNITS[i % len(UNITS)]
        form = load_form(fid)
        year = 2020 if fid == "2019" else 2024
        values = random_tables(form, rng, utype)
        kind = ("lines", "pipes", "rows", "rendered-txt", "rendered-html", "md-ocr")[i % 6]
        if kind.startswith(("rendered", "md-")) and render is not None:
            v = samples.sample_values(form, name, utype, year, seed=i)
            v.update(values)
            if v.get("s3.r6_2.total") and "s6.fee_notices" in form.fields:
                v["s6.fee_notices"] = 1
            rep = Report(form, year, name, "B", utype, v)
            if kind == "md-ocr":
                text = ocr_markdown(rep, i)
            elif kind == "rendered-txt":
                text = render.render_text(rep, draft=True)
            else:
                text = render.render_html(rep, draft=True)
        else:
            text = seed_shaped(form, name, year, values, kind if kind in ("lines", "pipes", "rows") else "lines")
        pool.append((kind, text))
        i += 1
    k = 0
    while len(texts) < n:
        texts.append(pool[k % len(pool)])
        k += 1
    return texts[:n]


def pdf_files(n: int, tmp: Path) -> list[Path]:
    """n PDFs: random data sets rendered to Word and converted by LibreOffice."""
    from gkxlsx.demo import samples
    from gkxlsx.office import lo
    from gkxlsx.render import renderer as render

    if not lo.available():
        print("LibreOffice 不可用：跳过 PDF")
        return []
    rng = random.Random(2025)
    out = []
    with lo.LibreOffice() as office:
        for i in range(n):
            fid, name, utype = UNITS[i % len(UNITS)]
            form = load_form(fid)
            year = 2020 if fid == "2019" else 2024
            v = samples.sample_values(form, name, utype, year, seed=i)
            v.update(random_tables(form, rng, utype))
            out.append(render.render_pdf(Report(form, year, name, "B", utype, v), tmp / f"r{i}.pdf", office=office))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of report texts (default 1000)")
    ap.add_argument("--pdf", type=int, default=0, help="also N PDFs made by LibreOffice (default 0)")
    args = ap.parse_args()
    texts = corpus(args.n)
    chars = sum(len(t) for _, t in texts)
    kinds: dict[str, int] = {}
    for k, _ in texts:
        kinds[k] = kinds.get(k, 0) + 1
    print(
        f"{len(texts)} report texts, {chars / len(texts):,.0f} characters on average; "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )
    extract_text(texts[0][1])  # warm caches (forms, compiled patterns)

    per = []
    by_kind: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    extractions = []
    for kind, text in texts:
        a = time.perf_counter()
        extractions.append(extract_text(text))
        per.append(time.perf_counter() - a)
        by_kind.setdefault(kind, []).append(per[-1])
    t_ex = time.perf_counter() - t0
    unread = sum(1 for ex in extractions if ex.counts()["read"] != len(ex.status))
    print(
        f"extract: {len(texts) / t_ex:8.1f} reports/s  ({t_ex:.2f} s; median {statistics.median(per) * 1000:.2f} ms, max {max(per) * 1000:.1f} ms; {unread} with cells not read)"
    )

    per = []
    au_kind: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    n_find = 0
    for (kind, _), ex in zip(texts, extractions):
        a = time.perf_counter()
        res = audit_extraction(ex)
        per.append(time.perf_counter() - a)
        au_kind.setdefault(kind, []).append(per[-1])
        n_find += len(res.findings)
    t_au = time.perf_counter() - t0
    print(
        f"audit (rules on extracted data): {len(texts) / t_au:8.1f} reports/s  ({t_au:.2f} s; median {statistics.median(per) * 1000:.2f} ms; {n_find} findings)"
    )
    print(f"extract + audit: {len(texts) / (t_ex + t_au):8.1f} reports/s")
    if args.pdf:
        with tempfile.TemporaryDirectory(prefix="gkxlsx-bench-") as tmp:
            for p in pdf_files(args.pdf, Path(tmp)):
                a = time.perf_counter()
                ex = extract_file(p)
                by_kind.setdefault("pdf-lo", []).append(time.perf_counter() - a)
                a = time.perf_counter()
                audit_extraction(ex)
                au_kind.setdefault("pdf-lo", []).append(time.perf_counter() - a)
    print("per kind (reports/s):")
    for kind in sorted(by_kind):
        ex_t, au_t = sum(by_kind[kind]), sum(au_kind[kind])
        print(
            f"  {kind:<14} {len(by_kind[kind]):>5}  extract {len(by_kind[kind]) / ex_t:8.1f}  audit {len(au_kind[kind]) / au_t:8.1f}"
        )


if __name__ == "__main__":
    main()
