"""Every key of the TUI, once: the help screen shows it and docs/tui.md holds the same table.

A test checks that the docs' table equals this one and that every key here is bound.
"""

from __future__ import annotations

KEYMAP: tuple[tuple[str, str], ...] = (
    ("`?`", "this help: every key"),
    ("`ctrl+p`", "command palette: every action by name"),
    ("`1` `2` `3` `4` `5`", "dashboard · repos · stats · audit (the tabs on top) · hosts"),
    ("`tab` / `shift+tab`", "next / previous pane"),
    ("`enter`", "open: agent page, approval diff, answer a question, read a message"),
    ("`esc`", 'back out: a dialog, a page, the compose box ("replying to" first), a filter'),
    ("`q`", "back out of a page; on a top screen, quit (asks first)"),
    ("`ctrl+q`", "quit (asks first when it would stop the swarm `up` started)"),
    ("`/`", "filter the list under the cursor (substring over every cell)"),
    ("`a` / `x`", "approve / deny with a note; on a question `x` cancels it"),
    ("`s` `k` `r` `u` `d`", "start · kill · restart · update · destroy, where it applies (asks)"),
    ("`s` / `p`", "on kept state: revive / purge (purge asks, and starts on cancel)"),
    ("`c`", "compose; on a message: reply to it"),
    ("`m`", "mark every message in the operator inbox read"),
    ("`t`", "terminal into the agent's container"),
    ("`ctrl+]`", "leave the terminal (every other key goes to the shell)"),
    ("`x` / `n`", "on the agent page: cancel the running turn / a new session next turn"),
    ("`f`", "on a tag: the files at that tag"),
    ("`v`", "in the audit log: verify the hash chain"),
    ("`n` / `z`", "on the hosts screen: add a host / drain or undrain (`d` removes, asks)"),
    ("`←` `→` / `h` `l`", "in a diff or file: scroll sideways (a `›` marks a clipped line)"),
    ("`End` / `Home`", "in a diff or file: to the end / start of the lines"),
    ("`j` `k` / `g` `G`", "in a diff or file: down / up, top / bottom"),
    ("`w` / `W`", "on the stats screen: a wider / narrower window (1h 6h 24h 7d 30d)"),
)


def markdown_table() -> str:
    """KEYMAP as the Markdown table docs/tui.md holds."""
    rows = ["| key | does |", "|---|---|"]
    rows += [f"| {key} | {does} |" for key, does in KEYMAP]
    return "\n".join(rows)
