"""`datamigration status | bus | adr-new | expertise`: terminal twins of the coordination tools.

Each command calls one function of `datamigration.coordination` and prints text (or `--json`).
User errors (unknown story, illegal transition, harness rule, malformed file, lock timeout) exit
non-zero with the message and a hint, never a traceback: 2 bad input, 4 conflict/harness/lock.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datamigration.cli._common import (
    add_json_flag,
    print_answer,
    print_json,
    print_text,
    workspace_of,
)
from datamigration.coordination import adr, bus, expertise, status
from datamigration.coordination.bus import BusMessage
from datamigration.errors import FileFormatError, UserInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_status(subparsers)
    _register_bus(subparsers)
    _register_adr(subparsers)
    _register_expertise(subparsers)


# -- status --------------------------------------------------------------------------------------


def _register_status(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status",
        help="stories in AgileFlow's status.json: list, show, set, new",
        description="Without a subcommand, list stories (filters: --status, --owner, --epic).",
    )
    p.add_argument("--status", dest="filter_status", metavar="S", help="only stories in status S")
    p.add_argument("--owner", dest="filter_owner", metavar="AGENT", help="only this owner's")
    p.add_argument("--epic", dest="filter_epic", metavar="EP", help="only this epic's")
    add_json_flag(p)
    p.set_defaults(func=run_status_list)
    sub = p.add_subparsers(dest="status_command", metavar="{show,set,new}")

    show = sub.add_parser("show", help="one story with all its fields")
    show.add_argument("story", metavar="STORY")
    add_json_flag(show)
    show.set_defaults(func=run_status_show)

    st = sub.add_parser(
        "set",
        help="move a story to a status (transitions and the harness rule are checked)",
        description="Statuses: ready, in-progress, blocked, in-review, done (or the underscore "
        "spellings). in-review needs test_status passing, or --override-reason (posted on the "
        "bus as a warning).",
    )
    st.add_argument("story", metavar="STORY")
    st.add_argument("new_status", metavar="STATUS")
    st.add_argument("--override-reason", metavar="R", help="why the harness rule is overridden")
    st.add_argument("--note", metavar="TEXT", help="added to the bus status message")
    st.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also set a field (VALUE is JSON when it parses, else text); repeatable",
    )
    add_json_flag(st)
    st.set_defaults(func=run_status_set)

    new = sub.add_parser("new", help="add a story (creates status.json when missing)")
    new.add_argument("story", metavar="STORY", help="story id, e.g. US-0042")
    new.add_argument("--title", required=True)
    new.add_argument("--status", dest="new_status", default="ready")
    new.add_argument("--owner", default=None)
    new.add_argument("--epic", default=None)
    add_json_flag(new)
    new.set_defaults(func=run_status_new)


def _fields(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UserInputError(
                f"--field {pair!r} is not KEY=VALUE", hint="Write e.g. --field pr=https://..."
            )
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
        except RecursionError:
            raise UserInputError(
                f"--field {key.strip()}: the value nests too deeply",
                hint="Story fields are short JSON values or plain text.",
            ) from None
    return out


def _story_line(story: dict[str, Any]) -> str:
    extras = [f"{k}={story[k]}" for k in ("owner", "test_status") if story.get(k)]
    return f"{story['id']:<12} {story.get('status', '?'):<12} {story.get('title', '')}" + (
        f"  [{', '.join(extras)}]" if extras else ""
    )


def run_status_list(args: argparse.Namespace) -> int:
    board, stories = status.list_stories(
        workspace_of(args),
        status=args.filter_status,
        owner=args.filter_owner,
        epic=args.filter_epic,
    )
    if args.json:
        print_json({"path": str(board.path), "exists": board.exists, "stories": stories})
    elif not board.exists:
        print_text(f"no {board.path.name} yet (create a story with `datamigration status new`)")
    else:
        print_text("\n".join([_story_line(s) for s in stories] or ["no matching stories"]))
    return 0


def _story_text(story: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in story.items())


def run_status_show(args: argparse.Namespace) -> int:
    story = status.get_story(workspace_of(args), args.story)
    print_answer(args, story, _story_text)
    return 0


def _print_change(args: argparse.Namespace, change: status.StoryChange) -> None:
    if args.json:
        print_json(
            {
                "story": change.story,
                "changed": change.changed,
                "previous_status": change.previous_status,
                "status": change.status,
                "override_reason": change.override_reason,
            }
        )
        return
    if change.created:
        print_text(f"{change.story_id} created as {change.status}")
    elif not change.changed:
        print_text(f"{change.story_id} already {change.status}; nothing changed")
    else:
        line = f"{change.story_id}: {change.previous_status} -> {change.status}"
        if change.override_reason:
            line += f" (harness rule overridden: {change.override_reason}; posted as a warning)"
        print_text(line)


def run_status_set(args: argparse.Namespace) -> int:
    change = status.update_story(
        workspace_of(args),
        args.story,
        status=args.new_status,
        fields=_fields(args.field),
        override_reason=args.override_reason,
        note=args.note,
    )
    _print_change(args, change)
    return 0


def run_status_new(args: argparse.Namespace) -> int:
    fields = {k: v for k, v in (("owner", args.owner), ("epic", args.epic)) if v}
    change = status.new_story(
        workspace_of(args), args.story, args.title, status=args.new_status, fields=fields
    )
    _print_change(args, change)
    return 0


# -- bus ------------------------------------------------------------------------------------------


def _register_bus(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bus",
        help="the agent bus (JSONL): read, post, questions, answer, rotate",
        description="Without a subcommand, print the newest messages matching the filters.",
    )
    p.add_argument("--since", metavar="WHEN", help="ISO time or date, or an age: 30m, 6h, 2d")
    p.add_argument("--from", dest="sender", metavar="AGENT")
    p.add_argument("--to", metavar="AGENT")
    p.add_argument("--type", dest="msg_type", metavar="TYPE")
    p.add_argument("--story", metavar="STORY")
    p.add_argument("--limit", type=int, default=bus.DEFAULT_LIMIT, metavar="N")
    p.add_argument("--archives", type=int, default=0, metavar="N", help="also read N archives")
    add_json_flag(p)
    p.set_defaults(func=run_bus_read)
    sub = p.add_subparsers(dest="bus_command", metavar="{post,questions,answer,rotate}")

    post = sub.add_parser("post", help="append one message (from AG-DATAMIGRATION)")
    post.add_argument("--type", dest="msg_type", required=True, metavar="TYPE")
    post.add_argument("--text", required=True)
    post.add_argument("--to", default=None, metavar="AGENT")
    post.add_argument("--story", default=None, metavar="STORY")
    add_json_flag(post)
    post.set_defaults(func=run_bus_post)

    q = sub.add_parser("questions", help="questions to AG-DATAMIGRATION not answered yet")
    add_json_flag(q)
    q.set_defaults(func=run_bus_questions)

    a = sub.add_parser("answer", help="answer an open question by its id")
    a.add_argument("question_id", metavar="ID", help="the id shown by `bus questions`")
    a.add_argument("--text", required=True)
    add_json_flag(a)
    a.set_defaults(func=run_bus_answer)

    r = sub.add_parser("rotate", help="move old lines to this month's archive")
    r.add_argument("--force", action="store_true", help="rotate even below the size bound")
    r.add_argument("--keep", type=int, default=bus.KEEP_LINES, metavar="N")
    add_json_flag(r)
    r.set_defaults(func=run_bus_rotate)


def _message_line(m: BusMessage) -> str:
    head = f"{m.ts or '?'}  {m.sender or '?'}"
    if m.to:
        head += f" -> {m.to}"
    head += f"  [{m.type or '?'}]"
    if m.story:
        head += f" {m.story}"
    return f"{head}: {m.text or ''}"


def run_bus_read(args: argparse.Namespace) -> int:
    page = bus.read(
        workspace_of(args),
        since=args.since,
        sender=args.sender,
        to=args.to,
        type=args.msg_type,
        story=args.story,
        limit=args.limit,
        archives=args.archives,
    )
    if args.json:
        print_json(
            {
                "messages": [m.to_dict() for m in page.messages],
                "matched": page.matched,
                "truncated": page.truncated,
                "malformed_lines": page.malformed_lines,
            }
        )
        return 0
    lines = [_message_line(m) for m in page.messages] or ["no matching messages"]
    if page.truncated:
        lines.insert(0, f"(newest {len(page.messages)} of {page.matched}; raise --limit)")
    if page.malformed_lines:
        lines.append(f"({page.malformed_lines} malformed lines skipped)")
    print_text("\n".join(lines))
    return 0


def _print_message(args: argparse.Namespace, verb: str, msg: BusMessage) -> None:
    print_answer(args, msg.to_dict(), lambda _: f"{verb}: {_message_line(msg)}")


def run_bus_post(args: argparse.Namespace) -> int:
    msg = bus.post(workspace_of(args), args.msg_type, args.text, to=args.to, story=args.story)
    _print_message(args, "posted", msg)
    return 0


def run_bus_questions(args: argparse.Namespace) -> int:
    open_qs = bus.questions(workspace_of(args))
    if args.json:
        print_json({"questions": [q.to_dict() for q in open_qs]})
    else:
        print_text("\n".join(f"{q.id}  {_message_line(q)}" for q in open_qs) or "no open questions")
    return 0


def run_bus_answer(args: argparse.Namespace) -> int:
    msg = bus.answer(workspace_of(args), args.question_id, args.text)
    _print_message(args, "answered", msg)
    return 0


def run_bus_rotate(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    result = bus.rotate(ws, force=args.force, keep=args.keep)
    if args.json:
        print_json(
            {
                "rotated": result.rotated,
                "archived_lines": result.archived_lines,
                "kept_lines": result.kept_lines,
                "archive": ws.relative(result.archive) if result.archive else None,
            }
        )
    elif result.rotated and result.archive:
        print_text(
            f"moved {result.archived_lines} lines to {ws.relative(result.archive)}; "
            f"kept {result.kept_lines}"
        )
    else:
        print_text(f"nothing to rotate ({result.kept_lines} lines; use --force to rotate anyway)")
    return 0


# -- ADRs -----------------------------------------------------------------------------------------


def _register_adr(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "adr-new",
        help="write the next docs/03-decisions/adr-NNNN-<slug>.md (never overwrites)",
    )
    p.add_argument("title", metavar="TITLE")
    p.add_argument("--context", default=None)
    p.add_argument("--decision", default=None)
    for flag in ("positive", "negative", "neutral", "alternative", "reference"):
        p.add_argument(f"--{flag}", action="append", default=[], metavar="TEXT", help="repeatable")
    p.add_argument("--status", dest="adr_status", default="Proposed", choices=adr.STATUSES)
    p.add_argument("--story", default=None, metavar="STORY")
    p.add_argument("--deciders", default=None)
    add_json_flag(p)
    p.set_defaults(func=run_adr_new)


def run_adr_new(args: argparse.Namespace) -> int:
    made = adr.new_adr(
        workspace_of(args),
        args.title,
        context=args.context,
        decision=args.decision,
        positive=args.positive,
        negative=args.negative,
        neutral=args.neutral,
        alternatives=args.alternative,
        references=args.reference,
        status=args.adr_status,
        deciders=args.deciders,
        story=args.story,
    )
    if args.json:
        print_json(
            {"adr": made.record.label, "number": made.record.number, "path": made.relative_path}
        )
    else:
        print_text(f"{made.record.label} written to {made.relative_path}")
    return 0


# -- expertise ------------------------------------------------------------------------------------


def _register_expertise(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "expertise",
        help="the expertise file: show, validate, learn",
        description="Without a subcommand, show the expertise file's path, summary and warnings.",
    )
    add_json_flag(p)
    p.set_defaults(func=run_expertise_show)
    sub = p.add_subparsers(dest="expertise_command", metavar="{show,validate,learn}")
    show = sub.add_parser("show", help="path, summary and warnings")
    add_json_flag(show)
    show.set_defaults(func=run_expertise_show)
    val = sub.add_parser("validate", help="check against the schema (exit 2 with file:line)")
    add_json_flag(val)
    val.set_defaults(func=run_expertise_validate)
    learn = sub.add_parser("learn", help="append a dated learning")
    learn.add_argument("--context", required=True)
    learn.add_argument("--insight", required=True)
    learn.add_argument("--files", nargs="*", default=[], metavar="PATH")
    add_json_flag(learn)
    learn.set_defaults(func=run_expertise_learn)


def run_expertise_show(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    loaded = expertise.load(ws, default_when_missing=True)
    if args.json:
        print_json(
            {
                "path": ws.relative(loaded.path),
                "exists": loaded.exists,
                "lines": loaded.line_count,
                "warnings": list(loaded.warnings),
                "expertise": loaded.data,
            }
        )
        return 0
    data = loaded.data
    counts = {k: len(data.get(k) or []) for k in ("learnings", "patterns", "conventions")}
    lines = [
        f"{ws.relative(loaded.path)} ({loaded.line_count} lines)",
        f"domain: {data.get('domain')}  version: {data.get('version')}  "
        + f"last_updated: {data.get('last_updated')}",
        "  ".join(f"{k}: {n}" for k, n in counts.items()),
        *(f"warning: {w}" for w in loaded.warnings),
    ]
    print_text("\n".join(lines))
    return 0


def run_expertise_validate(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    try:
        loaded = expertise.load(ws)
    except FileFormatError as exc:
        if args.json:
            print_json({"valid": False, **exc.data, "message": exc.message})
        raise
    if args.json:
        print_json(
            {"valid": True, "path": ws.relative(loaded.path), "warnings": list(loaded.warnings)}
        )
    else:
        print_text(
            "\n".join(
                [f"{ws.relative(loaded.path)}: valid"] + [f"warning: {w}" for w in loaded.warnings]
            )
        )
    return 0


def run_expertise_learn(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    learned = expertise.learn(ws, args.context, args.insight, args.files)
    if args.json:
        print_json(
            {
                "path": ws.relative(learned.path),
                "learning": learned.learning,
                "lines": learned.line_count,
                "archived": learned.archived,
            }
        )
    else:
        note = f"; archived {learned.archived} old learnings" if learned.archived else ""
        print_text(
            f"learning added to {ws.relative(learned.path)} ({learned.line_count} lines{note})"
        )
    return 0
