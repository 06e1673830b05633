"""The move engine, part 2: change data capture, applying changes, shadow reads and cutover.

`events` is the one change shape (Debezium's envelope); captures live with each database
(`db/capture.py`); `apply` writes changes to the target idempotently in commit order.
"""
