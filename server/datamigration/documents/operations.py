"""The document operations of a MongoDB plan, as names: plain JSON objects (``collection``,
``op``, ``filter``, ``update`` or ``set``, ``keys``, options) that `db/mongodb/operations.py`
runs with the driver.

Batched operations (``set_fields``, and ``update_many`` with a ``batch_size``) run one keyset
batch per call over ``_id``; the executor stores the last ``_id`` done as its checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the plan-facing operations (see plan/ops_mongodb.py) and the run-state ones (execute/)
PLAN_OPS = ("update_many", "set_fields", "create_index", "drop_index", "coll_mod",
            "count_mismatches")  # fmt: skip
STATE_OPS = ("find", "count", "update_one", "insert_one", "insert_many", "delete_one",
             "delete_many")  # fmt: skip
#: the move engine's target setup (move/collection_setup.py)
SETUP_OPS = ("create_collection",)
BATCHED = ("set_fields",)


def is_batched(op: Mapping[str, Any]) -> bool:
    return op.get("op") in BATCHED or (op.get("op") == "update_many" and bool(op.get("batch_size")))
