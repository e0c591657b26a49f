# Extra NixOS configuration of this agent's container (used by the nixos runtime only).
# The portable settings live in agent.toml; a hyperhive.* option set here wins over it.
{ pkgs, ... }:
{
  # Tools the agent can run from its Bash tool:
  environment.systemPackages = with pkgs; [ git ripgrep ];

  # hyperhive.allowedBashPatterns = [ "git *" "rg *" ];
  # hyperhive.extraMcpServers.search = {
  #   command = "/run/current-system/sw/bin/search-mcp";
  #   allowedTools = [ "*" ];
  # };
}
