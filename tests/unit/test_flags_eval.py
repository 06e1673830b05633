"""The evaluator serves what flagd serves: checked against flagd-testbed's published vectors.

The vectors (hash preimages and expected variants for `fractional`, both bucketing algorithms)
are facts from open-feature/flagd-testbed (gherkin/targeting.feature, flags/custom-ops.json);
they pin MurmurHash3 and the bucket mapping bit for bit. The distribution tests show that a
1% / 10% / 100% rollout rule reaches that share of keys and that rollback reaches nobody.
"""

from __future__ import annotations

import pytest

from datamigration.safety.flag_eval import (
    EvaluationError,
    evaluate_logic,
    murmur3_32,
    pick_bucket,
    resolve_flag,
    share_of_variant,
)
from datamigration.safety.flags import fractional_targeting

SUITS = ["clubs", "diamonds", "hearts", "spades"]


def suit_flag(bucket_expr: object) -> dict:
    return {
        "state": "ENABLED",
        "variants": {v: v for v in [*SUITS, "wild"]},
        "defaultVariant": "wild",
        "targeting": {"fractional": [bucket_expr, *[[s, 25] for s in SUITS]]},
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ejOoVL", 0),
        ("bY9fO-", 1),
        ("SI7p-", 2147483647),
        ("6LvT0", 2147483648),
        ("ceQdGm", 4294967295),
    ],
)
def test_murmur3_matches_the_testbed_hash_preimages(key, expected):
    assert murmur3_32(key) == expected


def test_murmur3_matches_the_reference_vectors_for_short_and_seeded_inputs():
    # SMHasher's MurmurHash3_x86_32 verification values.
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"", seed=1) == 0x514E28B7
    assert murmur3_32(b"\xff\xff\xff\xff") == 0x76293B50
    assert murmur3_32(b"\x21\x43\x65\x87") == 0xF55B516B
    assert murmur3_32(b"Hello, world!", seed=1234) == 0xFAF6CDB3


@pytest.mark.parametrize(
    ("key", "variant"),
    [
        ("ejOoVL", "lower"),
        ("bY9fO-", "lower"),
        ("SI7p-", "lower"),
        ("6LvT0", "upper"),
        ("ceQdGm", "upper"),
    ],
)
def test_hash_edge_cases_fall_in_the_testbed_buckets(key, variant):
    flag = {
        "state": "ENABLED",
        "variants": {"lower": "lower", "upper": "upper"},
        "defaultVariant": "lower",
        "targeting": {"fractional": [{"var": "targetingKey"}, ["lower", 50], ["upper", 50]]},
    }
    assert resolve_flag("fractional-hash-edge-flag", flag, {"targetingKey": key}).variant == variant


V2 = {"jack": "hearts", "queen": "spades", "ten": "clubs", "nine": "diamonds", "3": "clubs"}
V1 = {"jack": "spades", "queen": "clubs", "ten": "diamonds", "nine": "hearts", "3": "diamonds"}


