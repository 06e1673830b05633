"""The read-only query language for MongoDB: find, aggregate and count, nothing else.

MongoDB has no read-only session to lean on, so read-only is enforced structurally:

* the input is parsed (Extended JSON, so ``{"$oid": ...}`` and ``{"$date": ...}`` work) into a
  `MongoQuery` of exactly one kind - ``{"find": coll, ...}``, ``{"aggregate": coll,
  "pipeline": [...]}`` or ``{"count": coll, ...}`` - with a fixed set of allowed keys; the
  backend then calls the matching pymongo method, never ``runCommand`` with user input, so no
  other command (insert, update, drop, eval, ...) can be expressed;
* find, count and aggregate only read, except for aggregation stages that write (``$out``,
  ``$merge``) and server-side JavaScript (``$where``, ``$function``, ``$accumulator``), which
  runs arbitrary code in the server. So every ``$`` key, at any depth (inside ``$lookup`` /
  ``$unionWith`` / ``$facet`` sub-pipelines, inside ``$expr``, inside a DBRef-shaped object),
  must be on the allow-list of `operators`; the check runs on the raw JSON before
  Extended JSON is decoded, and a key written twice in one object is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datamigration.db.errors import QueryRefusedError
from datamigration.db.mongodb.operators import ALLOWED, why_refused
from datamigration.errors import FileFormatError, UserInputError
from datamigration.safeload import MAX_DEPTH, check_depth

ALLOWED_KEYS = {
    "find": {"find", "filter", "projection", "sort", "limit", "skip", "maxTimeMS"},
    "aggregate": {"aggregate", "pipeline", "maxTimeMS"},
    "count": {"count", "filter", "query", "limit", "skip", "maxTimeMS"},
}
EXAMPLES = (
    '{"find": "users", "filter": {"age": {"$gt": 30}}, "limit": 10}, '
    '{"aggregate": "users", "pipeline": [{"$group": {"_id": "$city", "n": {"$sum": 1}}}]} or '
    '{"count": "users", "filter": {}}'
)


class ForbiddenOperatorError(QueryRefusedError):
    """The query uses a ``$`` key off the read-only allow-list (see `operators`)."""


@dataclass(frozen=True)
class MongoQuery:
    kind: str  # find / aggregate / count
    collection: str
    filter: Mapping[str, Any] = field(default_factory=dict)
    projection: Mapping[str, Any] | None = None
    sort: tuple[tuple[str, int], ...] = ()
    limit: int | None = None
    skip: int = 0
    pipeline: tuple[Mapping[str, Any], ...] = ()
    max_time_ms: int | None = None


def parse_query(text: str | Mapping[str, Any]) -> MongoQuery:
    """Parse and check one query; raises UserInputError (or ForbiddenOperatorError)."""
    if not isinstance(text, str):
        from bson import json_util

        text = json_util.dumps(text)  # checked like text: a DBRef becomes {"$ref": ...} again
    doc = _load(text)
    if not isinstance(doc, Mapping):
        raise _bad("the query must be a JSON object")
    kinds = [k for k in ALLOWED_KEYS if k in doc]
    if len(kinds) != 1:
        raise _bad("the query must name exactly one of find, aggregate or count")
    kind = kinds[0]
    extra = sorted(set(doc) - ALLOWED_KEYS[kind])
    if extra:
        raise _bad(
            f"unsupported key(s) {extra} in a {kind} query",
            allowed=sorted(ALLOWED_KEYS[kind]),
        )
    refuse_forbidden(doc)
    coll = doc[kind]
    if not isinstance(coll, str) or not coll or coll.startswith("system."):
        raise _bad(f"{kind} must name a collection (a non-empty string, not system.*)")
    q: dict[str, Any] = {"kind": kind, "collection": coll}
    filt = doc.get("filter", doc.get("query", {}))
    if not isinstance(filt, Mapping):
        raise _bad("filter must be a JSON object")
    q["filter"] = dict(filt)
    if "projection" in doc:
        if not isinstance(doc["projection"], Mapping):
            raise _bad("projection must be a JSON object")
        q["projection"] = dict(doc["projection"])
    if "sort" in doc:
        q["sort"] = _sort(doc["sort"])
    for key in ("limit", "skip", "maxTimeMS"):
        if key in doc:
            value = doc[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _bad(f"{key} must be a non-negative integer")
            q[{"maxTimeMS": "max_time_ms"}.get(key, key)] = value
    if kind == "aggregate":
        pipeline = doc.get("pipeline")
        if not isinstance(pipeline, list) or not all(isinstance(s, Mapping) for s in pipeline):
            raise _bad("pipeline must be a list of stage objects")
        q["pipeline"] = tuple(dict(s) for s in pipeline)
    return MongoQuery(**q)


def refuse_forbidden(value: Any, where: str = "query") -> None:
    """Raise unless every ``$`` key anywhere in `value` is on the allow-list (`operators`).

    Walked on plain JSON (dicts, lists, scalars), before Extended JSON becomes BSON types, so
    a DBRef or ``$code`` wrapper is seen as the object it is written as.
    """
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if isinstance(key, str) and key.startswith("$") and key not in ALLOWED:
                raise ForbiddenOperatorError(
                    f"{key} is refused on the read-only query path: it {why_refused(key)} "
                    f"(found in {where})",
                    hint="Queries may only read, with the standard query and aggregation "
                    "operators. Use a migration plan and the executor to write, and plain "
                    "aggregation operators instead of JavaScript.",
                    operator=key,
                    path=where,
                )
            refuse_forbidden(inner, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            refuse_forbidden(inner, f"{where}[{i}]")


def _load(text: str) -> Any:
    """Check the raw JSON (no duplicate keys, only allowed ``$`` keys), then decode it as
    Extended JSON (``$oid``, ``$date``, ...)."""
    from bson import json_util

    try:
        raw = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise _bad(f"the query is not valid JSON: {exc}") from None
    except RecursionError:
        raise _bad(f"the query nests deeper than {MAX_DEPTH} levels") from None
    try:
        check_depth(raw, source="query", hint="")
    except FileFormatError:
        raise _bad(f"the query nests deeper than {MAX_DEPTH} levels") from None
    refuse_forbidden(raw)
    try:
        return json_util.loads(text)
    except (ValueError, TypeError) as exc:
        raise _bad(f"the query is not valid Extended JSON: {exc}") from None


class _DuplicateKeyError(UserInputError):
    """A JSON object names a key twice: parsers disagree on which one counts."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(
                f"the key {key!r} appears twice in one object of the query",
                hint="Write each key once; combine conditions with $and.",
                key=key,
            )
        out[key] = value
    return out


def _sort(value: Any) -> tuple[tuple[str, int], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        out = tuple((str(k), int(d)) for k, d in items)
    except (TypeError, ValueError):
        raise _bad('sort must be an object like {"name": 1, "age": -1}') from None
    if any(d not in (1, -1) for _, d in out):
        raise _bad("sort directions must be 1 or -1")
    return out


def _bad(message: str, **data: Any) -> UserInputError:
    return UserInputError(message, hint=f"Write the query as {EXAMPLES}.", **data)
