"""The executor: runs reviewed plans step by step with durable state, retries and rollback.

Entry points: `service.prepare(...)` (select steps, get the Action to confirm, run it) and
`service.run_status(...)`; see runner.py for how a run proceeds.
"""
