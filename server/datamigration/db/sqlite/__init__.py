"""SQLite: everything the product knows about it, in one package.

`backend.SQLiteBackend` (registered for sqlite:// URLs) is assembled from `connection`,
`introspect`, `query` (+ `guard`, the engine's authorizer) and `executor`; `segments` holds the
validator's reader.

The package itself imports nothing: `dialect` (the language facts) needs no driver, and the
registry imports `backend` (and so the driver) only for a URL of this database.
"""
