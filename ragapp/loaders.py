"""Load files into Documents: PDF text page by page (PDFium), plain text, Markdown, HTML and DOCX;
PowerPoint, Excel and CSV files through ragapp.office."""

from __future__ import annotations

import codecs
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from ragapp import ocr, series, tables
from ragapp.documents import Document, Page, content_hash
from ragapp.splitter import HEADING_SEPARATOR

PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}  # read by OCR (ragapp.ocr)
OFFICE_KINDS = {".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv"}  # read by ragapp.office
SUPPORTED_SUFFIXES = PDF_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES | set(OFFICE_KINDS) | IMAGE_SUFFIXES

# A Word file of pictures: OCR reads scanned PDF pages and image files, not pictures inside documents.
NO_TEXT = "no extractable text (only pictures: OCR reads PDF pages and image files, not pictures in documents)"
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
        title = _filing_title(title, pages)
    elif suffix in IMAGE_SUFFIXES:
        title, pages, kind = None, _read_image(data), "image"
    elif suffix in HTML_SUFFIXES:
        title, pages, kind = *_read_html(data), "html"
    elif suffix in DOCX_SUFFIXES:
        title, pages, kind = *_read_docx(data), "docx"
    elif suffix in OFFICE_KINDS:
        from ragapp import office  # imported here: it imports this module (LoadError, _decode_text)

        kind = OFFICE_KINDS[suffix]
        title, pages = {"pptx": office.read_pptx, "xlsx": office.read_xlsx, "csv": office.read_csv}[kind](data)
    else:
        text = _decode_text(data)
        if not text.strip():  # whitespace in UTF-16, or behind a byte-order mark
            raise LoadError("empty file")
        kind = "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
        title = _markdown_title(text) if kind == "markdown" else None
        pages = (Page(None, text),)
    if not any(page.text.strip() for page in pages):
        if kind in ("pdf", "image") and ocr.unavailable_reason():
            raise LoadError(ocr.unavailable_reason())
        if kind == "image":
            raise LoadError(ocr.NO_WORDS)
        # "A scan" is the likely story for a PDF or a Word file of pictures, not for a web page.
        raise LoadError(NO_VISIBLE_TEXT if kind == "html" else NO_TEXT)
    return Document(
        path=str(path),
        source=source,
        title=title or title_from_name(path),
        kind=kind,
        content_hash=digest,
        # Plain Pages: that a page was read by OCR is told by ocr_pages.
        pages=tuple(Page(p.number, p.text, p.sections) for p in pages),
        ocr_pages=sum(1 for page in pages if isinstance(page, _OcrPage) and page.text.strip()),
    )


# What reads the files, by version: a file that an older reader refused is read again by the next
# ingest (2: PDFs read by PDFium, which reads files that pypdf's limits refused; 3: scans read by OCR;
# 4: PDF tables written row by row with their headers; 5: a browser's print of a table read as one).
READER_VERSION = 5


class _OcrPage(Page):
    """A page whose text Tesseract read from its image (counted as Document.ocr_pages)."""


def _ocr(image, where: str, deadline: "ocr.Deadline") -> str:
    try:
        return ocr.text_of(ocr.read_words(image, timeout_s=deadline.page_timeout()))
    except ocr.OcrError as exc:
        raise LoadError(f"OCR failed on {where} ({exc})") from None


