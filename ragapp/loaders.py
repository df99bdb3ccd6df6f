"""Load files into Documents: PDF text page by page (pypdf), plain text, Markdown, HTML and DOCX."""

from __future__ import annotations

import codecs
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from ragapp.documents import Document, Page, content_hash
from ragapp.splitter import HEADING_SEPARATOR

PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES

NO_TEXT = "no extractable text (probably a scan: OCR is not enabled)"
NO_VISIBLE_TEXT = "no visible text (the page holds only scripts, styles, images or hidden parts)"


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
    elif suffix in HTML_SUFFIXES:
        title, pages, kind = *_read_html(data), "html"
    elif suffix in DOCX_SUFFIXES:
        title, pages, kind = *_read_docx(data), "docx"
    else:
        text = _decode_text(data)
        if not text.strip():  # whitespace in UTF-16, or behind a byte-order mark
            raise LoadError("empty file")
        kind = "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
        title = _markdown_title(text) if kind == "markdown" else None
        pages = (Page(None, text),)
    if not any(page.text.strip() for page in pages):
        # "A scan" is the likely story for a PDF or a Word file of pictures, not for a web page.
        raise LoadError(NO_VISIBLE_TEXT if kind == "html" else NO_TEXT)
    return Document(
        path=str(path),
        source=source,
        title=title or title_from_name(path),
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
            title = _CONTROL.sub("", reader.metadata.title or "").strip() if reader.metadata else None
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
    except MemoryError:
        raise  # not damage: the worker reports the memory limit
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
            marks.append((number + 1, title, HEADING_SEPARATOR.join((*parents, title))))
        last = title or last
    return marks


# Control characters that no text contains (tab, line feed, carriage return and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _clean_pdf_text(text: str) -> str:
    # Extraction leaves NULs, control characters (glyphs of fonts it cannot map, e.g. maths) and
    # trailing spaces that only add noise to passages.
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


# Byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_C1 = re.compile(r"[\x80-\x9f]")


def _decode_text(data: bytes, declared: str | None = None) -> str:
    """The text of the bytes, by byte-order mark, else the declared encoding, else UTF-8, cp1252, latin-1."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(codec))
            except UnicodeDecodeError:
                raise LoadError(f"cannot decode the text (invalid {name} after its byte-order mark)") from None
    if b"\x00" in data:
        # No text has NUL bytes, except UTF-16, where they are the other half of ASCII characters.
        codec = _bomless_utf16(data)
        if codec is None:
            raise LoadError("binary data, not text")
        try:
            return _checked(data.decode(codec))
        except UnicodeDecodeError:
            raise LoadError("binary data, not text") from None
    for codec in filter(None, (declared, "utf-8", "cp1252")):
        try:
            return _checked(data.decode(codec))
        except (UnicodeDecodeError, LookupError):  # LookupError: a declared codec that is not for text
            continue
    text = data.decode("latin-1")  # never fails: every byte is a latin-1 character
    if _too_many(_CONTROL, text):
        raise LoadError("binary data, not text")
    if _too_many(_C1, text):  # another encoding (Shift-JIS, KOI8-R, ...) that latin-1 turns into controls
        raise LoadError("cannot decode the text (not UTF-8, UTF-16, cp1252 or latin-1)")
    return text


def _bomless_utf16(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the NUL bytes fall as in mostly-ASCII UTF-16 text, else None."""
    if len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    # Each ASCII character is a NUL byte beside a non-NUL one; which side the NULs are on tells the order.
    if odd.count(0) > len(odd) / 2 and even.count(0) < len(even) / 20:
        return "utf-16-le"
    if even.count(0) > len(even) / 2 and odd.count(0) < len(odd) / 20:
        return "utf-16-be"
    return None


def _checked(text: str) -> str:
    """The text, unless its control characters show it to be binary data."""
    if _too_many(_CONTROL, text) or _too_many(_C1, text):
        raise LoadError("binary data, not text")
    return text


def _too_many(pattern: re.Pattern[str], text: str) -> bool:
    # A stray control character (a DOS end-of-file mark) is noise in a text; many mean binary data.
    return len(pattern.findall(text)) > max(2, len(text) / 100)


_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    match = _HEADING.search(text)
    return match.group(1).strip() if match else None


def title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _page_of_blocks(blocks: list[tuple[str, int | None]]) -> Page:
    """One page of the blocks (text, heading level or None), a blank line apart, a section at each heading."""
    sections: list[tuple[int, str]] = []
    stack: list[tuple[int, str]] = []  # (level, title) of the headings in force
    position, bare = 0, False  # bare: the last heading has nothing under it yet
    for text, level in blocks:
        if level is not None:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(text.split())))
            path = HEADING_SEPARATOR.join(title for _, title in stack)
            if bare:  # as for Markdown: a heading with only a heading under it joins that one's section
                sections[-1] = (sections[-1][0], path)
            else:
                sections.append((position, path))
        bare = level is not None
        position += len(text) + 2
    if sections and sections[0][0] > 0:  # the text before the first heading sits under none
        sections.insert(0, (0, ""))
    return Page(None, "\n\n".join(text for text, _ in blocks), tuple(sections))


