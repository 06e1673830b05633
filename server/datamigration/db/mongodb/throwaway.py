"""Throwaway MongoDB databases for a staging rehearsal: a sampled copy on the same server.

A rehearsal without a staging URL needs a database that may break and looks like the source
where the plan acts. For MongoDB that is a new database on the same server holding, for each
collection the plan touches, the collection's options (validator, capped size, collation), its
indexes (unique, partial, TTL ones too: the plan's index builds and unique backfills meet them)
and up to `sample_rows` of its documents in ``_id`` order. Collections the source does not have
(ones the plan creates) are left for the plan to create. The copy is dropped at the end, also
when the copy itself fails halfway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.mongodb.backend import MongoBackend

_BATCH = 1000
#: listIndexes fields that are not options of createIndex
_NOT_INDEX_OPTIONS = ("v", "ns", "key")


def throwaway_copy(
    backend: MongoBackend, name: str, collections: Sequence[str], sample_rows: int
) -> tuple[str, dict[str, int]]:
    """Create database `name` on `backend`'s server as a sampled copy of `collections`.

    Returns the new database's URL (the source URL with its database swapped) and the number of
    documents copied per collection. On any failure the half-made database is dropped first.
    """
    copied: dict[str, int] = {}
    try:
        src, dst = backend.db, backend.client[name]
        existing = set(backend._call("listCollections", src.list_collection_names))
        for coll in dict.fromkeys(collections):
            if coll in existing:
                copied[coll] = _copy_collection(backend, src, dst, coll, sample_rows)
    except BaseException:
        drop_throwaway(backend, name)
        raise
    return backend.url.with_database(name).url, copied


def drop_throwaway(backend: MongoBackend, name: str) -> None:
    """Drop database `name` on `backend`'s server (safe to call twice)."""
    backend._call("dropDatabase", backend.client.drop_database, name)


def _copy_collection(backend: MongoBackend, src: Any, dst: Any, coll: str, limit: int) -> int:
    info = backend._call(
        "listCollections", lambda: list(src.list_collections(filter={"name": coll}))
    )
    options = dict((info[0].get("options") if info else None) or {})
    options.pop("uuid", None)  # assigned by the server
    backend._call("create", dst.create_collection, coll, **options)
    for spec in backend._call("listIndexes", lambda: list(src[coll].list_indexes())):
        spec = dict(spec)
        if spec.get("name") == "_id_":
            continue
        keys = list(dict(spec["key"]).items())
        kwargs = {k: v for k, v in spec.items() if k not in _NOT_INDEX_OPTIONS}
        backend._call("createIndex", dst[coll].create_index, keys, **kwargs)
    n = 0
    if limit <= 0:
        return 0
    # keyset reading in _id order, like the SQL sample: the same documents on every rehearsal
    for batch in backend.iter_rows(coll, batch_size=min(_BATCH, limit)):
        docs = [row[0] for row in batch.rows[: limit - n]]
        result = backend._call("insertMany", dst[coll].insert_many, docs, ordered=False)
        n += len(result.inserted_ids)
        if n >= limit:
            break
    return n
