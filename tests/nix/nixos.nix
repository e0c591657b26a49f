# The part of NixOS that hyperhive's modules touch, for `lib.evalModules` with the real
# nixpkgs lib (there is no nixpkgs checkout on a test machine, only its lib):
#
#   * `module`: declares the NixOS options nix/module.nix, nix/harness-base.nix and
#     lib.mkAgent set or read, with NixOS' types where a wrong value must fail as it
#     would on a real system (systemd environments, packages, ports, users, /etc files),
#     and `attrsOf anything` where the exact type does not matter to us;
#   * `pkgs`: fake derivations (a name and an /nix/store path, nothing built) and
#     `formats.toml`, whose type is nixpkgs' own TOML value type;
#   * `eval`: evalModules, then the assertions and warnings checked as
#     nixos/modules/system/activation/top-level.nix does, with its message.
{ lib }:
let
  inherit (lib) mkOption types;

  fakePackage = name: {
    type = "derivation";
    inherit name;
    pname = name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };

  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    git = fakePackage "git";
    bash = fakePackage "bash";
    coreutils = fakePackage "coreutils";
    procps = fakePackage "procps";
    util-linux = fakePackage "util-linux";
    nixos-container = fakePackage "nixos-container";
    claude-code = fakePackage "claude-code";
    ripgrep = fakePackage "ripgrep";
    diffutils = fakePackage "diffutils";
    python3 = fakePackage "python3";
    hyperhive = fakePackage "hyperhive";
    nix = fakePackage "nix";
    systemd = fakePackage "systemd";
    # pkgs.formats.toml of nixpkgs (pkgs/pkgs-lib/formats.nix): the same value type;
    # `generate` keeps the value beside the fake store path so tests can read it
    formats.toml =
      { }:
      {
        type =
          let
            valueType =
              types.nullOr (
                types.oneOf [
                  types.bool
                  types.int
                  types.float
                  types.str
                  types.path
                  (types.attrsOf valueType)
                  (types.listOf valueType)
                ]
              )
              // {
                description = "TOML value";
              };
          in
          valueType;
        generate = name: value: fakePackage name // { inherit value; };
      };
  };

  anything = types.attrsOf types.anything;
  opt = type: default: mkOption { inherit type default; };
  free = options: types.submodule { freeformType = anything; inherit options; };

  # nixos/modules/system/boot/systemd-lib.nix: unitOption / the environment of a service
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
    types.package
    (types.listOf (
      types.oneOf [
        types.bool
        types.int
        types.str
        types.path
        types.package
      ]
    ))
  ];
  service = free {
    description = opt types.str "";
    wantedBy = opt (types.listOf types.str) [ ];
    after = opt (types.listOf types.str) [ ];
    path = opt (types.listOf (types.either types.package types.str)) [ ];
    environment = opt (types.attrsOf (
      types.nullOr (
        types.oneOf [
          types.str
          types.path
          types.package
        ]
      )
    )) { };
    serviceConfig = opt (types.attrsOf unitValue) { };
  };

  module = {
    options = {
      assertions = opt (types.listOf (
        types.submodule {
          options.assertion = mkOption { type = types.bool; };
          options.message = mkOption { type = types.str; };
        }
      )) [ ];
      warnings = opt (types.listOf types.str) [ ];

      boot.isContainer = opt types.bool false;
      boot.enableContainers = opt types.bool false;
      system.stateVersion = opt types.str "26.11";
      nixpkgs.hostPlatform = opt (types.either types.str anything) "x86_64-linux";
      nixpkgs.config = opt anything { };
      nix.package = opt types.package pkgs.nix;
      nix.settings = opt (free {
        experimental-features = opt (types.listOf types.str) [ ];
      }) { };

      # nixos/modules/tasks/network-interfaces.nix: an RFC 1123 host name
      networking.hostName = opt (types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$") "nixos";
      networking.useDHCP = opt types.bool true;
      networking.firewall.allowedTCPPorts = opt (types.listOf types.port) [ ];

      environment.systemPackages = opt (types.listOf types.package) [ ];
      environment.etc = opt (types.attrsOf (free {
        text = opt (types.nullOr types.lines) null;
      })) { };

      users.users = opt (types.attrsOf (free {
        isNormalUser = opt types.bool false;
        createHome = opt types.bool false;
      })) { };

      programs.git.enable = opt types.bool false;
      programs.git.config = opt (types.attrsOf (types.attrsOf types.anything)) { };

      systemd.package = opt types.package pkgs.systemd;
      systemd.services = opt (types.attrsOf service) { };
      systemd.tmpfiles.rules = opt (types.listOf types.str) [ ];
    };
  };

  # evalModules, then what system.build.toplevel does first: fail on an assertion,
  # show the warnings
  evalUnchecked =
    modules:
    lib.evalModules {
      modules = [
        module
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    };

  eval =
    modules:
    let
      evaluated = evalUnchecked modules;
      inherit (evaluated) config;
      failed = map (x: x.message) (lib.filter (x: !x.assertion) config.assertions);
    in
    if failed != [ ] then
      throw "\nFailed assertions:\n${lib.concatStringsSep "\n" (map (x: "- ${x}") failed)}"
    else
      lib.showWarnings config.warnings evaluated;
in
{
  inherit
    module
    pkgs
    eval
    evalUnchecked
    fakePackage
    ;
}
