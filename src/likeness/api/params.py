"""Bounds on what a request may carry, checked before any handler runs (422 otherwise):
ids that fit PostgreSQL's bigint, text without NUL bytes (PostgreSQL refuses them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

MAX_ROW_ID = 2**63 - 1  # bigint: a larger id can name no row
NO_NUL = r"^[^\x00]*$"

RowId = Annotated[int, Path(gt=0, le=MAX_ROW_ID)]  # a character's or a project's id
RowIdFilter = Annotated[int | None, Query(gt=0, le=MAX_ROW_ID)]
FormName = Annotated[str, Form(min_length=1, max_length=200, pattern=NO_NUL)]