def _read_image(data: bytes) -> list[Page]:
    """The text of a PNG, JPEG or TIFF (each frame of a TIFF a page) by OCR."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    if ocr.unavailable_reason():
        raise LoadError(ocr.unavailable_reason())
    deadline = ocr.Deadline()
    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    except Image.DecompressionBombError:
        raise LoadError("image too large to read (over Pillow's pixel limit)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise LoadError(f"damaged image ({exc})") from None
    if len(frames) == 1:  # one image is one page, cited without a page number, as a text file
        return [_OcrPage(None, _ocr(frames[0], "the image", deadline))]
    return [_OcrPage(n, _ocr(frame, f"page {n}", deadline)) for n, frame in enumerate(frames, start=1)]


def _read_pdf(path: Path) -> tuple[str | None, list[Page]]:
    """Title and pages of a PDF, read by PDFium, the engine that also draws the page images: it
    reads sound files that pypdf's safety limits refuse (a report of many tables can hold arrays
    longer than pypdf reads: "Reached maximum array element count"), several times faster, and its
    text is the text the highlight looks for. Where PDFium cannot read a file, pypdf tries, as it
    recovers some broken files PDFium gives up on; a file that neither reads is damaged."""
    try:
        return _read_pdf_with_pdfium(path)
    except _PdfiumFailed as exc:
        return _read_pdf_with_pypdf(path, pdfium_failure=str(exc))


class _PdfiumFailed(Exception):
    """PDFium could not read the file; the message says what it reported."""


def _read_pdf_with_pdfium(path: Path) -> tuple[str | None, list[Page]]:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))  # opens an encrypted file with the empty password, as viewers do
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise LoadError("password-protected PDF") from None
        code = pdfium.internal.ErrorToStr.get(exc.err_code) if exc.err_code is not None else None
        raise _PdfiumFailed(f"PDFium: {code or exc}") from None
    try:
        try:
            title = _CONTROL.sub("", doc.get_metadata_value("Title")).strip()
        except Exception:  # broken metadata must not lose the text
            title = ""
        pages = []
        use_ocr, deadline = ocr.unavailable_reason() is None, ocr.Deadline()
        ocr_found_nothing = False
        for index in range(len(doc)):
            page = doc[index]
            try:
                textpage = page.get_textpage()
                try:
                    # All the page's characters in PDFium's reading order, each once: the same ones
                    # the highlight (ragapp/pages.py) aligns a passage with.
                    text = textpage.get_text_range()
                    if tables.regions(text):
                        text = tables.rewrite_tables(text, _text_runs(textpage, text))
                finally:
                    textpage.close()
                if use_ocr and ocr.needs_ocr(text):
                    # Only pages without a text layer: where there is one, it is the page's own text.
                    bitmap = page.render(scale=ocr.scale_for(*page.get_size()), grayscale=True)
                    image = bitmap.to_pil()
                    bitmap.close()
                    read = _ocr(image, f"page {index + 1}", deadline)
                    if read.strip():  # else the few characters of its text layer are all it has
                        pages.append(_OcrPage(index + 1, read))
                        continue
                    ocr_found_nothing = True
            finally:
                page.close()
            pages.append(Page(index + 1, _clean_pdf_text(text)))
        try:
            marks = _pdfium_outline_marks(doc)
        except Exception:  # a broken outline must not lose the text
            marks = []
    except pdfium.PdfiumError as exc:
        raise _PdfiumFailed(f"PDFium: {exc}".rstrip(".")) from None
    finally:
        doc.close()
    if ocr_found_nothing and not any(page.text.strip() for page in pages):
        raise LoadError(ocr.NO_WORDS)
    return title or None, _with_outline(_without_running_lines(pages), marks)


def _text_runs(textpage, text: str) -> list[tuple[str, float, float, float, float]]:
    """(text, left, bottom, right, top) of each run of words that sit together on a line, for the
    parts of the page that may be tables (tables.regions), in the text's order. Each word is placed
    by its first and last character, so a page costs a few calls per word, not one per character."""
    import ctypes

    import pypdfium2.raw as raw

    if textpage.count_chars() != len(text):  # the text's offsets are not PDFium's char indices
        return []
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))

    def box(i: int) -> tuple[float, float, float, float]:
        raw.FPDFText_GetCharBox(textpage.raw, i, left, right, bottom, top)
        return left.value, bottom.value, right.value, top.value

    runs: list[tuple[str, float, float, float, float]] = []
    for start, end in tables.regions(text):
        run = None
        for word in re.finditer(r"\S+", text[start:end]):
            a, b = start + word.start(), start + word.end()
            x0, y0, _, y1 = box(a)
            _, z0, x1, z1 = box(b - 1)
            y0, y1 = min(y0, z0), max(y1, z1)
            size = raw.FPDFText_GetFontSize(textpage.raw, a) or max(y1 - y0, 1.0)
            # The next word of the same line, a space away (a space is about a quarter of the font
            # size; cells of a table lie further apart): the same run ("Total net sales"). Next to
            # a figure, less apart is a cell's edge: "937" and the next column's "$" are often close.
            figure = tables.is_figure(word.group()) or (run is not None and tables.is_figure(run[6]))
            gap = (0.4 if figure else 0.6) * size
            if run and run[2] < y1 and y0 < run[4] and x0 - run[3] < gap and x0 >= run[3] - 0.5:
                run = [text[run[5]:b], run[1], min(run[2], y0), x1, max(run[4], y1), run[5], word.group()]
                runs[-1] = tuple(run[:5])
            else:
                run = [word.group(), x0, y0, x1, y1, a, word.group()]
                runs.append(tuple(run[:5]))
    return runs


def _running_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _without_running_lines(pages: list[Page]) -> list[Page]:
    """The pages without their running header and footer: a first or last line that, but for its
    numbers, opens (or ends) most pages ("Acme, Inc. | Q3 2023 Form 10-Q | 8"). Left in, it is
    glued to the page's first sentence, which then reads as about every period and page at once.
    Next to a running line, the one inside it is looked at too: a browser's print draws its header
    ("12/2/26, 6:23 PM Acme 10-Q") and footer ("file:///... 4/10") last, one after the other."""
    texts = [page.text for page in pages]
    if len(texts) < 3:
        return pages
    positions = (0, 1, -1, -2)  # first, second, last and last but one line of a page
    running: set[tuple[int, str]] = set()
    for at in positions:
        counts: dict[str, int] = {}
        for text in texts:
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) >= 3 + (at in (1, -2)):  # a page of a line or two is all content (a caption, a label)
                key = _running_key(lines[at])
                counts[key] = counts.get(key, 0) + 1
        running |= {(at, key) for key, n in counts.items() if n >= max(3, len(texts) // 2) and key.strip("# ")}
    if not running:
        return pages
    result = []
    for page in pages:
        lines = page.text.splitlines()
        filled = [i for i, line in enumerate(lines) if line.strip()]
        drop = set()
        if len(filled) >= 3:
            for outer, inner in ((0, 1), (-1, -2)):
                if (outer, _running_key(lines[filled[outer]])) in running:
                    drop.add(filled[outer])
                    if len(filled) >= 4 and (inner, _running_key(lines[filled[inner]])) in running:
                        drop.add(filled[inner])
        text = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip()
        result.append(type(page)(page.number, text, page.sections))
    return result


def _filing_title(title: str | None, pages: list[Page]) -> str | None:
    """A securities filing's title with the company it is of: its metadata title is often only
    "10-Q" or the file's name, and its tables never name the company, so that a question naming
    the company would not find them (the title is searched with each passage)."""
    company = series.registrant(pages[0].text) if pages else ""
    if not company or title and company.lower() in title.lower():
        return title
    period = series.PERIOD_ENDED.search(pages[0].text[:6000])
    what = title or (f"report for the {' '.join(period.group(0).split())}" if period else "")
    return f"{company}: {what}" if what else company


def _pdfium_outline_marks(doc) -> list[tuple[int, str, str]]:
    """(page number, title, heading path) of every outline entry, in outline order."""
    marks: list[tuple[int, str, str]] = []
    parents: list[str] = []  # the titles of the entries above the current one, one per level
    for bookmark in doc.get_toc():
        title = " ".join(bookmark.get_title().split())
        del parents[bookmark.level :]
        dest = bookmark.get_dest()  # also the destination of a GoTo action
        number = dest.get_index() if dest is not None else None
        if title and number is not None:
            marks.append((number + 1, title, HEADING_SEPARATOR.join([*filter(None, parents), title])))
        parents.append(title)
    return marks


def _read_pdf_with_pypdf(path: Path, pdfium_failure: str) -> tuple[str | None, list[Page]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError, PdfStreamError

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
        try:
            marks = _pypdf_outline_marks(reader, reader.outline, ())
        except Exception:  # a broken outline must not lose the text
            marks = []
        pages = _with_outline(pages, marks)
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError("password-protected PDF") from None
    except LimitReachedError:
        # pypdf's own limit says nothing about the file: what PDFium found wrong with it does.
        raise LoadError(f"damaged PDF ({pdfium_failure})") from None
    except (PdfReadError, PdfStreamError) as exc:
        raise LoadError(f"damaged PDF ({exc})") from None
    except MemoryError:
        raise  # not damage: the worker reports the memory limit
    except Exception as exc:  # pypdf raises many types on malformed input
        raise LoadError(f"damaged PDF ({type(exc).__name__}: {exc})") from None
    return title or None, pages


def _with_outline(pages: list[Page], marks: list[tuple[int, str, str]]) -> list[Page]:
    """The pages, each with the sections its outline (bookmarks: `marks`) places on it: a section
    starts where its title is found in the page's text (at the top of the page when it is not
    found), and the section in force at the end of a page carries on at the top of the next."""
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
        # type(page): a page read by OCR stays one (see _OcrPage).
        result.append(type(page)(page.number, page.text, tuple(sections) if any(p for _, p in sections) else ()))
    return result


def _pypdf_outline_marks(reader, items, parents: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(page number, title, heading path) of every outline entry, in outline order."""
    marks: list[tuple[int, str, str]] = []
    last: str | None = None
    for item in items:
        if isinstance(item, list):  # the children of the entry before
            if last is not None:
                marks.extend(_pypdf_outline_marks(reader, item, (*parents, last)))
            continue
        title = " ".join(str(getattr(item, "title", "") or "").split())
        number = reader.get_destination_page_number(item)
        if title and number is not None and number >= 0:
            marks.append((number + 1, title, HEADING_SEPARATOR.join((*parents, title))))
        last = title or last
    return marks


