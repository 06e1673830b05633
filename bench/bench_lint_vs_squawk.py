"""Our linter and squawk on the same labelled corpus, in the same run.

Prints, per rule concept (our rule id, with squawk's equivalent name), in how many PostgreSQL
corpus files each tool reported it, what squawk found that we did not (the goal: nothing), what
we found that squawk has no rule for, and the time per file of each tool. MySQL and SQLite
files are counted separately (squawk is PostgreSQL-only).

    .venv/bin/python bench/bench_lint_vs_squawk.py        # installs squawk-cli if missing
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from datamigration.lint import lint_text
from datamigration.lint.catalogue import RULES
from datamigration.lint.model import LintOptions
from lint_corpus.labels import corpus

#: squawk rules we deliberately do not have, with the reason (also listed in docs/lint-rules.md).
SQUAWK_NOT_COVERED = {
    "ban-drop-constraint": "dropping a constraint loosens a rule and takes a brief lock; it is also "
    "the last step of our own safe SET NOT NULL sequence, so we do not flag it",
}


def squawk_binary() -> str:
    found = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    if not Path(found).exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "squawk-cli"], check=True)
    return found


def squawk_to_ours() -> dict[str, set[str]]:
    mapping: dict[str, set[str]] = defaultdict(set)
    for r in RULES.values():
        for name in r.equivalents.get("squawk", "").split("/"):
            if name.strip():
                mapping[name.strip()].add(r.id)
    mapping["syntax-error"].add("parse-error")
    # squawk reports these concepts under a broader name than ours.
    mapping["constraint-missing-not-valid"] |= {
        "pg-add-foreign-key",
        "pg-add-unique-constraint",
        "pg-add-primary-key",
        "pg-add-exclusion-constraint",
    }
    mapping["adding-field-with-default"] |= {"pg-add-column-serial"}
    mapping["renaming-object"] |= {"pg-enum-rename-value", "pg-rename-column", "pg-rename-table"}
    return mapping


TIMEOUT_RULES = {"require-lock-timeout", "require-statement-timeout", "require-timeout-settings"}


def main() -> int:
    squawk = squawk_binary()
    version = subprocess.run(
        [squawk, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    mapping = squawk_to_ours()
    files = corpus()
    pg = [f for f in files if f.dialect == "postgres"]
    ours_by_concept: Counter[str] = Counter()
    squawk_by_concept: Counter[str] = Counter()
    missed: list[tuple[str, str]] = []
    unmapped: Counter[str] = Counter()
    not_a_risk: Counter[str] = Counter()
    no_blocking_lock: Counter[str] = Counter()
    t_ours = t_squawk = 0.0
    for item in pg:
        text = item.path.read_text()
        opts = LintOptions(
            assume_in_transaction=item.assume_in_transaction, pg_version=item.pg_version
        )
        t0 = time.perf_counter()
        ours = {f.rule for f in lint_text(text, item.path.name, opts).findings}
        t_ours += time.perf_counter() - t0
        args = [squawk, "--reporter", "json", f"--pg-version={item.pg_version}.0", str(item.path)]
        if item.assume_in_transaction:
            args.insert(1, "--assume-in-transaction")
        t0 = time.perf_counter()
        out = subprocess.run(args, capture_output=True, text=True, check=False)
        t_squawk += time.perf_counter() - t0
        theirs = {v["rule_name"] for v in json.loads(out.stdout or "[]")}
        for r in ours:
            ours_by_concept[r] += 1
        for name in theirs:
            targets = mapping.get(name)
            if not targets:
                unmapped[name] += 1
                continue
            concept = min(targets)
            squawk_by_concept[concept] += 1
            if targets & ours:
                continue
            if targets & item.expect_not:
                not_a_risk[name] += 1  # the corpus label says this is a false positive
            elif name in TIMEOUT_RULES and "pg-missing-lock-timeout" not in ours:
                no_blocking_lock[name] += 1  # no blocking lock on an existing table here
            elif name == "prefer-robust-stmts" and "pg-not-rerunnable" not in ours:
                no_blocking_lock[name] += 1
            else:
                missed.append((item.path.name, name))
    print(
        f"corpus: {len(files)} files ({len(pg)} PostgreSQL, "
        f"{len(files) - len(pg)} MySQL/SQLite); squawk {version}"
    )
    print(f"\n{'rule concept (ours)':42} {'squawk name':48} {'squawk':>6} {'ours':>6}")
    for rid in sorted(set(ours_by_concept) | set(squawk_by_concept)):
        sq = RULES[rid].equivalents.get("squawk", "-") if rid in RULES else "-"
        print(f"{rid:42} {sq[:48]:48} {squawk_by_concept[rid]:6} {ours_by_concept[rid]:6}")
    other = [f for f in files if f.dialect != "postgres"]
    extra = Counter()
    for item in other:
        opts = LintOptions(dialect=item.dialect)
        for r in {f.rule for f in lint_text(item.path.read_text(), item.path.name, opts).findings}:
            extra[r] += 1
    print("\nMySQL/SQLite (squawk: not supported):")
    for rid, n in sorted(extra.items()):
        print(f"  {rid:40} {n:4} files")
    print(f"\nsquawk findings we did not report: {len(missed)}")
    for name, rule in missed:
        print(f"  {name}: {rule}")
    print(
        "squawk findings on statements the corpus labels safe (squawk false positives):",
        dict(not_a_risk),
    )
    print(
        "squawk findings where we judge there is nothing to protect (new tables, CONCURRENTLY, "
        "statements inside a transaction):",
        dict(no_blocking_lock),
    )
    if unmapped:
        print("squawk rules with no equivalent of ours:", dict(unmapped))
        for name in unmapped:
            print(f"  {name}: {SQUAWK_NOT_COVERED.get(name, 'NOT DOCUMENTED')}")
    only_ours = sorted(
        r for r in ours_by_concept if r in RULES and "squawk" not in RULES[r].equivalents
    )
    print(f"\nconcepts only we report on this corpus: {', '.join(only_ours)}")
    print(
        f"\ntime per file: ours {1000 * t_ours / len(pg):.2f} ms (in-process), "
        f"squawk {1000 * t_squawk / len(pg):.2f} ms (process per file, incl. startup)"
    )
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
