"""Every operator action, once: confirm what is hard to undo, call the daemon, report the outcome.

Panes post messages; screens route them here; the command palette calls the same
methods. Nothing here changes the model: the daemon's events do that.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import HyperhiveError, NotFound
from hyperhive.core.names import validate_agent_name
from hyperhive.tui.model import Change, HiveModel, Unavailable
from hyperhive.tui.screens.modals import Answer, AnswerScreen, Confirmation, ConfirmScreen
from hyperhive.tui.screens.prompt import PromptScreen
from hyperhive.tui.views import AgentView, ApprovalView, QuestionView

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

    from hyperhive.tui.bridge import Calls
    from hyperhive.tui.context import Ctx

logger = logging.getLogger(__name__)

# verb -> (question, what it does, hard to undo)
LIFECYCLE: dict[str, tuple[str, str, bool]] = {
    "start": ("Start {name}?", "The harness starts and picks up its inbox.", False),
    "kill": (
        "Stop {name}?",
        "The harness is stopped; messages wait in its inbox until it starts again.",
        False,
    ),
    "restart": ("Restart {name}?", "Stop, then start; a turn in progress is cut off.", False),
    "update": (
        "Update {name}?",
        "Rebuild from the applied config and restart; a turn in progress is cut off.",
        False,
    ),
    "destroy": (
        "Destroy {name}?",
        "The container goes away. Its state, config and credentials are kept "
        "(kept state: revive or purge).",
        True,
    ),
}
LIFECYCLE_KEYS = {"start": "s", "kill": "k", "restart": "r", "update": "u", "destroy": "d"}
# the states each verb makes sense from; update and destroy apply to any settled state
APPLIES: dict[str, frozenset[str]] = {
    "start": frozenset({"stopped", "crashed", "driver_missing", "needs_login"}),
    "kill": frozenset({"running", "rate_limited", "needs_login"}),
    "restart": frozenset({"running", "rate_limited", "needs_login", "crashed"}),
}


def applies(agent: AgentView | None, verb: str) -> bool:
    """Whether ``verb`` makes sense for ``agent`` now ("start" on a running agent does not)."""
    if agent is None:
        return False
    if verb in APPLIES:
        return agent.state in APPLIES[verb]
    return not agent.transient


@dataclass(frozen=True)
class Pages:
    """How to make the pages an action opens: given by the app, so that actions never
    import the screens (which import actions for their keys)."""

    agent: Callable[[Ctx, str], Screen[Any]]
    approval: Callable[[Ctx, int], Screen[Any]]
    terminal: Callable[[Ctx, str], Screen[Any]]


class Operations:
    """Operator actions on behalf of whichever screen asked (or the command palette)."""

    def __init__(
        self,
        app: App[Any],
        model: HiveModel,
        calls: Calls,
        pages: Pages,
        changed: Callable[[Change], None] = lambda change: None,
    ) -> None:
        self._app = app
        self._pages = pages
        self._model = model
        self._calls = calls
        self._changed = changed
        self.ctx: Ctx | None = None  # bound by the app once the context exists

    applies = staticmethod(applies)

    # --- navigation ----------------------------------------------------------------
    def open_agent(self, name: str) -> None:
        assert self.ctx is not None
        self._app.push_screen(self._pages.agent(self.ctx, name))

    def open_approval(self, approval_id: int) -> None:
        assert self.ctx is not None
        self._app.push_screen(self._pages.approval(self.ctx, approval_id))

    def open_terminal(self, name: str) -> None:
        """A shell in the agent's container, over the daemon's PTY service (operators only)."""
        if self._refuse_viewer():
            return
        assert self.ctx is not None
        self._app.push_screen(self._pages.terminal(self.ctx, name))

    def compose(self, to: str | None = None) -> None:
        """Go to the dashboard's compose box, addressed to ``to``."""
        if self._refuse_viewer():
            return

        async def run() -> None:
            if self._app.current_mode != "dashboard":
                await self._app.switch_mode("dashboard")
            while len(self._app.screen_stack) > 1:
                self._app.pop_screen()
            focus = getattr(self._app.screen, "compose_to", None)
            if focus is not None:
                focus(to)

        self._app.run_worker(run(), group="ops")

    # --- lifecycle -----------------------------------------------------------------
    def lifecycle(self, name: str, verb: str) -> None:
        """Confirm, then call ``lifecycle.<verb>`` for agent ``name``."""
        if verb not in LIFECYCLE or self._refuse_viewer():
            return
        question, detail, danger = LIFECYCLE[verb]
        self._confirm(
            ConfirmScreen(question.format(name=name), detail, confirm=verb, danger=danger),
            lambda _: self._call(f"lifecycle.{verb}", f"{verb}: {name}", name=name),
        )

    def cancel_turn(self, name: str) -> None:
        """Confirm, then interrupt the agent's running turn (its message is acked)."""
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Cancel {name}'s turn?",
                "The agent CLI is interrupted; the turn's message counts as handled.",
                confirm="cancel turn",
                danger=True,
            ),
            lambda _: self._call("harness.cancel", f"cancelled {name}'s turn", agent=name),
        )

    def new_session(self, name: str) -> None:
        """Confirm, then make the agent's next turn start a fresh CLI session."""
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Start a new session for {name}?",
                "Its next turn starts a fresh conversation: the one so far is left behind "
                "(notes.md stays).",
                confirm="new session",
            ),
            lambda _: self._call(
                "harness.new_session", f"{name}: next turn starts fresh", agent=name
            ),
        )

    def compact(self, name: str) -> None:
        """Confirm, then compact the agent's conversation (after its running turn)."""
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Compact {name}'s conversation now?",
                "The CLI summarises the conversation so far (/compact), after the running turn.",
                confirm="compact",
            ),
            lambda _: self._call("harness.compact", f"{name}: compacting", agent=name),
        )

    def revive(self, name: str) -> None:
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Revive {name}?",
                "A new incarnation starts from the kept state, config and credentials.",
                confirm="revive",
            ),
            lambda _: self._call("lifecycle.spawn", f"reviving {name}", name=name),
        )

    def purge(self, name: str) -> None:
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Purge {name} for good?",
                "Deletes its state, config, credentials and applied repo. This cannot be undone.",
                confirm="purge",
                danger=True,
            ),
            lambda _: self._call("lifecycle.purge", f"purged {name}", name=name),
        )

    def request_spawn(self) -> None:
        """Ask for a name, checked like the CLI's, and file a spawn request (an approval)."""
        if self._refuse_viewer():
            return

        def done(name: str | None) -> None:
            if name:
                self._call(
                    "approvals.request_spawn",
                    f"spawn request for {name} filed: approve it in the approvals list",
                    name=name,
                )

        self._app.push_screen(
            PromptScreen(
                "Spawn a new agent",
                "Files a spawn request; the agent starts once the request is approved.",
                validate_agent_name,
                placeholder="name: 1-9 of a-z 0-9 -, starting with a letter",
                confirm="request spawn",
            ),
            done,
        )

    # --- decisions -----------------------------------------------------------------
    def on_approval(self, approval: ApprovalView, action: str) -> None:
        """A row action on an approval, from any pane that lists them."""
        if action == "open":
            self.open_approval(approval.id)
        elif action == "approve":
            self.approve(approval)
        elif action == "deny":
            self.deny(approval)

    def approve(self, approval: ApprovalView, *, unseen: int | None = None) -> None:
        """Confirm, then approve; ``unseen``: lines of its diff never shown in full (None:
        the diff was not opened at all)."""
        if self._refuse_viewer():
            return
        sha = f" @ {approval.fetched_sha[:10]}" if approval.fetched_sha else ""
        body = f"{approval.kind} for {approval.agent}{sha}: it is built and deployed."
        if unseen is None:
            body += "\n\nYou have not opened its diff (enter on the approval shows it)."
        elif unseen:
            lines = "line of the diff was" if unseen == 1 else "lines of the diff were"
            body += f"\n\n⚠ {unseen} {lines} never scrolled fully into view (←/→ scroll sideways)."
        self._confirm(
            ConfirmScreen(
                f"Approve #{approval.id}?",
                body,
                confirm="approve",
                danger=bool(unseen),
            ),
            lambda _: self._call("approvals.approve", f"approved #{approval.id}", id=approval.id),
        )

    def deny(self, approval: ApprovalView) -> None:
        if self._refuse_viewer():
            return

        def done(result: Confirmation) -> None:
            self._call("approvals.deny", f"denied #{approval.id}", id=approval.id, note=result.note)

        self._confirm(
            ConfirmScreen(
                f"Deny #{approval.id}?",
                f"{approval.kind} for {approval.agent}. The note goes to the manager.",
                confirm="deny",
                note="why? (optional)",
            ),
            done,
        )

    def answer(self, question: QuestionView) -> None:
        if self._refuse_viewer():
            return

        def done(answer: Answer | None) -> None:
            if answer is not None:
                self._call(
                    "questions.answer",
                    f"answered #{question.id}",
                    id=question.id,
                    options=list(answer.options),
                    text=answer.text,
                )

        self._app.push_screen(AnswerScreen(question), done)

    def cancel_question(self, question: QuestionView) -> None:
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Cancel question #{question.id}?",
                f"{question.asker} is told that nobody will answer.",
                confirm="cancel question",
            ),
            lambda _: self._call("questions.cancel", "question cancelled", id=question.id),
        )

    def cancel_reminder(self, reminder_id: int, agent: str, body: str) -> None:
        if self._refuse_viewer():
            return
        self._confirm(
            ConfirmScreen(
                f"Cancel reminder #{reminder_id} of {agent}?",
                f"It will not wake {agent}: {body}",
                confirm="cancel reminder",
            ),
            lambda _: self._call(
                "reminders.cancel", f"cancelled reminder #{reminder_id}", id=reminder_id
            ),
        )

    async def send(self, to: str, body: str, in_reply_to: int | None = None) -> bool:
        """Send as the operator; True when the daemon took it."""
        if self._refuse_viewer():
            return False
        try:
            await self._calls.call("messages.send", to=to, body=body, in_reply_to=in_reply_to)
        except HyperhiveError as exc:
            self._app.notify(exc.message, title="not sent", severity="error", markup=False)
            return False
        return True

    def mark_read(self, ids: list[int]) -> None:
        """Mark inbox messages read, here at once and on the daemon in the background."""
        if self._model.viewer:
            return
        self._changed(self._model.mark_read(ids))

        async def run() -> None:
            try:
                await self._calls.call("messages.mark_read", ids=ids)
            except HyperhiveError as exc:
                logger.info("mark_read failed: %s", exc)

        self._app.run_worker(run(), group="ops")

    async def fetch(self, method: str, **params: Any) -> Any:
        """A read for a screen: the result, or an `Unavailable` that the screen shows in place.

        Something simply absent (no repo yet, no such agent) is said where it would have
        shown; any other failure also pops up as an error.
        """
        try:
            return await self._calls.optional(method, **params)
        except NotFound as exc:
            return Unavailable(exc.message)
        except HyperhiveError as exc:
            self._app.notify(exc.message, title=method, severity="error", markup=False)
            return Unavailable(f"failed: {exc.message}")

    def unfollow(self, follow_id: str) -> None:
        """Stop a log follow (the page showing it went away); a gone one is no matter."""

        async def run() -> None:
            try:
                await self._calls.call("logs.unfollow", id=follow_id)
            except HyperhiveError as exc:
                logger.info("logs.unfollow failed: %s", exc)

        self._app.run_worker(run(), group="ops")

    def verify_audit(self) -> None:
        async def run() -> None:
            try:
                result = await self._calls.call("audit.verify")
            except HyperhiveError as exc:
                self._app.notify(exc.message, title="audit log", severity="error", markup=False)
                return
            ok = bool(result.get("ok")) if isinstance(result, dict) else False
            problems = result.get("problems") if isinstance(result, dict) else None
            detail = "; ".join(map(str, problems[:3])) if isinstance(problems, list) else ""
            self._app.notify(
                "the hash chain is intact" if ok else f"the hash chain is BROKEN: {detail}",
                title="audit log",
                severity="information" if ok else "error",
                markup=False,
            )

        self._app.run_worker(run(), group="ops")

    # --- helpers -----------------------------------------------------------------
    def _refuse_viewer(self) -> bool:
        if self._model.viewer:
            self._app.notify("the viewer role can look but not decide", severity="warning")
            return True
        return False

    def _confirm(
        self, screen: ConfirmScreen, then: Callable[[Confirmation], Awaitable[None] | None]
    ) -> None:
        def done(result: Confirmation | None) -> None:
            if result is not None:
                then(result)

        self._app.push_screen(screen, done)

    def _call(self, method: str, success: str, **params: Any) -> None:
        async def run() -> None:
            try:
                await self._calls.call(method, **params)
            except HyperhiveError as exc:
                self._app.notify(exc.message, title=method, severity="error", markup=False)
            else:
                self._app.notify(success, markup=False)

        self._app.run_worker(run(), group="ops")
