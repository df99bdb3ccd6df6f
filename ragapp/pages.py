"""Show where a cited passage sits: its PDF page rendered with the passage highlighted, or its surrounding text."""

from __future__ import annotations

import ctypes
import difflib
import io
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, origin top-left

HIGHLIGHT = (255, 230, 0, 110)  # semi-transparent yellow: the text stays readable under it
_WORD = re.compile(r"\w+")
# PDFium is not thread-safe, not even across different documents, and the app serves each
# browser session from its own thread: one render at a time.
_PDFIUM_LOCK = threading.Lock()


class PageError(Exception):
    """A page could not be shown; the message is the reason, for a person."""


@dataclass(frozen=True)
class RenderedPage:
    """A PDF page as PNG, and where on it the passage was highlighted."""

    png: bytes
    highlighted: bool
    boxes: list[Box] = field(default_factory=list)


def render_pdf_page(path: Path, page: int, passage_text: str, scale: float = 1.5) -> RenderedPage:
    """Render page `page` (1-based) of a PDF as PNG with the words of `passage_text` highlighted."""
    import pypdfium2 as pdfium

    path = Path(path)
    if not path.is_file():
        raise PageError(f"Cannot show {path.name}: the file is no longer at {path}.")
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise PageError(f"Cannot show {path.name}: it is password-protected.") from None
            raise PageError(f"Cannot show {path.name}: PDFium cannot open it ({exc}).") from None
        try:
            doc.init_forms()  # else the values filled into a form's fields are not drawn
            count = len(doc)
            if not isinstance(page, int) or not 1 <= page <= count:
                pages = f"{count} page" + ("" if count == 1 else "s")
                raise PageError(f"Cannot show page {page} of {path.name}: it has {pages}.")
            pdf_page = doc[page - 1]
            try:
                bitmap = pdf_page.render(scale=scale)
                image = bitmap.to_pil()  # its buffer is Python's, so the image outlives the bitmap
                bitmap.close()
                boxes = _passage_boxes(pdf_page, passage_text, image.width, image.height)
            finally:
                pdf_page.close()
        except pdfium.PdfiumError as exc:
            raise PageError(f"Cannot show page {page} of {path.name}: PDFium failed ({exc}).") from None
        finally:
            doc.close()
    if boxes:
        from PIL import Image, ImageDraw

        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for box in boxes:
            # Drawn on one overlay, so lines whose boxes overlap are not darker where they meet.
            draw.rectangle(box, fill=HIGHLIGHT)
        image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    # Encoding is most of the time spent; zlib's fastest level is twice as fast here, and no larger.
    image.save(out, format="PNG", compress_level=1)
    return RenderedPage(png=out.getvalue(), highlighted=bool(boxes), boxes=boxes)


def _passage_boxes(pdf_page, passage_text: str, width: int, height: int) -> list[Box]:
    """One padded pixel rectangle per text line of the page that holds words of the passage."""
    import pypdfium2.raw as raw

    wanted = [_fold(m.group()) for m in _WORD.finditer(unicodedata.normalize("NFKC", passage_text))]
    if not wanted:
        return []
    textpage = pdf_page.get_textpage()
    try:
        # Char by char, so that string positions are PDFium's char indices (get_text_range may
        # drop or add chars and shift them).
        chars = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, i)) for i in range(textpage.count_chars()))
        words = [(_fold(m.group()), m.start(), m.end()) for m in _WORD.finditer(chars)]
        # The passage is pypdf's extraction and the page text PDFium's: they differ in spacing,
        # line breaks, hyphenation and ligatures, so align word sequences, not strings.
        matcher = difflib.SequenceMatcher(None, wanted, [w for w, _, _ in words], autojunk=False)
        least = min(3, len(wanted))  # a word or two matching on its own is chance, not the passage
        indices = []
        for _, b, size in matcher.get_matching_blocks():
            if size >= least:
                indices.extend(i for i in range(words[b][1], words[b + size - 1][2]) if not chars[i].isspace())
        char_boxes = []
        for i in indices:
            # Loose boxes span the font's ascent to descent, the same for every char of a line,
            # so a line is one even band (tight ones of "a" and "," barely overlap).
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
            if right > left or top > bottom:  # empty boxes: chars PDFium made up, not drawn ones
                char_boxes.append(_to_pixels(pdf_page, width, height, left, bottom, right, top))
    finally:
        textpage.close()
    if pdf_page.get_rotation() in (90, 270):
        # On a page turned a quarter, lines run down the image: merge them as if across, turned back.
        turned = _merge_lines([(y0, x0, y1, x1) for x0, y0, x1, y1 in char_boxes], height, width)
        return [(x0, y0, x1, y1) for y0, x0, y1, x1 in turned]
    return _merge_lines(char_boxes, width, height)


