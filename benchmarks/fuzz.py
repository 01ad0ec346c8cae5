"""The long fuzz run of issue 15: N mutated returned files (default 10,000, seeded), each checked in
a child process with a timeout, its time and memory measured.

    python benchmarks/fuzz.py                       # 10,000 files, seed 15
    python benchmarks/fuzz.py --n 20000 --seed 7
    python benchmarks/fuzz.py --seed 15 --only 4711 # one case again (e.g. a saved failure)

*Cases*: :func:`fuzzlib.make_case` (``tests/fuzzlib.py``, shared with ``tests/test_fuzz.py``) —
generated workbooks put through one to three mutations (the first fuzzer's families and issue
15's: lone surrogates, absurd numbers, lying member sizes, unclosed and nested elements, huge
shared-string tables, odd parts, .ods repeat counts), under hostile file names (GBK bytes, 250
bytes, control characters).  Case ``i`` of seed ``s`` is made from its own generator
(``Random(f"{s}-{i}")``), so any case can be made again alone (``--only``).

*Checking*: one worker process (started again every ``--recycle`` files, after a timeout or a
crash) receives the file names one by one and runs :func:`gkxlsx.check.checker.check_file` on each,
then turns the result into the ``--json`` dict and the terminal lines, both encoded as strict
UTF-8.  The parent waits at most ``--timeout`` seconds per file (then kills the worker).  The
worker's address space is limited (``--rlimit-mb``) so a runaway file fails instead of taking
the machine.  Every ``--cli-every``-th block of ``--cli-batch`` files is also checked through the
real command line, ``gkxlsx check --json`` on their folder in a subprocess with a strict UTF-8
stdout (valid JSON, every file, no Traceback on stderr).

*Measured*, per file: the seconds of ``check_file`` alone (in the worker), and the worker's peak
resident memory after the file (``VmHWM`` of /proc/self/status: the peak of this process image —
``ru_maxrss`` would start at the parent's resident memory, inherited across fork and exec).  The
peak only grows, so the peak memory of checking a file is at most the worker's peak after it —
exactly that when the file raised it; the figure includes the interpreter, gkxlsx and everything
checked before in the same worker (at most ``--recycle`` files).  The files that raised the peak most are then checked again each in a fresh
process (``--remeasure``): those are the per-file peaks reported.

*Targets* (exit status 1 if one fails): 0 tracebacks, 0 E-INTERNAL, 0 timeouts or crashes, 0 other
problems (no status, a non-pass without findings, an unusable finding, anything written on stderr
— a library's panic message —, a command-line batch that fails), every file checked in < ``--max-seconds`` (5), every peak < ``--max-mb`` (500 MB).

*Results*: ``benchmarks/results/fuzz_N.json`` (``--out``); the file of every failing case with
``case.json`` (name, mutations, options, what went wrong) under ``--failures``
(``benchmarks/results/fuzz-failures/SEED-I/``), ready to become a regression test.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)


# ---- the worker (a child process) --------------------------------------------------------------


def worker() -> None:
    """Check the files named on stdin (one JSON request a line), answer one JSON line each."""
    import contextlib
    import io
    import traceback

    from fuzzlib import ROSTER, peak_mb

    from gkxlsx.check.checker import check_file
    from gkxlsx.check.result import STATUS_PASS, STATUSES
    from gkxlsx.cli.check import print_result

    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # a stray print never breaks the protocol
    for line in sys.stdin:
        req = json.loads(line)
        path = os.fsdecode(bytes.fromhex(req["path"]))
        problems: list[str] = []
        ids: list[str] = []
        internal: list[str] = []
        status = None
        tb = None
        check_s = None
        rss_before = peak_mb()
        t = time.perf_counter()
        try:
            r = check_file(path, year=req["year"], roster=ROSTER if req["roster"] else None)
            check_s = time.perf_counter() - t
            status = r.status
            ids = sorted({f.rule_id for f in r.findings})
            internal = [f.message for f in r.findings if f.rule_id == "E-INTERNAL"]
            if r.status not in STATUSES:
                problems.append(f"unknown status {r.status!r}")
            if r.status != STATUS_PASS and not r.findings:
                problems.append("not passed, but no finding says why")
            for f in r.findings:
                if not (f.rule_id and f.severity in ("error", "warning", "info") and f.message):
                    problems.append(f"unusable finding {f.rule_id!r}")
            json.dumps(r.to_dict(), ensure_ascii=False).encode("utf-8")  # what --json writes
            out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
            with contextlib.redirect_stdout(out):
                print_result(r, 1, 1, limit=None)  # what the terminal shows
            out.flush()
        except BaseException:  # noqa: BLE001 - the very thing measured
            tb = traceback.format_exc()
        total_s = time.perf_counter() - t
        reply = {
            "status": status,
            "ids": ids,
            "internal": internal,
            "problems": problems,
            "traceback": tb,
            "check_s": check_s,
            "total_s": total_s,
            "maxrss_before_mb": rss_before,
            "maxrss_mb": peak_mb(),
        }
        proto.write(json.dumps(reply, ensure_ascii=False) + "\n")
        proto.flush()


class Worker:
    """One worker process: ``check(path, year, roster)`` → its reply, or None after a timeout or a
    crash (the worker is then gone; ``reason`` says why)."""

    def __init__(self, rlimit_mb: int, stderr: Path):
        self.rlimit = rlimit_mb << 20
        self.proc: subprocess.Popen | None = None
        self.files = 0
        self.reason = ""
        self.stderr_path = stderr  # a file, never a pipe nobody reads (a full pipe would hang the worker)
        self.stderr_seen = 0

    def _limit(self) -> None:
        resource.setrlimit(resource.RLIMIT_AS, (self.rlimit, self.rlimit))

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                preexec_fn=self._limit,  # noqa: PLW1509 - no threads in this process
            )
        self.files = 0
        self.stderr_seen = 0

    def new_stderr(self) -> str:
        """What the worker wrote on stderr since the last call (a library's panic message …)."""
        try:
            with open(self.stderr_path, "rb") as fh:
                fh.seek(self.stderr_seen)
                got = fh.read()
        except OSError:
            return ""
        self.stderr_seen += len(got)
        return got.decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for fh in (self.proc.stdin, self.proc.stdout):
                if fh is not None:
                    fh.close()
        self.proc = None

    def check(self, path: bytes, year: int | None, roster: bool, timeout: float) -> dict | None:
        if self.proc is None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        req = json.dumps({"path": path.hex(), "year": year, "roster": roster}) + "\n"
        try:
            self.proc.stdin.write(req.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._dead("crash")
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            self.reason = f"timeout (> {timeout:g} s)"
            return None
        line = self.proc.stdout.readline()
        if not line:
            return self._dead("crash")
        self.files += 1
        return json.loads(line)

    def _dead(self, what: str) -> None:
        assert self.proc is not None
        self.proc.wait()
        err = self.new_stderr()
        self.reason = f"{what} (exit {self.proc.returncode}): {err[-2000:]}"
        self.stop()
        return None


# ---- the run ---------------------------------------------------------------------------------------


def case_rng(seed: int, i: int) -> random.Random:
    return random.Random(f"{seed}-{i}")


def run_cli(folder: Path, n: int, timeout: float) -> list[str]:
    """``gkxlsx check --json --year 2025`` on a folder of ``n`` files: what went wrong (nothing: [])."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict")
    cmd = [sys.executable, "-m", "gkxlsx", "check", "--json", "--year", "2025", str(folder)]
    try:
        cp = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"command line: timeout (> {timeout:g} s)"]
    err = cp.stderr.decode("utf-8", "replace")
    bad = []
    if "Traceback" in err or "panicked" in err:
        bad.append("command line: Traceback or panic on stderr: " + err[-2000:])
    if cp.returncode not in (0, 1):
        bad.append(f"command line: exit {cp.returncode}: {err[-500:]}")
    try:
        report = json.loads(cp.stdout.decode("utf-8"))
        if report["summary"]["total"] != n or len(report["files"]) != n:
            bad.append(f"command line: {report['summary']['total']} files reported, {n} given")
        internal = [r["file"] for r in report["files"] for f in r["findings"] if f["rule"] == "E-INTERNAL"]
        if internal:
            bad.append(f"command line: E-INTERNAL in {internal}")
    except (UnicodeDecodeError, ValueError, KeyError) as e:
        bad.append(f"command line: no valid JSON ({type(e).__name__}: {e})")
    return bad


def save_failure(folder: Path, seed: int, case, what: dict[str, Any]) -> Path:
    from gkxlsx.workbook.reader import readable_name

    d = folder / f"{seed}-{case.i:05d}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "case.bin").write_bytes(case.data)
    meta = {
        "seed": seed,
        "i": case.i,
        "reproduce": f"python benchmarks/fuzz.py --seed {seed} --only {case.i}",
        "mutations": case.kind,
        "name_kind": case.name_kind,
        "name_hex": case.name.hex(),
        "name": readable_name(os.fsdecode(case.name)),  # GBK decoded; name_hex is the real one
        "year": case.year,
        "roster": case.roster,
        **what,
    }
    (d / "case.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return d


def remeasure(cases: list, tmp: Path, args) -> list[dict]:
    """Each case checked alone in a fresh worker: its own peak memory and time."""
    out = []
    for case in cases:
        path = os.path.join(os.fsencode(tmp), case.name)
        with open(path, "wb") as fh:
            fh.write(case.data)
        w = Worker(args.rlimit_mb, tmp / "stderr-alone.txt")
        got = w.check(path, case.year, case.roster, args.timeout)
        w.stop()
        os.unlink(path)
        out.append(
            {
                "i": case.i,
                "mutations": case.kind,
                "size": len(case.data),
                "check_s": got and got["check_s"],
                "peak_mb": got and got["maxrss_mb"],
                "failed": None if got else w.reason,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="cases (default 10,000)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--only", type=int, action="append", help="check only case I (repeatable)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a worker is killed (default 60)")
    ap.add_argument("--max-seconds", type=float, default=5.0, help="target: seconds per file (default 5)")
    ap.add_argument("--max-mb", type=float, default=500.0, help="target: peak MB per file (default 500)")
    ap.add_argument("--rlimit-mb", type=int, default=3072, help="the worker's address-space limit (default 3072)")
    ap.add_argument("--recycle", type=int, default=500, help="files per worker before a fresh one (default 500)")
    ap.add_argument("--cli-batch", type=int, default=50, help="files per command-line batch (default 50)")
    ap.add_argument("--cli-every", type=int, default=5, help="every k-th batch through the command line (0: none)")
    ap.add_argument("--remeasure", type=int, default=10, help="heaviest files checked again alone (default 10)")
    ap.add_argument("--out", type=Path, help="JSON summary (default benchmarks/results/fuzz_N.json)")
    ap.add_argument("--failures", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz-failures")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0

    from fuzzlib import FAMILIES, make_bases, make_case

    t_start = time.time()
    bases = make_bases(args.seed)
    indexes = args.only or list(range(args.n))
    out = args.out or ROOT / "benchmarks" / "results" / f"fuzz_{args.n}.json"
    tmp = Path(tempfile.mkdtemp(prefix="gkxlsx-fuzz-"))
    w = Worker(args.rlimit_mb, tmp / "stderr.txt")

    outcomes: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[str] = collections.Counter()
    finding_ids: collections.Counter[str] = collections.Counter()
    families: collections.Counter[str] = collections.Counter()
    name_kinds: collections.Counter[str] = collections.Counter()
    failures: list[dict] = []
    slowest: list[tuple[float, int, str]] = []
    raisers: list[tuple[float, int]] = []  # (MB the file raised the worker's peak by, case)
    max_rss = 0.0
    max_rss_case = None
    check_seconds = 0.0
    cli_files = cli_batches = 0
    block: list = []
    block_dir = tmp / "block"
    block_dir.mkdir()
    t_checks = time.time()

    def fail(case, outcome: str, what: dict[str, Any]) -> None:
        d = save_failure(args.failures, args.seed, case, {"outcome": outcome, **what})
        failures.append({"i": case.i, "outcome": outcome, "mutations": case.kind, "saved": str(d)})
        print(f"  FAIL case {case.i} {outcome}: {case.kind} → {d}", flush=True)

    def flush_block() -> None:
        nonlocal cli_files, cli_batches, blocks
        n = len(block)
        if n and args.cli_every and blocks % args.cli_every == 0:
            bad = run_cli(block_dir, n, timeout=60 + n * args.max_seconds)
            cli_files += n
            cli_batches += 1
            if bad:
                outcomes["cli-failure"] += 1
                for case in block:  # the batch's files, to find the one
                    fail(case, "cli-failure", {"problems": bad})
        blocks += 1
        for entry in os.listdir(os.fsencode(block_dir)):
            os.unlink(os.path.join(os.fsencode(block_dir), entry))
        block.clear()

    blocks = 0
    for done, i in enumerate(indexes, start=1):
        case = make_case(i, bases, case_rng(args.seed, i))
        for k in case.kind.split("+"):
            families[k.split(":")[0]] += 1
        name_kinds[case.name_kind] += 1
        path = os.path.join(os.fsencode(block_dir), case.name)
        with open(path, "wb") as fh:
            fh.write(case.data)
        if w.proc is not None and w.files >= args.recycle:
            w.stop()
        got = w.check(path, case.year, case.roster, args.timeout)
        if got is None:
            what = "timeout" if w.reason.startswith("timeout") else "crash"
            outcomes[what] += 1
            fail(case, what, {"reason": w.reason})
            os.unlink(path)
            continue
        block.append(case)
        rss = got["maxrss_mb"]
        raisers.append((rss - got["maxrss_before_mb"], i))  # how much this file raised the worker's peak
        raisers.sort(reverse=True)
        del raisers[args.remeasure :]
        if rss > max_rss:
            max_rss, max_rss_case = rss, i
        if got["check_s"] is not None:
            check_seconds += got["check_s"]
            slowest.append((got["check_s"], i, case.kind))
            slowest.sort(reverse=True)
            del slowest[10:]
        noise = w.new_stderr()
        if noise:
            got["problems"].append("stderr: " + noise[-2000:])
        if got["traceback"]:
            outcome = "traceback"
        elif got["internal"]:
            outcome = "E-INTERNAL"
        elif got["problems"]:
            outcome = "problem"
        elif got["check_s"] > args.max_seconds:
            outcome = "slow"
        elif rss > args.max_mb:
            outcome = "memory"
        else:
            outcome = "ok"
        outcomes[outcome] += 1
        if got["status"]:
            statuses[got["status"]] += 1
        for fid in got["ids"]:
            finding_ids[fid] += 1
        if outcome != "ok":
            fail(case, outcome, {k: got[k] for k in ("traceback", "internal", "problems", "check_s", "maxrss_mb")})
        if len(block) >= args.cli_batch:
            flush_block()
        if done % 500 == 0 or done == len(indexes):
            el = time.time() - t_checks
            print(
                f"{done:6d}/{len(indexes)}  {done / el:6.1f} cases/s  peak {max_rss:5.0f} MB  "
                f"slowest {slowest[0][0] if slowest else 0:5.2f} s  "
                + "  ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
                flush=True,
            )
    flush_block()
    w.stop()
    elapsed_checks = time.time() - t_checks

    # the heaviest files again, each alone in a fresh worker: their own peak memory and time
    by_i = {i: make_case(i, bases, case_rng(args.seed, i)) for _mb, i in raisers}
    heavy = [by_i[i] for _mb, i in raisers]
    slow_cases = [make_case(i, bases, case_rng(args.seed, i)) for _s, i, _k in slowest[:3] if i not in by_i]
    again = remeasure(heavy + slow_cases, tmp, args) if args.remeasure else []
    shutil.rmtree(tmp, ignore_errors=True)
    alone_peak = max((a["peak_mb"] or 0 for a in again), default=0.0)
    for a in again:
        if a["failed"] or (a["peak_mb"] or 0) > args.max_mb:
            outcomes["remeasure-failure"] += 1

    n = len(indexes)
    targets = {
        "files >= 10000 (issue 15)": n >= 10_000 or bool(args.only),
        "tracebacks == 0": outcomes["traceback"] == 0,
        "E-INTERNAL == 0": outcomes["E-INTERNAL"] == 0,
        "timeouts and crashes == 0": outcomes["timeout"] + outcomes["crash"] == 0,
        "other problems == 0": outcomes["problem"] + outcomes["cli-failure"] == 0,
        f"max check time < {args.max_seconds:g} s": outcomes["slow"] == 0
        and (not slowest or slowest[0][0] < args.max_seconds),
        f"peak memory < {args.max_mb:g} MB": outcomes["memory"] + outcomes["remeasure-failure"] == 0
        and max_rss < args.max_mb,
    }
    summary = {
        "command": "python benchmarks/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "files": n,
        "elapsed_s": round(time.time() - t_start, 1),
        "checking_s": round(elapsed_checks, 1),
        "cases_per_s": round(n / elapsed_checks, 1) if elapsed_checks else None,
        "check_s_total": round(check_seconds, 1),
        "tracebacks": outcomes["traceback"],
        "e_internal": outcomes["E-INTERNAL"],
        "outcomes": dict(sorted(outcomes.items())),
        "statuses": dict(statuses.most_common()),
        "finding_ids": dict(finding_ids.most_common()),
        "families": dict(families.most_common()),
        "unused_families": sorted(set(FAMILIES) - set(families)),
        "file_names": dict(name_kinds.most_common()),
        "command_line": {"batches": cli_batches, "files": cli_files},
        "max_check_s": round(slowest[0][0], 3) if slowest else None,
        "slowest": [{"check_s": round(s, 3), "i": i, "mutations": k} for s, i, k in slowest],
        "worker_peak_mb": round(max_rss, 1),
        "worker_peak_case": max_rss_case,
        "alone": again,
        "alone_peak_mb": round(alone_peak, 1),
        "memory_note": (
            "worker_peak_mb: the largest VmHWM (peak resident memory) of a worker process (interpreter, gkxlsx and up to "
            f"{args.recycle} files checked in it): an upper bound of every file's peak. alone: the files "
            "that raised a worker's peak most and the slowest, each checked again in a fresh process."
        ),
        "failures": failures,
        "targets": targets,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print()
    print(f"files {n}, {summary['cases_per_s']} cases/s ({elapsed_checks:.0f} s)")
    print(f"tracebacks {outcomes['traceback']}, E-INTERNAL {outcomes['E-INTERNAL']}, outcomes {dict(outcomes)}")
    print(f"statuses {dict(statuses)}")
    print(f"max check time {summary['max_check_s']} s; worker peak {max_rss:.0f} MB; alone peak {alone_peak:.0f} MB")
    print(f"command line: {cli_batches} batches, {cli_files} files")
    for k, ok in targets.items():
        print(f"  {'✓' if ok else '✗'} {k}")
    print(f"written: {out}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
