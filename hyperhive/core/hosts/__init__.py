"""Hosts: the machines agents run on, reached over SSH with pinned host keys.

- `target`: host names and ``ssh://USER@ADDR[:PORT]`` urls.
- `keys`: the daemon's client key (``<state>/ssh/hosts_client_ed25519``) and fingerprints.
- `link`: `HostLink`, one kept-open connection per host (the contract remote runtimes use).
- `service`: `Hosts`, the registry the `Hive` owns (add, list, drain, remove).

Import from the modules: this package re-exports nothing, so that validating an
``agent.toml`` (`target`) never loads the SSH stack into an agent's harness.
"""
