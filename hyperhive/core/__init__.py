"""The headless host core: store, broker, approvals, repos, runtimes, protocol."""
