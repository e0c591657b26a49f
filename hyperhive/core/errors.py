"""The one error tree of hyperhive, mapped to replies and exit codes at the edges.

```
HyperhiveError(message, *, title="")   code "error"
├── NotFound                           code "not_found"      — no such agent, approval, question ...
├── InvalidInput                       code "invalid_input"  — a bad name, a bad sha, a bad param
├── Refused                            code "refused"        — valid input the current state forbids
│   └── Conflict                       code "conflict"       — someone else changed it first
├── ProtocolError                      code "protocol_error" — a malformed line on a socket
├── StoreError                         code "store_error"    — sqlite failed (disk full, read-only)
├── RepoError                          code "repo_error"     — a git operation failed
├── ContainerError                     code "container_error"— a runtime operation failed
├── CommandError                       code "command_error"  — a subprocess exited non-zero
└── DaemonUnavailable                  code "unavailable"    — no daemon answers on host.sock
```

Only the edges (CLI, protocol server, MCP tools, TUI) turn these into text; every
third-party exception is mapped at the boundary with ``raise X(...) from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence


class HyperhiveError(Exception):
    """Base of every error hyperhive raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, title: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.title = title

    def __str__(self) -> str:
        return self.message


class NotFound(HyperhiveError):
    """The named thing does not exist."""

    code = "not_found"


class InvalidInput(HyperhiveError):
    """The input is malformed: wrong type, wrong shape, out of range."""

    code = "invalid_input"


class Refused(HyperhiveError):
    """The input is well-formed, but the current state does not allow it."""

    code = "refused"


class Conflict(Refused):
    """Someone else changed the same thing first."""

    code = "conflict"


class ProtocolError(HyperhiveError):
    """A line on a socket is not a valid request."""

    code = "protocol_error"


class StoreError(HyperhiveError):
    """The database could not do what was asked (disk full, read-only, corrupt)."""

    code = "store_error"


class RepoError(HyperhiveError):
    """A git repository operation failed."""

    code = "repo_error"


class ContainerError(HyperhiveError):
    """A runtime could not create, start, stop or reach a container."""

    code = "container_error"


class CommandError(HyperhiveError):
    """A subprocess exited non-zero."""

    code = "command_error"

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-3:]
        detail = ("; " + " / ".join(tail)) if tail else ""
        super().__init__(f"{argv[0] if argv else '?'} exited {returncode}{detail}")


class DaemonUnavailable(HyperhiveError):
    """No daemon is listening on the host socket."""

    code = "unavailable"


ERRORS_BY_CODE: dict[str, type[HyperhiveError]] = {
    cls.code: cls
    for cls in (
        HyperhiveError,
        NotFound,
        InvalidInput,
        Refused,
        Conflict,
        ProtocolError,
        StoreError,
        RepoError,
        ContainerError,
        DaemonUnavailable,
    )
}


def error_from_reply(code: str, message: str) -> HyperhiveError:
    """Rebuild the error a server replied with, for a client to raise."""
    cls = ERRORS_BY_CODE.get(code, HyperhiveError)
    return cls(message)
