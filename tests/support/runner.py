"""A stand-in `Runner` for tests that only check which commands the code would run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hyperhive.core.errors import CommandError
from hyperhive.core.runner import Completed


@dataclass
class FakeRunner:
    """Records every argv and answers from a table of canned results (tests only)."""

    calls: list[list[str]] = field(default_factory=list)
    results: dict[str, Completed] = field(default_factory=dict)

    async def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Record ``argv``; answer with the canned result whose key prefixes the command."""
        self.calls.append(list(argv))
        line = " ".join(argv)
        for prefix, result in self.results.items():
            if line.startswith(prefix):
                if check and result.returncode != 0:
                    raise CommandError(argv, result.returncode, result.stderr)
                return result
        return Completed(list(argv), 0, "", "")
