# Defaults of the per-agent hyperhive.* options; agent_config.AgentConfig() has the same
# (tests/nix checks). Plain data: imported by harness-base.nix, agent-toml.nix and tests.
{
  driver = "claude";
  model = "sonnet";
  allowedRecipients = [ ];
  allowedBashPatterns = [ ];
  extraMcpServers = { };
  autoCompact = true;
  notesCompactBytes = null;
  # per entry of extraMcpServers
  mcpServer = {
    args = [ ];
    env = { };
    allowedTools = [ "*" ];
  };
}
