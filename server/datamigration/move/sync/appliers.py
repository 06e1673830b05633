"""The applier of a target: SQL statements (`apply`) or documents through the mapping
(`apply_documents`), chosen by what the target is, never by its name."""

from __future__ import annotations

from typing import Any

from datamigration.move.sync.apply import SQLApplier
from datamigration.move.sync.apply_documents import DocumentApplier


def applier_for(target: Any, store: Any, **mapped: Any) -> Any:
    if target.documents:
        return DocumentApplier(target, store, **mapped)
    return SQLApplier(target, store)
