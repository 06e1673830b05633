"""Find files by name (glob) and lines by content (grep) without leaving the workspace.

Both walk the tree with `walk.walk_files`, which never descends a symlinked directory and skips
VCS internals and virtualenvs, so a symlink to `/` or a 40k-file `.venv` cannot leak or drown
the result. Results are capped and say `truncated`; paths come back relative to the root so they
can be passed straight to `read`.

Glob semantics: patterns are relative to the search directory, `*` and `?` stay within one path
segment, `**` spans any number of directories, `[abc]`/`[!abc]` are classes and `{a,b}`
alternatives. grep's `glob` filter follows ripgrep: a filter without `/` matches the file name at
any depth (`*.sql`), one with `/` matches the path from the search directory.

Both match with RE2 (google-re2), whose matching time is linear in the text: Python's `re`
backtracks, and `(a+)+$` against `aaaa...a!` (or a glob like `*a*a*a*a*a*b` against a long
name) never finished, holding a server thread forever. RE2 has no backreferences or lookaround;
grep refuses those patterns with a hint instead of falling back to a backtracking engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import re2

from datamigration.errors import PathOutsideWorkspaceError, UserInputError
from datamigration.workspace.root import Workspace, check_name_lengths
from datamigration.workspace.walk import BINARY_SNIFF_BYTES, looks_binary, walk_files

DEFAULT_GLOB_LIMIT = 500
DEFAULT_GREP_LIMIT = 200
MAX_LIMIT = 5000
#: grep does not open files larger than this (they are counted in `skipped`).
MAX_GREP_FILE_BYTES = 5 * 1024 * 1024
#: A matching line is shown up to this many characters.
MAX_MATCH_CHARS = 500

_MAGIC = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class GlobResult:
    pattern: str
    base: str
    files: list[str]
    truncated: bool


@dataclass(frozen=True)
class GrepMatch:
    path: str
    line: int
    text: str


@dataclass(frozen=True)
class GrepResult:
    pattern: str
    matches: list[GrepMatch] = field(default_factory=list)
    files_matched: list[str] = field(default_factory=list)
    files_searched: int = 0
    skipped: int = 0
    truncated: bool = False


def glob_files(
    workspace: Workspace, pattern: str, *, base: str = ".", limit: int = DEFAULT_GLOB_LIMIT
) -> GlobResult:
    """Files under `base` whose path (relative to `base`) matches `pattern`, sorted by path."""
    limit = _check_limit(limit)
    start = _search_dir(workspace, base)
    rel_pattern = _relative_pattern(workspace, start, pattern)
    matcher = compile_glob(rel_pattern)
    walk_from, max_depth = _walk_plan(start, rel_pattern)
    # A symlink in the literal prefix is a symlinked directory: never followed, like the walker.
    try:
        followed = walk_from.resolve()
    except (RuntimeError, OSError):  # a symlink loop in the prefix
        followed = None
    if not walk_from.is_dir() or followed != walk_from:
        return GlobResult(
            pattern=pattern, base=workspace.relative(start), files=[], truncated=False
        )
    found: list[str] = []
    truncated = False
    prefix = walk_from.relative_to(start).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    for f in walk_files(workspace, walk_from, max_depth=max_depth):
        if matcher.fullmatch(prefix + f.under):
            if len(found) >= limit:
                truncated = True
                break
            found.append(f.rel)
    return GlobResult(
        pattern=pattern, base=workspace.relative(start), files=found, truncated=truncated
    )


def grep_files(
    workspace: Workspace,
    regex: str,
    *,
    path: str = ".",
    glob: str | None = None,
    ignore_case: bool = False,
    limit: int = DEFAULT_GREP_LIMIT,
    files_only: bool = False,
) -> GrepResult:
    """Lines matching `regex` (Python syntax) in text files under `path`.

    `limit` caps matching lines (or files with `files_only`). Binary files and files above
    MAX_GREP_FILE_BYTES are skipped and counted in `skipped`.
    """
    limit = _check_limit(limit)
    compiled = compile_regex(regex, ignore_case=ignore_case)
    whole_file = _whole_file_regex(regex, ignore_case)
    target = workspace.resolve(path)
    if not target.exists():
        raise UserInputError(f"{path} does not exist", hint="Check the path with glob.")
    filt = _grep_filter(glob) if glob else None
    if target.is_file():
        candidates: Iterable[tuple[str, str, str]] = [
            (str(target), workspace.relative(target), target.name)
        ]
    else:
        candidates = ((f.path, f.rel, f.under) for f in walk_files(workspace, target))
    result = GrepResult(pattern=regex)
    searched = skipped = 0
    truncated = False
    for file_path, rel, rel_to_base in candidates:
        if filt is not None and not filt(rel_to_base):
            continue
        try:
            with open(file_path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size > MAX_GREP_FILE_BYTES:
                    skipped += 1
                    continue
                data = fh.read()
        except OSError:
            skipped += 1
            continue
        if looks_binary(data[:BINARY_SNIFF_BYTES]):
            skipped += 1
            continue
        searched += 1
        if whole_file is not None:
            hits = _matching_lines(whole_file, data)
        else:
            hits = _matching_lines_one_by_one(compiled, data)
        hit_in_file = False
        for number, line in hits:
            hit_in_file = True
            if files_only:
                break
            if len(result.matches) >= limit:
                truncated = True
                break
            result.matches.append(GrepMatch(rel, number, _cut(line)))
        if hit_in_file:
            if files_only and len(result.files_matched) >= limit:
                truncated = True
            else:
                result.files_matched.append(rel)
        if truncated:
            break
    return GrepResult(
        pattern=regex,
        matches=result.matches,
        files_matched=result.files_matched,
        files_searched=searched,
        skipped=skipped,
        truncated=truncated,
    )


def compile_regex(regex: str, *, ignore_case: bool = False, flags: str = "") -> Any:
    """`regex` compiled by RE2 (linear-time matching), or a UserInputError saying what to change.

    A pattern Python accepts but RE2 does not uses a backtracking-only feature; the error says
    so instead of calling the pattern invalid.
    """
    inline = flags + ("i" if ignore_case else "")
    try:
        return re2.compile(f"(?{inline}){regex}" if inline else regex, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        try:
            re.compile(regex)
        except re.error as py_exc:
            raise UserInputError(
                f"invalid regular expression {regex!r}: {py_exc}",
                hint="Check the syntax; escape literal characters like ( [ . * with a backslash.",
            ) from exc
        except RecursionError:  # pragma: no cover - absurdly nested patterns
            pass
        raise UserInputError(
            f"regular expression {regex!r} is not supported by grep's RE2 engine: {reason}",
            hint="grep matches in linear time, so it has no backreferences (\\1), lookahead or "
            "lookbehind ((?=...), (?!...), (?<=...)); write \\z instead of \\Z. Search for a "
            "simpler pattern and narrow the matches with a second grep (`path`, `glob`).",
            unsupported=str(reason),
        ) from exc


def _re2_options(*, never_nl: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the caller, not to stderr
    options.never_nl = never_nl
    return options


_RE2_OPTIONS = _re2_options()
_WHOLE_FILE_OPTIONS = _re2_options(never_nl=True)


def _whole_file_regex(regex: str, ignore_case: bool) -> Any | None:
    """The regex for one scan of a whole file (bytes) that finds exactly the matching lines.

    With RE2's `never_nl` no match crosses a line end, and in MULTILINE mode `^`, `$` and `\\b`
    see line ends as a line-by-line search does; one C-level scan per file is several times
    faster than a call per line. `\\A` and `\\z` (start and end of the text) and a pattern that
    turns MULTILINE off mean something else over a whole file: those get None, and the
    line-by-line path.
    """
    if "\\A" in regex or "\\z" in regex or "(?-" in regex:
        return None
    inline = "m" + ("i" if ignore_case else "")
    try:
        return re2.compile(f"(?{inline}){regex}".encode(), _WHOLE_FILE_OPTIONS)
    except re2.error:
        return None


def _matching_lines(whole_file: Any, data: bytes) -> Iterator[tuple[int, str]]:
    """(line number, line) for each line of `data` that matches; after a hit the search jumps
    to the next line, so a line is reported once however many matches it holds."""
    body = data.replace(b"\r\n", b"\n")  # a CRLF line matches as its text without the \r
    unterminated = bool(body) and not body.endswith(b"\n")  # a last line without a newline
    if body.endswith(b"\r"):
        body = body[:-1]  # ... matches without its \r too
    pos = counted_to = 0
    number = 1
    while pos <= len(body):
        match = whole_file.search(body, pos)
        if match is None:
            return
        start = match.start()
        if start == len(body) and not unterminated:
            return  # the empty "line" after the final newline is not a line
        number += body.count(b"\n", counted_to, start)
        counted_to = start
        begin = body.rfind(b"\n", 0, start) + 1
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end
        yield number, body[begin:end].decode("utf-8", errors="replace")
        pos = end + 1


def _matching_lines_one_by_one(compiled: Any, data: bytes) -> Iterator[tuple[int, str]]:
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another one
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.removesuffix("\r")
        if compiled.search(line):
            yield number, line


# --- glob translation -----------------------------------------------------------------------


def expand_braces(pattern: str) -> list[str]:
    """`a{b,c}d` -> [abd, acd]; nested braces work; an unbalanced brace is literal."""
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                options = _split_top_level(inner)
                if len(options) < 2:
                    continue
                out: list[str] = []
                for opt in options:
                    out.extend(expand_braces(pattern[:start] + opt + pattern[i + 1 :]))
                return out
    return [pattern]


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def compile_glob(pattern: str) -> Any:
    """Regex (RE2, so no pattern can make matching slow) for whole relative posix paths."""
    alternatives = [_segments_to_regex(p.split("/")) for p in expand_braces(pattern)]
    return compile_regex("|".join(f"(?:{a})" for a in alternatives), flags="s")


def _segments_to_regex(segments: list[str]) -> str:
    out = ""
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        out += _segment_to_regex(seg) + ("" if last else "/")
    return out


def _segment_to_regex(seg: str) -> str:
    out, i = "", 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = seg.find("]", i + 2 if seg[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out += re.escape(ch)
            else:
                body = seg[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out += "[" + body.replace("\\", "\\\\").replace("/", "") + "]"
                i = end
        else:
            out += re.escape(ch)
        i += 1
    return out


def _relative_pattern(workspace: Workspace, start: Path, pattern: str) -> str:
    if not pattern or not pattern.strip():
        raise UserInputError("empty glob pattern", hint="Try '**/*.sql' or 'migrations/*.py'.")
    if "\x00" in pattern:
        raise PathOutsideWorkspaceError("glob pattern contains a NUL byte")
    if pattern.startswith("/"):
        try:
            pattern = PurePosixPath(pattern).relative_to(PurePosixPath(start)).as_posix()
        except ValueError as exc:
            raise PathOutsideWorkspaceError(
                f"glob pattern {pattern!r} is outside the search directory {start}",
                hint="Use a pattern relative to the workspace root, like 'src/**/*.py'.",
            ) from exc
    segments = [s for s in pattern.split("/") if s not in ("", ".")]
    for variant in expand_braces(pattern):
        check_name_lengths(variant)
    if any(".." in variant.split("/") for variant in expand_braces(pattern)):
        raise PathOutsideWorkspaceError(
            f"glob pattern {pattern!r} contains '..'",
            hint="Patterns cannot climb out of the search directory; change `base` instead.",
        )
    return "/".join(segments)


def _literal_prefix(pattern: str) -> str:
    segments = pattern.split("/")
    literal = []
    for seg in segments[:-1]:
        if _MAGIC.search(seg):
            break
        literal.append(seg)
    return "/".join(literal)


def _walk_plan(start: Path, rel_pattern: str) -> tuple[Path, int | None]:
    """Walk only below the literal directory prefix, and only as deep as the pattern reaches."""
    variants = expand_braces(rel_pattern)
    if len(variants) != 1:
        return start, None if any("**" in v for v in variants) else max(
            v.count("/") for v in variants
        )
    prefix = _literal_prefix(rel_pattern)
    walk_from = start / prefix if prefix else start
    rest = rel_pattern[len(prefix) :].lstrip("/")
    return walk_from, None if "**" in rest else rest.count("/")


def _grep_filter(glob: str):  # type: ignore[no-untyped-def]
    if ".." in glob.split("/"):
        raise PathOutsideWorkspaceError(f"glob filter {glob!r} contains '..'")
    clean = glob.lstrip("/")
    matcher = compile_glob(clean)
    if "/" in clean:
        return lambda rel: bool(matcher.fullmatch(rel))
    return lambda rel: bool(matcher.fullmatch(rel.rsplit("/", 1)[-1]))


def _search_dir(workspace: Workspace, base: str) -> Path:
    start = workspace.resolve(base)
    if not start.is_dir():
        raise UserInputError(f"{base} is not a directory", hint="Give a directory as base.")
    return start


def _check_limit(limit: int) -> int:
    if limit < 1:
        raise UserInputError(f"limit must be 1 or more, got {limit}")
    return min(limit, MAX_LIMIT)


def _cut(line: str) -> str:
    return line if len(line) <= MAX_MATCH_CHARS else line[:MAX_MATCH_CHARS] + " [line cut]"
