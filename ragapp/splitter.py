"""Split documents into passages sized in tokens of the embedding model's own tokenizer."""

from __future__ import annotations

import functools
import re
from typing import Callable

from ragapp import series
from ragapp.documents import Document, Passage, passage_id

TokenCounter = Callable[[str], int]

# A sentence ends at . ! or ? followed by space and a capital, digit or quote; a paragraph at a
# blank line; a line on its own at a list item or heading. Other line breaks are only wrapping.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\s*\n[ \t]*\n\s*|\s*\n(?=[ \t]*(?:[-*+] |\d+[.)] |#|\|))"
)


_ABBREVIATION = re.compile(r"(?:^|\s)(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|vs|etc|e\.g|i\.e|approx)\.$")


def split_sentences(text: str) -> list[str]:
    """The sentences (and list items and headings) of a passage, stripped, wrapped lines joined."""
    sentences: list[str] = []
    for piece, before in _pieces(text):
        piece = " ".join(piece.split())
        if sentences and _ABBREVIATION.search(sentences[-1]) and "\n" not in before:
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def _pieces(text: str) -> list[tuple[str, str]]:
    """(piece, the break before it) for each non-empty piece between sentence breaks."""
    pieces, position, before = [], 0, ""
    for end in _SENTENCE_END.finditer(text):
        piece = text[position : end.start()].strip()
        if piece:
            pieces.append((piece, before))
        position, before = end.end(), end.group()
    piece = text[position:].strip()
    if piece:
        pieces.append((piece, before))
    return pieces


# Passages of a document are cut the same way for as long as these stay the same; a store records
# them with each file, so that a file cut by an older version is cut again by the next ingest.
SPLITTER_VERSION = 4
HEADING_SEPARATOR = " \u203a "  # "Handbook › Expenses › Travel"

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def recipe(chunk_size: int, chunk_overlap: int) -> str:
    """What decides how a file is cut into passages: the splitter's version and its sizes."""
    return f"split-v{SPLITTER_VERSION}/{chunk_size}/{chunk_overlap}"


def markdown_sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading path) of each part of a Markdown text that sits under one heading.

    A part runs from its heading line to the next heading; the text before the first heading is
    a part with an empty path. A heading with nothing under it but another heading is joined to
    the part that follows, whose path already names it. Headings inside code fences do not count.
    """
    starts: list[tuple[int, str]] = [(0, "")]
    stack: list[tuple[int, str]] = []
    position, fenced = 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line.rstrip("\r\n"))
        if heading:
            level, title = len(heading.group(1)), " ".join(heading.group(2).split())
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            starts.append((position, HEADING_SEPARATOR.join(t for _, t in stack)))
        position += len(line)
    sections: list[tuple[int, int, str]] = []
    for (start, path), (end, _) in zip(starts, [*starts[1:], (len(text), "")]):
        body = text[start:end]
        under_heading = body[body.find("\n") + 1 :] if path else body
        if not under_heading.strip() or (path and "\n" not in body):
            continue  # nothing under this heading: the part after it names it in its path
        # A part also takes the lines of the skipped headings before it.
        sections.append((sections[-1][1] if sections else 0, end, path))
    return sections


def split(document: Document, count_tokens: TokenCounter, chunk_size: int, chunk_overlap: int) -> list[Passage]:
    """Cut every page (or section: Markdown headings, a PDF's outline) of the document into
    overlapping passages that keep their exact offsets and the heading path they sit under."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # The splitter measures each piece more than once (when it cuts, then when it merges): a cache
    # per document cuts the tokenizer's work by more than half.
    count = functools.lru_cache(maxsize=16384)(count_tokens)
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        length_function=count,
        separators=["\n\n", "\n", ". ", " ", ""],
        keep_separator="end",
    )
    passages: list[Passage] = []
    first_text = document.pages[0].text if document.pages else ""
    period = series.document_period(document.source, document.title, first_text, "\n".join(p.text for p in document.pages))
    for page in document.pages:
        if page.sections:
            ends = [start for start, _ in page.sections[1:]] + [len(page.text)]
            parts = [(start, end, path) for (start, path), end in zip(page.sections, ends)]
        elif document.kind == "markdown":
            parts = markdown_sections(page.text) or [(0, len(page.text), "")]
        else:
            parts = [(0, len(page.text), "")]
        for part_start, part_end, heading in parts:
            part = page.text[part_start:part_end]
            start = -1
            for chunk in splitter.split_text(part):
                # Offsets are found here rather than by the splitter's add_start_index, which steps
                # back by chunk_overlap as if it were characters; ours is in tokens.
                found = part.find(chunk, start + 1)
                if found < 0:
                    found = part.find(chunk)
                if found < 0:  # the splitter only strips and joins, so this means a splitter change
                    raise RuntimeError(f"passage not found in the text of {document.source}")
                start = found
                at = part_start + found
                passages.append(
                    Passage(
                        id=passage_id(document.doc_id, document.content_hash, page.number, at, chunk),
                        doc_id=document.doc_id,
                        text=chunk,
                        source=document.source,
                        path=document.path,
                        title=document.title,
                        page=page.number,
                        start=at,
                        end=at + len(chunk),
                        content_hash=document.content_hash,
                        index=len(passages),
                        heading=heading,
                        dated=period.dated,
                        quarter=period.quarter,
                    )
                )
    return passages
