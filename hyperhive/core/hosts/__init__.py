"""Hosts: the machines agents run on, reached over SSH with pinned host keys.

- `target`: host names and ``ssh://USER@ADDR[:PORT]`` urls.
- `keys`: the daemon's client key (``<state>/ssh/hosts_client_ed25519``) and fingerprints.
- `link`: `HostLink`, one kept-open connection per host (the contract remote runtimes use).
- `service`: `Hosts`, the registry the `Hive` owns (add, list, drain, remove).
"""

from hyperhive.core.hosts.link import Backoff, HostLink, HostUnavailable, LinkOptions, LinkState
from hyperhive.core.hosts.service import Hosts
from hyperhive.core.hosts.target import LOCAL, SshTarget, parse_url, validate_host_name

__all__ = [
    "LOCAL",
    "Backoff",
    "HostLink",
    "HostUnavailable",
    "Hosts",
    "LinkOptions",
    "LinkState",
    "SshTarget",
    "parse_url",
    "validate_host_name",
]
