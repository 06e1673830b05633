"""The workspace: the one directory tree the server may touch, and the tools that touch it."""
