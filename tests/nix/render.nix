# Renders agent.toml files the way an agent container gets them: the module list of
# lib.mkAgent (nix/agent-modules.nix) evaluated by the real lib.evalModules over the
# NixOS stand-in, then /etc/hyperhive/* and the harness's environment read from the
# evaluated config. `files` is a JSON list of absolute paths (one evaluation for many).
# Used by test_render_etc.py.
{
  nixpkgsLib,
  files,
  role ? "agent",
}:
let
  lib = import nixpkgsLib;
  nixos = import ./nixos.nix { inherit lib; };
  name = if role == "manager" then "manager" else "alice";
  render =
    file:
    let
      system = nixos.eval (
        import ../../nix/agent-modules.nix {
          inherit lib name role;
          harnessBase = ../../nix/harness-base.nix;
          system = "x86_64-linux";
          agentToml = /. + file;
          agentNix = { };
        }
        ++ [ { hyperhive.package = nixos.pkgs.hyperhive; } ]
      );
      inherit (system) config;
      files = lib.filterAttrs (path: _: lib.hasPrefix "hyperhive/" path) config.environment.etc;
    in
    {
      etc = lib.mapAttrs' (path: file: lib.nameValuePair (lib.removePrefix "hyperhive/" path) file.text) files;
      env = removeAttrs config.systemd.services.hyperhive-harness.environment [
        "GIT_AUTHOR_NAME"
        "GIT_AUTHOR_EMAIL"
        "GIT_COMMITTER_NAME"
        "GIT_COMMITTER_EMAIL"
      ];
    };
in
map render (builtins.fromJSON files)
