"""Cut SQL text into statements with exact positions, without trusting any parser.

A parser that fails on one statement must not hide the others, so the file is split first by a
small lexer that knows only what can contain a semicolon: quotes, dollar quotes, comments,
and the bodies of triggers and `BEGIN ATOMIC` functions. Each piece is then parsed on its own,
and one that does not parse becomes a finding instead of aborting the file.
"""

from __future__ import annotations

import bisect
import re

from datamigration.db.dialect import lint_dialect_of
from datamigration.lint.model import Statement

_TOKEN = {
    # `#` starts a comment in MySQL only; `$tag$` quotes exist in PostgreSQL only.
    "postgres": re.compile(r"--|/\*|'|\"|\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$|;"),
    "mysql": re.compile(r"--|/\*|'|\"|`|#|;"),
    "sqlite": re.compile(r"--|/\*|'|\"|`|\[|;"),
}
_NEEDS_END = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(?:TEMP\w*\s+)?TRIGGER\b.*\bBEGIN\b"
    r"|\bBEGIN\s+ATOMIC\b",
    re.IGNORECASE | re.DOTALL,
)
_ENDS_WITH_END = re.compile(r"\bEND\s*$", re.IGNORECASE)


class _Lines:
    """Offset -> (line, column), 1-based, by binary search over newline offsets."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1


def _skip_quoted(text: str, pos: int, quote: str) -> int:
    """Position just past the closing quote (doubled quotes and backslashes handled)."""
    n = len(text)
    while True:
        j = text.find(quote, pos)
        if j < 0:
            return n
        # E'..\'..' and MySQL strings allow backslash escapes; count preceding backslashes.
        k = j - 1
        backslashes = 0
        while k >= pos and text[k] == "\\":
            backslashes += 1
            k -= 1
        if backslashes % 2 == 1 and quote != '"':
            pos = j + 1
            continue
        if j + 1 < n and text[j + 1] == quote:
            pos = j + 2
            continue
        return j + 1


def split_statements(
    text: str, dialect: str = "postgres"
) -> tuple[list[Statement], list[tuple[int, str]]]:
    """Statements of `text`, plus comments that follow the last statement (line, text)."""
    token = _TOKEN.get(dialect, _TOKEN["postgres"])
    found = lint_dialect_of(dialect)
    nested = found is not None and found.nested_comments
    lines = _Lines(text)
    statements: list[Statement] = []
    pending_comments: list[tuple[int, str]] = []
    n = len(text)
    first_code = -1  # offset of its first non-comment, non-space character
    code_end = 0  # offset just past its last non-comment, non-space character
    pos = 0

    def note_code(upto: int) -> None:
        nonlocal first_code, code_end
        chunk = text[pos:upto]
        body = chunk.rstrip()
        if body.strip():
            code_end = pos + len(body)
            if first_code < 0:
                first_code = pos + (len(chunk) - len(chunk.lstrip()))

    def finish(end: int) -> None:
        nonlocal first_code, pending_comments
        if first_code >= 0:
            body = text[first_code : max(min(end, code_end), first_code)].rstrip()
            line, col = lines.at(first_code)
            end_line = lines.at(first_code + max(len(body) - 1, 0))[0]
            statements.append(
                Statement(body, line, col, end_line, first_code, tuple(pending_comments))
            )
            pending_comments = []
        first_code = -1

    while pos < n:
        m = token.search(text, pos)
        if m is None:
            note_code(n)
            break
        tok = m.group()
        note_code(m.start())
        if tok in ("--", "#"):
            j = text.find("\n", m.end())
            j = n if j < 0 else j
            _attach_comment(
                statements, pending_comments, first_code, lines, m.start(), text[m.start() : j]
            )
            pos = j
            continue
        if tok == "/*":
            depth, j = 1, m.end()
            while depth and j < n:
                k = text.find("*/", j)
                o = text.find("/*", j) if nested else -1
                if k < 0:
                    j = n
                    break
                if 0 <= o < k:
                    depth, j = depth + 1, o + 2
                else:
                    depth, j = depth - 1, k + 2
            _attach_comment(
                statements, pending_comments, first_code, lines, m.start(), text[m.start() : j]
            )
            pos = j
            continue
        if tok == ";":
            if first_code < 0:  # an empty statement (`;;`) is nothing to lint
                pos = m.end()
                continue
            body = text[first_code : m.start()]
            if _NEEDS_END.search(body) and not _ENDS_WITH_END.search(body):
                pos = m.end()
                continue
            finish(m.start())
            pos = m.end()
            continue
        if first_code < 0:
            first_code = m.start()
        if tok.startswith("$"):
            j = text.find(tok, m.end())
            pos = code_end = n if j < 0 else j + len(tok)
            continue
        if tok == "[":
            j = text.find("]", m.end())
            pos = code_end = n if j < 0 else j + 1
            continue
        pos = code_end = _skip_quoted(text, m.end(), tok)
    finish(n)
    return statements, pending_comments


def _attach_comment(
    statements: list[Statement],
    pending: list[tuple[int, str]],
    first_code: int,
    lines: _Lines,
    offset: int,
    comment: str,
) -> None:
    """A comment on the line where the previous statement ended belongs to that statement."""
    line = lines.at(offset)[0]
    if first_code < 0 and statements and statements[-1].end_line == line:
        prev = statements[-1]
        statements[-1] = Statement(
            prev.text,
            prev.line,
            prev.column,
            prev.end_line,
            prev.offset,
            prev.comments + ((line, comment),),
        )
        return
    pending.append((line, comment))
