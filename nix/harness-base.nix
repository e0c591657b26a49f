# Imported by every agent container (lib.mkAgent): the harness service and the
# per-agent hyperhive.* options, rendered to /etc/hyperhive/*.json at activation.
# The files are symlinks into the read-only /nix/store, so an agent can never
# rewrite what it is allowed to do.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkDefault mkIf mkOption types;
  cfg = config.hyperhive;
  defaults = import ./defaults.nix;
  etcFiles = import ./render-etc.nix { inherit lib cfg; };
  harnessEnv = import ./harness-env.nix { inherit lib cfg; };
  isRoot = cfg.user == "root";

  mcpServer = types.submodule {
    options = {
      command = mkOption {
        type = types.str;
        description = "Executable of the stdio MCP server.";
      };
      args = mkOption {
        type = types.listOf types.str;
        default = defaults.mcpServer.args;
        description = "Arguments of the command.";
      };
      env = mkOption {
        type = types.attrsOf types.str;
        default = defaults.mcpServer.env;
        description = "Extra environment of the command.";
      };
      allowedTools = mkOption {
        type = types.listOf types.str;
        default = defaults.mcpServer.allowedTools;
        description = ''Tools of this server the agent may call; "*" allows every tool (mcp__<key>__*).'';
      };
    };
  };
