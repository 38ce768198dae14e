"""Which characters a backfill takes: its scope."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    MISSING = "missing"  # never extracted
    FAILED = "failed"
    STALE = "stale"  # embedding from another model pack than the configured one
    ALL = "all"