def _read_html(data: bytes) -> tuple[str | None, list[Page]]:
    text = _decode_text(data, _declared_charset(data))
    parser = _HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # html.parser's only complaint: an unknown <![...[ section
        raise LoadError(f"damaged HTML ({exc})") from None
    first_h1 = next((" ".join(block.split()) for block, level in parser.blocks if level == 1), None)
    return parser.title or first_h1, [_page_of_blocks(parser.blocks)]


_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)


def _declared_charset(data: bytes) -> str | None:
    """The Python codec of the charset a <meta> tag in the first 2 KB declares, if it names one."""
    match = _META_CHARSET.search(data[:2048])
    if not match:
        return None
    try:
        codec = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    # As browsers do: a declaration readable as ASCII is not in UTF-16, and "latin-1" means cp1252.
    if codec.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return "cp1252" if codec in ("iso8859-1", "ascii") else codec


_HTML_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
    "hr", "html", "legend", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
    "thead", "tr", "ul",
}
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# <head> needs no skipping of its own: it holds the <title>, read as the title, and elements that show nothing.
_HTML_UNSHOWN = {"script", "style", "noscript", "template", "svg", "iframe", "canvas"}
_HTML_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace: not the no-break space


class _HtmlText(HTMLParser):
    """The visible text of an HTML page as blocks (text, heading level or None), and its <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int | None]] = []
        self.title: str | None = None
        self._parts: list[str] = []  # the text of the block being read
        self._heading: int | None = None
        self._pre = 0  # how many <pre> elements the text is in
        self._unshown: tuple[str, int] | None = None  # (tag, nesting) of the element being skipped
        self._title_parts: list[str] | None = None  # while in <title>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._unshown:
            if tag == self._unshown[0] and tag not in _HTML_VOID:
                self._unshown = (tag, self._unshown[1] + 1)
            return
        attributes = dict(attrs)
        # Pages that hide <body> until a script has run still show it in the end.
        hidden = tag not in ("html", "body") and (
            "hidden" in attributes or _DISPLAY_NONE.search(attributes.get("style") or "")
        )
        if tag == "title":
            self._title_parts = []
        elif tag in _HTML_UNSHOWN or hidden:
            # A void element has no content to hide; one whose end tag is missing hides the rest, as in a browser.
            if tag not in _HTML_VOID:
                self._unshown = (tag, 1)
        elif tag == "br":
            self._parts.append("\n")
        elif tag in ("td", "th") and "".join(self._parts).strip():
            self._parts.append(" | ")  # the cells of a row make one line
        elif tag in _HTML_BLOCKS:
            self._end_block()
            if tag == "pre":
                self._pre += 1
            self._heading = _HTML_HEADINGS.get(tag, self._heading)

    def handle_endtag(self, tag: str) -> None:
        if self._unshown:
            if tag == self._unshown[0]:
                depth = self._unshown[1] - 1
                self._unshown = (tag, depth) if depth else None
            return
        if tag == "title" and self._title_parts is not None:
            self.title = self.title or " ".join("".join(self._title_parts).split()) or None
            self._title_parts = None
        elif tag in _HTML_BLOCKS:
            self._end_block()  # before leaving the heading or <pre>: the block is one of theirs
            if tag in _HTML_HEADINGS:
                self._heading = None
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._unshown:
            return
        if self._title_parts is not None:
            self._title_parts.append(data)
        else:
            # Outside <pre>, a run of whitespace (line breaks of the source included) shows as one space.
            self._parts.append(data if self._pre else _HTML_SPACE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._end_block()

    def _end_block(self) -> None:
        text, self._parts = "".join(self._parts), []
        if self._pre:
            text = "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
        else:  # only <br> breaks a line here
            text = re.sub(r"\n{3,}", "\n\n", "\n".join(" ".join(line.split()) for line in text.split("\n"))).strip()
        if text.strip():
            self.blocks.append((text, self._heading))


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_DOCX_PART = 200 * 2**20  # bytes, uncompressed: far beyond any real document, well short of a zip bomb
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_DC = "{http://purl.org/dc/elements/1.1/}"


def _read_docx(data: bytes) -> tuple[str | None, list[Page]]:
    if data.startswith(_OLE_MAGIC):  # Word keeps an encrypted .docx in an OLE compound file, not a zip
        raise LoadError("password-protected document")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LoadError("damaged DOCX (not a zip archive, or a truncated one)") from None
    try:
        document = _docx_part(archive, "word/document.xml")
        if document is None:
            raise LoadError("damaged DOCX (no word/document.xml in it)")
        try:
            styles, core = _docx_part(archive, "word/styles.xml"), _docx_part(archive, "docProps/core.xml")
        except Exception:  # broken styles or properties must not lose the text
            styles = core = None
    except LoadError:
        raise
    except ElementTree.ParseError as exc:
        raise LoadError(f"damaged DOCX (bad XML in word/document.xml: {exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise LoadError(f"damaged DOCX ({exc})") from None
    # Strict Open XML documents use another namespace; the root element tells which.
    w = document.tag[: document.tag.index("}") + 1] if document.tag.startswith("{") else ""
    body = document.find(f"{w}body")
    blocks = _docx_blocks(body, w, _docx_heading_styles(styles, w)) if body is not None else []
    title_element = core.find(f"{_DC}title") if core is not None else None
    title = " ".join((title_element.text or "").split()) if title_element is not None else ""
    first_heading = next((" ".join(text.split()) for text, level in blocks if level is not None), None)
    return title or first_heading, [_page_of_blocks(blocks)]


def _docx_part(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    """The parsed XML of one part of the package; None when there is no such part."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_DOCX_PART:  # reading stops at the declared size, so checking it is enough
        raise LoadError(f"damaged DOCX ({name} is implausibly large)")
    return ElementTree.fromstring(archive.read(info))


