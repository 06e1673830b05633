"""Evaluate flagd flag definitions exactly as flagd does, so a rollout's reach can be proven here.

A percentage rollout is only as good as our knowledge of who gets the new behaviour. The
application reads `flags.flagd.json` through flagd or an OpenFeature in-process provider; this
module computes, for any targeting key, the variant that provider serves, so tests (and the
`flags eval` command) can show that a 10% step really gives ~10% of keys the new variant and that
a rollback gives every key the old one.

Bit-exactness. flagd's `fractional` operation hashes a bucketing string with MurmurHash3 x86
32-bit (seed 0) over its UTF-8 bytes. The bucketing string is the operation's first argument
when that evaluates to a string, otherwise `flagKey + targetingKey` (flag key first). Two bucket
mappings exist in flagd's history; both are implemented and checked against the flagd-testbed
vectors (tests/unit/test_flags_eval.py):

* ``v2`` (current flagd; the testbed's `@fractional-v2`): ``bucket = (hash * total_weight) >> 32``
  with integer weights, the variant whose cumulative weight first exceeds `bucket`.
* ``v1`` (older flagd releases; `@fractional-v1`): ``abs(int32(hash)) / MaxInt32 * 100`` compared
  with cumulative percentages ``100 * weight / total``.

Only the JSON Logic operations a rollout needs (and a few common ones) are implemented:
var, cat, if/?:, ==, !=, ===, !==, <, <=, >, >=, !, !!, and, or, in, starts_with, ends_with,
fractional. An unknown operation is an evaluation error, never a silent guess.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_INT32 = 2**31 - 1
ALGORITHMS = ("v2", "v1")


class EvaluationError(Exception):
    """The targeting rule cannot be evaluated (flagd answers PARSE_ERROR / GENERAL)."""


# --- MurmurHash3 x86 32-bit ------------------------------------------------------------------


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


def murmur3_32(data: bytes | str, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of `data` (str is hashed as UTF-8), as an unsigned 32-bit int."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & 0xFFFFFFFF
    n_blocks = len(data) // 4
    for i in range(n_blocks):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * c1) & 0xFFFFFFFF
        k = _rotl32(k, 15)
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
        h = _rotl32(h, 13)
        h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail = data[4 * n_blocks :]
    k = 0
    if len(tail) == 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & 0xFFFFFFFF
        k = _rotl32(k, 15)
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


# --- fractional ------------------------------------------------------------------------------


def pick_bucket(hash_value: int, weights: list[tuple[Any, int]], algorithm: str = "v2") -> Any:
    """The variant of `weights` that flagd picks for a 32-bit `hash_value`."""
    total = sum(w for _, w in weights)
    if total == 0:
        return ""
    if algorithm == "v2":
        bucket = (hash_value * total) >> 32
        end = 0
        for variant, weight in weights:
            end += weight
            if bucket < end:
                return variant
        return ""
    if algorithm == "v1":
        signed = hash_value - 2**32 if hash_value >= 2**31 else hash_value
        point = abs(float(signed)) / MAX_INT32 * 100
        end_f = 0.0
        for variant, weight in weights:
            end_f += 100 * weight / total
            if point < end_f:
                return variant
        return ""
    raise ValueError(f"unknown fractional algorithm {algorithm!r}; use one of {ALGORITHMS}")


def _fractional(args: list[Any], data: Mapping[str, Any], algorithm: str) -> Any:
    """flagd's `fractional`; arguments are already evaluated. None means 'no decision'."""
    if len(args) < 1:
        return None
    values = list(args)
    if isinstance(values[0], str):
        bucket_by = values.pop(0)
    else:
        if values[0] is None:
            values.pop(0)
        targeting_key = data.get("targetingKey")
        if not isinstance(targeting_key, str):
            return None  # flagd: no bucketing value and no targetingKey -> default variant
        flag_key = (data.get("$flagd") or {}).get("flagKey", "")
        bucket_by = f"{flag_key}{targeting_key}"
    weights: list[tuple[Any, int]] = []
    for item in values:
        if not isinstance(item, list) or not item:
            return None
        variant = item[0]
        if variant is not None and not isinstance(variant, str | bool | int | float):
            return None
        weight: Any = item[1] if len(item) >= 2 else 1
        if weight is None:
            weight = 1
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return None
        if weight != int(weight) or weight < 0 or weight > MAX_INT32:
            return None
        weights.append((variant, int(weight)))
    if sum(w for _, w in weights) > MAX_INT32:
        return None
    return pick_bucket(murmur3_32(bucket_by), weights, algorithm)


# --- a small JSON Logic ----------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) > 0
    return bool(value)


def _var(args: Any, data: Mapping[str, Any]) -> Any:
    if not isinstance(args, list):
        args = [args]
    path = args[0] if args else ""
    default = args[1] if len(args) > 1 else None
    if path is None or path == "":
        return data
    current: Any = data
    for part in str(path).split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _loose_equal(a: Any, b: Any) -> bool:
    if (
        isinstance(a, int | float)
        and isinstance(b, str)
        or isinstance(a, str)
        and isinstance(b, int | float)
    ):
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return a == b


def _compare(op: str, values: list[Any]) -> bool:
    try:
        nums = [float(v) if isinstance(v, str) else v for v in values]
        pairs = list(itertools.pairwise(nums))
        if op == "<":
            return all(a < b for a, b in pairs)
        if op == "<=":
            return all(a <= b for a, b in pairs)
        if op == ">":
            return all(a > b for a, b in pairs)
        return all(a >= b for a, b in pairs)
    except (TypeError, ValueError):
        return False


