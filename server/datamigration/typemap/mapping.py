"""Type mapping between PostgreSQL, MySQL/MariaDB, SQLite and MongoDB, lossless by default.

Two questions, one answer source:

* `map_type(source, "mysql")` - which target type should a source column get? The chosen type
  keeps nullability, integer and float width, decimal precision/scale and time zone semantics;
  where the target dialect has no type that does, the result says ``lossless=False`` and why.
* `equivalent(src, dst)` - does an existing target column keep the source's values and meaning?
  The validator's schema-fidelity rule uses it (double precision == DOUBLE == REAL (SQLite) ==
  BSON double; real is not double; timestamptz is not timestamp; numeric(10,2) -> numeric(12,2)
  is a safe widening, the reverse is not).

A mapping is lossless exactly when `holds(target, source)`, so the table and the check agree.
The reference page docs/type-mapping.md is generated from `reference_rows()` by
`python -m datamigration.typemap.docs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from datamigration.db.dialect import dialect_of
from datamigration.errors import UserInputError
from datamigration.typemap.holds import holds
from datamigration.typemap.logical import Logical, normalize_dialect
from datamigration.typemap.parse import to_logical
from datamigration.typemap.targets import CHOOSERS


@dataclass(frozen=True)
class ColumnType:
    """A column's type in one dialect: spelling, modifiers and nullability.

    `name` may be a bare name (``varchar``) with `length` etc. beside it, or a full spelling
    (``character varying(50)``, ``int(10) unsigned``, ``timestamp(3) with time zone``). For
    MongoDB, `name` is a BSON type alias (``long``, ``decimal``, ``objectId``) and `nullable`
    False means "required and never null" (enforced with a $jsonSchema validator).
    """

    dialect: str
    name: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    enum_values: tuple[str, ...] = ()
    array_dims: int = 0
    identity: bool = False
    element: ColumnType | None = None  # element type of a MongoDB array, when known

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "dialect", normalize_dialect(self.dialect))
        except ValueError as exc:
            raise UserInputError(
                str(exc), hint="Use postgresql, mysql, sqlite or mongodb."
            ) from None

    @classmethod
    def parse(cls, dialect: str, spelling: str, *, nullable: bool = True, **kw: Any) -> ColumnType:
        return cls(dialect, spelling, nullable=nullable, **kw)

    @classmethod
    def from_column(cls, column: Any, dialect: str) -> ColumnType:
        """From a `model.Column` (or anything with its attribute names)."""
        spelling = getattr(column, "data_type", None) or getattr(column, "type_name", "")
        return cls(
            dialect,
            spelling,
            length=getattr(column, "length", None),
            precision=getattr(column, "precision", None),
            scale=getattr(column, "scale", None),
            nullable=bool(getattr(column, "nullable", True)),
            enum_values=tuple(getattr(column, "enum_values", None) or ()),
            array_dims=int(getattr(column, "array_dims", 0) or 0),
            identity=bool(getattr(column, "identity", None)),
        )

    @classmethod
    def from_field(cls, stat: Any, sampled: int) -> ColumnType:
        """From a sampled MongoDB field (`model.FieldStat`): its common BSON type.

        The field is NOT NULL only when every sampled document had it with a non-null value.
        A field whose types have no common BSON type becomes ``mixed`` (maps lossy everywhere).
        """
        types = dict(getattr(stat, "types", {}) or {})
        common, _ = common_bson_type(types)
        nulls = types.get("null", 0)
        required = sampled > 0 and getattr(stat, "count", 0) >= sampled and nulls == 0
        return cls("mongodb", common or "mixed", nullable=not required)

    def logical(self) -> Logical:
        base = to_logical(
            self.dialect,
            self.name,
            length=self.length,
            precision=self.precision,
            scale=self.scale,
            enum_values=self.enum_values,
            array_dims=self.array_dims,
        )
        if base.kind == "array" and self.element is not None and base.element is None:
            from dataclasses import replace

            base = replace(base, element=self.element.logical())
        return base

    def render(self) -> str:
        """The spelling with modifiers given beside the name folded in (``varchar(50)``)."""
        text = self.name
        if "(" not in text:
            if self.precision is not None and self.scale is not None:
                text = f"{text}({self.precision},{self.scale})"
            elif self.length is not None:
                text = f"{text}({self.length})"
            elif self.precision is not None:
                text = f"{text}({self.precision})"
        if self.element is not None:
            text = f"{text}<{self.element.render()}>"
        return text + "[]" * self.array_dims

    def describe(self) -> str:
        return f"{self.dialect} {self.render()}{'' if self.nullable else ' NOT NULL'}"


@dataclass(frozen=True)
class TypeMapping:
    """The target type chosen for a source type, and whether it keeps everything."""

    source: ColumnType
    target: ColumnType
    lossless: bool
    reason: str = ""  # why not lossless
    notes: tuple[str, ...] = field(default_factory=tuple)

    def json_schema(self) -> dict[str, Any]:
        """$jsonSchema fragment that enforces a MongoDB target (type, null, enum labels)."""
        if not dialect_of(self.target.dialect).documents:
            raise UserInputError("json_schema() applies to MongoDB targets only")
        types = [self.target.name] + ([] if not self.target.nullable else ["null"])
        out: dict[str, Any] = {"bsonType": types if len(types) > 1 else types[0]}
        if self.source.enum_values or self.source.logical().kind == "enum":
            out["enum"] = list(self.source.logical().values) + (
                [None] if self.target.nullable else []
            )
        return out


class Verdict(NamedTuple):
    """Result of `equivalent`: unpacks as ``ok, reason``. When ok, `reason` lists caveats."""

    ok: bool
    reason: str


def _as_type(obj: Any, dialect: str | None) -> ColumnType:
    if isinstance(obj, ColumnType):
        return obj
    if dialect is None:
        raise UserInputError(
            f"cannot tell the dialect of {obj!r}",
            hint="Pass a ColumnType, or the dialect of a model Column.",
        )
    if hasattr(obj, "types") and hasattr(obj, "path"):
        raise UserInputError(
            "a sampled MongoDB field needs its sample size",
            hint="Use ColumnType.from_field(field, sampled).",
        )
    return ColumnType.from_column(obj, dialect)


def map_type(
    source: ColumnType | Any, target_dialect: str, *, source_dialect: str | None = None
) -> TypeMapping:
    """Choose the target type for `source` in `target_dialect` and say whether it is lossless."""
    src = _as_type(source, source_dialect)
    tgt_dialect = normalize_dialect(target_dialect)
    logical = src.logical()
    spelling, notes = CHOOSERS[tgt_dialect](logical, src.identity)
    element: ColumnType | None = None
    documents = dialect_of(tgt_dialect).documents
    if documents and logical.kind == "array" and logical.element is not None:
        element = _element_mapping(logical.element, src.dialect, tgt_dialect).target
    target = ColumnType(
        tgt_dialect,
        spelling,
        nullable=src.nullable,  # NOT NULL always survives: every dialect can enforce it
        enum_values=logical.values if logical.kind in ("enum", "set") else (),
        identity=src.identity,
        element=element,
    )
    verdict = holds(target.logical(), logical)
    all_notes = tuple(dict.fromkeys((*notes, *verdict.notes)))
    if documents and not src.nullable:
        all_notes += ("NOT NULL is enforced by a $jsonSchema validator (required, no null)",)
    return TypeMapping(src, target, verdict.ok, verdict.reason, all_notes)


def _element_mapping(element: Logical, dialect: str, store: str) -> TypeMapping:
    """Map an array's element to its type in the document store `store` (arrays in MongoDB
    carry typed elements)."""
    spelling, notes = CHOOSERS[store](element, False)
    target = ColumnType(store, spelling)
    v = holds(target.logical(), element)
    return TypeMapping(ColumnType(dialect, element.name or element.kind), target, v.ok, v.reason,
                       notes)  # fmt: skip


def equivalent(
    src: ColumnType | Any,
    dst: ColumnType | Any,
    *,
    src_dialect: str | None = None,
    dst_dialect: str | None = None,
) -> Verdict:
    """Does `dst` keep every value, the nullability and the meaning of `src`?"""
    s = _as_type(src, src_dialect)
    d = _as_type(dst, dst_dialect)
    if not s.nullable and d.nullable:
        return Verdict(False, "NOT NULL dropped: the target accepts NULL where the source did not")
    if s.nullable and not d.nullable:
        return Verdict(False, "the target is NOT NULL but the source allows NULL")
    v = holds(d.logical(), s.logical())
    if not v.ok:
        return Verdict(False, v.reason)
    return Verdict(True, "; ".join(v.notes))


_NUMERIC_ORDER = ("int", "long", "decimal")


def common_bson_type(types: Iterable[str] | dict[str, int]) -> tuple[str | None, str]:
    """One BSON type that holds every value of a field seen with several, or None and why.

    int+long -> long; int+double -> double (every int32 is exact in a double); long or decimal
    mixed with double -> decimal (a long is not exact in a double; decimal128 holds both).
    ``null`` is ignored here (it makes the field nullable, not a different type).
    """
    seen = {t for t in types if t != "null"}
    if not seen:
        return "null", ""
    if len(seen) == 1:
        return next(iter(seen)), ""
    numeric = {"int", "long", "double", "decimal"}
    if seen <= numeric:
        if "double" in seen and seen & {"long", "decimal"}:
            return "decimal", ""
        if "double" in seen:
            return "double", ""
        return max(seen, key=_NUMERIC_ORDER.index), ""
    names = ", ".join(sorted(seen))
    return (
        None,
        (
            f"the field holds values of several types ({names}); no single column type "
            "keeps them all: clean the data or store it as JSON"
        ),
    )