def _docx_parts(element: ElementTree.Element, w: str) -> Iterator[ElementTree.Element]:
    """The children of an element, with the content of content controls and custom XML in their place."""
    for child in element:
        if child.tag in (f"{w}sdt", f"{w}sdtContent", f"{w}customXml"):
            yield from _docx_parts(child, w)
        else:
            yield child


def _docx_blocks(
    container: ElementTree.Element, w: str, styles: dict[str, int | None]
) -> list[tuple[str, int | None]]:
    """(text, heading level or None) of the paragraphs of a body or table cell, a block per table row."""
    blocks: list[tuple[str, int | None]] = []
    for child in _docx_parts(container, w):
        if child.tag == f"{w}p":
            text = _docx_text(child, w).strip()
            if text:
                blocks.append((text, _docx_heading_level(child, w, styles)))
        elif child.tag == f"{w}tbl":
            for row in _docx_parts(child, w):
                if row.tag != f"{w}tr":
                    continue
                cells = [
                    " ".join(" ".join(text.split()) for text, _ in _docx_blocks(cell, w, styles))
                    for cell in _docx_parts(row, w)
                    if cell.tag == f"{w}tc"
                ]
                if any(cells):
                    blocks.append((" | ".join(cell for cell in cells if cell), None))
    return blocks


