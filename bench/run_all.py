"""Run every benchmark in bench/ (files named bench_*.py) and summarise their exit codes.

Each script prints its own table (figure | ours | anchor | ratio). Flags after the script
options are passed to every benchmark, e.g. `python bench/run_all.py --quick --json`.
`-k WORD` runs only the benchmarks whose file name contains WORD.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover(selector: str | None = None) -> list[Path]:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    return [s for s in scripts if selector is None or selector in s.name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="selector", help="only benchmarks whose file name contains this")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args, passthrough = parser.parse_known_args(argv)

    scripts = discover(args.selector)
    if args.list:
        print("\n".join(s.name for s in scripts))
        return 0
    if not scripts:
        print("no benchmark matched", file=sys.stderr)
        return 1

    outcomes: list[tuple[str, int, float]] = []
    for script in scripts:
        print(f"\n>>> {script.name} {' '.join(passthrough)}".rstrip(), flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *passthrough], cwd=BENCH_DIR.parent)
        outcomes.append((script.name, code, time.perf_counter() - start))

    print("\n== summary ==")
    for name, code, seconds in outcomes:
        print(f"{'ok  ' if code == 0 else 'FAIL'} {name} ({seconds:.1f} s, exit {code})")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
