"""The benchmark helpers measure what they claim: per-child peak memory, ratios, the table."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("bench_runner", REPO / "bench" / "_runner.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_runner"] = module
    spec.loader.exec_module(module)
    return module


def test_peak_rss_is_measured_for_that_child_alone(runner):
    big = runner.run_command([sys.executable, "-c", "x = bytearray(120_000_000); x[-1] = 1"])
    small = runner.run_command([sys.executable, "-c", "pass"])
    assert big.peak_rss_bytes > 120_000_000
    # RUSAGE_CHILDREN would report the big child's peak again; wait4 reports this child's own.
    assert small.peak_rss_bytes < big.peak_rss_bytes - 60_000_000


def test_peak_rss_of_a_small_child_does_not_include_a_big_parent(runner):
    ballast = bytearray(300_000_000)  # this process is now over 300 MB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = runner.run_command([sys.executable, "-S", "-c", "pass"])
    assert small.peak_rss_bytes < 60_000_000
    del ballast


def test_run_command_returns_output_and_exit_code(runner):
    run = runner.run_command(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ],
        check=False,
    )
    assert (run.returncode, run.stdout.strip(), run.stderr.strip()) == (3, "out", "err")
    with pytest.raises(RuntimeError, match="failed"):
        runner.run_command([sys.executable, "-c", "raise SystemExit(2)"])


def test_time_callable_runs_setup_untimed_before_every_call(runner):
    calls = []
    timing = runner.time_callable(
        lambda: calls.append("fn"), repeats=3, warmup=1, setup=lambda: calls.append("setup")
    )
    assert len(timing.samples) == 3
    assert calls == ["setup", "fn"] * 4
    assert timing.best <= timing.median <= timing.worst


def test_ratio_and_verdict_read_the_direction_of_the_figure(runner):
    faster = runner.Figure("time", 1.0, 4.0, "s")
    more_throughput = runner.Figure("rows", 300.0, 100.0, "rows/s", better="higher")
    no_anchor = runner.Figure("rss", 5.0, None, "B", note="anchor not installed")
    assert (faster.ratio, faster.verdict) == (0.25, "better")
    assert (more_throughput.ratio, more_throughput.verdict) == (3.0, "better")
    assert (no_anchor.ratio, no_anchor.verdict) == (None, "no anchor")


def test_table_shows_ours_anchor_and_ratio_and_explains_a_missing_anchor(runner):
    table = runner.format_table(
        "demo",
        [
            runner.Figure("lint", 0.5, 2.0, "s"),
            runner.Figure("rss", 50 * 1024 * 1024, None, "B", note="squawk not installed"),
        ],
    )
    lines = table.splitlines()
    assert lines[0] == "== demo =="
    assert [c.strip() for c in lines[1].split("|")] == [
        "figure",
        "ours",
        "anchor",
        "ratio",
        "verdict",
    ]
    assert "500.0 ms" in lines[3] and "2.00 s" in lines[3] and "0.25x" in lines[3]
    assert "50.0 MiB" in lines[4] and "n/a" in lines[4]
    assert "squawk not installed" in table


def test_json_results_carry_figures_and_ratio(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RESULTS_DIR", tmp_path)
    path = runner.write_json("unit", [runner.Figure("t", 2.0, 1.0, "s")])
    data = json.loads(path.read_text())
    assert data["benchmark"] == "unit"
    assert data["figures"][0]["ratio"] == 2.0
    assert data["figures"][0]["verdict"] == "worse"


def test_run_all_lists_the_scripts_and_fails_when_none_match():
    listed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_all.py"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(name.startswith("bench_") for name in listed.stdout.split())
    missing = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_all.py"), "-k", "no-such-benchmark-name"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
