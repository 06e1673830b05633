"""Surgical edits of a JSON text: change one value, keep every other byte.

status.json is shared with AgileFlow's scripts, people and other agents; re-serializing the whole
file would reorder nothing but could still change indentation, escapes, number spellings or the
trailing newline, and turn every update into a noisy diff. So we locate the byte spans of the
values we change (with the standard library's own decoder, value by value) and splice in new text
rendered in the file's detected style. Everything outside those spans is kept byte for byte.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from json.decoder import scanstring
from typing import Any

_WS_RUN = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Member:
    """One `"key": value` of an object: where the key starts and the value's [start, end)."""

    key: str
    key_start: int
    key_end: int
    value_start: int
    value_end: int


@dataclass(frozen=True)
class Container:
    """An object or array: its bracket positions and its members (arrays: key is the index)."""

    open_index: int
    close_index: int
    members: tuple[Member, ...]

    def get(self, key: str) -> Member | None:
        found = None
        for m in self.members:  # last one wins, like json.loads
            if m.key == key:
                found = m
        return found


@dataclass(frozen=True)
class Style:
    indent: str | None  # one indentation unit, None for single-line files
    key_sep: str  # between key and value, e.g. ": "
    item_sep: str  # between items on one line (compact files only)
    newline: str = "\n"


def skip_ws(text: str, i: int) -> int:
    return _WS_RUN.match(text, i).end()  # type: ignore[union-attr]  # always matches


def value_end(text: str, start: int) -> int:
    _, end = _DECODER.raw_decode(text, start)
    return end


@functools.lru_cache(maxsize=16)
def parse_container(text: str, start: int) -> Container:
    """Members of the object or array whose opening bracket is at `start` (text is valid JSON).

    Cached: a write checks the schema and then splices the same text, walking the same large
    `stories` object twice otherwise.
    """
    opener = text[start]
    members: list[Member] = []
    i = skip_ws(text, start + 1)
    if opener == "{":
        while text[i] != "}":
            key, key_end = scanstring(text, i + 1)
            colon = skip_ws(text, key_end)
            vstart = skip_ws(text, colon + 1)
            vend = value_end(text, vstart)
            members.append(Member(key, i, key_end, vstart, vend))
            i = skip_ws(text, vend)
            if text[i] == ",":
                i = skip_ws(text, i + 1)
    elif opener == "[":
        index = 0
        while text[i] != "]":
            vend = value_end(text, i)
            members.append(Member(str(index), i, i, i, vend))
            index += 1
            i = skip_ws(text, vend)
            if text[i] == ",":
                i = skip_ws(text, i + 1)
    else:
        raise ValueError(f"no object or array at offset {start}")
    return Container(start, i, tuple(members))


def locate(text: str, path: list[str | int]) -> int | None:
    """Offset of the value at a JSON path (keys / indexes), or None when it is not there."""
    pos = skip_ws(text, 0)
    for part in path:
        if pos >= len(text) or text[pos] not in "{[":
            return None
        member = parse_container(text, pos).get(str(part))
        if member is None:
            return None
        pos = member.value_start
    return pos


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_indent(text: str, offset: int) -> str:
    """The leading whitespace of the line that holds `offset`."""
    line_start = text.rfind("\n", 0, offset) + 1
    j = line_start
    while j < len(text) and text[j] in " \t":
        j += 1
    return text[line_start:j]


def detect_style(text: str) -> Style:
    m = re.search(r"\n([ \t]+)\S", text)
    indent = m.group(1) if m else None
    k = re.search(r'"\s*:([ \t]*)', text)
    key_sep = ":" + (k.group(1) if k else " ")
    item_sep = ", " if re.search(r",[ \t]", text) else ","
    newline = "\r\n" if "\r\n" in text else "\n"
    return Style(indent=indent, key_sep=key_sep, item_sep=item_sep, newline=newline)


def render(value: Any, style: Style, base_indent: str) -> str:
    """JSON for `value` whose first line continues an existing line indented by `base_indent`."""
    if style.indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(style.item_sep, style.key_sep))
    body = json.dumps(
        value, ensure_ascii=False, indent=style.indent, separators=(",", style.key_sep)
    )
    return body.replace("\n", style.newline + base_indent)


def render_member(key: str, value: Any, style: Style, base_indent: str) -> str:
    return json.dumps(key, ensure_ascii=False) + style.key_sep + render(value, style, base_indent)


class Editor:
    """Collects non-overlapping splices and applies them all at once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.style = detect_style(text)
        self._edits: list[tuple[int, int, str]] = []

    def replace_value(self, member: Member, value: Any) -> None:
        base = line_indent(self.text, member.key_start)
        self._edits.append((member.value_start, member.value_end, render(value, self.style, base)))

    def add_members(self, obj: Container, items: list[tuple[str, Any]]) -> None:
        """Append `"key": value` members at the end of an object, in its own layout."""
        if not items:
            return
        if obj.members:
            last = obj.members[-1]
            inner = line_indent(self.text, last.key_start)
            sep = self._separator(obj)
            new = "".join(sep + render_member(k, v, self.style, inner) for k, v in items)
            self._edits.append((last.value_end, last.value_end, new))
            return
        self._fill_empty(obj, [render_member(k, v, self.style, self._inner(obj)) for k, v in items])

    def add_elements(self, arr: Container, values: list[Any]) -> None:
        if not values:
            return
        if arr.members:
            last = arr.members[-1]
            inner = line_indent(self.text, last.value_start)
            sep = self._separator(arr)
            new = "".join(sep + render(v, self.style, inner) for v in values)
            self._edits.append((last.value_end, last.value_end, new))
            return
        self._fill_empty(arr, [render(v, self.style, self._inner(arr)) for v in values])

    def apply(self) -> str:
        out = self.text
        for start, end, new in sorted(self._edits, key=lambda e: (e[0], e[1]), reverse=True):
            out = out[:start] + new + out[end:]
        return out

    # -- layout helpers ------------------------------------------------------------------------

    def _inner(self, c: Container) -> str:
        outer = line_indent(self.text, c.open_index)
        return outer + (self.style.indent or "")

    def _separator(self, c: Container) -> str:
        """The text between two members as the file writes it (comma plus whitespace)."""
        if len(c.members) >= 2:
            a, b = c.members[-2], c.members[-1]
            return self.text[a.value_end : b.key_start]
        first = c.members[0]
        lead = self.text[c.open_index + 1 : first.key_start]
        return "," + (lead if lead else ("" if self.style.indent else self.style.item_sep[1:]))

    def _fill_empty(self, c: Container, rendered: list[str]) -> None:
        if self.style.indent is None:
            body = self.style.item_sep.join(rendered)
        else:
            inner = self._inner(c)
            outer = line_indent(self.text, c.open_index)
            nl = self.style.newline
            body = nl + inner + ("," + nl + inner).join(rendered) + nl + outer
        self._edits.append((c.open_index + 1, c.close_index, body))
