"""ADRs (numbering, sections, no overwrite, bus) and the expertise file (schema, learn, trim)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from datamigration.coordination import adr, bus, expertise
from datamigration.coordination.paths import coordination_paths
from datamigration.errors import ConflictError, FileFormatError, NotFoundError, UserInputError
from datamigration.workspace.root import Workspace


def test_adr_new_takes_the_next_number_and_writes_the_standard_sections(
    workspace_dir: Path,
) -> None:
    decisions = workspace_dir / "docs" / "03-decisions"
    decisions.mkdir(parents=True)
    (decisions / "adr-0007-use-postgres.md").write_text("# ADR-0007: Use Postgres\n")
    (decisions / "README.md").write_text("index\n")
    ws = Workspace.open(workspace_dir)
    made = adr.new_adr(
        ws,
        "Dual-write for user_profiles",
        context="Moving user_profiles from PostgreSQL to MongoDB with zero downtime.",
        decision="Dual-write behind a feature flag, then backfill and cut over.",
        positive=["No downtime"],
        negative=["Two writes per request for a while"],
        story="US-0042",
    )
    assert made.relative_path == "docs/03-decisions/adr-0008-dual-write-for-user-profiles.md"
    text = (workspace_dir / made.relative_path).read_text()
    assert text.startswith("# ADR-0008: Dual-write for user_profiles\n")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[1:] == [
        "## Context",
        "## Decision",
        "## Consequences",
        "### Positive",
        "### Negative",
        "### Neutral",
        "## Alternatives Considered",
        "## References",
    ]
    for label in ("**Date**:", "**Status**: Proposed", "**Deciders**: AG-DATAMIGRATION"):
        assert label in text
    posted = bus.read(ws, type="adr-created").messages
    assert posted[-1].story == "US-0042" and posted[-1].raw["adr"] == "ADR-0008"


def test_adr_new_refuses_to_overwrite_or_duplicate(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    first = adr.new_adr(ws, "Expand then contract")
    body = (workspace_dir / first.relative_path).read_text()
    with pytest.raises(ConflictError):
        adr.new_adr(ws, "Expand, then contract!")  # same slug
    assert (workspace_dir / first.relative_path).read_text() == body
    assert adr.new_adr(ws, "Second decision").record.number == 2
    for bad in ("", "!!!", "two\nlines"):
        with pytest.raises(UserInputError):
            adr.new_adr(ws, bad)
    with pytest.raises(UserInputError):
        adr.new_adr(ws, "Third", status="maybe")


EXPERTISE = """\
# Team notes: keep this comment
domain: datamigration
last_updated: 2024-01-02
version: "1.0"
files:
  migrations:
    - path: db/migrations/
      purpose: Alembic revisions
conventions:
  - Backfill in batches of 10k rows   # measured on staging
learnings:
  - date: 2024-01-02
    context: first run
    insight: The users table has 40M rows.
    files_affected:
      - db/migrations/0001_init.py
