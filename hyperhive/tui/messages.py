"""Textual messages the bridge posts to the app: the connection came, went, or events arrived."""

from __future__ import annotations

from textual.message import Message

from hyperhive.tui.model import Snapshot


class Connected(Message):
    """A (re)connection finished its snapshot; the model should be replaced by it."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class ConnectionLost(Message):
    """The daemon went away (or never answered); the bridge retries after ``retry_in`` s."""

    def __init__(self, reason: str, retry_in: float, attempt: int) -> None:
        super().__init__()
        self.reason = reason
        self.retry_in = retry_in
        self.attempt = attempt


class EventsArrived(Message):
    """Pushed events wait in the bridge; one of these stands for any number of them.

    Consecutive ones coalesce (`can_replace`): under a flood the app drains the whole
    backlog once per turn of its message loop instead of repainting per event.
    """

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EventsArrived)
