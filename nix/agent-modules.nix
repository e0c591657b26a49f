# The NixOS modules of one agent container: what lib.mkAgent hands to nixosSystem, on
# its own so that tests can evaluate it with lib.evalModules and no nixpkgs.
#
#   harnessBase   nix/harness-base.nix (the flake passes nixosModules.harness-base)
#   name, role    the agent on the broker ("manager" for the manager)
#   system        nixpkgs.hostPlatform
#   host          the daemon's host name (the default git email is <name>@<host>.hyperhive)
#   agentToml     agent.toml of the applied repo: sets hyperhive.* at mkDefault priority
#   agentNix      agent.nix of the applied repo: ordinary NixOS configuration, wins
#   prompt        prompt.md or null; script: the scripted driver's script or null
{
  lib,
  harnessBase,
  name,
  role ? "agent",
  system,
  host ? "localhost",
  agentToml,
  agentNix,
  prompt ? null,
  script ? null,
}:
let
  toml = builtins.fromTOML (builtins.readFile agentToml);
  fromToml = import ./agent-toml.nix toml;
  container = if role == "manager" then "hm1nd" else "h-${name}";
in
[
  harnessBase
  {
    nixpkgs.hostPlatform = system;
    networking.hostName = lib.mkDefault container;
    hyperhive = {
      agentName = name;
      inherit role;
      daemonHost = host;
      promptFile = prompt;
      scriptFile = script;
    }
    // lib.mapAttrs (_option: lib.mkDefault) fromToml;
  }
  agentNix
]
