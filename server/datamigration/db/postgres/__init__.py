"""PostgreSQL: everything the product knows about it, in one package.

`backend.PostgresBackend` (registered for postgresql:// URLs) is assembled from `connection`,
`introspect`, `query` (+ `guard`, the parser-based allow-list), `executor` and `probes`;
`segments` holds the validator's readers. Importing the package registers the backend.
"""

from datamigration.db.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
