"""Plan zero-downtime migrations: a change spec in, a reviewed, hashed plan out.

`model` holds the plain data the executor consumes; `spec` parses change specs; `planner`
chooses the pattern and builds the steps from the per-dialect generators (`ops_*`); `store`
keeps plans by id and content hash; `documents` and `frameworks_out` write what people review.
"""
