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
    return _Splitter(text, dialect).run()


class _Splitter:
    """One left-to-right pass: jump from token to token, each token kind has its own scanner.

    State: the statement being gathered starts at `first_code` (its first non-comment, non-space
    character; -1 while none) and its code ends at `code_end`; comments seen before a statement
    starts wait in `pending` to be attached to it."""

    def __init__(self, text: str, dialect: str) -> None:
        self.text = text
        self.n = len(text)
        self.token = _TOKEN.get(dialect, _TOKEN["postgres"])
        found = lint_dialect_of(dialect)
        self.nested = found is not None and found.nested_comments
        self.lines = _Lines(text)
        self.statements: list[Statement] = []
        self.pending: list[tuple[int, str]] = []
        self.first_code = -1
        self.code_end = 0
        self.pos = 0

    def run(self) -> tuple[list[Statement], list[tuple[int, str]]]:
        while self.pos < self.n:
            m = self.token.search(self.text, self.pos)
            if m is None:
                self._note_code(self.n)
                break
            self._note_code(m.start())
            self.pos = self._scan(m)
        self._finish(self.n)
        return self.statements, self.pending

    def _scan(self, m: re.Match[str]) -> int:
        """Handle the token `m`; the offset to search on from."""
        tok = m.group()
        if tok in ("--", "#"):
            j = self.text.find("\n", m.end())
            return self._comment(m.start(), self.n if j < 0 else j)
        if tok == "/*":
            return self._comment(m.start(), self._block_comment_end(m.end()))
        if tok == ";":
            self._semicolon(m.start())
            return m.end()
        if self.first_code < 0:
            self.first_code = m.start()
        self.code_end = self._quoted_end(tok, m.end())
        return self.code_end

    def _note_code(self, upto: int) -> None:
        """The text from `pos` to `upto` holds no token: extend the statement by its code."""
        chunk = self.text[self.pos : upto]
        body = chunk.rstrip()
        if body.strip():
            self.code_end = self.pos + len(body)
            if self.first_code < 0:
                self.first_code = self.pos + (len(chunk) - len(chunk.lstrip()))

    def _block_comment_end(self, j: int) -> int:
        """Offset just past the `*/` closing a comment whose body starts at `j`."""
        depth = 1
        while depth and j < self.n:
            k = self.text.find("*/", j)
            o = self.text.find("/*", j) if self.nested else -1
            if k < 0:
                return self.n
            if 0 <= o < k:
                depth, j = depth + 1, o + 2
            else:
                depth, j = depth - 1, k + 2
        return j

    def _quoted_end(self, tok: str, j: int) -> int:
        """Offset just past the quoted text (string, identifier, dollar quote) opened by `tok`."""
        if tok.startswith("$"):
            k = self.text.find(tok, j)
            return self.n if k < 0 else k + len(tok)
        if tok == "[":
            k = self.text.find("]", j)
            return self.n if k < 0 else k + 1
        return _skip_quoted(self.text, j, tok)

    def _semicolon(self, at: int) -> None:
        """A `;` ends the statement, unless none started (`;;`) or it is inside a body."""
        if self.first_code < 0:  # an empty statement (`;;`) is nothing to lint
            return
        body = self.text[self.first_code : at]
        if _NEEDS_END.search(body) and not _ENDS_WITH_END.search(body):
            return
        self._finish(at)

    def _finish(self, end: int) -> None:
        first = self.first_code
        if first >= 0:
            body = self.text[first : max(min(end, self.code_end), first)].rstrip()
            line, col = self.lines.at(first)
            end_line = self.lines.at(first + max(len(body) - 1, 0))[0]
            self.statements.append(Statement(body, line, col, end_line, first, tuple(self.pending)))
            self.pending = []
        self.first_code = -1

    def _comment(self, start: int, end: int) -> int:
        """A comment on the line where the previous statement ended belongs to that statement;
        any other waits for the next statement. Returns `end`."""
        comment = self.text[start:end]
        line = self.lines.at(start)[0]
        if self.first_code < 0 and self.statements and self.statements[-1].end_line == line:
            prev = self.statements[-1]
            self.statements[-1] = Statement(
                prev.text,
                prev.line,
                prev.column,
                prev.end_line,
                prev.offset,
                prev.comments + ((line, comment),),
            )
        else:
            self.pending.append((line, comment))
        return end