def _docx_text(element: ElementTree.Element, w: str) -> str:
    """The text of a paragraph's runs, hyperlinks, fields and text boxes."""
    parts = []
    for child in element:
        tag = child.tag
        if tag == f"{w}t":
            parts.append(child.text or "")
        elif tag == f"{w}tab":
            parts.append("\t")
        elif tag in (f"{w}br", f"{w}cr"):
            parts.append("\n")
        elif tag == f"{w}noBreakHyphen":
            parts.append("-")
        elif tag == f"{w}p":  # a paragraph of a text box anchored in this one
            parts.append("\n" + _docx_text(child, w))
        elif tag not in (f"{w}pPr", f"{_MC}Fallback"):  # tab stops are no text; a fallback repeats a text box
            parts.append(_docx_text(child, w))
    return "".join(parts)


def _docx_heading_level(paragraph: ElementTree.Element, w: str, styles: dict[str, int | None]) -> int | None:
    """The paragraph's heading level (0 for the Title style), or None when it is not a heading."""
    props = paragraph.find(f"{w}pPr")
    if props is None:
        return None
    outline = props.find(f"{w}outlineLvl")
    if outline is not None:  # set on the paragraph itself, it overrides its style
        return _outline_level(outline, w)
    style = props.find(f"{w}pStyle")
    style_id = style.get(f"{w}val", "") if style is not None else ""
    if style_id in styles:
        return styles[style_id]
    match = re.fullmatch(r"heading\s*([1-9])", style_id, re.IGNORECASE)  # no styles.xml, or a style missing in it
    return int(match.group(1)) if match else (0 if style_id.lower() == "title" else None)


def _docx_heading_styles(styles: ElementTree.Element | None, w: str) -> dict[str, int | None]:
    """Heading level of each paragraph style id that has one, or inherits one through basedOn."""
    own: dict[str, int | None] = {}
    based_on: dict[str, str] = {}
    for style in styles.iter(f"{w}style") if styles is not None else ():
        style_id = style.get(f"{w}styleId")
        if style.get(f"{w}type") != "paragraph" or not style_id:
            continue
        # Localized documents translate the ids ("berschrift1"), not the names of built-in styles.
        name_element = style.find(f"{w}name")
        name = (name_element.get(f"{w}val", "") if name_element is not None else "").lower()
        outline = style.find(f"{w}pPr/{w}outlineLvl")
        if match := re.fullmatch(r"heading ([1-9])", name):
            own[style_id] = int(match.group(1))
        elif name == "title":
            own[style_id] = 0
        elif outline is not None:
            own[style_id] = _outline_level(outline, w)
        parent = style.find(f"{w}basedOn")
        if parent is not None and parent.get(f"{w}val"):
            based_on[style_id] = parent.get(f"{w}val")
    levels: dict[str, int | None] = {}
    for style_id in based_on.keys() | own.keys():
        ancestor, seen = style_id, set()
        while ancestor not in own and ancestor in based_on and ancestor not in seen:  # seen: a loop of basedOn
            seen.add(ancestor)
            ancestor = based_on[ancestor]
        if ancestor in own:
            levels[style_id] = own[ancestor]
    return levels


def _outline_level(element: ElementTree.Element, w: str) -> int | None:
    """Heading level of a w:outlineLvl: 0..8 are headings 1..9, 9 is body text."""
    value = element.get(f"{w}val", "")
    return int(value) + 1 if value.isdigit() and int(value) < 9 else None
