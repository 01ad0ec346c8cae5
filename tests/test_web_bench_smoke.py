"""The web benchmark's code path on a tiny campaign (benchmarks/bench_web.py: 6 units, 2 clients),
so that it cannot rot: a real ``gkxlsx serve`` on 127.0.0.1, uploads through the unit links (one
broken in its numbers, one sent twice), the findings pages, ``gkxlsx import`` of the same files on
a fresh copy, and the ledger check — one row per distinct file sent, nothing lost or doubled."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_web_benchmark_runs_and_the_ledger_check_passes(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import bench_web
    finally:
        sys.path.remove(str(BENCH))
    r = bench_web.measure(6, 2, tmp_path / "data", repeat=1)
    w = r["web"]
    assert r["uploads"] == 7 and r["kinds"]["clean"] == 4  # two broken, one unit uploads twice
    assert w["uploads"] == 7 and w["http_not_200"] == 0 and w["pages_without_findings"] == 0
    assert w["outcomes"] == {"new": 6, "duplicate": 1}
    led = w["ledger"]
    assert led["ok"], led
    assert (led["rows"], led["distinct_sent"], led["sent"]) == (6, 6, 7)
    assert led["statuses"].get("有错误") == 2
    assert r["cli"]["ledger"]["ok"] and r["cli_alone"]["ledger"]["ok"]
    assert r["ledger_ok"] and w["latency_p95_s"] > 0 and w["memory"]["rss_peak_sampled_mb"] > 0


def test_web_benchmark_with_two_server_processes(tmp_path):
    """``gkxlsx serve --workers 2``: two processes answer the same campaign; nothing lost or doubled."""
    sys.path.insert(0, str(BENCH))
    try:
        import bench_web
    finally:
        sys.path.remove(str(BENCH))
    r = bench_web.measure(6, 2, tmp_path / "data", repeat=1, floor=False, workers=2)
    w = r["web"]
    assert w["http_not_200"] == 0 and w["outcomes"] == {"new": 6, "duplicate": 1}
    assert w["ledger"]["ok"], w["ledger"]
    assert w["memory"]["processes"] >= 3  # the supervisor and its two workers
