"""Benchmark: ``gkxlsx.text.narrative.check_narrative`` as the workbook checker calls it.

    python benchmarks/bench_narrative.py                      # the current narrative.py
    python benchmarks/bench_narrative.py --ref 976cab2        # and narrative.py of that revision

*Corpus*: the calls the checker makes on a folder of returned workbooks (default: the 1,000 of
``/tmp/gkxlsx-run-1000/returns`` with its ``roster.csv``, as written by ``benchmarks/run.py``),
collected once by wrapping ``check_narrative`` while ``check_file`` runs, and cached in a pickle
under the system temp folder (``--refresh`` collects again).

*Measure*: CPU time of this process (``time.process_time``: the machine may be shared), every
call once per round; the best round is reported, as ms per call.  With ``--ref REV`` the
``narrative.py`` of that git revision is loaded as a second module, the rounds alternate between
the two, and the findings of every call are compared (they must be identical).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def collect(folder: Path, year: int) -> list[tuple]:
    import gkxlsx.check.checker as C
    import gkxlsx.text.narrative as N
    from gkxlsx.check.context import CheckContext, roster_dict
    from gkxlsx.form.roster import load_roster

    calls: list[tuple] = []
    orig = N.check_narrative

    def spy(form, values, **kw):
        unit = kw.get("unit")
        rest = {k: v for k, v in kw.items() if k not in ("unit", "year")}
        calls.append((form.id, dict(values), unit.name if unit else None, kw.get("year"), rest))
        return orig(form, values, **kw)

    N.check_narrative = spy
    try:
        ctx = CheckContext(roster=roster_dict(load_roster(folder / "roster.csv")), year=year)
        for p in sorted((folder / "returns").iterdir()):
            C.check_file(p, context=ctx)
    finally:
        N.check_narrative = orig
    return calls


def load_ref(rev: str):
    """narrative.py of git revision ``rev`` (gkxlsx/text/narrative.py, or gkxlsx/narrative.py before the
    layered packages), as module gkxlsx._narrative_ref."""
    for path in ("gkxlsx/text/narrative.py", "gkxlsx/narrative.py"):
        got = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True, text=True)
        if got.returncode == 0:
            src = got.stdout
            break
    else:
        raise SystemExit(f"no narrative.py in revision {rev}")
    name = "gkxlsx._narrative_ref"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "gkxlsx"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)  # noqa: S102 - our own file
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--dir", type=Path, default=Path("/tmp/gkxlsx-run-1000"), help="folder with returns/ and roster.csv"
    )
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ref", help="also time narrative.py of this git revision and compare the findings")
    ap.add_argument("--refresh", action="store_true", help="collect the calls again")
    args = ap.parse_args()

    from gkxlsx.form.model import load_form
    from gkxlsx.text import narrative

    tag = hashlib.sha1(str(args.dir.resolve()).encode()).hexdigest()[:10]
    cache = Path(tempfile.gettempdir()) / f"gkxlsx-bench-narrative-{tag}-{args.year}.pkl"
    if cache.exists() and not args.refresh:
        calls = pickle.loads(cache.read_bytes())
    else:
        if not (args.dir / "returns").is_dir():
            sys.exit(f"{args.dir}/returns not found: run benchmarks/run.py first (or pass --dir)")
        calls = collect(args.dir, args.year)
        cache.write_bytes(pickle.dumps(calls))
    forms: dict = {}
    prepared = []
    for fid, values, unit, year, kw in calls:
        form = forms.get(fid) or forms.setdefault(fid, load_form(fid))
        prepared.append((form, values, form.unit_type(unit) if unit else None, year, kw))

    variants = [("current", narrative)]
    if args.ref:
        variants.insert(0, (f"ref {args.ref}", load_ref(args.ref)))

    def run(mod) -> list:
        fn = mod.check_narrative
        return [fn(form, values, unit=unit, year=year, **kw) for form, values, unit, year, kw in prepared]

    results = {name: run(mod) for name, mod in variants}  # warm-up (caches, compiled patterns)
    best = {name: float("inf") for name, _ in variants}
    for _ in range(args.rounds):
        for name, mod in variants:
            t = time.process_time()
            run(mod)
            best[name] = min(best[name], time.process_time() - t)

    n = len(prepared)
    print(f"calls: {n}, findings: {sum(map(len, results['current']))}, rounds: {args.rounds} (best round, CPU time)")
    for name, _ in variants:
        print(f"  {name:<16} {best[name] / n * 1000:.4f} ms per call   ({best[name]:.3f} s)")
    if args.ref:
        ref = results[variants[0][0]]
        same = [repr(a) == repr(b) for a, b in zip(ref, results["current"])]
        print(f"  speed-up {best[variants[0][0]] / best['current']:.2f}x; identical findings: {sum(same)}/{n}")
        if not all(same):
            sys.exit(1)


if __name__ == "__main__":
    main()
