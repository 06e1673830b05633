"""Inline ignores: `-- datamigration:ignore <rule-id>[,<rule-id>...] <reason>`.

An ignore sits on the line(s) before the statement it covers (or after the statement on its last
line). The reason is mandatory, because an accepted risk must say why to the reviewer. An
ignore that suppresses nothing is reported, since a stale ignore would silently hide the next
real problem on that statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from datamigration.lint.catalogue import RULES, rule
from datamigration.lint.model import Finding, Statement

_IGNORE = re.compile(r"datamigration:ignore\b[ \t]*(?P<rest>[^\n*]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Ignore:
    line: int
    rules: tuple[str, ...]
    reason: str


def parse_ignores(
    comments: tuple[tuple[int, str], ...],
) -> tuple[list[Ignore], list[tuple[int, str]]]:
    """Ignores found in the comments, and (line, problem) for malformed ones."""
    found: list[Ignore] = []
    problems: list[tuple[int, str]] = []
    for line, text in comments:
        for m in _IGNORE.finditer(text):
            parts = m.group("rest").strip().rstrip("*/").strip().split(None, 1)
            if not parts:
                problems.append((line, "ignore comment names no rule"))
                continue
            ids = tuple(p for p in parts[0].split(",") if p)
            unknown = [i for i in ids if i not in RULES]
            reason = parts[1].strip() if len(parts) > 1 else ""
            if unknown:
                problems.append((line, f"ignore names unknown rule(s) {', '.join(unknown)}"))
            elif not reason:
                problems.append((line, f"ignore of {parts[0]} has no reason"))
            else:
                found.append(Ignore(line, ids, reason))
    return found, problems


def apply_ignores(
    findings: list[Finding], statements: list[Statement], trailing: list[tuple[int, str]], file: str
) -> list[Finding]:
    """Drop ignored findings; add findings for malformed and unused ignores."""
    by_start = {(s.line, s.column): s for s in statements}
    ignores: dict[tuple[int, int], list[Ignore]] = {}
    extra: list[Finding] = []

    def meta(rule_id: str, line: int, message: str) -> Finding:
        r = rule(rule_id)
        return Finding(
            rule=r.id,
            severity=r.severity,
            file=file,
            line=line,
            column=1,
            message=message,
            fix=r.safe,
            equivalents=dict(r.equivalents),
        )

    for s in statements:
        if not s.comments:
            continue
        found, problems = parse_ignores(s.comments)
        ignores[(s.line, s.column)] = found
        extra += [meta("invalid-ignore", line, p) for line, p in problems]
    found, problems = parse_ignores(tuple(trailing))
    extra += [meta("invalid-ignore", line, p) for line, p in problems]
    extra += [
        meta(
            "unused-ignore",
            i.line,
            f"ignore of {', '.join(i.rules)} follows the last statement and covers nothing",
        )
        for i in found
    ]
    used: set[tuple[int, str]] = set()
    kept: list[Finding] = []
    for f in findings:
        hit = next((i for i in ignores.get((f.line, f.column), ()) if f.rule in i.rules), None)
        if hit is None or (f.line, f.column) not in by_start:
            kept.append(f)
        else:
            used.add((hit.line, f.rule))
    for ign_list in ignores.values():
        for i in ign_list:
            for r in i.rules:
                if (i.line, r) not in used:
                    extra.append(
                        meta(
                            "unused-ignore",
                            i.line,
                            f"ignore of {r} matches no finding on its statement",
                        )
                    )
    return kept + [replace(e) for e in extra]
