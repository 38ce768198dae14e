"""Verdicts of a likeness check: how a similarity to a character's template reads, by
thresholds measured for each model pack (``likeness bench --only verify``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator


class Verdict(StrEnum):
    MATCH = "match"
    UNCERTAIN = "uncertain"
    NO_MATCH = "no_match"


# What an artist reads on a card.
VERDICT_WORDS = {
    Verdict.MATCH: "same person",
    Verdict.UNCERTAIN: "not sure",
    Verdict.NO_MATCH: "different person",
}


class MatchThresholds(BaseModel):
    """Similarity at or above ``match``: the same person; below ``no_match``: someone else;
    between them: not sure."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    match: StrictFloat = Field(ge=-1.0, le=1.0)
    no_match: StrictFloat = Field(ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> MatchThresholds:
        if self.no_match > self.match:
            raise ValueError("no_match must not be above match")
        return self


# Measured on the labelled real photos the project can obtain (``likeness bench --only
# verify``, 2026-12-03: 144 genuine pairs, 737 impostor pairs; see docs/benchmarks.md). A model
# pack missing here gives similarities without verdicts until its thresholds are set.
MEASURED_THRESHOLDS: dict[str, MatchThresholds] = {
    "buffalo_s": MatchThresholds(match=0.40, no_match=0.30),
}

STEP = 0.05  # thresholds are chosen on this grid
SAMPLE_MARGIN = 0.05  # added to the match threshold: the labelled sets are small
NO_MATCH_FALSE_MATCH_RATE = 0.01


def verdict(similarity: float, thresholds: MatchThresholds | None) -> Verdict | None:
    """The verdict, or None when the model pack has no thresholds (similarity only)."""
    if thresholds is None:
        return None
    if similarity >= thresholds.match:
        return Verdict.MATCH
    if similarity < thresholds.no_match:
        return Verdict.NO_MATCH
    return Verdict.UNCERTAIN


@dataclass(frozen=True)
class ErrorRates:
    threshold: float
    false_match_rate: float  # impostor pairs at or above the threshold
    false_non_match_rate: float  # genuine pairs below it


def error_rates(
    genuine: Sequence[float], impostor: Sequence[float], thresholds: Sequence[float]
) -> list[ErrorRates]:
    same, other = np.asarray(genuine), np.asarray(impostor)
    return [ErrorRates(t, float((other >= t).mean()), float((same < t).mean())) for t in thresholds]


def grid(low: float = 0.0, high: float = 0.8) -> list[float]:
    return [round(value, 2) for value in np.arange(low, high + STEP / 2, STEP)]


def suggest_thresholds(genuine: Sequence[float], impostor: Sequence[float]) -> MatchThresholds:
    """The rule the measured defaults follow: ``match`` is the lowest grid step at which no
    impostor pair matched, one step higher for the small sample; ``no_match`` the lowest
    step at which under 1 % of impostor pairs reach it, never above ``match``."""
    rates = error_rates(genuine, impostor, grid(-1.0, 1.0))
    no_false_match = next(r.threshold for r in rates if r.false_match_rate == 0.0)
    match = round(min(1.0, no_false_match + SAMPLE_MARGIN), 2)
    rare = next(r.threshold for r in rates if r.false_match_rate < NO_MATCH_FALSE_MATCH_RATE)
    return MatchThresholds(match=match, no_match=min(rare, match))
