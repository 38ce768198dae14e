"""Every relative link and anchor of the README and the docs leads somewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown import PAGES, REPOSITORY, anchors, links


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPOSITORY)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no {destination.relative_to(REPOSITORY)}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert broken == []


def test_the_readme_is_read_in_five_minutes() -> None:
    assert len((REPOSITORY / "README.md").read_bytes()) <= 12 * 1024


def test_every_page_says_who_it_is_for() -> None:
    for page in (REPOSITORY / "docs").glob("*.md"):
        opening = page.read_text().split("\n\n")[1]
        assert opening.startswith(("For ", "How ")), page.name


def test_every_environment_setting_is_in_the_configuration_page() -> None:
    from likeness.config import Settings

    page = (REPOSITORY / "docs" / "configure.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in page]
    assert missing == []
