"""`datamigration serve`: run the MCP server, over stdio by default or streamable HTTP on loopback.

stdout belongs to the protocol on stdio: logging goes to stderr, and the SDK's stdio transport
points fd 1 at stderr while serving, so a stray print in a tool or a child process cannot corrupt
the stream. HTTP binds 127.0.0.1 only: the server can read files and reach databases with the
user's rights, so it is never offered to the network (put an authenticating proxy in front if
that is ever wanted).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

import anyio

from datamigration.cli._common import workspace_of
from datamigration.errors import UserInputError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8765
MCP_PATH = "/mcp"

log = logging.getLogger("datamigration.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the MCP server (stdio by default; --http for streamable HTTP on 127.0.0.1)",
        description=(
            "Run the AG-DATAMIGRATION MCP server. stdio is what coding assistants launch; "
            "--http serves streamable HTTP on 127.0.0.1 only."
        ),
    )
    parser.add_argument(
        "--http", action="store_true", help=f"serve streamable HTTP at {LOOPBACK}:PORT{MCP_PATH}"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"HTTP port on {LOOPBACK} (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    # SUPPRESS: without a value here, the global `datamigration --workspace DIR serve` stands.
    parser.add_argument(
        "--workspace",
        default=argparse.SUPPRESS,
        help="workspace root (default: $DATAMIGRATION_WORKSPACE or the current directory)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level (default WARNING)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datamigration.mcp.app import build_server

    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    workspace = workspace_of(args)
    server = build_server(workspace)
    # MCPServer configures the root logger at INFO on construction; our level wins.
    logging.getLogger().setLevel(args.log_level)
    if not args.http:
        log.info("serving MCP over stdio for workspace %s", workspace.root)
        anyio.run(server.run_stdio_async)
        return 0
    return _serve_http(server, args.port, workspace.root, args.log_level)


def _serve_http(server, port: int, root, log_level: str) -> int:
    import uvicorn

    # Bind before announcing, so whoever reads the announcement can connect at once, and so
    # `--port 0` reports the port it really got.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserInputError(
            f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}",
            hint="Pick another --port, or --port 0 for a free one (printed on stderr).",
        ) from exc
    actual = sock.getsockname()[1]
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=LOOPBACK)
    config = uvicorn.Config(app, log_level=log_level.lower(), lifespan="on")
    print(
        f"datamigration: MCP over streamable HTTP at http://{LOOPBACK}:{actual}{MCP_PATH} "
        f"(workspace {root})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