def evaluate_logic(rule: Any, data: Mapping[str, Any], algorithm: str = "v2") -> Any:
    """Evaluate a JSON Logic `rule` against `data` (the evaluation context plus `$flagd`)."""
    if isinstance(rule, list):
        return [evaluate_logic(r, data, algorithm) for r in rule]
    if not isinstance(rule, dict):
        return rule
    if len(rule) != 1:
        # JSON Logic treats a multi-key object as data; flagd rejects it as a rule.
        raise EvaluationError(f"a rule must have exactly one operation, got keys {sorted(rule)}")
    ((op, raw),) = rule.items()
    if op == "var":
        raw_args = evaluate_logic(raw, data, algorithm)
        return _var(raw_args, data)
    args = raw if isinstance(raw, list) else [raw]
    if op in ("if", "?:"):
        i = 0
        while i + 1 < len(args):
            if _truthy(evaluate_logic(args[i], data, algorithm)):
                return evaluate_logic(args[i + 1], data, algorithm)
            i += 2
        return evaluate_logic(args[i], data, algorithm) if i < len(args) else None
    if op == "and":
        value: Any = None
        for a in args:
            value = evaluate_logic(a, data, algorithm)
            if not _truthy(value):
                return value
        return value
    if op == "or":
        value = None
        for a in args:
            value = evaluate_logic(a, data, algorithm)
            if _truthy(value):
                return value
        return value
    values = [evaluate_logic(a, data, algorithm) for a in args]
    if op == "fractional":
        return _fractional(values, data, algorithm)
    if op == "cat":
        return "".join(_text(v) for v in values)
    if op == "==":
        return _loose_equal(values[0], values[1])
    if op == "!=":
        return not _loose_equal(values[0], values[1])
    if op == "===":
        return values[0] == values[1] and type(values[0]) is type(values[1])
    if op == "!==":
        return not (values[0] == values[1] and type(values[0]) is type(values[1]))
    if op in ("<", "<=", ">", ">="):
        return _compare(op, values)
    if op == "!":
        return not _truthy(values[0])
    if op == "!!":
        return _truthy(values[0])
    if op == "in":
        needle, haystack = values[0], values[1]
        if isinstance(haystack, str):
            return isinstance(needle, str) and needle in haystack
        return isinstance(haystack, list) and needle in haystack
    if op in ("starts_with", "ends_with"):
        if not (isinstance(values[0], str) and isinstance(values[1], str)):
            return None
        return (
            values[0].startswith(values[1])
            if op == "starts_with"
            else values[0].endswith(values[1])
        )
    raise EvaluationError(f"operation {op!r} is not supported by this evaluator")


# --- resolving a flag ------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """What a flagd provider answers for one flag and one evaluation context."""

    flag: str
    variant: str | None
    value: Any
    reason: str  # STATIC, TARGETING_MATCH, DEFAULT, DISABLED, ERROR
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "variant": self.variant,
            "value": self.value,
            "reason": self.reason,
            "error": self.error,
        }


def resolve_flag(
    flag_key: str,
    flag: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    *,
    algorithm: str = "v2",
    now: float | None = None,
) -> Resolution:
    """The variant and value flagd serves for `flag_key` in `context`."""
    if flag.get("state", "ENABLED") == "DISABLED":
        return Resolution(flag_key, None, None, "DISABLED", "flag is disabled")
    variants = flag.get("variants") or {}
    default = flag.get("defaultVariant")
    targeting = flag.get("targeting")
    if not targeting:
        return _by_name(flag_key, variants, default, "STATIC")
    data = dict(context or {})
    data["$flagd"] = {
        "flagKey": flag_key,
        "timestamp": int(now if now is not None else time.time()),
    }
    try:
        result = evaluate_logic(targeting, data, algorithm)
    except EvaluationError as exc:
        return Resolution(flag_key, None, None, "ERROR", f"PARSE_ERROR: {exc}")
    if result is None or result == "":
        return _by_name(flag_key, variants, default, "DEFAULT")
    if isinstance(result, bool):
        result = "true" if result else "false"
    elif isinstance(result, float) and math.isfinite(result) and result.is_integer():
        result = str(int(result))
    if not isinstance(result, str) or result not in variants:
        return Resolution(
            flag_key, None, None, "ERROR", f"GENERAL: targeting returned unknown {result!r}"
        )
    return Resolution(flag_key, result, variants[result], "TARGETING_MATCH")


def _by_name(flag_key: str, variants: Mapping[str, Any], name: Any, reason: str) -> Resolution:
    if name is None:
        # flagd: a null default variant defers to the code default of the application.
        return Resolution(flag_key, None, None, reason)
    if name not in variants:
        return Resolution(flag_key, None, None, "ERROR", f"GENERAL: no variant {name!r}")
    return Resolution(flag_key, name, variants[name], reason)


def share_of_variant(
    flag_key: str,
    flag: Mapping[str, Any],
    variant: str,
    keys: int = 10_000,
    *,
    prefix: str = "user-",
    algorithm: str = "v2",
) -> float:
    """Fraction of `keys` synthetic targeting keys (`user-0`, `user-1`, ...) served `variant`."""
    hits = sum(
        1
        for i in range(keys)
        if resolve_flag(
            flag_key, flag, {"targetingKey": f"{prefix}{i}"}, algorithm=algorithm
        ).variant
        == variant
    )
    return hits / keys if keys else 0.0
