"""Split documents into passages sized in tokens of the embedding model's own tokenizer."""

from __future__ import annotations

import re
from typing import Callable

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


def split(document: Document, count_tokens: TokenCounter, chunk_size: int, chunk_overlap: int) -> list[Passage]:
    """Cut every page of the document into overlapping passages that keep their exact offsets."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        length_function=count_tokens,
        separators=["\n\n", "\n", ". ", " ", ""],
        keep_separator="end",
    )
    passages: list[Passage] = []
    for page in document.pages:
        start = -1
        for chunk in splitter.split_text(page.text):
            # Offsets are found here rather than by the splitter's add_start_index, which steps
            # back by chunk_overlap as if it were characters; ours is in tokens.
            found = page.text.find(chunk, start + 1)
            if found < 0:
                found = page.text.find(chunk)
            if found < 0:  # the splitter only strips and joins, so this means a splitter change
                raise RuntimeError(f"passage not found in the text of {document.source}")
            start = found
            passages.append(
                Passage(
                    id=passage_id(document.doc_id, document.content_hash, page.number, start, chunk),
                    doc_id=document.doc_id,
                    text=chunk,
                    source=document.source,
                    path=document.path,
                    title=document.title,
                    page=page.number,
                    start=start,
                    end=start + len(chunk),
                    content_hash=document.content_hash,
                    index=len(passages),
                )
            )
    return passages
