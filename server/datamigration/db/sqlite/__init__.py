"""SQLite: everything the product knows about it, in one package.

`backend.SQLiteBackend` (registered for sqlite:// URLs) is assembled from `connection`,
`introspect`, `query` (+ `guard`, the engine's authorizer) and `executor`; `segments` holds the
validator's reader. Importing the package registers the backend.
"""

from datamigration.db.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
