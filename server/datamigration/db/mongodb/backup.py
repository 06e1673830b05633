"""MongoDB backups through pymongo: each collection exported to gzip-compressed BSON (the raw
documents, so every type comes back exactly: int vs long, decimals, dates, binary), with a small
extended-JSON file of its options (validator, capped size, collation) and indexes; restored into
a scratch database on the same server by recreating each collection, its indexes and documents.

No mongodump is needed: the driver the product already uses reads and writes everything, so a
machine with only pymongo can take and restore-test a backup.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import errors as pme

from datamigration.db.backup import BackupSupport, Dump
from datamigration.errors import DatabaseError

_RAW = CodecOptions(document_class=RawBSONDocument)
_BATCH = 1000
#: listIndexes fields that are not options of createIndex
_NOT_INDEX_OPTIONS = ("v", "ns", "key")
_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL)


class MongoBackup(BackupSupport):
    """The backup methods of the MongoDB backend (see db/backup.py for the contract)."""

    def dump_backup(
        self, directory: Path, tables: Sequence[str] | None, *, tools: str | None = None
    ) -> Dump:
        db = self.db  # type: ignore[attr-defined]
        call = self._call  # type: ignore[attr-defined]
        names = list(tables or sorted(call("listCollections", db.list_collection_names)))
        files: list[str] = []
        for i, name in enumerate(names, 1):
            info = call(
                "listCollections", lambda n=name: list(db.list_collections(filter={"name": n}))
            )
            if not info:
                raise DatabaseError(f"collection {name} does not exist in {self.label}",  # type: ignore[attr-defined]
                                    hint="Check the collection names (inspect lists them).")  # fmt: skip
            options = dict(info[0].get("options") or {})
            options.pop("uuid", None)
            indexes = [
                dict(s) for s in call("listIndexes", lambda n=name: list(db[n].list_indexes()))
            ]
            meta = {"collection": name, "options": options, "indexes": indexes}
            (directory / f"{i:04d}.meta.json").write_text(
                json_util.dumps(meta, json_options=_JSON), encoding="utf-8"
            )
            self._export(db.get_collection(name, codec_options=_RAW),
                         directory / f"{i:04d}.bson.gz")  # fmt: skip
            files += [f"{i:04d}.meta.json", f"{i:04d}.bson.gz"]
        return Dump(tuple(files), "bson.gz per collection", {"pymongo": _pymongo_version()})

    def _export(self, coll: Any, path: Path) -> None:
        """Every document of `coll`, raw, one cursor (any `_id` types), into gzip'd BSON."""
        self.counter.add("find")  # type: ignore[attr-defined]
        try:
            with gzip.open(path, "wb") as out:
                for doc in coll.find({}, batch_size=_BATCH):
                    out.write(doc.raw)
        except pme.PyMongoError as exc:
            raise self._error(exc, "find") from None  # type: ignore[attr-defined]

    def restore_backup(self, directory: Path, dump: Dump, name: str, *,
                       tools: str | None = None) -> str:  # fmt: skip
        client = self.client  # type: ignore[attr-defined]
        call = self._call  # type: ignore[attr-defined]
        target = client[name]
        try:
            for meta_file in [f for f in dump.files if f.endswith(".meta.json")]:
                meta = json_util.loads((directory / meta_file).read_text(encoding="utf-8"))
                coll = meta["collection"]
                call("create", target.create_collection, coll, **dict(meta["options"]))
                for spec in meta["indexes"]:
                    if spec.get("name") == "_id_":
                        continue
                    keys = list(dict(spec["key"]).items())
                    kwargs = {k: v for k, v in spec.items() if k not in _NOT_INDEX_OPTIONS}
                    call("createIndex", target[coll].create_index, keys, **kwargs)
                _load(call, target[coll], directory / meta_file.replace(".meta.json", ".bson.gz"))
        except BaseException:
            self.drop_restored(name)
            raise
        return self.url.with_database(name).url  # type: ignore[attr-defined]

    def drop_restored(self, name: str) -> None:
        self._call("dropDatabase", self.client.drop_database, name)  # type: ignore[attr-defined]


def _load(call: Any, coll: Any, path: Path) -> None:
    """Insert the documents of one exported file in batches; a damaged file is an error."""
    batch: list[Any] = []
    try:
        with gzip.open(path, "rb") as fh:
            for doc in bson.decode_file_iter(fh, codec_options=_RAW):
                batch.append(doc)
                if len(batch) >= _BATCH:
                    call("insertMany", coll.insert_many, batch, ordered=True)
                    batch = []
    except (OSError, EOFError, bson.errors.InvalidBSON) as exc:
        raise DatabaseError(
            f"reading {path.name} failed: {exc}",
            hint="The export file is damaged or truncated; take a new backup.",
        ) from None
    if batch:
        call("insertMany", coll.insert_many, batch, ordered=True)


def _pymongo_version() -> str:
    import pymongo

    return f"pymongo {pymongo.version}"
