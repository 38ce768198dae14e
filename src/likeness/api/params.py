"""Bounds on what a request may carry, checked before any handler runs (422 otherwise):
ids that fit PostgreSQL's bigint, text without NUL bytes (PostgreSQL refuses them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

MAX_ROW_ID = 2**63 - 1  # bigint: a larger id can name no row
NO_NUL = r"^[^\x00]*$"

CharacterId = Annotated[int, Path(gt=0, le=MAX_ROW_ID)]
ProjectId = Annotated[int, Path(gt=0, le=MAX_ROW_ID)]
ProjectFilter = Annotated[int | None, Query(gt=0, le=MAX_ROW_ID)]
Name = Annotated[str, Form(min_length=1, max_length=200, pattern=NO_NUL)]
ProjectName = Annotated[str, Form(min_length=1, max_length=200, pattern=NO_NUL)]
