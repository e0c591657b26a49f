"""What tests share, one home per helper.

- ``fixtures``: the shared fixtures (``swarm``, ``op``, ``manager``, ``daemon``, ``alice``,
  ``scripted_swarm``), loaded as a pytest plugin by ``tests/conftest.py``.
- ``swarm``: ``open_swarm`` (a served hive on the mini harness), real git, ``received``.
- ``daemon``: the real daemon in a subprocess; ``cli``: the real CLI, text and ``--json``.
- ``waiting``: ``wait_for`` a condition, ``next_named`` event; always bounded.
- ``harness``: an agent's harness in process (plain or on the Claude CLI) or as a process.
- ``mcp``: an MCP client session on the hyperhive MCP server, in memory.
- ``ssh``: OpenSSH keys and loopback ports; ``tmux``: a real terminal.
- ``shapes``: a reply checked against its TypedDict in ``hyperhive/core/replies.py``.
- ``runner``: ``FakeRunner``, a recording stand-in for ``core.runner.Runner``.
- ``mini_harness``, ``fake_anthropic``, ``claude_cli``: stand-ins at the process edge.
"""
