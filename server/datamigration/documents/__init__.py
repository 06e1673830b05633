"""What a MongoDB plan's document work means, apart from any connection.

A package of its own, below `plan/`, `execute/` and `db/mongodb/` alike, because all three need
it and none may need the others for it: `operations` names the document operations a plan may
hold and which run in keyset batches; `transform` is the vocabulary of the field transforms
(paths, the operators a plan may use, what an expression reads, how two values compare). It
imports no database driver: the part that builds BSON values (`$convert`) and the writes
themselves are the driver's, in `db/mongodb/transform.py` and `db/mongodb/operations.py`.
"""
