"""PostgreSQL: everything the product knows about it, in one package.

`backend.PostgresBackend` (registered for postgresql:// URLs) is assembled from `connection`,
`introspect`, `query` (+ `guard`, the parser-based allow-list), `executor` and `probes`;
`segments` holds the validator's readers.

The package itself imports nothing: `dialect` (the language facts) needs no driver, and the
registry imports `backend` (and so the driver) only for a URL of this database.
"""
