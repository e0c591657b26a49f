# `nix flake check`: the package builds, a host and an agent system evaluate and build,
# and the policy files NixOS writes are byte-identical to the Python rendering.
{
  self,
  nixpkgs,
  pkgs,
  system,
}:
let
  exampleToml = ../tests/nix/example-agent.toml;
  agent = self.lib.mkAgent {
    name = "alice";
    inherit system;
    agentToml = exampleToml;
    agentNix = ./templates/agent.nix;
    prompt = null;
  };
  etcFiles = [
    "send-allow.json"
    "bash-allow.json"
    "extra-mcp.json"
  ];
  renderedEtc = pkgs.linkFarm "hyperhive-etc" (
    map (file: {
      name = file;
      path = pkgs.writeText file agent.config.environment.etc."hyperhive/${file}".text;
    }) etcFiles
  );
  host = nixpkgs.lib.nixosSystem {
    modules = [
      self.nixosModules.default
      {
        nixpkgs.hostPlatform = system;
        boot.isContainer = true;
        boot.enableContainers = true;
        system.stateVersion = "25.05";
        services.hyperhive = {
          enable = true;
          ssh.enable = true;
          ssh.authorizedKeysFile = "/etc/hyperhive/authorized_keys";
        };
      }
    ];
  };
in
{
  package = self.packages.${system}.default;
  agent-system = agent.config.system.build.toplevel;
  host-system = host.config.system.build.toplevel;
  etc-matches-python =
    pkgs.runCommand "hyperhive-etc-matches-python" { nativeBuildInputs = [ pkgs.python3 ]; }
      ''
        cd ${self}
        python3 - ${renderedEtc} ${exampleToml} <<'EOF'
        import sys
        from pathlib import Path
        from hyperhive.core.agent_config import parse_agent_toml, render_etc

        want = render_etc(parse_agent_toml(Path(sys.argv[2]).read_bytes()))
        for name, data in want.items():
            got = (Path(sys.argv[1]) / name).read_bytes()
            assert got == data, f"{name}: nix wrote {got!r}, python renders {data!r}"
        EOF
        touch $out
      '';
}
