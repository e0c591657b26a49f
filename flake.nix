{
  description = "hyperhive: a swarm of AI coding agents in containers, every change approved as a git commit";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      packageFor = pkgs: self.packages.${pkgs.stdenv.hostPlatform.system}.default;
    in
    {
      packages = forAllSystems (
        _system: pkgs: rec {
          hyperhive = pkgs.callPackage ./nix/package.nix { };
          default = hyperhive;
        }
      );

      nixosModules = {
        # the host: services.hyperhive
        default =
          { lib, pkgs, ... }:
          {
            imports = [ ./nix/module.nix ];
            services.hyperhive = {
              package = lib.mkDefault (packageFor pkgs);
              # the meta flake of the agents builds from this very source
              flake = lib.mkDefault "path:${self}";
            };
          };
        # every agent container (lib.mkAgent imports it)
        harness-base =
          { lib, pkgs, ... }:
          {
            imports = [ ./nix/harness-base.nix ];
            hyperhive.package = lib.mkDefault (packageFor pkgs);
          };
      };

      lib = import ./nix/lib.nix { inherit nixpkgs self; };

      checks = forAllSystems (
        system: pkgs:
        import ./nix/checks.nix {
          inherit
            self
            nixpkgs
            pkgs
            system
            ;
        }
      );

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt-rfc-style);
    };
}
