"""Benchmark: extract and audit 1,000 published-report texts; prints reports per second.

The texts: the five real seeds (tests/data/seeds) and random valid data sets written
in the seeds' shape (one cell per line, blank lines between) for the 2021 and 2019 formats, plus
reports rendered by gkxlsx (plain text and HTML) and Markdown as OCR / PDF converters write it
(md-ocr, tests/_published_corpus.py).  Rates are printed per input kind, in wall-clock and in CPU
time (``time.process_time``: what a shared, loaded machine does not change), against a floor
measured in the same run and the target of issue 19 (≥ 200 reports/s per core, extract + audit, for
text and HTML); the fastest of ``--passes`` passes counts.  ``--pdf N`` adds N PDFs made by
LibreOffice from the Word report (read with pdfplumber; needs LibreOffice).  Run from the
repository:

    python benchmarks/bench_extract.py            # 1000 reports
    python benchmarks/bench_extract.py -n 200     # fewer
    python benchmarks/bench_extract.py --pdf 10   # and 10 PDFs
"""

from __future__ import annotations

import argparse
import html.parser
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


TEXT_KINDS = ("seed", "lines", "pipes", "rows", "rendered-txt")  # plain text, as pages are copied
HTML_KINDS = ("rendered-html",)
TARGET = 200.0  # reports/s per core, extract + audit, CPU time (issue 19), for text and HTML


def _floor(kind: str, text: str) -> None:
    """The floor of one report, the least any reader of it does: the standard library's
    html.parser over an HTML page; a text cut into lines and words, every number converted."""
    if kind in HTML_KINDS:
        p = html.parser.HTMLParser()
        p.feed(text)
        p.close()
    else:
        for line in text.splitlines():
            for w in line.split():
                if w.isdigit():
                    int(w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of report texts (default 1000)")
    ap.add_argument("--passes", type=int, default=3, help="passes over the texts; the fastest counts (default 3)")
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
    for kind, text in texts[:20]:  # warm caches (forms, compiled patterns)
        audit_extraction(extract_text(text))
        _floor(kind, text)

    # per pass and kind: [wall extract, wall audit, CPU extract, CPU audit, CPU floor]; each text is
    # measured in turns (floor, extract, audit) so that the load of the shared machine hits all alike
    best: dict[str, list[float]] = {}
    per: list[float] = []
    extractions = []
    n_find = 0
    wall = time.perf_counter
    cpu = time.process_time
    for pass_no in range(max(1, args.passes)):
        acc: dict[str, list[float]] = {}
        for kind, text in texts:
            c0 = cpu()
            _floor(kind, text)
            w1, c1 = wall(), cpu()
            ex = extract_text(text)
            w2, c2 = wall(), cpu()
            res = audit_extraction(ex)
            w3, c3 = wall(), cpu()
            a = acc.setdefault(kind, [0.0] * 5)
            a[0] += w2 - w1
            a[1] += w3 - w2
            a[2] += c2 - c1
            a[3] += c3 - c2
            a[4] += c1 - c0
            if pass_no == 0:
                per.append(w2 - w1)
                extractions.append(ex)
                n_find += len(res.findings)
        for kind, a in acc.items():
            b = best.setdefault(kind, a)
            for i in range(5):
                b[i] = min(b[i], a[i])
    tot = [sum(b[i] for b in best.values()) for i in range(5)]
    n = len(texts)
    unread = sum(1 for ex in extractions if ex.counts()["read"] != len(ex.status))
    print(
        f"extract: {n / tot[0]:8.1f} reports/s wall, {n / tot[2]:8.1f} CPU  (median {statistics.median(per) * 1000:.2f} ms, "
        f"max {max(per) * 1000:.1f} ms wall; {unread} with cells not read)"
    )
    print(
        f"audit (rules on extracted data): {n / tot[1]:8.1f} reports/s wall, {n / tot[3]:8.1f} CPU  ({n_find} findings)"
    )
    print(f"extract + audit: {n / (tot[0] + tot[1]):8.1f} reports/s wall, {n / (tot[2] + tot[3]):8.1f} CPU")

    pdf: list[tuple[float, float, float, float]] = []
    if args.pdf:
        with tempfile.TemporaryDirectory(prefix="gkxlsx-bench-") as tmp:
            for p in pdf_files(args.pdf, Path(tmp)):
                w1, c1 = wall(), cpu()
                ex = extract_file(p)
                w2, c2 = wall(), cpu()
                audit_extraction(ex)
                w3, c3 = wall(), cpu()
                pdf.append((w2 - w1, w3 - w2, c2 - c1, c3 - c2))
    print(
        f"per kind, reports/s (fastest of {max(1, args.passes)} passes; CPU = time.process_time of this process; "
        "floor: html.parser over the page for HTML, lines and numbers of a text):"
    )
    print(
        f"  {'kind':<14} {'n':>5}  {'wall: extract':>13} {'audit':>7} {'both':>7}   {'CPU: extract':>12} {'audit':>7} "
        f"{'both':>7}  {'floor':>7} {'× floor':>7}  target (CPU, both)"
    )
    rows = [(k, kinds[k], *best[k]) for k in sorted(best)]
    if pdf:
        rows.append(("pdf-lo", len(pdf), *(sum(x[i] for x in pdf) for i in range(4)), 0.0))
    for kind, k_n, we, wa, ce, ca, cf in rows:
        target = ""
        if kind in TEXT_KINDS or kind in HTML_KINDS:
            rate = k_n / (ce + ca)
            target = f"≥ {TARGET:.0f}/s {'✓' if rate >= TARGET else '✗'}"
        floor = f"{k_n / cf:7.0f} {(ce + ca) / cf:6.1f}×" if cf else f"{'':>7} {'':>7}"
        print(
            f"  {kind:<14} {k_n:>5}  {k_n / we:13.1f} {k_n / wa:7.1f} {k_n / (we + wa):7.1f}   {k_n / ce:12.1f} "
            f"{k_n / ca:7.1f} {k_n / (ce + ca):7.1f}  {floor}  {target}"
        )


if __name__ == "__main__":
    main()
