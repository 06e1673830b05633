"""AG-DATAMIGRATION: plan, execute, validate and roll back zero-downtime data migrations.

The package is split into engines (workspace, coordination, db, lint, plan, execute, move,
validate, safety) and two thin faces over them: the MCP server (`datamigration.mcp`) and the CLI
(`datamigration.cli`). Engines never import either face.
"""

__version__ = "0.1.0"
AGENT_NAME = "AG-DATAMIGRATION"
