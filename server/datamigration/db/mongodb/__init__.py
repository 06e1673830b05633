"""MongoDB: everything the product knows about it, in one package.

`backend.MongoBackend` (registered for mongodb:// URLs) introspects with `sample` (raw BSON
field statistics) and answers read-only queries checked by `guard` against the allow-list of
`operators`; `segments` holds the validator's reader and `throwaway` the rehearsal's copies.
Importing the package registers the backend.
"""

from datamigration.db.mongodb.backend import MongoBackend

__all__ = ["MongoBackend"]
