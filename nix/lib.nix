# Helpers the daemon's generated meta flake calls (flake output `lib`).
#
# mkAgent builds the NixOS system of one agent container from the files of its applied
# repo, copied by the nixos runtime to <state>/meta/agents/<name>/:
#
#   nixosConfigurations."h-alice" = hyperhive.lib.mkAgent {
#     name = "alice";
#     role = "agent";
#     system = "x86_64-linux";
#     host = "myhost";                      # the daemon's host name
#     agentToml = ./agents/alice/agent.toml;
#     agentNix = ./agents/alice/agent.nix;
#     prompt = ./agents/alice/prompt.md;    # or null
#     script = null;                        # scripted driver: ./agents/alice/<script>
#   };
#
# agent.toml sets the hyperhive.* options at mkDefault priority, so agent.nix may
# override any of them; the rest of agent.nix is ordinary NixOS configuration. The
# module list is nix/agent-modules.nix (tests evaluate it without nixpkgs).
{ nixpkgs, self }:
let
  inherit (nixpkgs) lib;
in
{
  mkAgent =
    { extraModules ? [ ], ... }@args:
    lib.nixosSystem {
      modules =
        import ./agent-modules.nix (
          removeAttrs args [ "extraModules" ]
          // {
            inherit lib;
            harnessBase = self.nixosModules.harness-base;
          }
        )
        ++ extraModules;
    };

  # The pure renderers, for anyone who wants the policy files without a system.
  renderEtc = import ./render-etc.nix;
  harnessEnv = import ./harness-env.nix;
  agentToml = import ./agent-toml.nix;
  agentModules = import ./agent-modules.nix;
}
