"""Snapshot of every extraction and audit result on the published-report corpora, to prove that a
change (a speed-up) alters no result: write the snapshot before, compare after.

The inputs: tests/data/published/ (text, HTML, PDF), the five seeds (tests/data/seeds), the
corpus of benchmarks/bench_extract.py (seed-shaped text, rendered text / HTML, md-ocr) and the
reports of benchmarks/score_extract.py (text, Markdown, HTML, md-ocr, docx rendered by gkxlsx).
For each: ``Extraction.to_dict()`` (every value, status, note, position, issue, run-together row),
the format reason, year source, not-a-report verdict, and ``AuditResult.to_dict()`` (every finding).

    python benchmarks/extract_snapshot.py --write /tmp/before.json
    python benchmarks/extract_snapshot.py --compare /tmp/before.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from _published_corpus import ocr_markdown  # noqa: E402
from bench_extract import corpus  # noqa: E402
from test_extract_roundtrip import rendered_reports  # noqa: E402

from gkxlsx.published.audit import audit_extraction  # noqa: E402
from gkxlsx.published.extract import Extraction, extract_file, extract_text  # noqa: E402
from gkxlsx.render import renderer as render  # noqa: E402


def result(ex: Extraction) -> dict[str, Any]:
    au = audit_extraction(ex)
    return {
        "extraction": ex.to_dict(),
        "format_reason": ex.format_reason,
        "year_source": ex.year_source,
        "full_text": ex.full_text,
        "audit": au.to_dict(),
    }


def snapshot(n_score: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pub = REPO / "tests" / "data" / "published"
    for p in sorted(pub.glob("*/*")):
        if p.suffix in (".txt", ".html", ".pdf"):
            out[f"published/{p.parent.name}/{p.name}"] = result(extract_file(p))
    for i, (kind, text) in enumerate(corpus(205)):
        out[f"bench/{i:03d}-{kind}"] = result(extract_text(text))
    reps = rendered_reports(n_score)
    fns = {"text": render.render_text, "md": render.render_markdown, "html": render.render_html}
    for i, (rep, _v) in enumerate(reps):
        for kind, fn in fns.items():
            out[f"score/{kind}{i}"] = result(extract_text(fn(rep), source=f"{kind}{i}"))
        out[f"score/md-ocr{i}"] = result(extract_text(ocr_markdown(rep, i), source=f"md-ocr{i}"))
    with tempfile.TemporaryDirectory(prefix="gkxlsx-snap-") as tmp:
        for i, (rep, _v) in enumerate(reps):
            p = render.render_docx(rep, Path(tmp) / f"r{i}.docx")
            r = result(extract_file(p))
            r["extraction"]["source"] = r["audit"]["file"] = f"docx{i}"
            out[f"score/docx{i}"] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", type=Path, help="write the snapshot to this JSON file")
    g.add_argument("--compare", type=Path, help="compare with this JSON file; exit 1 on any difference")
    ap.add_argument("-n", type=int, default=4, help="data sets per unit for the score reports (default 4)")
    args = ap.parse_args()
    snap = json.loads(json.dumps(snapshot(args.n), ensure_ascii=False, default=str))
    if args.write:
        args.write.write_text(json.dumps(snap, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{len(snap)} results written to {args.write}")
        return
    old = json.loads(args.compare.read_text(encoding="utf-8"))
    diff = sorted(k for k in old.keys() | snap.keys() if old.get(k) != snap.get(k))
    for k in diff[:20]:
        print("differs:", k)
    print(f"{len(snap)} results, {len(diff)} differ from {args.compare}")
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