def _to_pixels(pdf_page, width: int, height: int, left: float, bottom: float, right: float, top: float) -> Box:
    """A box in PDF page space as pixels of the rendered image."""
    import pypdfium2.raw as raw

    # PDFium's own mapping, so that crop boxes not at (0, 0) and rotated pages land right too.
    xs, ys = [], []
    for px, py in ((left, bottom), (right, top)):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(pdf_page.raw, 0, 0, width, height, 0, px, py, ctypes.byref(dx), ctypes.byref(dy))
        xs.append(dx.value)
        ys.append(dy.value)
    return min(xs), min(ys), max(xs), max(ys)


def _merge_lines(boxes: list[Box], width: int, height: int) -> list[Box]:
    """Char boxes (in reading order) merged into one rectangle per line, padded and kept on the image."""
    lines: list[list[int]] = []
    for x0, y0, x1, y1 in boxes:
        if lines:
            line = lines[-1]
            middle, line_height = (y0 + y1) / 2, max(line[3] - line[1], y1 - y0, 1)
            same_line = line[1] <= middle <= line[3]
            # A wide gap on the same line is another column or table cell: a box of its own.
            adjacent = max(x0 - line[2], line[0] - x1) <= 1.5 * line_height
            if same_line and adjacent:
                line[:] = [min(line[0], x0), min(line[1], y0), max(line[2], x1), max(line[3], y1)]
                continue
        lines.append([x0, y0, x1, y1])
    pad = 2
    return [
        (max(0, x0 - pad), max(0, y0 - pad), min(width - 1, x1 + pad), min(height - 1, y1 + pad))
        for x0, y0, x1, y1 in lines
        # Text can sit outside the visible page (beyond its crop box): nothing there to highlight.
        if x1 > 0 and y1 > 0 and x0 < width and y0 < height
    ]


def _fold(word: str) -> str:
    # NFKC turns ligatures ("ﬁ") and full-width forms into plain letters, on both sides alike.
    return unicodedata.normalize("NFKC", word).casefold()


def text_context(text: str, start: int, end: int, around: int = 1200) -> tuple[str, str, str]:
    """(text before, passage, text after), each side up to `around` chars, cut at a line or word boundary."""
    size = len(text)
    start = min(max(int(start), 0), size)
    end = min(max(int(end), start), size)
    around = max(int(around), 0)
    lo, hi = max(0, start - around), min(size, end + around)
    before, after = text[lo:start], text[end:hi]
    if lo > 0:
        before = "\u2026" + _from_boundary(before)
    if hi < size:
        after = _to_boundary(after) + "\u2026"
    return before, text[start:end], after


def _from_boundary(piece: str) -> str:
    """`piece` from just after its first line break (if in its first half), else its first space."""
    cut = piece.find("\n")
    if not 0 <= cut < len(piece) // 2:
        cut = next((i for i, ch in enumerate(piece) if ch.isspace()), -1)
    return piece[cut + 1 :].lstrip() if cut >= 0 else piece


def _to_boundary(piece: str) -> str:
    """`piece` up to its last line break (if in its second half), else its last space."""
    cut = piece.rfind("\n")
    if cut < len(piece) // 2:
        cut = next((i for i in range(len(piece) - 1, -1, -1) if piece[i].isspace()), -1)
    return piece[:cut].rstrip() if cut >= 0 else piece
