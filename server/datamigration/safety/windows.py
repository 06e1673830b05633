"""Maintenance windows: when heavy work (a backfill, a copy, an index build) may run.

Configured in datamigration.toml:

    [windows]
    timezone = "Europe/Berlin"            # optional, default UTC
    allowed = ["Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00"]

Each entry is `DAYS HH:MM-HH:MM`; DAYS is `daily`, a day (`Sat`), a range (`Mon-Fri`) or a comma
list; a span that ends before it starts runs past midnight (into the next day). Without a
`[windows]` section every time is allowed. A definition that does not parse is an error naming
the entry and the expected form, before anything runs.

The executor refuses a heavy step outside them (execute/watching.py); a plan made while windows
are configured names the windows it assumes and its heavy steps (`assumed_window`, the plan's
`window`); without windows, or without heavy steps, the plan carries no such field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from datamigration.errors import UserInputError

if TYPE_CHECKING:
    from datamigration.plan.model import Step

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY = re.compile(r"^\s*(?P<days>[A-Za-z*,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*"
                    r"(?P<end>\d{1,2}:\d{2})\s*$")  # fmt: skip
#: operation kinds that are heavy work (they read or write a whole table, and run long)
HEAVY_KINDS = frozenset({"backfill", "copy", "cdc"})
#: an index build is heavy work too (it reads the whole table)
_INDEX_BUILD = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)
FORM = ('entries like "Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00" or "daily 02:00-04:00" '
        'under [windows] allowed = [...], optional timezone = "Europe/Berlin"')  # fmt: skip


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight; <= start: runs into the next day

    def contains(self, when: dt.datetime) -> bool:
        minute = when.hour * 60 + when.minute
        day = when.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )


def _bad(entry: Any, why: str) -> UserInputError:
    return UserInputError(f"datamigration.toml: [windows] entry {entry!r} does not parse: {why}",
                          hint=f"Write {FORM}.")  # fmt: skip


def _minutes(text: str, entry: str) -> int:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise _bad(entry, f"{text} is not a time of day")
    return hours * 60 + minutes


def _days(text: str, entry: str) -> frozenset[int]:
    out: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if part in ("daily", "*", "every day"):
            out.update(range(7))
            continue
        first, _, last = part.partition("-")
        try:
            a = DAYS.index(first.strip()[:3])
            b = DAYS.index(last.strip()[:3]) if last else a
        except ValueError:
            raise _bad(entry, f"{part!r} is not a day (Mon..Sun, a range, or daily)") from None
        out.update((a + i) % 7 for i in range(((b - a) % 7) + 1))
    return frozenset(out)


def parse_windows(config: dict[str, Any]) -> tuple[list[Window], ZoneInfo]:
    """The configured windows and their time zone; ([], UTC) without a [windows] section."""
    section = config.get("windows")
    if section is None:
        return [], ZoneInfo("UTC")
    if not isinstance(section, dict):
        raise _bad(section, "[windows] must be a table")
    zone_name = section.get("timezone", "UTC")
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(
            zone_name, "unknown time zone (use an IANA name such as Europe/Berlin)"
        ) from None
    entries = section.get("allowed", [])
    if isinstance(entries, str) or not isinstance(entries, list):
        raise _bad(entries, "allowed must be a list of strings")
    windows = []
    for entry in entries:
        found = _ENTRY.match(entry) if isinstance(entry, str) else None
        if not found:
            raise _bad(entry, "expected DAYS HH:MM-HH:MM")
        start, end = _minutes(found["start"], entry), _minutes(found["end"], entry)
        windows.append(Window(entry, _days(found["days"], entry), start, end % (24 * 60)))
    return windows, zone


def window_state(config: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """Whether heavy work may run now, the window it runs in, or the next one."""
    windows, zone = parse_windows(config)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    if not windows:
        return {"configured": False, "open": True, "window": None, "next": None}
    current = next((w.text for w in windows if w.contains(when)), None)
    out: dict[str, Any] = {"configured": True, "open": current is not None, "window": current,
                           "next": None, "timezone": str(zone)}  # fmt: skip
    if current is None:
        probe = when.replace(second=0, microsecond=0)
        for _ in range(8 * 24 * 60):  # the next week, minute by minute
            probe += dt.timedelta(minutes=1)
            found = next((w.text for w in windows if w.contains(probe)), None)
            if found:
                out["next"] = {"starts": probe.isoformat(), "window": found}
                break
    return out


def heavy_work(step: Step) -> str | None:
    """What makes a step heavy (a backfill, a copy, an index build), or None."""
    for op in step.operations:
        if op.kind in HEAVY_KINDS:
            return f"a {op.kind}"
        if any(_INDEX_BUILD.match(sql) for sql in op.statements):
            return "an index build"
    return None


def assumed_window(config: Mapping[str, Any], steps: Iterable[Step]) -> dict[str, Any] | None:
    """The windows a plan's heavy steps are meant to run in (the plan's `window`): the
    configured entries, their time zone and each heavy step with its work; None without
    configured windows or without heavy steps."""
    windows, zone = parse_windows(dict(config))
    heavy = [{"step": s.id, "work": what} for s in steps if (what := heavy_work(s))]
    if not windows or not heavy:
        return None
    return {"allowed": [w.text for w in windows], "timezone": str(zone), "steps": heavy}
