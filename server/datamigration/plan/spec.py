"""Change specs: read, check against the JSON Schema, and turn into a `ChangeSpec`.

The assistant writes the spec ("rename users.email to email_address" becomes
``{"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}``);
the schema check happens before anything connects to a database, so a typo is reported with
the field at fault and nothing else runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datamigration.errors import NotFoundError
from datamigration.plan.model import ChangeSpec
from datamigration.plan.schemas import check
from datamigration.safeload import check_depth, load_json, require_object

SPEC_HINT = (
    "Fix the spec (schemas/change-spec.schema.json lists every kind and field), e.g. "
    '{"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}'
)


def parse_spec(data: Mapping[str, Any], source: str = "spec") -> ChangeSpec:
    # A file or a tool argument may hold anything: an array, a string, 10,000 nested objects.
    require_object(data, source=source, hint=SPEC_HINT, what="a change spec (a JSON object)")
    check_depth(data, source=source, hint=SPEC_HINT)
    check(dict(data), "change-spec", source=source, hint=SPEC_HINT)
    return ChangeSpec.from_dict(data)


def load_spec(path: Path) -> ChangeSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"spec file not found: {path}", hint=SPEC_HINT) from None
    data = load_json(text, source=path.name, hint="Fix the JSON at the line shown. " + SPEC_HINT)
    return parse_spec(data, path.name)


def describe(spec: ChangeSpec) -> str:
    """A one-line title for a spec, used when the spec has none."""
    t, g = spec.table, spec.get
    k = spec.kind
    texts = {
        "add_column": lambda: f"add {t}.{g('column')} {g('type')}",
        "drop_column": lambda: f"drop {t}.{g('column')}",
        "rename_column": lambda: f"rename {t}.{g('column')} to {g('new_name')}",
        "change_type": lambda: f"change {t}.{g('column')} to {g('type')}",
        "set_not_null": lambda: f"make {t}.{g('column')} NOT NULL",
        "add_unique": lambda: f"unique {t}({', '.join(g('columns'))})",
        "add_foreign_key": lambda: (
            f"foreign key {t}({', '.join(g('columns'))}) to {g('ref_table')}"
        ),
        "add_check": lambda: f"check on {t}",
        "add_index": lambda: f"index {t}({', '.join(g('columns'))})",
        "drop_index": lambda: f"drop index {g('name')}",
        "rename_table": lambda: f"rename table {t} to {g('new_name')}",
        "split_table": lambda: f"split {', '.join(g('columns'))} of {t} into {g('new_table')}",
        "merge_tables": lambda: f"merge {g('from_table')} into {t}",
        "backfill": lambda: f"backfill {t}",
        "raw_sql": lambda: "raw SQL",
        "move_table": lambda: f"move {t} to {g('target')}",
    }
    return spec.title or texts.get(k, lambda: k)()
