"""Host names and ssh urls are checked before anything connects."""

from __future__ import annotations

import pytest

from hyperhive.core.errors import InvalidInput
from hyperhive.core.hosts.target import SshTarget, parse_url, validate_host_name


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ssh://root@10.0.0.2", SshTarget("root", "10.0.0.2", 22)),
        ("ssh://hive@build-1.lan:2222", SshTarget("hive", "build-1.lan", 2222)),
        ("ssh://root@[fd00::2]:22", SshTarget("root", "fd00::2", 22)),
    ],
)
def test_an_ssh_url_names_the_user_the_address_and_the_port(url: str, target: SshTarget) -> None:
    assert parse_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "ssh://root:secret@10.0.0.2",  # no passwords
        "ssh://10.0.0.2",  # the user is required
        "http://root@10.0.0.2",
        "ssh://root@10.0.0.2/etc",
        "ssh://root@10.0.0.2?x=1",
        "ssh://root@-oProxyCommand=sh",  # never an option
        "ssh://-lroot@h",
        "ssh://root@h:0",
        "ssh://root@h:70000",
        "ssh://root@h:port",
        "ssh://root@bad_host",
        "ssh://röot@h",
        12,
    ],
)
def test_anything_but_ssh_user_at_address_port_is_refused(url: object) -> None:
    with pytest.raises(InvalidInput, match="ssh://USER@ADDR"):
        parse_url(url)


def test_the_url_a_target_shows_leaves_out_the_default_port() -> None:
    assert parse_url("ssh://root@h:22").url == "ssh://root@h"
    assert parse_url("ssh://root@[fd00::2]:2200").url == "ssh://root@[fd00::2]:2200"


@pytest.mark.parametrize("name", ["", "Alpha", "1st", "a" * 33, "a b", "a/b", "a.b"])
def test_a_host_name_is_a_short_lowercase_word(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_host_name(name)
    assert validate_host_name("build-1") == "build-1"
