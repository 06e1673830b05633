"""The bus: lenient reading, filters, rotation that loses nothing, questions and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamigration import AGENT_NAME
from datamigration.coordination import bus
from datamigration.coordination.paths import coordination_paths
from datamigration.errors import ConflictError, NotFoundError, UserInputError
from datamigration.workspace.root import Workspace

FOREIGN_LINES = [
    '{"ts":"2025-06-01T10:00:00Z","from":"AG-DATABASE","to":"ALL","type":"status","story":"US-1","text":"started"}',
    '{"at":"2025-06-01T11:00:00Z","from":"AG-API","type":"finding","story_id":"US-2","message":"uses at/story_id/message"}',
    "this is not json at all",
    '{"timestamp":"2025-06-02T09:00:00.000Z","from":"AG-DATABASE","to":"AG-DATAMIGRATION","type":"question","story":"US-1","text":"AG-DATABASE: New indexes needed on user_profiles?"}',
    '["an", "array"]',
    '{"ts":"2025-06-02T10:00:00Z","from":"AG-UI","to":"AG-DATAMIGRATION","type":"question","text":"Is the cutover tonight?"}',
]


def seeded(root: Path) -> Workspace:
    (root / "docs" / "09-agents" / "bus").mkdir(parents=True)
    (root / "docs" / "09-agents" / "bus" / "log.jsonl").write_text("\n".join(FOREIGN_LINES) + "\n")
    return Workspace.open(root)


def test_readers_tolerate_field_variants_and_skip_malformed_lines(workspace_dir: Path) -> None:
    ws = seeded(workspace_dir)
    page = bus.read(ws, limit=None)
    assert page.malformed_lines == 2
    assert [m.sender for m in page.messages] == ["AG-DATABASE", "AG-API", "AG-DATABASE", "AG-UI"]
    api = page.messages[1]
    assert (api.ts, api.story, api.text) == (
        "2025-06-01T11:00:00Z",
        "US-2",
        "uses at/story_id/message",
    )
    # Posting keeps the malformed lines where they were.
    bus.post(ws, "finding", "hello")
    assert "this is not json at all\n" in coordination_paths(ws).bus.read_text()


def test_filters_combine_and_the_limit_keeps_the_newest(workspace_dir: Path) -> None:
    ws = seeded(workspace_dir)
    assert [m.text for m in bus.read(ws, sender="ag-database").messages] == [
        "started",
        "AG-DATABASE: New indexes needed on user_profiles?",
    ]
    assert len(bus.read(ws, to=AGENT_NAME).messages) == 2
    assert [m.story for m in bus.read(ws, story="US-2").messages] == ["US-2"]
    assert len(bus.read(ws, type="question", since="2025-06-02").messages) == 2
    page = bus.read(ws, limit=1)
    assert page.truncated and page.matched == 4 and page.messages[0].sender == "AG-UI"
    assert bus.read(ws, since="1h").messages == ()
    with pytest.raises(UserInputError):
        bus.read(ws, since="last tuesday")


def test_posted_messages_are_canonical_single_lines_with_secrets_redacted(
    workspace_dir: Path,
) -> None:
    ws = Workspace.open(workspace_dir)
    msg = bus.post(
        ws, "finding", "copied via postgresql://app:hunter22@db/prod\nok", to="ALL", story="US-7"
    )
    raw = (workspace_dir / "bus" / "log.jsonl").read_text()
    assert raw.count("\n") == 1 and "hunter22" not in raw
    line = json.loads(raw)
    assert list(line) == ["ts", "id", "from", "to", "type", "story", "text"]
    assert line["id"] == msg.id  # the id the poster gets back is the one in the line
    assert line["from"] == AGENT_NAME and msg.to == "ALL"
    for bad in ({"type": "Bad Type"}, {"text": " "}, {"to": "two words"}, {"story": "x y"}):
        args = {"type": "finding", "text": "t", **bad}
        with pytest.raises(UserInputError):
            bus.post(ws, args.pop("type"), args.pop("text"), **args)


def test_a_foreign_partial_last_line_is_not_glued_to_ours(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text('{"ts":"2025-01-01","from":"X","type":"status","text":"cut')
    bus.post(ws, "finding", "mine")
    lines = log.read_text().splitlines()
    assert json.loads(lines[1])["text"] == "mine"
    assert bus.read(ws).malformed_lines == 1


def test_rotation_moves_old_lines_to_the_monthly_archive_and_loses_none(
    workspace_dir: Path,
) -> None:
    ws = Workspace.open(workspace_dir)
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        "".join(
            f'{{"ts":"2025-01-01","from":"X","type":"status","text":"{i}"}}\n' for i in range(1200)
        )
        + "junk\n"
    )
    bus.post(ws, "finding", "the 1202nd line")  # past 1000 lines: rotates
    kept = log.read_text().splitlines()
    assert len(kept) == bus.KEEP_LINES
    archives = list((workspace_dir / "bus" / "archive").glob("*-archive.jsonl"))
    assert len(archives) == 1 and archives[0].name.endswith("-archive.jsonl")
    archived = archives[0].read_text().splitlines()
    assert archived + kept == [
        *(f'{{"ts":"2025-01-01","from":"X","type":"status","text":"{i}"}}' for i in range(1200)),
        "junk",
        kept[-1],
    ]
    result = bus.rotate(ws)
    assert not result.rotated
    forced = bus.rotate(ws, force=True, keep=10)
    assert forced.rotated and forced.archived_lines == 90
    assert len(bus.read(ws, limit=None, archives=1).messages) == 1201


def test_open_questions_are_listed_until_answered(workspace_dir: Path) -> None:
    ws = seeded(workspace_dir)
    open_qs = bus.questions(ws)
    assert [q.sender for q in open_qs] == ["AG-DATABASE", "AG-UI"]
    first = open_qs[0]
    reply = bus.answer(ws, first.id, "Yes: a concurrent index on user_profiles(email).")
    assert reply.to == "AG-DATABASE" and reply.story == "US-1" and reply.reply_to == first.id
    assert [q.sender for q in bus.questions(ws)] == ["AG-UI"]
    with pytest.raises(ConflictError):
        bus.answer(ws, first.id, "again")
    with pytest.raises(NotFoundError):
        bus.answer(ws, "m-000000000000", "nobody asked")
    # The id survives rotation: the question is found in the archive.
    bus.rotate(ws, force=True, keep=0)
    assert [q.sender for q in bus.questions(ws)] == ["AG-UI"]
    bus.answer(ws, bus.questions(ws)[0].id, "Yes, 02:00 UTC.")
    assert bus.questions(ws) == []


def test_a_posted_question_is_answered_by_the_id_written_in_its_line(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    asked = bus.post(ws, "question", "Is the replica caught up?", to="AG-DEVOPS", sender="AG-QA")
    line = json.loads((workspace_dir / "bus" / "log.jsonl").read_text().splitlines()[0])
    assert line["id"] == asked.id and asked.id.startswith("m-")
    # Another agent knows only the line: the id it reads there is the one to answer by.
    reply = bus.answer(ws, line["id"], "Yes, lag is 0 s.", sender="AG-DEVOPS")
    assert reply.reply_to == asked.id and reply.to == "AG-QA"
    ids = [
        json.loads(x)["id"] for x in (workspace_dir / "bus" / "log.jsonl").read_text().splitlines()
    ]
    assert len(set(ids)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "AG-DATAMIGRATION: can orders move tonight?",
        "ag-datamigration: can orders move tonight?",
        "  @AG-DATAMIGRATION, can orders move tonight?",
    ],
)
@pytest.mark.parametrize("to", [None, "ALL"])
def test_a_question_addressed_by_a_text_prefix_is_an_open_question(
    workspace_dir: Path, text: str, to: str | None
) -> None:
    ws = Workspace.open(workspace_dir)
    asked = bus.post(ws, "question", text, to=to, sender="AG-API")
    assert [q.id for q in bus.questions(ws)] == [asked.id]
    reply = bus.answer(ws, asked.id, "Yes, after 22:00.")
    assert reply.to == "AG-API" and bus.questions(ws) == []


@pytest.mark.parametrize(
    "line",
    [
        # Addressed to someone else, by prefix or by `to`; not a question; our name mid-text.
        '{"ts":"2025-06-02T10:00:00Z","from":"AG-API","type":"question","text":"AG-DATABASE: index?"}',
        '{"ts":"2025-06-02T10:00:00Z","from":"AG-API","to":"AG-UI","type":"question","text":"ok?"}',
        '{"ts":"2025-06-02T10:00:00Z","from":"AG-API","type":"status","text":"AG-DATAMIGRATION: hi"}',
        '{"ts":"2025-06-02T10:00:00Z","from":"AG-API","type":"question","text":"ask AG-DATAMIGRATION: x"}',
        '{"ts":"2025-06-02T10:00:00Z","from":"AG-API","type":"question","text":"AG-DATAMIGRATIONX: y"}',
    ],
)
def test_questions_to_other_agents_are_not_ours(workspace_dir: Path, line: str) -> None:
    (workspace_dir / "bus").mkdir()
    (workspace_dir / "bus" / "log.jsonl").write_text(line + "\n")
    assert bus.questions(Workspace.open(workspace_dir)) == []
