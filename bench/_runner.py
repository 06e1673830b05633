"""Shared helpers for the benchmark scripts in bench/.

Every benchmark measures our figure and its anchor (the tool or baseline we compare against) in
the same run, on the same machine, with the same data, and prints both with their ratio. A
figure measured alone says little: the machine, the cache and the load change from run to run,
while the ratio of two measurements taken side by side is far more stable.

A benchmark script looks like this:

    from _runner import Figure, bench_args, report, time_callable

    def main() -> int:
        args = bench_args("lint 500 migration files")
        ours = time_callable(lambda: lint_all(files), repeats=args.repeats)
        anchor = time_command(["squawk", *files], repeats=args.repeats)
        return report("lint", [Figure("lint 500 files", ours.median, anchor.median, "s")], args)

Scripts run standalone (`python bench/bench_lint.py`) or all together (`python bench/run_all.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent


@dataclass(frozen=True)
class Timing:
    """Wall-clock samples of one measured thing, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "best": self.best,
            "worst": self.worst,
            "n": len(self.samples),
        }


@dataclass(frozen=True)
class Figure:
    """One line of the report: our value, the anchor's, and which direction is better.

    `anchor` is None when the anchor could not be measured on this machine; `note` says why, so
    the report never silently compares against nothing.
    """

    name: str
    ours: float
    anchor: float | None
    unit: str
    better: str = "lower"  # "lower" (time, memory) or "higher" (throughput)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / anchor; below 1 is better for "lower" figures, above 1 for "higher" ones."""
        if self.anchor is None or self.anchor == 0:
            return None
        return self.ours / self.anchor

    @property
    def verdict(self) -> str:
        r = self.ratio
        if r is None:
            return "no anchor"
        wins = r <= 1.0 if self.better == "lower" else r >= 1.0
        return "better" if wins else "worse"


@dataclass(frozen=True)
class CommandRun:
    """A finished child process: exit code, wall time, peak resident memory, and output."""

    returncode: int
    seconds: float
    peak_rss_bytes: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


def time_callable(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    setup: Callable[[], Any] | None = None,
) -> Timing:
    """Run `fn` `warmup` times unmeasured, then `repeats` times measured.

    `setup` runs before every call and is not timed (for example, recreating a table that the
    measured call consumes).
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    samples = []
    for _ in range(max(1, repeats)):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


#: Runs one command from a small process and reports its peak RSS and wall time on an extra fd.
#: Linux records the RSS high-water mark of the process image replaced by exec() in the child's
#: ru_maxrss, so a child spawned straight from a big benchmark process would report at least the
#: parent's size. Spawned from this helper (a bare `python -S`, about 10 MiB), the floor is the
#: helper's size instead. The helper passes stdin/stdout/stderr through untouched.
_RSS_HELPER = """
import os, sys, time
fd = int(sys.argv[1])
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        os.write(2, f"cannot run {sys.argv[2]}: {exc}\\n".encode())
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
os.write(fd, f"{usage.ru_maxrss} {seconds!r}\\n".encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_command(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> CommandRun:
    """Run a command once; return its exit code, wall time, peak RSS and output.

    Wall time and peak RSS are measured by a small helper process right around the command
    (fork to exit), so neither includes this process's size or the helper's start-up.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _RSS_HELPER, str(write_fd), *argv],
            cwd=cwd,
            env=full_env,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            pass_fds=(write_fd,),
            check=False,
        )
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "r") as report:
            read_fd = -1
            line = report.read().split()
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    if len(line) != 2:
        raise RuntimeError(f"could not measure {' '.join(argv)}: {proc.stderr[-2000:]}")
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    result = CommandRun(
        proc.returncode, float(line[1]), int(line[0]) * scale, proc.stdout, proc.stderr
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"benchmark command failed ({result.returncode}): {' '.join(argv)}\n"
            f"{result.stderr[-2000:]}"
        )
    return result


def time_command(
    argv: Sequence[str],
    *,
    repeats: int = 5,
    warmup: int = 1,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Timing:
    """Wall time of a whole command (process start included), `repeats` times after warmup."""
    for _ in range(warmup):
        run_command(argv, cwd=cwd, env=env)
    return Timing(
        tuple(run_command(argv, cwd=cwd, env=env).seconds for _ in range(max(1, repeats)))
    )


def peak_rss(argv: Sequence[str], **kwargs: Any) -> int:
    """Peak resident memory of one run of a command, in bytes."""
    return run_command(argv, **kwargs).peak_rss_bytes


def which(name: str) -> str | None:
    """Path of an anchor executable: PATH first, then the project's virtualenv."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def bench_args(
    description: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The flags every benchmark accepts: --repeats, --quick (small sizes for CI), --json.

    `extra` adds a benchmark's own flags to the same parser.
    """
    parser = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(parser)
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per figure")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke run)")
    parser.add_argument(
        "--json", action="store_true", help=f"also write the figures to {RESULTS_DIR}/NAME.json"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "B":
        return f"{value / (1024 * 1024):.1f} MiB"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def format_table(title: str, figures: Sequence[Figure]) -> str:
    """The standard table: figure | ours | anchor | ratio (ours/anchor) | verdict."""
    rows = [("figure", "ours", "anchor", "ratio", "verdict")]
    for f in figures:
        ratio = "n/a" if f.ratio is None else f"{f.ratio:.2f}x"
        rows.append((f.name, _fmt(f.ours, f.unit), _fmt(f.anchor, f.unit), ratio, f.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"== {title} =="]
    for i, row in enumerate(rows):
        lines.append(" | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    lines.extend(f"  note ({f.name}): {f.note}" for f in figures if f.note)
    return "\n".join(lines)


def report(
    name: str,
    figures: Sequence[Figure],
    args: argparse.Namespace | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Print the table; with --json write bench/results/<name>.json. Returns the exit code (0)."""
    print(format_table(name, figures))
    if args is not None and getattr(args, "json", False):
        write_json(name, figures, extra=extra)
    return 0


def write_json(
    name: str, figures: Sequence[Figure], *, extra: Mapping[str, Any] | None = None
) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "figures": [{**asdict(f), "ratio": f.ratio, "verdict": f.verdict} for f in figures],
        **(dict(extra) if extra else {}),
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
