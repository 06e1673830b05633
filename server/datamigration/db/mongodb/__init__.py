"""MongoDB: everything the product knows about it, in one package.

`backend.MongoBackend` (registered for mongodb:// URLs) introspects with `sample` (raw BSON
field statistics) and answers read-only queries checked by `guard` against the allow-list of
`operators`; `segments` holds the validator's reader and `throwaway` the rehearsal's copies.

The package itself imports nothing: `dialect` (the language facts) needs no driver, and the
registry imports `backend` (and so the driver) only for a URL of this database.
"""
