"""The safety engine, in one room: everything that keeps a run safe. Feature flags for gradual
rollout (flags.py, flag_eval.py), the throttle that slows a backfill while the database is
strained (throttle.py) and the rollback triggers a plan carries and the executor acts on
(triggers.py); backups and live monitors arrive with the next safety issue. No database driver
and no MCP import here: measurements reach a database through db/."""
