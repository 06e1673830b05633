"""The type map: what a column type means in each database and which type keeps it elsewhere.

A package of its own, outside `db/`, because it is pure knowledge about types with no
connection behind it: the validator's schema-fidelity rule uses it today and the move engine
will choose target columns with it. It imports no database driver (a house-rule test checks).

`mapping` holds the public API re-exported below; `logical` is a type's meaning, `parse` reads
each dialect's spelling into it, `targets` picks a dialect's preferred spelling, `holds` decides
containment, and `docs` generates docs/type-mapping.md.
"""

from datamigration.typemap.mapping import (
    ColumnType,
    TypeMapping,
    Verdict,
    common_bson_type,
    equivalent,
    map_type,
)

__all__ = [
    "ColumnType",
    "TypeMapping",
    "Verdict",
    "common_bson_type",
    "equivalent",
    "map_type",
]
