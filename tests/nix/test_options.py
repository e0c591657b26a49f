"""Every option of services.hyperhive and hyperhive.* takes its documented example and
refuses a value of the wrong type with the real module system's own message."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.nix.conftest import NixError, NixEval, system_expr

# the module under test and the least config its options need to evaluate
MODULES = {
    "host": "./nix/module.nix { services.hyperhive.package = pkgs.hyperhive; }",
    "agent": "./nix/harness-base.nix "
    '{ hyperhive = { agentName = "alice"; package = pkgs.hyperhive; }; }',
}
SCOPE = {"host": ["services", "hyperhive"], "agent": ["hyperhive"]}

# every option, with its type, its example (unless it is a literalExpression) and a
# value its type refuses: the first of 42 and "Not Valid!" that `type.check` rejects
DESCRIBE = """
  let
    scope = lib.attrByPath {scope} {{ }} options;
    visible = lib.filter (o: o.visible or true == true) (lib.collect lib.isOption scope);
    plain = o: o ? example && !(builtins.isAttrs o.example && o.example ? _type);
    bad = o: lib.findFirst (v: !(o.type.check v)) null [ 42 "Not Valid!" ];
  in map (o: {{
    name = lib.showOption o.loc;
    inherit (o) loc;
    type = o.type.description;
    hasExample = plain o;
    example = if plain o then o.example else null;
    bad = bad o;
  }}) visible
"""


def _options(nix_eval: NixEval, module: str) -> list[dict[str, Any]]:
    modules = MODULES[module]
    scope = "[ " + " ".join(f'"{part}"' for part in SCOPE[module]) + " ]"
    return nix_eval(system_expr(modules, DESCRIBE.format(scope=scope), check=False))  # type: ignore[no-any-return]


def _set(loc: list[str], value: str) -> str:
    return "{ " + ".".join(f'"{part}"' for part in loc) + f" = {value}; }}"


def _force(loc: list[str]) -> str:
    path = "[ " + " ".join(f'"{part}"' for part in loc) + " ]"
    return f"builtins.deepSeq (lib.attrByPath {path} null config) true"


def _nix(value: Any) -> str:
    """A JSON value as a nix expression."""
    return f"(builtins.fromJSON {json.dumps(json.dumps(value))})"


def test_the_option_lists_are_what_the_modules_declare(nix_eval: NixEval) -> None:
    host = {o["name"] for o in _options(nix_eval, "host")}
    agent = {o["name"] for o in _options(nix_eval, "agent")}
    assert {"services.hyperhive.enable", "services.hyperhive.ssh.authorizedKeysFile"} <= host
    assert {
        "hyperhive.gitName",
        "hyperhive.gitEmail",
        "hyperhive.claudeBin",
        "hyperhive.extraMcpServers",
    } <= agent
    # the old names are aliases, not documented options
    assert "hyperhive.gitIdentity.name" not in agent
    assert len(host) == 12 and len(agent) == 18


@pytest.mark.parametrize("module", ["host", "agent"])
def test_every_option_takes_its_documented_example(nix_eval: NixEval, module: str) -> None:
    modules = MODULES[module]
    options = [o for o in _options(nix_eval, module) if o["hasExample"]]
    assert len(options) >= 5
    # one module per example, all in one evaluation, each value forced through its type
    examples = " ".join(_set(o["loc"], _nix(o["example"])) for o in options)
    forced = " ".join(f"({_force(o['loc'])})" for o in options)
    # (types only: the examples together need not make a sensible system)
    got = nix_eval(system_expr(f"{modules} {examples}", f"[ {forced} ]", check=False))
    assert got == [True] * len(options)


@pytest.mark.parametrize("module", ["host", "agent"])
def test_every_option_refuses_a_wrong_type_with_the_module_systems_message(
    nix_eval: NixEval, module: str
) -> None:
    modules = MODULES[module]
    options = _options(nix_eval, module)
    assert all(o["bad"] is not None for o in options), options

    def refusal(option: dict[str, Any]) -> str:
        bad = _set(option["loc"], _nix(option["bad"]))
        try:
            nix_eval(system_expr(f"{modules} {bad}", _force(option["loc"]), check=False))
        except NixError as exc:
            return str(exc)
        return "accepted"

    with ThreadPoolExecutor(2) as pool:
        messages = list(pool.map(refusal, options))
    for option, message in zip(options, messages, strict=True):
        want = f"A definition for option `{option['name']}' is not of type `{option['type']}'"
        assert want in message, (option, message)


def test_a_settings_value_toml_cannot_hold_is_refused(nix_eval: NixEval) -> None:
    modules = MODULES["host"]
    expr = system_expr(
        f"{modules} {{ services.hyperhive.settings.limits.message_body_bytes = x: x; }}",
        _force(["services", "hyperhive", "settings"]),
        check=False,
    )
    with pytest.raises(NixError) as caught:
        nix_eval(expr)
    assert re.search(
        r"A definition for option `services\.hyperhive\.settings\.limits\.message_body_bytes' "
        r"is not of type `TOML value'",
        str(caught.value),
    )


def test_an_undefined_option_is_an_error_not_a_silent_no_op(nix_eval: NixEval) -> None:
    modules = MODULES["agent"]
    expr = system_expr(
        f'{modules} {{ hyperhive.modle = "opus"; }}', _force(["hyperhive"]), check=False
    )
    with pytest.raises(NixError, match="The option `hyperhive.modle' does not exist"):
        nix_eval(expr)
