"""Architecture decision records in AgileFlow's layout: `<docs>/03-decisions/adr-NNNN-slug.md`.

A migration's big choices (dual-write or expand-contract, which cutover, why this backfill rate)
belong in a reviewed document, not in a chat. `new_adr` takes the next number (highest existing
plus one, four digits) under a lock so two writers never share a number, creates the file
exclusively so nothing is ever overwritten, and announces it on the bus (`adr-created`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datamigration import AGENT_NAME
from datamigration.coordination import bus
from datamigration.coordination.locking import FileLock
from datamigration.coordination.paths import coordination_paths
from datamigration.errors import ConflictError, UserInputError
from datamigration.redact import redact_text
from datamigration.workspace.root import Workspace

STATUSES = ("Proposed", "Accepted", "Deprecated", "Superseded", "Rejected")
_ADR_FILE = re.compile(r"^adr-(\d{1,6})-(.*)\.md$", re.IGNORECASE)
_TODO = "_To be written._"


@dataclass(frozen=True)
class AdrRecord:
    number: int
    slug: str
    path: Path

    @property
    def label(self) -> str:
        return f"ADR-{self.number:04d}"


@dataclass(frozen=True)
class NewAdr:
    record: AdrRecord
    title: str
    status: str
    relative_path: str


def slugify(title: str) -> str:
    """Lowercase ASCII words joined by dashes, at most 60 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:60].rstrip("-")


def list_adrs(workspace: Workspace) -> list[AdrRecord]:
    """Existing ADRs, by number."""
    folder = coordination_paths(workspace).decisions_dir
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        m = _ADR_FILE.match(entry.name)
        if m and entry.is_file():
            found.append(AdrRecord(int(m.group(1)), m.group(2).lower(), entry))
    return sorted(found, key=lambda r: (r.number, r.slug))


def _bullets(items: Sequence[str]) -> str:
    cleaned = [redact_text(i.strip()) for i in items if i and i.strip()]
    return "\n".join(f"- {i}" for i in cleaned) if cleaned else f"- {_TODO}"


def render_adr(
    number: int,
    title: str,
    *,
    date: str,
    status: str,
    deciders: str,
    story: str | None,
    context: str | None,
    decision: str | None,
    positive: Sequence[str],
    negative: Sequence[str],
    neutral: Sequence[str],
    alternatives: Sequence[str],
    references: Sequence[str],
) -> str:
    """The standard sections, in AgileFlow's order."""
    header = [f"# ADR-{number:04d}: {title}", "", f"**Date**: {date}", f"**Status**: {status}"]
    header.append(f"**Deciders**: {deciders}")
    if story:
        header.append(f"**Story**: {story}")
    body = [
        "## Context",
        redact_text(context.strip()) if context and context.strip() else _TODO,
        "## Decision",
        redact_text(decision.strip()) if decision and decision.strip() else _TODO,
        "## Consequences",
        "### Positive",
        _bullets(positive),
        "### Negative",
        _bullets(negative),
        "### Neutral",
        _bullets(neutral),
        "## Alternatives Considered",
        _bullets(alternatives),
        "## References",
        _bullets(references),
    ]
    return "\n".join(header) + "\n\n" + "\n\n".join(body) + "\n"


def new_adr(
    workspace: Workspace,
    title: str,
    *,
    context: str | None = None,
    decision: str | None = None,
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
    neutral: Sequence[str] = (),
    alternatives: Sequence[str] = (),
    references: Sequence[str] = (),
    status: str = "Proposed",
    deciders: str | None = None,
    story: str | None = None,
) -> NewAdr:
    """Write the next ADR; an ADR with the same slug already existing is refused."""
    title = (title or "").strip()
    slug = slugify(title)
    if not slug or "\n" in title:
        raise UserInputError(
            f"cannot make an ADR file name from title {title!r}",
            hint="Give a one-line title with some letters or digits, e.g. 'Dual-write for users'.",
        )
    matched = [s for s in STATUSES if s.lower() == (status or "").strip().lower()]
    if not matched:
        raise UserInputError(f"unknown ADR status {status!r}", hint=f"Use one of {STATUSES}.")
    if story is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._-]+", story):
        raise UserInputError(f"bad story id {story!r}", hint="Use an id such as US-0042.")
    paths = coordination_paths(workspace)
    folder = paths.decisions_dir
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / ".adr-new", paths.lock_timeout):
        existing = list_adrs(workspace)
        same = [r for r in existing if r.slug == slug]
        if same:
            raise ConflictError(
                f"{same[0].label} already records {title!r} ({workspace.relative(same[0].path)})",
                hint="Edit that ADR, or supersede it with a new one under a different title.",
                path=str(same[0].path),
            )
        number = max((r.number for r in existing), default=0) + 1
        path = folder / f"adr-{number:04d}-{slug}.md"
        text = render_adr(
            number,
            redact_text(title),
            date=datetime.now(UTC).date().isoformat(),
            status=matched[0],
            deciders=deciders or AGENT_NAME,
            story=story,
            context=context,
            decision=decision,
            positive=positive,
            negative=negative,
            neutral=neutral,
            alternatives=alternatives,
            references=references,
        )
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise ConflictError(
                f"{workspace.relative(path)} already exists; it was not overwritten",
                hint="Pick another title, or edit the existing ADR.",
                path=str(path),
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    record = AdrRecord(number, slug, path)
    relative = workspace.relative(path)
    bus.post(
        workspace,
        "adr-created",
        f"{record.label}: {title} ({relative})",
        story=story,
        extra={"adr": record.label, "path": relative},
    )
    return NewAdr(record, title, matched[0], relative)
