# The three read-only policy files of /etc/hyperhive, rendered from the hyperhive.*
# option values. Pure: `lib` needs only attrNames, concatStringsSep, isAttrs, isList and
# mapAttrs (tests/nix evaluates it inside harness-base.nix with the real nixpkgs lib).
# The output is byte-identical to hyperhive.core.agent_config.render_etc: sorted keys,
# two-space indent, a trailing newline (json.dumps(indent=2, sort_keys=True)).
{ lib, cfg }:
let
  defaults = import ./defaults.nix;
  get = name: cfg.${name} or defaults.${name};

  # json.dumps(value, indent=2) for strings, lists and attribute sets
  pretty =
    indent: value:
    let
      inner = indent + "  ";
      block =
        open: close: items:
        if items == [ ] then
          open + close
        else
          open + "\n" + lib.concatStringsSep ",\n" items + "\n" + indent + close;
    in
    if lib.isAttrs value then
      block "{" "}" (
        map (key: inner + builtins.toJSON key + ": " + pretty inner value.${key}) (lib.attrNames value)
      )
    else if lib.isList value then
      block "[" "]" (map (item: inner + pretty inner item) value)
    else
      builtins.toJSON value;

  file = value: pretty "" value + "\n";

  server = s: {
    command = s.command;
    args = s.args or defaults.mcpServer.args;
    env = s.env or defaults.mcpServer.env;
    allowed_tools = s.allowedTools or defaults.mcpServer.allowedTools;
  };
in
{
  "send-allow.json" = file (get "allowedRecipients");
  "bash-allow.json" = file (get "allowedBashPatterns");
  "extra-mcp.json" = file (lib.mapAttrs (_key: server) (get "extraMcpServers"));
}