# Control characters that no text contains (tab, line feed, carriage return and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Where PDFium joins a word hyphenated across two lines it leaves U+FFFE in place of the hyphen.
# Before a lower-case letter it most likely split one word ("taki-" "mata": "takimata"), else it is
# a hyphen of the text ("Schwarz-" "Weiß": "Schwarz-Weiß").
_PDFIUM_HYPHEN = re.compile("\ufffe(.?)", re.DOTALL)


def _clean_pdf_text(text: str) -> str:
    # Extraction leaves NULs, control characters (glyphs of fonts it cannot map, e.g. maths) and
    # trailing spaces that only add noise to passages; PDFium ends lines with "\r\n".
    text = _CONTROL.sub("", text)
    text = _PDFIUM_HYPHEN.sub(lambda m: m[1] if m[1].islower() else "-" + m[1], text)
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
_ISO2022_SHIFT = re.compile(rb"\x1b[$(][@-Z]")  # the escape sequences that switch ISO-2022 to another character set


def _decode_text(data: bytes, declared: str | None = None) -> str:
    """The text of the bytes, by byte-order mark, else the declared encoding, else UTF-8, else the
    encoding the detector names with confidence (see _guess_encoding)."""
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
    # A page's own <meta charset> is what a browser shows it in, so it is trusted as it is there.
    # ISO-2022 text (Japanese e-mail) is 7-bit, so valid UTF-8: read so, it would be "$B=>6H0w".
    iso2022 = "iso2022_jp_2" if _ISO2022_SHIFT.search(data) else None
    for codec in filter(None, (declared, iso2022, "utf-8")):
        try:
            return _checked(data.decode(codec))
        except (UnicodeDecodeError, LookupError):  # LookupError: a declared codec that is not for text
            continue
    if _too_many(_CONTROL, data.decode("latin-1")):
        raise LoadError("binary data, not text")
    return _checked(_guess_encoding(data))


