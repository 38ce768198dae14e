"""What a suite's run found, without Great Expectations (2.5 s to import): the modules
that only pass results along stay quick to import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    observed: Any


@dataclass(frozen=True)
class CheckResult:
    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failures(self) -> list[str]:
        """Failed expectations, named as ``type(column)``."""
        return [
            f"{o.expectation}({o.column})" if o.column else o.expectation
            for o in self.outcomes
            if not o.success
        ]

    def markdown(self) -> str:
        verdict = "passed" if self.success else "FAILED"
        lines = [
            f"### {self.suite}: {verdict}",
            "",
            "| expectation | column | result | unexpected | observed |",
            "|---|---|---|---|---|",
        ]
        for o in self.outcomes:
            observed = o.observed if isinstance(o.observed, (int, float, str, type(None))) else "…"
            lines.append(
                f"| {o.expectation} | {o.column or ''} | {'✅' if o.success else '❌'} | "
                f"{'' if o.unexpected_count is None else o.unexpected_count} | "
                f"{'' if observed is None else observed} |"
            )
        return "\n".join(lines)