other_key: kept
"""


def expertise_workspace(root: Path, text: str = EXPERTISE) -> tuple[Workspace, Path]:
    path = root / "expertise" / "datamigration.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return Workspace.open(root), path


def test_expertise_loads_with_warnings_for_staleness(workspace_dir: Path) -> None:
    ws, path = expertise_workspace(workspace_dir)
    loaded = expertise.load(ws)
    assert loaded.data["last_updated"] == "2024-01-02"
    assert loaded.data["learnings"][0]["date"] == "2024-01-02"
    assert any("days old" in w for w in loaded.warnings)
    assert loaded.path == path


def test_learn_appends_a_dated_learning_and_keeps_comments_and_other_keys(
    workspace_dir: Path,
) -> None:
    ws, path = expertise_workspace(workspace_dir)
    (workspace_dir / "db").mkdir()
    learned = expertise.learn(
        ws, "backfill of orders", "Throttle at 5k rows/s to keep replica lag under 2 s.", ["db"]
    )
    text = path.read_text()
    assert text.startswith("# Team notes: keep this comment\n")
    assert "# measured on staging" in text and text.endswith("other_key: kept\n")
    data = expertise.load(ws).data
    assert data["learnings"][-1] == {
        "date": learned.learning["date"],
        "context": "backfill of orders",
        "insight": "Throttle at 5k rows/s to keep replica lag under 2 s.",
        "files_affected": ["db"],
    }
    assert data["last_updated"] == learned.learning["date"]
    assert not expertise.load(ws).warnings


def test_learn_archives_the_oldest_learnings_to_stay_under_200_lines(workspace_dir: Path) -> None:
    ws, path = expertise_workspace(workspace_dir)
    for i in range(80):
        result = expertise.learn(ws, f"run {i}", f"insight number {i}")
        assert result.line_count <= expertise.MAX_LINES
    data = expertise.load(ws).data
    assert data["learnings"][-1]["insight"] == "insight number 79"
    archive = expertise.archive_path_for(path)
    archived = yaml.safe_load(archive.read_text())
    kept = [entry["insight"] for entry in data["learnings"]]
    assert [entry["insight"] for entry in archived] + kept == [
        "The users table has 40M rows.",
        *(f"insight number {i}" for i in range(80)),
    ]
    assert "other_key: kept" in path.read_text()


def test_learn_starts_a_file_when_there_is_none(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    with pytest.raises(NotFoundError):
        expertise.load(ws)
    expertise.learn(ws, "setup", "The project uses Alembic.")
    loaded = expertise.load(ws)
    assert loaded.path == workspace_dir / "expertise" / "datamigration.yaml"
    assert loaded.data["domain"] == "datamigration"
    assert [entry["insight"] for entry in loaded.data["learnings"]] == ["The project uses Alembic."]


def test_the_installed_agileflow_expertise_file_is_preferred(workspace_dir: Path) -> None:
    installed = workspace_dir / ".agileflow" / "experts" / "datamigration" / "expertise.yaml"
    installed.parent.mkdir(parents=True)
    installed.write_text(EXPERTISE)
    ws = Workspace.open(workspace_dir)
    assert coordination_paths(ws).expertise == installed
    expertise.learn(ws, "c", "i")
    assert not (workspace_dir / "expertise").exists()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("domain: datamigration\nversion: 1\nlast_updated: [unclosed\n", 4, "expected"),
        ("domain: datamigration\nversion: 1\n", 1, "last_updated"),
        (
            EXPERTISE.replace("    insight: The users table has 40M rows.\n", "    insight: 7\n"),
            14,
            "insight",
        ),
    ],
)
def test_bad_expertise_names_file_line_and_problem_and_is_left_alone(
    workspace_dir: Path, text: str, line: int, words: str
) -> None:
    ws, path = expertise_workspace(workspace_dir, text)
    stamp = os.stat(path).st_mtime_ns
    with pytest.raises(FileFormatError) as caught:
        expertise.learn(ws, "c", "i")
    err = caught.value
    assert err.data["path"] == str(path) and err.data["line"] == line
    assert words in err.data["problem"] or words in str(err)
    assert path.read_text() == text and os.stat(path).st_mtime_ns == stamp


def test_learn_after_a_block_literal_learning_keeps_the_next_key(workspace_dir: Path) -> None:
    text = (
        "domain: datamigration\nlast_updated: 2025-01-01\nversion: 1\nlearnings:\n"
        "- date: 2025-01-01\n  insight: |\n    two\n    lines\nafter: kept\n"
    )
    ws, path = expertise_workspace(workspace_dir, text)
    expertise.learn(ws, "c", "third")
    data = expertise.load(ws).data
    assert [e["insight"] for e in data["learnings"]] == ["two\nlines\n", "third"]
    assert data["after"] == "kept" and path.read_text().endswith("after: kept\n")


def test_a_new_workspace_gets_the_packaged_default_expertise_and_learn_starts_from_it(
    workspace_dir: Path,
) -> None:
    ws = Workspace.open(workspace_dir)
    loaded = expertise.load(ws, default_when_missing=True)
    assert loaded.exists is False and loaded.data["domain"] == "datamigration"
    assert [p["name"] for p in loaded.data["patterns"]][:2] == ["expand-contract", "dual-write"]
    assert "no expertise file yet" in loaded.warnings[0]
    assert not (workspace_dir / "expertise").exists()  # reading never writes
    expertise.learn(ws, "setup", "The project uses Alembic.")
    written = expertise.load(ws)
    assert written.exists and written.data["patterns"] == loaded.data["patterns"]
    assert [x["insight"] for x in written.data["learnings"]] == ["The project uses Alembic."]


def test_the_packaged_default_expertise_is_the_plugins_file() -> None:
    repo = Path(__file__).resolve().parents[2]
    shipped = (repo / "expertise" / "datamigration.yaml").read_text(encoding="utf-8")
    assert expertise.packaged_default() == shipped, (
        "copy expertise/datamigration.yaml to server/datamigration/data/expertise.yaml"
    )