# The detector's measures (charset-normalizer): "chaos" is the share of the decoded text that looks
# wrong (mixed scripts in a word, odd symbols), "coherence" how well its letters follow the letter
# frequencies of a language. Right guesses on a few sentences of Russian, Chinese, Greek, Japanese
# or French score chaos 0 and coherence 0.16-0.76; text too short to judge scores coherence 0.
MAX_CHAOS = 0.1
MIN_COHERENCE = 0.1
# Other guesses with at most this much more chaos than the best one are weighed with it.
CHAOS_MARGIN = 0.02
# Code pages that fit western text about as well as cp1252 and on a few sentences may even read as
# more of a language to the detector ("ü" is "³" in cp775, "ä" is "ð" in hp_roman8), though
# documents are hardly ever written in them now: DOS, Mac and HP code pages for Latin script.
RARE_WESTERN = frozenset(
    """cp437 cp850 cp852 cp857 cp858 cp860 cp861 cp863 cp865 cp775 mac_roman mac_iceland mac_turkish
    mac_latin2 hp_roman8 cp1006 cp1258""".split()
)
# The encodings documents are written in today, which the detector is asked about once more on its own.
COMMON_ENCODINGS = (
    "cp1252", "cp1250", "iso8859_2", "cp1251", "koi8_r", "koi8_u", "iso8859_5", "cp866",
    "cp1253", "iso8859_7", "cp1254", "iso8859_9", "cp1255", "iso8859_8", "cp1256", "iso8859_6", "cp874",
    "gb18030", "big5", "cp932", "euc_jp", "cp949",
)


