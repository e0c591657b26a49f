# Helpers the daemon's generated meta flake calls (flake output `lib`).
#
# mkAgent builds the NixOS system of one agent container from the files of its applied
# repo, copied by the nixos runtime to <state>/meta/agents/<name>/:
#
#   nixosConfigurations."h-alice" = hyperhive.lib.mkAgent {
#     name = "alice";
#     role = "agent";
#     system = "x86_64-linux";
#     agentToml = ./agents/alice/agent.toml;
#     agentNix = ./agents/alice/agent.nix;
#     prompt = ./agents/alice/prompt.md;    # or null
#     script = null;                        # scripted driver: ./agents/alice/<script>
#   };
#
# agent.toml sets the hyperhive.* options at mkDefault priority, so agent.nix may
# override any of them; the rest of agent.nix is ordinary NixOS configuration.
{ nixpkgs, self }:
let
  inherit (nixpkgs) lib;
in
{
  mkAgent =
    {
      name,
      role ? "agent",
      system,
      agentToml,
      agentNix,
      prompt ? null,
      script ? null,
      extraModules ? [ ],
    }:
    let
      toml = builtins.fromTOML (builtins.readFile agentToml);
      fromToml = import ./agent-toml.nix toml;
      container = if role == "manager" then "hm1nd" else "h-${name}";
    in
    lib.nixosSystem {
      modules = [
        self.nixosModules.harness-base
        {
          nixpkgs.hostPlatform = system;
          networking.hostName = lib.mkDefault container;
          hyperhive = {
            agentName = name;
            inherit role;
            promptFile = prompt;
            scriptFile = script;
          } // lib.mapAttrs (_option: lib.mkDefault) fromToml;
        }
        agentNix
      ] ++ extraModules;
    };

  # The pure renderers, for anyone who wants the policy files without a system.
  renderEtc = import ./render-etc.nix;
  harnessEnv = import ./harness-env.nix;
  agentToml = import ./agent-toml.nix;
}
