"""Every tool answer fits a model: compact JSON, sent once as text, and never over the budget.

Why a budget in characters: Claude Code refuses MCP answers over 25k tokens by default
(`MAX_MCP_OUTPUT_TOKENS`) and other clients are stricter, so an answer that does not fit is an
answer the model never sees. Token counts are estimated as ceil(characters / 4) of the compact
JSON (no tokenizer ships with the server); the budget keeps the whole answer on the wire (text
block + structuredContent) under 25k such tokens: 40,000 characters per copy, 80,000 for both,
with room left for JSON escaping of the text copy.

Why the payload is sent twice, compactly: a tool with an output schema MUST return
structuredContent, and the MCP spec says it SHOULD also return the serialized JSON in a text block
for clients that only read `content`. Claude Code and VS Code hand the model
JSON.stringify(structuredContent) and drop the text block, so the model sees the payload once;
older clients read the text block, so they still get every field. Pretty-printing (the SDK's
default, indent=2) cost a third more characters for nothing, so both copies are compact.

Heavy tools page by themselves (`offset`/`limit` and a `next` hint): `fit_list` trims the one
list that grows with the input to what fits and says how many items it kept. `fit_answer` is the
last line of defence, applied by the `tool` wrapper to every answer: when an answer is still over
the budget it shortens the biggest field first (a list keeps its head, a text its beginning), sets
`truncated: true` and names, in `next`, the tool and the argument that gets the rest.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Characters of compact JSON one answer may take (about 10k tokens; both copies stay < 25k).
ANSWER_BUDGET_CHARS = 40_000
#: Kept free under the budget for the `truncated` / `next` fields the guard adds.
_RESERVE = 400
_CUT_MARK = "…[cut]"


def dumps(value: Any) -> str:
    """Compact JSON, as the answer is sent (non-ASCII kept: \\uXXXX would quadruple it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def estimate_tokens(text: str) -> int:
    """The size estimate used for every budget in this package: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def size(value: Any) -> int:
    return len(dumps(value))


def fit_list(out: dict[str, Any], key: str, budget: int = ANSWER_BUDGET_CHARS) -> int:
    """Trim `out[key]` (a list) to the longest head with which `out` fits; return its length.

    The other fields are kept whole: they are small by construction (counts, paths, flags).
    At least one item is kept when any exists, so paging always moves forward (an item too big
    alone is cut down by `fit_answer`).
    """
    items = out[key]
    if size(out) <= budget - _RESERVE:
        return len(items)
    lo, hi = 1, len(items)
    while lo < hi:  # the largest k whose answer fits
        mid = (lo + hi + 1) // 2
        out[key] = items[:mid]
        if size(out) <= budget - _RESERVE:
            lo = mid
        else:
            hi = mid - 1
    out[key] = items[:lo]
    return lo


def fit_answer(
    payload: dict[str, Any], tool: str, pages: str | None, budget: int = ANSWER_BUDGET_CHARS
) -> dict[str, Any]:
    """`payload` itself when it fits, otherwise a copy cut to the budget and saying so."""
    if size(payload) <= budget:
        return payload
    cut = _fit(payload, budget - _RESERVE)
    cut["truncated"] = True
    how = f"call {tool} again with {pages}" if pages else f"narrow the {tool} call"
    cut["next"] = f"answer cut to {budget} characters (largest fields first); {how}"
    return cut


def _fit(value: Any, room: int) -> Any:
    """A version of `value` whose compact JSON takes at most `room` characters (best effort)."""
    if size(value) <= room:
        return value
    if isinstance(value, str):
        return _fit_text(value, room)
    if isinstance(value, list):
        return _fit_items(value, room)
    if isinstance(value, dict):
        return _fit_mapping(value, room)
    return value  # a number or a flag: nothing to cut


def _fit_text(text: str, room: int) -> str:
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(text[:mid] + _CUT_MARK) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + _CUT_MARK


def _fit_items(items: list[Any], room: int) -> list[Any]:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(items[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0 and items:  # one item alone is too big: keep a cut-down first item
        return [_fit(items[0], room - 2)]
    return items[:lo]


def _fit_mapping(mapping: dict[str, Any], room: int) -> dict[str, Any]:
    out = dict(mapping)
    tried: set[str] = set()
    while size(out) > room:
        candidates = [k for k in out if k not in tried and isinstance(out[k], str | list | dict)]
        if not candidates:
            break
        biggest = max(candidates, key=lambda k: size(out[k]))
        tried.add(biggest)
        rest = size(out) - size(out[biggest])
        out[biggest] = _fit(out[biggest], max(room - rest, 2))
    return out
