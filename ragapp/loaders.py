"""Load files into Documents: PDF text page by page (pypdf), plain text and Markdown."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ragapp.documents import Document, Page, content_hash

PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES


class LoadError(Exception):
    """A file could not be turned into text; the message is the reason, for a person."""


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def load(path: Path, root: Path | None = None) -> Document:
    """Read one file into a Document; raise LoadError with a plain reason when that is impossible."""
    path = path.resolve()
    root = (root or path.parent).resolve()
    source = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type '{suffix or path.name}'")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise LoadError("empty file")
    digest = content_hash(data)
    if suffix in PDF_SUFFIXES:
        title, pages, kind = *_read_pdf(path), "pdf"
    else:
        text = _decode_text(data)
        kind = "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
        title = _markdown_title(text) if kind == "markdown" else None
        pages = (Page(None, text),)
    if not any(page.text.strip() for page in pages):
        raise LoadError("no extractable text (a scanned document? OCR is not enabled)")
    return Document(
        path=str(path),
        source=source,
        title=title or _title_from_name(path),
        kind=kind,
        content_hash=digest,
        pages=tuple(pages),
    )


def _read_pdf(path: Path) -> tuple[str | None, list[Page]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfStreamError

    # pypdf reports recoverable oddities of real-world PDFs as warnings; they are not failures.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise LoadError(f"encrypted with an unsupported method ({exc})") from None
            if not opened:
                raise LoadError("password-protected PDF")
        title = None
        try:
            title = (reader.metadata.title or "").strip() if reader.metadata else None
        except Exception:  # broken metadata must not lose the text
            title = None
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            pages.append(Page(number, _clean_pdf_text(page.extract_text() or "")))
        pages = _with_outline(reader, pages)
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError("password-protected PDF") from None
    except (PdfReadError, PdfStreamError) as exc:
        raise LoadError(f"damaged PDF ({exc})") from None
    except Exception as exc:  # pypdf raises many types on malformed input
        raise LoadError(f"damaged PDF ({type(exc).__name__}: {exc})") from None
    return title or None, pages


def _with_outline(reader, pages: list[Page]) -> list[Page]:
    """The pages, each with the sections its outline (bookmarks) places on it: a section starts
    where its title is found in the page's text (at the top of the page when it is not found),
    and the section in force at the end of a page carries on at the top of the next."""
    try:
        marks = _outline_marks(reader, reader.outline, ())
    except Exception:  # a broken outline must not lose the text
        return pages
    if not marks:
        return pages
    by_page: dict[int, list[tuple[str, str]]] = {}
    for number, title, path in marks:
        by_page.setdefault(number, []).append((title, path))
    current, result = "", []
    for page in pages:
        sections, searched_from, lowered = [(0, current)], 0, page.text.lower()
        for title, path in by_page.get(page.number, []):
            found = lowered.find(title.lower(), searched_from)
            start = found if found >= 0 else searched_from
            # Start the section at the beginning of the line holding its title ("2 Bar").
            start = page.text.rfind("\n", 0, start) + 1 if start else 0
            searched_from = max(searched_from, found + len(title) if found >= 0 else searched_from)
            if sections[-1][0] >= start:
                sections[-1] = (sections[-1][0], path)
            else:
                sections.append((start, path))
            current = path
        result.append(Page(page.number, page.text, tuple(sections) if any(p for _, p in sections) else ()))
    return result


def _outline_marks(reader, items, parents: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(page number, title, heading path) of every outline entry, in outline order."""
    marks: list[tuple[int, str, str]] = []
    last: str | None = None
    for item in items:
        if isinstance(item, list):  # the children of the entry before
            if last is not None:
                marks.extend(_outline_marks(reader, item, (*parents, last)))
            continue
        title = " ".join(str(getattr(item, "title", "") or "").split())
        number = reader.get_destination_page_number(item)
        if title and number is not None and number >= 0:
            marks.append((number + 1, title, " \u203a ".join((*parents, title))))
        last = title or last
    return marks


def _clean_pdf_text(text: str) -> str:
    # Extraction leaves NULs and trailing spaces that only add noise to passages.
    text = text.replace("\x00", "")
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def _decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise LoadError("binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (undecodable byte at offset {exc.start})") from None


_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    match = _HEADING.search(text)
    return match.group(1).strip() if match else None


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name
