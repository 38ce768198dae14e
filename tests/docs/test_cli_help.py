"""``likeness --help`` says in one line what each command does and names its doc page."""

from __future__ import annotations

import re
from typing import Any

import typer

from likeness.cli import app
from tests.docs.markdown import REPOSITORY


def commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command and group, by the words that call it (``db url``)."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if hasattr(command, "commands"):  # a group: Typer's own, not click's class
            found |= commands(command, f"{prefix}{name} ")
    return found


def test_every_command_says_what_it_does_in_one_line_and_names_an_existing_page() -> None:
    listed = commands(typer.main.get_command(app))
    lacking = {}
    for name, command in listed.items():
        first = (command.help or "").split("\n\n")[0]
        pages = re.findall(r"\((README\.md|docs/[\w-]+\.md)\)", first)
        if "\n" in first or len(first) > 100 or not pages:
            lacking[name] = first
        elif not (REPOSITORY / pages[0]).exists():
            lacking[name] = f"{pages[0]} does not exist"
    assert len(listed) >= 20
    assert lacking == {}
