# agent.toml (as parsed by builtins.fromTOML) -> hyperhive.* option values. Only keys
# present in the file are set, so the option defaults of harness-base.nix apply to the
# rest. `limits` is host-side (the runtime applies it) and `script` is a file, which
# lib.mkAgent passes as hyperhive.scriptFile. Pure: tests evaluate it with builtins only.
toml:
let
  known = [
    "driver"
    "model"
    "allowed_recipients"
    "allowed_bash"
    "extra_mcp_servers"
    "limits"
    "auto_compact"
    "script"
    "notes_compact_bytes"
    "git_name"
    "git_email"
  ];
  unknown = builtins.filter (key: !(builtins.elem key known)) (builtins.attrNames toml);
  pick =
    tomlKey: option: convert:
    if toml ? ${tomlKey} then { ${option} = convert toml.${tomlKey}; } else { };
  id = x: x;
  server =
    s:
    # a missing command is left to the option's own "has no value" error
    (if s ? command then { inherit (s) command; } else { })
    // (if s ? args then { inherit (s) args; } else { })
    // (if s ? env then { inherit (s) env; } else { })
    // (if s ? allowed_tools then { allowedTools = s.allowed_tools; } else { });
in
if unknown != [ ] then
  throw "agent.toml: unknown key ${builtins.head unknown}"
else
  pick "driver" "driver" id
  // pick "model" "model" id
  // pick "allowed_recipients" "allowedRecipients" id
  // pick "allowed_bash" "allowedBashPatterns" id
  // pick "extra_mcp_servers" "extraMcpServers" (builtins.mapAttrs (_key: server))
  // pick "auto_compact" "autoCompact" id
  // pick "notes_compact_bytes" "notesCompactBytes" id
  // pick "git_name" "gitName" id
  // pick "git_email" "gitEmail" id