@pytest.mark.parametrize(("algorithm", "table"), [("v2", V2), ("v1", V1)])
def test_fractional_with_flag_key_and_nested_property_matches_both_testbed_eras(algorithm, table):
    flag = suit_flag({"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]})
    got = {
        name: resolve_flag(
            "fractional-flag", flag, {"user": {"name": name}}, algorithm=algorithm
        ).variant
        for name in table
    }
    assert got == table


@pytest.mark.parametrize(
    ("algorithm", "table"),
    [
        ("v2", {"seven": "hearts", "eight": "diamonds", "nine": "clubs", "two": "spades"}),
        ("v1", {"jack": "hearts", "queen": "spades", "ten": "hearts", "nine": "diamonds"}),
    ],
)
def test_a_shared_seed_buckets_two_flags_identically(algorithm, table):
    flag = suit_flag({"cat": ["shared-seed", {"var": "user.name"}]})
    for key in ("fractional-flag-A-shared-seed", "fractional-flag-B-shared-seed"):
        got = {
            n: resolve_flag(key, flag, {"user": {"name": n}}, algorithm=algorithm).variant
            for n in table
        }
        assert got == table


@pytest.mark.parametrize("algorithm", ["v1", "v2"])
def test_the_shorthand_buckets_by_flag_key_then_targeting_key(algorithm):
    flag = {
        "state": "ENABLED",
        "variants": {"heads": "heads", "tails": "tails", "draw": "draw"},
        "defaultVariant": "draw",
        "targeting": {"fractional": [["heads"], ["tails", 1]]},
    }
    key = "fractional-flag-shorthand"
    assert (
        resolve_flag(key, flag, {"targetingKey": "jon@company.com"}, algorithm=algorithm).variant
        == "heads"
    )
    assert (
        resolve_flag(key, flag, {"targetingKey": "jane@company.com"}, algorithm=algorithm).variant
        == "tails"
    )


def test_without_a_targeting_key_the_shorthand_serves_the_default_variant():
    flag = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": fractional_targeting("on", "off", 100),
    }
    res = resolve_flag("f", flag, {})
    assert (res.variant, res.value, res.reason) == ("off", False, "DEFAULT")


def test_a_single_entry_always_wins_and_zero_total_weight_means_no_decision():
    assert pick_bucket(123456, [("single", 1)]) == "single"
    assert pick_bucket(123456, [("a", 0), ("b", 0)]) == ""


def rollout_flag(percent: int) -> dict:
    return {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": fractional_targeting("on", "off", percent),
    }


@pytest.mark.parametrize(("percent", "low", "high"), [(1, 0.007, 0.013), (10, 0.093, 0.107)])
def test_a_rollout_step_reaches_its_share_of_keys(percent, low, high):
    share = share_of_variant("new-email-column", rollout_flag(percent), "on", keys=20_000)
    assert low <= share <= high


def test_a_full_rollout_reaches_every_key_and_rollback_reaches_none():
    assert share_of_variant("f", rollout_flag(100), "on", keys=5_000) == 1.0
    rolled_back = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    assert share_of_variant("f", rolled_back, "on", keys=5_000) == 0.0


def test_steps_are_sticky_a_key_that_had_the_new_variant_keeps_it_at_the_next_step():
    keys = [f"user-{i}" for i in range(5_000)]
    at_1 = {
        k for k in keys if resolve_flag("f", rollout_flag(1), {"targetingKey": k}).variant == "on"
    }
    at_10 = {
        k for k in keys if resolve_flag("f", rollout_flag(10), {"targetingKey": k}).variant == "on"
    }
    assert at_1 and at_1 <= at_10


def test_the_same_key_lands_differently_for_different_flags():
    keys = [f"user-{i}" for i in range(2_000)]
    a = {
        k for k in keys if resolve_flag("a", rollout_flag(10), {"targetingKey": k}).variant == "on"
    }
    b = {
        k for k in keys if resolve_flag("b", rollout_flag(10), {"targetingKey": k}).variant == "on"
    }
    assert a != b


def test_a_disabled_flag_resolves_to_nothing():
    flag = rollout_flag(100) | {"state": "DISABLED"}
    assert resolve_flag("f", flag, {"targetingKey": "x"}).reason == "DISABLED"


def test_targeting_naming_an_unknown_variant_is_an_error_not_a_guess():
    flag = {
        "state": "ENABLED",
        "variants": {"a": 1},
        "defaultVariant": "a",
        "targeting": {"if": [True, "zzz"]},
    }
    res = resolve_flag("f", flag, {})
    assert res.reason == "ERROR" and res.variant is None


def test_an_unsupported_operation_raises_instead_of_guessing():
    with pytest.raises(EvaluationError):
        evaluate_logic({"no_such_op": [1]}, {})


def test_common_json_logic_operations():
    data = {"email": "ann@faas.com", "n": 3}
    assert evaluate_logic({"in": ["@faas.com", {"var": "email"}]}, data) is True
    assert evaluate_logic({"if": [{">": [{"var": "n"}, 5]}, "big", "small"]}, data) == "small"
    assert evaluate_logic({"ends_with": [{"var": "email"}, ".com"]}, data) is True
    assert evaluate_logic({"var": ["missing", "dflt"]}, data) == "dflt"
