"""MariaDB and MySQL: everything the product knows about them, in one package.

`backend.MySQLBackend` (registered for mysql:// and mariadb:// URLs) is assembled from
`connection`, `introspect`, `query` (+ `guard`, the sqlglot-based allow-list) and `executor`;
`segments` holds the validator's reader. Importing the package registers the backend.
"""

from datamigration.db.mysql.backend import MySQLBackend

__all__ = ["MySQLBackend"]
