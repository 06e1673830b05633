"""AgileFlow coordination files: status.json, the agent bus, ADRs and the expertise file.

Each module owns one file format; all writes go through the lock-file convention in `locking`.
The functions other engines call most are re-exported here.
"""

from datamigration.coordination.harness import check_review_gate, record_validation
from datamigration.coordination.paths import CoordinationPaths, coordination_paths

__all__ = ["CoordinationPaths", "check_review_gate", "coordination_paths", "record_validation"]
