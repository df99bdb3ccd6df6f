"""Show where a cited passage sits: its PDF page or image file drawn with the passage highlighted,
or its surrounding text.

PDFium runs in a worker process, never in the app: a hostile or broken PDF can crash it, hang it
or make it ask for a bitmap of gigabytes (a page may be 14,400 points square), and in the app that
would take every session down. The worker draws under a memory cap, a time limit and a pixel
limit, and sends back plain data and PNG bytes, which the app checks before it uses them.
"""

from __future__ import annotations

import ctypes
import difflib
import io
import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragapp import sandbox

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, origin top-left

HIGHLIGHT = (255, 230, 0, 110)  # semi-transparent yellow: the text stays readable under it
_WORD = re.compile(r"\w+")
# At most 16.7 million pixels (4096 x 4096), and no side over 8192: an A4 page at the usual scale
# is 1.1 million. A bigger page is drawn smaller, whole.
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 8192
RENDER_TIMEOUT_S = 20.0
# A scanned page's words are found by OCR while it is drawn (ragapp.ocr): within the render's own limit.
OCR_TIMEOUT_S = 12.0
# Several copies of the largest image (PDFium's bitmap, the highlight overlay, the PNG) and PDFium's own needs.
RENDER_MEMORY_MB = 1024
DEFAULT_DRAW = "ragapp.pages:draw_page"
_MAX_PNG = 4 * MAX_PIXELS + (1 << 20)  # PNG of the largest image, even if nothing compresses
_MAX_HEADER = 1 << 20  # a reply's JSON: a flag and the boxes of one page's lines
_MAX_JOB = 64 << 20  # a job's JSON: the passage's text and where its page is
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageError(Exception):
    """A page could not be shown; the message is the reason, for a person."""


@dataclass(frozen=True)
class RenderedPage:
    """A PDF page as PNG, and where on it the passage was highlighted."""

    png: bytes
    highlighted: bool
    boxes: list[Box] = field(default_factory=list)


# Image files are read by OCR (ragapp.loaders.IMAGE_SUFFIXES): drawn as they are, not by PDFium.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def render_pdf_page(path: Path, page: int, passage_text: str, scale: float = 1.5,
                    ocr_languages: str | None = None) -> RenderedPage:
    """Render page `page` (1-based) of a PDF as PNG with the words of `passage_text` highlighted.

    The page is drawn at `scale` (pixels per point), smaller where that would pass MAX_PIXELS or
    MAX_SIDE. PageError says why a page cannot be shown: the file is gone or no PDF, the page
    does not exist, or drawing it failed, crashed or took longer than RENDER_TIMEOUT_S.
    ocr_languages: Tesseract's languages for a scanned page, those the ingest read it with."""
    path = Path(path)
    if not path.is_file():
        raise PageError(f"Cannot show {path.name}: the file is no longer at {path}.")
    return _RENDERER.render(path, page, passage_text, scale, ocr_languages)


def render_image(path: Path, page: int | None, passage_text: str, ocr_languages: str | None = None) -> RenderedPage:
    """An image file (PNG, JPEG, TIFF) as PNG with the words of `passage_text` highlighted, from the
    word boxes of OCR on the image as the ingest read it. `page` is the frame of a multi-frame
    TIFF (1-based), None for a single image. Drawn in the same worker as PDF pages, under the same
    limits, shrunk to within MAX_PIXELS and MAX_SIDE; without Tesseract it is shown unhighlighted."""
    path = Path(path)
    if not path.is_file():
        raise PageError(f"Cannot show {path.name}: the file is no longer at {path}.")
    return _RENDERER.render(path, page, passage_text, 1.0, ocr_languages)


