"""The validator's read-only MongoDB connection: finds with a projection and a sort,
aggregations, counts; never writes (see `db.segments` for the contract).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from datamigration.db.errors import UnsupportedOperationError
from datamigration.db.segments import DEFAULT_TIMEOUT_MS, STREAM_BATCH, Reader
from datamigration.db.urls import ConnectionURL
from datamigration.errors import NotFoundError


class MongoReader(Reader):
    """MongoDB: finds with a projection and a sort, aggregations, counts. Never writes."""

    dialect = "mongodb"

    def __init__(
        self, url: ConnectionURL, timeout_ms: int = DEFAULT_TIMEOUT_MS, *, gentle: bool = False
    ) -> None:
        super().__init__(url, timeout_ms, gentle=gentle)
        import pymongo

        if not url.database:
            raise UnsupportedOperationError(
                f"the MongoDB URL {url.redacted} names no database",
                hint="Write mongodb://host:port/DATABASE.",
            )
        self.client = self._run(
            "connect",
            lambda: pymongo.MongoClient(url.url, serverSelectionTimeoutMS=10_000, tz_aware=False),
        )
        self.db = self.client[url.database]

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
            self.client = None

    def count(self, collection: str, filter: Mapping[str, Any] | None = None) -> int:
        self.queries += 1
        return self._run("count", lambda: self.db[collection].count_documents(dict(filter or {})))

    def find(
        self,
        collection: str,
        filter: Mapping[str, Any] | None = None,
        projection: Sequence[str] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        limit: int = 0,
    ) -> Iterator[dict[str, Any]]:
        self.queries += 1
        proj = {name: 1 for name in projection} if projection else None
        if proj is not None and "_id" not in proj:
            proj["_id"] = 0

        def go() -> Any:
            cur = self.db[collection].find(dict(filter or {}), proj, batch_size=STREAM_BATCH)
            if sort:
                cur = cur.sort(list(sort))
            if limit:
                cur = cur.limit(limit)
            return cur

        cursor = self._run("find", go)
        while True:
            doc = self._run("find", lambda: next(cursor, None))
            if doc is None:
                break
            yield doc

    def aggregate(self, collection: str, pipeline: Sequence[Mapping[str, Any]]) -> list[dict]:
        self.queries += 1
        return self._run("aggregate", lambda: list(self.db[collection].aggregate(list(pipeline))))

    def value_types(self, collection: str, names: Sequence[str]) -> dict[str, str]:
        """How one document stores each of `names` ("int", "objectId", "string", ...), so a
        caller that renders keys as text can ask for them back in the stored type."""
        doc = next(self.find(collection, None, list(names), limit=1), None) or {}
        out = {}
        for name in names:
            value = doc.get(name)
            if isinstance(value, bool) or value is None:
                continue
            out[name] = (
                "int" if isinstance(value, int) else _bson_type_name(value) or type(value).__name__
            )
        return out

    @staticmethod
    def stored(value: Any, type_name: str | None) -> Any:
        """A key value in the type the collection stores it as (ObjectId from its hex text)."""
        if type_name == "objectId" and isinstance(value, str):
            import bson

            if bson.ObjectId.is_valid(value):
                return bson.ObjectId(value)
        return value

    def field_names(self, collection: str, sample: int = 200) -> list[str]:
        """Field names seen in the first `sample` documents, in first-seen order."""
        if collection not in self._run("list", self.db.list_collection_names):
            raise NotFoundError(
                f"collection {collection!r} not found on {self.url.redacted}",
                hint="Check the collection name and the database in the URL.",
                collection=collection,
            )
        seen: dict[str, None] = {}
        for doc in self.find(collection, limit=sample):
            for name in doc:
                seen.setdefault(name, None)
        return list(seen)


def _bson_type_name(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    import bson

    return "objectId" if isinstance(value, bson.ObjectId) else None
