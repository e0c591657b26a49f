"""A thin stdio relay to the MCP server in the harness: what the agent CLI starts every turn.

The agent CLI spawns its MCP servers at every turn, and importing the MCP SDK costs about
a second, so the server lives in the long-lived harness (`hyperhive.agent.mcp_server`)
on a private unix socket, and this relay only copies bytes between stdin/stdout and that
socket. It imports nothing but the standard library's socket layer, so it is ready in
tens of milliseconds. When the socket does not answer (no harness runs), it falls back
to serving the tools itself on stdio.

Usage: ``python -m hyperhive.agent.mcp_relay [--socket PATH]`` (default
``$HYPERHIVE_MCP_SOCKET``).
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

ENV_MCP_SOCKET = "HYPERHIVE_MCP_SOCKET"
_CHUNK = 256 * 1024


def connect(path: str) -> socket.socket | None:
    """A connection to the harness's MCP socket, or None when nothing listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def pump(sock: socket.socket, stdin: int = 0, stdout: int = 1) -> int:
    """Copy stdin → socket and socket → stdout until the server side hangs up."""
    # poll, not epoll: epoll refuses regular files, and stdin may be one
    sel = selectors.PollSelector()
    sel.register(stdin, selectors.EVENT_READ, "in")
    sel.register(sock, selectors.EVENT_READ, "sock")
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "in":
                    data = os.read(stdin, _CHUNK)
                    if not data:
                        # the client is done: let the server finish its replies, then end
                        sel.unregister(stdin)
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    sock.sendall(data)
                else:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return 0
                    view = memoryview(data)
                    while view:
                        view = view[os.write(stdout, view) :]
    except (BrokenPipeError, ConnectionResetError):
        return 0
    finally:
        sel.close()
        sock.close()


def main(argv: list[str] | None = None) -> int:
    """Relay to the harness, or serve the tools directly when it is not there."""
    args = sys.argv[1:] if argv is None else argv
    path = os.environ.get(ENV_MCP_SOCKET, "")
    if len(args) >= 2 and args[0] == "--socket":
        path = args[1]
    elif args:
        print("usage: python -m hyperhive.agent.mcp_relay [--socket PATH]", file=sys.stderr)
        return 2
    sock = connect(path) if path else None
    if sock is not None:
        return pump(sock)
    if path:
        print(
            f"hyperhive mcp: no harness answers on {path}; serving the tools directly",
            file=sys.stderr,
        )
    from hyperhive.agent.mcp_server import main as serve

    return serve()


if __name__ == "__main__":
    sys.exit(main())
