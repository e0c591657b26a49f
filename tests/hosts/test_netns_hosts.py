"""The test hosts themselves: a real sshd per namespace, reachable only over its veth."""

from __future__ import annotations

import subprocess

import asyncssh

from tests.support.netns import SshHost


async def test_each_test_host_runs_its_own_sshd_that_accepts_an_authorized_key(
    ssh_hosts: list[SshHost],
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    seen = set()
    for host in ssh_hosts:
        host.authorize(key.export_public_key().decode())
        async with asyncssh.connect(
            host.addr, port=host.port, username="root", client_keys=[key], known_hosts=None
        ) as conn:
            assert (
                conn.get_server_host_key()
                .export_public_key()
                .decode()
                .startswith(host.public_host_key())
            )
            done = await conn.run("ip -4 -o addr", check=True)
            assert host.addr in str(done.stdout)
            seen.add(host.netns)
    assert len(seen) == 2


def test_a_killed_sshd_stops_listening_and_a_restarted_one_serves_its_new_key(
    ssh_host: SshHost,
) -> None:
    old = ssh_host.public_host_key()
    ssh_host.stop()
    probe = subprocess.run(
        ["ip", "netns", "exec", ssh_host.netns, "ss", "-ltn"], capture_output=True, text=True
    )
    assert f"{ssh_host.addr}:{ssh_host.port}" not in probe.stdout
    new = ssh_host.new_host_key()
    ssh_host.start()
    assert new != old
