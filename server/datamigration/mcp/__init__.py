"""The MCP face: a thin adapter that exposes engine functions as tools, prompts and resources.

Nothing here decides anything about migrations; it parses arguments, calls one engine function
and shapes the result. Tool modules live in `datamigration.mcp.tools` and are discovered.
"""
