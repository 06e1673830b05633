"""Safety nets around a migration: feature flags for gradual rollout (more to come: backups,
live metrics, rollback triggers)."""
