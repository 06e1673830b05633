"""`datamigration demo`: the whole product on the embedded SQLite default, nothing else needed.

With `--db postgresql://...` the same story runs on a PostgreSQL server, in a database (or
schema) the demo creates there and drops afterwards (demo/targets.py, demo/postgres.py).
The demo builds a fresh workspace with a sample application database and walks through what
AG-DATAMIGRATION does with it, calling the same engines the MCP tools and the CLI call. It is
both the first thing a new user runs and a living check that the engines fit together.

Entry point: `runner.run_demo`. The steps get a `context.DemoContext` and return
`context.Done`; they never import the runner, which imports them.
"""
