"""The parts of the Markdown pages the doc tests read: fenced blocks, links, headings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]

FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```\s*$", re.M | re.S
)
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    language: str
    body: str
    answer: Block | None  # the block right after it, the answer the text shows


def blocks(page: Path) -> list[Block]:
    """Every fenced block in order; a runnable one followed directly (blank lines only) by
    a ``json`` or ``text`` block has that block as its answer."""
    text = page.read_text()
    found = list(FENCE.finditer(text))
    result: list[Block] = []
    for index, match in enumerate(found):
        body = dedent(match["body"], len(match["indent"]))
        following = found[index + 1] if index + 1 < len(found) else None
        answer = None
        if following is not None and not text[match.end() : following.start()].strip():
            language = following["info"].strip().split(" ")[0]
            if language in ("json", "text"):
                answer = Block(language, dedent(following["body"], len(following["indent"])), None)
        result.append(Block(match["info"].strip().split(" ")[0], body, answer))
    return result


def dedent(body: str, indent: int) -> str:
    return "".join(
        line[indent:] if line[:indent].isspace() else line
        for line in body.splitlines(keepends=True)
    )


def links(page: Path) -> list[str]:
    """Every link target outside fenced blocks."""
    text = FENCE.sub("", page.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    return [match["target"] for match in LINK.finditer(text)]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    text = FENCE.sub("", page.read_text())
    result = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result.add(slug)
    return result
