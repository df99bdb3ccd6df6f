"""Read the words of page images with Tesseract (Debian's `tesseract-ocr`), for pages and image
files that have no text layer.

Tesseract runs as a program of its own (`tesseract stdin stdout tsv`), never inside Python: each
page has a time limit, and a page that takes longer is killed there, not the reader. It gets one
thread (OMP_THREAD_LIMIT=1): with its default of one per core, a busy two-core machine spends
more time switching between its threads than reading.

The settings reach a parse worker through its environment (the worker starts without the app's):
RAGAPP_OCR (on unless 0/false/no/off), RAGAPP_OCR_LANGUAGES (Tesseract's "eng+deu" form) and
RAGAPP_READ_TIMEOUT_S, the worker's own time limit, which OCR stays inside.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

TESSERACT = "tesseract"
DPI = 300  # what Tesseract reads best; less loses small print, more only costs time
# A page image of at most 12 million pixels (A4 at 300 dpi is 8.7 million): a poster-sized page
# is read smaller rather than at gigabytes of bitmap.
MAX_PIXELS = 12_000_000
PAGE_TIMEOUT_S = 60.0  # one page of dense print takes 3-10 s on one core
# A page with fewer letters and digits than this in its text layer is read as a scan: a scanner's
# page number or a stamp is all such a layer holds.
MIN_TEXT_CHARS = 16
_OFF = {"0", "false", "no", "off"}

NOT_INSTALLED = "no extractable text (a scan: OCR needs Tesseract, which is not installed on this machine: apt-get install tesseract-ocr)"
NO_WORDS = "no extractable text (OCR found no words on its pages)"
SWITCHED_OFF = "no extractable text (probably a scan: OCR is switched off, RAGAPP_OCR)"


class OcrError(Exception):
    """Tesseract could not read a page; the message says why, for a person."""


@dataclass(frozen=True)
class Word:
    """A word Tesseract read, with its box in the image's pixels and where it sits in the layout."""

    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    line: tuple[int, int, int]  # (block, paragraph, line)
    confidence: float


def enabled() -> bool:
    return os.environ.get("RAGAPP_OCR", "1").strip().lower() not in _OFF


def languages() -> str:
    return os.environ.get("RAGAPP_OCR_LANGUAGES", "").strip() or "eng"


def installed() -> bool:
    return shutil.which(TESSERACT) is not None


def unavailable_reason() -> str | None:
    """Why a scan cannot be read here (the outcome of a file without text), or None when it can."""
    if not enabled():
        return SWITCHED_OFF
    if not installed():
        return NOT_INSTALLED
    return None


def needs_ocr(text: str) -> bool:
    """Whether a page's text layer is so thin that the page is taken for a scan."""
    return sum(ch.isalnum() for ch in text) < MIN_TEXT_CHARS


def scale_for(width: float, height: float) -> float:
    """Pixels per point to draw a page of width x height points for OCR: DPI, less for a huge page."""
    scale = DPI / 72
    pixels = width * scale * height * scale
    return scale if pixels <= MAX_PIXELS else scale * (MAX_PIXELS / pixels) ** 0.5


class Deadline:
    """The time left of the worker's own limit (RAGAPP_READ_TIMEOUT_S), less a margin, so that a
    slow scan ends with a reason from here rather than with the worker killed."""

    def __init__(self) -> None:
        try:
            limit = float(os.environ.get("RAGAPP_READ_TIMEOUT_S", "0"))
        except ValueError:
            limit = 0.0
        self.limit = limit
        self.end = time.monotonic() + limit * 0.9 if limit > 0 else None

    def page_timeout(self) -> float:
        if self.end is None:
            return PAGE_TIMEOUT_S
        return max(0.5, min(PAGE_TIMEOUT_S, self.end - time.monotonic()))


def read_words(image, langs: str | None = None, timeout_s: float = PAGE_TIMEOUT_S) -> list[Word]:
    """The words on a Pillow image, in Tesseract's reading order. OcrError when Tesseract fails
    or takes longer than timeout_s."""
    if image.width * image.height > MAX_PIXELS:
        image = image.copy()
        image.thumbnail((int((MAX_PIXELS * image.width / image.height) ** 0.5),) * 2)
    if image.mode not in ("1", "L", "RGB"):
        image = image.convert("RGB")
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = [TESSERACT, "stdin", "stdout", "-l", langs or languages(), "--psm", "3", "tsv"]
    try:
        done = subprocess.run(command, input=png.getvalue(), capture_output=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise OcrError(f"took longer than {timeout_s:g} s") from None
    except FileNotFoundError:
        raise OcrError("Tesseract is not installed on this machine") from None
    if done.returncode != 0:
        said = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise OcrError(f"Tesseract failed: {said[0] if said else f'exit code {done.returncode}'}")
    return _parse_tsv(done.stdout.decode("utf-8", "replace"))


def _parse_tsv(tsv: str) -> list[Word]:
    words = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        # level, page, block, paragraph, line, word, left, top, width, height, confidence, text
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            block, par, line = int(cells[2]), int(cells[3]), int(cells[4])
            left, top, width, height = (int(v) for v in cells[6:10])
            confidence = float(cells[10])
        except ValueError:
            continue
        words.append(Word(cells[11].strip(), (left, top, left + width, top + height), (block, par, line), confidence))
    return words


def text_of(words: list[Word]) -> str:
    """The words as text: a line per line Tesseract found, a blank line between paragraphs."""
    lines: list[str] = []
    last: tuple[int, int, int] | None = None
    for word in words:
        if last is not None and word.line == last:
            lines[-1] += " " + word.text
            continue
        if last is not None and word.line[:2] != last[:2]:
            lines.append("")
        lines.append(word.text)
        last = word.line
    return "\n".join(lines).strip()