in
{
  imports = [
    # before the options were named like agent.toml's git_name / git_email
    (lib.mkRenamedOptionModule [ "hyperhive" "gitIdentity" "name" ] [ "hyperhive" "gitName" ])
    (lib.mkRenamedOptionModule [ "hyperhive" "gitIdentity" "email" ] [ "hyperhive" "gitEmail" ])
  ];

  options.hyperhive = {
    package = mkOption {
      type = types.package;
      description = "The hyperhive package that provides `hyperhive agent serve`.";
    };
    agentName = mkOption {
      type = types.strMatching "[a-z][a-z0-9-]{0,8}";
      description = "The agent's name on the broker (`manager` for the manager).";
    };
    role = mkOption {
      type = types.enum [
        "agent"
        "manager"
      ];
      default = "agent";
      description = "Whether this container is the manager or an ordinary agent.";
    };
    driver = mkOption {
      type = types.enum [
        "claude"
        "scripted"
      ];
      default = defaults.driver;
      description = "What runs each turn: the Claude Code CLI, or a deterministic script.";
    };
    model = mkOption {
      type = types.str;
      default = defaults.model;
      example = "opus";
      description = "Model the claude driver starts with (passed as HYPERHIVE_MODEL).";
    };
    autoCompact = mkOption {
      type = types.bool;
      default = defaults.autoCompact;
      description = "Compact the session when the context runs full.";
    };
    notesCompactBytes = mkOption {
      type = types.nullOr types.ints.positive;
      default = defaults.notesCompactBytes;
      description = "Rewrite /state/notes.md once it passes this size; null = the host default.";
    };
    scriptFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "The scripted driver's script (agent.toml `script`).";
    };
    promptFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "The agent's extra system prompt (prompt.md of its repo).";
    };
    allowedRecipients = mkOption {
      type = types.listOf types.str;
      default = defaults.allowedRecipients;
      example = [
        "alice"
        "operator"
      ];
      description = ''
        Whom the agent may message; [ ] means anyone. The manager is always allowed.
        Written to /etc/hyperhive/send-allow.json.
      '';
    };
    allowedBashPatterns = mkOption {
      type = types.listOf types.str;
      default = defaults.allowedBashPatterns;
      example = [
        "git *"
        "ls *"
      ];
      description = ''
        Bash commands the agent may run, as Claude Code patterns (each becomes
        `Bash(<pattern>)`); [ ] allows every command. Written to /etc/hyperhive/bash-allow.json.
      '';
    };
    extraMcpServers = mkOption {
      type = types.attrsOf mcpServer;
      default = defaults.extraMcpServers;
      description = ''
        Extra stdio MCP servers the agent CLI may start, by key; written to
        /etc/hyperhive/extra-mcp.json. The key `hyperhive` is reserved.
      '';
    };
    user = mkOption {
      type = types.str;
      default = "root";
      description = ''
        User the harness runs as. Root inside an unprivileged container maps to an
        unprivileged host uid; another user is created here when named.
      '';
    };
    daemonHost = mkOption {
      type = types.str;
      default = "localhost";
      example = "myhost";
      description = ''
        Host name of the machine the daemon runs on (lib.mkAgent sets it from the meta
        flake); the default git email is `<agentName>@<daemonHost>.hyperhive`.
      '';
    };
    gitName = mkOption {
      type = types.str;
      default = cfg.agentName;
      defaultText = lib.literalExpression "config.hyperhive.agentName";
      example = "Alice (hyperhive)";
      description = "Author and committer name of the agent's commits (agent.toml `git_name`).";
    };
    gitEmail = mkOption {
      type = types.str;
      default = "${cfg.agentName}@${cfg.daemonHost}.hyperhive";
      defaultText = lib.literalExpression ''"''${config.hyperhive.agentName}@''${config.hyperhive.daemonHost}.hyperhive"'';
      example = "alice@example.org";
      description = "Author and committer email of the agent's commits (agent.toml `git_email`).";
    };
    claudeBin = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/current-system/sw/bin/claude";
      description = ''
        The Claude Code CLI the Agent SDK driver runs (HYPERHIVE_CLAUDE_BIN); null: the
        CLI bundled with the SDK.
      '';
    };
    claudePackage = mkOption {
      type = types.nullOr types.package;
      default = pkgs.claude-code or null;
      defaultText = lib.literalExpression "pkgs.claude-code";
      description = ''
        A Claude Code CLI on the container's PATH, for `claude login` in a terminal; null:
        none. The driver runs `claudeBin` (by default the CLI bundled with the SDK).
      '';
    };
  };

  config = {
    assertions = [
      {
        assertion = !(cfg.extraMcpServers ? hyperhive);
        message = ''
          hyperhive.extraMcpServers.hyperhive: the key "hyperhive" is reserved for
          hyperhive's own MCP server; rename the entry.
        '';
      }
    ];

    boot.isContainer = true;
    networking.useDHCP = false;
    system.stateVersion = mkDefault "25.05";

    # claude-code is unfree: allow it, and only it. (nixpkgs.config merges attribute by
    # attribute without priorities; an agent.nix that sets its own predicate replaces it.)
    nixpkgs.config.allowUnfreePredicate = pkg: lib.getName pkg == "claude-code";

    environment.etc = lib.mapAttrs' (
      file: text: lib.nameValuePair "hyperhive/${file}" { inherit text; }
    ) etcFiles;

    # /etc/gitconfig holds the identity for every user of the container (root-login
    # shells too); the service environment below covers the harness user in any case.
    programs.git = {
      enable = true;
      config.user = {
        name = mkDefault cfg.gitName;
        email = mkDefault cfg.gitEmail;
      };
    };

    users.users = mkIf (!isRoot) {
      ${cfg.user} = {
        isNormalUser = true;
        # the harness's HOME is /creds (harness-env.nix); this one is for logins
        createHome = true;
      };
    };
    # the binds arrive owned by root; hand them to a non-root harness user
    systemd.tmpfiles.rules = lib.optionals (!isRoot) [
      "Z /state - ${cfg.user} - - -"
      "Z /creds - ${cfg.user} - - -"
    ];

    environment.systemPackages = [
      cfg.package
      pkgs.git
    ];

    systemd.services.hyperhive-harness = {
      description = "hyperhive harness of ${cfg.agentName}";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      path = [
        cfg.package
        pkgs.git
        pkgs.bash
        pkgs.coreutils
        pkgs.procps
        "/run/current-system/sw"
      ] ++ lib.optional (cfg.driver == "claude" && cfg.claudePackage != null) cfg.claudePackage;
      environment = harnessEnv // {
        GIT_AUTHOR_NAME = cfg.gitName;
        GIT_AUTHOR_EMAIL = cfg.gitEmail;
        GIT_COMMITTER_NAME = cfg.gitName;
        GIT_COMMITTER_EMAIL = cfg.gitEmail;
      }
      // lib.optionalAttrs (cfg.claudeBin != null) { HYPERHIVE_CLAUDE_BIN = "${cfg.claudeBin}"; };
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/hyperhive agent serve";
        # written by the daemon on every start (paths, AgentSpec.env); overrides the above
        EnvironmentFile = "-/run/hive/harness.env";
        User = cfg.user;
        WorkingDirectory = "/state";
        Restart = "always";
        RestartSec = 2;
      };
    };
  };
}
