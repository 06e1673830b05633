"""Tool answers built from the engines' own result types, so each shape is written once.

An engine hands back a frozen dataclass (`files.ReadResult`, `search.GrepResult`,
`base.QueryResult`, ...) and its fields are what the tool answers. A tool whose answer is
exactly that result annotates its return with the dataclass itself: the SDK derives the output
schema from its type hints and validates the object by its attributes. Where the MCP answer
legitimately differs — the paging fields (`next`, `offset`), the `untrusted_data` marker first,
a field the face leaves out or shows relative to the workspace — `answer_type` derives the
TypedDict the SDK publishes and validates against from the dataclass's fields plus those few
fields, once at import time. An engine that returns a plain dict declares its shape as a
TypedDict beside the code that builds it (`flags.RolloutReport`, `bus.BusMessageDict`), which
serves as a part the same way. A second hand-written copy of the engine's fields would drift
from it unnoticed; a derived one cannot.

Validation drops keys the answer type does not name (pydantic ignores extra TypedDict keys),
so a tool may return the engine's whole `asdict`/`to_dict` and the answer still carries
exactly the published fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, get_type_hints

from typing_extensions import TypedDict, is_typeddict

#: One part of an answer: an engine result type (its fields) or the face's own {name: type}.
Part = type | Mapping[str, Any]


def fields_of(result: type) -> dict[str, Any]:
    """An engine result's fields and their resolved type hints, in declaration order.

    The result is a dataclass, or the TypedDict an engine declares for the dict it returns
    (its `NotRequired` fields stay so)."""
    if is_typeddict(result):
        return get_type_hints(result, include_extras=True)
    if not (isinstance(result, type) and dataclasses.is_dataclass(result)):
        raise TypeError(
            f"{result!r} is not a dataclass or TypedDict: an answer part is one, or a mapping"
        )
    hints = get_type_hints(result)
    return {f.name: hints[f.name] for f in dataclasses.fields(result)}


def answer_type(
    name: str,
    *parts: Part,
    omit: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> type:
    """A TypedDict named `name` with the fields of each part in turn.

    A part is an engine result type (`fields_of`) or a mapping of the face's own fields; a
    later part that names a field an earlier one declared retypes it in place (the order of
    the answer's keys stays the first part's). `omit` leaves fields out of the answer;
    `optional` marks fields the engine leaves out when there is nothing to say (`warnings`).
    Unknown names in either are a mistake in the face and fail at import time.
    """
    fields: dict[str, Any] = {}
    for part in parts:
        fields.update(part if isinstance(part, Mapping) else fields_of(part))
    for key in omit:
        del fields[_known(key, fields, name)]
    for key in optional:
        key = _known(key, fields, name)
        fields[key] = NotRequired[fields[key]]
    return TypedDict(name, fields)  # type: ignore[operator]  # the functional form, on purpose


def _known(key: str, fields: Mapping[str, Any], name: str) -> str:
    if key not in fields:
        raise TypeError(f"{name}: no field {key!r} to leave out or make optional")
    return key
