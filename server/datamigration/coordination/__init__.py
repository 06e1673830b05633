"""AgileFlow coordination files: status.json, the agent bus, ADRs and the expertise file.

Each module owns one file format; all writes go through the lock-file convention in `locking`.
The lowest layer (where the files are, the harness rule) is re-exported here; a validation is
recorded with `status.record_validation`, which sits above the harness rule it feeds.
"""

from datamigration.coordination.harness import check_review_gate
from datamigration.coordination.paths import CoordinationPaths, coordination_paths

__all__ = ["CoordinationPaths", "check_review_gate", "coordination_paths"]
