"""RPC methods of the host registry: add, list, drain, undrain, remove, the client key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.protocol import Caller, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    hosts = hive.hosts

    @reg.method(
        "hosts.add",
        Scope.HOST,
        decides=True,
        name=p(str),
        url=p(str),
        fingerprint=p(str, None, default=None),
    )
    async def add(caller: Caller, name: str, url: str, fingerprint: str | None) -> Any:
        """Register a host; its host key is pinned on this first contact."""
        return await hosts.add(name, url, by=caller.actor, expect=fingerprint)

    @reg.method("hosts.list", Scope.HOST)
    async def list_(caller: Caller) -> Any:
        """Every host: state, agents, free memory, hyperhive version."""
        return {"hosts": await hosts.list()}

    @reg.method("hosts.remove", Scope.HOST, decides=True, name=p(str))
    async def remove(caller: Caller, name: str) -> Any:
        """Forget a host (refused while agents are placed there)."""
        await hosts.remove(name, by=caller.actor)
        return {"removed": name}

    @reg.method("hosts.drain", Scope.HOST, decides=True, name=p(str))
    async def drain(caller: Caller, name: str) -> Any:
        """No new agents are placed on the host."""
        return await hosts.set_drained(name, True, by=caller.actor)

    @reg.method("hosts.undrain", Scope.HOST, decides=True, name=p(str))
    async def undrain(caller: Caller, name: str) -> Any:
        """New agents may be placed on the host again."""
        return await hosts.set_drained(name, False, by=caller.actor)

    @reg.method("hosts.client_key", Scope.HOST)
    async def client_key(caller: Caller) -> Any:
        """The daemon's public key, to install in a host's authorized_keys."""
        return {"client_key": hosts.client_public_key()}