def _guess_encoding(data: bytes) -> str:
    """The text of bytes that are not UTF-8, in the encoding the detector is confident of; else, if
    it reads as western text (see _western), in cp1252 or latin-1; else refused.

    Any bytes decode in a single-byte encoding, so decoding is no test: KOI8-R "Сотрудники" read as
    cp1252 is "óÏÔÒÕÄÎÉËÉ", which would be stored and searched as if it were text."""
    import charset_normalizer

    # The detector skips encodings like one it has found wanting: on two sentences of Greek it may
    # try cp1251 (and take it, garbled) and never cp1253. Asked about the common encodings alone, it
    # tries them all; the two answers are weighed together.
    found = [
        *charset_normalizer.from_bytes(data),
        *charset_normalizer.from_bytes(data, cp_isolation=list(COMMON_ENCODINGS)),
    ]
    # UTF-8 has failed, and UTF-16 or UTF-32 without a byte-order mark shows in NUL bytes, so a
    # guess of those is the detector reading 8-bit bytes in pairs.
    by_encoding = {m.encoding: m for m in found if not m.encoding.startswith("utf")}
    matches = sorted(by_encoding.values(), key=lambda m: (m.chaos, -m.coherence))
    best = matches[0] if matches else None
    if best is not None and best.chaos <= MAX_CHAOS and best.coherence >= MIN_COHERENCE:
        # Encodings of one script differ in a few places only, so several may show about as little
        # chaos; of those, a rare western code page comes last, then the detector's order decides
        # (chaos, then coherence), then cp1252, the encoding of nearly all western text (cp1250 fits
        # French as well, with "č" for "è").
        near = [m for m in matches if m.chaos <= best.chaos + CHAOS_MARGIN and m.coherence >= MIN_COHERENCE]
        chosen = max(near, key=lambda m: (not _rare(m), -m.chaos, m.coherence, "cp1252" in _encodings(m)))
        chosen = _unconfused(chosen, matches)
        # A rare western code page is the only near guess when cp1252 scored too little coherence
        # to be weighed (a few short lines: "HQ;Zürich;4 500 €" came out Mac Central European);
        # western text that cp1252 reads is taken as cp1252, as below.
        western = _western_text(data) if _rare(chosen) else None
        if western is not None:
            return western
        try:
            return data.decode(chosen.encoding)
        except UnicodeDecodeError:  # the detector reads samples of a large file, not all of it
            pass
    western = _western_text(data)
    if western is not None:
        return western
    unsure = f"the best guess, {best.encoding}, is unsure" if best is not None else "no other encoding fits"
    raise LoadError(f"cannot decode the text (unknown encoding: not UTF-8, and {unsure})")


def _western_text(data: bytes) -> str | None:
    """The bytes as cp1252 (or latin-1) text when that reads as western European text."""
    for codec in ("cp1252", "latin-1"):  # 0x81, 0x8d, 0x8f, 0x90 and 0x9d are not cp1252, are latin-1
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if _western(text) and not _too_many(_C1, text):
            return text
    return None


def _encodings(match) -> tuple[str, ...]:
    """The encoding of a detector's guess and those that read the bytes the same."""
    return (match.encoding, *match.could_be_from_charset)


def _rare(match) -> bool:
    return all(encoding in RARE_WESTERN for encoding in _encodings(match))


# Encodings of one script that the detector often scores alike, though each reads capitals of the
# other as signs: "Ά" of ISO-8859-7 is "¶" in cp1253 and that of cp1253 "’" in ISO-8859-7; "С" of
# cp1251 is "—" in Mac Cyrillic.
_CONFUSED = ({"iso8859_7", "cp1253"}, {"cp1251", "mac_cyrillic"})
_SIGN_OPENING_WORD = re.compile(r"(?<!\S)[^\w\s](?=[^\W\d_])")  # "¶δεια", "—отрудники"


