"""What every screen is handed on construction: the model, the daemon, the clock, the operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperhive.tui.bridge import Calls, ClientFactory
from hyperhive.tui.model import HiveModel

if TYPE_CHECKING:
    from hyperhive.tui.actions import Operations


@dataclass(frozen=True)
class Ctx:
    """Passed down from the app to screens (attributes down); screens never reach up for these."""

    model: HiveModel
    calls: Calls
    factory: ClientFactory  # a terminal opens its own connection with it
    clock: Callable[[], float]
    ops: Operations