class Renderer:
    """A long-lived worker process that draws pages, started on first use and again after it
    died or was stopped: starting Python and PDFium costs several renders' time, and the app
    shows a page for every citation opened."""

    def __init__(self, draw: str = DEFAULT_DRAW, timeout_s: float = RENDER_TIMEOUT_S,
                 memory_mb: int = RENDER_MEMORY_MB) -> None:
        self.draw, self.timeout_s, self.memory_mb = draw, timeout_s, memory_mb
        self._process: subprocess.Popen | None = None
        # One page at a time: the app serves each browser session from its own thread, and one
        # worker answers them in turn (PDFium is not thread-safe, even across documents).
        self._lock = threading.Lock()

    def render(self, path: Path, page: int | None, passage_text: str, scale: float,
               ocr_languages: str | None = None) -> RenderedPage:
        cannot = _cannot(page, path.name)
        job = {"path": str(path), "page": page if isinstance(page, int) or page is None else str(page),
               "text": passage_text, "scale": float(scale)}
        if ocr_languages:
            job["ocr_languages"] = str(ocr_languages)
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = sandbox.start_worker(
                    "ragapp.pages", self.draw, str(self.memory_mb), f"{self.timeout_s:g}")
            process = self._process
            deadline = time.monotonic() + self.timeout_s
            try:
                sandbox.send(process.stdin, job)
                reply = sandbox.receive(process.stdout.fileno(), _MAX_HEADER, deadline)
                if isinstance(reply, dict) and isinstance(reply.get("error"), str):
                    if reply.get("retire") is not False:
                        self.stop()
                    raise PageError(sandbox.short(reply["error"]))
                highlighted, boxes = _checked_header(reply)
                png = _checked_png(sandbox.read_frame(process.stdout.fileno(), _MAX_PNG, deadline))
                return RenderedPage(png=png, highlighted=highlighted, boxes=boxes)
            except TimeoutError:
                self.stop()
                raise PageError(f"{cannot}: drawing it took longer than {self.timeout_s:g} s.") from None
            except (EOFError, BrokenPipeError):
                raise PageError(f"{cannot}: {self._crash_reason()}.") from None
            except sandbox.BadReply as exc:
                self.stop()  # a worker that sends what it never sends has been taken over
                raise PageError(f"{cannot}: the renderer sent a malformed reply ({exc}).") from None

    def _crash_reason(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.stop()
            return "the renderer stopped answering"
        self.stop()
        if code == -signal.SIGKILL:
            return f"the renderer was killed (probably out of memory: limit {self.memory_mb} MB)"
        if code < 0:
            return f"the renderer crashed on it (signal {-code})"
        return f"the renderer stopped unexpectedly (exit code {code})"

    def stop(self) -> None:
        """End the worker now (the next render starts another)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


_RENDERER = Renderer()


def _checked_header(reply: Any) -> tuple[bool, list[Box]]:
    """(highlighted, boxes) of a worker's reply; BadReply if it holds no such thing."""
    if not isinstance(reply, dict) or not isinstance(reply.get("highlighted"), bool):
        raise sandbox.BadReply("not a page")
    boxes = reply.get("boxes")
    if not isinstance(boxes, list) or not all(
        isinstance(box, list) and len(box) == 4 and all(type(v) is int for v in box) for box in boxes
    ):
        raise sandbox.BadReply("boxes that are not boxes")
    return reply["highlighted"], [tuple(box) for box in boxes]


def _checked_png(png: bytes) -> bytes:
    """The PNG if its own header says it is within the pixel limits (the app hands it on to be
    decoded); BadReply if not."""
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise sandbox.BadReply("an image that is not a PNG")
    width, height = struct.unpack("!II", png[16:24])
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise sandbox.BadReply(f"an image of {width} x {height} pixels, over the limit")
    return png


def fitted_scale(width: float, height: float, scale: float) -> float:
    """`scale`, or less where a page of width x height points (both over 0) would pass the pixel limits."""
    fit = min(math.sqrt(MAX_PIXELS / (width * height)), MAX_SIDE / max(width, height))
    # PDFium's bitmap rounds each side up to a whole pixel: a hair of room keeps it within the limits.
    return min(scale, fit * 0.999)


def _cannot(page: int | None, name: str) -> str:
    return f"Cannot show {name}" if page is None else f"Cannot show page {page} of {name}"


def draw_page(path: str, page: int | None, passage_text: str, scale: float) -> tuple[dict[str, Any], bytes]:
    """In the worker: ({"highlighted", "boxes"}, PNG) of page `page` of the PDF at `path`, or of
    the image file at `path` (see draw_image)."""
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return draw_image(path, page, passage_text)
    import pypdfium2 as pdfium

    name = Path(path).name
    try:
        doc = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise PageError(f"Cannot show {name}: it is password-protected.") from None
        raise PageError(f"Cannot show {name}: PDFium cannot open it ({exc}).") from None
    try:
        doc.init_forms()  # else the values filled into a form's fields are not drawn
        count = len(doc)
        if not isinstance(page, int) or not 1 <= page <= count:
            pages = f"{count} page" + ("" if count == 1 else "s")
            raise PageError(f"Cannot show page {page} of {name}: it has {pages}.")
        pdf_page = doc[page - 1]
        try:
            width, height = pdf_page.get_size()
            if not (width > 0 and height > 0):
                raise PageError(f"Cannot show page {page} of {name}: it has no size ({width:g} x {height:g} points).")
            bitmap = pdf_page.render(scale=fitted_scale(width, height, scale))
            image = bitmap.to_pil()  # its buffer is Python's, so the image outlives the bitmap
            bitmap.close()
            boxes = _passage_boxes(pdf_page, passage_text, image.width, image.height)
            if not boxes and _is_scan(pdf_page):
                boxes = _ocr_boxes(pdf_page, passage_text, image.width, image.height)
        finally:
            pdf_page.close()
    except pdfium.PdfiumError as exc:
        raise PageError(f"Cannot show page {page} of {name}: PDFium failed ({exc}).") from None
    finally:
        doc.close()
    return _highlighted(image, boxes)


def draw_image(path: str, page: int | None, passage_text: str) -> tuple[dict[str, Any], bytes]:
    """In the worker: ({"highlighted", "boxes"}, PNG) of an image file: frame `page` (1-based) of
    a multi-frame TIFF, the image itself where `page` is None. Its words are found by OCR on the
    frame exactly as the ingest read it (ragapp.loaders._read_image: the frame as decoded, handed
    to ocr.read_words), so that the words and boxes are those the passage was cut from."""
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    try:
        with Image.open(path) as opened:
            frames = getattr(opened, "n_frames", 1)
            if page is not None and not (type(page) is int and 1 <= page <= frames):
                pages = f"{frames} page" + ("" if frames == 1 else "s")
                raise PageError(f"Cannot show page {page} of {name}: it has {pages}.")
            opened.seek(0 if page is None else page - 1)
            frame = opened.copy()  # as ImageSequence gives it to the ingest, copied
    except Image.DecompressionBombError:
        raise PageError(f"Cannot show {name}: the image is too large (over Pillow's pixel limit).") from None
    except UnidentifiedImageError:  # its message names the file's path: not for the page
        raise PageError(f"Cannot show {name}: Pillow cannot read it (not an image it knows).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PageError(f"{_cannot(page, name)}: Pillow cannot read it ({exc}).") from None
    if not (frame.width > 0 and frame.height > 0):
        raise PageError(f"{_cannot(page, name)}: it has no size ({frame.width} x {frame.height} pixels).")
    wanted = _passage_words(passage_text)
    words = _image_ocr_words(frame) if wanted else []  # first: its copies of the frame are freed before the next
    width, height = frame.size
    image = _shown_image(frame)
    del frame
    # read_words reads an image over OCR's pixel limit shrunk, and gives its boxes in those pixels.
    read = _ocr_read_scale(width, height)
    boxes = _matched_ocr_boxes(wanted, words, image.width / (width * read), image.height / (height * read))
    return _highlighted(image, _merge_lines(boxes, image.width, image.height))


def _image_ocr_words(frame) -> list:
    """The OCR words of an image file's frame, as the ingest read them; none where Tesseract is
    not installed, fails or takes too long: the image is still shown."""
    from ragapp import ocr

    if not ocr.installed():
        return []
    try:
        # The frame itself, as _read_image hands it over: read_words converts and shrinks it the same way.
        return ocr.read_words(frame, timeout_s=OCR_TIMEOUT_S)
    except ocr.OcrError:
        return []


def _ocr_read_scale(width: int, height: int) -> float:
    """The scale at which ocr.read_words reads an image of width x height pixels: 1, or less for one
    over ocr.MAX_PIXELS, which it shrinks with Image.thumbnail into a square whose side goes to the
    longer side (the shorter one is rounded, a fraction of a pixel)."""
    from ragapp import ocr

    if width * height <= ocr.MAX_PIXELS:
        return 1.0
    side = int((ocr.MAX_PIXELS * width / height) ** 0.5)
    return side / max(width, height)


def _shown_image(frame):
    """An image file's frame as RGB to show: over white where it is transparent, shrunk to within
    MAX_PIXELS and MAX_SIDE (never enlarged)."""
    from PIL import Image

    transparent = frame.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (frame.mode == "P" and "transparency" in frame.info)
    image = frame
    if transparent and frame.mode != "RGBA":
        image = frame.convert("RGBA")
    elif not transparent and frame.mode != "RGB":
        image = frame.convert("RGB")  # also what read_words hands Tesseract for modes other than 1 and L
    scale = fitted_scale(image.width, image.height, 1.0)
    if scale < 1.0:
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if transparent:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image).convert("RGB")
    return image


def _highlighted(image, boxes: list[Box]) -> tuple[dict[str, Any], bytes]:
    """({"highlighted", "boxes"}, PNG) of the image with the boxes drawn over it."""
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
    return {"highlighted": bool(boxes), "boxes": [list(box) for box in boxes]}, out.getvalue()


def _serve(draw_spec: str, memory_mb: int, timeout_s: float) -> None:
    """The render worker: read {"path", "page", "text", "scale"[, "ocr_languages"]} jobs from stdin,
    answer each with {"highlighted", "boxes"} and a frame of PNG bytes, or with {"error", "retire"}."""
    draw = sandbox.resolve(draw_spec)
    replies = sandbox.reply_stream()
    sandbox.limit_worker(memory_mb)
    while True:
        try:
            job = sandbox.receive(sys.stdin.fileno(), _MAX_JOB)
        except EOFError:
            return
        page = job.get("page")
        cannot = _cannot(page if isinstance(page, int) or page is None else str(page), Path(str(job.get("path"))).name)
        # Scanned pages and images are read in the languages the ingest read them in (ragapp.ocr reads this).
        languages = job.get("ocr_languages")
        if isinstance(languages, str) and languages:
            os.environ["RAGAPP_OCR_LANGUAGES"] = languages
        else:
            os.environ.pop("RAGAPP_OCR_LANGUAGES", None)
        # Should the app die while a page hangs, nobody would kill this worker: it ends itself.
        signal.alarm(math.ceil(timeout_s) + 10)
        try:
            header, png = draw(job["path"], job["page"], job["text"], job["scale"])
        except PageError as exc:
            sandbox.send(replies, {"error": str(exc), "retire": False})
            continue
        except MemoryError:
            # A worker that ran out of memory may be in a poor state: it says so, and stops.
            reason = f"{cannot}: drawing it needs more than the memory limit ({memory_mb} MB)."
            sandbox.send(replies, {"error": reason, "retire": True})
            return
        except Exception as exc:  # any PDFium or Pillow failure on any input: a reason, never a dead worker
            reason = f"{cannot}: drawing it failed ({type(exc).__name__}: {exc})."
            sandbox.send(replies, {"error": reason, "retire": False})
            continue
        finally:
            signal.alarm(0)
        sandbox.send(replies, header)
        sandbox.write_frame(replies, png)


def _passage_boxes(pdf_page, passage_text: str, width: int, height: int) -> list[Box]:
    """One padded pixel rectangle per text line of the page that holds words of the passage."""
    import pypdfium2.raw as raw

    wanted = _passage_words(passage_text)
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


def _is_scan(pdf_page) -> bool:
    """Whether the page has no text layer to speak of: its passages were read by OCR."""
    from ragapp import ocr

    textpage = pdf_page.get_textpage()
    try:
        return ocr.needs_ocr(textpage.get_text_range())
    finally:
        textpage.close()


def _ocr_boxes(pdf_page, passage_text: str, width: int, height: int) -> list[Box]:
    """As _passage_boxes, for a page without a text layer: the word boxes of OCR on the page drawn
    as the ingest drew it. None where OCR is not installed or takes too long: the page is still shown."""
    from ragapp import ocr

    wanted = _passage_words(passage_text)
    if not wanted or not ocr.installed():
        return []
    bitmap = pdf_page.render(scale=ocr.scale_for(*pdf_page.get_size()), grayscale=True)
    image = bitmap.to_pil()
    bitmap.close()
    try:
        words = ocr.read_words(image, timeout_s=OCR_TIMEOUT_S)
    except ocr.OcrError:
        return []
    boxes = _matched_ocr_boxes(wanted, words, width / image.width, height / image.height)
    return _merge_lines(boxes, width, height)


# The column headings a table's row names each figure by ("36,413 (Three Months Ended July 1,
# 2023)", ragapp.tables): the page draws them once, above the table, not beside each figure.
_ROW_HEADING = re.compile(r"(?<=[\d)%\u2014-]) \([^()]*\)(?=;|$)", re.MULTILINE)


def _passage_words(passage_text: str) -> list[str]:
    """The passage's words in the order the page draws them: a table row's words without the
    headings it repeats, so that its own line is the one matched (the page's order is
    headings, then the row)."""
    text = _ROW_HEADING.sub("", unicodedata.normalize("NFKC", passage_text))
    return [_fold(m.group()) for m in _WORD.finditer(text)]


def _matched_ocr_boxes(wanted: list[str], words: list, sx: float, sy: float) -> list[Box]:
    """The boxes (OCR's pixels times sx, sy) of the OCR words in runs of at least 3 that match
    the passage's words `wanted`, in reading order, not yet merged into lines."""
    if not wanted or not words:
        return []
    # One entry per \w+ run, as the passage is split ("policy;" is "policy"), each with its word's box.
    tokens = [(_fold(m.group()), word.box) for word in words for m in _WORD.finditer(unicodedata.normalize("NFKC", word.text))]
    matcher = difflib.SequenceMatcher(None, wanted, [t for t, _ in tokens], autojunk=False)
    least = min(3, len(wanted))  # as in _passage_boxes: a word or two matching alone is chance
    boxes = []
    for _, b, size in matcher.get_matching_blocks():
        if size >= least:
            for _, (x0, y0, x1, y1) in tokens[b : b + size]:
                boxes.append((int(x0 * sx), int(y0 * sy), math.ceil(x1 * sx), math.ceil(y1 * sy)))
    # A word split in two tokens ("75%") gives its box twice: merged with itself, no harm.
    return boxes


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


if __name__ == "__main__":
    # Run as ragapp.pages, not as __main__: the draw function raises ragapp.pages.PageError, and
    # the loop must catch that class, not this script's copy of it.
    from ragapp import pages

    pages._serve(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
