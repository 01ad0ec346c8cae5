"""Score extraction on the published-report corpus (tests/data/published/{html,text}, see the
README there): per kind of page, how many table cells are read, how many are read wrong (must be
0), how many are left ambiguous, and how many part headings are reported missing.

“Certain” cells: for a page whose cells lost their separators, a cell is certain when every split
of its row's run that the form's hard relations allow — the other rows taken at their true values,
a relation the page itself violates not used — gives it the same value (an upper bound of what
any reader can know).  Every cell of a page that keeps its cells is certain.  ``read %`` is the
share of the certain cells that were read.

    python benchmarks/corpus_score.py                 # the table
    python benchmarks/corpus_score.py --files         # and one line per file
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import ChainMap
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gkxlsx.form.model import Form, load_form  # noqa: E402
from gkxlsx.published import runtogether  # noqa: E402
from gkxlsx.published.extract import READ, extract_file, section_spec  # noqa: E402
from gkxlsx.render.renderer import _cell_kind, fmt_cell  # noqa: E402

CORPUS = REPO / "tests" / "data" / "published"
RUN_KINDS = ("runon", "glued", "badtotal", "real")


def _num(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def table_rows(form: Form) -> list[tuple[str, ...]]:
    out = []
    for sid in ("s2", "s3", "s4"):
        out += [lf.keys for lf in section_spec(form, sid).leaves]
    return out


def certain_cells(form: Form, truth: dict[str, Any], kind: str) -> set[str]:
    """The table cells of ``truth`` whose value a reader can know (see the module docstring)."""
    cells = {k for k in truth if k in form.cells}
    if kind not in RUN_KINDS:
        return cells
    vals = {k: (Decimal(v) if isinstance(v, str) else v) for k, v in truth.items()}
    rules = runtogether._hard_rules(form)
    out: set[str] = set()
    saved = runtogether.MAX_CANDIDATES, runtogether.MAX_STEPS
    runtogether.MAX_CANDIDATES, runtogether.MAX_STEPS = 200_000, 5_000_000
    try:
        for keys in table_rows(form):
            if not all(k in vals for k in keys):
                continue
            run = "".join(fmt_cell(vals[k], _cell_kind(form, k)) for k in keys)
            cands = runtogether.candidates(run, [runtogether.cell_kind(form, k) for k in keys]) or []
            for r in rules:
                if not set(r.keys) & set(keys) or any(k not in vals for k in r.keys):
                    continue
                kept = [c for c in cands if runtogether.holds(form, r, ChainMap(dict(zip(keys, c)), vals))]
                if kept:
                    cands = kept
            for j, k in enumerate(keys):
                if cands and len({c[j] for c in cands}) == 1:
                    out.add(k)
    finally:
        runtogether.MAX_CANDIDATES, runtogether.MAX_STEPS = saved
    return out


def score_file(path: Path) -> dict[str, Any]:
    exp = json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))
    form = load_form(exp["format"])
    truth = exp["values"]
    t0 = time.perf_counter()
    ex = extract_file(path)
    ms = (time.perf_counter() - t0) * 1000
    certain = certain_cells(form, truth, exp["kind"])
    res: dict[str, Any] = {
        "file": path.name,
        "kind": exp["kind"],
        "cells": 0,
        "certain": len(certain),
        "read": 0,
        "read_certain": 0,
        "wrong": [],
        "ambiguous": 0,
        "missing": 0,
        "fees": 0,
        "fees_read": 0,
        "headings_missing": sorted(set(form.section_titles) - set(ex.document.headings if ex.document else ())),
        "format_ok": ex.format_id == form.id and not ex.not_report,
        "ms": ms,
    }
    for k, want in truth.items():
        if k not in form.cells:
            res["fees"] += 1
            got = ex.report.values.get(k)
            if got is not None:
                res["fees_read"] += 1
                if _num(got) != _num(want):
                    res["wrong"].append((k, got, want))
            continue
        res["cells"] += 1
        st = ex.status.get(k)
        if st == READ:
            res["read"] += 1
            res["read_certain"] += k in certain
            if _num(ex.report.values.get(k)) != _num(want):
                res["wrong"].append((k, ex.report.values.get(k), want))
        elif st == "ambiguous":
            res["ambiguous"] += 1
        else:
            res["missing"] += 1
    return res


def corpus_files(root: Path = CORPUS) -> list[Path]:
    return sorted(p for sub in ("html", "text") for p in (root / sub).glob("*") if not p.name.endswith(".json"))


def score(root: Path = CORPUS) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    files = [score_file(p) for p in corpus_files(root)]
    kinds: dict[str, dict[str, Any]] = {}
    for f in files:
        k = kinds.setdefault(
            f["kind"],
            {
                "files": 0,
                "cells": 0,
                "certain": 0,
                "read": 0,
                "read_certain": 0,
                "wrong": 0,
                "ambiguous": 0,
                "missing": 0,
                "fees": 0,
                "fees_read": 0,
                "headings_missing": 0,
                "format_wrong": 0,
                "ms": 0.0,
            },
        )
        k["files"] += 1
        for x in ("cells", "certain", "read", "read_certain", "ambiguous", "missing", "fees", "fees_read", "ms"):
            k[x] += f[x]
        k["wrong"] += len(f["wrong"])
        k["headings_missing"] += len(f["headings_missing"])
        k["format_wrong"] += not f["format_ok"]
    for k in kinds.values():
        k["read_pct"] = 100.0 * k["read_certain"] / k["certain"] if k["certain"] else 100.0
    return kinds, files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", action="store_true", help="one line per file too")
    args = ap.parse_args()
    kinds, files = score()
    if args.files:
        for f in files:
            print(
                f"{f['file']:28} {f['kind']:9} read {f['read']:4}/{f['cells']:4} (certain {f['read_certain']}/{f['certain']})"
                f" wrong {len(f['wrong'])} ambiguous {f['ambiguous']} missing {f['missing']}"
                f" headings missing {','.join(f['headings_missing']) or '-'}  {f['ms']:.1f} ms"
            )
            for w in f["wrong"][:5]:
                print("    WRONG", *w)
    head = f"{'kind':9} {'files':>5} {'cells':>6} {'certain':>7} {'read %':>7} {'wrong':>5} {'ambig.':>6} {'missing':>7} {'fees':>9} {'head.miss':>9} {'ms/file':>7}"
    print(head)
    tot = dict.fromkeys(("files", "cells", "certain", "read_certain", "wrong", "ambiguous", "missing"), 0)
    for name, k in sorted(kinds.items()):
        print(
            f"{name:9} {k['files']:5} {k['cells']:6} {k['certain']:7} {k['read_pct']:6.2f}% {k['wrong']:5} {k['ambiguous']:6}"
            f" {k['missing']:7} {k['fees_read']:4}/{k['fees']:<4} {k['headings_missing']:9} {k['ms'] / k['files']:7.1f}"
        )
        for x in tot:
            tot[x] += k[x]
    pct = 100.0 * tot["read_certain"] / tot["certain"] if tot["certain"] else 100.0
    print(
        f"{'all':9} {tot['files']:5} {tot['cells']:6} {tot['certain']:7} {pct:6.2f}% {tot['wrong']:5} {tot['ambiguous']:6} {tot['missing']:7}"
    )


if __name__ == "__main__":
    main()
