"""MongoDB's language facts (no driver needed): see `db.dialect`. A document store: no SQL,
so no sqlglot or lint name."""

from __future__ import annotations

from datamigration.db.dialect import Dialect, register_dialect


@register_dialect
class MongoDialect(Dialect):
    dialect = "mongodb"
    documents = True
    default_port = 27017
    sql = False
    hashes_in_database = False
    timestamp_precision = 3  # BSON dates are milliseconds
    parser = ""  # filters and values are walked operator by operator, not parsed as SQL
