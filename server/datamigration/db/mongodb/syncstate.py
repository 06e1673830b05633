"""The sync's state on a MongoDB target: one document per run in `_datamigration_sync`.

Same fields as the SQL table (`db/syncstate.py`); `_id` is the run id. MongoDB has no
transaction on every deployment, so the position is written after the batch's documents:
a crash between the two replays the batch, which the applier makes harmless (every change
is an idempotent set or removal by key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.db.syncstate import (
    SYNC_STATE_TABLE,
    SyncStateStore,
    decode_record,
    now_text,
    sync_record,
)


class MongoSyncState(SyncStateStore):
    def __init__(self, backend: Any, name: str = SYNC_STATE_TABLE) -> None:
        self.b = backend
        self.name = name

    @property
    def coll(self) -> Any:
        return self.b.db[self.name]

    def ensure(self) -> None:
        return None

    def _decode(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc.pop("_id", None)
        if doc.get("position") is not None:
            doc["position"] = list(doc["position"])
        return decode_record(sync_record(**doc))

    def get(self, run_id: str) -> dict[str, Any] | None:
        doc = self.b._call("read sync state", self.coll.find_one, {"_id": run_id})
        return self._decode(doc) if doc else None

    def all(self) -> list[dict[str, Any]]:
        docs = self.b._call("read sync state", lambda: list(self.coll.find({})))
        return sorted((self._decode(d) for d in docs), key=lambda r: r["run_id"])

    def put(self, record: Mapping[str, Any]) -> None:
        full = sync_record(**record)
        full["position"] = _position(full["position"])
        run_id = full["run_id"]
        self.b._call("write sync state", self.coll.delete_one, {"_id": run_id})
        self.b._call("write sync state", self.coll.insert_one, {"_id": run_id, **full})

    def update(self, run_id: str, **fields: Any) -> None:
        fields = {**fields, "updated_at": now_text()}
        if "position" in fields:
            fields["position"] = _position(fields["position"])
        self.b._call("write sync state", self.coll.update_one, {"_id": run_id},
                     {"$set": fields})  # fmt: skip

    def drop(self, run_id: str) -> None:
        self.b._call("drop sync state", self.coll.delete_one, {"_id": run_id})


def _position(position: Sequence[int] | None) -> list[int] | None:
    return None if position is None else [int(p) for p in position]
