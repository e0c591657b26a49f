# Extra NixOS configuration of the manager's container (hm1nd, nixos runtime only).
# The manager edits every agent's proposed repo under /agents/<name>/config and
# proposes each change as a commit; it needs git, and little else.
{ pkgs, ... }:
{
  environment.systemPackages = with pkgs; [ git ripgrep diffutils ];
}
