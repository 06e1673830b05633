"""Validation reports: JSON for machines, markdown for the pull request, the verdict on the story.

Reports go under the workspace's docs tree (`docs/validation/`) so a team reviews them with the
code. When a story is named, the outcome is recorded on it through the coordination engine's
`record_validation` (test_status passing/failing + summary + report path), which is what the
harness rule reads before a story may move to in-review.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from datamigration.redact import redact_text
from datamigration.validate.results import ValidationRun


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "validation"


def render_markdown(run: ValidationRun, story: str | None = None) -> str:
    verdict = "PASSED" if run.passed else "FAILED"
    lines = [
        f"# Validation report: {run.name}",
        "",
        f"- Verdict: **{verdict}** ({run.summary})",
        f"- Run at: {run.started_at} ({run.seconds:.2f} s)",
    ]
    if story:
        lines.append(f"- Story: {story}")
    if run.source:
        lines.append(f"- Source: `{run.source}`")
    if run.target:
        lines.append(f"- Target: `{run.target}`")
    lines += [f"- Note: {note}" for note in run.notes]
    lines += [
        "",
        "| rule | type | result | measured | threshold | message |",
        "|---|---|---|---|---|---|",
    ]
    for r in run.results:
        measured = json.dumps(r.measured, default=str)
        cells = [r.id, r.type, "pass" if r.passed else "**FAIL**", measured, str(r.threshold),
                 r.message.replace("|", "\\|")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    failing = [r for r in run.results if not r.passed and r.offending]
    if failing:
        lines += ["", "## Offending keys (first few)", ""]
        for r in failing:
            shown = ", ".join(json.dumps(k, default=str) for k in r.offending[:10])
            lines.append(f"- `{r.id}`: {shown}")
    return redact_text("\n".join(lines) + "\n")


def write_report(workspace: Any, run: ValidationRun, story: str | None = None) -> tuple[Path, Path]:
    """Write `<docs>/validation/<name>[-<story>].json|.md`; returns both paths."""
    folder = workspace.docs_dir / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    stem = _slug(run.name) + (f"-{story.lower()}" if story else "")
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    data: dict[str, Any] = run.to_dict() | ({"story": story} if story else {})
    json_path.write_text(
        redact_text(json.dumps(data, indent=2, default=str, sort_keys=True)) + "\n",
        encoding="utf-8",
    )
    md_path.write_text(render_markdown(run, story), encoding="utf-8")
    return json_path, md_path


def record_on_story(workspace: Any, story: str, run: ValidationRun, report: Path) -> str:
    """Store the verdict on the story (status.json); returns the test_status written."""
    from datamigration.coordination.status import record_validation

    rec = record_validation(
        workspace,
        story,
        run.passed,
        run.summary,
        str(report),
        command="datamigration validate",
        passed_count=len(run.results) - run.failed_count,
        failed_count=run.failed_count,
    )
    return rec.test_status


class ValidationReport(TypedDict):
    """What `validate_file` returns: the run (`ValidationRun.to_dict`), where its reports were
    written and what was recorded on the story. The CLI prints it, the MCP tool answers with it."""

    name: str
    passed: bool
    summary: str
    passed_count: int
    failed_count: int
    source: str | None
    target: str | None
    started_at: str
    seconds: float
    results: list[dict[str, Any]]  # RuleResult.to_dict() of each rule, in file order
    report_json: str
    report_markdown: str
    story: str | None
    test_status: str | None
    notes: list[str]  # what the rules file should change, or the bus note of the verdict


def validate_file(
    workspace: Any,
    rules_path: str,
    *,
    story: str | None = None,
    source: str | None = None,
    target: str | None = None,
) -> ValidationReport:
    """Load a rules file from the workspace, run it, write the reports, record on the story.

    This is the one function both the CLI and the MCP tool call; the verdict is posted on the bus
    as a `status` message either way (through the story's record when a story is named)."""
    from datamigration.coordination.announce import validation_done
    from datamigration.validate.rules import load_rules, run_rules

    path = workspace.resolve(rules_path)
    data = load_rules(path)
    story = story or data.get("story")
    run = run_rules(
        data, workspace, source=source, target=target, name=data.get("name") or path.stem
    )
    json_path, md_path = write_report(workspace, run, story)
    if story:
        test_status: str | None = record_on_story(workspace, story, run, json_path)
        bus_note = None  # recording the verdict on the story posted it
    else:
        test_status = None
        bus_note = validation_done(
            workspace, run.name, run.passed, run.summary, workspace.relative(json_path)
        )
    out: ValidationReport = {
        **run.to_dict(),  # type: ignore[typeddict-item]  # the run's keys, declared above
        "report_json": workspace.relative(json_path),
        "report_markdown": workspace.relative(md_path),
        "story": story,
        "test_status": test_status,
    }
    if bus_note:
        out["notes"] = [bus_note]
    return out
