"""``hyperhive host …`` against a real daemon and a real sshd, in text and --json form."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncssh
import pytest

from hyperhive import __version__
from hyperhive.core.settings import Settings
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess
from tests.support.netns import SshHost


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    d = DaemonProcess(settings)
    await d.start()
    yield d
    d.stop()


async def test_host_add_list_drain_and_remove_in_json(
    daemon: DaemonProcess, ssh_host: SshHost
) -> None:
    s = daemon.settings
    key = cli_json(s, "host", "key")["client_key"]
    ssh_host.authorize(key)
    added = cli_json(s, "host", "add", "alpha", ssh_host.url)
    assert set(added) == {"host", "fingerprint", "client_key"}
    expected = asyncssh.import_public_key(ssh_host.public_host_key()).get_fingerprint()
    assert added["fingerprint"] == expected
    assert added["client_key"] == key
    assert added["host"]["state"] == "reachable"

    hosts = cli_json(s, "host", "list")
    assert [h["name"] for h in hosts] == ["alpha", "local"]
    alpha = hosts[0]
    assert set(alpha) >= {
        "name", "url", "state", "reason", "drained", "agents", "free_memory", "version",
        "fingerprint",
    }  # fmt: skip
    assert (alpha["state"], alpha["version"], alpha["url"]) == (
        "reachable",
        __version__,
        ssh_host.url,
    )
    assert isinstance(alpha["free_memory"], int) and alpha["free_memory"] > 0
    assert hosts[1]["agents"] == ["manager"]

    assert cli_json(s, "host", "drain", "alpha")["drained"] is True
    text = cli(s, "host", "list").stdout.splitlines()
    assert text[0].split()[:6] == ["NAME", "URL", "STATE", "AGENTS", "FREE", "VERSION"]
    assert "reachable, drained" in text[1]
    assert cli_json(s, "host", "undrain", "alpha")["drained"] is False
    assert cli_json(s, "host", "remove", "alpha") == {"removed": "alpha"}
    assert [h["name"] for h in cli_json(s, "host", "list")] == ["local"]


async def test_host_add_in_text_shows_the_fingerprint_and_the_key_to_install(
    daemon: DaemonProcess, ssh_host: SshHost
) -> None:
    out = cli(daemon.settings, "host", "add", "alpha", ssh_host.url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("pinned host key SHA256:")
    assert lines[1].startswith("alpha: unreachable (") and "install it on the host" in lines[1]
    assert lines[-1].startswith("ssh-ed25519 ")


async def test_host_mistakes_fail_with_one_clear_line_and_a_json_error(
    daemon: DaemonProcess,
) -> None:
    s = daemon.settings
    done = cli(s, "host", "remove", "local")
    assert done.returncode == 1
    assert done.stderr == "hyperhive host: the host local cannot be removed\n"
    done = cli(s, "host", "add", "beta", "ssh://root:pw@10.0.0.1", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "invalid_input"
    done = cli(s, "host", "drain", "ghost")
    assert "no host named 'ghost'" in done.stderr


async def test_a_viewer_session_cannot_change_hosts(
    daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPERHIVE_ROLE", "viewer")
    done = cli(daemon.settings, "host", "drain", "local")
    assert done.returncode == 1 and "viewer" in done.stderr
    assert [h["name"] for h in cli_json(daemon.settings, "host", "list")] == ["local"]
