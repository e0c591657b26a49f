# The NixOS host module: services.hyperhive runs `hyperhive daemon`, which owns the
# broker, the repos, and one container per agent.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    types
    ;
  cfg = config.services.hyperhive;
  settingsFormat = pkgs.formats.toml { };
  configFile = settingsFormat.generate "hyperhive.toml" cfg.settings;
  runDir = "/run/hyperhive";
  sshPort = lib.toInt (lib.last (lib.splitString ":" cfg.ssh.listen));
in
{
  options.services.hyperhive = {
    enable = mkEnableOption "hyperhive, a swarm of AI coding agents in containers";

    package = mkOption {
      type = types.package;
      description = "The hyperhive package (the flake's nixosModules.default sets it).";
    };

    flake = mkOption {
      type = types.str;
      default = "";
      example = "path:/etc/hyperhive-src";
      description = ''
        Flake reference of the hyperhive source, the input of the generated meta flake
        from which every agent container is built (nixos runtime). The flake's
        nixosModules.default sets it to the flake itself.
      '';
    };

    stateDir = mkOption {
      type = types.str;
      default = "/var/lib/hyperhive";
      description = "Where the database, the agents' repos and their state live.";
    };

    runtime = mkOption {
      type = types.enum [
        "nixos"
        "nspawn"
        "process"
      ];
      default = "nixos";
      description = "How agents run: nixos-container, plain systemd-nspawn, or local processes.";
    };

    agentMemoryMax = mkOption {
      type = types.str;
      default = "2G";
      example = "8G";
      description = "Default MemoryMax of every agent container (agent.toml [limits] wins).";
    };

    agentCpuQuota = mkOption {
      type = types.str;
      default = "200%";
      example = "400%";
      description = "Default CPUQuota of every agent container (agent.toml [limits] wins).";
    };

    settings = mkOption {
      type = types.submodule { freeformType = settingsFormat.type; };
      default = { };
      example = {
        limits.message_body_bytes = 8192;
        container.private_users = true;
      };
      description = ''
        hyperhive.toml (see docs/): every key of the daemon's settings. `runtime` and
        `container.{memory_max,cpu_quota}` default to the options above.
      '';
    };

    ssh = {
      enable = mkEnableOption "the TUI over SSH (public-key only)";
      listen = mkOption {
        type = types.str;
        default = "0.0.0.0:2222";
        description = "Address and port of the SSH front door.";
      };
      authorizedKeysFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = ''
          authorized_keys of the operators and viewers, in OpenSSH syntax (a viewer's
          line starts with environment="HYPERHIVE_ROLE=viewer"; see docs/tui.md). Loaded with
          systemd LoadCredential, so the file may be readable by root only.
        '';
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the SSH port in the firewall.";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.stateDir;
        message = "services.hyperhive.stateDir must be below /var/lib (systemd StateDirectory).";
      }
      {
        assertion = cfg.runtime != "nixos" || config.boot.enableContainers;
        message = "services.hyperhive.runtime = \"nixos\" needs boot.enableContainers = true.";
      }
      {
        assertion = cfg.runtime != "nixos" || cfg.flake != "";
        message = ''
          services.hyperhive.flake is empty: the nixos runtime builds agents from a flake
          that has hyperhive as input. Import the hyperhive flake's nixosModules.default
          (it sets this), or set it to the flake reference of the hyperhive source.
        '';
      }
      {
        assertion = !cfg.ssh.enable || cfg.ssh.authorizedKeysFile != null;
        message = "services.hyperhive.ssh.enable needs ssh.authorizedKeysFile.";
      }
    ];

    services.hyperhive.settings = {
      runtime = mkDefault cfg.runtime;
      container = {
        memory_max = mkDefault cfg.agentMemoryMax;
        cpu_quota = mkDefault cfg.agentCpuQuota;
      };
    };

    # nixos-container builds each agent with a plain `nix build <flake>#...`
    nix.settings.experimental-features = mkIf (cfg.runtime == "nixos") [
      "nix-command"
      "flakes"
    ];

    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts = lib.optional (
      cfg.ssh.enable && cfg.ssh.openFirewall
    ) sshPort;

    systemd.services.hyperhive = {
      description = "hyperhive daemon";
      wantedBy = [ "multi-user.target" ];
      after = [
        "network.target"
        "nix-daemon.socket"
      ];
      path = [
        cfg.package
        config.nix.package
        config.systemd.package
        pkgs.git
        pkgs.nixos-container
        pkgs.util-linux
        pkgs.coreutils
      ];
      environment = {
        HYPERHIVE_CONFIG = "${configFile}";
        HYPERHIVE_STATE_DIR = cfg.stateDir;
        HYPERHIVE_RUN_DIR = runDir;
        HYPERHIVE_RUNTIME = cfg.runtime;
      }
      // lib.optionalAttrs (cfg.runtime == "nixos") { HYPERHIVE_FLAKE = cfg.flake; }
      // lib.optionalAttrs cfg.ssh.enable {
        HYPERHIVE_SSH_LISTEN = cfg.ssh.listen;
        # %d is systemd's credentials directory ($CREDENTIALS_DIRECTORY)
        HYPERHIVE_SSH_AUTHORIZED_KEYS = "%d/authorized_keys";
      };
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/hyperhive daemon";
        # root: it runs nixos-container / systemd-nspawn and owns /etc/nixos-containers
        User = "root";
        StateDirectory = lib.removePrefix "/var/lib/" cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "hyperhive";
        RuntimeDirectoryMode = "0755";
        # the sockets are bind-mounted into running containers: a daemon restart must
        # not pull the directories out from under them
        RuntimeDirectoryPreserve = "yes";
        # agent containers run in their own container@ units and outlive a restart
        KillMode = "mixed";
        Restart = "on-failure";
        RestartSec = 5;
        LoadCredential = lib.optional (
          cfg.ssh.enable && cfg.ssh.authorizedKeysFile != null
        ) "authorized_keys:${toString cfg.ssh.authorizedKeysFile}";
      };
    };
  };
}
