"""Rollout gates: what must hold before a feature flag goes up a step.

A gate is a validation rules file that must pass (the validation engine, with its report
written like any other) and/or a health probe (a query timed through db/, judged on p95 latency
and error rate). `flags.rollout` runs the gate before it writes; a failed gate raises
`GateFailedError` and nothing is written. The gate is its own module because it reaches into
two other engines, while the flag file handling in `flags` needs neither.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from datamigration.errors import DataMigrationError, ValidationFailedError


class GateFailedError(ValidationFailedError):
    """A rollout gate (validation rules or health probe) did not pass; nothing was written."""


@dataclass(frozen=True)
class Gate:
    """What must hold before a rollout goes up a step."""

    rules: str | None = None
    source: str | None = None
    target: str | None = None
    probe_url: str | None = None
    probe_sql: str = "SELECT 1"
    probe_samples: int = 20
    max_p95_ms: float = 250.0
    max_error_rate: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.rules and not self.probe_url


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str
    measured: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "measured": self.measured,
        }


def run_gate(workspace: Any, gate: Gate) -> list[GateCheck]:
    checks: list[GateCheck] = []
    if gate.rules:
        checks.append(_rules_check(workspace, gate))
    if gate.probe_url:
        checks.append(health_probe(workspace, gate))
    return checks


def _rules_check(workspace: Any, gate: Gate) -> GateCheck:
    from datamigration.validate.report import write_report
    from datamigration.validate.rules import load_rules, run_rules

    path = workspace.resolve(gate.rules)
    data = load_rules(path)
    run = run_rules(
        data, workspace, source=gate.source, target=gate.target, name=data.get("name") or path.stem
    )
    json_path, _ = write_report(workspace, run)
    return GateCheck(
        name=f"validation {workspace.relative(path)}",
        passed=run.passed,
        detail=run.summary,
        measured={
            "passed_count": len(run.results) - run.failed_count,
            "failed_count": run.failed_count,
            "report": workspace.relative(json_path),
        },
    )


def health_probe(workspace: Any, gate: Gate) -> GateCheck:
    """Run the probe query `probe_samples` times; pass on error rate and p95 latency."""
    from datamigration.db import connect

    latencies: list[float] = []
    errors: list[str] = []
    try:
        backend = connect(gate.probe_url, workspace)
    except DataMigrationError as exc:
        return GateCheck("health probe", False, f"cannot connect: {exc.message}", {"errors": 1})
    with backend:
        for _ in range(max(1, gate.probe_samples)):
            started = time.perf_counter()
            try:
                backend.query(gate.probe_sql, max_rows=1)
            except DataMigrationError as exc:
                errors.append(exc.message)
            latencies.append((time.perf_counter() - started) * 1000.0)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    rate = len(errors) / len(latencies)
    passed = rate <= gate.max_error_rate and p95 <= gate.max_p95_ms
    detail = (
        f"{len(latencies)} probes of {gate.probe_sql!r}: p95 {p95:.1f} ms "
        f"(limit {gate.max_p95_ms:g}), errors {len(errors)} (limit rate {gate.max_error_rate:g})"
    )
    if errors:
        detail += f"; first error: {errors[0]}"
    return GateCheck(
        "health probe",
        passed,
        detail,
        {"p95_ms": round(p95, 2), "errors": len(errors), "samples": len(latencies)},
    )
