"""Backups proven restorable: take (dump + checksums + restore test), verify, list, and the
executor's check that a verified backup covers a step that can lose data (`gate`)."""