def _unconfused(chosen, matches):
    """Of two encodings the detector confuses, the one whose words less often open with a sign."""
    pair = next((pair for pair in _CONFUSED if pair & set(_encodings(chosen))), None)
    if pair is None:
        return chosen
    rivals = [m for m in matches if pair & set(_encodings(m)) and m.chaos <= chosen.chaos + CHAOS_MARGIN]
    return min(rivals, key=lambda m: (len(_SIGN_OPENING_WORD.findall(str(m))), m is not chosen))


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _western(text: str) -> bool:
    """Whether the text reads as western European: its non-ASCII characters stand one or two at a
    time, as accents, quotes and signs do ("Graubünden", "„Ja“"). Cyrillic, Greek or Chinese read in
    a western encoding are runs of them, a whole word long ("óÏÔÒÕÄÎÉËÉ")."""
    runs = _NON_ASCII.findall(text)
    return sum(1 for run in runs if len(run) > 2) <= len(runs) / 20


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
    import html5lib

    text = _decode_text(data, _declared_charset(data))
    try:
        # An HTML5 parser builds the tree a browser builds: "<p hidden>" without its end tag ends
        # where a browser ends it (at the next <p>, <div>, <section>...), not at the end of the page.
        root = html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False)
    except MemoryError:
        raise
    except Exception as exc:  # html5lib fails an internal assertion on a few malformed pages
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise LoadError(f"damaged HTML (the parser failed: {detail})") from None
    blocks = _html_blocks(root, _hiding_rules(root))
    titles = (" ".join("".join(title.itertext()).split()) for title in root.iter("title"))
    title = next((title for title in titles if title), None)
    first_h1 = next((" ".join(block.split()) for block, level in blocks if level == 1), None)
    return title or first_h1, [_page_of_blocks(blocks)]


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
# Elements whose content a browser does not show: <head> (its <title> is read as the title), scripts
# and styles, and what the browser's own style sheet hides (datalist, noembed, noframes, rp).
_HTML_UNSHOWN = {
    "head", "title", "script", "style", "noscript", "template", "svg", "iframe", "canvas",
    "datalist", "noembed", "noframes", "rp",
}
# Inline style or a style sheet rule that hides an element: display:none, visibility:hidden.
_HIDES = re.compile(r"(?<![\w-])(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse))(?![\w-])", re.IGNORECASE)
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace: not the no-break space

# A selector of a hiding rule, as (tag or None, ids, classes) that an element must all have.
_Selector = tuple[str | None, frozenset[str], frozenset[str]]


class _HidingRules:
    """The selectors of hiding rules, filed under one id, class or tag each, so that an element is
    checked against the few that could select it (a style sheet may hold thousands)."""

    def __init__(self, selectors: list[_Selector]) -> None:
        self._filed: dict[tuple[str, str | None], list[_Selector]] = {}
        for selector in selectors:
            tag, ids, classes = selector
            key = ("#", min(ids)) if ids else (".", min(classes)) if classes else ("", tag)
            self._filed.setdefault(key, []).append(selector)

    def hide(self, tag: str, element_id: str | None, classes: set[str]) -> bool:
        if not self._filed:
            return False
        for key in (("", tag), ("#", element_id), *((".", c) for c in classes)):
            for t, ids, wanted in self._filed.get(key, ()):
                if (t is None or t == tag) and ids <= {element_id} and wanted <= classes:
                    return True
        return False


_SIMPLE_SELECTOR = re.compile(r"(?P<tag>[a-zA-Z][\w-]*|\*)?(?P<rest>(?:[.#][\w-]+)+)?")
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)


def _hiding_rules(root: ElementTree.Element) -> _HidingRules:
    """The selectors of the page's <style> rules that hide what they select (display:none or
    visibility:hidden). Only simple selectors are read: a tag, .class and #id, alone or together
    ("div.note#x"), in comma lists; rules with combinators, attributes or pseudo-classes and rules
    under @media (other than all or screen) or other at-rules are left out, as are linked style
    sheets, which are never fetched. The cascade is not followed: a hiding rule hides, even where
    a later one shows again (dropping text errs the safe way: hidden text is an injection path)."""
    selectors: list[_Selector] = []
    for style in root.iter("style"):
        if (style.get("media") or "all").strip().lower() in ("all", "screen"):
            selectors.extend(_css_hiding_selectors(_CSS_COMMENT.sub(" ", style.text or "")))
    return _HidingRules(selectors)


