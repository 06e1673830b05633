"""MCP tool modules, one per engine; each exposes `register(server, runtime)`."""
