"""The move engine, part 2: change data capture, applying changes, shadow reads and cutover.

The change shape is `db/change_events.py` (Debezium's envelope), produced by the captures
that live with each database (`db/capture.py`); `apply` writes changes to the target
idempotently in commit order.
"""