def _css_hiding_selectors(css: str) -> list[_Selector]:
    selectors: list[_Selector] = []
    for prelude, content in _css_blocks(css):
        prelude = prelude.rsplit(";", 1)[-1].strip()  # after statements such as @import ...;
        if prelude.startswith("@"):
            if " ".join(prelude.lower().split()) in ("@media all", "@media screen", "@media only screen"):
                selectors.extend(_css_hiding_selectors(content))
            continue
        if not _HIDES.search(content):
            continue
        for selector in (part.strip() for part in prelude.split(",")):
            match = _SIMPLE_SELECTOR.fullmatch(selector) if selector else None
            if not match:
                continue
            tag = (match.group("tag") or "*").lower()
            rest = match.group("rest") or ""
            if tag in ("html", "body", "*") and not rest:  # as for the hidden attribute, see _unshown
                continue
            ids = frozenset(re.findall(r"#([\w-]+)", rest))
            classes = frozenset(re.findall(r"\.([\w-]+)", rest))
            selectors.append((None if tag == "*" else tag, ids, classes))
    return selectors


def _css_blocks(css: str) -> list[tuple[str, str]]:
    """(prelude, content) of each top-level block of a style sheet: (".a, .b", "display: none")."""
    blocks, depth, start, opened = [], 0, 0, 0
    for position, char in enumerate(css):
        if char == "{":
            if depth == 0:
                opened = position
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                blocks.append((css[start:opened], css[opened + 1 : position]))
                start = position + 1
    return blocks


def _unshown(element: ElementTree.Element, rules: _HidingRules) -> bool:
    """Whether a browser shows nothing of the element: by its kind, its hidden or aria-hidden
    attribute, its inline style or a <style> rule that selects it."""
    tag = element.tag
    if not isinstance(tag, str):  # a comment
        return True
    tag = tag.rsplit("}", 1)[-1]  # SVG and MathML elements carry their namespace
    if tag in _HTML_UNSHOWN or (tag == "dialog" and element.get("open") is None):
        return True
    if tag in ("html", "body"):  # pages that hide <body> until a script has run still show it in the end
        return False
    if element.get("hidden") is not None or (element.get("aria-hidden") or "").strip().lower() == "true":
        return True
    if _HIDES.search(element.get("style") or ""):
        return True
    return rules.hide(tag, element.get("id"), set((element.get("class") or "").split()))


def _html_blocks(root: ElementTree.Element, rules: _HidingRules) -> list[tuple[str, int | None]]:
    """The visible text of a parsed page as blocks (text, heading level or None)."""
    blocks = _HtmlBlocks()
    # Walked with a stack of its own, not by recursion: hostile pages nest elements thousands deep.
    stack: list[tuple[ElementTree.Element, bool]] = [(root, False)]  # (element, its content is done)
    while stack:
        element, done = stack.pop()
        if done:
            blocks.end(element.tag)
        elif not _unshown(element, rules):
            blocks.start(element.tag)
            blocks.data(element.text or "")
            stack.append((element, True))
            stack.extend((child, False) for child in reversed(element))
            continue
        blocks.data(element.tail or "")  # the text after an element shows, whether the element does or not
    return blocks.close()


class _HtmlBlocks:
    """Builds blocks (text, heading level or None) from the elements and text of a page, in order."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, int | None]] = []
        self._parts: list[str] = []  # the text of the block being read
        self._heading: int | None = None
        self._pre = 0  # how many <pre> elements the text is in

    def start(self, tag: str) -> None:
        if tag == "br":
            self._parts.append("\n")
        elif tag in ("td", "th") and "".join(self._parts).strip():
            self._parts.append(" | ")  # the cells of a row make one line
        elif tag in _HTML_BLOCKS:
            self._end_block()
            if tag == "pre":
                self._pre += 1
            self._heading = _HTML_HEADINGS.get(tag, self._heading)

    def end(self, tag: str) -> None:
        if tag in _HTML_BLOCKS:
            self._end_block()  # before leaving the heading or <pre>: the block is one of theirs
            if tag in _HTML_HEADINGS:
                self._heading = None
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def data(self, data: str) -> None:
        if data:
            # Outside <pre>, a run of whitespace (line breaks of the source included) shows as one space.
            self._parts.append(data if self._pre else _HTML_SPACE.sub(" ", data))

    def close(self) -> list[tuple[str, int | None]]:
        self._end_block()
        return self.blocks

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
