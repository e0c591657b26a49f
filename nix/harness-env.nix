# The harness's environment from the hyperhive.* option values. The portable part has
# the names and values of hyperhive.core.agent_config.config_env (tests/nix checks);
# the rest matches what the runtime writes to /run/hive/harness.env, so that the
# harness also runs when the container is started by hand. Pure.
{ lib, cfg }:
let
  defaults = import ./defaults.nix;
  get = name: cfg.${name} or defaults.${name};
  role = cfg.role or "agent";
  notes = get "notesCompactBytes";
  script = cfg.scriptFile or null;
  prompt = cfg.promptFile or null;
in
{
  HYPERHIVE_DRIVER = get "driver";
  HYPERHIVE_MODEL = get "model";
  HYPERHIVE_AUTO_COMPACT = if get "autoCompact" then "1" else "0";

  HYPERHIVE_AGENT = cfg.agentName;
  HYPERHIVE_ROLE = role;
  HYPERHIVE_SOCKET = "/run/hive/hive.sock";
  HYPERHIVE_STATE = "/state";
  HYPERHIVE_ETC = "/etc/hyperhive";
  HYPERHIVE_CREDS = "/creds";
  HYPERHIVE_APPLIED = "/config";
  # the agent CLI keeps its login per agent in its home
  HOME = "/creds";
}
// lib.optionalAttrs (notes != null) { HYPERHIVE_NOTES_COMPACT_BYTES = toString notes; }
// lib.optionalAttrs (script != null) { HYPERHIVE_SCRIPT = "${script}"; }
// lib.optionalAttrs (prompt != null) { HYPERHIVE_PROMPT_FILE = "${prompt}"; }
// lib.optionalAttrs (role == "manager") {
  HYPERHIVE_AGENTS = "/agents";
  HYPERHIVE_APPLIED_ROOT = "/applied";
  HYPERHIVE_META = "/meta";
}
