# Renders agent.toml files the way an agent container does: fromTOML, agent-toml.nix,
# then render-etc.nix and harness-env.nix. `files` is a JSON list of absolute paths.
# Used by test_render_etc.py: one evaluation for many configs.
{
  files,
  role ? "agent",
}:
let
  lib = import ./lib.nix;
  render =
    file:
    let
      cfg = import ../../nix/agent-toml.nix (builtins.fromTOML (builtins.readFile file)) // {
        agentName = if role == "manager" then "manager" else "alice";
        inherit role;
      };
    in
    {
      etc = import ../../nix/render-etc.nix { inherit lib cfg; };
      env = import ../../nix/harness-env.nix { inherit lib cfg; };
    };
in
map render (builtins.fromJSON files)
