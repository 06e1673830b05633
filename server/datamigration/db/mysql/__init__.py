"""MariaDB and MySQL: everything the product knows about them, in one package.

`backend.MySQLBackend` (registered for mysql:// and mariadb:// URLs) is assembled from
`connection`, `introspect`, `query` (+ `guard`, the sqlglot-based allow-list) and `executor`;
`segments` holds the validator's reader.

The package itself imports nothing: `dialect` (the language facts) needs no driver, and the
registry imports `backend` (and so the driver) only for a URL of this database.
"""
