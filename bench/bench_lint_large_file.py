"""Time to lint one 10,000-statement PostgreSQL migration (goal: under 5 s).

.venv/bin/python bench/bench_lint_large_file.py
"""

from __future__ import annotations

import sys
import time

from datamigration.lint import lint_text

KINDS = [
    "ALTER TABLE t{i} ADD COLUMN IF NOT EXISTS c{i} bigint;",
    "CREATE INDEX idx_{i} ON t{i} (a);",
    "ALTER TABLE t{i} ALTER COLUMN c TYPE bigint;",
    "UPDATE t{i} SET a = 1 WHERE id = {i};",
    "ALTER TABLE t{i} ADD CONSTRAINT c{i} CHECK (a > 0);",
]


def main() -> int:
    text = "\n".join(KINDS[i % len(KINDS)].format(i=i % 100) for i in range(10_000))
    t0 = time.perf_counter()
    report = lint_text(text, "big.sql")
    elapsed = time.perf_counter() - t0
    print(
        f"10,000 statements ({len(text) / 1024:.0f} KiB): {elapsed:.2f} s, "
        f"{len(report.findings)} findings; goal < 5 s: {'met' if elapsed < 5 else 'MISSED'}"
    )
    return 0 if elapsed < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
